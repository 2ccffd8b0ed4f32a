"""Rule evaluate_synthmri: agreement statistics of DL and fast maps against routine maps."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.evaluate import run_evaluation

with job_logging(snakemake.log[0]):
    run_evaluation(
        rois=snakemake.input.rois,
        quality=snakemake.input.quality,
        confidence=snakemake.params.confidence,
        outputs=dict(snakemake.output.items()),
    )
