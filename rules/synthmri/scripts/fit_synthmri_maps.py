"""Rule fit_synthmri_maps: voxelwise T1/T2/PD/B1 maps and synthetic contrasts of one MDME image."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.mapping import map_subject

with job_logging(snakemake.log[0]):
    map_subject(
        snakemake.params.image,  # the expected path: a missing file fails this job alone
        subject=snakemake.wildcards.subject,
        outputs=dict(snakemake.output.items()),
        mask_threshold=snakemake.params.mask_threshold,
        max_iterations=snakemake.params.max_iterations,
    )
