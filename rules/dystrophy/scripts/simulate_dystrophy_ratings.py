"""Rule simulate_dystrophy_ratings: simulated radiologists' calls on the test images."""

from qmrflow.io import read_tsv, write_tsv
from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.simulate import simulate_ratings

with job_logging(snakemake.log[0]):
    ratings = simulate_ratings(
        read_tsv(snakemake.input.participants),
        snakemake.params.n_slices,
        n_raters=snakemake.params.n_raters,
        seed=snakemake.params.seed,
    )
    write_tsv(ratings, snakemake.output[0])
