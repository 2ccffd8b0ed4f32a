"""Rule evaluate_perfusion: statistics across none / iterative / DL and the paper's numbers."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.evaluate import evaluate_perfusion

with job_logging(snakemake.log[0]):
    evaluate_perfusion(
        snakemake.input.segments,
        snakemake.input.quality,
        confidence=snakemake.params.confidence,
        outputs=dict(snakemake.output.items()),
    )
