"""One simulated breathing subject: real-time radial k-space of two tasks, T1 series, truth."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.recon.fourier import BatchedNufft
from qmrflow.simulate.cohort import subject_seed
from qmrflow.simulate.fields import smooth_noise
from qmrflow.simulate.kspace import (
    coil_sensitivities,
    complex_noise,
    radial_trajectory,
    sigma_for_snr,
)
from qmrflow.studies.breathing.simulate.cohort import PARADOXICAL
from qmrflow.studies.breathing.simulate.motion import (
    SIDES,
    Response,
    TaskMotion,
    draw_response,
    draw_task_motion,
)
from qmrflow.studies.breathing.simulate.phantom import (
    Thorax,
    class_fractions,
    diaphragm_pd,
    diaphragm_t1,
    draw_thorax,
    grid_affine,
    grid_world,
    majority_labels,
    render_classes,
    render_frames,
    subpixel_world,
)
from qmrflow.studies.breathing.simulate.settings import (
    CLASSES,
    LABELS,
    PD_TISSUE,
    RT_SIGNAL,
    T1_TISSUE,
    TASKS,
    SimulationSettings,
)

logger = logging.getLogger(__name__)

__all__ = [
    "SimulatedSubject",
    "SimulatedTask",
    "frame_trajectories",
    "simulate_arrays",
]

_C = {name: k for k, name in enumerate(CLASSES)}
_GROUPS = ("patient", "control")


@dataclass(frozen=True)
class SimulatedTask:
    """One real-time task of a subject (see the package docstring).

    Attributes
    ----------
    task
        ``breathing`` or ``sniff``.
    frame_times
        ``(T,)`` seconds, ``t * frame_s``.
    kspace
        complex64 ``(T, C, S, N)``: frame, coil, spoke, readout sample, with noise.
    trajectory
        float32 ``(T, S, N, 2)``: k-space coordinates in radians per pixel, in ``[-pi, pi)``,
        last axis (k along voxel axis 0, k along voxel axis 1); frames ``t`` and ``t + turns``
        share their spokes.
    images
        float32 ``(T, X, Y)``: the noise-free magnitude (partial volume, no coil weighting)
        whose complex image ``images * exp(1j * phase)`` the k-space samples.
    labels
        uint8 ``(T, X, Y)``: truth label maps (:data:`LABELS`).
    curves
        One row per frame: ``frame``, ``time`` (s), ``phase``, ``dome_right_mm``,
        ``dome_left_mm`` (world ``z`` of each dome's apex, mm, toward the head),
        ``width_mm`` (thoracic width), ``lung_area_right_mm2``, ``lung_area_left_mm2``
        (pixels of each lung label times the pixel area).
    summary
        One row per phase (``quiet``/``deep`` or ``sniff``): ``phase``,
        ``excursion_right_mm``, ``excursion_left_mm`` (max - min of the dome height over the
        phase's frames), ``peak_velocity_right_mm_s``, ``peak_velocity_left_mm_s`` (largest
        ``|dD/dt|`` of the continuous motion within the phase, on a 1 ms grid),
        ``width_excursion_mm``, ``paradoxical_right``, ``paradoxical_left``.
    paradoxical
        ``{"right": bool, "left": bool}``: the side rises with the chest wall during the task.
    sigma
        Noise SD per k-space sample and channel (0 without noise).
    motion
        The drawn motion (continuous curves: :meth:`TaskMotion.dome`, ``width``).
    """

    task: str
    frame_times: np.ndarray
    kspace: np.ndarray
    trajectory: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    curves: pd.DataFrame
    summary: pd.DataFrame
    paradoxical: dict[str, bool]
    sigma: float
    motion: TaskMotion


@dataclass(frozen=True)
class SimulatedSubject:
    """One simulated subject (see the package docstring).

    Attributes
    ----------
    participant_id, settings
        Who and with which settings.
    group, severity, diaphragm_fat
        From the participants row (``diaphragm_fat``: fat fraction of the diaphragm).
    tasks
        :class:`SimulatedTask` by name (``breathing``, ``sniff``).
    coils
        complex64 ``(C, X, Y)`` receive sensitivities (root-sum-of-squares 1), fixed in the
        scanner (they do not move with the anatomy).
    phase
        float32 ``(X, Y)`` smooth image phase (radians), the same for every frame and the T1
        series.
    t1_series
        float32 ``(X, Y, n_TI)`` single-shot inversion-recovery magnitude images with noise
        (coil-combined), one static coronal slice at end-expiration.
    t1_clean
        The same without noise.
    inversion_times
        ``(n_TI,)`` seconds.
    t1, t1_star
        float32 ``(X, Y)`` true T1 and apparent Look-Locker T1* (s) of the tissue covering most
        of each pixel (0 where that is air).
    t1_labels
        uint8 ``(X, Y)`` labels of the T1 slice.
    diaphragm_roi
        bool ``(X, Y)``: pixels at least 75 % diaphragm, lateral to the mediastinum (both
        hemidiaphragms; split them at ``thorax.mediastinum_x``).
    diaphragm_t1, diaphragm_t1_star
        T1 and T1* (s) of the diaphragm (the value of ``t1`` in the ROI).
    t1_sigma
        Noise SD per channel of the T1 series.
    affine
        Voxel-to-world (RAS, mm) affine of the coronal grid (third axis: slice, anterior).
    thorax, response
        The drawn anatomy and disease response (``response.lag``: chest-wall lag, s).
    """

    participant_id: str
    settings: SimulationSettings
    group: str
    severity: float
    diaphragm_fat: float
    tasks: dict[str, SimulatedTask]
    coils: np.ndarray
    phase: np.ndarray
    t1_series: np.ndarray
    t1_clean: np.ndarray
    inversion_times: np.ndarray
    t1: np.ndarray
    t1_star: np.ndarray
    t1_labels: np.ndarray
    diaphragm_roi: np.ndarray
    diaphragm_t1: float
    diaphragm_t1_star: float
    t1_sigma: float
    affine: np.ndarray
    thorax: Thorax
    response: Response

    @property
    def truth(self) -> pd.DataFrame:
        """Every task's :attr:`SimulatedTask.summary` with a leading ``task`` column."""
        return pd.concat(
            [t.summary.assign(task=name) for name, t in self.tasks.items()], ignore_index=True
        )[["task", *next(iter(self.tasks.values())).summary.columns]]


def _text(row: Mapping[str, Any], key: str, default: str) -> str:
    value = row.get(key, default)
    return default if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _number(row: Mapping[str, Any], key: str, default: float, pid: str) -> float:
    value = row.get(key, default)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"sub-{pid}: {key} must be a number, got {value!r}") from exc


