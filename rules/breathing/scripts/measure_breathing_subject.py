"""Rule measure_breathing_subject: curves and measures of one reconstruction's lung masks."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.subject import measure_subject

tasks = snakemake.params.tasks
truth = {
    key.removeprefix("truth_"): path
    for key, path in snakemake.input.items()
    if key.startswith("truth_")
}
with job_logging(snakemake.log[0]):
    measure_subject(
        snakemake.wildcards.subject,
        snakemake.wildcards.method,
        labels={t: snakemake.input[f"labels_{t}"] for t in tasks},
        frames={t: snakemake.input[f"frames_{t}"] for t in tasks},
        outputs=dict(snakemake.output.items()),
        threshold_mm=snakemake.params.threshold_mm,
        truth=truth or None,
    )
