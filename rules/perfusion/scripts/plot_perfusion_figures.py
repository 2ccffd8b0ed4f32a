"""Rule plot_perfusion_figures: curves, bull's-eye, Dice, measures and the paper's numbers."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.figures import plot_perfusion_figures

with job_logging(snakemake.log[0]):
    plot_perfusion_figures(
        outputs=dict(snakemake.output.items()),
        subjects=snakemake.input.subjects,
        segments=list(snakemake.input.segments),
        curves=list(snakemake.input.curves),
        statistics=snakemake.input.statistics,
        example_subject=snakemake.params.example_subject,
    )
