"""Configuration, the studies' layouts, wildcard constraints and the shared input functions.

Everything the rules need to know about the cohorts is computed at parse time: the config is
validated against config/schemas/config.schema.yaml (defaults filled in), then every configured
study gets its layout from the study registry (qmrflow.workflow): folders, the participants
table validated against config/schemas/<study>.participants.schema.yaml, splits, models and
targets. A bad key or row stops the run before any job starts. Each study's file names and
input functions are in rules/<study>/inputs.smk. Rules use only named functions (no lambdas).
"""

import re
from pathlib import Path

from qmrflow.workflow.cluster import fix_slurm_executor
from qmrflow.config import load_schema, validate_config
from qmrflow.io.bids import sidecar_path
from qmrflow.workflow import study_layouts

SCHEMAS = Path(workflow.basedir) / "config" / "schemas"
CONFIGFILE = workflow.configfiles[-1] if workflow.configfiles else None
validate_config(
    config, load_schema(SCHEMAS / "config.schema.yaml"), files=workflow.configfiles
)
# Two SLURM executor plugin defects lose jobs silently; see qmrflow.workflow.cluster.
fix_slurm_executor()
RESULTS = config["results"]
STUDIES = config["studies"]
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
LAYOUTS = study_layouts(config, schemas=SCHEMAS, configfile=CONFIGFILE)
for _layout in LAYOUTS.values():
    _layout.participants  # validate every participants table before any job is planned


wildcard_constraints:
    subject=r"[A-Za-z0-9]+",
    architecture=r"[A-Za-z0-9][A-Za-z0-9.-]*",
    study="|".join(STUDIES),


def study_targets():
    """The final outputs of every study listed in ``config["studies"]``."""
    return [target for layout in LAYOUTS.values() for target in layout.targets()]


def study_model_metadata(wildcards):
    """The metadata JSON of every model a study applies (trained here or given)."""
    layout = LAYOUTS[wildcards.study]
    return [layout.model_metadata(name) for name in layout.model_names]


def study_section(wildcards):
    """A study's config section (recorded, with its hash, in its dataset description)."""
    return LAYOUTS[wildcards.study].study


def study_dataset(wildcards):
    """A study's input dataset root."""
    return LAYOUTS[wildcards.study].root


def study_derivatives_ignore(wildcards):
    """A study's derivative files that BIDS has no name for (its .bidsignore)."""
    return LAYOUTS[wildcards.study].spec.bids_ignore.get("derivatives", ())
