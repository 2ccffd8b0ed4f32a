"""The breathing demo cohort table: ids, groups, splits, demographics, lung function, truth."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.simulate.cohort import SPLITS, assign_splits

logger = logging.getLogger(__name__)

__all__ = ["COLUMNS", "PARADOXICAL", "demo_participants"]

#: Columns of the participants table, in order.
COLUMNS: tuple[str, ...] = (
    "participant_id",
    "group",
    "split",
    "age",
    "sex",
    "severity",
    "fvc_upright_pct",
    "fvc_supine_drop_pct",
    "mip",
    "snip",
    "paradoxical",
    "diaphragm_fat",
)

#: Values of the ``paradoxical`` column: which hemidiaphragm rises during the sniff.
PARADOXICAL: tuple[str, ...] = ("none", "right", "left", "both")

#: Fraction of patients with paradoxical motion (7 of 11 in the paper).
PARADOXICAL_FRACTION = 7.0 / 11.0


def demo_participants(
    n_patients: int = 6,
    n_controls: int = 6,
    seed: int = 0,
    splits: Sequence[float] = (6.0, 2.0, 4.0),
) -> pd.DataFrame:
    """Draw the demo cohort: late-onset Pompe patients and matched controls.

    Parameters
    ----------
    n_patients, n_controls
        Group sizes (at least 1 each, at least 3 in all).
    seed
        Cohort seed; the same arguments give the same table.
    splits
        Relative sizes of train, val and test (default 6 : 2 : 4). Assigned by
        :func:`qmrflow.simulate.cohort.assign_splits`, stratified by group; when that leaves a
        split empty (small cohorts), unstratified with at least one subject per split.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per subject in a random order of the groups:

        - ``participant_id``: bare labels ``b001``, ``b002``, ... (the platform may prefix);
        - ``group``: ``patient`` or ``control``; ``split``: train/val/test;
        - ``age`` (years): patients U(25, 70), each control matched to a patient (same sex,
          age +- 5 years); ``sex`` F/M;
        - ``severity``: 0 for controls, U(0.25, 1) for patients; it drives the simulated
          excursion reduction, the chest-wall lag, the sniff slowing and the fat fraction;
        - lung function, linear in the severity plus noise (``s`` = severity, ``g`` = 1.15 for
          men, 0.85 for women): ``fvc_upright_pct`` (% predicted) ``102 - 50 s + N(0, 8)``;
          ``fvc_supine_drop_pct`` (upright-to-supine FVC drop, %) ``4 + 30 s + N(0, 3)``
          (>= 0); ``mip`` and ``snip`` (cmH2O) ``g (95 - 55 s) + N(0, 10)`` and
          ``g (100 - 60 s) + N(0, 10)`` (>= 10);
        - ``paradoxical`` (truth, :data:`PARADOXICAL`): which hemidiaphragm rises during the
          sniff; ``round(7/11 n_patients)`` patients, those with the largest severity plus
          N(0, 0.15) noise, each ``both`` (40 %), ``right`` or ``left`` (30 % each); controls
          ``none``;
        - ``diaphragm_fat`` (truth): fat fraction of the diaphragm, controls U(0.02, 0.08),
          patients ``0.05 + 0.35 s + N(0, 0.03)`` clipped to [0.02, 0.6].

    Raises
    ------
    ConfigError
        Too few subjects or bad ``splits``.
    """
    n_patients, n_controls = int(n_patients), int(n_controls)
    if n_patients < 1 or n_controls < 1 or n_patients + n_controls < 3:
        raise ConfigError(
            f"the demo cohort needs at least 1 patient, 1 control and 3 subjects, got "
            f"{n_patients} patients and {n_controls} controls"
        )
    weights = np.asarray(splits, dtype=float)
    if weights.shape != (3,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ConfigError(f"splits must be 3 non-negative numbers (train, val, test): {splits}")
    if weights.sum() <= 0:
        raise ConfigError(f"splits must have a positive sum: {splits}")

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xB4EA]))
    n = n_patients + n_controls
    patient = np.zeros(n, dtype=bool)
    patient[rng.permutation(n)[:n_patients]] = True
    group = np.where(patient, "patient", "control")

    severity = np.zeros(n)
    severity[patient] = rng.uniform(0.25, 1.0, n_patients)
    sex = np.empty(n, dtype=object)
    age = np.empty(n)
    sex[patient] = rng.choice(np.array(["F", "M"]), n_patients)
    age[patient] = rng.uniform(25.0, 70.0, n_patients)
    matched = np.resize(np.flatnonzero(patient), n_controls)  # each control's patient
    sex[~patient] = sex[matched]
    age[~patient] = age[matched] + rng.uniform(-5.0, 5.0, n_controls)

    gain = np.where(sex == "M", 1.15, 0.85)
    fvc = 102.0 - 50.0 * severity + rng.normal(0.0, 8.0, n)
    drop = np.clip(4.0 + 30.0 * severity + rng.normal(0.0, 3.0, n), 0.0, None)
    mip = np.clip(gain * (95.0 - 55.0 * severity) + rng.normal(0.0, 10.0, n), 10.0, None)
    snip = np.clip(gain * (100.0 - 60.0 * severity) + rng.normal(0.0, 10.0, n), 10.0, None)

    paradoxical = np.full(n, "none", dtype=object)
    n_paradoxical = round(PARADOXICAL_FRACTION * n_patients)
    score = np.where(patient, severity + rng.normal(0.0, 0.15, n), -np.inf)
    chosen = np.argsort(-score, kind="stable")[:n_paradoxical]
    sides = rng.choice(np.array(["both", "right", "left"]), n, p=[0.4, 0.3, 0.3])
    paradoxical[chosen] = sides[chosen]

    fat = np.where(
        patient,
        np.clip(0.05 + 0.35 * severity + rng.normal(0.0, 0.03, n), 0.02, 0.6),
        rng.uniform(0.02, 0.08, n),
    )

    split = assign_splits(group, weights, rng, names=SPLITS, nonempty=False)
    if any(w > 0 and not np.any(split == name) for w, name in zip(weights, SPLITS, strict=True)):
        split = assign_splits(np.zeros(n), weights, rng, names=SPLITS)
    width = max(3, len(str(n)))
    table = pd.DataFrame(
        {
            "participant_id": [f"b{i + 1:0{width}d}" for i in range(n)],
            "group": group.astype(str),
            "split": split.astype(str),
            "age": np.round(age, 1),
            "sex": sex.astype(str),
            "severity": np.round(severity, 3),
            "fvc_upright_pct": np.round(fvc, 1),
            "fvc_supine_drop_pct": np.round(drop, 1),
            "mip": np.round(mip, 1),
            "snip": np.round(snip, 1),
            "paradoxical": paradoxical.astype(str),
            "diaphragm_fat": np.round(fat, 3),
        }
    )
    logger.debug(
        "breathing demo cohort: %d patients, %d controls, splits %s, paradoxical %s",
        n_patients,
        n_controls,
        table["split"].value_counts().to_dict(),
        table["paradoxical"].value_counts().to_dict(),
    )
    return table
