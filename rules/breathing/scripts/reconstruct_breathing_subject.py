"""Rule reconstruct_breathing_subject: every task's frames of one subject, by each method."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.reconstruct import reconstruct_subject

subject = snakemake.wildcards.subject
with job_logging(snakemake.log[0]):
    for task, kspace in snakemake.params.kspace.items():
        for method in snakemake.params.methods:
            reconstruct_subject(
                subject,
                task,
                method,
                kspace=kspace,
                outputs={
                    "frames": snakemake.output[f"frames_{task}_{method}"],
                    "timing": snakemake.output[f"timing_{task}_{method}"],
                },
                options=snakemake.params.options,
                threads=snakemake.threads,
            )
