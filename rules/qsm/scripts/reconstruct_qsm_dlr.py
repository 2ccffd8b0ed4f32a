"""Rule reconstruct_qsm_dlr: the DL reconstruction of one subject's EPI acquisitions."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.subject import reconstruct_subject_dlr

with job_logging(snakemake.log[0]):
    reconstruct_subject_dlr(
        snakemake.wildcards.subject,
        inputs=dict(snakemake.input.items()),
        outputs=dict(snakemake.output.items()),
        acquisitions=snakemake.params.acquisitions,
        sha256=snakemake.params.sha256,
        threads=snakemake.threads,
    )
