"""Simulated radiologists' calls on the test split of the dystrophy demo cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qmrflow.errors import ConfigError
from qmrflow.studies.dystrophy.diagnoses import POSITIVE_DIAGNOSES
from qmrflow.studies.dystrophy.simulate.diseases import _DISEASES, _GENERIC, _smoothstep


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
