"""Rule measure_breathing_subject: curves and measures of each reconstruction's lung masks."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.subject import measure_subject

tasks, kinds = snakemake.params.tasks, snakemake.params.kinds
truth = {
    key.removeprefix("truth_"): path
    for key, path in snakemake.input.items()
    if key.startswith("truth_")
}
with job_logging(snakemake.log[0]):
    for method in snakemake.params.methods:
        measure_subject(
            snakemake.wildcards.subject,
            method,
            labels={t: snakemake.input[f"labels_{t}_{method}"] for t in tasks},
            frames={t: snakemake.input[f"frames_{t}_{method}"] for t in tasks},
            outputs={kind: snakemake.output[f"{kind}_{method}"] for kind in kinds},
            threshold_mm=snakemake.params.threshold_mm,
            truth=truth or None,
        )
