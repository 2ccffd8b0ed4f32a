"""The QC page of study `breathing`: the files of one test subject's page (rules/report.smk
writes it with qmrflow.studies.breathing.qc): its lung montage and animation, every
reconstruction's curves and measures (and the demo's quality) and its diaphragm T1."""


def breathing_qc_inputs(wildcards):
    """A test subject's lung QC images and its per-reconstruction and T1 tables."""
    subject = wildcards.subject
    inputs = {
        "montage": breathing_qc("montage", subject),
        "animation": breathing_qc("animation", subject),
        "t1": breathing_table("t1", subject),
    }
    for method in BREATHING_METHODS:
        for kind in BREATHING_MEASURES:
            inputs[f"{kind}_{method}"] = breathing_table(kind, subject, method)
    return inputs


QC_PAGES["breathing"] = {
    "subjects": BREATHING_LAYOUT.subjects("test"),
    "inputs": breathing_qc_inputs,
}
