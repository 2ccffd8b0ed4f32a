"""Rule measure_perfusion_subject: Dice, smoothness, curves and MBF of one alignment."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.measure import measure_subject

inputs = snakemake.input
truth = (
    {"labels": inputs.truth_labels, "field": inputs.truth_field, "segments": inputs.truth_segments}
    if "truth_labels" in inputs.keys()
    else None
)
with job_logging(snakemake.log[0]):
    measure_subject(
        snakemake.wildcards.subject,
        snakemake.wildcards.method,
        stress=inputs.stress,
        aif=inputs.aif,
        stress_pd=inputs.stress_pd,
        aif_pd=inputs.aif_pd,
        labels=inputs.labels,
        timing=inputs.timing,
        quantification=snakemake.params.quantification,
        outputs=dict(snakemake.output.items()),
        truth=truth,
    )
