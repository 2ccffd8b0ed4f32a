"""The QC page of study `synthmri`: the files of one test subject's page (rules/report.smk
writes it with qmrflow.studies.synthmri.qc): both MDME acquisitions with their fitted maps,
the maps of every method on the routine grid, and its ROI and quality tables."""


def synthmri_qc_inputs(wildcards):
    """A test subject's MDME images (those on disk) and sidecars, every fitted map, residual
    and mask, the spline and DL maps, (demo) the truth, and its tables."""
    subject = wildcards.subject
    inputs = {
        "rois": synthmri_file("rois", subject),
        "quality": synthmri_file("quality", subject),
    }
    for acq in ("routine", "fast"):
        image = synthmri_mdme(subject, acq)
        inputs.update(
            SYNTHMRI_LAYOUT.on_disk(
                {f"mdme_{acq}": image, f"mdme_{acq}_sidecar": str(sidecar_path(image))}
            )
        )
        for kind in (*SYNTHMRI_MAPS, "B1map", "residual", "mask"):
            inputs[f"{acq}_{kind}"] = synthmri_file(kind, subject, acq)
    for name in SYNTHMRI_MAPS:
        inputs[f"spline_{name}"] = synthmri_file(f"spline_{name}", subject)
        inputs[f"dl_{name}"] = synthmri_file(f"dl_{name}", subject)
        if SYNTHMRI_LAYOUT.demo:
            inputs[f"truth_{name}"] = synthmri_truth(subject, name)
    return inputs


QC_PAGES["synthmri"] = {
    "subjects": SYNTHMRI_LAYOUT.subjects("test"),
    "inputs": synthmri_qc_inputs,
}
