"""Rule simulate_dystrophy_subject: one demo subject's slice stack and ground truth."""

from pathlib import Path

from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.simulate import write_case

with job_logging(snakemake.log[0]):
    # The dataset root is three levels above sub-<id>/anat/<image>.
    write_case(
        snakemake.params.row,
        Path(snakemake.output.image).parents[2],
        snakemake.params.n_slices,
        shape=tuple(snakemake.params.shape),
    )
