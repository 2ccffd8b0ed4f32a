"""Per-subject jobs after reconstruction: measures of one reconstruction, and diaphragm T1.

:func:`measure_subject` turns the U-Net's lung masks of every task of one reconstruction
(``gridding`` or ``sense``) into

``curves``
    Per task and frame: time, diaphragm position per side (:func:`.measures.diaphragm_position`,
    mm toward the head on the grid, sub-pixel from the reconstructed frames), thoracic width and
    lung areas, each lung taken as its largest component per frame, as the measures take it.
``measures``
    The tidy measures of :func:`.measures.subject_measures` (task, side, measure, value, unit).
``quality`` (demo)
    Per task and side, against the truth: the mean Dice of the lung over the frames, the
    excursion measured and true (max - min of the true dome height over the task's frames) and
    their difference, and for sniff tasks the paradoxical flag measured and true.

:func:`fit_subject_t1` fits the inversion-recovery images (:func:`.t1.fit_t1`) inside the
body, writes the T1 map and the diaphragm ROI's median T1 (:func:`.t1.roi_t1`), with the true
diaphragm T1 beside it on the demo.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from qmrflow.errors import InputDataError
from qmrflow.io import load_nifti, read_tsv, save_nifti, write_tsv
from qmrflow.roi import dice
from qmrflow.studies.breathing.frames import load_frames, load_labels
from qmrflow.studies.breathing.measures import (
    SIDES,
    diaphragm_position,
    largest_components,
    lung_area,
    lung_labels,
    subject_measures,
    thoracic_width,
)

__all__ = ["fit_subject_t1", "measure_subject"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Tasks whose manoeuvre is a sniff (peak velocity, paradoxical motion).
SNIFF_TASKS: tuple[str, ...] = ("sniff",)


def _curves(
    masks: np.ndarray, image: np.ndarray, times: np.ndarray, spacing: tuple[float, float]
) -> dict[str, np.ndarray]:
    """The per-frame curves of one task, from the masks as the measures take them."""
    masks = largest_components(masks)
    columns = {"time": times}
    for side in SIDES:
        columns[f"dome_{side}_mm"] = diaphragm_position(masks, spacing, side=side, image=image)
    columns["width_mm"] = thoracic_width(masks, spacing)
    for side in SIDES:
        columns[f"lung_area_{side}_mm2"] = lung_area(masks, spacing, side=side)
    return columns


def _quality(
    subject: str,
    task: str,
    masks: np.ndarray,
    measures: pd.DataFrame,
    truth_labels: np.ndarray,
    truth_curves: pd.DataFrame,
    truth: pd.DataFrame,
) -> list[dict[str, object]]:
    """Rows of the demo's accuracy table for one task."""
    true_masks = lung_labels(truth_labels)
    rows = []
    for side in SIDES:
        value = measures.set_index(["task", "side", "measure"])["value"]
        dome = truth_curves[f"dome_{side}_mm"].to_numpy(float)
        true_excursion = float(dome.max() - dome.min())
        measured = float(value[(task, side, "excursion")])
        row: dict[str, object] = {
            "participant_id": subject,
            "task": task,
            "side": side,
            "dice": float(np.nanmean(dice(masks, true_masks, SIDES[side], axes=(1, 2)))),
            "excursion": measured,
            "true_excursion": true_excursion,
            "excursion_error": measured - true_excursion,
        }
        if task in SNIFF_TASKS:
            phases = truth[truth["task"] == task]
            row["paradoxical"] = bool(value[(task, side, "paradoxical")])
            row["true_paradoxical"] = bool(phases[f"paradoxical_{side}"].astype(bool).any())
        rows.append(row)
    return rows


