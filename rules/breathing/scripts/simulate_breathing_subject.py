"""Rule simulate_breathing_subject: one demo subject's raw k-space, IR images and truth."""

from qmrflow.logs import job_logging
from qmrflow.studies.breathing.simulate.files import simulate_subject

demo = snakemake.params.demo
outputs = {
    key: list(paths) if key == "inversions" else paths
    for key, paths in snakemake.output.items()
    if key != "inversion_sidecars"  # written beside each image by simulate_subject
}
with job_logging(snakemake.log[0]):
    simulate_subject(
        snakemake.params.row,
        settings={k: demo[k] for k in ("breathing_s", "sniff_s", "frame_s", "n_coils", "snr")},
        seed=demo["seed"],
        outputs=outputs,
    )
