"""Simulated thigh-MRI demo cohort with ground truth for the dystrophinopathy study.

The demo reproduces the set-up of Yang et al. (BMC Neurology 2021): axial mid-thigh
T1-weighted slices of both legs, dystrophinopathy (DMD, BMD) against other muscle diseases.
Everything here is synthetic and generated from seeds: :func:`demo_participants` draws the
cohort table, :func:`simulate_case` renders one subject's slices with their label maps and
per-muscle fat fractions, :func:`write_case` stores them as a BIDS-like tree, and
:func:`simulate_ratings` draws the calls of human readers for the test split.

Image geometry
--------------
Arrays are indexed ``(x, y)`` as in NIfTI: ``x`` (the long image axis, 256 by default) runs
across both legs from the patient's right to the patient's left, ``y`` (192) from anterior to
posterior. The right thigh therefore lies at low ``x``, the left thigh at high ``x``. The
in-plane affine maps to RAS+ millimetres::

    [[-dx,   0,   0, dx * (X - 1) / 2],
     [  0, -dy,   0, dy * (Y - 1) / 2],
     [  0,   0,  dz,               z ],
     [  0,   0,   0,               1 ]]

so the image centre sits at x = y = 0. ``SimulatedCase.affine`` holds it with ``z = 0``;
the slices lie at different heights along the femur, given by ``SimulatedCase.slice_z_mm``
(negative: distal to the hip), and ``SimulatedCase.slice_affine(k)`` returns slice ``k``'s
affine with its z in the translation. ``dz`` is the slice thickness.

Label table
-----------
:data:`LABELS` holds the right-leg labels. The left leg's labels are the same ids plus
:data:`LEFT_OFFSET` (20), so that both legs can be told apart in one map:

====================  =====  =====
tissue                right  left
====================  =====  =====
background                0      0
rectus_femoris            1     21
vastus_lateralis          2     22
vastus_medialis           3     23
vastus_intermedius        4     24
sartorius                 5     25
gracilis                  6     26
adductor_longus           7     27
adductor_magnus           8     28
biceps_femoris_long       9     29
semitendinosus           10     30
semimembranosus          11     31
subcutaneous_fat         12     32
intermuscular_fat        13     33
fascia                   14     34
femur_cortex             15     35
marrow                   16     36
skin                     17     37
neurovascular            18     38
====================  =====  =====

Anatomy and disease model
-------------------------
Each thigh is a rounded outline (ellipse with low-order Fourier perturbation, flattened
posteriorly where it rests on the table) with skin, a subcutaneous fat ring and a muscle
compartment. Inside the compartment the 11 muscles are the cells of a power diagram of
anatomically placed seeds in radius-normalised coordinates, warped by a smooth random field;
the seeds and sizes move with the slice position (adductor magnus and longus larger
proximally, vastus medialis and semimembranosus larger distally, sartorius spiralling from
anterior to medial). Cell borders are thin fascia; the femoral and sciatic neurovascular
bundles sit in small intermuscular fat pads; the femur has a dark cortex with the linea
aspera and a marrow cavity (red marrow in young children, yellow later).

Each muscle's fat fraction follows the subject's ``severity`` through a diagnosis-specific
involvement profile (a muscle with involvement ``a`` starts replacing at severity
``0.75 (1 - a)``): dystrophinopathy spares sartorius, gracilis and semitendinosus (the
"trefoil") and relatively the adductor longus (the "single fruit") while adductor magnus,
biceps femoris long head, the quadriceps and semimembranosus go early, roughly symmetrically;
spared muscles are slightly enlarged (relative hypertrophy); BMD is the same pattern at a
lower severity for the same duration. LGMD2I and the sarcoglycanopathies mimic it; LGMD2A
spares vastus lateralis and involves semitendinosus; GNE myopathy spares the quadriceps;
Bethlem myopathy fattens the rim of each muscle ("outside-in"); neurogenic disease involves
one or two nerve territories, one leg worse, with atrophy; FSHMD picks a few muscles
asymmetrically; myositis (patchy, oedema-like low signal), MADD and congenital myopathy are
mild and diffuse. The fat inside a muscle is streaky and mottled (a logistic map of
smooth random fields) rather than a uniform brightening, and the ground-truth fat fraction of
a muscle is the mean of the rendered per-pixel fat map over its voxels in all slices.

T1-weighted intensity is fat ~1.0, healthy muscle ~0.3, mixed by the pixel's fat fraction,
then blurred slightly (partial volume), multiplied by a smooth quadratic bias field and a
per-scanner gain (1.5 T / 3 T style), and given Rician noise (SNR 12 to 60 relative to fat).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError

logger = logging.getLogger(__name__)

POSITIVE_DIAGNOSES: frozenset[str] = frozenset({"DMD", "BMD"})
"""Diagnoses counted as dystrophinopathy (the positive class)."""

MUSCLES: tuple[str, ...] = (
    "rectus_femoris",
    "vastus_lateralis",
    "vastus_medialis",
    "vastus_intermedius",
    "sartorius",
    "gracilis",
    "adductor_longus",
    "adductor_magnus",
    "biceps_femoris_long",
    "semitendinosus",
    "semimembranosus",
)
"""The 11 thigh muscles, in label order (right-leg labels 1 to 11)."""

LEFT_OFFSET: int = 20
"""Added to every non-background right-leg label to give the left-leg label."""

LABELS: dict[str, int] = {
    "background": 0,
    "rectus_femoris": 1,
    "vastus_lateralis": 2,
    "vastus_medialis": 3,
    "vastus_intermedius": 4,
    "sartorius": 5,
    "gracilis": 6,
    "adductor_longus": 7,
    "adductor_magnus": 8,
    "biceps_femoris_long": 9,
    "semitendinosus": 10,
    "semimembranosus": 11,
    "subcutaneous_fat": 12,
    "intermuscular_fat": 13,
    "fascia": 14,
    "femur_cortex": 15,
    "marrow": 16,
    "skin": 17,
    "neurovascular": 18,
}
"""Right-leg label ids; the left leg uses ``id + LEFT_OFFSET`` (background stays 0)."""

SIDES: tuple[str, str] = ("right", "left")
"""Leg names in the order used by the fat-fraction table."""

_M = {name: i for i, name in enumerate(MUSCLES)}
_LAB_SUBCUT = LABELS["subcutaneous_fat"]
_LAB_IMFAT = LABELS["intermuscular_fat"]
_LAB_FASCIA = LABELS["fascia"]
_LAB_CORTEX = LABELS["femur_cortex"]
_LAB_MARROW = LABELS["marrow"]
_LAB_SKIN = LABELS["skin"]
_LAB_NV = LABELS["neurovascular"]


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


# --------------------------------------------------------------------------------------------
# Cohort table
# --------------------------------------------------------------------------------------------


def _largest_remainder(
    total: int, weights: Sequence[float] | np.ndarray, minimum: int | np.ndarray = 0
) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (each >= ``minimum``)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    base = np.broadcast_to(np.asarray(minimum, dtype=int), w.shape).copy()
    rest = total - int(base.sum())
    if rest < 0:
        raise ConfigError(f"cannot split {total} items into parts of at least {minimum}")
    exact = w * rest
    counts = np.floor(exact).astype(int)
    left = rest - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:left]] += 1
    return base + counts


def _subject_seed(seed: int, index: int) -> int:
    """A subject's seed, derived from the cohort seed and its index (stable across versions)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _draw_subject(diagnosis: str, rng: np.random.Generator) -> dict[str, Any]:
    """Age, sex, disease duration and severity for one subject."""
    spec = _DISEASES.get(diagnosis, _GENERIC)
    lo, hi, a, b = spec.age
    age = lo + (hi - lo) * rng.beta(a, b)
    onset_hi = min(spec.onset[1], age - 0.3)
    onset_lo = min(spec.onset[0], onset_hi)
    onset = rng.uniform(onset_lo, onset_hi)
    duration = min(max(age - onset, 0.3), spec.max_duration)
    if spec.max_duration < math.inf:
        duration = rng.uniform(0.2, 1.0) * duration
    rate = spec.rate * math.exp(rng.normal(0.0, 0.35))
    severity = 1.0 - math.exp(-rate * duration) + rng.normal(0.0, 0.04)
    sex = "M" if rng.random() < spec.male_fraction else "F"
    return {
        "age": round(float(age), 1),
        "sex": sex,
        "disease_duration": round(float(duration), 1),
        "severity": round(float(np.clip(severity, 0.02, 0.98)), 3),
    }


