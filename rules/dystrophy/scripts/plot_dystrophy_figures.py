"""Rule plot_dystrophy_figures: ROC with raters, CAM panel and learning curves."""

from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.figures import run_figures

with job_logging(snakemake.log[0]):
    run_figures(
        predictions=snakemake.input.predictions,
        statistics=snakemake.input.statistics,
        cams=snakemake.input.cams,
        histories=snakemake.input.histories,
        architectures=snakemake.params.architectures,
        outputs=dict(snakemake.output.items()),
    )
