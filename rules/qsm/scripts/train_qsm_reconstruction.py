"""Rule train_qsm_reconstruction: the DLR network, trained on train, selected on val."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.subject import train_reconstruction

with job_logging(snakemake.log[0]):
    train_reconstruction(
        train=snakemake.params.train,
        val=snakemake.params.val,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        outputs=dict(snakemake.output.items()),
        provenance=snakemake.params.provenance,
        threads=snakemake.threads,
    )
