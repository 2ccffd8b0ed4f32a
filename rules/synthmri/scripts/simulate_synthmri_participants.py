"""Rule simulate_synthmri_participants: the demo cohort's participants, dataset files and
region names."""

from pathlib import Path

from qmrflow.logs import job_logging
from qmrflow.simulate.dataset import write_demo_dataset
from qmrflow.studies.synthmri.simulate import write_region_names
from qmrflow.studies.synthmri.study import STUDY

with job_logging(snakemake.log[0]):
    write_demo_dataset(
        Path(snakemake.output.participants).parent,
        study="synthmri",
        participants=STUDY.demo_participants(snakemake.params.demo),
        schema=snakemake.params.schema,
        pipelines=snakemake.params.pipelines,
        ignore=snakemake.params.ignore,
    )
    write_region_names(snakemake.output.region_names)
