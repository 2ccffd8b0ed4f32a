"""Rule train_dystrophy_classifier: one architecture trained on train, selected on val."""

from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.classify import subject_paths, train_architecture

with job_logging(snakemake.log[0]):
    params = snakemake.params
    subjects = [*params.train, *params.val]
    train_architecture(
        snakemake.wildcards.architecture,
        train=params.train,
        val=params.val,
        crops=subject_paths(snakemake.input.crops, subjects),
        tables=subject_paths(snakemake.input.tables, subjects),
        model_config=params.model,
        seed=params.seed,
        provenance=params.provenance,
        drop_inseparable=params.drop_inseparable,
        out_model=snakemake.output.model,
        out_history=snakemake.output.history,
        threads=snakemake.threads,
    )
