"""One simulated synthmri subject: tissue fractions, truth maps, labels and both MDME scans."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.io.bids import sidecar_path
from qmrflow.simulate.cohort import subject_seed
from qmrflow.simulate.deform import RandomDeformation
from qmrflow.simulate.template import BrainTemplate, inside_ellipsoid, load_mni152, sample_volume
from qmrflow.studies.synthmri.mapping import MAP_UNITS
from qmrflow.studies.synthmri.protocol import DEFAULT_PROTOCOL, MdmeProtocol
from qmrflow.studies.synthmri.simulate.geometry import (
    FOV_MM,
    MAX_SLICE_THICKNESS_MM,
    _affine,
    _check_matrix,
    _fast_lines,
    slice_geometry,
)
from qmrflow.studies.synthmri.simulate.scan import _acquire, _b1_field, _signed_signal
from qmrflow.studies.synthmri.simulate.tissues import (
    _LESION_SD,
    REGION_NAMES,
    TISSUE_LABELS,
    TissueValues,
    _draw_tissue_values,
    _has_lesions,
    _in_deep_gm,
    _pick_lesions,
    region_of,
)

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

OUTPUT_KEYS: tuple[str, ...] = (
    "routine",
    "fast",
    "T1map",
    "T2map",
    "PDmap",
    "B1map",
    "dseg",
    "regions",
    "lesions",
)
"""Keys :func:`simulate_subject` accepts in ``outputs``."""

# The coarse displacement grid covers the slab of the demo slices with a margin (MNI mm).
_DEFORMATION_BOX = ((-120.0, 120.0), (-150.0, 114.0), (-28.0, 60.0))  # x, y, z (mm)
_DEFORMATION_CENTRE = (0.0, -18.0, 16.0)


@dataclass
class SimulatedSubject:
    """One simulated subject: MDME scans, truth maps and labels.

    Attributes
    ----------
    routine, fast
        MDME magnitude images, float32, ``(nx, ny, n_slices, n_volumes)`` and
        ``(nx, ny_f, n_slices, n_volumes)``.
    t1, t2, pd, b1
        Truth maps on the routine grid, float32 ``(nx, ny, n_slices)`` (ms, ms, fraction,
        relative); 0 outside the brain for T1, T2, PD.
    dseg, regions, lesions
        Labels on the routine grid (uint8), see the module docstring.
    fractions
        Tissue fractions per voxel: ``csf``, ``gm`` (cortical), ``deep_gm``, ``wm`` (without
        lesion) and ``lesion`` (float32 on the routine grid).
    tissue_values
        The subject's T1/T2/PD per tissue (``lesion`` holds the mean of its lesions).
    routine_affine, fast_affine
        RAS+ affines.
    protocol
        The MDME protocol of both scans.
    sigma
        Image-domain noise SD per channel of the routine image (``1 / snr``).
    """

    routine: np.ndarray
    fast: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    pd: np.ndarray
    b1: np.ndarray
    dseg: np.ndarray
    regions: np.ndarray
    lesions: np.ndarray
    fractions: dict[str, np.ndarray]
    tissue_values: dict[str, TissueValues]
    routine_affine: np.ndarray
    fast_affine: np.ndarray
    protocol: MdmeProtocol
    sigma: float
    slice_thickness: float = field(default=MAX_SLICE_THICKNESS_MM)


def _block_mean(array: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean over blocks of ``factors`` samples along the three axes."""
    nx, ny, nz = (s // f for s, f in zip(array.shape, factors, strict=True))
    sx, sy, sz = factors
    return array.reshape(nx, sx, ny, sy, nz, sz).mean(axis=(1, 3, 5))


def _sub_positions(start: float, step: float, n: int, n_sub: int, sub_step: float) -> np.ndarray:
    """Centres of ``n`` voxels (``start + step * i``), each with ``n_sub`` sub-samples."""
    offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * sub_step
    return ((start + step * np.arange(n))[:, None] + offsets[None, :]).ravel()


@dataclass(frozen=True)
class _Sampled:
    """Tissue fractions at the ~1 mm sub-voxel points of the routine grid (template space)."""

    points: np.ndarray  # (3, x, y, z) template mm of every sample point
    brain: np.ndarray
    csf: np.ndarray
    cortex: np.ndarray
    deep: np.ndarray
    wm: np.ndarray


def _sample_template(
    deform: RandomDeformation,
    template: BrainTemplate,
    affine: np.ndarray,
    centres: np.ndarray,
    thickness: float,
    shape: tuple[int, int],
    factors: tuple[int, int, int],
) -> _Sampled:
    """Sample the template at ~1 mm points inside every voxel (partial volume)."""
    nx, ny = shape
    dx, dy = FOV_MM[0] / nx, FOV_MM[1] / ny
    xs = _sub_positions(affine[0, 3], dx, nx, factors[0], dx)
    ys = _sub_positions(affine[1, 3], dy, ny, factors[1], dy)
    zs = _sub_positions(0.0, 0.0, 1, factors[2], thickness)
    zs = (centres[:, None] + zs[None, :]).ravel()
    points = deform(xs, ys, zs)
    index = points - template.origin.reshape(3, 1, 1, 1)
    z_range = (
        max(0, int(np.floor(index[2].min())) - 1),
        min(template.brain.shape[2], int(np.ceil(index[2].max())) + 2),
    )
    if z_range[1] <= z_range[0]:
        raise ConfigError("the slices miss the template brain entirely")
    brain = sample_volume(template.brain, index, z_range)
    gm = sample_volume(template.gm, index, z_range)
    wm = sample_volume(template.wm, index, z_range)
    csf = np.clip(brain - gm - wm, 0.0, None)
    deep = np.where(_in_deep_gm(points), gm, 0.0)
    return _Sampled(points, brain, csf, gm - deep, deep, wm)


def _add_lesions(
    rng: np.random.Generator,
    sampled: _Sampled,
    affine: np.ndarray,
    deform: RandomDeformation,
    factors: tuple[int, int, int],
    base: TissueValues,
) -> tuple[np.ndarray, list[TissueValues]]:
    """Place template-space lesion ellipsoids in white matter; their ids and T1/T2/PD.

    Returns the lesion id of every sample point (0: none; the first lesion wins where two
    overlap) and each lesion's values: the subject's lesion values ``base`` varied by another
    log-normal SD ``_LESION_SD`` per lesion.
    """
    points = sampled.points
    lesion_id = np.zeros(sampled.brain.shape, dtype=np.int8)
    lesion_values: list[TissueValues] = []
    wm_voxels = _block_mean(sampled.wm, factors)
    for centre, semi, rotation in _pick_lesions(rng, wm_voxels, affine, deform):
        k = len(lesion_values) + 1
        # Test only the points within the lesion's bounding cube (first lesion wins).
        near = lesion_id == 0
        for axis in range(3):
            near &= np.abs(points[axis] - centre[axis]) <= semi.max()
        candidates = np.flatnonzero(near)
        flat = points.reshape(3, -1)[:, candidates]
        lesion_id.flat[candidates[inside_ellipsoid(flat, centre, semi, rotation)]] = k
        f1, f2, fp = np.exp(rng.normal(0.0, _LESION_SD, size=3))
        lesion_values.append(
            TissueValues(float(base.t1 * f1), float(base.t2 * f2), float(min(base.pd * fp, 1.0)))
        )
    return lesion_id, lesion_values


def _truth_maps(
    fractions: Mapping[str, np.ndarray],
    sampled: _Sampled,
    wm: np.ndarray,
    lesion: np.ndarray,
    lesion_id: np.ndarray,
    values: Mapping[str, TissueValues],
    lesion_values: Sequence[TissueValues],
    factors: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T1, T2 (ms) and PD on the routine grid: R1, R2 and PD blended by tissue fraction."""
    lesion_table = np.array(
        [[np.nan, np.nan, 0.0], *[[1 / v.t1, 1 / v.t2, v.pd] for v in lesion_values]]
    )
    r1 = np.zeros(sampled.brain.shape, dtype=np.float64)
    r2 = np.zeros_like(r1)
    pd_sum = np.zeros_like(r1)
    tissues = (("csf", sampled.csf), ("gm", sampled.cortex), ("wm", wm), ("deep_gm", sampled.deep))
    for name, frac in tissues:
        v = values[name]
        r1 += frac / v.t1
        r2 += frac / v.t2
        pd_sum += frac * v.pd
    if lesion_values:
        has = lesion_id > 0
        r1[has] += lesion[has] * lesion_table[lesion_id[has], 0]
        r2[has] += lesion[has] * lesion_table[lesion_id[has], 1]
        pd_sum[has] += lesion[has] * lesion_table[lesion_id[has], 2]
    tissue = sum(fractions.values())
    r1, r2, pd_map = (_block_mean(a, factors) for a in (r1, r2, pd_sum))
    present = tissue > 1e-6
    safe = np.where(present, tissue, 1.0)
    t1 = np.where(present, safe / np.where(present, r1, 1.0), 0.0)
    t2 = np.where(present, safe / np.where(present, r2, 1.0), 0.0)
    return t1, t2, np.where(present, pd_map, 0.0)


def _label_maps(
    fractions: Mapping[str, np.ndarray], centre_points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dseg``, ``regions`` and ``lesions`` from the voxel fractions and voxel centres."""
    tissue = sum(fractions.values())
    grey = fractions["gm"] + fractions["deep_gm"]
    white = fractions["wm"] + fractions["lesion"]
    stacked = np.stack([fractions["csf"], grey, white])
    dseg = (np.argmax(stacked, axis=0) + 1).astype(np.uint8)
    dseg[(dseg == TISSUE_LABELS["gm"]) & (fractions["deep_gm"] > fractions["gm"])] = TISSUE_LABELS[
        "deep_gm"
    ]
    dseg[tissue < 0.5] = TISSUE_LABELS["background"]
    regions = np.where(dseg > 0, region_of(centre_points), 0).astype(np.uint8)
    # A deep-GM voxel whose centre falls just outside the ellipsoids still belongs to "deep".
    deep_label = REGION_NAMES.index("deep_left") + 1 + (centre_points[0] >= 0)
    is_deep = dseg == TISSUE_LABELS["deep_gm"]
    regions[is_deep] = deep_label[is_deep]
    lesions = ((fractions["lesion"] >= 0.5) & (dseg == TISSUE_LABELS["wm"])).astype(np.uint8)
    return dseg, regions, lesions


def _check_settings(
    row: Mapping[str, Any], matrix: Sequence[int], snr: float, fast_phase_fraction: float
) -> tuple[str, tuple[int, int], int, float]:
    """Participant id, routine matrix, fast lines and noise SD; ConfigError when bad."""
    if "participant_id" not in row:
        raise ConfigError("participant row lacks 'participant_id'")
    nx, ny = _check_matrix(matrix)
    ny_fast = _fast_lines(ny, fast_phase_fraction)
    snr = float(snr)
    if not snr > 0:
        raise ConfigError(f"snr must be positive, got {snr}")
    sigma = 0.0 if math.isinf(snr) else 1.0 / snr
    return str(row["participant_id"]), (nx, ny), ny_fast, sigma


def simulate_arrays(
    row: Mapping[str, Any],
    *,
    n_slices: int = 6,
    matrix: Sequence[int] = (96, 112),
    snr: float = 60.0,
    fast_phase_fraction: float = 0.5,
    seed: int = 0,
    protocol: MdmeProtocol = DEFAULT_PROTOCOL,
) -> SimulatedSubject:
    """Simulate one subject's truth, labels and MDME scans in memory.

    Parameters
    ----------
    row
        A participants row (mapping or pandas Series) with ``participant_id`` and optionally
        ``has_lesions`` (default false).
    n_slices
        Axial slices through the slab :data:`SLAB_MM`.
    matrix
        Routine in-plane matrix ``(nx, ny)``; the voxel size is ``FOV_MM / matrix``.
    snr
        Routine SNR: 1 / image-domain noise SD per channel (``math.inf``: no noise).
    fast_phase_fraction
        Fraction of the phase-encoding lines (axis 1) the fast scan acquires.
    seed
        Cohort seed; the subject's own seed is :func:`subject_seed` ``(seed, participant_id)``.
    protocol
        MDME protocol of both scans.

    Returns
    -------
    SimulatedSubject
        Deterministic given the arguments. The anatomy, tissue values, B1 and noise streams are
        drawn from separate child seeds, so e.g. changing ``snr`` changes only the noise.

    Raises
    ------
    ConfigError
        Bad ``n_slices``, ``matrix``, ``snr``, ``fast_phase_fraction`` or a row without
        ``participant_id``.
    """
    if isinstance(row, pd.Series):
        row = row.to_dict()
    participant, (nx, ny), ny_fast, sigma = _check_settings(row, matrix, snr, fast_phase_fraction)
    centres, thickness, _ = slice_geometry(n_slices)
    affine = _affine(nx, ny, n_slices)
    dx, dy = FOV_MM[0] / nx, FOV_MM[1] / ny

    anatomy_ss, values_ss, lesion_ss, b1_ss, routine_ss, fast_ss = subject_seed(
        seed, participant
    ).spawn(6)
    deform = RandomDeformation.draw(
        np.random.default_rng(anatomy_ss), box=_DEFORMATION_BOX, centre=_DEFORMATION_CENTRE
    )
    values = _draw_tissue_values(np.random.default_rng(values_ss))
    factors = (max(1, round(dx)), max(1, round(dy)), max(1, round(thickness)))
    sampled = _sample_template(deform, load_mni152(), affine, centres, thickness, (nx, ny), factors)

    # Lesions (template-space ellipsoids placed in white matter), replacing WM.
    lesion_id = np.zeros(sampled.brain.shape, dtype=np.int8)
    lesion_values: list[TissueValues] = []
    if _has_lesions(row):
        lesion_rng = np.random.default_rng(lesion_ss)
        lesion_id, lesion_values = _add_lesions(
            lesion_rng, sampled, affine, deform, factors, values["lesion"]
        )
    if lesion_values:  # the subject's lesion value is the mean of its lesions
        mean = np.mean([[v.t1, v.t2, v.pd] for v in lesion_values], axis=0)
        values["lesion"] = TissueValues(*(float(m) for m in mean))
    lesion = np.where(lesion_id > 0, sampled.wm, 0.0)
    wm = sampled.wm - lesion

    fractions = {
        "csf": _block_mean(sampled.csf, factors),
        "gm": _block_mean(sampled.cortex, factors),
        "deep_gm": _block_mean(sampled.deep, factors),
        "wm": _block_mean(wm, factors),
        "lesion": _block_mean(lesion, factors),
    }
    t1, t2, pd_map = _truth_maps(
        fractions, sampled, wm, lesion, lesion_id, values, lesion_values, factors
    )
    x_centres = affine[0, 3] + dx * np.arange(nx)
    y_centres = affine[1, 3] + dy * np.arange(ny)
    dseg, regions, lesions = _label_maps(fractions, deform(x_centres, y_centres, centres))

    # B1 and images.
    b1 = _b1_field(x_centres, y_centres, centres, np.random.default_rng(b1_ss))
    b1 = np.broadcast_to(b1, t1.shape)
    clean = _signed_signal(t1, t2, pd_map, b1, protocol)
    routine = _acquire(clean, ny, sigma, np.random.default_rng(routine_ss))
    fast = _acquire(clean, ny_fast, sigma, np.random.default_rng(fast_ss))

    logger.debug(
        "sub-%s: %d lesion(s), WM T1 %.0f ms, SNR %g, matrix %dx%d (fast %dx%d), %d slices",
        *(participant, len(lesion_values), values["wm"].t1, float(snr), nx, ny, nx, ny_fast),
        len(centres),
    )
    f32 = np.float32
    return SimulatedSubject(
        routine=routine.astype(f32),
        fast=fast.astype(f32),
        t1=t1.astype(f32),
        t2=t2.astype(f32),
        pd=pd_map.astype(f32),
        b1=np.ascontiguousarray(b1, dtype=f32),
        dseg=dseg,
        regions=regions,
        lesions=lesions,
        fractions={k: v.astype(f32) for k, v in fractions.items()},
        tissue_values=values,
        routine_affine=affine,
        fast_affine=_affine(nx, ny_fast, n_slices),
        protocol=protocol,
        sigma=sigma,
        slice_thickness=thickness,
    )


def simulate_subject(
    row: Mapping[str, Any],
    *,
    n_slices: int = 6,
    matrix: Sequence[int] = (96, 112),
    snr: float = 60.0,
    fast_phase_fraction: float = 0.5,
    seed: int = 0,
    outputs: Mapping[str, PathLike],
    protocol: MdmeProtocol = DEFAULT_PROTOCOL,
) -> None:
    """Simulate one subject and write its scans, truth maps and labels.

    Parameters
    ----------
    row, n_slices, matrix, snr, fast_phase_fraction, seed, protocol
        See :func:`simulate_arrays`.
    outputs
        Paths by key (any subset of :data:`OUTPUT_KEYS`): ``routine`` and ``fast`` (4D MDME,
        float32, each with its JSON sidecar beside it), ``T1map``, ``T2map``, ``PDmap``,
        ``B1map`` (float32 truth on the routine grid), ``dseg``, ``regions``, ``lesions``
        (uint8 labels on the routine grid). Every file is written atomically, after the whole
        simulation succeeded.

    Raises
    ------
    ConfigError
        An unknown output key, or a bad parameter (see :func:`simulate_arrays`).
    """
    from qmrflow.io import save_nifti, write_json  # nibabel only when writing

    unknown = sorted(set(outputs) - set(OUTPUT_KEYS))
    if unknown:
        raise ConfigError(f"unknown simulate_subject output keys {unknown}; known: {OUTPUT_KEYS}")
    sim = simulate_arrays(
        row,
        n_slices=n_slices,
        matrix=matrix,
        snr=snr,
        fast_phase_fraction=fast_phase_fraction,
        seed=seed,
        protocol=protocol,
    )
    arrays = {
        "routine": (sim.routine, sim.routine_affine),
        "fast": (sim.fast, sim.fast_affine),
        "T1map": (sim.t1, sim.routine_affine),
        "T2map": (sim.t2, sim.routine_affine),
        "PDmap": (sim.pd, sim.routine_affine),
        "B1map": (sim.b1, sim.routine_affine),
        "dseg": (sim.dseg, sim.routine_affine),
        "regions": (sim.regions, sim.routine_affine),
        "lesions": (sim.lesions, sim.routine_affine),
    }
    for key, path in outputs.items():
        data, affine = arrays[key]
        truth = _TRUTH_SIDECARS.get(key)
        save_nifti(data, path, affine, sidecar=truth)
        if key in ("routine", "fast"):
            sidecar = {
                **sim.protocol.to_sidecar(),
                "AcquisitionMatrix": [int(data.shape[0]), int(data.shape[1])],
                "PhaseEncodingDirection": "j",
                "SliceThickness": sim.slice_thickness,
                "SpacingBetweenSlices": float(sim.routine_affine[2, 2]),
                "SimulatedSNR": None if math.isinf(float(snr)) else float(snr),
            }
            write_json(sidecar, sidecar_path(path))
    logger.info("wrote sub-%s (%d outputs)", row["participant_id"], len(outputs))


#: Sidecars of the ground-truth maps (BIDS derivatives; the maps cover the whole head).
_TRUTH_SIDECARS: dict[str, dict[str, object]] = {
    key: {"SkullStripped": False, "Units": units, "Description": f"simulated true {key}"}
    for key, units in MAP_UNITS.items()
}


def write_region_names(path: PathLike) -> Path:
    """Write the region lookup table (``index``, ``name``; background 0 not listed)."""
    from qmrflow.io import write_tsv

    table = pd.DataFrame({"index": np.arange(1, len(REGION_NAMES) + 1), "name": list(REGION_NAMES)})
    return write_tsv(table, path)