def measure_subject(
    subject: str,
    method: str,
    *,
    labels: Mapping[str, PathLike],
    frames: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    threshold_mm: float = 2.5,
    truth: Mapping[str, PathLike] | None = None,
) -> None:
    """Curves and measures of one subject's reconstruction ``method`` (see the module docstring).

    Parameters
    ----------
    subject, method
        Participant label and reconstruction.
    labels, frames
        Task -> the U-Net's label series and the reconstructed series (its frame times).
    outputs
        ``curves``, ``measures`` and, with ``truth``, ``quality`` (TSV).
    threshold_mm
        Cranial dome displacement during the sniff's chest expansion above which a side is
        paradoxical (:func:`.measures.paradoxical_motion`).
    truth
        Demo only: ``labels_<task>`` and ``curves_<task>`` per task, and ``truth`` (the
        subject's truth table).
    """
    if set(labels) != set(frames):
        raise ValueError(f"tasks of labels {sorted(labels)} and frames {sorted(frames)} differ")
    masks, images, times, curve_tables = {}, {}, {}, []
    spacing: tuple[float, float] | None = None
    for task in labels:
        series = load_frames(frames[task], subject=subject)
        mask = load_labels(labels[task], subject=subject)
        if mask.shape != series.frames.shape:
            raise InputDataError(
                f"lung labels {mask.shape} do not match the frames {series.frames.shape}",
                subject=subject,
                path=labels[task],
            )
        masks[task], times[task], spacing = mask, series.frame_times, series.spacing
        images[task] = series.frames
    assert spacing is not None
    try:
        measures = subject_measures(
            masks,
            times,
            spacing,
            sniff_tasks=SNIFF_TASKS,
            threshold_mm=threshold_mm,
            images_by_task=images,
        )
        for task in masks:
            table = pd.DataFrame(_curves(masks[task], images[task], times[task], spacing))
            table.insert(0, "frame", np.arange(len(table)))
            table.insert(0, "task", task)
            curve_tables.append(table)
    except ValueError as error:
        raise InputDataError(f"{method} lung masks: {error}", subject=subject) from error
    measures.insert(0, "method", method)
    measures.insert(0, "participant_id", subject)
    curves = pd.concat(curve_tables, ignore_index=True)
    curves.insert(0, "method", method)
    curves.insert(0, "participant_id", subject)
    quality = None
    if truth:
        table = read_tsv(truth["truth"], subject=subject)
        rows = []
        for task in masks:
            rows += _quality(
                subject,
                task,
                masks[task],
                measures[measures["task"] == task],
                load_labels(truth[f"labels_{task}"], subject=subject),
                read_tsv(truth[f"curves_{task}"], subject=subject),
                table,
            )
        quality = pd.DataFrame(rows)
        quality.insert(1, "method", method)
    logger.info(
        "sub-%s %s: %s",
        subject,
        method,
        ", ".join(
            f"{r.task} {r.side} excursion {r.value:.1f} mm"
            for r in measures[measures["measure"] == "excursion"].itertuples()
        ),
    )
    write_tsv(curves, outputs["curves"])
    write_tsv(measures, outputs["measures"])
    if quality is not None:
        write_tsv(quality, outputs["quality"])


def fit_subject_t1(
    subject: str,
    *,
    inversions: Sequence[PathLike],
    roi: PathLike,
    outputs: Mapping[str, PathLike],
    truth: PathLike | None = None,
    expected: PathLike | None = None,
) -> None:
    """Fit T1 inside the body and write the map and the diaphragm ROI's T1.

    Parameters
    ----------
    subject
        Participant label.
    inversions
        The subject's ``IRT1`` images (:func:`.inversion.load_inversions`).
    roi
        Diaphragm ROI mask on the T1 grid (non-zero inside).
    outputs
        ``t1map`` (NIfTI, s; 0 where not fitted) and ``table`` (TSV: participant_id,
        diaphragm_t1, n_roi, n_valid, true_diaphragm_t1, t1_error).
    truth
        Demo only: the subject's truth table (its ``diaphragm_t1``, s).
    expected
        The file pattern the images were looked for (named when there are none).
    """
    from qmrflow.studies.breathing.inversion import load_inversions
    from qmrflow.studies.breathing.t1 import fit_t1, roi_t1

    if not inversions:
        raise InputDataError(
            f"no inversion-recovery images found (expected {expected or 'IRT1 files'})",
            subject=subject,
            path=expected,
        )
    series = load_inversions(inversions, subject=subject)
    mask_image = load_nifti(roi, subject=subject, ndim=2, dtype=None)
    roi_mask = np.asarray(mask_image.data) > 0
    if roi_mask.shape != series.images.shape[:2]:
        raise InputDataError(
            f"diaphragm ROI {roi_mask.shape} is not on the T1 grid {series.images.shape[:2]}",
            subject=subject,
            path=roi,
        )
    if not roi_mask.any():
        raise InputDataError("the diaphragm ROI is empty", subject=subject, path=roi)
    peak = series.images.max(axis=-1)
    body = peak > 0.1 * np.percentile(peak, 99)
    fit = fit_t1(series.images, series.inversion_times, body | roi_mask)
    value = roi_t1(fit, roi_mask)
    valid = int(np.count_nonzero(fit.valid & roi_mask))
    row = {
        "participant_id": subject,
        "diaphragm_t1": value,
        "n_roi": int(roi_mask.sum()),
        "n_valid": valid,
        "true_diaphragm_t1": (
            float(read_tsv(truth, subject=subject)["diaphragm_t1"].iloc[0]) if truth else np.nan
        ),
    }
    row["t1_error"] = (value - row["true_diaphragm_t1"]) / row["true_diaphragm_t1"]
    logger.info(
        "sub-%s: diaphragm T1 %.3f s (%d of %d ROI pixels)", subject, value, valid, row["n_roi"]
    )
    t1 = np.where(fit.valid, fit.t1, 0.0).astype(np.float32)
    save_nifti(
        t1,
        outputs["t1map"],
        series.affine,
        sidecar={"Units": "s", "SkullStripped": False, "Description": "Look-Locker corrected T1"},
    )
    write_tsv(pd.DataFrame([row]), outputs["table"])
