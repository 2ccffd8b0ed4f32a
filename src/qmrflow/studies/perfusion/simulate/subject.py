"""One simulated perfusion subject: series, PD images and ground truth, in memory and on disk."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.registration.warp import warp_frames
from qmrflow.simulate.cohort import subject_seed
from qmrflow.simulate.fields import smooth_field, smooth_noise
from qmrflow.simulate.kspace import complex_noise, sigma_for_snr
from qmrflow.studies.perfusion.kinetics import saturation_recovery
from qmrflow.studies.perfusion.segments import TERRITORIES
from qmrflow.studies.perfusion.simulate.curves import (
    Inputs,
    concentration_maps,
    draw_frame_times,
    draw_inputs,
    draw_segment_table,
)
from qmrflow.studies.perfusion.simulate.motion import Motion, draw_breathing, draw_motion
from qmrflow.studies.perfusion.simulate.phantom import (
    Heart,
    draw_heart,
    grid_affine,
    grid_mm,
    sample_world,
    slice_centres_mm,
)
from qmrflow.studies.perfusion.simulate.settings import (
    LABELS,
    PD_RELATIVE,
    T1_NATIVE,
    SimulationSettings,
)

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

__all__ = ["OUTPUT_KEYS", "SimulatedSubject", "simulate_arrays", "simulate_subject"]

OUTPUT_KEYS: tuple[str, ...] = (
    "stress",
    "aif",
    "stress_pd",
    "aif_pd",
    "labels",
    "aif_labels",
    "motion",
    "aif_motion",
    "segments",
    "mbf",
    "mbf_segments",
    "aif_truth",
)
"""Keys :func:`simulate_subject` accepts in ``outputs``."""


@dataclass(frozen=True)
class SimulatedSubject:
    """One simulated subject (arrays in NIfTI order; see the package docstring).

    Attributes
    ----------
    participant_id, settings
        Who and with which settings.
    frame_times
        ``(T,)`` seconds from the first frame (both series).
    stress, aif
        Magnitude series, float32 ``(X, Y, S, T)`` and ``(x, y, 1, T)``.
    stress_pd, aif_pd
        Proton-density images, float32 ``(X, Y, S)`` and ``(x, y, 1)``, reference position.
    stress_clean, aif_clean, stress_pd_clean, aif_pd_clean
        The same without noise.
    labels, aif_labels
        Label map per frame, uint8 ``(X, Y, S, T)`` and ``(x, y, 1, T)``.
    reference_labels, aif_reference_labels
        Label maps in the reference (motion-free) position, uint8 ``(X, Y, S)``, ``(x, y, 1)``.
    segments
        AHA segment map (0 outside the myocardium), uint8 ``(X, Y, S)``, reference position.
    mbf
        True MBF per pixel (ml/min/g, 0 outside the myocardium), float32 ``(X, Y, S)``.
    concentration
        True concentration (mM) per voxel in the reference position, float32 ``(X, Y, S, T)``.
    motion, aif_motion
        Pull-back displacement in voxels of each grid, float32 ``(X, Y, S, T, 2)`` and
        ``(x, y, 1, T, 2)``; the last axis is (axis 0, axis 1).
    trace
        The respiratory trace ``r(t)`` at the frame times (times ``motion_scale``).
    aif_concentration
        The true arterial input (LV blood pool) at the frame times (mM).
    segment_table
        Per segment: ``segment``, ``name``, ``territory``, ``ischaemic``, ``mbf``,
        ``mbf_pixel_mean``, ``tau0``, ``k``, ``delay``, ``n_pixels``.
    stress_affine, aif_affine
        Voxel-to-world affines; the AIF slice lies at the first (basal) stress slice.
    bias, aif_bias
        Receive-coil sensitivity of each grid ``(X, Y)``, fixed in the scanner (not moved).
    sigma, aif_sigma
        Noise SD per real/imaginary channel of each series (0 without noise).
    slice_levels
        Level of each stress slice along the LV (0 base, 1 apex).
    heart, motion_model, inputs
        The drawn anatomy, motion and input curves.
    """

    participant_id: str
    settings: SimulationSettings
    frame_times: np.ndarray
    stress: np.ndarray
    aif: np.ndarray
    stress_pd: np.ndarray
    aif_pd: np.ndarray
    stress_clean: np.ndarray
    aif_clean: np.ndarray
    stress_pd_clean: np.ndarray
    aif_pd_clean: np.ndarray
    labels: np.ndarray
    aif_labels: np.ndarray
    reference_labels: np.ndarray
    aif_reference_labels: np.ndarray
    segments: np.ndarray
    mbf: np.ndarray
    concentration: np.ndarray
    motion: np.ndarray
    aif_motion: np.ndarray
    trace: np.ndarray
    aif_concentration: np.ndarray
    segment_table: pd.DataFrame
    stress_affine: np.ndarray
    aif_affine: np.ndarray
    bias: np.ndarray
    aif_bias: np.ndarray
    sigma: float
    aif_sigma: float
    slice_levels: np.ndarray
    heart: Heart
    motion_model: Motion
    inputs: Inputs

    def displacement(self, slice_index: int) -> np.ndarray:
        """The pull-back field ``(T, 2, X, Y)`` (voxels) of one stress slice."""
        return np.moveaxis(self.motion[:, :, slice_index], (2, 3), (0, 1))

    @property
    def aif_table(self) -> pd.DataFrame:
        """The true input: ``frame``, ``time`` (s), ``concentration`` (mM)."""
        return pd.DataFrame(
            {
                "frame": np.arange(self.frame_times.size),
                "time": self.frame_times,
                "concentration": self.aif_concentration,
            }
        )


def _row_values(row: Mapping[str, Any]) -> tuple[str, str, bool, float]:
    """Participant id, ischaemic territory, deep breaths and stress MBF of a row."""
    if isinstance(row, pd.Series):
        row = row.to_dict()
    if "participant_id" not in row:
        raise ConfigError("participant row lacks 'participant_id'")
    pid = str(row["participant_id"])
    ischaemia = row.get("ischaemia", "none")
    ischaemia = "none" if ischaemia is None or pd.isna(ischaemia) else str(ischaemia)
    if ischaemia not in ("none", *TERRITORIES):
        raise ConfigError(f"sub-{pid}: ischaemia must be none or one of {TERRITORIES}")
    deep = row.get("deep_breaths", False)
    if isinstance(deep, str):
        if deep.strip().lower() not in ("true", "false", "1", "0", "yes", "no", "n/a", ""):
            raise ConfigError(f"sub-{pid}: deep_breaths must be true or false, got {deep!r}")
        deep = deep.strip().lower() in ("true", "1", "yes")
    deep = bool(deep) if deep is not None and not pd.isna(deep) else False
    mbf = row.get("stress_mbf", 3.0)
    mbf = 3.0 if mbf is None or pd.isna(mbf) else float(mbf)
    if not 0.1 <= mbf <= 10.0:
        raise ConfigError(f"sub-{pid}: stress_mbf must be in 0.1-10 ml/min/g, got {mbf}")
    return pid, ischaemia, deep, mbf


def _relative_signal(
    labels: np.ndarray, concentration: np.ndarray, saturation_time: float, relaxivity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Signal over coil sensitivity and scale ``(..., T, X, Y)`` and the PD map ``(..., X, Y)``."""
    pd_table = np.zeros(256)
    r10_table = np.ones(256)
    for label, value in PD_RELATIVE.items():
        pd_table[label] = value
        r10_table[label] = 1.0 / T1_NATIVE[label]
    pd_map = pd_table[labels]
    signal = saturation_recovery(
        concentration,
        pd=pd_map[..., None, :, :],
        saturation_time=saturation_time,
        r10=r10_table[labels][..., None, :, :],
        relaxivity=relaxivity,
    )
    return signal, pd_map


