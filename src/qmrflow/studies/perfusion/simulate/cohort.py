"""The perfusion demo cohort table: ids, splits, demographics, ischaemia, breathing, stress MBF."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.simulate.cohort import SPLITS, assign_splits
from qmrflow.studies.perfusion.segments import TERRITORIES

logger = logging.getLogger(__name__)

__all__ = ["demo_participants"]


def demo_participants(
    n_subjects: int,
    seed: int,
    splits: Sequence[float] = (14.0, 2.0, 8.0),
    *,
    ischaemic_fraction: float = 0.5,
    deep_breath_fraction: float = 0.3,
) -> pd.DataFrame:
    """Draw the demo cohort.

    Parameters
    ----------
    n_subjects
        Number of subjects (at least 3).
    seed
        Cohort seed; the same arguments give the same table.
    splits
        Relative sizes of train, val and test (default 14 : 2 : 8, as synthmri). Splits are
        assigned by :func:`qmrflow.simulate.cohort.assign_splits`, stratified by ischaemic vs
        not; when that leaves a split empty (small cohorts), unstratified with at least one
        subject per split.
    ischaemic_fraction
        Fraction of subjects with an ischaemic territory (``round(fraction * n)``); their
        territories cycle through LAD, RCA, LCx in a random order.
    deep_breath_fraction
        Fraction of subjects taking deep breaths during the acquisition.

    Returns
    -------
    pandas.DataFrame
        ``participant_id`` (bare labels ``p001``, ``p002``, ...), ``split``, ``age`` (years,
        40-80), ``sex`` (F/M), ``ischaemia`` (``none``/``LAD``/``RCA``/``LCx``),
        ``deep_breaths`` (bool) and ``stress_mbf`` (normal stress MBF, 2.5-3.5 ml/min/g). A
        subject's images depend only on its row and the cohort seed.

    Raises
    ------
    ConfigError
        Fewer than 3 subjects, bad ``splits`` or a fraction outside [0, 1].
    """
    n_subjects = int(n_subjects)
    if n_subjects < 3:
        raise ConfigError(f"the demo cohort needs at least 3 subjects, got {n_subjects}")
    weights = np.asarray(splits, dtype=float)
    if weights.shape != (3,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ConfigError(f"splits must be 3 non-negative numbers (train, val, test): {splits}")
    if weights.sum() <= 0:
        raise ConfigError(f"splits must have a positive sum: {splits}")
    for name, value in (
        ("ischaemic_fraction", ischaemic_fraction),
        ("deep_breath_fraction", deep_breath_fraction),
    ):
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"{name} must be in [0, 1], got {value}")

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9E4F]))
    n_ischaemic = round(float(ischaemic_fraction) * n_subjects)
    territories = np.resize(rng.permutation(np.array(TERRITORIES)), n_ischaemic)
    ischaemia = np.array(["none"] * (n_subjects - n_ischaemic) + territories.tolist(), dtype=object)
    ischaemia = ischaemia[rng.permutation(n_subjects)]
    deep = np.zeros(n_subjects, dtype=bool)
    deep[rng.permutation(n_subjects)[: round(float(deep_breath_fraction) * n_subjects)]] = True

    # Stratified by ischaemic or not (sizes proportional within each group); when that leaves
    # a positive-weight split empty (small cohorts), unstratified with one subject per split.
    strata = np.where(ischaemia == "none", "normal", "ischaemic")
    split = assign_splits(strata, weights, rng, names=SPLITS, nonempty=False)
    if any(w > 0 and not np.any(split == name) for w, name in zip(weights, SPLITS, strict=True)):
        split = assign_splits(np.zeros(n_subjects), weights, rng, names=SPLITS)
    width = max(3, len(str(n_subjects)))
    table = pd.DataFrame(
        {
            "participant_id": [f"p{i + 1:0{width}d}" for i in range(n_subjects)],
            "split": split.astype(str),
            "age": np.round(rng.uniform(40.0, 80.0, n_subjects), 1),
            "sex": rng.choice(np.array(["F", "M"]), n_subjects),
            "ischaemia": ischaemia.astype(str),
            "deep_breaths": deep,
            "stress_mbf": np.round(rng.uniform(2.5, 3.5, n_subjects), 2),
        }
    )
    logger.debug(
        "perfusion demo cohort: %d subjects, splits %s, ischaemia %s, %d with deep breaths",
        n_subjects,
        table["split"].value_counts().to_dict(),
        table["ischaemia"].value_counts().to_dict(),
        int(deep.sum()),
    )
    return table
