"""Rule simulate_perfusion_subject: one demo subject's series, PD images and ground truth."""

from qmrflow.logs import job_logging
from qmrflow.studies.perfusion.simulate import simulate_subject

demo = snakemake.params.demo
outputs = {
    key: path
    for key, path in snakemake.output.items()
    if not key.endswith("_sidecar")  # written beside each image by simulate_subject
}
with job_logging(snakemake.log[0]):
    simulate_subject(
        snakemake.params.row,
        settings={
            "matrix": demo["matrix"],
            "n_frames": demo["n_frames"],
            "snr": demo["snr"],
        },
        seed=demo["seed"],
        outputs=outputs,
    )
