"""Rule classify_dystrophy_subject: probabilities per image and case, and CAMs, of one subject."""

from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.classify import classify_subject

with job_logging(snakemake.log[0]):
    classify_subject(
        snakemake.wildcards.subject,
        crops_path=snakemake.input.crops,
        table_path=snakemake.input.table,
        models=dict(zip(snakemake.params.architectures, snakemake.input.models, strict=True)),
        sha256=snakemake.params.sha256,
        primary=snakemake.params.primary,
        aggregation=snakemake.params.aggregation,
        drop_inseparable=snakemake.params.drop_inseparable,
        out_probabilities=snakemake.output.probabilities,
        out_cam=snakemake.output.cam,
        out_overlay=snakemake.output.overlay,
        threads=snakemake.threads,
    )
