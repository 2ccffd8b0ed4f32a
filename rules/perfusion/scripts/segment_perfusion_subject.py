"""Rule segment_perfusion_subject: the U-Net's labels of every aligned frame, per method."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.segmentation import segment_subject

with job_logging(snakemake.log[0]):
    segment_subject(
        snakemake.wildcards.subject,
        series={m: snakemake.input[m] for m in snakemake.params.methods},
        model=snakemake.input.model,
        sha256=snakemake.params.sha256,
        outputs={m: snakemake.output[m] for m in snakemake.params.methods},
        threads=snakemake.threads,
    )
