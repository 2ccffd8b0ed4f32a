"""Per-subject measures of one alignment: Dice, temporal smoothness, curves and MBF.

For one subject and one method (its aligned stress and AIF series, their PD images and the
U-Net's labels of every aligned frame):

Reference labels
    Per slice, the majority vote of the frames' labels. Its myocardium is the region that is
    quantified and its LV pool gives the arterial input; its segments are the AHA segments
    (:func:`.segments.segment_map`, slices base to apex: basal, mid, apical; with more than
    three slices, by thirds).
``dice``
    Per slice, the mean over frames of the myocardial Dice between the frame's labels and the
    reference labels: 1 when every frame shows the myocardium in the same place.
``dice_truth`` (demo)
    The same with the demo's true labels of every frame, warped by the method's displacement
    field: alignment quality independent of the segmentation network.
``smoothness``
    Per slice, the median over reference-myocardium pixels of the RMS second temporal
    difference of the concentration curve divided by the curve's range: motion makes the
    curves jump, so lower is smoother (Scannell et al. 2019 compare the temporal smoothness of
    the time-intensity curves).
MBF
    Concentration from the PD-normalised signal (:func:`.quantify.series_concentration`); the
    arterial input from the AIF series' LV pool (the basal reference LV carried to the AIF
    grid through both affines, its core pixels, per frame the median with the magnitude noise
    floor removed: :func:`.quantify.arterial_input`); Fermi-constrained deconvolution of every
    segment's curve (the mean over the segment's *core*, the myocardium less its border pixels,
    without per-frame outlier pixels: :func:`.quantify.fit_segments`) and of every myocardial
    pixel at its segment's fitted delay, MBF bounded to 0-10 ml/min/g
    (:func:`.quantify.fit_pixels`). ``pixel_mbf_sd`` is the SD of the pixel MBF over the
    segment's core pixels (``n_core_pixels``), the pixels its MBF comes from. The demo's
    ``truth_mbf`` is the mean true MBF of the segment's pixels (``mbf_pixel_mean``, what a
    segment average measures; the segment's nominal ``mbf`` for tables without it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import InputDataError
from qmrflow.io import load_nifti, read_tsv, save_nifti, write_tsv
from qmrflow.registration.warp import warp_frames
from qmrflow.roi import dice
from qmrflow.studies.perfusion.motion import voxel_size
from qmrflow.studies.perfusion.quantify import (
    arterial_input,
    fit_pixels,
    fit_segments,
    resample_mask,
    robust_segment_curves,
    segment_core,
    series_concentration,
)
from qmrflow.studies.perfusion.segments import (
    N_SEGMENTS,
    SEGMENT_TERRITORY,
    segment_curves,
    segment_map,
)
from qmrflow.studies.perfusion.series import load_pd, load_series

__all__ = ["measure_subject", "reference_labels", "slice_levels", "smoothness"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

LV, MYOCARDIUM, RV = 1, 2, 3
#: Fewest LV pixels on the AIF grid the arterial input is taken from without a warning.
MIN_AIF_PIXELS = 4


def slice_levels(n_slices: int) -> list[str]:
    """``basal``, ``mid``, ``apical`` for slices ordered base to apex (by thirds)."""
    names = ("basal", "mid", "apical")
    return [names[min(2, (3 * k) // n_slices)] for k in range(n_slices)]


def reference_labels(labels: np.ndarray) -> np.ndarray:
    """The majority label over frames: ``(X, Y, S, T)`` -> ``(X, Y, S)`` uint8."""
    counts = np.stack([(labels == value).sum(axis=-1) for value in range(int(labels.max()) + 1)])
    return counts.argmax(axis=0).astype(np.uint8)


def _frame_dice(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Myocardial Dice of every frame against the reference, mean per slice ``(S,)``."""
    scores = dice(labels, np.broadcast_to(reference[..., None], labels.shape), MYOCARDIUM)
    return np.nanmean(scores, axis=-1)


