"""qmrflow: reproducible deep-learning quantitative MRI studies.

Wiring only. Configuration and participants tables are validated in rules/common.smk before any
job is planned; each study's chain reads top to bottom in rules/<study>.smk.
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


include: "rules/common.smk"
include: "rules/inputs/dystrophy.smk"
include: "rules/inputs/synthmri.smk"
include: "rules/demo.smk"


# Only the selected studies' rules exist, so nothing of an unselected study is planned or read.
if "dystrophy" in STUDIES:

    include: "rules/dystrophy.smk"


if "synthmri" in STUDIES:

    include: "rules/synthmri.smk"


rule all:
    default_target: True
    input:
        study_targets(),
