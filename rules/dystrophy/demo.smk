"""Simulation of the dystrophy demo cohort, with ground truth (only when `dataset` is `demo`).

The demo dataset is written in the study's real input layout (participants.tsv,
sub-<id>/anat/..., ratings.tsv) under <results>/demo/dystrophy, so the chain treats it exactly
like a user's dataset. Ground truth goes to derivatives/truth/ beside it.
"""

if DYSTROPHY_LAYOUT.demo:

    # The cohort tables are cheap: they run beside Snakemake, not as cluster jobs.
    localrules:
        simulate_dystrophy_participants,
        simulate_dystrophy_ratings,

    rule simulate_dystrophy_participants:
        output:
            **DYSTROPHY_LAYOUT.demo_dataset_files(),
        log:
            f"{LOGS}/simulate_dystrophy_participants/simulate_dystrophy_participants.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            schema=DYSTROPHY_LAYOUT.participants_schema,
            pipelines=DYSTROPHY_LAYOUT.spec.demo_derivatives,
            ignore=DYSTROPHY_LAYOUT.spec.bids_ignore,
            # only what draws the table: other demo settings must not rewrite it
            demo={k: DYSTROPHY["demo"][k] for k in ("n_cases", "seed", "id_prefix")},
        script:
            "scripts/simulate_dystrophy_participants.py"

    rule simulate_dystrophy_subject:
        output:
            image=dystrophy_image("{subject}"),
            sidecar=str(sidecar_path(dystrophy_image("{subject}"))),
            labels=DYSTROPHY_LAYOUT.dataset_derivative("truth", "dseg", sub="{subject}"),
            truth=DYSTROPHY_LAYOUT.dataset_derivative(
                "truth", "fatfraction", ".tsv", sub="{subject}", datatype=None
            ),
        log:
            f"{LOGS}/simulate_dystrophy_subject/sub-{{subject}}.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            row=dystrophy_demo_row,
            n_slices=DYSTROPHY_N_SLICES,
            shape=DYSTROPHY["demo"]["image_shape"],
        script:
            "scripts/simulate_dystrophy_subject.py"

    rule simulate_dystrophy_ratings:
        input:
            participants=DYSTROPHY_LAYOUT.participants_file,
        output:
            f"{DYSTROPHY_LAYOUT.root}/ratings.tsv",
        log:
            f"{LOGS}/simulate_dystrophy_ratings/simulate_dystrophy_ratings.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            n_slices=DYSTROPHY_N_SLICES,
            n_raters=DYSTROPHY["demo"]["n_raters"],
            seed=DYSTROPHY["demo"]["seed"],
        script:
            "scripts/simulate_dystrophy_ratings.py"
