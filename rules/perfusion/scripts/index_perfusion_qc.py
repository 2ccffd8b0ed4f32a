"""Rule index_perfusion_qc: the table of every test subject's motion-correction QC images."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.qc import write_qc_index

subjects = snakemake.params.subjects
with job_logging(snakemake.log[0]):
    write_qc_index(
        dict(zip(subjects, snakemake.input.strips, strict=True)),
        dict(zip(subjects, snakemake.input.animations, strict=True)),
        snakemake.output[0],
    )
