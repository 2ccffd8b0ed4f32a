"""Rule plot_synthmri_figures: agreement, example maps, image quality, paper comparison."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.figures import run_figures
from qmrflow.studies.synthmri.rois import maps_by_method

inputs = dict(snakemake.input.items())
with job_logging(snakemake.log[0]):
    run_figures(
        rois=inputs["rois"],
        quality=inputs["quality"],
        statistics=inputs["statistics"],
        examples=maps_by_method(inputs),
        example_subject=snakemake.params.example_subject,
        outputs=dict(snakemake.output.items()),
    )