def smoothness(concentration: np.ndarray, mask: np.ndarray) -> float:
    """Median over ``mask`` pixels of RMS(second temporal difference) / range of the curve."""
    curves = concentration[:, mask]
    if curves.size == 0:
        return float("nan")
    second = np.diff(curves, n=2, axis=0)
    span = np.ptp(curves, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.sqrt(np.mean(second**2, axis=0)) / span
    return float(np.nanmedian(values))


def _truth_dice(truth_labels: PathLike, field: PathLike, subject: str) -> np.ndarray:
    """Myocardial Dice per slice of the demo's true labels warped by the method's field."""
    labels = load_nifti(truth_labels, subject=subject, ndim=4).data.astype(np.uint8)
    displacement = load_nifti(field, subject=subject, ndim=5).data
    warped = np.empty_like(labels)
    for k in range(labels.shape[2]):
        frames = np.moveaxis(labels[:, :, k, :], -1, 0)
        slice_field = np.moveaxis(displacement[:, :, k], (2, 3), (0, 1))
        warped[:, :, k, :] = np.moveaxis(warp_frames(frames, slice_field, labels=True), 0, -1)
    return _frame_dice(warped, reference_labels(warped))


def measure_subject(
    subject: str,
    method: str,
    *,
    stress: PathLike,
    aif: PathLike,
    stress_pd: PathLike,
    aif_pd: PathLike,
    labels: PathLike,
    timing: PathLike,
    quantification: Mapping[str, Any],
    outputs: Mapping[str, PathLike],
    truth: Mapping[str, PathLike] | None = None,
) -> None:
    """Measure one subject's alignment by ``method`` and write its tables and MBF map.

    Parameters
    ----------
    subject, method
        Participant label and alignment (``none``, ``iterative``, ``dl``).
    stress, aif, stress_pd, aif_pd
        The aligned series and PD images (:func:`.motion.correct_subject`).
    labels
        The U-Net's labels of every aligned stress frame ``(X, Y, S, T)``.
    timing
        The alignment's timing table.
    quantification
        The config's ``quantification`` section: ``r10_myocardium``, ``r10_blood``,
        ``relaxivity``, ``baseline_frames``.
    outputs
        ``segments``, ``quality``, ``curves`` (TSV) and ``mbf`` (``(X, Y, S)`` pixel MBF map).
    truth
        Demo only: ``labels`` (true labels per frame), ``field`` (this method's displacement
        field) and ``segments`` (true MBF per segment).
    """
    series = load_series(stress, subject=subject)
    aif_series = load_series(aif, subject=subject)
    pd_map = load_pd(stress_pd, subject=subject, like=series).data
    aif_pd_map = load_pd(aif_pd, subject=subject, like=aif_series).data
    predicted = load_nifti(labels, subject=subject, ndim=4).data.astype(np.uint8)
    if predicted.shape != series.data.shape:
        raise InputDataError(
            f"labels {predicted.shape} do not match the series {series.data.shape}",
            subject=subject,
            path=labels,
        )
    reference = reference_labels(predicted)
    q = quantification
    origin = min(series.frame_times[0], aif_series.frame_times[0])
    times = series.relative_times(origin)
    lv_aif = resample_mask(
        reference[:, :, 0] == LV, series.affine, aif_series.affine, aif_series.data.shape[:3]
    )[:, :, 0]
    if not lv_aif.any():
        raise InputDataError(
            "no LV blood pool in the basal slice's labels to take the arterial input from",
            subject=subject,
            path=labels,
        )
    if lv_aif.sum() < MIN_AIF_PIXELS:
        logger.warning(
            "sub-%s %s: the LV pool covers only %d pixel(s) of the AIF series",
            subject,
            method,
            int(lv_aif.sum()),
        )
    input_curve = arterial_input(
        np.moveaxis(aif_series.data[:, :, 0, :], -1, 0),
        aif_pd_map[:, :, 0],
        lv_aif,
        saturation_time=aif_series.saturation_time,
        r10=q["r10_blood"],
        relaxivity=q["relaxivity"],
        baseline_frames=q["baseline_frames"],
    )
    spacing = voxel_size(series.affine)
    timing_row = read_tsv(timing, subject=subject).iloc[0]
    seconds, device = float(timing_row["seconds"]), str(timing_row["device"])
    truth_table = None
    if truth:
        true_segments = read_tsv(truth["segments"], subject=subject).set_index("segment")
        column = "mbf_pixel_mean" if "mbf_pixel_mean" in true_segments.columns else "mbf"
        truth_table = true_segments[column]
        truth_dice = _truth_dice(truth["labels"], truth["field"], subject)
    frame_dice = _frame_dice(predicted, reference)
    mbf_map = np.zeros(reference.shape, dtype=np.float32)
    segment_rows, quality_rows, curve_rows = [], [], []
    for k, level in enumerate(slice_levels(series.n_slices)):
        concentration = series_concentration(
            np.moveaxis(series.data[:, :, k, :], -1, 0),
            pd_map[:, :, k],
            saturation_time=series.saturation_time,
            r10=q["r10_myocardium"],
            relaxivity=q["relaxivity"],
            baseline_frames=q["baseline_frames"],
        )
        myocardium = reference[:, :, k] == MYOCARDIUM
        segments = segment_map(reference[:, :, k], slice_level=level, spacing=spacing)
        core = segment_core(segments)
        present = [s for s in range(1, N_SEGMENTS + 1) if (segments == s).any()]
        per_segment = fit_segments(concentration, segments, input_curve, times)
        # each pixel at its segment's delay (segment_map labels every myocardial pixel)
        delay = np.where(segments > 0, per_segment.delay[np.clip(segments - 1, 0, None)], 0.0)
        pixels = fit_pixels(concentration, segments > 0, input_curve, times, delay=delay)
        mbf_map[:, :, k] = pixels.mbf
        for s in present:
            inside = segments == s
            in_core = core == s
            segment_rows.append(
                {
                    "participant_id": subject,
                    "method": method,
                    "slice": k,
                    "segment": s,
                    "territory": SEGMENT_TERRITORY[s],
                    "mbf": per_segment.mbf[s - 1],
                    "pixel_mbf_sd": float(np.std(pixels.mbf[in_core], ddof=1))
                    if in_core.sum() > 1
                    else float("nan"),
                    "n_pixels": int(inside.sum()),
                    "n_core_pixels": int(in_core.sum()),
                    "delay": per_segment.delay[s - 1],
                    "truth_mbf": float(truth_table.get(s, np.nan))
                    if truth_table is not None
                    else float("nan"),
                }
            )
        quality_rows.append(
            {
                "participant_id": subject,
                "method": method,
                "slice": k,
                "frames": series.n_frames,
                "dice": float(frame_dice[k]),
                "dice_truth": float(truth_dice[k]) if truth else float("nan"),
                "smoothness": smoothness(concentration, myocardium),
                "seconds": seconds,
                "device": device,
            }
        )
        signal = np.moveaxis(series.data[:, :, k, :], -1, 0)
        curves = np.concatenate(
            [input_curve[:, None], robust_segment_curves(concentration, core)], axis=1
        )
        signals = np.concatenate(
            [np.full((len(times), 1), np.nan), segment_curves(signal, core)], axis=1
        )
        for s in [0, *present]:
            curve_rows.extend(
                {
                    "participant_id": subject,
                    "method": method,
                    "slice": k,
                    "segment": s,
                    "frame": t,
                    "time": float(times[t]),
                    "signal": float(signals[t, s]),
                    "concentration": float(curves[t, s]),
                }
                for t in range(len(times))
            )
    logger.info(
        "sub-%s %s: Dice %s, median segment MBF %.2f ml/min/g",
        subject,
        method,
        np.round(frame_dice, 3).tolist(),
        float(np.nanmedian([r["mbf"] for r in segment_rows])),
    )
    write_tsv(pd.DataFrame(segment_rows), outputs["segments"])
    write_tsv(pd.DataFrame(quality_rows), outputs["quality"])
    write_tsv(pd.DataFrame(curve_rows), outputs["curves"])
    save_nifti(mbf_map, outputs["mbf"], series.affine)
