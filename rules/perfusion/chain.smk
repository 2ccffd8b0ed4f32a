"""Study `perfusion`: DL vs iterative motion correction of stress perfusion CMR, to MBF.

Chain: train the one-shot registration network (robust-PCA guided) and the myocardium U-Net on
the train split, selected on val (group, GPU) -> per test subject, align the stress and AIF
series and the PD images three ways: none, iterative (robust PCA + SimpleITK, CPU) and DL (one
forward pass, GPU) -> segment every aligned frame (GPU) -> per alignment, Dice, temporal
smoothness, the arterial input, Fermi deconvolution per segment and pixel -> group statistics
across the three alignments, figures and the paper's numbers beside ours.
"""


# Cheap group steps run beside Snakemake, not as cluster jobs.
localrules:
    evaluate_perfusion,
    plot_perfusion_figures,
    index_perfusion_qc,


wildcard_constraints:
    method="none|iterative|dl",


# A network given in the config (`model.trained`) is applied, not trained.
if "registration" in PERFUSION_TRAINS:

    rule reference_perfusion_subject:
        input:
            stress=perfusion_input("stress", "{subject}"),
            sidecar=str(sidecar_path(perfusion_input("stress", "{subject}"))),
        output:
            perfusion_reference("{subject}"),
        log:
            f"{LOGS}/reference_perfusion_subject/sub-{{subject}}.log",
        benchmark:
            f"{BENCHMARKS}/reference_perfusion_subject/sub-{{subject}}.tsv"
        # the references and the training are the study's critical path: first
        priority: 1
        conda:
            "../../envs/imaging.yaml"
        params:
            options=PERFUSION["registration"]["iterative"]
            | PERFUSION["registration"]["reference"],
        script:
            "scripts/reference_perfusion_subject.py"

    rule train_perfusion_registration:
        input:
            perfusion_registration_training_inputs(),
        output:
            model=PERFUSION_LAYOUT.trained_model_path("registration"),
            metadata=f"{PERFUSION_LAYOUT.models_dir}/registration/model.json",
            history=f"{PERFUSION_LAYOUT.models_dir}/registration/history.tsv",
        log:
            f"{LOGS}/train_perfusion_registration/registration.log",
        benchmark:
            f"{BENCHMARKS}/train_perfusion_registration/registration.tsv"
        priority: 1
        conda:
            "../../envs/dl.yaml"
        resources:
            gpu=1,
        params:
            train=perfusion_training_series("train"),
            val=perfusion_training_series("val"),
            settings=PERFUSION["model"]["registration"],
            seed=PERFUSION_LAYOUT.seed,
            provenance=PERFUSION_LAYOUT.training_provenance,
        script:
            "scripts/train_perfusion_registration.py"


if "segmentation" in PERFUSION_TRAINS:

    rule train_perfusion_segmentation:
        input:
            **perfusion_segmentation_training_inputs(),
        output:
            model=PERFUSION_LAYOUT.trained_model_path("segmentation"),
            metadata=f"{PERFUSION_LAYOUT.models_dir}/segmentation/model.json",
            history=f"{PERFUSION_LAYOUT.models_dir}/segmentation/history.tsv",
        log:
            f"{LOGS}/train_perfusion_segmentation/segmentation.log",
        benchmark:
            f"{BENCHMARKS}/train_perfusion_segmentation/segmentation.tsv"
        conda:
            "../../envs/dl.yaml"
        resources:
            gpu=1,
        params:
            train=perfusion_training_labels("train"),
            val=perfusion_training_labels("val"),
            settings=PERFUSION["model"]["segmentation"],
            seed=PERFUSION_LAYOUT.seed,
            provenance=PERFUSION_LAYOUT.training_provenance,
        script:
            "scripts/train_perfusion_segmentation.py"


rule correct_perfusion_motion:
    input:
        unpack(perfusion_inputs),
    output:
        **perfusion_files(PERFUSION_CORRECTED),
    log:
        f"{LOGS}/correct_perfusion_motion/sub-{{subject}}_desc-{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/correct_perfusion_motion/sub-{{subject}}_desc-{{method}}.tsv"
    wildcard_constraints:
        method="none|iterative",
    conda:
        "../../envs/imaging.yaml"
    params:
        expected=perfusion_expected,
        iterative=PERFUSION["registration"]["iterative"],
    script:
        "scripts/correct_perfusion_motion.py"


