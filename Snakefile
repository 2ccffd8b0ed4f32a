"""qmrflow: reproducible deep-learning quantitative MRI studies.

Wiring only. The configuration and every study's participants table are validated in
rules/common.smk before any job is planned; each configured study's rules live in
rules/<study>/ (inputs.smk: its paths and input functions; demo.smk: the simulation of its demo
cohort; chain.smk: its chain, top to bottom; qc.smk: the files of its per-subject QC page).
Only the configured studies' rules exist, so nothing of an unselected study is planned or read.
rules/report.smk writes every study's methods text, every QC page and their index
(results/qc/index.html).
"""

import sys
from pathlib import Path

from snakemake.utils import min_version

from qmrflow.workflow.locks import explain_lock

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


# `snakemake --report report.html`: this text, then every study's group figures and tables.
report: "report/workflow.rst"


include: "rules/common.smk"


# Evaluated before Snakemake locks the directory: a killed run's lock and jobs, and what to do.
explain_lock(Path.cwd(), sys.argv, main_process=workflow.is_main_process)


for _study in STUDIES:

    include: f"rules/{_study}/inputs.smk"
    include: f"rules/{_study}/demo.smk"
    include: f"rules/{_study}/chain.smk"
    include: f"rules/{_study}/qc.smk"


include: "rules/derivatives.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        study_targets(),
        qc_targets(),
