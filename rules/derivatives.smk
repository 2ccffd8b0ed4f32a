"""Rules shared by every study: the BIDS-derivatives dataset description of each study."""


localrules:
    describe_derivatives,


rule describe_derivatives:
    input:
        metadata=study_model_metadata,
    output:
        f"{RESULTS}/{{study}}/dataset_description.json",
    log:
        f"{LOGS}/describe_derivatives/{{study}}.log",
    conda:
        "../envs/imaging.yaml"
    params:
        config=study_section,
        dataset=study_dataset,
    script:
        "../scripts/describe_derivatives.py"
