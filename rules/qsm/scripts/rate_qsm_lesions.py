"""Rule rate_qsm_lesions: the demo's simulated raters score one subject's lesions."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.subject import rate_subject

with job_logging(snakemake.log[0]):
    rate_subject(
        snakemake.wildcards.subject,
        lesions=snakemake.input.lesions,
        output=snakemake.output[0],
        seed=snakemake.params.seed,
    )
