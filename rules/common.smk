"""Configuration, the studies' layouts, wildcard constraints and the shared input functions.

Everything the rules need to know about the cohorts is computed at parse time: the config is
validated against config/schemas/config.schema.yaml (defaults filled in), then every configured
study gets its layout from the study registry (qmrflow.workflow): folders, the participants
table validated against config/schemas/<study>.participants.schema.yaml, splits, models and
targets. A bad key or row stops the run before any job starts. Each study's file names and
input functions are in rules/<study>/inputs.smk. Rules use only named functions (no lambdas).
"""

import re
import sys
from pathlib import Path

from qmrflow.workflow.cluster import fix_slurm_executor
from qmrflow.config import load_schema, validate_config
from qmrflow.io.bids import sidecar_path
from qmrflow.workflow import study_layouts
from qmrflow.report.qc import (
    flags_path,
    index_path,
    measures_path,
    outliers_path,
    page_path,
)
from qmrflow.workflow.missing import check_missing_inputs

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
# Subjects of a user's dataset lacking a required input: one table, then stop (before any job)
# or leave them out of targets and training (config missing_inputs), before the studies' rules
# list their subjects.
MISSING_INPUTS = check_missing_inputs(
    LAYOUTS,
    config["missing_inputs"],
    main_process=workflow.is_main_process,
    argv=sys.argv,
)


wildcard_constraints:
    subject=r"[A-Za-z0-9]+",
    architecture=r"[A-Za-z0-9][A-Za-z0-9.-]*",
    study="|".join(STUDIES),


#: Study -> its QC page: ``subjects`` (those with a page), ``inputs`` (input function of one
#: subject's page) and ``options`` (the page's settings); each study's rules/<study>/qc.smk adds
#: its entry, rules/report.smk writes the pages and their index.
QC_PAGES = {}


def qc_page_inputs(wildcards):
    """The files of one subject's QC page (its study's rules/<study>/qc.smk)."""
    return QC_PAGES[wildcards.study]["inputs"](wildcards)


def qc_page_options(wildcards):
    """The settings of a study's QC page (keyword arguments of its ``subject_qc``)."""
    return QC_PAGES[wildcards.study].get("options", {})


def qc_files(kind):
    """Study -> subject -> its QC ``page`` or its ``measures`` table, for every page."""
    path = {"page": page_path, "measures": measures_path}[kind]
    return {
        study: {
            subject: str(path(RESULTS, study, subject)) for subject in entry["subjects"]
        }
        for study, entry in QC_PAGES.items()
    }


def qc_targets():
    """The QC index, its flags and outlier table (the index needs every page)."""
    return [str(f(RESULTS)) for f in (index_path, flags_path, outliers_path)]


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


def study_participants(wildcards):
    """A study's participants table (the demo's is written by its participants rule)."""
    return LAYOUTS[wildcards.study].participants_file


def study_run(wildcards):
    """What a study's run is made of besides its config (its methods text states it): the
    subjects used by split, the subjects left out, the models applied (in the order of
    ``study_model_metadata``) and the seed of the models trained here."""
    layout = LAYOUTS[wildcards.study]
    return {
        "splits": {split: layout.subjects(split) for split in ("train", "val", "test")},
        "left_out": list(layout.left_out),
        "models": layout.model_names,
        "training_seed": layout.seed,
    }


def report_outputs(layout, outputs, subcategory):
    """A study's group outputs (key -> path) registered for ``snakemake --report``: in the
    study's category, each with its caption ``rules/<study>/report/<path under group/>.rst``
    (``figures/roc.png`` -> ``report/figures/roc.rst``; Snakemake reads a caption path
    relative to the including chain.smk's folder and renders it with the job's params).
    """
    return {
        key: report(
            path,
            caption=str(
                Path("report", Path(path).relative_to(layout.group)).with_suffix(".rst")
            ),
            category=layout.name,
            subcategory=subcategory,
        )
        for key, path in outputs.items()
    }
