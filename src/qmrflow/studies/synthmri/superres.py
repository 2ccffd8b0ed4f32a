"""DL super-resolution of the fast T1/T2/PD maps to the routine grid, with a spline baseline.

The fast protocol acquires half the phase-encoding lines (axis 1, y) over the same field of
view, so its maps have half the matrix along y (e.g. 96 x 56 for a 96 x 112 routine matrix).
An SRGAN generator (:class:`qmrflow.dl.superres.SRGenerator`, scale ``(1, 2)``) maps the three
fast maps of a slice, stacked as channels, to the routine grid; the routine maps are the
training target (as in the paper: routine maps are the reference standard). Training is in
:mod:`qmrflow.studies.synthmri.superres_training`; this module holds what training and the
per-subject job share (normalisation, settings, grids, inputs) and the per-subject job itself.

Normalisation (fixed, identical in training and inference; :func:`normalise`): each map is
divided by a scale (T1 / 4000 ms, T2 / 300 ms, PD / 1.2) so that brain tissue lies in about
[0, 1]; values above 1 (CSF: T1 ≈ 4000-4500 ms, T2 ≈ 1500-2000 ms) are log-compressed,
``u ↦ 1 + ln u``, which is continuous with a continuous slope at 1, invertible and keeps CSF
from dominating the loss, and the result is clipped to [0, 4] (T2 up to 300·e³ ≈ 6000 ms).
The network output is clipped to the same range and mapped back with the inverse.

Baseline (:func:`spline_upsample`): cubic B-spline interpolation (``scipy.ndimage``, order 3)
of each fast slice at the routine voxel centres, located through the two affines.

The per-subject job runs the generator from the inference program stored in its checkpoint
(:mod:`qmrflow.dl.inference`), so it does not import MONAI; it runs on the GPU a job was given
and on the CPU otherwise (:func:`qmrflow.dl.device.select_device`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy import ndimage

from qmrflow.dl.checkpoint import Checkpoint, check_not_trained_on, load_checkpoint, runnable
from qmrflow.dl.device import select_device
from qmrflow.dl.inference import predict_batches
from qmrflow.dl.seed import deterministic
from qmrflow.errors import InputDataError, ModelError
from qmrflow.io import load_nifti, save_nifti
from qmrflow.io.bids import subject_of
from qmrflow.studies.synthmri.mapping import MAP_SIDECARS

if TYPE_CHECKING:
    from qmrflow.dl.superres import SRGenerator

__all__ = [
    "DEFAULT_SETTINGS",
    "MAPS",
    "SCALES",
    "build_generator",
    "check_geometry",
    "denormalise",
    "load_pairs",
    "normalise",
    "spline_upsample",
    "superresolve_subject",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Map keys, in channel order.
MAPS: tuple[str, ...] = ("T1map", "T2map", "PDmap")

#: Normalisation scale per map (ms for T1 and T2, fraction for PD): tissue lies in ~[0, 1].
SCALES: dict[str, float] = {"T1map": 4000.0, "T2map": 300.0, "PDmap": 1.2}

#: Upper clip of the normalised (log-compressed) values.
NORMALISED_MAX = 4.0

#: Training settings and their defaults (config ``synthmri.superresolution``).
#: Sized for the CPU demo (84 training slices of 96 x 56 -> 96 x 112: about 2 minutes on 2
#: cores); the paper-scale SRGAN is ``channels=64, residual_blocks=16, kernel_size=9``.
DEFAULT_SETTINGS: dict[str, Any] = {
    "channels": 32,
    "residual_blocks": 4,
    "pretrain_epochs": 20,
    "adversarial_epochs": 5,
    "adversarial_weight": 1e-3,
    "batch_size": 4,
    "learning_rate": 1e-3,
    "kernel_size": 3,
    "scale": [1, 2],
}

#: Tolerance (in routine voxels) on the alignment of the fast and routine grids.
GEOMETRY_TOLERANCE = 0.05

# --------------------------------------------------------------------------- normalisation


def normalise(values: np.ndarray, key: str) -> np.ndarray:
    """Fixed per-map normalisation to about [0, 1] (log-compressed above 1, clipped to [0, 4]).

    ``u = max(v, 0) / s``; ``n = u`` for ``u <= 1`` and ``n = 1 + ln u`` above; then
    ``n = clip(n, 0, 4)``, with ``s`` from :data:`SCALES`.
    """
    u = np.maximum(np.asarray(values, dtype=np.float32), 0.0) / np.float32(SCALES[key])
    n = np.where(u <= 1.0, u, 1.0 + np.log(np.maximum(u, 1.0)))
    return np.clip(n, 0.0, NORMALISED_MAX).astype(np.float32)


def denormalise(values: np.ndarray, key: str) -> np.ndarray:
    """Inverse of :func:`normalise` (input clipped to [0, 4] first)."""
    n = np.clip(np.asarray(values, dtype=np.float32), 0.0, NORMALISED_MAX)
    u = np.where(n <= 1.0, n, np.exp(n - 1.0))
    return (u * np.float32(SCALES[key])).astype(np.float32)


# --------------------------------------------------------------------------- settings / model


def resolve_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults completed with ``settings`` (unknown keys ignored), checked.

    Raises
    ------
    ValueError
        A value out of range.
    """
    resolved = {k: settings.get(k, v) for k, v in DEFAULT_SETTINGS.items()}
    resolved["scale"] = [int(s) for s in resolved["scale"]]
    for key in ("channels", "residual_blocks", "batch_size", "kernel_size"):
        resolved[key] = int(resolved[key])
        if resolved[key] < (0 if key == "residual_blocks" else 1):
            raise ValueError(f"superresolution setting {key} must be positive, got {resolved[key]}")
    for key in ("pretrain_epochs", "adversarial_epochs"):
        resolved[key] = int(resolved[key])
        if resolved[key] < 0:
            raise ValueError(f"superresolution setting {key} must be >= 0, got {resolved[key]}")
    if resolved["pretrain_epochs"] + resolved["adversarial_epochs"] < 1:
        raise ValueError("superresolution needs at least one epoch")
    resolved["learning_rate"] = float(resolved["learning_rate"])
    resolved["adversarial_weight"] = float(resolved["adversarial_weight"])
    if resolved["learning_rate"] <= 0 or resolved["adversarial_weight"] < 0:
        raise ValueError("learning_rate must be > 0 and adversarial_weight >= 0")
    if len(resolved["scale"]) != 2 or min(resolved["scale"]) < 1:
        raise ValueError(f"scale must be two positive integers, got {resolved['scale']}")
    return resolved


