"""Rule index_perfusion_qc: the table of every test subject's motion-correction QC images."""

from qmrflow.figures.qc import write_qc_index
from qmrflow.logs import job_logging

subjects = snakemake.params.subjects
with job_logging(snakemake.log[0]):
    write_qc_index(
        {
            "strip": dict(zip(subjects, snakemake.input.strips, strict=True)),
            "animation": dict(zip(subjects, snakemake.input.animations, strict=True)),
        },
        snakemake.output[0],
    )
