"""Rule evaluate_dystrophy: the paper's statistics on the test split, with its numbers beside."""

from qmrflow.logs import job_logging
from qmrflow.studies.dystrophy.evaluate import run_evaluation

with job_logging(snakemake.log[0]):
    run_evaluation(
        probabilities=snakemake.input.probabilities,
        participants=snakemake.input.participants,
        ratings=snakemake.input.ratings,
        metadata=snakemake.input.metadata,
        architectures=snakemake.params.architectures,
        primary=snakemake.params.primary,
        threshold=snakemake.params.threshold,
        confidence=snakemake.params.confidence,
        outputs=dict(snakemake.output.items()),
    )
