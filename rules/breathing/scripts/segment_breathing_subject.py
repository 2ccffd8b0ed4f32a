"""Rule segment_breathing_subject: the U-Net's lung labels of every frame, per task and method."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.segmentation import segment_subject

names = snakemake.params.names
with job_logging(snakemake.log[0]):
    segment_subject(
        snakemake.wildcards.subject,
        series={name: snakemake.input[name] for name in names},
        model=snakemake.input.model,
        sha256=snakemake.params.sha256,
        outputs={name: snakemake.output[name] for name in names},
        threads=snakemake.threads,
    )
