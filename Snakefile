"""qmrflow: reproducible deep-learning quantitative MRI studies.

Wiring only. Configuration and participants tables are validated in rules/common.smk before any
job is planned; each study's chain reads top to bottom in rules/<study>.smk.
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/dystrophy.smk"


rule all:
    default_target: True
    input:
        study_targets(),
