"""Rules correct_perfusion_motion(_dl): one subject's series aligned by one method."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.motion import correct_subject

with job_logging(snakemake.log[0]):
    correct_subject(
        snakemake.wildcards.subject,
        snakemake.wildcards.get("method", "dl"),
        **snakemake.params.expected,
        outputs=dict(snakemake.output.items()),
        model=snakemake.input.get("model"),
        sha256=snakemake.params.get("sha256"),
        iterative=snakemake.params.iterative,
        threads=snakemake.threads,
    )
