"""Rule train_synthmri_superresolution: the SRGAN generator, trained on train, selected on val."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.superres_training import train_superresolution


def _pairs(split):
    return [(item["fast"], item["routine"], item["mask"]) for item in split]


with job_logging(snakemake.log[0]):
    train_superresolution(
        train=_pairs(snakemake.params.train),
        val=_pairs(snakemake.params.val),
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        outputs=dict(snakemake.output.items()),
        threads=snakemake.threads,
        provenance=snakemake.params.provenance,
    )
