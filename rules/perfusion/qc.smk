"""The QC page of study `perfusion`: the files of one test subject's page (rules/report.smk
writes it with qmrflow.studies.perfusion.qc): its motion-correction strip and animation and
every alignment's segments, quality and curves tables."""


def perfusion_qc_inputs(wildcards):
    """A test subject's motion QC images and its tables of every alignment."""
    subject = wildcards.subject
    inputs = {
        "strip": perfusion_qc("strip", subject),
        "animation": perfusion_qc("animation", subject),
    }
    for method in PERFUSION_METHODS:
        for kind in ("segments", "quality", "curves"):
            inputs[f"{kind}_{method}"] = perfusion_file(kind, subject, method)
    return inputs


QC_PAGES["perfusion"] = {
    "subjects": PERFUSION_LAYOUT.subjects("test"),
    "inputs": perfusion_qc_inputs,
}
