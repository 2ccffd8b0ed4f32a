"""Per-subject simulation of the embedded demo cohorts, with ground truth.

Each study's demo dataset is written in that study's real input layout (participants.tsv,
sub-<id>/..., ratings.tsv) under <results>/demo/<study>, so the study's rules treat it exactly
like a user's dataset. Ground truth goes to derivatives/truth/ beside it.
"""

if DYSTROPHY_DEMO and "dystrophy" in STUDIES:

    # The cohort tables are cheap: they run beside Snakemake, not as cluster jobs.
    localrules:
        simulate_dystrophy_participants,
        simulate_dystrophy_ratings,

    rule simulate_dystrophy_participants:
        output:
            dystrophy_participants_file(),
        log:
            f"{LOGS}/simulate_dystrophy_participants/simulate_dystrophy_participants.log",
        conda:
            "../envs/imaging.yaml"
        params:
            n_cases=DYSTROPHY["demo"]["n_cases"],
            seed=DYSTROPHY["demo"]["seed"],
        script:
            "../scripts/simulate_dystrophy_participants.py"

    rule simulate_dystrophy_subject:
        output:
            images=expand(
                "{root}/sub-{{subject}}/anat/sub-{{subject}}_slice-{k}_T1w.nii.gz",
                root=DYSTROPHY_ROOT,
                k=range(1, DYSTROPHY["demo"]["slices_per_case"] + 1),
            ),
            truth=f"{DYSTROPHY_ROOT}/derivatives/truth/sub-{{subject}}/sub-{{subject}}_fatfraction.tsv",
        log:
            f"{LOGS}/simulate_dystrophy_subject/sub-{{subject}}.log",
        conda:
            "../envs/imaging.yaml"
        params:
            row=dystrophy_demo_row,
            n_slices=DYSTROPHY["demo"]["slices_per_case"],
            shape=DYSTROPHY["demo"]["image_shape"],
        script:
            "../scripts/simulate_dystrophy_subject.py"

    rule simulate_dystrophy_ratings:
        input:
            participants=dystrophy_participants_file(),
        output:
            f"{DYSTROPHY_ROOT}/ratings.tsv",
        log:
            f"{LOGS}/simulate_dystrophy_ratings/simulate_dystrophy_ratings.log",
        conda:
            "../envs/imaging.yaml"
        params:
            n_slices=DYSTROPHY["demo"]["slices_per_case"],
            n_raters=DYSTROPHY["demo"]["n_raters"],
            seed=DYSTROPHY["demo"]["seed"],
        script:
            "../scripts/simulate_dystrophy_ratings.py"


if SYNTHMRI_DEMO and "synthmri" in STUDIES:

    localrules:
        simulate_synthmri_participants,

    rule simulate_synthmri_participants:
        output:
            participants=synthmri_participants_file(),
            region_names=SYNTHMRI_REGION_NAMES,
        log:
            f"{LOGS}/simulate_synthmri_participants/simulate_synthmri_participants.log",
        conda:
            "../envs/imaging.yaml"
        params:
            n_subjects=SYNTHMRI["demo"]["n_subjects"],
            seed=SYNTHMRI["demo"]["seed"],
        script:
            "../scripts/simulate_synthmri_participants.py"

    rule simulate_synthmri_subject:
        output:
            **{
                name: synthmri_truth("{subject}", name)
                for name in ("T1map", "T2map", "PDmap", "B1map")
            },
            routine=synthmri_mdme("{subject}", "routine"),
            routine_sidecar=synthmri_mdme("{subject}", "routine").removesuffix(
                ".nii.gz"
            )
            + ".json",
            fast=synthmri_mdme("{subject}", "fast"),
            fast_sidecar=synthmri_mdme("{subject}", "fast").removesuffix(".nii.gz")
            + ".json",
            dseg=synthmri_label("dseg", "{subject}"),
            regions=synthmri_label("regions", "{subject}"),
            lesions=synthmri_label("lesions", "{subject}"),
        log:
            f"{LOGS}/simulate_synthmri_subject/sub-{{subject}}.log",
        conda:
            "../envs/imaging.yaml"
        params:
            row=synthmri_demo_row,
            demo=SYNTHMRI["demo"],
        script:
            "../scripts/simulate_synthmri_subject.py"
