"""Rule evaluate_breathing: group statistics, accuracy, timing and the paper's findings."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.evaluate import evaluate_breathing

with job_logging(snakemake.log[0]):
    evaluate_breathing(
        measures=list(snakemake.input.measures),
        t1=list(snakemake.input.t1),
        timing=list(snakemake.input.timing),
        quality=list(snakemake.input.quality),
        participants=snakemake.input.participants,
        outputs=dict(snakemake.output.items()),
        confidence=snakemake.params.confidence,
    )
