"""Rule measure_qsm_subject: lesion features, ROIs, agreement with GRE and (demo) accuracy."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.subject import measure_subject

with job_logging(snakemake.log[0]):
    measure_subject(
        snakemake.wildcards.subject,
        inputs={**snakemake.params.expected, **dict(snakemake.input.items())},
        outputs=dict(snakemake.output.items()),
        lesion_acquisition=snakemake.params.lesion_acquisition,
        acquisitions=snakemake.params.acquisitions,
        inversions=snakemake.params.inversions,
    )
