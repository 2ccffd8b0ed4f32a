"""Rule describe_derivatives: a study's BIDS-derivatives description and .bidsignore."""

from qmrflow.logs import job_logging
from qmrflow.provenance import write_dataset_description

with job_logging(snakemake.log[0]):
    write_dataset_description(
        snakemake.output.description,
        study=snakemake.wildcards.study,
        dataset=snakemake.params.dataset,
        config=snakemake.params.config,
        models=snakemake.input.metadata,
        ignore=snakemake.params.ignore,
    )
