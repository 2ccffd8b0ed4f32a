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
        "../../envs/imaging.yaml"
    params:
        image=synthmri_mdme_image,
        mask_threshold=SYNTHMRI["mapping"]["mask_threshold"],
        max_iterations=SYNTHMRI["mapping"]["max_iterations"],
    script:
        "scripts/fit_synthmri_maps.py"


# A generator given in the config (`model.trained`) is applied, not trained.
if SYNTHMRI_TRAINS:

    rule train_synthmri_superresolution:
        input:
            **synthmri_training_inputs(),
        output:
            model=SYNTHMRI_LAYOUT.trained_model_path("generator"),
            metadata=f"{SYNTHMRI_LAYOUT.models_dir}/generator/model.json",
            history=f"{SYNTHMRI_LAYOUT.models_dir}/generator/history.tsv",
        log:
            f"{LOGS}/train_synthmri_superresolution/generator.log",
        benchmark:
            f"{BENCHMARKS}/train_synthmri_superresolution/generator.tsv"
        conda:
            "../../envs/dl.yaml"
        resources:
            gpu=1,
        params:
            train=synthmri_training_pairs("train"),
            val=synthmri_training_pairs("val"),
            settings=SYNTHMRI_LAYOUT.training_provenance["model"],
            seed=SYNTHMRI_LAYOUT.seed,
            provenance=SYNTHMRI_LAYOUT.training_provenance,
        script:
            "scripts/train_synthmri_superresolution.py"


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
        "../../envs/dl.yaml"
    resources:
        gpu=1,
    params:
        sha256=SYNTHMRI_LAYOUT.model_sha256("generator"),
    script:
        "scripts/superresolve_synthmri_subject.py"


rule measure_synthmri_subject:
    input:
        unpack(synthmri_measure_inputs),
    output:
        rois=synthmri_file("rois", "{subject}"),
        quality=synthmri_file("quality", "{subject}"),
    log:
        f"{LOGS}/measure_synthmri_subject/sub-{{subject}}.log",
    conda:
        "../../envs/imaging.yaml"
    script:
        "scripts/measure_synthmri_subject.py"


rule evaluate_synthmri:
    input:
        rois=synthmri_test_files("rois"),
        quality=synthmri_test_files("quality"),
    output:
        **report_outputs(SYNTHMRI_LAYOUT, SYNTHMRI_LAYOUT.tables(), "tables"),
    log:
        f"{LOGS}/evaluate_synthmri/evaluate_synthmri.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        confidence=SYNTHMRI["confidence"],
        test_subjects=SYNTHMRI_LAYOUT.subjects("test"),
    script:
        "scripts/evaluate_synthmri.py"


rule plot_synthmri_figures:
    input:
        **synthmri_subject_maps(synthmri_example_subject()),
        rois=SYNTHMRI_LAYOUT.tables()["rois"],
        quality=SYNTHMRI_LAYOUT.tables()["quality"],
        statistics=SYNTHMRI_LAYOUT.tables()["statistics"],
    output:
        **report_outputs(SYNTHMRI_LAYOUT, SYNTHMRI_LAYOUT.figures(), "figures"),
    log:
        f"{LOGS}/plot_synthmri_figures/plot_synthmri_figures.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        example_subject=synthmri_example_subject(),
        test_subjects=SYNTHMRI_LAYOUT.subjects("test"),
    script:
        "scripts/plot_synthmri_figures.py"
