"""Simulation of the synthmri demo cohort, with ground truth (only when `dataset` is `demo`).

The demo dataset is written in the study's real input layout (participants.tsv,
sub-<id>/anat/..._MDME.nii.gz with JSON sidecars, derivatives/labels) under
<results>/demo/synthmri, so the chain treats it exactly like a user's dataset. Ground truth goes
to derivatives/truth/ beside it.
"""

if SYNTHMRI_LAYOUT.demo:

    localrules:
        simulate_synthmri_participants,

    rule simulate_synthmri_participants:
        output:
            **SYNTHMRI_LAYOUT.demo_dataset_files(),
            region_names=SYNTHMRI_REGION_NAMES,
        log:
            f"{LOGS}/simulate_synthmri_participants/simulate_synthmri_participants.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            schema=SYNTHMRI_LAYOUT.participants_schema,
            pipelines=SYNTHMRI_LAYOUT.spec.demo_derivatives,
            ignore=SYNTHMRI_LAYOUT.spec.bids_ignore,
            # only what draws the table: other demo settings must not rewrite it
            demo={k: SYNTHMRI["demo"][k] for k in ("n_subjects", "seed", "id_prefix")},
        script:
            "scripts/simulate_synthmri_participants.py"

    rule simulate_synthmri_subject:
        output:
            **{
                name: synthmri_truth("{subject}", name)
                for name in ("T1map", "T2map", "PDmap", "B1map")
            },
            routine=synthmri_mdme("{subject}", "routine"),
            routine_sidecar=str(sidecar_path(synthmri_mdme("{subject}", "routine"))),
            fast=synthmri_mdme("{subject}", "fast"),
            fast_sidecar=str(sidecar_path(synthmri_mdme("{subject}", "fast"))),
            dseg=synthmri_label("dseg", "{subject}"),
            regions=synthmri_label("regions", "{subject}"),
            lesions=synthmri_label("lesions", "{subject}"),
        log:
            f"{LOGS}/simulate_synthmri_subject/sub-{{subject}}.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            row=synthmri_demo_row,
            demo=SYNTHMRI["demo"],
        script:
            "scripts/simulate_synthmri_subject.py"