def _row_values(row: Mapping[str, Any]) -> tuple[str, str, float, tuple[bool, bool], float]:
    """Participant id, group, severity, paradoxical sides and diaphragm fat of a row."""
    if isinstance(row, pd.Series):
        row = row.to_dict()
    if "participant_id" not in row:
        raise ConfigError("participant row lacks 'participant_id'")
    pid = str(row["participant_id"])
    group = str(_text(row, "group", "control")).strip().lower()
    if group not in _GROUPS:
        raise ConfigError(f"sub-{pid}: group must be one of {_GROUPS}, got {group!r}")
    severity = _number(row, "severity", 0.0, pid)
    if not 0.0 <= severity <= 1.0:
        raise ConfigError(f"sub-{pid}: severity must be in [0, 1], got {severity}")
    paradoxical = str(_text(row, "paradoxical", "none")).strip().lower()
    if paradoxical not in PARADOXICAL:
        raise ConfigError(f"sub-{pid}: paradoxical must be one of {PARADOXICAL}")
    sides = (paradoxical in ("right", "both"), paradoxical in ("left", "both"))
    fat = _number(row, "diaphragm_fat", 0.05, pid)
    if not 0.0 <= fat <= 1.0:
        raise ConfigError(f"sub-{pid}: diaphragm_fat must be in [0, 1], got {fat}")
    return pid, group, severity, sides, fat


