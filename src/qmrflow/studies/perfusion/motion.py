"""Motion correction of one subject: none, iterative or DL, for the stress, AIF and PD images.

Each method gives, per slice of the stress series, a pull-back displacement field
``(T, 2, X, Y)`` (:mod:`qmrflow.registration.warp`); the frames are warped with it. The methods:

``none``
    Zero displacement (the series as acquired).
``iterative``
    The optimisation-based baseline (Scannell et al., IEEE TMI 2019):
    :func:`qmrflow.registration.iterative.correct_series_iterative` (robust-PCA references and
    SimpleITK affine + B-spline registration of every frame).
``dl``
    One-shot networks (:mod:`qmrflow.registration.deep`, applied by
    :mod:`qmrflow.registration.oneshot` without MONAI): one forward pass per slice.

The AIF series is acquired in the same heartbeats as the stress slices (one low-resolution
image per R-R interval, before them), so it shares their breathing position frame by frame. It
is aligned with the field of the stress slice nearest to it, carried onto its grid through the
two affines (:func:`transfer_field`), rather than registered on its own: at 4 mm, with the
bolus changing its contrast from frame to frame, it is a poor registration target (registering
it on its own pulled RV blood into the LV at the upslope).

The proton-density images (acquired before the dynamic frames, with another contrast) are
aligned by both correcting methods to the mean of the aligned pre-contrast frames, affinely
with Mattes mutual information (:func:`qmrflow.registration.iterative.register_image`).

Timing: ``seconds`` is the wall time of aligning the dynamic frames (stress and AIF series) on
the same frames for every method; loading the model and aligning the PD images
(``pd_seconds``) are timed apart, reading and writing files not at all.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from qmrflow.registration.warp import warp_frames
from qmrflow.studies.perfusion.series import PerfusionSeries, load_pd, load_series, save_series

__all__ = ["Alignment", "align_series", "correct_subject", "voxel_size"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
#: A slice's frames ``(T, X, Y)`` -> (warped frames, displacement ``(T, 2, X, Y)``).
Aligner = Callable[[np.ndarray, tuple[float, float]], tuple[np.ndarray, np.ndarray]]

#: Pre-contrast frames averaged as the PD images' fixed image.
BASELINE_FRAMES = 3


@dataclass(frozen=True)
class Alignment:
    """One method's alignment of a series: warped frames and fields, in NIfTI order."""

    data: np.ndarray  #: (X, Y, S, T) float32
    field: np.ndarray  #: (X, Y, S, T, 2) float32, voxels


def voxel_size(affine: np.ndarray) -> tuple[float, float]:
    """In-plane voxel size (mm) of a NIfTI affine."""
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :2], axis=0))  # type: ignore[return-value]


def align_series(data: np.ndarray, spacing: tuple[float, float], align: Aligner) -> Alignment:
    """Align every slice of a series ``(X, Y, S, T)`` with ``align``."""
    warped = np.empty_like(data, dtype=np.float32)
    field = np.zeros((*data.shape, 2), dtype=np.float32)
    for k in range(data.shape[2]):
        frames = np.moveaxis(data[:, :, k, :], -1, 0)
        slice_warped, slice_field = align(frames, spacing)
        warped[:, :, k, :] = np.moveaxis(slice_warped, 0, -1)
        field[:, :, k, :, :] = np.moveaxis(slice_field, (0, 1), (2, 3))
    return Alignment(warped, field)


