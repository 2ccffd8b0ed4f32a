"""The QC page of study `dystrophy`: the files of one test subject's page (rules/report.smk
writes it with qmrflow.studies.dystrophy.qc): its T1w slices, ROI table, probabilities and CAM
figure."""


def dystrophy_qc_inputs(wildcards):
    """A test subject's slices as the ROI job read them, its ROI and probability tables and
    its CAM overlay."""
    subject = wildcards.subject
    if DYSTROPHY_LAYOUT.demo:
        slices = [dystrophy_image(subject)]
    else:
        slices = dystrophy_found_slices(wildcards)
    return {
        "slices": slices,
        "roi": dystrophy_subject_file("roi", subject),
        "probabilities": dystrophy_subject_file("probabilities", subject),
        "overlay": dystrophy_subject_file("overlay", subject),
    }


QC_PAGES["dystrophy"] = {
    "subjects": DYSTROPHY_LAYOUT.subjects("test"),
    "inputs": dystrophy_qc_inputs,
}
