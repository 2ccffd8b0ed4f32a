"""Rules compute_qsm_cr and compute_qsm_dlr: QSM of every acquisition of one reconstruction."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.subject import compute_subject_qsm

with job_logging(snakemake.log[0]):
    compute_subject_qsm(
        snakemake.wildcards.subject,
        inputs={**snakemake.params.expected, **dict(snakemake.input.items())},
        outputs=dict(snakemake.output.items()),
        acquisitions=snakemake.params.acquisitions,
        inversions=snakemake.params.inversions,
        settings=snakemake.params.settings,
        recon=snakemake.params.recon,
    )
