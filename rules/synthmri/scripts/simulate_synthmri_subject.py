"""Rule simulate_synthmri_subject: one demo subject's MDME images, truth maps and labels."""

from qmrflow.logs import job_logging
from qmrflow.studies.synthmri.simulate import simulate_subject

demo = snakemake.params.demo
outputs = {
    key: path
    for key, path in snakemake.output.items()
    if not key.endswith("_sidecar")  # written beside each image by simulate_subject
}
with job_logging(snakemake.log[0]):
    simulate_subject(
        snakemake.params.row,
        n_slices=demo["n_slices"],
        matrix=tuple(demo["matrix"]),
        snr=demo["snr"],
        fast_phase_fraction=demo["fast_phase_fraction"],
        seed=demo["seed"],
        outputs=outputs,
    )
