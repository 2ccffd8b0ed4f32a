"""Rule superresolve_synthmri_subject: DL and spline upsampling of one subject's fast maps."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.superres import superresolve_subject

with job_logging(snakemake.log[0]):
    superresolve_subject(
        fast={m: snakemake.input[f"fast_{m}"] for m in ("T1map", "T2map", "PDmap")},
        reference=snakemake.input.reference,
        mask=snakemake.input.mask,
        model=snakemake.input.model,
        subject=snakemake.wildcards.subject,
        outputs=dict(snakemake.output.items()),
        threads=snakemake.threads,
        sha256=snakemake.params.sha256,
    )
