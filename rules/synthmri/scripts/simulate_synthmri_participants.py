"""Rule simulate_synthmri_participants: the demo cohort's participants and region names."""

from qmrflow.io import write_tsv
from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.simulate import write_region_names
from qmrflow.studies.synthmri.study import STUDY

with job_logging(snakemake.log[0]):
    write_tsv(STUDY.demo_participants(snakemake.params.demo), snakemake.output.participants)
    write_region_names(snakemake.output.region_names)
