"""Rule simulate_qsm_subject: one demo subject's raw k-space, FLAIR, labels and truth."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.simulate.files import write_subject

demo = snakemake.params.demo
with job_logging(snakemake.log[0]):
    write_subject(
        snakemake.params.row,
        snakemake.params.root,
        settings={
            k: v for k, v in demo.items() if k not in ("n_subjects", "splits", "seed", "id_prefix")
        },
        seed=demo["seed"],
    )
