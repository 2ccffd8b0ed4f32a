"""One simulated subject of the dystrophy demo: both thighs on every slice, scanner, files."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.io.bids import bids_path, sidecar_path
from qmrflow.studies.dystrophy.simulate.labels import LEFT_OFFSET, MUSCLES, SIDES
from qmrflow.studies.dystrophy.simulate.legs import _extent, _Leg, _make_legs
from qmrflow.studies.dystrophy.simulate.render import _render_leg, _Textures

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SimulatedCase:
    """One simulated subject: slices, ground-truth labels and fat fractions.

    Attributes
    ----------
    participant_id
        Label without ``sub-``.
    images
        float32 (n_slices, X, Y) T1-weighted magnitude in arbitrary scanner units.
    labels
        uint8 (n_slices, X, Y); :data:`LABELS` for the right leg, plus :data:`LEFT_OFFSET`
        for the left leg.
    fat_fraction
        Ground truth, one row per muscle and side: ``muscle``, ``side`` (right/left),
        ``fat_fraction`` (mean of the rendered fat map over the muscle's voxels in all slices).
    affine
        4x4 in-plane voxel-to-RAS affine at z = 0 (see the module docstring).
    slice_z_mm
        float64 (n_slices,), z of each slice (mm, negative below the hip), proximal first.
    leg_gap_px
        int (n_slices,), the smallest number of background pixels between the two legs along
        an image row (0: the skins touch).
    field_strength_t
        1.5 or 3.0, the simulated scanner.
    snr
        Noise level: fat signal over the Rician noise sigma.
    """

    participant_id: str
    images: np.ndarray
    labels: np.ndarray
    fat_fraction: pd.DataFrame
    affine: np.ndarray
    slice_z_mm: np.ndarray
    leg_gap_px: np.ndarray
    field_strength_t: float
    snr: float

    @property
    def n_slices(self) -> int:
        """Number of slices."""
        return int(self.images.shape[0])

    def slice_affine(self, index: int) -> np.ndarray:
        """The 4x4 affine of slice ``index`` (0-based), with its z in the translation."""
        out = self.affine.copy()
        out[2, 3] = float(self.slice_z_mm[index])
        return out

    @property
    def slice_thickness_mm(self) -> float:
        """The slices' thickness (the in-plane affine's z scale)."""
        return float(self.affine[2, 2])

    def volume_affine(self) -> np.ndarray:
        """The 4x4 affine of the slice stack as one volume: the third column steps from one
        slice to the next (the slices are evenly spaced), the translation is the first slice.

        Raises
        ------
        ValueError
            The slices are not evenly spaced (a volume cannot hold them).
        """
        z = self.slice_z_mm
        out = self.slice_affine(0)
        if z.size > 1:
            steps = np.diff(z)
            if not np.allclose(steps, steps[0], rtol=0, atol=1e-6):
                raise ValueError(f"slices are not evenly spaced: z = {z.tolist()}")
            out[2, 2] = float(steps[0])
        return out


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with zero padding (a small point-spread function)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)])
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for k, w in enumerate(taps):
            acc += w * (padded[k : k + n] if axis == 0 else padded[:, k : k + n])
        out = acc
    return out


def _row_extents(mask: np.ndarray, i0: int, j0: int, right: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows j holding body pixels and, per row, the leg's inner edge in image index i.

    For the right leg (low i) the inner edge is the largest i, for the left leg the smallest.
    """
    has = mask.any(axis=0)
    if right:
        ext = mask.shape[0] - 1 - np.argmax(mask[::-1, :], axis=0) + i0
    else:
        ext = np.argmax(mask, axis=0) + i0
    return np.nonzero(has)[0] + j0, ext[has]


def _gap(right: tuple[np.ndarray, np.ndarray], left: tuple[np.ndarray, np.ndarray]) -> int | None:
    """Smallest number of background pixels between the legs along a row (None: no overlap)."""
    _, ir, il = np.intersect1d(right[0], left[0], assume_unique=True, return_indices=True)
    if len(ir) == 0:
        return None
    return int((left[1][il] - right[1][ir]).min()) - 1


