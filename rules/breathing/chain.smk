"""Study `breathing`: real-time radial MRI of breathing in Pompe disease, to group statistics.

Chain: per subject, reconstruct each task's raw radial k-space two ways (one CPU job),
density-compensated gridding (the baseline) and CG-SENSE regularised toward the previous frame
-> train the lung U-Net on the train split's SENSE frames, selected on val (group, GPU) -> per
test subject, label the lungs of every frame of every reconstruction (GPU) -> per
reconstruction, diaphragm, chest-wall, velocity, synchronicity and paradoxical-motion measures
(and, on the demo, their accuracy against the truth) -> per subject, the diaphragm T1 from the
inversion-recovery images -> group statistics (patients vs controls, lung function), figures
and the paper's findings beside ours.
"""


# Cheap group steps run beside Snakemake, not as cluster jobs.
localrules:
    evaluate_breathing,
    plot_breathing_figures,
    index_breathing_qc,


rule reconstruct_breathing_subject:
    input:
        **BREATHING_LAYOUT.on_disk(
            {t: breathing_kspace("{subject}", t) for t in BREATHING_TASKS}
        ),
    output:
        **{
            f"frames_{t}_{m}": breathing_frames("{subject}", t, m)
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        },
        **{
            f"sidecar_{t}_{m}": str(sidecar_path(breathing_frames("{subject}", t, m)))
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        },
        **{
            f"timing_{t}_{m}": breathing_timing("{subject}", t, m)
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        },
    log:
        f"{LOGS}/reconstruct_breathing_subject/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/reconstruct_breathing_subject/sub-{{subject}}.tsv"
    conda:
        "../../envs/imaging.yaml"
    params:
        kspace=lambda w: {t: breathing_kspace(w.subject, t) for t in BREATHING_TASKS},
        methods=BREATHING_METHODS,
        options=BREATHING["reconstruction"]["sense"],
    script:
        "scripts/reconstruct_breathing_subject.py"


# A network given in the config (`model.trained`) is applied, not trained.
if "segmentation" in BREATHING_TRAINS:

    rule train_breathing_segmentation:
        input:
            breathing_segmentation_training_inputs(),
        output:
            model=BREATHING_LAYOUT.trained_model_path("segmentation"),
            metadata=f"{BREATHING_LAYOUT.models_dir}/segmentation/model.json",
            history=f"{BREATHING_LAYOUT.models_dir}/segmentation/history.tsv",
        log:
            f"{LOGS}/train_breathing_segmentation/segmentation.log",
        benchmark:
            f"{BENCHMARKS}/train_breathing_segmentation/segmentation.tsv"
        # the U-Net is the study's critical path: its inputs and it first
        priority: 1
        conda:
            "../../envs/dl.yaml"
        resources:
            gpu=1,
        params:
            train=breathing_training_items("train"),
            val=breathing_training_items("val"),
            settings=BREATHING["model"]["segmentation"],
            seed=BREATHING_LAYOUT.seed,
            provenance=BREATHING_LAYOUT.training_provenance,
        script:
            "scripts/train_breathing_segmentation.py"


rule segment_breathing_subject:
    input:
        **{
            f"{t}_{m}": breathing_frames("{subject}", t, m)
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        },
        model=BREATHING_LAYOUT.model_file("segmentation"),
    output:
        **{
            f"{t}_{m}": breathing_labels("{subject}", t, m)
            for t in BREATHING_TASKS
            for m in BREATHING_METHODS
        },
    log:
        f"{LOGS}/segment_breathing_subject/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/segment_breathing_subject/sub-{{subject}}.tsv"
    conda:
        "../../envs/dl.yaml"
    resources:
        gpu=1,
    params:
        names=[f"{t}_{m}" for t in BREATHING_TASKS for m in BREATHING_METHODS],
        sha256=BREATHING_LAYOUT.model_sha256("segmentation"),
    script:
        "scripts/segment_breathing_subject.py"


