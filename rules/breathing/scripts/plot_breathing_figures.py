"""Rule plot_breathing_figures: diaphragm curves, group box plots, correlations, reconstructions."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.figures import plot_figures

with job_logging(snakemake.log[0]):
    plot_figures(
        subjects=snakemake.input.subjects,
        curves=list(snakemake.input.curves),
        participants=snakemake.input.participants,
        example={
            m: (frames, labels)
            for m, frames, labels in zip(
                snakemake.params.methods,
                snakemake.input.example,
                snakemake.input.example_labels,
                strict=True,
            )
        },
        outputs=dict(snakemake.output.items()),
    )
