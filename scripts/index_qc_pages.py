"""Rule index_qc_pages: the cohort's outlier flags (flags.js, outliers.tsv) and the QC index."""

from qmrflow.logs import job_logging
from qmrflow.report.qc import index_pages

with job_logging(snakemake.log[0]):
    index_pages(
        pages=snakemake.params.pages,
        measures=snakemake.params.measures,
        index=snakemake.output.index,
        flags=snakemake.output.flags,
        outliers=snakemake.output.outliers,
        threshold=snakemake.params.threshold,
        min_subjects=snakemake.params.min_subjects,
    )