def _paste(dest: np.ndarray, src: np.ndarray, origin: tuple[int, int], where: np.ndarray) -> None:
    """Copy ``src[where]`` into ``dest`` at ``origin``, clipping at the image border."""
    i0, j0 = origin
    a0, b0 = max(i0, 0), max(j0, 0)
    a1 = min(i0 + src.shape[0], dest.shape[0])
    b1 = min(j0 + src.shape[1], dest.shape[1])
    if a1 <= a0 or b1 <= b0:
        return
    s = (slice(a0 - i0, a1 - i0), slice(b0 - j0, b1 - j0))
    d = (slice(a0, a1), slice(b0, b1))
    np.copyto(dest[d], src[s], where=where[s])


def _as_mapping(row: Mapping[str, Any] | pd.Series) -> Mapping[str, Any]:
    return row.to_dict() if isinstance(row, pd.Series) else row


@dataclass(frozen=True)
class _Placement:
    """Where the two thighs sit: slice positions, gap between the legs and the pair centre."""

    t_slices: np.ndarray  # position along the femur (0 hip, 1 knee)
    slice_z: np.ndarray  # mm
    dz: float
    phases: np.ndarray
    gap_px: int
    pair_x: float  # mm from the image corner
    pair_y: float


def _place_legs(
    legs: list[_Leg],
    settings: Mapping[str, Any],
    rng: np.random.Generator,
    n_slices: int,
    shape: tuple[int, int],
    spacing: tuple[float, float],
) -> _Placement:
    """Draw the slice positions and the leg gap; fit both legs in the field of view.

    A wide gap is narrowed first, then the thighs are scaled down (small fields of view); the
    legs in ``legs`` are scaled in place.
    """
    (nx, ny), (dx, dy) = shape, spacing
    age = settings["age"]
    femur_len = 430.0 if age >= 17 else 200.0 + 15.0 * (max(age, 2.0) - 2.0)
    dz = float(rng.uniform(5.0, 8.0))
    t_mid = float(rng.uniform(0.38, 0.55))
    t_slices = t_mid + (np.arange(n_slices) - (n_slices - 1) / 2) * dz / femur_len
    slice_z = -t_slices * femur_len
    phases = rng.uniform(0, 2 * np.pi) + np.arange(n_slices) * 0.35

    touching = rng.random() < (0.15 if legs[0].fat < 20 else 0.35)
    gap_px = int(rng.integers(0, 3)) if touching else round(rng.uniform(5.0, 55.0) / dx)
    jitter = rng.normal(0.0, 6.0, size=2)

    # Fit both legs in the field of view with a 4-pixel margin.
    fov_x, fov_y = nx * dx, ny * dy
    taper_max = 1.0 - 0.4 * (float(t_slices.min()) - 0.5)
    extents = [_extent(lg, taper_max) for lg in legs]
    half_x, half_y = extents[0][0] + extents[1][0], max(extents[0][1], extents[1][1])
    avail_x, avail_y = fov_x - 8 * dx, fov_y - 8 * dy
    if not touching and 2 * half_x + gap_px * dx > avail_x:
        gap_px = max(round(5.0 / dx), 3, math.floor((avail_x - 2 * half_x) / dx))
    tilt = abs(math.sin(settings["pelvis"]))
    scale = min(
        1.0,
        0.98 * (avail_x - gap_px * dx) / (2 * half_x),
        0.98 * (avail_y - tilt * gap_px * dx) / (2 * half_y + tilt * 2 * half_x),
    )
    if scale < 1.0:
        for lg in legs:
            lg.r_comp *= scale
            lg.fat *= scale
            lg.skin *= scale
        half_x, half_y = half_x * scale, half_y * scale
    slack_x = max(0.0, (avail_x - 2 * half_x - gap_px * dx) / 2)
    slack_y = max(0.0, (avail_y - 2 * half_y - tilt * (2 * half_x + gap_px * dx)) / 2)
    pair_x = fov_x / 2 + float(np.clip(jitter[0], -slack_x, slack_x))
    pair_y = fov_y / 2 + float(np.clip(jitter[1], -slack_y, slack_y))
    return _Placement(t_slices, slice_z, dz, phases, gap_px, pair_x, pair_y)


