"""Rule describe_derivatives: a study's BIDS-derivatives dataset_description.json."""

from qmrflow.logs import job_logging
from qmrflow.provenance import write_dataset_description

with job_logging(snakemake.log[0]):
    write_dataset_description(
        snakemake.output[0],
        study=snakemake.wildcards.study,
        dataset=snakemake.params.dataset,
        config=snakemake.params.config,
        models=snakemake.input.metadata,
    )
