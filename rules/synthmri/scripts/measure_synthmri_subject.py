"""Rule measure_synthmri_subject: ROI means and image quality of one test subject's maps."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.rois import maps_by_method, measure_subject

inputs = dict(snakemake.input.items())
with job_logging(snakemake.log[0]):
    measure_subject(
        subject=snakemake.wildcards.subject,
        maps=maps_by_method(inputs),
        tissue=inputs.get("dseg"),
        regions=inputs.get("regions"),
        region_names=inputs.get("region_names"),
        lesions=inputs.get("lesions"),
        mask=inputs["mask"],
        outputs=dict(snakemake.output.items()),
    )
