"""Rule reference_perfusion_subject: a training subject's motion-free reference series."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.training import write_reference

with job_logging(snakemake.log[0]):
    write_reference(
        snakemake.wildcards.subject,
        stress=snakemake.input.stress,
        output=snakemake.output[0],
        options=snakemake.params.options,
        threads=snakemake.threads,
    )
