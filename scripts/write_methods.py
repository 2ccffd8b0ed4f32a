"""Rule write_methods: a study's methods text (Markdown and HTML)."""

from qmrflow.logs import job_logging
from qmrflow.report.methods import write_methods

with job_logging(snakemake.log[0]):
    run = snakemake.params.run
    write_methods(
        snakemake.output.markdown,
        snakemake.output.html,
        study=snakemake.wildcards.study,
        config=snakemake.params.config,
        participants=snakemake.input.participants,
        splits=run["splits"],
        model_names=run["models"],
        metadata=snakemake.input.metadata,
        training_seed=run["training_seed"],
        master_seed=snakemake.params.master_seed,
        left_out=run["left_out"],
        snakemake_version=snakemake.params.snakemake_version,
    )
