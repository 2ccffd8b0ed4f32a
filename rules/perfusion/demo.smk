"""Simulation of the perfusion demo cohort, with ground truth (only when `dataset` is `demo`).

The demo dataset is written in the study's real input layout (participants.tsv,
sub-<id>/perf/..._acq-stress_perf.nii.gz, ..._acq-aif_perf.nii.gz and their PD images, with
JSON sidecars) under <results>/demo/perfusion, so the chain treats it exactly like a user's
dataset. Labels per frame go to derivatives/labels/, the rest of the ground truth (motion
fields, MBF per segment and pixel, the true arterial input) to derivatives/truth/.
"""

if PERFUSION_LAYOUT.demo:

    localrules:
        simulate_perfusion_participants,

    rule simulate_perfusion_participants:
        output:
            **PERFUSION_LAYOUT.demo_dataset_files(),
        log:
            f"{LOGS}/simulate_perfusion_participants/simulate_perfusion_participants.log",
        conda:
            "../../envs/imaging.yaml"
        params:
            schema=PERFUSION_LAYOUT.participants_schema,
            pipelines=PERFUSION_LAYOUT.spec.demo_derivatives,
            ignore=PERFUSION_LAYOUT.spec.bids_ignore,
            # only what draws the table: other demo settings must not rewrite it
            demo={k: PERFUSION["demo"][k] for k in ("n_subjects", "seed", "id_prefix")},
        script:
            "scripts/simulate_perfusion_participants.py"

    rule simulate_perfusion_subject:
        output:
            **{
                kind: perfusion_input(kind, "{subject}")
                for kind in PERFUSION_INPUT_KINDS
            },
            **{
                f"{kind}_sidecar": str(
                    sidecar_path(perfusion_input(kind, "{subject}"))
                )
                for kind in PERFUSION_INPUT_KINDS
            },
            **{kind: perfusion_truth(kind, "{subject}") for kind in PERFUSION_TRUTH},
        log:
            f"{LOGS}/simulate_perfusion_subject/sub-{{subject}}.log",
        # about a second each; they feed the references and trainings (the critical path)
        priority: 1
        conda:
            "../../envs/imaging.yaml"
        params:
            row=perfusion_demo_row,
            demo=PERFUSION["demo"],
        script:
            "scripts/simulate_perfusion_subject.py"
