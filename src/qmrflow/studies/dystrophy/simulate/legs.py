"""The two thighs of a simulated subject: their geometry, muscle layout and fat levels.

:func:`_make_legs` draws both legs of one subject (outline, fat and skin thickness, muscle seeds
and warps, per-muscle fat fraction from the diagnosis' involvement profile) and the case-level
settings; :func:`_outline` gives the skin and muscle-compartment radius in any direction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.simulate.fields import periodic_field
from qmrflow.studies.dystrophy.diagnoses import POSITIVE_DIAGNOSES
from qmrflow.studies.dystrophy.simulate.diseases import (
    _DISEASES,
    _FSHMD_PICK,
    _GENERIC,
    _TERRITORIES,
    _Disease,
    _smoothstep,
)

logger = logging.getLogger(__name__)

# Muscle layout: seeds (u medial, v anterior) in radius-normalised compartment coordinates and
# power-diagram weights at mid-thigh (t = 0.5), with their change per unit of t (0 = hip,
# 1 = knee).
_SEED_MID = np.array(
    [
        [-0.02, 0.76],  # rectus_femoris
        [-0.68, 0.20],  # vastus_lateralis
        [0.36, 0.52],  # vastus_medialis
        [-0.14, 0.34],  # vastus_intermedius
        [0.70, 0.22],  # sartorius
        [0.86, -0.26],  # gracilis
        [0.50, 0.02],  # adductor_longus
        [0.30, -0.30],  # adductor_magnus
        [-0.44, -0.64],  # biceps_femoris_long
        [0.04, -0.84],  # semitendinosus
        [0.44, -0.72],  # semimembranosus
    ]
)
_SEED_SLOPE = np.array(
    [
        [0.0, 0.05],
        [0.0, 0.0],
        [-0.05, -0.10],
        [0.0, 0.0],
        [0.30, -0.90],
        [0.0, 0.0],
        [0.0, 0.10],
        [0.0, 0.0],
        [0.0, 0.0],
        [0.0, 0.0],
        [0.0, 0.0],
    ]
)
_WEIGHT_MID = np.array([-0.03, 0.03, -0.01, 0.03, -0.06, -0.07, -0.05, 0.05, -0.02, 0.01, 0.03])
_WEIGHT_SLOPE = np.array([-0.08, 0.0, 0.14, 0.0, 0.0, 0.0, -0.30, -0.20, 0.0, -0.06, 0.12])
_FEMUR_Q = np.array([-0.17, 0.20])


@dataclass
class _Leg:
    """Geometry and tissue properties of one thigh, constant over the slices."""

    side: int  # 0 right, 1 left
    r_comp: float  # muscle compartment radius (mm) at mid-thigh
    fat: float  # subcutaneous fat thickness (mm)
    skin: float  # skin thickness (mm)
    aspect: float
    fourier: np.ndarray  # (3, 2): amplitude, phase for k = 2, 3, 4
    fat_fourier: np.ndarray  # (2, 2): amplitude, phase for k = 1, 2
    fat_angle: float
    flatten: float
    angle: float  # in-plane rotation (rad)
    femur_q: np.ndarray
    femur_ratio: float
    marrow_ratio: float
    seeds: np.ndarray  # (11, 2) seed jitter
    weights: np.ndarray  # (11,) weight offsets
    warp: np.ndarray  # (2, 2, G, G) two warp fields
    logit_ff: np.ndarray  # (11,) muscle fat fraction logits
    gain: np.ndarray  # (11,) texture gain per muscle
    muscle_sig: np.ndarray  # (11,) healthy muscle signal
    fibre: np.ndarray  # (11, 2) cos/sin of the in-plane direction of fat streaks


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _involvement(
    diagnosis: str, spec: _Disease, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per-muscle involvement (11,) and per-leg severity factor (2,) for one subject."""
    inv = np.asarray(spec.involvement, dtype=float).copy()
    legs = np.ones(2)
    if diagnosis == "FSHMD":
        picked = rng.choice(11, size=int(rng.integers(2, 6)), replace=False, p=_FSHMD_PICK)
        inv[picked] = rng.uniform(0.8, 0.98, size=len(picked))
        legs[int(rng.integers(2))] = rng.uniform(0.5, 0.9)
    elif diagnosis == "neurogenic":
        n_terr = 1 if rng.random() < 0.7 else 2
        for t in rng.choice(len(_TERRITORIES), size=n_terr, replace=False):
            inv[list(_TERRITORIES[t])] = rng.uniform(0.85, 0.98)
        legs[int(rng.integers(2))] = rng.uniform(0.1, 0.6)
    elif diagnosis == "myositis":
        inv = np.clip(inv + rng.normal(0.0, 0.12, size=11), 0.0, 1.0)
    elif diagnosis in ("MADD", "congenital_myopathy") or diagnosis not in _DISEASES:
        inv = np.clip(inv + rng.normal(0.0, 0.06, size=11), 0.0, 1.0)
    return inv, legs


