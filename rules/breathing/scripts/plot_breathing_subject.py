"""Rule plot_breathing_subject: a frame montage and an animation of the lungs over the frames."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.figures import plot_subject

with job_logging(snakemake.log[0]):
    plot_subject(
        snakemake.wildcards.subject,
        frames=snakemake.input.frames,
        labels=snakemake.input.labels,
        outputs=dict(snakemake.output.items()),
    )
