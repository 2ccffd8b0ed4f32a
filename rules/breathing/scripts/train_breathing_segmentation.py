"""Rule train_breathing_segmentation: the lung U-Net, trained on train, selected on val."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.segmentation import train_lung_segmentation

with job_logging(snakemake.log[0]):
    train_lung_segmentation(
        train=snakemake.params.train,
        val=snakemake.params.val,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        outputs=dict(snakemake.output.items()),
        provenance=snakemake.params.provenance,
        threads=snakemake.threads,
    )
