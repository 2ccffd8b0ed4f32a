"""Rule simulate_dystrophy_subject: one demo subject's slices and ground truth."""

from pathlib import Path

from qmrflow.studies.dystrophy.simulate import write_case

from qmrflow.logs import job_logging

with job_logging(snakemake.log[0]):
    write_case(
        snakemake.params.row,
        Path(snakemake.params.root),
        snakemake.params.n_slices,
        shape=tuple(snakemake.params.shape),
    )