def frame_trajectories(settings: SimulationSettings) -> np.ndarray:
    """The ``turns`` distinct frame trajectories ``(turns, S, N, 2)`` float64 (radians/pixel).

    Spoke ``s`` of frame ``t`` (turn ``t mod turns``) lies at the angle
    ``pi s / spokes + (t mod turns) pi / (spokes turns)`` from ``+axis 0`` toward ``+axis 1``;
    its samples sit at ``2 pi (m - N // 2) / N``, ``m = 0 .. N - 1`` (DC at ``m = N // 2``), so
    with ``N = 2 X`` the readout spans ``[-pi, pi)`` twice as densely as the Cartesian grid.
    """
    s = settings
    return np.stack(
        [
            radial_trajectory(
                s.spokes,
                s.samples,
                angle_increment=math.pi / s.spokes,
                first_angle=j * math.pi / (s.spokes * s.turns),
            )
            for j in range(s.turns)
        ]
    )


def _acquire(
    images: np.ndarray,
    phase: np.ndarray,
    coils: np.ndarray,
    trajectories: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """k-space ``(T, C, S, N)`` complex64 of the frames' coil images, plus noise.

    The type-2 NUFFT of :mod:`qmrflow.recon.fourier` (the kit's ``nufft_forward``, batched):
    the frames of one turn share a trajectory and are transformed in one FINUFFT call (frames
    x coils transforms), single-threaded so that parallel subjects do not oversubscribe the
    cores (FINUFFT's OpenMP threads slow down by orders of magnitude when they compete).
    """
    n_frames, turns = images.shape[0], trajectories.shape[0]
    n_coils, sample_shape = coils.shape[0], trajectories.shape[1:3]
    frame_turn = np.arange(n_frames) % turns
    operator = BatchedNufft(
        trajectories[frame_turn], images.shape[1:], eps=1e-6, threads=1, group_tol=0.0
    )
    out = np.empty((n_frames, n_coils, *sample_shape), dtype=np.complex64)
    complex_images = images * np.exp(1j * phase).astype(np.complex64)[None]
    for j in range(min(turns, n_frames)):
        frames = np.flatnonzero(frame_turn == j)
        coil_images = coils[None] * complex_images[frames][:, None]
        out[frames] = operator.forward(coil_images, frames).reshape(-1, n_coils, *sample_shape)
    if sigma > 0:
        out += complex_noise(out.shape, sigma, rng).astype(np.complex64)
    return out


def _summary(motion: TaskMotion, times: np.ndarray, curves: pd.DataFrame) -> pd.DataFrame:
    rows = []
    dome = curves[["dome_right_mm", "dome_left_mm"]].to_numpy()
    for name, t0, t1 in motion.phases:
        inside = (times >= t0) & (times < t1)
        fine = np.arange(t0, t1, 0.001)
        speed = np.abs(motion.dome_velocity(fine)).max(axis=1) if fine.size else np.zeros(2)
        part = dome[inside]
        width = curves["width_mm"].to_numpy()[inside]
        rows.append(
            {
                "phase": name,
                "excursion_right_mm": float(np.ptp(part[:, 0])) if part.size else np.nan,
                "excursion_left_mm": float(np.ptp(part[:, 1])) if part.size else np.nan,
                "peak_velocity_right_mm_s": float(speed[0]),
                "peak_velocity_left_mm_s": float(speed[1]),
                "width_excursion_mm": float(np.ptp(width)) if width.size else np.nan,
                "paradoxical_right": bool(motion.paradoxical[0]),
                "paradoxical_left": bool(motion.paradoxical[1]),
            }
        )
    return pd.DataFrame(rows)


def _simulate_task(
    motion: TaskMotion,
    thorax: Thorax,
    settings: SimulationSettings,
    coils: np.ndarray,
    phase: np.ndarray,
    noise_rng: np.random.Generator,
) -> SimulatedTask:
    times = settings.frame_times(motion.task)
    dome = motion.dome(times)
    width = motion.width(times)
    values = np.array([RT_SIGNAL[name] for name in CLASSES])
    images, labels = render_frames(thorax, dome[0], dome[1], width, settings, values)
    trajectories = frame_trajectories(settings)
    sigma = sigma_for_snr(RT_SIGNAL["muscle"], settings.snr)
    kspace = _acquire(images, phase, coils, trajectories, sigma, noise_rng)
    area = settings.voxel_mm**2
    curves = pd.DataFrame(
        {
            "frame": np.arange(times.size),
            "time": times,
            "phase": motion.phase_of(times).astype(str),
            "dome_right_mm": dome[0],
            "dome_left_mm": dome[1],
            "width_mm": width,
            "lung_area_right_mm2": (labels == LABELS["lung_right"]).sum(axis=(1, 2)) * area,
            "lung_area_left_mm2": (labels == LABELS["lung_left"]).sum(axis=(1, 2)) * area,
        }
    )
    return SimulatedTask(
        task=motion.task,
        frame_times=times,
        kspace=kspace,
        trajectory=trajectories[np.arange(times.size) % settings.turns].astype(np.float32),
        images=images,
        labels=labels,
        curves=curves,
        summary=_summary(motion, times, curves),
        paradoxical=dict(zip(SIDES, motion.paradoxical, strict=True)),
        sigma=sigma,
        motion=motion,
    )


@dataclass(frozen=True)
class _T1Slice:
    series: np.ndarray
    clean: np.ndarray
    t1: np.ndarray
    t1_star: np.ndarray
    labels: np.ndarray
    roi: np.ndarray
    diaphragm_t1: float
    diaphragm_t1_star: float
    sigma: float


def _t1_slice(
    thorax: Thorax,
    settings: SimulationSettings,
    fat: float,
    phase: np.ndarray,
    rng: np.random.Generator,
) -> _T1Slice:
    """The static end-expiration slice's single-shot IR series, T1 truth and diaphragm ROI.

    Per tissue class: ``R1* = 1/T1 - ln(cos a) / TR``, ``A = M0 R1 / R1*``, ``B = A + M0``
    (ideal inversion), signal ``A - B exp(-TI R1*)``; a pixel's signal is the sum over the
    classes weighted by their sub-pixel fractions.
    """
    s = settings
    x, z = subpixel_world(s.matrix, s.voxel_mm, s.supersample)
    classes = render_classes(thorax, [thorax.dome_z[0]], [thorax.dome_z[1]], [thorax.width], x, z)
    fractions = class_fractions(classes, s.matrix, s.supersample)[0]  # (K, X, Y)
    table = T1_TISSUE[s.field_strength]
    t1 = np.array([table.get(name, 0.0) for name in CLASSES])
    m0 = np.array([PD_TISSUE.get(name, 0.0) for name in CLASSES])
    t1[_C["diaphragm"]] = diaphragm_t1(fat, s.field_strength)
    m0[_C["diaphragm"]] = diaphragm_pd(fat)
    tissue = t1 > 0  # air: no signal, T1 and T1* 0 in the maps
    r1 = np.divide(1.0, t1, out=np.zeros_like(t1), where=tissue)
    r1_star = r1 + s.look_locker_rate
    t1_star = np.divide(1.0, r1_star, out=np.zeros_like(t1), where=tissue)
    a = m0 * r1 * t1_star  # the steady state M0 T1* / T1
    b = a + m0
    times = np.asarray(s.ir_times)
    curves = a[None, :] - b[None, :] * np.exp(-times[:, None] * r1_star[None, :])  # (n, K)
    magnitude = np.einsum("nk,kxy->xyn", curves, fractions)
    clean = magnitude * np.exp(1j * phase)[..., None]
    sigma = sigma_for_snr(PD_TISSUE["muscle"], s.ir_snr)
    noisy = clean + complex_noise(clean.shape, sigma, rng) if sigma > 0 else clean
    majority = np.argmax(fractions, axis=0)
    labels = majority_labels(classes, s.matrix, s.supersample)[0]
    xs = grid_world(s.matrix, s.voxel_mm)[0]
    lateral = (np.abs(xs - thorax.mediastinum_x) > thorax.mediastinum_half)[:, None]
    roi = (fractions[_C["diaphragm"]] >= 0.75) & lateral
    k = _C["diaphragm"]
    return _T1Slice(
        series=np.abs(noisy).astype(np.float32),
        clean=np.abs(clean).astype(np.float32),
        t1=t1[majority].astype(np.float32),
        t1_star=t1_star[majority].astype(np.float32),
        labels=labels,
        roi=roi,
        diaphragm_t1=float(t1[k]),
        diaphragm_t1_star=float(t1_star[k]),
        sigma=sigma,
    )


def simulate_arrays(
    row: Mapping[str, Any],
    settings: SimulationSettings | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
) -> SimulatedSubject:
    """Simulate one subject's real-time k-space (both tasks), T1 series and truth in memory.

    Parameters
    ----------
    row
        A participants row (mapping or pandas Series): ``participant_id`` and optionally
        ``group`` (default ``control``), ``severity`` (default 0), ``paradoxical`` (default
        ``none``) and ``diaphragm_fat`` (default 0.05); other columns are ignored.
    settings
        :class:`SimulationSettings` or a mapping of its fields (None: defaults).
    seed
        Cohort seed; the subject's streams are children of
        :func:`~qmrflow.simulate.cohort.subject_seed` ``(seed, participant_id)``: anatomy,
        disease response, breathing motion, sniff motion, coil sensitivities, image phase,
        breathing noise, sniff noise, T1 noise. Row values only scale what the streams drew:
        changing ``paradoxical`` changes only the sniff task, ``diaphragm_fat`` only the T1
        series and maps.

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
    pid, group, severity, paradoxical, fat = _row_values(row)
    rngs = [np.random.default_rng(s) for s in subject_seed(seed, pid).spawn(9)]
    anatomy_rng, response_rng, breathing_rng, sniff_rng = rngs[:4]
    coil_rng, phase_rng, breathing_noise, sniff_noise, t1_noise = rngs[4:]

    thorax = draw_thorax(anatomy_rng)
    response = draw_response(response_rng, severity)
    coils = coil_sensitivities(
        settings.matrix,
        settings.n_coils,
        radius=coil_rng.uniform(1.3, 1.7),
        width=coil_rng.uniform(0.8, 1.2),
        phase_cycles=coil_rng.uniform(0.5, 1.5),
    ).astype(np.complex64)
    phase = 0.5 * smooth_noise(phase_rng, settings.matrix, settings.matrix[0] / 8.0, mode="reflect")
    phase = (phase + phase_rng.uniform(-np.pi, np.pi)).astype(np.float32)

    tasks = {}
    for task, rng, noise in zip(
        TASKS, (breathing_rng, sniff_rng), (breathing_noise, sniff_noise), strict=True
    ):
        motion = draw_task_motion(
            task,
            rng,
            response,
            duration=settings.n_frames(task) * settings.frame_s,
            dome_rest=thorax.dome_z,
            width_rest=thorax.width,
            paradoxical=paradoxical,
            scale=settings.motion_scale,
        )
        tasks[task] = _simulate_task(motion, thorax, settings, coils, phase, noise)
    t1 = _t1_slice(thorax, settings, fat, phase, t1_noise)
    logger.debug(
        "sub-%s: %s, severity %.2f, paradoxical %s, fat %.2f, lag %.2f s, diaphragm T1 %.2f s",
        pid,
        group,
        severity,
        paradoxical,
        fat,
        response.lag,
        t1.diaphragm_t1,
    )
    return SimulatedSubject(
        participant_id=pid,
        settings=settings,
        group=group,
        severity=severity,
        diaphragm_fat=fat,
        tasks=tasks,
        coils=coils,
        phase=phase,
        t1_series=t1.series,
        t1_clean=t1.clean,
        inversion_times=np.asarray(settings.ir_times),
        t1=t1.t1,
        t1_star=t1.t1_star,
        t1_labels=t1.labels,
        diaphragm_roi=t1.roi,
        diaphragm_t1=t1.diaphragm_t1,
        diaphragm_t1_star=t1.diaphragm_t1_star,
        t1_sigma=t1.sigma,
        affine=grid_affine(settings.matrix, settings.voxel_mm, settings.slice_thickness_mm),
        thorax=thorax,
        response=response,
    )
