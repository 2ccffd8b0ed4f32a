"""Rule simulate_qsm_participants: the demo cohort's participants and dataset files."""

from pathlib import Path

from qmrflow.logs import job_logging
from qmrflow.simulate.dataset import write_demo_dataset
from qmrflow.studies.qsm.study import STUDY

with job_logging(snakemake.log[0]):
    write_demo_dataset(
        Path(snakemake.output.participants).parent,
        study="qsm",
        participants=STUDY.demo_participants(snakemake.params.demo),
        schema=snakemake.params.schema,
        pipelines=snakemake.params.pipelines,
        ignore=snakemake.params.ignore,
    )
