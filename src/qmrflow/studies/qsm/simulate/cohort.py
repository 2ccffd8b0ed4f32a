"""The qsm demo cohort table: ids, group, splits, demographics."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.simulate.cohort import SPLITS, split_counts, subject_seed

logger = logging.getLogger(__name__)

__all__ = ["ASPECTS", "COLUMNS", "demo_participants", "subject_streams"]

#: The independent random streams of one subject, in spawn order (never reorder: appending
#: keeps every existing subject's data). Each acquisition's noise has its own stream, so e.g.
#: changing ``snr_gre`` changes only the GRE k-space.
ASPECTS: tuple[str, ...] = (
    "anatomy",
    "tissues",
    "lesions",
    "veins",
    "background",
    "phase",
    "coils",
    "flair",
    "gre",
    "epi2avg",
    "epi1avg",
)

#: Columns of the participants table, in order.
COLUMNS: tuple[str, ...] = ("participant_id", "group", "split", "age", "sex")

# Women make up about three quarters of people with relapsing MS.
_FEMALE_FRACTION = 0.7


def demo_participants(
    n_subjects: int, seed: int, *, splits: Sequence[float] = (4.0, 1.0, 3.0)
) -> pd.DataFrame:
    """Draw the demo cohort: people with MS, split into train, val and test.

    Parameters
    ----------
    n_subjects
        Number of subjects (at least 3).
    seed
        Cohort seed; the same arguments give the same table.
    splits
        Train, val and test sizes ``[n_train, n_val, n_test]``; when they do not sum to
        ``n_subjects`` they are relative sizes (largest remainder, at least one subject per
        positive size: :func:`qmrflow.simulate.cohort.split_counts`).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`: ``participant_id`` (bare labels ``ms01``, ``ms02``, ...; the platform
        may prefix them), ``group`` (``ms``), ``split`` (train/val/test in a random order),
        ``age`` (years, U(22, 60)) and ``sex`` (F with probability 0.7, else M). A subject's
        images depend only on its id and the cohort seed
        (:func:`qmrflow.simulate.cohort.subject_seed`), not on the other subjects.

    Raises
    ------
    ConfigError
        Fewer than 3 subjects, or ``splits`` not three non-negative numbers with a positive
        sum.
    """
    n_subjects = int(n_subjects)
    if n_subjects < 3:
        raise ConfigError(f"the qsm demo cohort needs at least 3 subjects, got {n_subjects}")
    weights = np.asarray(splits, dtype=float)
    if weights.shape != (3,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ConfigError(f"splits must be 3 non-negative numbers (train, val, test): {splits}")
    if weights.sum() <= 0:
        raise ConfigError(f"splits must have a positive sum: {splits}")
    counts = split_counts(n_subjects, weights)

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x05A1]))
    split = np.repeat(np.array(SPLITS), counts)[rng.permutation(n_subjects)]
    age = rng.uniform(22.0, 60.0, n_subjects)
    sex = np.where(rng.random(n_subjects) < _FEMALE_FRACTION, "F", "M")
    width = max(2, len(str(n_subjects)))
    table = pd.DataFrame(
        {
            "participant_id": [f"ms{i + 1:0{width}d}" for i in range(n_subjects)],
            "group": "ms",
            "split": split.astype(str),
            "age": np.round(age, 1),
            "sex": sex.astype(str),
        }
    )
    logger.debug(
        "qsm demo cohort: %d subjects, splits %s",
        n_subjects,
        table["split"].value_counts().to_dict(),
    )
    return table


def subject_streams(seed: int, participant_id: str) -> dict[str, np.random.Generator]:
    """One generator per :data:`ASPECTS` entry: children of
    :func:`qmrflow.simulate.cohort.subject_seed` ``(seed, participant_id)``."""
    children = subject_seed(int(seed), str(participant_id)).spawn(len(ASPECTS))
    return {
        aspect: np.random.default_rng(child)
        for aspect, child in zip(ASPECTS, children, strict=True)
    }