rule correct_perfusion_motion_dl:
    input:
        unpack(perfusion_inputs),
        model=PERFUSION_LAYOUT.model_file("registration"),
    output:
        **perfusion_files(PERFUSION_CORRECTED, method="dl"),
    log:
        f"{LOGS}/correct_perfusion_motion_dl/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/correct_perfusion_motion_dl/sub-{{subject}}.tsv"
    conda:
        "../../envs/dl.yaml"
    resources:
        gpu=1,
    params:
        expected=perfusion_expected,
        iterative=PERFUSION["registration"]["iterative"],
        sha256=PERFUSION_LAYOUT.model_sha256("registration"),
    script:
        "scripts/correct_perfusion_motion.py"


rule segment_perfusion_subject:
    input:
        **{m: perfusion_file("stress", "{subject}", m) for m in PERFUSION_METHODS},
        model=PERFUSION_LAYOUT.model_file("segmentation"),
    output:
        **{m: perfusion_file("labels", "{subject}", m) for m in PERFUSION_METHODS},
    log:
        f"{LOGS}/segment_perfusion_subject/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/segment_perfusion_subject/sub-{{subject}}.tsv"
    conda:
        "../../envs/dl.yaml"
    resources:
        gpu=1,
    params:
        methods=PERFUSION_METHODS,
        sha256=PERFUSION_LAYOUT.model_sha256("segmentation"),
    script:
        "scripts/segment_perfusion_subject.py"


rule measure_perfusion_subject:
    input:
        unpack(perfusion_measure_inputs),
    output:
        **perfusion_files(PERFUSION_MEASURES),
    log:
        f"{LOGS}/measure_perfusion_subject/sub-{{subject}}_desc-{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/measure_perfusion_subject/sub-{{subject}}_desc-{{method}}.tsv"
    conda:
        "../../envs/imaging.yaml"
    params:
        quantification=PERFUSION["quantification"],
    script:
        "scripts/measure_perfusion_subject.py"


rule evaluate_perfusion:
    input:
        segments=perfusion_test_files("segments"),
        quality=perfusion_test_files("quality"),
    output:
        **report_outputs(
            PERFUSION_LAYOUT,
            {k: v for k, v in PERFUSION_LAYOUT.tables().items() if k != "qc_index"},
            "tables",
        ),
    log:
        f"{LOGS}/evaluate_perfusion/evaluate_perfusion.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        confidence=PERFUSION["confidence"],
        test_subjects=PERFUSION_LAYOUT.subjects("test"),
    script:
        "scripts/evaluate_perfusion.py"


rule plot_perfusion_figures:
    input:
        subjects=PERFUSION_LAYOUT.tables()["subjects"],
        statistics=PERFUSION_LAYOUT.tables()["statistics"],
        segments=perfusion_test_files("segments"),
        curves=[
            perfusion_file("curves", perfusion_example_subject(), m)
            for m in PERFUSION_METHODS
        ],
    output:
        **report_outputs(PERFUSION_LAYOUT, PERFUSION_LAYOUT.figures(), "figures"),
    log:
        f"{LOGS}/plot_perfusion_figures/plot_perfusion_figures.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        example_subject=perfusion_example_subject(),
        test_subjects=PERFUSION_LAYOUT.subjects("test"),
    script:
        "scripts/plot_perfusion_figures.py"


rule plot_perfusion_subject:
    input:
        **{m: perfusion_file("stress", "{subject}", m) for m in PERFUSION_METHODS},
    output:
        strip=perfusion_qc("strip", "{subject}"),
        animation=perfusion_qc("animation", "{subject}"),
    log:
        f"{LOGS}/plot_perfusion_subject/sub-{{subject}}.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        methods=PERFUSION_METHODS,
    script:
        "scripts/plot_perfusion_subject.py"


rule index_perfusion_qc:
    input:
        strips=[perfusion_qc("strip", s) for s in PERFUSION_LAYOUT.subjects("test")],
        animations=[
            perfusion_qc("animation", s) for s in PERFUSION_LAYOUT.subjects("test")
        ],
    output:
        PERFUSION_LAYOUT.tables()["qc_index"],
    log:
        f"{LOGS}/index_perfusion_qc/index_perfusion_qc.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        subjects=PERFUSION_LAYOUT.subjects("test"),
    script:
        "scripts/index_perfusion_qc.py"
