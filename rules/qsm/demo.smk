"""Simulation of the qsm demo cohort, with ground truth (only when `dataset` is `demo`).

The demo dataset is written in the study's real input layout (participants.tsv,
sub-<id>/kspace/sub-<id>_acq-<acq>_kspace.h5 as ISMRMRD HDF5 for the GRE and the 2- and
1-average 3D-EPI, sub-<id>/anat/sub-<id>_FLAIR.nii.gz) under <results>/demo/qsm, so the chain
treats it exactly like a user's dataset. The FLAIR lesion labels and the tissue labels go to
derivatives/labels/, the true susceptibility map and lesion types to derivatives/truth/. The
demo's raters score every test subject's lesions on the CR and DLR QSM the chain computed.
"""

if QSM_LAYOUT.demo:

    localrules:
        simulate_qsm_participants,

    rule simulate_qsm_participants:
        output:
            **QSM_LAYOUT.demo_dataset_files(),
        log:
            f"{LOGS}/simulate_qsm_participants/simulate_qsm_participants.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            schema=QSM_LAYOUT.participants_schema,
            pipelines=QSM_LAYOUT.spec.demo_derivatives,
            ignore=QSM_LAYOUT.spec.bids_ignore,
            # only what draws the table: other demo settings must not rewrite it
            demo={
                k: QSM["demo"][k]
                for k in ("n_subjects", "splits", "seed", "id_prefix")
            },
        script:
            "scripts/simulate_qsm_participants.py"

    rule simulate_qsm_subject:
        output:
            **qsm_dataset_paths("{subject}"),
        log:
            f"{LOGS}/simulate_qsm_subject/sub-{{subject}}.log",
        benchmark:
            f"{BENCHMARKS}/simulate_qsm_subject/sub-{{subject}}.tsv"
        conda:
            "../../envs/imaging.yaml"
        params:
            row=qsm_demo_row,
            demo=QSM["demo"],
            # the dataset root: <root>/sub-<id>/anat/sub-<id>_FLAIR.nii.gz
            root=lambda w, output: str(Path(output.flair).parents[2]),
        script:
            "scripts/simulate_qsm_subject.py"

    rule rate_qsm_lesions:
        input:
            lesions=qsm_table("lesions", "{subject}"),
        output:
            qsm_table("ratings", "{subject}"),
        log:
            f"{LOGS}/rate_qsm_lesions/sub-{{subject}}.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            seed=QSM["demo"]["seed"],
        script:
            "scripts/rate_qsm_lesions.py"
