"""Rule simulate_synthmri_participants: the demo cohort's participants and region names."""

from qmrflow.io import write_tsv
from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.simulate import demo_participants, write_region_names

with job_logging(snakemake.log[0]):
    write_tsv(
        demo_participants(snakemake.params.n_subjects, snakemake.params.seed),
        snakemake.output.participants,
    )
    write_region_names(snakemake.output.region_names)