def transfer_field(
    field: np.ndarray, source_affine: np.ndarray, target_affine: np.ndarray, target_shape: tuple
) -> np.ndarray:
    """A series' displacement field ``(X, Y, S, T, 2)`` carried onto another grid.

    Every target voxel takes the field of the nearest source slice at its position (linear in
    plane), converted from source to target voxel units through the affines' linear parts.

    Returns
    -------
    numpy.ndarray
        ``(x, y, s, T, 2)`` float32 on ``target_shape`` ``(x, y, s)``.
    """
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in target_shape), indexing="ij"))
    world = (
        np.einsum("ij,jxyz->ixyz", target_affine[:3, :3], grid)
        + target_affine[:3, 3, None, None, None]
    )
    source = np.linalg.solve(
        source_affine[:3, :3], (world - source_affine[:3, 3, None, None, None]).reshape(3, -1)
    )
    source = source.reshape(3, *target_shape)
    k = np.clip(np.rint(source[2]), 0, field.shape[2] - 1).astype(int)
    n_frames = field.shape[3]
    out = np.empty((*target_shape, n_frames, 2), dtype=np.float32)
    for c in range(2):
        sampled = np.stack(
            [
                ndimage.map_coordinates(
                    field[:, :, :, t, c], [source[0], source[1], k], order=1, mode="nearest"
                )
                for t in range(n_frames)
            ],
            axis=-1,
        )
        out[..., c] = sampled
    # voxels of the source -> world -> voxels of the target (in-plane components)
    to_world = source_affine[:3, :2]
    to_target = np.linalg.pinv(target_affine[:3, :3])[:2]
    return np.einsum("ij,jk,...k->...i", to_target, to_world, out).astype(np.float32)