def demo_participants(
    n_cases: int, seed: int, *, split_fractions: Sequence[float] = (0.55, 0.2, 0.25)
) -> pd.DataFrame:
    """Draw the demo cohort: diagnoses, demographics, ground-truth severity and splits.

    The class mix follows the paper (148 of 432 dystrophinopathy, of which 79 % DMD); the
    negative class mixes LGMD subtypes, Bethlem, FSHMD, congenital and GNE myopathies, MADD,
    myositis and neurogenic disease. Splits are drawn by case and stratified by class, so every
    split with a positive fraction holds both classes (at least 3 cases of each class are
    always drawn).

    Parameters
    ----------
    n_cases
        Number of subjects, 6 to 2000 (any number >= 6 works).
    seed
        Cohort seed. The function is pure: the same arguments give the same table.
    split_fractions
        Fractions of train, val and test (normalised to sum 1).

    Returns
    -------
    pandas.DataFrame
        One row per subject with ``participant_id`` (``d0001``...), ``diagnosis``, ``split``
        (train/val/test), ``age`` (years), ``sex`` (M/F), ``disease_duration`` (years),
        ``severity`` (0..1, ground truth) and ``seed`` (per-subject seed for
        :func:`simulate_case`).

    Raises
    ------
    ConfigError
        ``n_cases`` is below 6 or ``split_fractions`` is not three non-negative numbers with
        a positive sum.
    """
    n_cases = int(n_cases)
    if n_cases < 6:
        raise ConfigError(f"the demo cohort needs at least 6 cases, got {n_cases}")
    fractions = np.asarray(split_fractions, dtype=float)
    if fractions.shape != (3,) or np.any(fractions < 0) or fractions.sum() <= 0:
        raise ConfigError(f"split_fractions must be 3 non-negative numbers, got {split_fractions}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))

    n_pos = int(np.clip(round(n_cases * 148 / 432), 3, n_cases - 3))
    n_neg = n_cases - n_pos
    positives = [d for d in DIAGNOSES if d in POSITIVE_DIAGNOSES]
    negatives = [d for d in DIAGNOSES if d not in POSITIVE_DIAGNOSES]
    pos_counts = _largest_remainder(n_pos, [_DISEASES[d].share for d in positives])
    if pos_counts[positives.index("BMD")] == 0:  # keep one BMD whenever there are 3 positives
        pos_counts[positives.index("BMD")] += 1
        pos_counts[positives.index("DMD")] -= 1
    neg_counts = _largest_remainder(n_neg, [_DISEASES[d].share for d in negatives])

    split_names = np.array(["train", "val", "test"])
    diagnoses: list[str] = []
    splits: list[str] = []
    for names, counts in ((positives, pos_counts), (negatives, neg_counts)):
        labels = np.repeat(names, counts)
        n_class = len(labels)
        per_split = _largest_remainder(n_class, fractions, minimum=(fractions > 0).astype(int))
        class_splits = np.repeat(split_names, per_split)
        diagnoses.extend(labels[rng.permutation(n_class)].tolist())
        splits.extend(class_splits.tolist())

    order = rng.permutation(n_cases)
    width = max(4, len(str(n_cases)))
    rows = []
    for index, k in enumerate(order):
        subject_seed = _subject_seed(seed, index)
        sub_rng = np.random.default_rng(np.random.SeedSequence([subject_seed, 1]))
        rows.append(
            {
                "participant_id": f"d{index + 1:0{width}d}",
                "diagnosis": diagnoses[k],
                "split": splits[k],
                **_draw_subject(diagnoses[k], sub_rng),
                "seed": subject_seed,
            }
        )
    table = pd.DataFrame(rows)
    table["seed"] = table["seed"].astype(np.int64)
    logger.debug(
        "demo cohort: %d cases, %d dystrophinopathy, splits %s",
        n_cases,
        n_pos,
        table["split"].value_counts().to_dict(),
    )
    return table


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


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

    legs = []
    for side in (0, 1):
        sev = severity * leg_factor[side]
        onset = onset_case + rng.normal(0.0, spec.asymmetry, size=11)
        ff = base_ff + (ff_max - base_ff) * _smoothstep((sev - onset) / 0.35)
        ff = np.clip(ff + rng.normal(0.0, 0.01, size=11), 0.01, 0.97)
        gain = gain_case * np.clip((ff - base_ff) / 0.25, 0.15, 1.0)
        weights = rng.normal(0.0, 0.012, size=11)
        r_leg = r_comp
        if diagnosis in POSITIVE_DIAGNOSES:  # relative hypertrophy of the spared muscles
            weights[[4, 5, 9]] += 0.03 * sev
        if diagnosis == "neurogenic":  # denervated muscles shrink
            weights -= 0.05 * sev * (inv > 0.5)
            r_leg *= 1.0 - 0.12 * sev
        fibre = rng.uniform(0.0, np.pi, size=11)
        warp = 0.07 * _field(rng, (2, 2, 24, 24), (2.2, 2.2))
        legs.append(
            _Leg(
                side=side,
                r_comp=r_leg,
                fat=fat * math.exp(rng.normal(0.0, 0.05)),
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
                angle=pelvis + rng.normal(0.0, math.radians(6.0)),
                femur_q=_FEMUR_Q + rng.normal(0.0, 0.03, size=2),
                femur_ratio=rng.uniform(0.17, 0.21),
                marrow_ratio=rng.uniform(0.5, 0.62),
                seeds=rng.normal(0.0, 0.035, size=(11, 2)),
                weights=weights,
                warp=warp,
                logit_ff=_logit(ff).astype(np.float32),
                gain=gain.astype(np.float32),
                muscle_sig=(muscle_level * (1.0 + rng.normal(0.0, 0.03, size=11))).astype(
                    np.float32
                ),
                fibre=np.column_stack([np.cos(fibre), np.sin(fibre)]).astype(np.float32),
            )
        )
    settings = {
        "pattern": spec.pattern,
        "age": age,
        "pelvis": pelvis,
        "marrow_sig": float(np.clip(0.45 + 0.04 * age, 0.5, 0.93)),
        "muscle_level": muscle_level,
    }
    return legs, settings


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


def _field(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: float | tuple[float, float]
) -> np.ndarray:
    """Unit-variance periodic Gaussian random field, float32.

    White noise low-pass filtered in the Fourier domain over the last two axes with a Gaussian
    of ``sigma`` pixels (one value, or one per axis); leading axes are independent fields.
    """
    s0, s1 = (sigma, sigma) if np.isscalar(sigma) else sigma
    noise = rng.standard_normal(shape, dtype=np.float32)
    k0 = np.fft.fftfreq(shape[-2])[:, None]
    k1 = np.fft.rfftfreq(shape[-1])[None, :]
    transfer = np.exp(-2.0 * np.pi**2 * ((s0 * k0) ** 2 + (s1 * k1) ** 2))
    f = np.fft.irfft2(np.fft.rfft2(noise) * transfer, s=shape[-2:])
    return (f / max(float(f.std()), 1e-6)).astype(np.float32)


def _bilinear(grid: np.ndarray, ci: np.ndarray, cj: np.ndarray, wrap: bool) -> np.ndarray:
    """Sample a 2D grid at fractional indices by bilinear interpolation.

    ``wrap`` treats the grid as periodic; otherwise indices are clamped to the grid.
    """
    n0, n1 = grid.shape
    if not wrap:
        ci = np.clip(ci, 0, n0 - 1.001)
        cj = np.clip(cj, 0, n1 - 1.001)
    fi, fj = np.floor(ci), np.floor(cj)
    wi, wj = (ci - fi).astype(np.float32), (cj - fj).astype(np.float32)
    i0, j0 = fi.astype(np.intp) % n0, fj.astype(np.intp) % n1
    i1, j1 = (i0 + 1) % n0, (j0 + 1) % n1
    top = grid[i0, j0] * (1 - wj) + grid[i0, j1] * wj
    bottom = grid[i1, j0] * (1 - wj) + grid[i1, j1] * wj
    return top * (1 - wi) + bottom * wi


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


@dataclass
class _Textures:
    """Periodic random fields of one case; each slice and leg reads them at its own offset."""

    fine: np.ndarray
    blobs: np.ndarray
    patches: np.ndarray
    streaks: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, pattern: str, size: int = 256) -> _Textures:
        patch_sigma = 4.0 if pattern == "patchy" else 2.5
        return cls(
            fine=_field(rng, (size, size), 0.8),
            blobs=_field(rng, (size, size), 2.0),
            patches=_field(rng, (size, size), patch_sigma),
            streaks=_field(rng, (64, 64), (3.0, 0.7)),
        )


