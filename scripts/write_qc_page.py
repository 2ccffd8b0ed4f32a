"""Rule write_qc_page: one subject's QC page and its measures (the study's own content)."""

from qmrflow.logs import job_logging
from qmrflow.report.qc import write_subject_page

with job_logging(snakemake.log[0]):
    write_subject_page(
        snakemake.wildcards.study,
        snakemake.wildcards.subject,
        # a named input is a path or, for several files (e.g. slice files), a list of them
        inputs={
            key: value if isinstance(value, str) else list(value)
            for key, value in snakemake.input.items()
        },
        options=snakemake.params.options,
        page=snakemake.output.page,
        measures=snakemake.output.measures,
    )
