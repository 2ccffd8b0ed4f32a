"""Study `qsm`: conventional vs DL-reconstructed 3D-EPI QSM in MS, to lesion ratings.

Chain: per subject, the conventional reconstruction (CR: inverse FFT, phase-preserving coil
combination) of the GRE and of the 2- and 1-average 3D-EPI (one CPU job) -> train the DL
reconstruction (DLR: a U-Net with k-space data consistency that denoises and super-resolves)
on the train split's EPI against their GRE, selected on val (group, GPU) -> per test subject,
the DLR of both EPI (GPU) -> per test subject and reconstruction, QSM of every acquisition
(multi-echo field fit, Laplacian unwrapping, brain mask, V-SHARP, TKD and TV-ADMM inversion,
referenced to the lateral ventricles) -> per subject, the FLAIR lesions' features, deep grey
matter ROIs, agreement with GRE-QSM and (demo) the error against the truth -> ratings (the
demo's simulated raters, or the user's table) -> group statistics, figures and the paper's
numbers beside ours.
"""


# Cheap group steps run beside Snakemake, not as cluster jobs.
localrules:
    evaluate_qsm,
    plot_qsm_figures,


rule reconstruct_qsm_subject:
    input:
        unpack(qsm_reconstruct_inputs),
    output:
        **qsm_echo_outputs("{subject}", "cr"),
        timing=qsm_table("timing", "{subject}", "cr"),
    log:
        f"{LOGS}/reconstruct_qsm_subject/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/reconstruct_qsm_subject/sub-{{subject}}.tsv"
    conda:
        "../../envs/imaging.yaml"
    params:
        expected=lambda w: {
            acq: [qsm_kspace(w.subject, acq), qsm_megre_pattern(w.subject, acq)]
            for acq in QSM_ACQUISITIONS
        },
    script:
        "scripts/reconstruct_qsm_subject.py"


# A network given in the config (`model.trained`) is applied, not trained.
if "reconstruction" in QSM_TRAINS:

    rule train_qsm_reconstruction:
        input:
            qsm_reconstruction_training_inputs(),
        output:
            model=QSM_LAYOUT.trained_model_path("reconstruction"),
            metadata=f"{QSM_LAYOUT.models_dir}/reconstruction/model.json",
            history=f"{QSM_LAYOUT.models_dir}/reconstruction/history.tsv",
        log:
            f"{LOGS}/train_qsm_reconstruction/reconstruction.log",
        benchmark:
            f"{BENCHMARKS}/train_qsm_reconstruction/reconstruction.tsv"
        # the network is the study's critical path: its inputs and it first
        priority: 1
        conda:
            "../../envs/dl.yaml"
        resources:
            gpu=1,
        params:
            train=qsm_training_items("train"),
            val=qsm_training_items("val"),
            settings=QSM["model"]["reconstruction"],
            seed=QSM_LAYOUT.seed,
            provenance=QSM_LAYOUT.training_provenance,
        script:
            "scripts/train_qsm_reconstruction.py"


rule reconstruct_qsm_dlr:
    input:
        **{
            key: path
            for key, path in qsm_echo_outputs("{subject}", "cr").items()
            if not key.startswith("gre")
        },
        model=QSM_LAYOUT.model_file("reconstruction"),
    output:
        **qsm_echo_outputs("{subject}", "dlr"),
        timing=qsm_table("timing", "{subject}", "dlr"),
    log:
        f"{LOGS}/reconstruct_qsm_dlr/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/reconstruct_qsm_dlr/sub-{{subject}}.tsv"
    conda:
        "../../envs/dl.yaml"
    resources:
        gpu=1,
    params:
        acquisitions=QSM_EPI,
        sha256=QSM_LAYOUT.model_sha256("reconstruction"),
    script:
        "scripts/reconstruct_qsm_dlr.py"


# One QSM job per subject and reconstruction (CR: every acquisition; DLR: the EPI), so the CR
# maps do not wait for the network.
for _recon in QSM_RECONS:

    rule:
        name:
            f"compute_qsm_{_recon}"
        input:
            unpack(partial(qsm_compute_inputs, recon=_recon)),
        output:
            **qsm_map_outputs("{subject}", _recon),
            timing=qsm_table("qsmtiming", "{subject}", _recon),
        log:
            f"{LOGS}/compute_qsm_{_recon}/sub-{{subject}}.log",
        benchmark:
            f"{BENCHMARKS}/compute_qsm_{_recon}/sub-{{subject}}.tsv"
        conda:
            "../../envs/imaging.yaml"
        params:
            acquisitions=qsm_acquisitions_of(_recon),
            inversions=QSM_INVERSIONS,
            settings=QSM["qsm"],
            expected=lambda w: qsm_dataset_files(w.subject),
            recon=_recon,
        script:
            "scripts/compute_qsm.py"


rule measure_qsm_subject:
    input:
        unpack(qsm_measure_inputs),
    output:
        **{kind: qsm_table(kind, "{subject}") for kind in QSM_SUBJECT_TABLES},
    log:
        f"{LOGS}/measure_qsm_subject/sub-{{subject}}.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        lesion_acquisition=QSM_LESION_ACQ,
        acquisitions={r: qsm_acquisitions_of(r) for r in QSM_RECONS},
        expected=lambda w: qsm_dataset_files(w.subject),
        inversions=QSM_INVERSIONS,
    script:
        "scripts/measure_qsm_subject.py"


rule evaluate_qsm:
    input:
        **{kind: qsm_test_tables(kind) for kind in QSM_SUBJECT_TABLES},
        timing=qsm_test_tables("timing"),
        qsm_timing=[
            qsm_table("qsmtiming", s, r)
            for s in QSM_LAYOUT.subjects("test")
            for r in QSM_RECONS
        ],
        ratings=qsm_ratings_inputs(),
        participants=QSM_LAYOUT.participants_file,
    output:
        **report_outputs(QSM_LAYOUT, QSM_LAYOUT.tables(), "tables"),
    log:
        f"{LOGS}/evaluate_qsm/evaluate_qsm.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        confidence=QSM["confidence"],
        test_subjects=QSM_LAYOUT.subjects("test"),
    script:
        "scripts/evaluate_qsm.py"


rule plot_qsm_figures:
    input:
        unpack(qsm_figure_inputs),
    output:
        **report_outputs(QSM_LAYOUT, QSM_LAYOUT.figures(), "figures"),
    log:
        f"{LOGS}/plot_qsm_figures/plot_qsm_figures.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        lesion_acquisition=QSM_LESION_ACQ,
        test_subjects=QSM_LAYOUT.subjects("test"),
    script:
        "scripts/plot_qsm_figures.py"
