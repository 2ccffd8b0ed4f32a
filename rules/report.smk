"""Cross-study reports: every study's methods text, every test subject's QC page and their
index. (`snakemake --report` registers each study's group figures and tables in its chain.smk.)

The methods text (qmrflow.report.methods): what a study's chain did with the configured
parameters, the subjects per split, the models' checksums and seeds, the software versions and
the references, as Markdown and HTML beside the study's group results. It reads only the config,
the participants table and the models' metadata, so a changed subject does not rewrite it.

The QC pages (qmrflow.report.qc):
What a study's page shows is the study's own: rules/<study>/qc.smk lists the subjects with a
page and the files of one subject's page (QC_PAGES[<study>], see rules/common.smk), and
qmrflow.studies.<study>.qc draws it. A page depends on its subject's files only, so a changed
subject rebuilds only its page; the cohort's flags (robust z-score outliers) are computed once,
by the index rule, into <results>/qc/flags.js, which every page loads.
"""

from snakemake import __version__ as SNAKEMAKE_VERSION


# Cheap group steps: run beside Snakemake, not as cluster jobs.
localrules:
    write_methods,
    index_qc_pages,


rule write_qc_page:
    input:
        unpack(qc_page_inputs),
    output:
        page=str(page_path(RESULTS, "{study}", "{subject}")),
        measures=str(measures_path(RESULTS, "{study}", "{subject}")),
    log:
        f"{LOGS}/write_qc_page/{{study}}/sub-{{subject}}.log",
    benchmark:
        f"{BENCHMARKS}/write_qc_page/{{study}}/sub-{{subject}}.tsv"
    conda:
        "../envs/imaging.yaml"
    params:
        options=qc_page_options,
    script:
        "../scripts/write_qc_page.py"


rule index_qc_pages:
    input:
        pages=[p for pages in qc_files("page").values() for p in pages.values()],
        measures=[
            p for tables in qc_files("measures").values() for p in tables.values()
        ],
    output:
        index=str(index_path(RESULTS)),
        flags=str(flags_path(RESULTS)),
        outliers=str(outliers_path(RESULTS)),
    log:
        f"{LOGS}/index_qc_pages/index_qc_pages.log",
    conda:
        "../envs/imaging.yaml"
    params:
        pages=qc_files("page"),
        measures=qc_files("measures"),
        threshold=config["qc"]["outlier_threshold"],
        min_subjects=config["qc"]["min_subjects"],
    script:
        "../scripts/index_qc_pages.py"


rule write_methods:
    input:
        participants=study_participants,
        metadata=study_model_metadata,
    output:
        markdown=f"{RESULTS}/{{study}}/group/methods.md",
        html=report(
            f"{RESULTS}/{{study}}/group/methods.html",
            caption="../report/methods.rst",
            category="{study}",
            subcategory="methods",
        ),
    log:
        f"{LOGS}/write_methods/{{study}}.log",
    conda:
        "../envs/imaging.yaml"
    params:
        config=study_section,
        run=study_run,
        master_seed=config["seed"],
        snakemake_version=SNAKEMAKE_VERSION,
    script:
        "../scripts/write_methods.py"
