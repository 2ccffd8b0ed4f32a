"""Writing one simulated breathing subject in the study's real input layout, with its truth.

:func:`simulate_subject` renders a subject (:func:`.subject.simulate_arrays`) and writes, each
file atomically and only after the whole simulation succeeded:

Input dataset (what a user brings)
    ``kspace_<task>``: the task's multi-coil radial k-space as ISMRMRD HDF5
    (:func:`qmrflow.io.write_radial_series`, with the grid's slice geometry, field strength and
    frame timing); ``inversions``: the single-shot inversion-recovery images as a BIDS ``IRT1``
    collection, one file per inversion time with ``InversionTime`` in its sidecar
    (:func:`..inversion.save_inversions`).
Labels (``derivatives/labels``, what a user may give for training subjects)
    ``labels_<task>``: the true labels of every frame ``(X, Y, 1, T)`` uint8 (:data:`LABELS`),
    on the reconstruction grid; ``roi``: the diaphragm ROI of the T1 slice (uint8 0/1).
Truth (``derivatives/truth``, demo only)
    ``curves_<task>``: the true curves per frame (:attr:`.subject.SimulatedTask.curves`);
    ``t1map``: the true T1 (s) of the T1 slice; ``truth``: one table per subject with every
    task phase's summary (excursions, peak velocities, width excursion, paradoxical flags) and
    the subject's diaphragm T1, fat fraction and chest-wall lag.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qmrflow.errors import ConfigError
from qmrflow.studies.breathing.simulate.settings import TASKS, SimulationSettings
from qmrflow.studies.breathing.simulate.subject import simulate_arrays

__all__ = ["OUTPUT_KEYS", "simulate_subject"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Keys :func:`simulate_subject` writes (``inversions`` is a list of paths, one per TI).
OUTPUT_KEYS: tuple[str, ...] = (
    *(f"kspace_{task}" for task in TASKS),
    "inversions",
    *(f"labels_{task}" for task in TASKS),
    "roi",
    *(f"curves_{task}" for task in TASKS),
    "t1map",
    "truth",
)


def _truth_table(sim: Any) -> Any:
    """The subject's truth: task phases' summaries plus per-subject values on every row."""
    table = sim.truth.copy()
    table.insert(0, "participant_id", sim.participant_id)
    table["group"] = sim.group
    table["diaphragm_t1"] = sim.diaphragm_t1
    table["diaphragm_fat"] = sim.diaphragm_fat
    table["lag_s"] = float(sim.response.lag)
    return table


def simulate_subject(
    row: Mapping[str, Any],
    *,
    settings: SimulationSettings | Mapping[str, Any] | None = None,
    seed: int = 0,
    outputs: Mapping[str, PathLike | Sequence[PathLike]],
) -> None:
    """Simulate one subject and write the requested outputs (see the module docstring).

    Parameters
    ----------
    row, settings, seed
        See :func:`.subject.simulate_arrays`.
    outputs
        Paths by key (any subset of :data:`OUTPUT_KEYS`); ``inversions`` a list with one path
        per inversion time of the settings, in order.

    Raises
    ------
    ConfigError
        An unknown output key, or as many inversion paths as inversion times.
    """
    from qmrflow.io import save_nifti, write_radial_series, write_tsv
    from qmrflow.studies.breathing.frames import save_labels
    from qmrflow.studies.breathing.inversion import save_inversions

    unknown = sorted(set(outputs) - set(OUTPUT_KEYS))
    if unknown:
        raise ConfigError(f"unknown simulate_subject output keys {unknown}; known: {OUTPUT_KEYS}")
    sim = simulate_arrays(row, settings, seed=seed)
    s = sim.settings
    inversions = outputs.get("inversions")
    if inversions is not None and len(inversions) != sim.inversion_times.size:  # type: ignore[arg-type]
        raise ConfigError(
            f"{len(inversions)} inversion-recovery paths for "  # type: ignore[arg-type]
            f"{sim.inversion_times.size} inversion times"
        )
    fov = (s.matrix[0] * s.voxel_mm, s.matrix[1] * s.voxel_mm)
    for task, simulated in sim.tasks.items():
        if f"kspace_{task}" in outputs:
            write_radial_series(
                outputs[f"kspace_{task}"],  # type: ignore[arg-type]
                simulated.kspace,
                simulated.trajectory,
                simulated.frame_times,
                matrix=s.matrix,
                fov_mm=fov,
                field_strength=s.field_strength,
                protocol=f"rt_flash_radial_{task}",
                affine=sim.affine,
            )
        if f"labels_{task}" in outputs:
            save_labels(simulated.labels, sim.affine, outputs[f"labels_{task}"])  # type: ignore[arg-type]
        if f"curves_{task}" in outputs:
            write_tsv(simulated.curves, outputs[f"curves_{task}"])  # type: ignore[arg-type]
    if inversions is not None:
        save_inversions(
            sim.t1_series,
            sim.inversion_times.tolist(),
            sim.affine,
            inversions,  # type: ignore[arg-type]
            sidecar={
                "MagneticFieldStrength": s.field_strength,
                "FlipAngle": s.ir_flip_angle,
                "RepetitionTimeExcitation": s.ir_repetition_time,
                "PulseSequenceType": "single-shot inversion recovery, continuous FLASH readout",
            },
        )
    if "roi" in outputs:
        save_nifti(sim.diaphragm_roi.astype(np.uint8), outputs["roi"], sim.affine)  # type: ignore[arg-type]
    if "t1map" in outputs:
        save_nifti(
            sim.t1.astype(np.float32),
            outputs["t1map"],  # type: ignore[arg-type]
            sim.affine,
            sidecar={
                "Description": "true T1 of the T1 slice",
                "Units": "s",
                "SkullStripped": False,
            },
        )
    if "truth" in outputs:
        write_tsv(_truth_table(sim), outputs["truth"])  # type: ignore[arg-type]
    logger.info("wrote sub-%s (%d outputs)", sim.participant_id, len(outputs))