@dataclass(frozen=True)
class _Scanner:
    """The simulated scanner of one case: field strength, SNR, gain, bias field, blur."""

    field_strength: float
    snr: float
    gain: float
    bias_coef: np.ndarray
    psf: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Scanner:
        field_strength = 3.0 if rng.random() < 0.5 else 1.5
        snr = float(np.exp(rng.uniform(np.log(12), np.log(35))))
        if field_strength == 3.0:
            snr *= 1.7
        gain = float(rng.uniform(500, 1300) if field_strength == 1.5 else rng.uniform(1200, 3500))
        bias_coef = rng.normal(0.0, 0.10 if field_strength == 1.5 else 0.18, size=5)
        psf = float(rng.uniform(0.45, 0.7))
        return cls(field_strength, snr, gain, bias_coef, psf)

    def acquire(
        self, signal: np.ndarray, xn: np.ndarray, yn: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Partial volume, a slice's quadratic bias field, gain and Rician noise."""
        img = _blur(signal, self.psf)
        cb = (self.bias_coef + rng.normal(0.0, 0.02, size=5)).astype(np.float32)
        log_bias = (cb[0] * xn + cb[2] * xn**2)[:, None] + (cb[1] * yn + cb[3] * yn**2)[None, :]
        log_bias += cb[4] * np.outer(xn, yn)
        img *= np.exp(log_bias)
        sigma = np.float32(1.0 / self.snr)
        real = img + sigma * rng.standard_normal(img.shape, dtype=np.float32)
        imag = sigma * rng.standard_normal(img.shape, dtype=np.float32)
        return np.sqrt(real * real + imag * imag) * np.float32(self.gain)


def _render_slice(
    legs: list[_Leg],
    k: int,
    place: _Placement,
    settings: Mapping[str, Any],
    textures: _Textures,
    rng: np.random.Generator,
    shape: tuple[int, int],
    spacing: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Both thighs on slice ``k``: noise-free signal, labels, fat map and the measured gap."""
    (nx, ny), (dx, dy) = shape, spacing
    t = place.t_slices[k]
    # Both legs within a span of twice their outer radii plus the gap, along the pelvis
    # axis; the left leg is then moved to make the gap exact (only inwards).
    taper = 1.0 - 0.4 * (t - 0.5)
    r_right, r_left = (_extent(lg, taper)[0] for lg in legs)
    span = 2 * (r_right + r_left) + place.gap_px * dx
    ex, ey = math.cos(settings["pelvis"]), -math.sin(settings["pelvis"])
    off_right, off_left = span / 2 - r_right, span / 2 - r_left
    centres = [
        ((place.pair_x - off_right * ex) / dx, (place.pair_y - off_right * ey) / dy),
        ((place.pair_x + off_left * ex) / dx, (place.pair_y + off_left * ey) / dy),
    ]
    phase = float(place.phases[k])
    rendered = [
        _render_leg(lg, float(t), phase, c, (dx, dy), settings, textures, rng)
        for lg, c in zip(legs, centres, strict=True)
    ]
    # Shift the left leg by whole pixels so that the narrowest gap is exactly gap_px.
    (oi_r, oj_r), lab_r, _, _ = rendered[0]
    (oi_l, oj_l), lab_l, _, _ = rendered[1]
    current = _gap(
        _row_extents(lab_r > 0, oi_r, oj_r, right=True),
        _row_extents(lab_l > 0, oi_l, oj_l, right=False),
    )
    shift = 0 if current is None else place.gap_px - current
    origins = [(oi_r, oj_r), (oi_l + shift, oj_l)]

    signal = np.zeros((nx, ny), dtype=np.float32)
    labels = np.zeros((nx, ny), dtype=np.uint8)
    fatmap = np.full((nx, ny), np.nan, dtype=np.float32)
    for side, ((_, lab, fat, sig), origin) in enumerate(zip(rendered, origins, strict=True)):
        body = lab > 0
        if side == 1:
            lab = np.where(body, lab + np.uint8(LEFT_OFFSET), lab)
        _paste(labels, lab, origin, body)
        _paste(signal, sig, origin, body)
        _paste(fatmap, fat, origin, body)

    # Measured gap (background pixels between the legs along a row) after clipping.
    measured = _gap(
        _row_extents((labels > 0) & (labels < LEFT_OFFSET), 0, 0, right=True),
        _row_extents(labels > LEFT_OFFSET, 0, 0, right=False),
    )
    return signal, labels, fatmap, nx if measured is None else measured


def _fat_fraction_table(
    ff_sum: np.ndarray, ff_count: np.ndarray, legs: list[_Leg], participant_id: object
) -> pd.DataFrame:
    """Per-muscle, per-side ground-truth fat fraction (mean of the fat map over all slices)."""
    records = []
    for side, name in enumerate(SIDES):
        for m, muscle in enumerate(MUSCLES):
            lab_id = m + 1 + side * LEFT_OFFSET
            if ff_count[lab_id] > 0:
                value = ff_sum[lab_id] / ff_count[lab_id]
            else:  # muscle absent from every slice (adductor longus distally): nominal level
                value = float(1.0 / (1.0 + np.exp(-legs[side].logit_ff[m])))
                logger.debug("sub-%s: %s %s absent from all slices", participant_id, name, muscle)
            records.append({"muscle": muscle, "side": name, "fat_fraction": float(value)})
    return pd.DataFrame(records)


def simulate_case(
    row: Mapping[str, Any],
    n_slices: int,
    *,
    shape: tuple[int, int] = (256, 192),
    spacing_mm: tuple[float, float] = (1.5625, 1.5625),
) -> SimulatedCase:
    """Render one subject's axial mid-thigh T1w slices with their ground truth.

    Parameters
    ----------
    row
        A row of :func:`demo_participants` (mapping or pandas Series) with at least
        ``participant_id``, ``diagnosis``, ``severity`` and ``seed``; ``age`` and ``sex``
        are used when present.
    n_slices
        Number of contiguous slices around mid-thigh (5 to 8 mm apart).
    shape
        (X, Y) image size; X runs across both legs.
    spacing_mm
        In-plane pixel size (mm).

    Returns
    -------
    SimulatedCase
        Images, labels, per-muscle fat fractions and geometry. Deterministic given
        ``row["seed"]`` (and the other arguments).

    Raises
    ------
    ConfigError
        ``n_slices`` < 1, or a required column is missing from ``row``.
    """
    row = _as_mapping(row)
    missing = [k for k in ("participant_id", "diagnosis", "severity", "seed") if k not in row]
    if missing:
        raise ConfigError(f"participant row lacks {missing}")
    if int(n_slices) < 1:
        raise ConfigError(f"n_slices must be >= 1, got {n_slices}")
    n_slices = int(n_slices)
    size = (int(shape[0]), int(shape[1]))
    spacing = (float(spacing_mm[0]), float(spacing_mm[1]))
    rng = np.random.default_rng(np.random.SeedSequence([int(row["seed"]), 2]))
    legs, settings = _make_legs(row, rng)
    place = _place_legs(legs, settings, rng, n_slices, size, spacing)
    scanner = _Scanner.draw(rng)
    textures = _Textures.draw(rng, settings["pattern"])

    xn = np.linspace(-1.0, 1.0, size[0], dtype=np.float32)
    yn = np.linspace(-1.0, 1.0, size[1], dtype=np.float32)
    images = np.empty((n_slices, *size), dtype=np.float32)
    label_maps = np.empty((n_slices, *size), dtype=np.uint8)
    gaps = np.empty(n_slices, dtype=np.int64)
    ff_sum = np.zeros(2 * LEFT_OFFSET)
    ff_count = np.zeros(2 * LEFT_OFFSET)
    for k in range(n_slices):
        signal, labels, fatmap, gaps[k] = _render_slice(
            legs, k, place, settings, textures, rng, size, spacing
        )
        valid = np.isfinite(fatmap)
        ff_sum += np.bincount(labels[valid], weights=fatmap[valid], minlength=2 * LEFT_OFFSET)
        ff_count += np.bincount(labels[valid], minlength=2 * LEFT_OFFSET)
        images[k] = scanner.acquire(signal, xn, yn, rng)
        label_maps[k] = labels

    (nx, ny), (dx, dy) = size, spacing
    affine = np.array(
        [
            [-dx, 0.0, 0.0, dx * (nx - 1) / 2],
            [0.0, -dy, 0.0, dy * (ny - 1) / 2],
            [0.0, 0.0, min(place.dz, 5.0), 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    logger.debug(
        "sub-%s: %s severity %.2f, %d slices, gap %s px, %.1f T, SNR %.0f",
        row["participant_id"],
        row["diagnosis"],
        float(row["severity"]),
        n_slices,
        gaps.tolist(),
        scanner.field_strength,
        scanner.snr,
    )
    return SimulatedCase(
        participant_id=str(row["participant_id"]),
        images=images,
        labels=label_maps,
        fat_fraction=_fat_fraction_table(ff_sum, ff_count, legs, row["participant_id"]),
        affine=affine,
        slice_z_mm=place.slice_z.astype(np.float64),
        leg_gap_px=gaps,
        field_strength_t=scanner.field_strength,
        snr=scanner.snr,
    )


def write_case(
    row: Mapping[str, Any], root: Path, n_slices: int, **simulate_kwargs: Any
) -> list[Path]:
    """Simulate one subject and write its images and ground truth, as BIDS.

    Writes the slice stack as one 3D volume ``root/sub-<id>/anat/sub-<id>_T1w.nii.gz``
    (float32, (X, Y, n_slices), proximal slice first; the third affine column steps from one
    slice to the next, as dcm2niix writes a multi-slice series) with its JSON sidecar
    (``MagneticFieldStrength``, ``SliceThickness``; no ``SpacingBetweenSlices`` key is needed
    since the affine holds it), the label maps as
    ``root/derivatives/truth/sub-<id>/anat/sub-<id>_dseg.nii.gz`` (uint8, same grid) and the
    per-muscle fat fractions as ``root/derivatives/truth/sub-<id>/sub-<id>_fatfraction.tsv``.

    Parameters
    ----------
    row
        A row of :func:`demo_participants`.
    root
        Dataset root.
    n_slices
        Slices per subject.
    **simulate_kwargs
        Passed to :func:`simulate_case` (``shape``, ``spacing_mm``).

    Returns
    -------
    list of Path
        The image, its sidecar, the label map and the fat-fraction table.
    """
    from qmrflow.io import save_nifti, write_json, write_tsv  # nibabel only when writing

    row = _as_mapping(row)
    case = simulate_case(row, n_slices, **simulate_kwargs)
    sub = case.participant_id
    truth = Path(root) / "derivatives" / "truth"
    affine = case.volume_affine()
    image = save_nifti(np.moveaxis(case.images, 0, 2), bids_path(root, "T1w", sub=sub), affine)
    sidecar = write_json(
        {
            "Modality": "MR",
            "MagneticFieldStrength": case.field_strength_t,
            "MRAcquisitionType": "2D",
            "SliceThickness": case.slice_thickness_mm,
            "ScanningSequence": "SE",
            "SeriesDescription": "T1 TSE axial thigh (qmrflow demo simulation)",
        },
        sidecar_path(image),
    )
    labels = save_nifti(np.moveaxis(case.labels, 0, 2), bids_path(truth, "dseg", sub=sub), affine)
    table_path = bids_path(truth, "fatfraction", ".tsv", datatype=None, sub=sub)
    table = write_tsv(case.fat_fraction, table_path)
    logger.info("wrote sub-%s (%s, %d slices)", sub, row["diagnosis"], case.n_slices)
    return [image, sidecar, labels, table]
