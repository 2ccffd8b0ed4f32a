"""Rule plot_perfusion_subject: one subject's motion-correction QC strip and animation."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.qc import plot_motion_qc

with job_logging(snakemake.log[0]):
    plot_motion_qc(
        snakemake.wildcards.subject,
        series={m: snakemake.input[m] for m in snakemake.params.methods},
        outputs=dict(snakemake.output.items()),
    )
