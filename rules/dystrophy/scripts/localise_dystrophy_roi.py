"""Rule localise_dystrophy_roi: legs located and cropped on every slice of one subject."""

from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.roi import localise_subject

with job_logging(snakemake.log[0]):
    localise_subject(
        snakemake.input.slices,
        subject=snakemake.wildcards.subject,
        out_crops=snakemake.output.crops,
        out_table=snakemake.output.table,
        out_shape=tuple(snakemake.params.out_shape),
        margin=snakemake.params.margin,
        expected=snakemake.params.expected,
    )
