"""Rule train_perfusion_segmentation: the myocardium U-Net, trained on train, selected on val."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.segmentation import train_segmentation

with job_logging(snakemake.log[0]):
    train_segmentation(
        train=snakemake.params.train,
        val=snakemake.params.val,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        outputs=dict(snakemake.output.items()),
        provenance=snakemake.params.provenance,
        threads=snakemake.threads,
    )
