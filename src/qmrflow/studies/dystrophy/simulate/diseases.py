"""Disease model of the dystrophy demo: how each diagnosis is drawn and how it replaces muscle.

Each diagnosis has a class share, a per-muscle involvement profile, age and onset ranges, a
severity rate and a fat pattern (see the package docstring of
:mod:`qmrflow.studies.dystrophy.simulate`). Which diagnoses are positive is not defined here: it
labels real data and lives in :mod:`qmrflow.studies.dystrophy.diagnoses`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Disease:
    """How one diagnosis is drawn and rendered.

    ``involvement`` is per muscle in :data:`MUSCLES` order (1: replaced first, 0: spared);
    ``age`` is (low, high, beta a, beta b); ``onset`` the range of the age at onset;
    ``rate`` the median severity gain per year (severity = 1 - exp(-rate * duration));
    ``mimic`` how much the pattern resembles a dystrophinopathy to a reader (0..1).
    """

    share: float
    involvement: tuple[float, ...]
    age: tuple[float, float, float, float]
    onset: tuple[float, float]
    rate: float
    pattern: str = "streaky"
    male_fraction: float = 0.5
    asymmetry: float = 0.03
    max_duration: float = math.inf
    mimic: float = 0.1


_DMD_LIKE = (0.80, 0.85, 0.75, 0.80, 0.10, 0.05, 0.30, 0.95, 0.85, 0.20, 0.70)
_SARCOGLYCAN = (0.70, 0.80, 0.75, 0.75, 0.25, 0.15, 0.70, 0.95, 0.70, 0.35, 0.65)

_DISEASES: dict[str, _Disease] = {
    "DMD": _Disease(0.79, _DMD_LIKE, (4, 17, 1.6, 2.2), (2, 4.5), 0.16, male_fraction=1.0),
    "BMD": _Disease(
        0.21,
        (0.72, 0.80, 0.72, 0.80, 0.15, 0.10, 0.35, 0.95, 0.80, 0.25, 0.72),
        (6, 52, 1.6, 2.4),
        (4, 30),
        0.035,
        male_fraction=1.0,
    ),
    "LGMD2A": _Disease(
        0.15,
        (0.25, 0.20, 0.55, 0.50, 0.35, 0.55, 0.75, 0.95, 0.70, 0.75, 0.90),
        (12, 55, 1.8, 2.2),
        (8, 35),
        0.06,
        mimic=0.35,
    ),
    "LGMD2B": _Disease(
        0.12,
        (0.35, 0.65, 0.72, 0.60, 0.40, 0.45, 0.70, 0.90, 0.70, 0.60, 0.85),
        (16, 55, 1.8, 2.0),
        (15, 32),
        0.06,
        mimic=0.35,
    ),
    "LGMD2C": _Disease(0.025, _SARCOGLYCAN, (5, 25, 1.5, 2.0), (3, 10), 0.11, mimic=0.7),
    "LGMD2D": _Disease(0.035, _SARCOGLYCAN, (5, 25, 1.5, 2.0), (3, 10), 0.11, mimic=0.7),
    "LGMD2E": _Disease(0.02, _SARCOGLYCAN, (5, 25, 1.5, 2.0), (3, 10), 0.11, mimic=0.7),
    "LGMD2I": _Disease(
        0.06,
        (0.55, 0.65, 0.60, 0.65, 0.25, 0.20, 0.70, 0.95, 0.85, 0.40, 0.85),
        (5, 50, 1.5, 2.0),
        (3, 30),
        0.05,
        mimic=0.85,
    ),
    "Bethlem": _Disease(
        0.07,
        (0.55, 0.80, 0.60, 0.70, 0.40, 0.30, 0.50, 0.65, 0.55, 0.45, 0.55),
        (4, 50, 1.3, 1.8),
        (1, 10),
        0.02,
        pattern="rim",
        mimic=0.15,
    ),
    "FSHMD": _Disease(
        0.08,
        (0.15,) * 11,
        (12, 60, 2.0, 2.0),
        (10, 30),
        0.04,
        asymmetry=0.15,
    ),
    "congenital_myopathy": _Disease(
        0.08,
        (0.30, 0.55, 0.50, 0.55, 0.60, 0.45, 0.50, 0.60, 0.45, 0.45, 0.50),
        (2, 40, 1.2, 2.5),
        (0, 3),
        0.02,
        pattern="diffuse",
    ),
    "GNE_myopathy": _Disease(
        0.06,
        (0.10, 0.10, 0.30, 0.30, 0.55, 0.60, 0.75, 0.85, 0.90, 0.80, 0.90),
        (20, 50, 2.0, 2.0),
        (18, 35),
        0.07,
        mimic=0.2,
    ),
    "MADD": _Disease(
        0.05,
        (0.45, 0.50, 0.50, 0.55, 0.45, 0.45, 0.55, 0.60, 0.60, 0.55, 0.60),
        (10, 50, 1.5, 1.5),
        (8, 50),
        0.12,
        pattern="diffuse",
        max_duration=4.0,
    ),
    "myositis": _Disease(
        0.12,
        (0.55, 0.55, 0.55, 0.55, 0.50, 0.50, 0.55, 0.60, 0.55, 0.55, 0.55),
        (18, 72, 2.0, 2.0),
        (15, 72),
        0.12,
        pattern="patchy",
        asymmetry=0.06,
        max_duration=5.0,
    ),
    "neurogenic": _Disease(
        0.13,
        (0.10,) * 11,
        (5, 70, 1.5, 1.5),
        (2, 65),
        0.05,
        pattern="lumpy",
    ),
}

DIAGNOSES: tuple[str, ...] = tuple(_DISEASES)
"""Every diagnosis name the demo cohort uses (positives first)."""

_GENERIC = _Disease(
    0.0, (0.5,) * 11, (10, 60, 2.0, 2.0), (5, 50), 0.05, pattern="diffuse", mimic=0.2
)
"""Used for diagnosis names outside :data:`DIAGNOSES` (the participants schema allows any)."""

# Nerve territories for the neurogenic pattern (muscle indices).
_TERRITORIES: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 3, 4),  # femoral: quadriceps, sartorius
    (5, 6, 7),  # obturator: gracilis, adductors
    (8, 9, 10),  # sciatic: hamstrings
)
# How often FSHMD picks each muscle (hamstrings, adductor magnus and rectus femoris favoured).
_FSHMD_PICK = np.array([0.15, 0.05, 0.05, 0.03, 0.03, 0.05, 0.07, 0.17, 0.12, 0.10, 0.18])


def _smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)
