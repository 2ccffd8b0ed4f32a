"""Rule train_dystrophy_classifier: one architecture trained on train, selected on val."""

from qmrflow.io.bids import by_subject
from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.training import train_architecture

with job_logging(snakemake.log[0]):
    params = snakemake.params
    subjects = [*params.train, *params.val]
    train_architecture(
        snakemake.wildcards.architecture,
        train=params.train,
        val=params.val,
        crops=by_subject(snakemake.input.crops, subjects),
        tables=by_subject(snakemake.input.tables, subjects),
        model_config=params.model,
        seed=params.seed,
        provenance=params.provenance,
        drop_inseparable=params.drop_inseparable,
        out_model=snakemake.output.model,
        out_history=snakemake.output.history,
        threads=snakemake.threads,
    )