def _none(frames: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    return frames.astype(np.float32), np.zeros((len(frames), 2, *frames.shape[1:]), np.float32)


def _iterative(options: Mapping[str, Any], threads: int) -> Aligner:
    from qmrflow.registration.iterative import correct_series_iterative

    def align(frames: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        result = correct_series_iterative(frames, spacing=spacing, threads=threads, **options)
        return result.warped, result.displacement

    return align


def _dl(run: Callable, image_shape: Sequence[int], device: Any, fixed: str) -> Aligner:
    from qmrflow.registration.oneshot import register_series_dl

    target = tuple(int(n) for n in image_shape)

    def align(frames: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        if frames.shape[1:] != target:
            raise ValueError(
                f"the registration network is built for {target} frames, the series has "
                f"{frames.shape[1:]}: train it on series of this size"
            )
        warped, field, _ = register_series_dl(run, frames, device=device, fixed=fixed)
        return warped, field

    return align


def _warp_series(data: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Every slice of ``(X, Y, S, T)`` warped by its field ``(X, Y, S, T, 2)``."""
    out = np.empty_like(data, dtype=np.float32)
    for k in range(data.shape[2]):
        frames = np.moveaxis(data[:, :, k, :], -1, 0)
        slice_field = np.moveaxis(field[:, :, k], (2, 3), (0, 1))
        out[:, :, k, :] = np.moveaxis(warp_frames(frames, slice_field), 0, -1)
    return out


def _align_pd(pd: np.ndarray, aligned: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Each slice of the PD image ``(X, Y, S)`` aligned to its aligned pre-contrast frames."""
    from qmrflow.registration.iterative import register_image

    out = np.empty_like(pd, dtype=np.float32)
    for k in range(pd.shape[2]):
        fixed = aligned[:, :, k, :BASELINE_FRAMES].mean(axis=-1)
        out[:, :, k], _ = register_image(pd[:, :, k], fixed, spacing=spacing)
    return out


def correct_subject(
    subject: str,
    method: str,
    *,
    stress: PathLike,
    aif: PathLike,
    stress_pd: PathLike,
    aif_pd: PathLike,
    outputs: Mapping[str, PathLike],
    model: PathLike | None = None,
    sha256: str | None = None,
    iterative: Mapping[str, Any] | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Align one subject's series with ``method`` and write them, their fields and the timing.

    Parameters
    ----------
    subject
        Participant label (named in every error).
    method
        ``none``, ``iterative`` or ``dl``.
    stress, aif, stress_pd, aif_pd
        The subject's stress and AIF series and their PD images.
    outputs
        Paths: ``stress``, ``aif`` (aligned series with sidecars), ``stress_pd``, ``aif_pd``
        (aligned PD images), ``stress_field``, ``aif_field`` (``(X, Y, S, T, 2)`` fields in
        voxels) and ``timing`` (TSV: participant_id, method, frames, seconds, pd_seconds,
        device).
    model, sha256
        The registration checkpoint (``dl``) and the checksum given in the config, if any.
    iterative
        Options of the iterative method (the config's ``registration.iterative``).
    threads
        CPU threads (SimpleITK, torch).

    Returns
    -------
    dict
        The timing row.
    """
    from qmrflow.io import write_tsv

    series = load_series(stress, subject=subject)
    aif_series = load_series(aif, subject=subject)
    pds = (
        load_pd(stress_pd, subject=subject, like=series),
        load_pd(aif_pd, subject=subject, like=aif_series),
    )
    device = platform.node()
    if method == "none":
        align: Aligner = _none
    elif method == "iterative":
        align = _iterative(iterative or {}, threads)
    elif method == "dl":
        from qmrflow.dl.device import select_device
        from qmrflow.registration.oneshot import load_registration

        torch_device = select_device(threads)
        device = str(torch_device)
        if model is None:
            raise ValueError("the dl method needs the registration model")
        run, settings, _ = load_registration(
            model, torch_device, expected_sha256=sha256, subject=subject
        )
        align = _dl(run, settings.image_shape, torch_device, settings.fixed)
    else:
        raise ValueError(f"unknown method {method!r}")

    start = time.perf_counter()
    stress_aligned = align_series(series.data, voxel_size(series.affine), align)
    aif_field = transfer_field(
        stress_aligned.field, series.affine, aif_series.affine, aif_series.data.shape[:3]
    )
    aif_aligned = Alignment(_warp_series(aif_series.data, aif_field), aif_field)
    seconds = time.perf_counter() - start

    start = time.perf_counter()
    if method == "none":
        pd_aligned = tuple(pd.data.astype(np.float32) for pd in pds)
    else:
        pd_aligned = (
            _align_pd(pds[0].data, stress_aligned.data, voxel_size(series.affine)),
            _align_pd(pds[1].data, aif_aligned.data, voxel_size(aif_series.affine)),
        )
    pd_seconds = time.perf_counter() - start
    logger.info(
        "sub-%s: %s alignment of %d frames in %.2f s (PD %.2f s)",
        subject,
        method,
        series.n_frames * series.n_slices + aif_series.n_frames,
        seconds,
        pd_seconds,
    )
    timing = {
        "participant_id": subject,
        "method": method,
        "frames": series.n_frames * series.n_slices + aif_series.n_frames * aif_series.n_slices,
        "seconds": seconds,
        "pd_seconds": pd_seconds,
        "device": device,
    }
    _write(outputs, (series, aif_series), (stress_aligned, aif_aligned), pd_aligned, method)
    import pandas as pd  # tables only once the work is done

    write_tsv(pd.DataFrame([timing]), outputs["timing"])
    return timing


def _write(
    outputs: Mapping[str, PathLike],
    sources: tuple[PerfusionSeries, PerfusionSeries],
    aligned: tuple[Alignment, Alignment],
    pd_aligned: tuple[np.ndarray, np.ndarray],
    method: str,
) -> None:
    from qmrflow.io import save_nifti

    for name, source, alignment, pd_image in zip(
        ("stress", "aif"), sources, aligned, pd_aligned, strict=True
    ):
        save_nifti(pd_image, outputs[f"{name}_pd"], source.affine)
        save_series(
            alignment.data,
            source.affine,
            outputs[name],
            frame_times=source.frame_times,
            saturation_time=source.saturation_time,
            extra={"MotionCorrection": method, "Sources": [source.path.name]},
        )
        save_nifti(alignment.field, outputs[f"{name}_field"], source.affine)
