"""Study `synthmri`: two-minute brain quantitative mapping with synthetic MRI and DL SR.

Chain: fit T1/T2/PD/B1 maps and synthetic contrasts from the routine and the fast MDME images
(per subject and protocol) -> train the super-resolution generator on the train split, selected
on val (group, GPU) -> super-resolve each test subject's fast maps, with spline upsampling as the
baseline (per subject, GPU) -> ROI means and image quality (per subject) -> group agreement
statistics, figures and the paper's numbers beside ours.
"""


# Cheap group steps run beside Snakemake, not as cluster jobs.
localrules:
    evaluate_synthmri,
    plot_synthmri_figures,
    describe_synthmri_derivatives,


wildcard_constraints:
    acq="routine|fast",


rule fit_synthmri_maps:
    input:
        unpack(synthmri_mdme_inputs),
    output:
        **synthmri_fit_outputs(),
    log:
        f"{LOGS}/fit_synthmri_maps/sub-{{subject}}_acq-{{acq}}.log",
    benchmark:
        f"{BENCHMARKS}/fit_synthmri_maps/sub-{{subject}}_acq-{{acq}}.tsv"
    conda:
        "../envs/imaging.yaml"
    params:
        mask_threshold=SYNTHMRI["mapping"]["mask_threshold"],
        max_iterations=SYNTHMRI["mapping"]["max_iterations"],
    script:
        "../scripts/fit_synthmri_maps.py"


if not SYNTHMRI_PRETRAINED:

    rule train_synthmri_superresolution:
        input:
            unpack(synthmri_training_inputs),
        output:
            model=f"{SYNTHMRI_MODELS}/generator/model.pt",
            metadata=f"{SYNTHMRI_MODELS}/generator/model.json",
            history=f"{SYNTHMRI_MODELS}/generator/history.tsv",
        log:
            f"{LOGS}/train_synthmri_superresolution/generator.log",
        benchmark:
            f"{BENCHMARKS}/train_synthmri_superresolution/generator.tsv"
        conda:
            "../envs/dl.yaml"
        resources:
            gpu=1,
        params:
            train=synthmri_training_pairs("train"),
            val=synthmri_training_pairs("val"),
            settings=SYNTHMRI_TRAINING["model"],
            seed=SYNTHMRI["model"]["seed"] or config["seed"],
            provenance=SYNTHMRI_TRAINING,
        script:
            "../scripts/train_synthmri_superresolution.py"


rule superresolve_synthmri_subject:
    input:
        unpack(synthmri_sr_inputs),
    output:
        **{f"dl_{m}": synthmri_file(f"dl_{m}", "{subject}") for m in SYNTHMRI_MAPS},
        **{
            f"spline_{m}": synthmri_file(f"spline_{m}", "{subject}")
            for m in SYNTHMRI_MAPS
        },
    log:
        f"{LOGS}/superresolve_synthmri_subject/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/superresolve_synthmri_subject/sub-{{subject}}.tsv"
    conda:
        "../envs/dl.yaml"
    resources:
        gpu=1,
    script:
        "../scripts/superresolve_synthmri_subject.py"


rule measure_synthmri_subject:
    input:
        unpack(synthmri_measure_inputs),
    output:
        rois=synthmri_file("rois", "{subject}"),
        quality=synthmri_file("quality", "{subject}"),
    log:
        f"{LOGS}/measure_synthmri_subject/sub-{{subject}}.log",
    conda:
        "../envs/imaging.yaml"
    script:
        "../scripts/measure_synthmri_subject.py"


rule evaluate_synthmri:
    input:
        rois=synthmri_test_files("rois"),
        quality=synthmri_test_files("quality"),
    output:
        **{key: synthmri_group_file(name) for key, name in SYNTHMRI_TABLES.items()},
    log:
        f"{LOGS}/evaluate_synthmri/evaluate_synthmri.log",
    conda:
        "../envs/imaging.yaml"
    params:
        confidence=SYNTHMRI["confidence"],
    script:
        "../scripts/evaluate_synthmri.py"


rule plot_synthmri_figures:
    input:
        **synthmri_subject_maps(synthmri_example_subject()),
        rois=synthmri_group_file(SYNTHMRI_TABLES["rois"]),
        quality=synthmri_group_file(SYNTHMRI_TABLES["quality"]),
        statistics=synthmri_group_file(SYNTHMRI_TABLES["statistics"]),
    output:
        **{key: synthmri_group_file(name) for key, name in SYNTHMRI_FIGURES.items()},
    log:
        f"{LOGS}/plot_synthmri_figures/plot_synthmri_figures.log",
    conda:
        "../envs/imaging.yaml"
    params:
        example_subject=synthmri_example_subject(),
    script:
        "../scripts/plot_synthmri_figures.py"


rule describe_synthmri_derivatives:
    input:
        metadata=str(Path(synthmri_model()).with_suffix(".json")),
    output:
        f"{SYNTHMRI_OUT}/dataset_description.json",
    log:
        f"{LOGS}/describe_synthmri_derivatives/describe_synthmri_derivatives.log",
    conda:
        "../envs/imaging.yaml"
    params:
        config=SYNTHMRI,
        dataset=SYNTHMRI_ROOT,
    script:
        "../scripts/describe_synthmri_derivatives.py"
