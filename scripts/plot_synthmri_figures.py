"""Rule plot_synthmri_figures: agreement, example maps, image quality, paper comparison."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.figures import run_figures

inputs = dict(snakemake.input.items())
examples = {
    method: {m: inputs[f"{method}_{m}"] for m in ("T1map", "T2map", "PDmap")}
    for method in ("routine", "fast", "dl", "truth")
    if f"{method}_T1map" in inputs
}
with job_logging(snakemake.log[0]):
    run_figures(
        rois=inputs["rois"],
        quality=inputs["quality"],
        statistics=inputs["statistics"],
        examples=examples,
        example_subject=snakemake.params.example_subject,
        outputs=dict(snakemake.output.items()),
    )