def build_generator(settings: Mapping[str, Any]) -> SRGenerator:
    """The generator described by (resolved) settings: 3 maps in, 3 maps out (imports MONAI)."""
    # Imported here: the per-subject job runs the stored program and never needs MONAI.
    from qmrflow.dl.superres import SRGenerator

    s = resolve_settings(settings)
    return SRGenerator(
        len(MAPS),
        len(MAPS),
        channels=s["channels"],
        residual_blocks=s["residual_blocks"],
        scale=tuple(s["scale"]),
        kernel_size=s["kernel_size"],
        base="bicubic",
    )


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Maps:
    """Three co-registered maps as (3, X, Y, Z) with their affine and the file names."""

    data: np.ndarray
    affine: np.ndarray
    path: Path


def _load_maps(paths: Mapping[str, PathLike], subject: str | None, role: str) -> _Maps:
    missing = [k for k in MAPS if k not in paths]
    if missing:
        raise ValueError(f"{role} maps: missing keys {missing} (need {list(MAPS)})")
    images = [load_nifti(paths[k], subject=subject, ndim=3) for k in MAPS]
    first = Path(paths[MAPS[0]])
    for key, image in zip(MAPS[1:], images[1:], strict=True):
        if image.data.shape != images[0].data.shape or not np.allclose(
            image.affine, images[0].affine, atol=1e-3
        ):
            raise InputDataError(
                f"{role} {key} grid (shape {image.data.shape}) differs from that of {first} "
                f"(shape {images[0].data.shape}) or its affine does",
                subject=subject,
                path=paths[key],
            )
    return _Maps(np.stack([i.data for i in images]), images[0].affine, first)


def _load_mask(
    path: PathLike, subject: str | None, shape: Sequence[int], affine: np.ndarray, grid: PathLike
) -> np.ndarray:
    image = load_nifti(path, subject=subject, ndim=3)
    if image.data.shape != tuple(shape) or not np.allclose(image.affine, affine, atol=1e-3):
        raise InputDataError(
            f"brain mask grid (shape {image.data.shape}) differs from that of the routine maps "
            f"{grid} (shape {tuple(shape)}) or its affine does",
            subject=subject,
            path=path,
        )
    return image.data > 0.5


