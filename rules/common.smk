"""Configuration, participants tables, wildcard constraints, paths and input functions.

Everything the rules need to know about the cohort is computed at parse time: here the config
is validated against config/schemas/config.schema.yaml (defaults filled in); each study's
participants table is validated against its schema in rules/inputs/<study>.smk, which holds that
study's paths and input functions (Snakemake's linter keeps functions out of files with rules).
A bad key or row stops the run before any job starts. Rules use only named functions (no
lambdas).
"""

from pathlib import Path

from qmrflow.cluster import fix_slurm_executor
from qmrflow.config import (
    check_splits_present,
    check_training_splits,
    load_schema,
    read_participants,
    validate_config,
)

SCHEMAS = Path(workflow.basedir) / "config" / "schemas"
validate_config(
    config, load_schema(SCHEMAS / "config.schema.yaml"), files=workflow.configfiles
)
# Two SLURM executor plugin defects lose jobs silently; see qmrflow.cluster.
fix_slurm_executor()
RESULTS = config["results"]
STUDIES = config["studies"]
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"


wildcard_constraints:
    subject=r"[A-Za-z0-9]+",
    architecture=r"[A-Za-z0-9][A-Za-z0-9.-]*",


def study_targets():
    """The final outputs of every study listed in ``config["studies"]``."""
    targets = []
    if "dystrophy" in STUDIES:
        targets += dystrophy_targets()
    if "synthmri" in STUDIES:
        targets += synthmri_targets()
    return targets
