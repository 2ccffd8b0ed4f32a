"""Rule train_perfusion_registration: the one-shot registration network, trained on train."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.training import train_registration_model

with job_logging(snakemake.log[0]):
    train_registration_model(
        train=snakemake.params.train,
        val=snakemake.params.val,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        provenance=snakemake.params.provenance,
        outputs=dict(snakemake.output.items()),
        threads=snakemake.threads,
    )
