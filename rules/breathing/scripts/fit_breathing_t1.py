"""Rule fit_breathing_t1: the T1 map of the inversion-recovery slice and the diaphragm's T1."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.subject import fit_subject_t1

subject = snakemake.wildcards.subject
with job_logging(snakemake.log[0]):
    fit_subject_t1(
        subject,
        inversions=list(snakemake.input.inversions),
        roi=snakemake.input.roi,
        outputs=dict(snakemake.output.items()),
        expected=snakemake.params.expected,
        truth=snakemake.input.get("truth"),
    )
