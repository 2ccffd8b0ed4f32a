"""Rules shared by every study: the BIDS-derivatives dataset description (and .bidsignore) of
each study."""


localrules:
    describe_derivatives,


rule describe_derivatives:
    input:
        metadata=study_model_metadata,
    output:
        description=f"{RESULTS}/{{study}}/dataset_description.json",
        bidsignore=f"{RESULTS}/{{study}}/.bidsignore",
    log:
        f"{LOGS}/describe_derivatives/{{study}}.log",
    conda:
        "../envs/imaging.yaml"
    params:
        config=study_section,
        dataset=study_dataset,
        ignore=study_derivatives_ignore,
    script:
        "../scripts/describe_derivatives.py"
