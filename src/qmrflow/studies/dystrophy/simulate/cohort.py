"""The dystrophy demo cohort table: diagnoses, demographics, ground-truth severity and splits."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.simulate.cohort import largest_remainder
from qmrflow.studies.dystrophy.diagnoses import POSITIVE_DIAGNOSES
from qmrflow.studies.dystrophy.simulate.diseases import _DISEASES, _GENERIC, DIAGNOSES

logger = logging.getLogger(__name__)


def _subject_seed(seed: int, index: int) -> int:
    """A subject's seed, derived from the cohort seed and its *index* (stable across versions).

    Index-based, unlike :func:`qmrflow.simulate.cohort.subject_seed` (id-based): kept so that
    the dystrophy demo data stay what they were. The id ``d<index + 1>`` is itself derived from
    the index, and subjects appended to a cohort keep their seeds.
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


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
    pos_counts = largest_remainder(n_pos, [_DISEASES[d].share for d in positives])
    if pos_counts[positives.index("BMD")] == 0:  # keep one BMD whenever there are 3 positives
        pos_counts[positives.index("BMD")] += 1
        pos_counts[positives.index("DMD")] -= 1
    neg_counts = largest_remainder(n_neg, [_DISEASES[d].share for d in negatives])

    split_names = np.array(["train", "val", "test"])
    diagnoses: list[str] = []
    splits: list[str] = []
    for names, counts in ((positives, pos_counts), (negatives, neg_counts)):
        labels = np.repeat(names, counts)
        n_class = len(labels)
        per_split = largest_remainder(n_class, fractions, minimum=(fractions > 0).astype(int))
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
