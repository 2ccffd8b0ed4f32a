"""The synthmri demo cohort table: ids, splits, demographics and who has white-matter lesions."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.simulate.cohort import SPLITS, split_counts

logger = logging.getLogger(__name__)


def demo_participants(
    n_subjects: int,
    seed: int,
    splits: Sequence[float] = (14.0, 2.0, 8.0),
    *,
    lesion_fraction: float = 0.4,
) -> pd.DataFrame:
    """Draw the demo cohort: ids, splits, demographics and which subjects have WM lesions.

    Parameters
    ----------
    n_subjects
        Number of subjects (at least 3).
    seed
        Cohort seed; the same arguments give the same table.
    splits
        Relative sizes of train, val and test (normalised; default 14 : 2 : 8, the 24-subject
        demo). Every split with a positive weight gets at least one subject.
    lesion_fraction
        Fraction of subjects with white-matter lesions, applied per split (so the test split
        holds lesion subjects for the paired lesion tests): ``round(fraction * n_split)``, at
        least 1 in a split of 2 or more when the fraction is positive.

    Returns
    -------
    pandas.DataFrame
        ``participant_id`` (``s001``, ``s002``, ...), ``split``, ``age`` (years, 20-75),
        ``sex`` (F/M) and ``has_lesions`` (bool). A subject's images depend only on its row and
        the cohort seed (see :func:`subject_seed`), not on the other subjects.

    Raises
    ------
    ConfigError
        Fewer than 3 subjects, ``splits`` not three non-negative numbers with a positive sum,
        or ``lesion_fraction`` outside [0, 1].
    """
    n_subjects = int(n_subjects)
    if n_subjects < 3:
        raise ConfigError(f"the demo cohort needs at least 3 subjects, got {n_subjects}")
    weights = np.asarray(splits, dtype=float)
    if weights.shape != (3,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ConfigError(f"splits must be 3 non-negative numbers (train, val, test): {splits}")
    if weights.sum() <= 0:
        raise ConfigError(f"splits must have a positive sum: {splits}")
    if not 0.0 <= float(lesion_fraction) <= 1.0:
        raise ConfigError(f"lesion_fraction must be in [0, 1], got {lesion_fraction}")
    counts = split_counts(n_subjects, weights)

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E7]))
    split = np.repeat(np.array(SPLITS), counts)
    lesions = np.zeros(n_subjects, dtype=bool)
    start = 0
    for n_split in counts:
        n_les = round(float(lesion_fraction) * n_split)
        if lesion_fraction > 0 and n_split >= 2:
            n_les = max(n_les, 1)
        lesions[start + rng.permutation(n_split)[:n_les]] = True
        start += n_split
    order = rng.permutation(n_subjects)
    width = max(3, len(str(n_subjects)))
    table = pd.DataFrame(
        {
            "participant_id": [f"s{i + 1:0{width}d}" for i in range(n_subjects)],
            "split": split[order],
            "age": np.round(rng.uniform(20.0, 75.0, n_subjects), 1),
            "sex": rng.choice(np.array(["F", "M"]), n_subjects),
            "has_lesions": lesions[order],
        }
    )
    logger.debug(
        "demo cohort: %d subjects, splits %s, %d with lesions",
        n_subjects,
        table["split"].value_counts().to_dict(),
        int(table["has_lesions"].sum()),
    )
    return table
