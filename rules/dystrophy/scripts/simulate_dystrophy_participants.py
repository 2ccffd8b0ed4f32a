"""Rule simulate_dystrophy_participants: the demo cohort's participants table."""

from qmrflow.io import write_tsv
from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.study import STUDY

with job_logging(snakemake.log[0]):
    write_tsv(STUDY.demo_participants(snakemake.params.demo), snakemake.output[0])
