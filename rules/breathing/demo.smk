"""Simulation of the breathing demo cohort, with ground truth (only when `dataset` is `demo`).

The demo dataset is written in the study's real input layout (participants.tsv,
sub-<id>/rtmri/sub-<id>_task-<task>_kspace.h5 as ISMRMRD HDF5, sub-<id>/anat/ IRT1 images with
their inversion times) under <results>/demo/breathing, so the chain treats it exactly like a
user's dataset. Lung labels per frame and the diaphragm ROI go to derivatives/labels/, the rest
of the ground truth (curves, T1 map, per-subject truth) to derivatives/truth/.
"""

if BREATHING_LAYOUT.demo:

    localrules:
        simulate_breathing_participants,

    rule simulate_breathing_participants:
        output:
            **BREATHING_LAYOUT.demo_dataset_files(),
        log:
            f"{LOGS}/simulate_breathing_participants/simulate_breathing_participants.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            schema=BREATHING_LAYOUT.participants_schema,
            pipelines=BREATHING_LAYOUT.spec.demo_derivatives,
            ignore=BREATHING_LAYOUT.spec.bids_ignore,
            # only what draws the table: other demo settings must not rewrite it
            demo={
                k: BREATHING["demo"][k]
                for k in ("n_patients", "n_controls", "splits", "seed", "id_prefix")
            },
        script:
            "scripts/simulate_breathing_participants.py"

    rule simulate_breathing_subject:
        output:
            **{
                f"kspace_{task}": breathing_kspace("{subject}", task)
                for task in BREATHING_TASKS
            },
            **{kind: breathing_truth(kind, "{subject}") for kind in BREATHING_TRUTH},
            inversions=breathing_inversions("{subject}"),
            inversion_sidecars=[
                str(sidecar_path(p)) for p in breathing_inversions("{subject}")
            ],
        log:
            f"{LOGS}/simulate_breathing_subject/sub-{{subject}}.log",
        benchmark:
            f"{BENCHMARKS}/simulate_breathing_subject/sub-{{subject}}.tsv"
        conda:
            "../../envs/imaging.yaml"
        params:
            row=breathing_demo_row,
            demo=BREATHING["demo"],
        script:
            "scripts/simulate_breathing_subject.py"
