"""Rule plot_qsm_figures: QSM panels, lesion close-ups, agreement and rating figures."""

from qmrflow.logs import job_logging
from qmrflow.studies.qsm.figures import plot_qsm_figures

with job_logging(snakemake.log[0]):
    plot_qsm_figures(
        inputs=dict(snakemake.input.items()),
        outputs=dict(snakemake.output.items()),
        lesion_acquisition=snakemake.params.lesion_acquisition,
    )
