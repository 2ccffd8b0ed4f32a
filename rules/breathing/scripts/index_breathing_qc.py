"""Rule index_breathing_qc: the table of every test subject's lung QC images."""

from qmrflow.figures.qc import write_qc_index
from qmrflow.logs import job_logging

subjects = snakemake.params.subjects
with job_logging(snakemake.log[0]):
    write_qc_index(
        {
            "montage": dict(zip(subjects, snakemake.input.montages, strict=True)),
            "animation": dict(zip(subjects, snakemake.input.animations, strict=True)),
        },
        snakemake.output[0],
    )