def check_geometry(
    fast_shape: Sequence[int],
    fast_affine: np.ndarray,
    routine_shape: Sequence[int],
    routine_affine: np.ndarray,
    scale: Sequence[int],
    *,
    subject: str | None = None,
    fast_path: PathLike | None = None,
    routine_path: PathLike | None = None,
) -> np.ndarray:
    """Check that the fast grid is the routine grid divided by ``scale``; return the mapping.

    The fast grid must have ``routine_shape / (sx, sy, 1)`` voxels, ``(sx, sy, 1)`` times the
    routine voxel size along the same axes, the same slices, and the same field of view: fast
    voxel ``i`` along x spans routine voxels ``sx·i ... sx·i + sx - 1``, so its centre lies at
    routine index ``sx·i + (sx - 1) / 2`` (likewise along y).

    Returns
    -------
    numpy.ndarray
        4x4 matrix taking routine voxel indices to (fractional) fast voxel indices,
        ``inv(A_fast) @ A_routine``.

    Raises
    ------
    InputDataError
        Naming both files and what differs.
    """
    sx, sy = (int(s) for s in scale)
    expected = (routine_shape[0] / sx, routine_shape[1] / sy, routine_shape[2])
    where = f"fast maps {fast_path} vs routine grid {routine_path}"
    if tuple(fast_shape) != expected:
        raise InputDataError(
            f"{where}: fast grid shape {tuple(fast_shape)} x scale ({sx}, {sy}, 1) does not give "
            f"the routine grid shape {tuple(routine_shape)}",
            subject=subject,
            path=fast_path,
        )
    mapping = np.linalg.inv(fast_affine) @ routine_affine
    ideal = np.diag([1.0 / sx, 1.0 / sy, 1.0, 1.0])
    ideal[:3, 3] = [(1.0 / sx - 1.0) / 2.0, (1.0 / sy - 1.0) / 2.0, 0.0]
    if not np.allclose(mapping[:3, :3], ideal[:3, :3], atol=1e-3) or not np.allclose(
        mapping[:3, 3], ideal[:3, 3], atol=GEOMETRY_TOLERANCE
    ):
        raise InputDataError(
            f"{where}: the affines do not describe the same field of view with ({sx}, {sy}, 1) "
            f"times larger fast voxels (routine->fast index map {np.round(mapping[:3], 4)}, "
            f"expected {np.round(ideal[:3], 4)})",
            subject=subject,
            path=fast_path,
        )
    return mapping


def _slices(maps: np.ndarray) -> np.ndarray:
    """(3, X, Y, Z) normalised -> (Z, 3, X, Y) float32."""
    stacked = np.stack([normalise(maps[c], key) for c, key in enumerate(MAPS)])
    return np.ascontiguousarray(np.moveaxis(stacked, 3, 0), dtype=np.float32)


def load_pairs(
    items: Sequence[tuple[Mapping[str, PathLike], Mapping[str, PathLike], PathLike]],
    scale: Sequence[int],
    role: str,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Slice pairs of a split: subjects, inputs (N,3,X,Yf), targets (N,3,X,Y), masks (N,1,X,Y)."""
    subjects, xs, ys, ms = [], [], [], []
    for fast_paths, routine_paths, mask_path in items:
        subject = subject_of(mask_path) or str(mask_path)
        for path in [*fast_paths.values(), *routine_paths.values()]:
            other = subject_of(path)
            if other is not None and other != subject:
                raise InputDataError(
                    f"{role} item mixes subjects: this file is sub-{other}, the mask "
                    f"{mask_path} is sub-{subject}",
                    subject=subject,
                    path=path,
                )
        fast = _load_maps(fast_paths, subject, "fast")
        routine = _load_maps(routine_paths, subject, "routine")
        mask = _load_mask(mask_path, subject, routine.data.shape[1:], routine.affine, routine.path)
        check_geometry(
            fast.data.shape[1:],
            fast.affine,
            routine.data.shape[1:],
            routine.affine,
            scale,
            subject=subject,
            fast_path=fast.path,
            routine_path=routine.path,
        )
        keep = mask.any(axis=(0, 1))
        if not keep.any():
            raise InputDataError("brain mask is empty", subject=subject, path=mask_path)
        subjects.append(subject)
        xs.append(_slices(fast.data)[keep])
        ys.append(_slices(routine.data * mask)[keep])
        ms.append(np.moveaxis(mask, 2, 0)[keep][:, None].astype(np.float32))
    if not subjects:
        raise ValueError(f"no {role} subjects given")
    duplicates = sorted({s for s in subjects if subjects.count(s) > 1})
    if duplicates:
        raise ValueError(f"{role} subjects listed twice: {duplicates}")
    return subjects, np.concatenate(xs), np.concatenate(ys), np.concatenate(ms)


# --------------------------------------------------------------------------- inference


def spline_upsample(fast: np.ndarray, mapping: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Cubic B-spline interpolation of a fast volume at the routine voxel centres.

    Parameters
    ----------
    fast
        Fast-grid volume (X_f, Y_f, Z).
    mapping
        4x4 routine-index -> fast-index matrix from :func:`check_geometry` (slices coincide).
    shape
        Routine grid shape (X, Y, Z).

    Returns
    -------
    numpy.ndarray
        float32 (X, Y, Z). Each slice is interpolated in 2-D (``scipy.ndimage.affine_transform``,
        order 3, edges extended by the nearest value), so slices never mix.
    """
    matrix, offset = mapping[:2, :2], mapping[:2, 3]
    out = np.empty(tuple(shape), dtype=np.float32)
    for z in range(shape[2]):  # one 2-D spline per slice; a handful of slices
        out[..., z] = ndimage.affine_transform(
            fast[..., z].astype(np.float64),
            matrix,
            offset=offset,
            output_shape=tuple(shape[:2]),
            order=3,
            mode="nearest",
        )
    return out


def load_generator(
    model: PathLike,
    device: torch.device,
    *,
    expected_sha256: str | None = None,
    program: bool = True,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, Any], Checkpoint]:
    """Verify a generator checkpoint and make it ready to run; its settings and checkpoint.

    Parameters
    ----------
    model
        Checkpoint ``.pt`` (verified by sha256, loaded with ``weights_only=True``).
    device
        Where to run.
    expected_sha256
        Checksum of a model named in the config (else the one its metadata records).
    program
        Run the stored inference program when there is one; False (or a checkpoint without a
        program that loads here) rebuilds the MONAI generator from the recorded settings.

    Raises
    ------
    ModelError
        Bad checkpoint, no settings recorded, other normalisation scales, or weights that do not
        fit the recorded generator.
    """
    checkpoint = load_checkpoint(model, expected_sha256=expected_sha256, map_location="cpu")
    metadata = checkpoint.metadata
    if "settings" not in metadata:
        raise ModelError(f"{model}: metadata has no 'settings' to rebuild the generator from")
    recorded = metadata.get("normalisation", {}).get("scales", SCALES)
    if recorded != SCALES:
        raise ModelError(
            f"{model}: trained with map scales {recorded}, this version normalises with {SCALES}"
        )
    settings = resolve_settings(metadata["settings"])
    run = runnable(
        checkpoint,
        device,
        lambda: build_generator(settings),
        program=program,
        what="generator",
        memory_format=torch.channels_last,
    )
    return run, settings, checkpoint


