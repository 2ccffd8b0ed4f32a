"""Rule simulate_dystrophy_participants: the demo cohort's participants table."""

from qmrflow.io import write_tsv
from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.simulate import demo_participants

with job_logging(snakemake.log[0]):
    table = demo_participants(snakemake.params.n_cases, snakemake.params.seed)
    write_tsv(table, snakemake.output[0])