def _move(
    signal: np.ndarray, labels: np.ndarray, field: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Warp every slice's frames ``(S, T, X, Y)`` and label map ``(S, X, Y)`` in one call each.

    ``field`` is ``(S, T, 2, X, Y)`` (or ``(T, 2, X, Y)`` for all slices).
    """
    n_slices, n_frames = signal.shape[:2]
    field = np.broadcast_to(field, (n_slices, *field.shape[-4:]))
    flat_field = field.reshape(n_slices * n_frames, *field.shape[2:])
    moved = warp_frames(signal.reshape(-1, *signal.shape[2:]), flat_field)
    stack = np.broadcast_to(labels[:, None], signal.shape).reshape(-1, *signal.shape[2:])
    moved_labels = warp_frames(np.ascontiguousarray(stack), flat_field, labels=True)
    return moved.reshape(signal.shape), moved_labels.reshape(signal.shape)


def _magnitude(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``|clean + complex Gaussian noise|`` (Rician), float32."""
    if sigma == 0.0:
        return clean.astype(np.float32)
    return np.abs(clean + complex_noise(clean.shape, sigma, rng)).astype(np.float32)


def _pixel_mbf(
    rng: np.random.Generator, segments: np.ndarray, table: pd.DataFrame, voxel_mm: float
) -> np.ndarray:
    """Per-pixel MBF ``(S, X, Y)``: segment MBF times a smooth variation (SD 6 %, +-20 %)."""
    per_segment = np.zeros(17)
    per_segment[table["segment"].to_numpy()] = table["mbf"].to_numpy()
    variation = smooth_noise(rng, segments.shape, 5.0 / voxel_mm, channel_axes=1, mode="reflect")
    factor = np.clip(1.0 + 0.06 * variation, 0.8, 1.2)
    return np.where(segments > 0, per_segment[segments] * factor, 0.0)


def _segment_truth(table: pd.DataFrame, segments: np.ndarray, mbf: np.ndarray) -> pd.DataFrame:
    """The segment table with each segment's pixel count and mean per-pixel MBF."""
    index = segments[segments > 0].astype(int)
    counts = np.bincount(index, minlength=17)
    sums = np.bincount(index, weights=mbf[segments > 0], minlength=17)
    seg = table["segment"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts[seg] > 0, sums[seg] / counts[seg], np.nan)
    out = table.assign(mbf_pixel_mean=mean, n_pixels=counts[seg])
    columns = ["segment", "name", "territory", "ischaemic", "mbf", "mbf_pixel_mean"]
    return out[[*columns, "tau0", "k", "delay", "n_pixels"]]


@dataclass(frozen=True)
class _Grid:
    """One acquisition grid: its reference labels, segments, concentration and signals."""

    labels: np.ndarray  # (S, X, Y)
    segments: np.ndarray  # (S, X, Y)
    concentration: np.ndarray  # (S, T, X, Y)
    reference: np.ndarray  # (S, T, X, Y) motion-free, with bias and scale
    clean: np.ndarray  # (S, T, X, Y) moved, with bias and scale
    moved_labels: np.ndarray  # (S, T, X, Y)
    pd: np.ndarray  # (S, X, Y) reference position, with bias and scale
    field: np.ndarray  # (T, 2, X, Y) voxels
    bias: np.ndarray  # (X, Y)


@dataclass(frozen=True)
class _Draws:
    """The subject's anatomy, kinetics and motion."""

    heart: Heart
    inputs: Inputs
    table: pd.DataFrame
    motion: Motion


def _render_grid(
    draws: _Draws,
    settings: SimulationSettings,
    *,
    aif_series: bool,
    bias: np.ndarray,
    mbf_rng: np.random.Generator | None,
) -> tuple[_Grid, np.ndarray]:
    """Render one grid's reference anatomy, move it and form its noise-free signal.

    Returns the grid and its per-pixel MBF map (``(S, X, Y)``; segment values when
    ``mbf_rng`` is None).
    """
    if aif_series:
        shape, voxel_mm = settings.aif_matrix, settings.aif_voxel_mm
        levels, saturation_time = settings.slice_levels()[:1], settings.aif_saturation_time
    else:
        shape, voxel_mm = settings.matrix, settings.voxel_mm
        levels, saturation_time = settings.slice_levels(), settings.saturation_time
    coords = grid_mm(shape, voxel_mm)
    rendered = [draws.heart.render(coords, float(level)) for level in levels]
    labels = np.stack([r[0] for r in rendered])
    segments = np.stack([r[1] for r in rendered])
    if mbf_rng is None:
        per_segment = np.zeros(17)
        per_segment[draws.table["segment"].to_numpy()] = draws.table["mbf"].to_numpy()
        mbf = np.where(segments > 0, per_segment[segments], 0.0)
    else:
        mbf = _pixel_mbf(mbf_rng, segments, draws.table, voxel_mm)
    concentration = concentration_maps(labels, segments, mbf, draws.inputs, draws.table)
    relative, pd_map = _relative_signal(labels, concentration, saturation_time, settings.relaxivity)
    field = draws.motion.displacement(draws.inputs.frame_times, coords, voxel_mm)
    moved, moved_labels = _move(relative, labels, field)
    scale = settings.signal_scale * bias
    grid = _Grid(
        labels=labels,
        segments=segments,
        concentration=concentration,
        reference=relative * scale,
        clean=moved * scale,
        moved_labels=moved_labels,
        pd=pd_map * scale,
        field=field,
        bias=bias,
    )
    return grid, mbf


def _reference_sigma(grid: _Grid, label: int, snr: float) -> float:
    """Noise SD giving ``snr`` to the mean motion-free signal of ``label`` at its peak frame."""
    mask = grid.labels == label
    if not np.any(mask):
        raise ConfigError(f"no voxel of label {label} to set the SNR on")
    curve = np.moveaxis(grid.reference, 1, -1)[mask].mean(axis=0)
    return sigma_for_snr(float(curve.max()), snr)


def _to_nifti(array: np.ndarray) -> np.ndarray:
    """``(S, T, X, Y)`` -> ``(X, Y, S, T)``."""
    return np.ascontiguousarray(np.transpose(array, (2, 3, 0, 1)))


def simulate_arrays(
    row: Mapping[str, Any],
    settings: SimulationSettings | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
) -> SimulatedSubject:
    """Simulate one subject's series, PD images and ground truth in memory.

    Parameters
    ----------
    row
        A participants row (mapping or pandas Series): ``participant_id`` and optionally
        ``ischaemia`` (default ``none``), ``deep_breaths`` (default false) and ``stress_mbf``
        (default 3.0 ml/min/g).
    settings
        :class:`SimulationSettings` or a mapping of its fields (None: defaults).
    seed
        Cohort seed; the subject's streams are children of
        :func:`~qmrflow.simulate.cohort.subject_seed` ``(seed, participant_id)``: anatomy,
        kinetics, per-pixel MBF, motion, deep breaths, coil sensitivity, stress noise, AIF
        noise. Changing e.g. ``deep_breaths`` changes only the deep breaths.

    Returns
    -------
    SimulatedSubject
        Deterministic given the arguments.

    Raises
    ------
    ConfigError
        A bad row value or setting.
    """
    settings = SimulationSettings.from_mapping(settings)
    pid, ischaemia, deep, stress_mbf = _row_values(row)
    rngs = [np.random.default_rng(s) for s in subject_seed(seed, pid).spawn(8)]
    anatomy_rng, kinetics_rng, mbf_rng, motion_rng, deep_rng, bias_rng, noise_rng, aif_rng = rngs

    heart = draw_heart(anatomy_rng, settings)
    frame_times = draw_frame_times(kinetics_rng, settings.n_frames)
    inputs = draw_inputs(kinetics_rng, frame_times)
    table = draw_segment_table(kinetics_rng, stress_mbf, ischaemia)
    breathing = draw_breathing(motion_rng, deep_rng, frame_times, deep)
    centre = heart.at_level(0.5)[0]
    motion = draw_motion(
        motion_rng, breathing, centre, settings.matrix, settings.voxel_mm, settings.motion_scale
    )
    draws = _Draws(heart, inputs, table, motion)
    bias = smooth_field(bias_rng, settings.matrix, settings.matrix[0] / 4.0, (0.8, 1.2))
    aif_coords = grid_mm(settings.aif_matrix, settings.aif_voxel_mm)
    aif_bias = sample_world(bias, settings.voxel_mm, aif_coords)
    stress, mbf = _render_grid(draws, settings, aif_series=False, bias=bias, mbf_rng=mbf_rng)
    aif, _ = _render_grid(draws, settings, aif_series=True, bias=aif_bias, mbf_rng=None)
    subject = _assemble(pid, settings, draws, stress, aif, mbf, noise_rng, aif_rng)
    logger.debug(
        "sub-%s: ischaemia %s, deep breaths %s (%s), stress MBF %.2f, RR %.2f s, sigma %.3g",
        pid,
        ischaemia,
        deep,
        list(breathing.deep_breaths),
        stress_mbf,
        float(np.mean(np.diff(frame_times))),
        subject.sigma,
    )
    return subject


def _assemble(
    pid: str,
    settings: SimulationSettings,
    draws: _Draws,
    stress: _Grid,
    aif: _Grid,
    mbf: np.ndarray,
    noise_rng: np.random.Generator,
    aif_rng: np.random.Generator,
) -> SimulatedSubject:
    """Add noise and put the arrays in NIfTI order (series, PD images, truth, affines)."""
    sigma = _reference_sigma(stress, LABELS["myocardium"], settings.snr)
    aif_sigma = _reference_sigma(aif, LABELS["lv"], settings.aif_snr)
    z = slice_centres_mm(settings)
    step = settings.slice_spacing_mm if settings.n_slices > 1 else settings.slice_thickness_mm
    frame_times = draws.inputs.frame_times
    f32 = np.float32
    return SimulatedSubject(
        participant_id=pid,
        settings=settings,
        frame_times=frame_times,
        stress=_to_nifti(_magnitude(stress.clean, sigma, noise_rng)),
        aif=_to_nifti(_magnitude(aif.clean, aif_sigma, aif_rng)),
        stress_pd=np.moveaxis(_magnitude(stress.pd, sigma, noise_rng), 0, -1),
        aif_pd=np.moveaxis(_magnitude(aif.pd, aif_sigma, aif_rng), 0, -1),
        stress_clean=_to_nifti(stress.clean).astype(f32),
        aif_clean=_to_nifti(aif.clean).astype(f32),
        stress_pd_clean=np.moveaxis(stress.pd, 0, -1).astype(f32),
        aif_pd_clean=np.moveaxis(aif.pd, 0, -1).astype(f32),
        labels=_to_nifti(stress.moved_labels),
        aif_labels=_to_nifti(aif.moved_labels),
        reference_labels=np.moveaxis(stress.labels, 0, -1).copy(),
        aif_reference_labels=np.moveaxis(aif.labels, 0, -1).copy(),
        segments=np.moveaxis(stress.segments, 0, -1).copy(),
        mbf=np.moveaxis(mbf, 0, -1).astype(f32),
        concentration=_to_nifti(stress.concentration).astype(f32),
        motion=_field_to_nifti(stress.field, settings.n_slices),
        aif_motion=_field_to_nifti(aif.field, 1),
        trace=draws.motion.amplitude * draws.motion.breathing(frame_times),
        aif_concentration=draws.inputs.aif,
        segment_table=_segment_truth(draws.table, stress.segments, mbf),
        stress_affine=grid_affine(settings.matrix, settings.voxel_mm, z[0], step),
        aif_affine=grid_affine(
            settings.aif_matrix, settings.aif_voxel_mm, z[0], settings.slice_thickness_mm
        ),
        bias=stress.bias.astype(f32),
        aif_bias=aif.bias.astype(f32),
        sigma=sigma,
        aif_sigma=aif_sigma,
        slice_levels=settings.slice_levels(),
        heart=draws.heart,
        motion_model=draws.motion,
        inputs=draws.inputs,
    )


def _field_to_nifti(field: np.ndarray, n_slices: int) -> np.ndarray:
    """``(T, 2, X, Y)`` (the same for every slice) -> ``(X, Y, S, T, 2)`` float32."""
    moved = np.transpose(field, (2, 3, 0, 1))[:, :, None]
    return np.ascontiguousarray(
        np.broadcast_to(moved, (moved.shape[0], moved.shape[1], n_slices, *moved.shape[3:])),
        dtype=np.float32,
    )


def _sidecars(sim: SimulatedSubject) -> dict[str, dict[str, Any]]:
    """The JSON sidecar of every image output."""
    s = sim.settings
    geometry = {"MagneticFieldStrength": s.field_strength, "SliceThickness": s.slice_thickness_mm}
    times = [round(float(t), 6) for t in sim.frame_times]
    labels = {str(v): k for k, v in LABELS.items()}
    motion = (
        "pull-back displacement in voxels: frame t at voxel p shows the reference (motion-free) "
        "anatomy at p + u; last axis: (axis 0, axis 1); axes (x, y, slice, frame, component)"
    )
    return {
        "stress": {**geometry, "FrameTimes": times, "SaturationTime": s.saturation_time},
        "aif": {**geometry, "FrameTimes": times, "SaturationTime": s.aif_saturation_time},
        "stress_pd": {**geometry, "Description": "proton-density weighted, reference position"},
        "aif_pd": {**geometry, "Description": "proton-density weighted, reference position"},
        "labels": {"Description": "simulated label map per frame", "Labels": labels},
        "aif_labels": {"Description": "simulated AIF-series label map per frame", "Labels": labels},
        "motion": {"Description": motion, "Units": "voxel", "FrameTimes": times},
        "aif_motion": {"Description": motion, "Units": "voxel", "FrameTimes": times},
        "segments": {
            "Description": "AHA segments (1-16) of the myocardium, reference position",
        },
        "mbf": {"Description": "true myocardial blood flow per pixel", "Units": "ml/min/g"},
    }


def simulate_subject(
    row: Mapping[str, Any],
    *,
    settings: SimulationSettings | Mapping[str, Any] | None = None,
    seed: int = 0,
    outputs: Mapping[str, PathLike],
) -> None:
    """Simulate one subject and write the requested outputs (each atomically, via qmrflow.io).

    Parameters
    ----------
    row, settings, seed
        See :func:`simulate_arrays`.
    outputs
        Paths by key (any subset of :data:`OUTPUT_KEYS`; every NIfTI gets its JSON sidecar
        beside it): ``stress`` (X, Y, S, T) and ``aif`` (x, y, 1, T) float32 series;
        ``stress_pd`` (X, Y, S), ``aif_pd`` (x, y, 1) float32; ``labels`` (X, Y, S, T) and
        ``aif_labels`` (x, y, 1, T) uint8 per frame; ``motion`` (X, Y, S, T, 2) and
        ``aif_motion`` (x, y, 1, T, 2) float32 pull-back fields in voxels; ``segments``
        (X, Y, S) uint8 and ``mbf`` (X, Y, S) float32 (ml/min/g), motion-free; TSVs
        ``mbf_segments`` (the segment table) and ``aif_truth`` (``frame``, ``time``,
        ``concentration``). Files are written after the whole simulation succeeded.

    Raises
    ------
    ConfigError
        An unknown output key, or a bad row value or setting.
    """
    from qmrflow.io import save_nifti, write_tsv  # nibabel only when writing

    unknown = sorted(set(outputs) - set(OUTPUT_KEYS))
    if unknown:
        raise ConfigError(f"unknown simulate_subject output keys {unknown}; known: {OUTPUT_KEYS}")
    sim = simulate_arrays(row, settings, seed=seed)
    arrays = {
        "stress": (sim.stress, sim.stress_affine),
        "aif": (sim.aif, sim.aif_affine),
        "stress_pd": (sim.stress_pd, sim.stress_affine),
        "aif_pd": (sim.aif_pd, sim.aif_affine),
        "labels": (sim.labels, sim.stress_affine),
        "aif_labels": (sim.aif_labels, sim.aif_affine),
        "motion": (sim.motion, sim.stress_affine),
        "aif_motion": (sim.aif_motion, sim.aif_affine),
        "segments": (sim.segments, sim.stress_affine),
        "mbf": (sim.mbf, sim.stress_affine),
    }
    tables = {"mbf_segments": sim.segment_table, "aif_truth": sim.aif_table}
    sidecars = _sidecars(sim)
    for key, path in outputs.items():
        if key in tables:
            write_tsv(tables[key], path)
        else:
            data, affine = arrays[key]
            save_nifti(data, path, affine, sidecar=sidecars[key])
    logger.info("wrote sub-%s (%d outputs)", sim.participant_id, len(outputs))
