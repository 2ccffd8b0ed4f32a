"""Rule reconstruct_breathing: one task's frames of one subject by one reconstruction."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.reconstruct import reconstruct_subject

with job_logging(snakemake.log[0]):
    reconstruct_subject(
        snakemake.wildcards.subject,
        snakemake.wildcards.task,
        snakemake.wildcards.method,
        kspace=snakemake.params.kspace,
        outputs={"frames": snakemake.output.frames, "timing": snakemake.output.timing},
        options=snakemake.params.options,
        threads=snakemake.threads,
    )
