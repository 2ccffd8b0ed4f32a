"""The QC page of study `qsm`: the files of one test subject's page (rules/report.smk writes it
with qmrflow.studies.qsm.qc): the QSM maps of the GRE and of the lesion acquisition, the lesion
labels, (demo) the truth and its tables."""


def qsm_qc_inputs(wildcards):
    """A test subject's maps and masks of the GRE and the lesion acquisition (CR and DLR), its
    lesion labels (if on disk), (demo) the true susceptibility and its tables."""
    subject = wildcards.subject
    inputs = {
        f"{recon}_{key}": path
        for recon in QSM_RECONS
        for key, path in qsm_map_outputs(subject, recon).items()
        if key.split("_")[0] in ("gre", QSM_LESION_ACQ)
    }
    lesions = qsm_dataset_inputs(subject).get("lesions")
    if lesions:
        inputs["lesions"] = lesions
    if QSM_LAYOUT.demo:
        inputs["truth"] = qsm_truth("chi", subject)
    for kind in ("rois", "agreement", "lesions", "accuracy"):
        if kind in QSM_SUBJECT_TABLES:
            inputs[f"table_{kind}"] = qsm_table(kind, subject)
    return inputs


QC_PAGES["qsm"] = {
    "subjects": QSM_LAYOUT.subjects("test"),
    "inputs": qsm_qc_inputs,
    "options": {"lesion_acquisition": QSM_LESION_ACQ},
}