@dataclass(frozen=True)
class _CaseDraw:
    """Case-level draws shared by both legs (inputs of :func:`_draw_leg`)."""

    diagnosis: str
    spec: _Disease
    severity: float
    r_comp: float
    fat: float
    inv: np.ndarray
    leg_factor: np.ndarray
    base_ff: float
    ff_max: float
    onset: np.ndarray
    gain: float
    muscle_level: float
    pelvis: float


def _make_legs(row: Mapping[str, Any], rng: np.random.Generator) -> tuple[list[_Leg], dict]:
    """Draw both thighs and the case-level settings."""
    diagnosis = str(row["diagnosis"])
    spec = _DISEASES.get(diagnosis)
    if spec is None:
        logger.warning("diagnosis %r is not one of the demo's; using a generic pattern", diagnosis)
        spec = _GENERIC
    severity = float(np.clip(float(row["severity"]), 0.0, 1.0))
    age = row.get("age")
    age = 30.0 if age is None or pd.isna(age) else float(age)
    sex = "F" if row.get("sex") == "F" else "M"
    child = min(max(age, 2.0), 17.0)

    # Body size (mm): muscle compartment radius and subcutaneous fat.
    if age < 17:
        r_comp = 26.0 + 2.9 * (child - 2.0)
    else:
        r_comp = 70.0 if sex == "M" else 61.0
    r_comp *= math.exp(rng.normal(0.0, 0.08)) * (1.0 - 0.08 * severity)
    if age < 17:
        fat = 7.0 + 0.3 * child
    else:
        fat = 10.0 if sex == "M" else 19.0
    fat *= math.exp(rng.normal(0.0, 0.35))
    if diagnosis == "DMD":
        fat += 8.0 * severity * rng.random()  # steroid-related adiposity
    fat = float(np.clip(fat, 3.0, 40.0))

    inv, leg_factor = _involvement(diagnosis, spec, rng)
    base_ff = float(np.clip(0.03 + 0.0012 * age + rng.normal(0.0, 0.01), 0.015, 0.15))
    ff_max = rng.uniform(0.85, 0.95)
    onset_case = (1.0 - inv) * 0.75 + rng.normal(0.0, 0.06, size=11)
    gain_case = {"streaky": 1.7, "rim": 0.8, "patchy": 0.7, "lumpy": 0.9, "diffuse": 0.6}[
        spec.pattern
    ]
    muscle_level = rng.uniform(0.26, 0.36)
    pelvis = rng.normal(0.0, math.radians(3.0))
    case = _CaseDraw(
        diagnosis=diagnosis,
        spec=spec,
        severity=severity,
        r_comp=r_comp,
        fat=fat,
        inv=inv,
        leg_factor=leg_factor,
        base_ff=base_ff,
        ff_max=ff_max,
        onset=onset_case,
        gain=gain_case,
        muscle_level=muscle_level,
        pelvis=pelvis,
    )
    legs = [_draw_leg(side, case, rng) for side in (0, 1)]
    settings = {
        "pattern": spec.pattern,
        "age": age,
        "pelvis": pelvis,
        "marrow_sig": float(np.clip(0.45 + 0.04 * age, 0.5, 0.93)),
        "muscle_level": muscle_level,
    }
    return legs, settings