def _render_leg(
    leg: _Leg,
    t: float,
    phase: float,
    centre: tuple[float, float],
    spacing: tuple[float, float],
    settings: Mapping[str, Any],
    textures: _Textures,
    rng: np.random.Generator,
) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """Render one thigh on its own pixel box.

    Returns
    -------
    origin
        (i0, j0), image indices of the box's first pixel.
    labels, fat, signal
        Box arrays: right-leg label ids, per-pixel fat fraction of muscle voxels (NaN
        elsewhere) and noise-free T1w signal (fat = 1).
    """
    dx, dy = spacing
    taper = 1.0 - 0.4 * (t - 0.5)
    r_comp = leg.r_comp * taper
    fat = leg.fat * taper
    r_skin_base = r_comp + fat + leg.skin
    extent = r_skin_base * max(leg.aspect, 1 / leg.aspect) * (1 + np.abs(leg.fourier[:, 0]).sum())
    half_i = math.ceil(extent * 1.05 / dx) + 2
    half_j = math.ceil(extent * 1.05 / dy) + 2
    ci, cj = centre
    i0, j0 = math.floor(ci) - half_i, math.floor(cj) - half_j
    x = (np.arange(i0, i0 + 2 * half_i + 1, dtype=np.float32) - np.float32(ci)) * np.float32(dx)
    y = (np.arange(j0, j0 + 2 * half_j + 1, dtype=np.float32) - np.float32(cj)) * np.float32(-dy)
    if leg.side == 1:  # medial is +x for the right leg, -x for the left
        x = -x
    ca, sa = np.float32(math.cos(leg.angle)), np.float32(math.sin(leg.angle))
    u = ca * x[:, None] + sa * y[None, :]
    v = ca * y[None, :] - sa * x[:, None]
    rho = np.sqrt(u * u + v * v)
    inv_rho = 1.0 / np.maximum(rho, np.float32(1e-3))
    c, s = u * inv_rho, v * inv_rho
    r_skin, r_m = _outline(c, s, leg, r_skin_base, fat)
    r_fat_in = r_skin - leg.skin

    shape = rho.shape
    labels = np.zeros(shape, dtype=np.uint8)
    signal = np.zeros(shape, dtype=np.float32)
    fatmap = np.full(shape, np.nan, dtype=np.float32)
    labels[rho < r_skin] = _LAB_SKIN
    signal[rho < r_skin] = 0.6
    subcut = rho < r_fat_in
    labels[subcut] = _LAB_SUBCUT
    signal[subcut] = 1.0

    # Great saphenous vein in the medial subcutaneous fat.
    cg, sg = np.array([math.cos(0.25)]), np.array([math.sin(0.25)])
    r_sk_g, r_m_g = _outline(cg, sg, leg, r_skin_base, fat)
    r_g = 0.5 * (float(r_sk_g[0]) - leg.skin + float(r_m_g[0]))
    gsv = (u - r_g * float(cg[0])) ** 2 + (v - r_g * float(sg[0])) ** 2 < max(
        1.6, 0.035 * r_comp
    ) ** 2
    gsv &= subcut
    labels[gsv] = _LAB_NV
    signal[gsv] = 0.12

    # Muscle compartment, in radius-normalised coordinates q, warped by a smooth field.
    idx = np.nonzero(rho < r_m)
    rm_in = r_m[idx]
    qx = u[idx] / rm_in
    qy = v[idx] / rm_in
    g = leg.warp.shape[-1]
    coords = np.stack([(qx + 1.25) * ((g - 1) / 2.5), (qy + 1.25) * ((g - 1) / 2.5)])
    warp = math.cos(phase) * leg.warp[0] + math.sin(phase) * leg.warp[1]
    qwx = qx + _bilinear(warp[0], coords[0], coords[1], wrap=False)
    qwy = qy + _bilinear(warp[1], coords[0], coords[1], wrap=False)

    # Muscles: cells of a power diagram; fascia where the two nearest cells almost tie.
    dt = t - 0.5
    seeds = (_SEED_MID + _SEED_SLOPE * dt + leg.seeds).astype(np.float32)
    weights = (_WEIGHT_MID + _WEIGHT_SLOPE * dt + leg.weights).astype(np.float32)
    score = (qwx[None, :] - seeds[:, :1]) ** 2 + (qwy[None, :] - seeds[:, 1:]) ** 2
    score -= weights[:, None]
    columns = np.arange(score.shape[1])
    best = score.argmin(axis=0)
    s_best = score[best, columns]
    score[best, columns] = np.inf
    second = score.argmin(axis=0)
    s_second = score[second, columns]
    sep = np.linalg.norm(seeds[best] - seeds[second], axis=1)
    d_bis_px = (s_second - s_best) / (2.0 * np.maximum(sep, 1e-3)) * (rm_in / dx)
    d_edge_px = (rm_in - rho[idx]) / dx

    # Fat fraction per pixel: the muscle's level plus texture (mottled at two scales, streaks
    # along each muscle's own direction) and the diagnosis pattern, through a logistic map.
    size = textures.fine.shape[0]
    oi, oj = rng.integers(0, size, size=2)
    pi = (idx[0] + oi) % size
    pj = (idx[1] + oj) % size
    cos_b, sin_b = leg.fibre[best, 0], leg.fibre[best, 1]
    gi, gj = idx[0] + oi, idx[1] + oj  # unwrapped, so the rotated coordinates have no seam
    streaks = _bilinear(textures.streaks, cos_b * gi + sin_b * gj, cos_b * gj - sin_b * gi, True)
    texture = 0.6 * textures.fine[pi, pj] + 0.5 * textures.blobs[pi, pj] + 0.6 * streaks
    pattern = settings["pattern"]
    extra: np.ndarray | float = 0.0
    if pattern == "rim":
        extra = 2.8 * (np.exp(-np.minimum(d_bis_px, d_edge_px) / 2.0) - 0.3)
    elif pattern in ("patchy", "lumpy"):
        extra = (1.8 if pattern == "patchy" else 1.4) * textures.patches[pi, pj]
    gain = leg.gain[best]
    logit = leg.logit_ff[best] + gain * texture + (gain > 0.3) * extra
    f = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    sig = leg.muscle_sig[best] * (1.0 - f) + f
    if pattern == "patchy":  # oedema: slightly low T1 signal in patches
        sig = sig * (1.0 - 0.06 * np.clip(extra, 0.0, None))

    lab = (best + 1).astype(np.uint8)
    fascia = d_bis_px < 0.5
    lab[fascia] = _LAB_FASCIA
    sig[fascia] = 0.5 * sig[fascia] + 0.3
    deep = d_edge_px < 0.7
    lab[deep] = _LAB_FASCIA
    sig[deep] = 0.22

    # Intermuscular fat pads with the femoral vessels and the sciatic nerve.
    pads = (
        (seeds[[4, 2, 6]].mean(axis=0), 0.075, 0.027, 0.08),  # adductor canal
        (seeds[[7, 8, 9]].mean(axis=0) * 0.85, 0.06, 0.032, 0.38),  # sciatic nerve
    )
    for centre_q, r_pad, r_nv, nv_sig in pads:
        d2 = (qwx - centre_q[0]) ** 2 + (qwy - centre_q[1]) ** 2
        pad = d2 < r_pad**2
        lab[pad] = _LAB_IMFAT
        sig[pad] = 0.95
        nv = d2 < r_nv**2
        lab[nv] = _LAB_NV
        sig[nv] = nv_sig
    labels[idx] = lab
    signal[idx] = sig
    fatmap[idx] = np.where(lab <= len(MUSCLES), f, np.float32(np.nan))

    # Femur: cortex with the linea aspera (posterior ridge), marrow cavity.
    r_f = leg.femur_ratio * r_comp
    fu, fv = leg.femur_q * r_comp
    du, dv = u - np.float32(fu), v - np.float32(fv)
    d_f = np.sqrt(du * du + dv * dv)
    near = np.nonzero(d_f < 1.4 * r_f)
    d_near = d_f[near]
    cos_post = -dv[near] / np.maximum(d_near, 1e-3)
    r_cortex = r_f * (1.0 + 0.25 * np.exp((cos_post - 1.0) * 12.8))
    sub_lab, sub_sig, sub_fat = labels[near], signal[near], fatmap[near]
    cortex = d_near < r_cortex
    marrow = d_near < leg.marrow_ratio * r_f
    sub_lab[cortex] = _LAB_CORTEX
    sub_sig[cortex] = 0.04
    sub_fat[cortex] = np.nan
    sub_lab[marrow] = _LAB_MARROW
    sub_sig[marrow] = settings["marrow_sig"]
    labels[near], signal[near], fatmap[near] = sub_lab, sub_sig, sub_fat
    return (int(i0), int(j0)), labels, fatmap, signal


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
    nx, ny = int(shape[0]), int(shape[1])
    dx, dy = float(spacing_mm[0]), float(spacing_mm[1])
    rng = np.random.default_rng(np.random.SeedSequence([int(row["seed"]), 2]))
    legs, settings = _make_legs(row, rng)

    # Slice positions along the femur (t = 0 at the hip, 1 at the knee).
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

    # Fit both legs in the field of view with a 4-pixel margin: narrow a wide gap first, then
    # scale the thighs down (small fields of view).
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

    field_strength = 3.0 if rng.random() < 0.5 else 1.5
    snr = float(np.exp(rng.uniform(np.log(12), np.log(35))))
    if field_strength == 3.0:
        snr *= 1.7
    gain = float(rng.uniform(500, 1300) if field_strength == 1.5 else rng.uniform(1200, 3500))
    bias_coef = rng.normal(0.0, 0.10 if field_strength == 1.5 else 0.18, size=5)
    psf = float(rng.uniform(0.45, 0.7))
    textures = _Textures.draw(rng, settings["pattern"])

    xn = np.linspace(-1.0, 1.0, nx, dtype=np.float32)
    yn = np.linspace(-1.0, 1.0, ny, dtype=np.float32)
    images = np.empty((n_slices, nx, ny), dtype=np.float32)
    label_maps = np.empty((n_slices, nx, ny), dtype=np.uint8)
    gaps = np.empty(n_slices, dtype=np.int64)
    ff_sum = np.zeros(2 * LEFT_OFFSET)
    ff_count = np.zeros(2 * LEFT_OFFSET)
    for k, t in enumerate(t_slices):
        # Both legs within a span of twice their outer radii plus the gap, along the pelvis
        # axis; the left leg is then moved to make the gap exact (only inwards).
        taper = 1.0 - 0.4 * (t - 0.5)
        r_right, r_left = (_extent(lg, taper)[0] for lg in legs)
        span = 2 * (r_right + r_left) + gap_px * dx
        ex, ey = math.cos(settings["pelvis"]), -math.sin(settings["pelvis"])
        off_right, off_left = span / 2 - r_right, span / 2 - r_left
        centres = [
            ((pair_x - off_right * ex) / dx, (pair_y - off_right * ey) / dy),
            ((pair_x + off_left * ex) / dx, (pair_y + off_left * ey) / dy),
        ]
        rendered = [
            _render_leg(lg, float(t), float(phases[k]), c, (dx, dy), settings, textures, rng)
            for lg, c in zip(legs, centres, strict=True)
        ]
        # Shift the left leg by whole pixels so that the narrowest gap is exactly gap_px.
        (oi_r, oj_r), lab_r, _, _ = rendered[0]
        (oi_l, oj_l), lab_l, _, _ = rendered[1]
        current = _gap(
            _row_extents(lab_r > 0, oi_r, oj_r, right=True),
            _row_extents(lab_l > 0, oi_l, oj_l, right=False),
        )
        shift = 0 if current is None else gap_px - current
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
        gaps[k] = nx if measured is None else measured

        valid = np.isfinite(fatmap)
        ff_sum += np.bincount(labels[valid], weights=fatmap[valid], minlength=2 * LEFT_OFFSET)
        ff_count += np.bincount(labels[valid], minlength=2 * LEFT_OFFSET)

        # Scanner: partial volume, bias field, gain and Rician noise.
        img = _blur(signal, psf)
        cb = (bias_coef + rng.normal(0.0, 0.02, size=5)).astype(np.float32)
        log_bias = (cb[0] * xn + cb[2] * xn**2)[:, None] + (cb[1] * yn + cb[3] * yn**2)[None, :]
        log_bias += cb[4] * np.outer(xn, yn)
        img *= np.exp(log_bias)
        sigma = np.float32(1.0 / snr)
        real = img + sigma * rng.standard_normal(img.shape, dtype=np.float32)
        imag = sigma * rng.standard_normal(img.shape, dtype=np.float32)
        images[k] = np.sqrt(real * real + imag * imag) * np.float32(gain)
        label_maps[k] = labels

    records = []
    for side, name in enumerate(SIDES):
        for m, muscle in enumerate(MUSCLES):
            lab_id = m + 1 + side * LEFT_OFFSET
            if ff_count[lab_id] > 0:
                value = ff_sum[lab_id] / ff_count[lab_id]
            else:  # muscle absent from every slice (adductor longus distally): nominal level
                value = float(1.0 / (1.0 + np.exp(-legs[side].logit_ff[m])))
                logger.debug(
                    "sub-%s: %s %s absent from all slices", row["participant_id"], name, muscle
                )
            records.append({"muscle": muscle, "side": name, "fat_fraction": float(value)})

    affine = np.array(
        [
            [-dx, 0.0, 0.0, dx * (nx - 1) / 2],
            [0.0, -dy, 0.0, dy * (ny - 1) / 2],
            [0.0, 0.0, min(dz, 5.0), 0.0],
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
        field_strength,
        snr,
    )
    return SimulatedCase(
        participant_id=str(row["participant_id"]),
        images=images,
        labels=label_maps,
        fat_fraction=pd.DataFrame(records),
        affine=affine,
        slice_z_mm=slice_z.astype(np.float64),
        leg_gap_px=gaps,
        field_strength_t=field_strength,
        snr=snr,
    )


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def _clarity(severity: np.ndarray) -> np.ndarray:
    """How readable a disease pattern is at a severity: faint when mild, lost when advanced."""
    return _smoothstep((severity - 0.04) / 0.3) * (1.0 - 0.7 * _smoothstep((severity - 0.8) / 0.18))


def simulate_ratings(
    participants: pd.DataFrame, n_slices: int, *, n_raters: int = 3, seed: int
) -> pd.DataFrame:
    """Simulated radiologists' calls on every slice of the test-split subjects.

    A reader sees evidence for dystrophinopathy that depends on the case: clear in moderate
    DMD/BMD, faint in mild (mostly BMD) and lost in advanced cases, misleading in LGMD2I and
    the sarcoglycanopathies. The call is the sign of that evidence plus a case effect shared by
    all readers (correlated errors), a reader bias, a reader-by-case effect and a small
    per-slice effect (a reader mostly keeps the same call across a case's slices). With three
    readers this lands near the paper's radiologists: accuracy about 0.8 and Fleiss' kappa
    about 0.6.

    Parameters
    ----------
    participants
        Table from :func:`demo_participants` (``participant_id``, ``diagnosis``, ``split``,
        ``severity``, ``seed``).
    n_slices
        Slices per subject (numbered 1..n_slices).
    n_raters
        Number of readers.
    seed
        Seed of the readers (their biases); each case's draws also use its own ``seed``.

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``slice``, ``rater1`` .. ``raterN`` (1: dystrophinopathy, 0: not),
        one row per test subject and slice, in table order.
    """
    if int(n_raters) < 1 or int(n_slices) < 1:
        raise ConfigError(f"need n_raters >= 1 and n_slices >= 1, got {n_raters}, {n_slices}")
    n_raters, n_slices = int(n_raters), int(n_slices)
    test = participants.loc[participants["split"] == "test"].reset_index(drop=True)
    rater_cols = [f"rater{r + 1}" for r in range(n_raters)]
    if test.empty:
        return pd.DataFrame(columns=["participant_id", "slice", *rater_cols])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xEAD]))
    bias = rng.normal(0.0, 0.25, size=n_raters)

    severity = test["severity"].to_numpy(dtype=float)
    clarity = _clarity(severity)
    positive = test["diagnosis"].isin(POSITIVE_DIAGNOSES).to_numpy()
    mimic = np.array([_DISEASES.get(d, _GENERIC).mimic for d in test["diagnosis"]])
    advanced = _smoothstep((severity - 0.8) / 0.18)
    evidence_pos = -1.0 + 2.6 * clarity + 0.3 * advanced
    evidence_neg = -2.0 + 2.4 * mimic * _smoothstep((severity - 0.04) / 0.3)
    evidence_neg = evidence_neg * (1.0 - advanced) - 0.4 * advanced
    evidence = np.where(positive, evidence_pos, evidence_neg)

    n = len(test)
    shared = np.empty(n)
    reader_case = np.empty((n, n_raters))
    per_slice = np.empty((n, n_slices, n_raters))
    for i, case_seed in enumerate(test["seed"].to_numpy()):
        case_rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(case_seed), 3]))
        shared[i] = case_rng.normal(0.0, 1.0)
        reader_case[i] = case_rng.normal(0.0, 0.8, size=n_raters)
        per_slice[i] = case_rng.normal(0.0, 0.4, size=(n_slices, n_raters))
    latent = (
        evidence[:, None, None]
        + shared[:, None, None]
        + bias[None, None, :]
        + reader_case[:, None, :]
        + per_slice
    )
    calls = (latent > 0).astype(np.int64).reshape(n * n_slices, n_raters)
    table = pd.DataFrame(calls, columns=rater_cols)
    table.insert(0, "slice", np.tile(np.arange(1, n_slices + 1), n))
    table.insert(0, "participant_id", np.repeat(test["participant_id"].to_numpy(), n_slices))
    return table


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_case(
    row: Mapping[str, Any], root: Path, n_slices: int, **simulate_kwargs: Any
) -> list[Path]:
    """Simulate one subject and write its images and ground truth.

    Writes ``root/sub-<id>/anat/sub-<id>_slice-<k>_T1w.nii.gz`` for k = 1..n_slices (2D,
    float32, shape (X, Y), each with its slice's affine), the label maps as
    ``root/derivatives/truth/sub-<id>/anat/sub-<id>_slice-<k>_dseg.nii.gz`` (uint8) and the
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
        The images, then the label maps, then the fat-fraction table.
    """
    from qmrflow.io import save_nifti, write_tsv  # nibabel is imported only when writing

    row = _as_mapping(row)
    case = simulate_case(row, n_slices, **simulate_kwargs)
    sub = f"sub-{case.participant_id}"
    root = Path(root)
    anat = root / sub / "anat"
    truth = root / "derivatives" / "truth" / sub
    images, labels = [], []
    for k in range(case.n_slices):
        affine = case.slice_affine(k)
        name = f"{sub}_slice-{k + 1}"
        images.append(save_nifti(case.images[k], anat / f"{name}_T1w.nii.gz", affine))
        labels.append(save_nifti(case.labels[k], truth / "anat" / f"{name}_dseg.nii.gz", affine))
    table = write_tsv(case.fat_fraction, truth / f"{sub}_fatfraction.tsv")
    logger.info("wrote %s (%s, %d slices)", sub, row["diagnosis"], case.n_slices)
    return [*images, *labels, table]