def superresolve_subject(
    *,
    fast: Mapping[str, PathLike],
    reference: PathLike,
    mask: PathLike,
    model: PathLike,
    subject: str,
    outputs: Mapping[str, PathLike],
    threads: int | None = None,
    sha256: str | None = None,
) -> None:
    """Super-resolve a subject's fast maps with the trained generator and with cubic splines.

    Parameters
    ----------
    fast
        ``{"T1map", "T2map", "PDmap"}`` on the fast grid.
    reference
        A routine map: gives the output grid (shape and affine).
    mask
        Routine brain mask (on the reference grid); outputs are 0 outside it.
    model
        Checkpoint written by
        :func:`~qmrflow.studies.synthmri.superres_training.train_superresolution`
        (:func:`load_generator`).
    subject
        Participant label.
    outputs
        ``dl_T1map``, ``dl_T2map``, ``dl_PDmap``, ``spline_T1map``, ``spline_T2map``,
        ``spline_PDmap``: float32 NIfTI on the reference grid.
    threads
        CPU threads for torch.
    sha256
        Expected checksum of a model named in the config; None verifies against the checksum
        in the model's metadata.

    Raises
    ------
    InputDataError
        Unreadable files, fast grid x scale differs from the reference grid, mask on another grid.
    ModelError
        Bad checkpoint, or a subject the model was trained or selected on.
    """
    device = select_device(threads)
    generator, settings, checkpoint = load_generator(model, device, expected_sha256=sha256)
    check_not_trained_on(subject, checkpoint.metadata, model)
    maps = _load_maps(fast, subject, "fast")
    ref = load_nifti(reference, subject=subject, ndim=3)
    brain = _load_mask(mask, subject, ref.data.shape, ref.affine, reference)
    mapping = check_geometry(
        maps.data.shape[1:],
        maps.affine,
        ref.data.shape,
        ref.affine,
        settings["scale"],
        subject=subject,
        fast_path=maps.path,
        routine_path=reference,
    )
    start = time.perf_counter()
    with deterministic():
        predicted = predict_batches(  # (Z, 3, X, Y)
            generator, _slices(maps.data), device, 16, memory_format=torch.channels_last
        )
    seconds = time.perf_counter() - start
    for c, key in enumerate(MAPS):
        dl = np.moveaxis(denormalise(predicted[:, c], key), 0, 2) * brain
        spline = np.maximum(spline_upsample(maps.data[c], mapping, ref.data.shape), 0.0) * brain
        for method, values in (("dl", dl), ("spline", spline)):
            sidecar = {**MAP_SIDECARS[key], "Description": f"{key} upsampled by {method}"}
            save_nifti(
                values.astype(np.float32), outputs[f"{method}_{key}"], ref.affine, sidecar=sidecar
            )
    logger.info(
        "sub-%s: super-resolved %d slices with %s in %.2f s (model sha256 %s)",
        subject,
        maps.data.shape[-1],
        device,
        seconds,
        checkpoint.sha256[:12],
    )