rule measure_breathing_subject:
    input:
        unpack(breathing_measure_inputs),
    output:
        **{
            f"{kind}_{m}": breathing_table(kind, "{subject}", m)
            for m in BREATHING_METHODS
            for kind in BREATHING_MEASURES
        },
    log:
        f"{LOGS}/measure_breathing_subject/sub-{{subject}}.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        tasks=BREATHING_TASKS,
        methods=BREATHING_METHODS,
        kinds=BREATHING_MEASURES,
        threshold_mm=BREATHING["measures"]["paradoxical_threshold_mm"],
    script:
        "scripts/measure_breathing_subject.py"


rule fit_breathing_t1:
    input:
        unpack(breathing_t1_inputs),
        **(
            {"truth": breathing_truth("truth", "{subject}")}
            if BREATHING_LAYOUT.demo
            else {}
        ),
    output:
        t1map=breathing_t1map("{subject}"),
        table=breathing_table("t1", "{subject}"),
    log:
        f"{LOGS}/fit_breathing_t1/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/fit_breathing_t1/sub-{{subject}}.tsv"
    conda:
        "../../envs/imaging.yaml"
    params:
        expected=lambda w: breathing_inversion_pattern(w.subject),
    script:
        "scripts/fit_breathing_t1.py"


rule evaluate_breathing:
    input:
        measures=breathing_test_tables("measures"),
        t1=breathing_test_tables("t1"),
        timing=breathing_test_tables("timing"),
        quality=breathing_test_tables("quality") if BREATHING_LAYOUT.demo else [],
        participants=BREATHING_LAYOUT.participants_file,
    output:
        **report_outputs(
            BREATHING_LAYOUT,
            {k: v for k, v in BREATHING_LAYOUT.tables().items() if k != "qc_index"},
            "tables",
        ),
    log:
        f"{LOGS}/evaluate_breathing/evaluate_breathing.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        confidence=BREATHING["confidence"],
        test_subjects=BREATHING_LAYOUT.subjects("test"),
    script:
        "scripts/evaluate_breathing.py"


rule plot_breathing_figures:
    input:
        subjects=BREATHING_LAYOUT.tables()["subjects"],
        curves=breathing_test_tables("curves"),
        example=[
            breathing_frames(BREATHING_LAYOUT.subjects("test")[0], "sniff", m)
            for m in BREATHING_METHODS
        ],
        example_labels=[
            breathing_labels(BREATHING_LAYOUT.subjects("test")[0], "sniff", m)
            for m in BREATHING_METHODS
        ],
        participants=BREATHING_LAYOUT.participants_file,
    output:
        **report_outputs(BREATHING_LAYOUT, BREATHING_LAYOUT.figures(), "figures"),
    log:
        f"{LOGS}/plot_breathing_figures/plot_breathing_figures.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        methods=BREATHING_METHODS,
        test_subjects=BREATHING_LAYOUT.subjects("test"),
    script:
        "scripts/plot_breathing_figures.py"


rule plot_breathing_subject:
    input:
        frames=breathing_frames("{subject}", "sniff", "sense"),
        labels=breathing_labels("{subject}", "sniff", "sense"),
    output:
        montage=breathing_qc("montage", "{subject}"),
        animation=breathing_qc("animation", "{subject}"),
    log:
        f"{LOGS}/plot_breathing_subject/sub-{{subject}}.log",
    conda:
        "../../envs/imaging.yaml"
    script:
        "scripts/plot_breathing_subject.py"


rule index_breathing_qc:
    input:
        montages=[breathing_qc("montage", s) for s in BREATHING_LAYOUT.subjects("test")],
        animations=[
            breathing_qc("animation", s) for s in BREATHING_LAYOUT.subjects("test")
        ],
    output:
        BREATHING_LAYOUT.tables()["qc_index"],
    log:
        f"{LOGS}/index_breathing_qc/index_breathing_qc.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        subjects=BREATHING_LAYOUT.subjects("test"),
    script:
        "scripts/index_breathing_qc.py"
