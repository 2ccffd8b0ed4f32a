"""Study `dystrophy`: DL diagnosis of dystrophinopathy on thigh T1w MRI (Yang et al. 2021).

Chain: localise the legs on every slice (per subject) -> train each configured architecture on
the train split, selecting on val (group, GPU) -> classify each test subject and map class
activations (per subject, GPU) -> group statistics, model comparison and figures.
"""


# Cheap group steps run beside Snakemake, not as cluster jobs.
localrules:
    evaluate_dystrophy,
    plot_dystrophy_figures,


rule localise_dystrophy_roi:
    input:
        slices=dystrophy_slices(),
    output:
        crops=dystrophy_subject_file("crops", "{subject}"),
        table=dystrophy_subject_file("roi", "{subject}"),
    log:
        f"{LOGS}/localise_dystrophy_roi/sub-{{subject}}.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        out_shape=DYSTROPHY["roi"]["out_shape"],
        margin=DYSTROPHY["roi"]["margin"],
        expected=dystrophy_expected_images,
    script:
        "scripts/localise_dystrophy_roi.py"


# Architectures whose model is given in the config (`model.trained`) are applied, not trained.
if DYSTROPHY_LAYOUT.models_to_train:

    rule train_dystrophy_classifier:
        input:
            **dystrophy_training_inputs(),
        output:
            model=DYSTROPHY_LAYOUT.trained_model_path("{architecture}"),
            metadata=f"{DYSTROPHY_LAYOUT.models_dir}/{{architecture}}/model.json",
            history=f"{DYSTROPHY_LAYOUT.models_dir}/{{architecture}}/history.tsv",
        log:
            f"{LOGS}/train_dystrophy_classifier/{{architecture}}.log",
        benchmark:
            f"{BENCHMARKS}/train_dystrophy_classifier/{{architecture}}.tsv"
        wildcard_constraints:
            architecture="|".join(map(re.escape, DYSTROPHY_LAYOUT.models_to_train)),
        conda:
            "../../envs/dl.yaml"
        resources:
            gpu=1,
        params:
            train=dystrophy_labels("train"),
            val=dystrophy_labels("val"),
            model=DYSTROPHY_LAYOUT.training_provenance["model"],
            seed=DYSTROPHY_LAYOUT.seed,
            provenance=DYSTROPHY_LAYOUT.training_provenance,
            drop_inseparable=DYSTROPHY["roi"]["drop_inseparable"],
        script:
            "scripts/train_dystrophy_classifier.py"


rule classify_dystrophy_subject:
    input:
        crops=dystrophy_subject_file("crops", "{subject}"),
        table=dystrophy_subject_file("roi", "{subject}"),
        models=dystrophy_models(),
    output:
        probabilities=dystrophy_subject_file("probabilities", "{subject}"),
        cam=dystrophy_subject_file("cam", "{subject}"),
        overlay=dystrophy_subject_file("overlay", "{subject}"),
    log:
        f"{LOGS}/classify_dystrophy_subject/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/classify_dystrophy_subject/sub-{{subject}}.tsv"
    conda:
        "../../envs/dl.yaml"
    resources:
        gpu=1,
    params:
        architectures=DYSTROPHY_ARCHITECTURES,
        sha256={a: DYSTROPHY_LAYOUT.model_sha256(a) for a in DYSTROPHY_ARCHITECTURES},
        primary=DYSTROPHY_PRIMARY,
        aggregation=DYSTROPHY["case_aggregation"],
        drop_inseparable=DYSTROPHY["roi"]["drop_inseparable"],
    script:
        "scripts/classify_dystrophy_subject.py"


rule evaluate_dystrophy:
    input:
        probabilities=dystrophy_files("probabilities", "test"),
        rois=dystrophy_files("roi", "test"),
        participants=DYSTROPHY_LAYOUT.participants_file,
        ratings=dystrophy_ratings(),
        metadata=dystrophy_model_metadata(),
    output:
        **report_outputs(DYSTROPHY_LAYOUT, DYSTROPHY_LAYOUT.tables(), "tables"),
    log:
        f"{LOGS}/evaluate_dystrophy/evaluate_dystrophy.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        test_subjects=DYSTROPHY_LAYOUT.subjects("test"),
        architectures=DYSTROPHY_ARCHITECTURES,
        primary=DYSTROPHY_PRIMARY,
        threshold=DYSTROPHY["threshold"],
        confidence=DYSTROPHY["confidence"],
    script:
        "scripts/evaluate_dystrophy.py"


rule plot_dystrophy_figures:
    input:
        predictions=DYSTROPHY_LAYOUT.tables()["predictions"],
        statistics=DYSTROPHY_LAYOUT.tables()["statistics"],
        cams=dystrophy_files("cam", "test"),
        histories=dystrophy_histories(),
    output:
        **report_outputs(DYSTROPHY_LAYOUT, DYSTROPHY_LAYOUT.figures(), "figures"),
    log:
        f"{LOGS}/plot_dystrophy_figures/plot_dystrophy_figures.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        test_subjects=DYSTROPHY_LAYOUT.subjects("test"),
        architectures=DYSTROPHY_ARCHITECTURES,
    script:
        "scripts/plot_dystrophy_figures.py"
