"""Rule reconstruct_qsm_subject: the conventional reconstruction of every acquisition."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.subject import reconstruct_subject

with job_logging(snakemake.log[0]):
    reconstruct_subject(
        snakemake.wildcards.subject,
        sources={acq: list(snakemake.input[acq]) for acq in snakemake.params.expected},
        expected=snakemake.params.expected,
        outputs=dict(snakemake.output.items()),
    )
