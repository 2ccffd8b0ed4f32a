"""Rule evaluate_qsm: rating agreement, agreement with GRE, accuracy, timing, the paper."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.evaluate import evaluate_qsm

with job_logging(snakemake.log[0]):
    evaluate_qsm(
        inputs={k: list(v) for k, v in snakemake.input.items() if k != "participants"},
        participants=snakemake.input.participants,
        outputs=dict(snakemake.output.items()),
        confidence=snakemake.params.confidence,
    )