def _draw_leg(side: int, case: _CaseDraw, rng: np.random.Generator) -> _Leg:
    """Draw one thigh (``side`` 0 right, 1 left) from the case-level draws."""
    diagnosis, base_ff = case.diagnosis, case.base_ff
    sev = case.severity * case.leg_factor[side]
    onset = case.onset + rng.normal(0.0, case.spec.asymmetry, size=11)
    ff = base_ff + (case.ff_max - base_ff) * _smoothstep((sev - onset) / 0.35)
    ff = np.clip(ff + rng.normal(0.0, 0.01, size=11), 0.01, 0.97)
    gain = case.gain * np.clip((ff - base_ff) / 0.25, 0.15, 1.0)
    weights = rng.normal(0.0, 0.012, size=11)
    r_leg = case.r_comp
    if diagnosis in POSITIVE_DIAGNOSES:  # relative hypertrophy of the spared muscles
        weights[[4, 5, 9]] += 0.03 * sev
    if diagnosis == "neurogenic":  # denervated muscles shrink
        weights -= 0.05 * sev * (case.inv > 0.5)
        r_leg *= 1.0 - 0.12 * sev
    fibre = rng.uniform(0.0, np.pi, size=11)
    warp = 0.07 * periodic_field(rng, (2, 2, 24, 24), (2.2, 2.2))
    return _Leg(
        side=side,
        r_comp=r_leg,
        fat=case.fat * math.exp(rng.normal(0.0, 0.05)),
        skin=rng.uniform(1.2, 2.0),
        aspect=math.exp(rng.normal(0.04, 0.05)),
        fourier=np.column_stack(
            [rng.normal(0.0, [0.03, 0.015, 0.008]), rng.uniform(0, 2 * np.pi, size=3)]
        ),
        fat_fourier=np.column_stack(
            [rng.normal(0.0, 0.12, size=2), rng.uniform(0, 2 * np.pi, size=2)]
        ),
        fat_angle=rng.uniform(-2.0, -0.5),
        flatten=rng.uniform(0.8, 0.97),
        angle=case.pelvis + rng.normal(0.0, math.radians(6.0)),
        femur_q=_FEMUR_Q + rng.normal(0.0, 0.03, size=2),
        femur_ratio=rng.uniform(0.17, 0.21),
        marrow_ratio=rng.uniform(0.5, 0.62),
        seeds=rng.normal(0.0, 0.035, size=(11, 2)),
        weights=weights,
        warp=warp,
        logit_ff=_logit(ff).astype(np.float32),
        gain=gain.astype(np.float32),
        muscle_sig=(case.muscle_level * (1.0 + rng.normal(0.0, 0.03, size=11))).astype(np.float32),
        fibre=np.column_stack([np.cos(fibre), np.sin(fibre)]).astype(np.float32),
    )


def _extent(leg: _Leg, taper: float) -> tuple[float, float]:
    """Half-extents (mm) of a thigh's skin outline along the image x and y axes."""
    theta = np.linspace(0.0, 2 * np.pi, 180, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    r_skin, _ = _outline(c, s, leg, (leg.r_comp + leg.fat) * taper + leg.skin, leg.fat * taper)
    # Leg frame (medial, anterior) to image axes (x up to a sign, y anterior up to a sign).
    x = r_skin * (c * math.cos(leg.angle) - s * math.sin(leg.angle))
    y = r_skin * (c * math.sin(leg.angle) + s * math.cos(leg.angle))
    return float(np.abs(x).max()) + 0.5, float(np.abs(y).max()) + 0.5


def _harmonics(c: np.ndarray, s: np.ndarray, kmax: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """cos(k theta), sin(k theta) for k = 1..kmax from cos and sin (no trigonometry)."""
    out = [(c, s)]
    for _ in range(kmax - 1):
        ck, sk = out[-1]
        out.append((ck * c - sk * s, sk * c + ck * s))
    return out


def _outline(
    c: np.ndarray, s: np.ndarray, leg: _Leg, base: float, fat: float
) -> tuple[np.ndarray, np.ndarray]:
    """Skin radius and muscle-compartment radius (mm) in the direction (cos, sin).

    Directions are in the leg frame: cos along medial, sin along anterior.
    """
    harm = _harmonics(c, s, 4)
    r = base / np.sqrt((c / leg.aspect) ** 2 + (s * leg.aspect) ** 2 + 1e-12)
    wobble = 1.0
    for (amp, phase), (ck, sk) in zip(leg.fourier, harm[1:], strict=True):
        wobble = wobble + amp * (ck * math.cos(phase) - sk * math.sin(phase))
    r = r * wobble
    # Flattened posteriorly where the thigh rests on the table: smooth minimum (p = 6) of the
    # outline and the line v = -flatten * base / aspect.
    z = r * np.maximum(-s, 0.0) * (leg.aspect / (leg.flatten * base))
    z2 = z * z
    r_skin = r / np.cbrt(1.0 + z2 * z2 * z2) ** 0.5
    thick = 1.0 + 0.3 * (c * math.cos(leg.fat_angle) + s * math.sin(leg.fat_angle))
    for (amp, phase), (ck, sk) in zip(leg.fat_fourier, harm[:2], strict=True):
        thick = thick + amp * (ck * math.cos(phase) - sk * math.sin(phase))
    r_m = r_skin - leg.skin - fat * np.maximum(thick, 0.3)
    return r_skin, np.maximum(r_m, 0.3 * r_skin)
