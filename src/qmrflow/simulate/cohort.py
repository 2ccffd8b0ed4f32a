"""Cohort building blocks: integer split sizes, stratified split allocation, seeds by subject id.

Every simulated cohort needs the same three things: split a number of subjects into parts
proportional to some weights (diagnoses, train/val/test), assign subjects to splits stratified by
a label so every split holds every class, and give each subject its own random stream. The
stream is derived from the study seed and the subject's *id* (:func:`subject_seed`), never from
its position in the table, so adding subjects to a cohort leaves every existing subject's data
unchanged.

Hand-written on purpose: scikit-learn's ``train_test_split`` / ``StratifiedShuffleSplit`` do
not guarantee a minimum per split and stratum, and their rounding differs from the
largest-remainder rule the demo cohorts were drawn with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qmrflow.errors import ConfigError

__all__ = [
    "SPLITS",
    "assign_splits",
    "largest_remainder",
    "split_counts",
    "subject_rng",
    "subject_seed",
]

SPLITS: tuple[str, str, str] = ("train", "val", "test")
"""The split names of a participants table, in order."""


def _check_weights(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError(f"weights must be non-negative finite numbers, got {list(w)}")
    if w.sum() <= 0:
        raise ConfigError(f"weights must have a positive sum, got {list(w)}")
    return w


def largest_remainder(
    total: int, weights: Sequence[float] | np.ndarray, minimum: int | np.ndarray = 0
) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights``, each >= ``minimum``.

    The minimum of every part is reserved first; the rest is shared by the largest-remainder
    (Hamilton) rule, ties going to the earlier part.

    Parameters
    ----------
    total
        Number of items to share.
    weights
        Non-negative relative sizes (normalised here).
    minimum
        Smallest size of each part: one number or one per part.

    Returns
    -------
    numpy.ndarray
        int, one size per weight, summing to ``total``.

    Raises
    ------
    ConfigError
        The minima exceed ``total``, or the weights are not non-negative with a positive sum.
    """
    w = _check_weights(weights)
    w = w / w.sum()
    base = np.broadcast_to(np.asarray(minimum, dtype=int), w.shape).copy()
    rest = int(total) - int(base.sum())
    if rest < 0:
        raise ConfigError(f"cannot split {total} items into parts of at least {minimum}")
    exact = w * rest
    counts = np.floor(exact).astype(int)
    left = rest - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:left]] += 1
    return base + counts


def split_counts(total: int, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Split ``total`` proportionally to ``weights``, at least 1 per positive weight.

    Unlike :func:`largest_remainder` with a minimum, the whole total is shared first
    (largest remainder); a positive-weight part left empty then takes one item from the largest
    part. The synthmri demo cohort's splits are drawn this way.

    Raises
    ------
    ConfigError
        The weights are not non-negative with a positive sum, or ``total`` is smaller than the
        number of positive weights.
    """
    w = _check_weights(weights)
    total = int(total)
    if total < int((w > 0).sum()):
        raise ConfigError(f"cannot give each of {int((w > 0).sum())} parts one of {total} items")
    exact = w / w.sum() * total
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    for i in np.flatnonzero((w > 0) & (counts == 0)):
        counts[int(np.argmax(counts))] -= 1
        counts[i] += 1
    return counts


def assign_splits(
    strata: Sequence[object] | np.ndarray,
    fractions: Sequence[float] | np.ndarray,
    rng: np.random.Generator,
    *,
    names: Sequence[str] = SPLITS,
    nonempty: bool = True,
) -> np.ndarray:
    """Assign each subject a split, stratified by a label.

    Within each stratum (taken in order of first appearance) the split sizes follow
    ``fractions`` by :func:`largest_remainder`, with at least one subject in every split of
    positive fraction when ``nonempty``; which subjects go where is a random permutation.

    Parameters
    ----------
    strata
        One label per subject (e.g. diagnosis or class); any hashable values.
    fractions
        Relative sizes of the splits, one per name.
    rng
        Random generator; the result is deterministic given its state.
    names
        Split names, one per fraction.
    nonempty
        Reserve one subject per positive-fraction split in every stratum.

    Returns
    -------
    numpy.ndarray
        The split name of each subject (object array, same order as ``strata``).

    Raises
    ------
    ConfigError
        ``fractions`` and ``names`` differ in length, or a stratum is too small to give every
        positive-fraction split a subject.
    """
    w = _check_weights(fractions)
    if len(names) != len(w):
        raise ConfigError(f"{len(w)} split fractions for {len(names)} split names {list(names)}")
    labels = np.asarray(strata, dtype=object)
    out = np.empty(len(labels), dtype=object)
    minimum = (w > 0).astype(int) if nonempty else 0
    split_names = np.asarray(names, dtype=object)
    for value in dict.fromkeys(labels.tolist()):
        index = np.flatnonzero(labels == value)
        sizes = largest_remainder(len(index), w, minimum=minimum)
        out[index[rng.permutation(len(index))]] = np.repeat(split_names, sizes)
    return out


def subject_seed(seed: int, participant_id: str) -> np.random.SeedSequence:
    """The seed sequence of one subject: the study seed and the UTF-8 bytes of its id.

    Stable across runs, platforms and cohort sizes, and independent of the other subjects, so
    adding a subject to a cohort leaves every other subject's data unchanged. Spawn children
    (``subject_seed(...).spawn(k)``) for independent streams (anatomy, noise, ...).
    """
    return np.random.SeedSequence([int(seed), *str(participant_id).encode("utf-8")])


def subject_rng(seed: int, participant_id: str) -> np.random.Generator:
    """A generator seeded by :func:`subject_seed`."""
    return np.random.default_rng(subject_seed(seed, participant_id))
