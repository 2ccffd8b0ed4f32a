"""Split sizes, stratified split allocation and seeds by subject id of the simulation kit."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.errors import ConfigError
from qmrflow.simulate.cohort import (
    SPLITS,
    assign_splits,
    largest_remainder,
    split_counts,
    subject_rng,
    subject_seed,
)


def test_largest_remainder_is_proportional_and_exact() -> None:
    assert largest_remainder(10, [1, 1, 1]).tolist() == [4, 3, 3]  # ties to the earlier part
    assert largest_remainder(100, [0.55, 0.2, 0.25]).tolist() == [55, 20, 25]
    # One each reserved, the other 4 shared: 2.2, 0.8, 1.0 -> 2, 1, 1 (largest remainder 0.8).
    assert largest_remainder(7, [0.55, 0.2, 0.25], minimum=1).tolist() == [3, 2, 2]
    assert largest_remainder(3, [0.0, 1.0], minimum=[0, 0]).tolist() == [0, 3]


def test_largest_remainder_rejects_impossible_minima_and_bad_weights() -> None:
    with pytest.raises(ConfigError, match="at least"):
        largest_remainder(2, [1, 1, 1], minimum=1)
    with pytest.raises(ConfigError, match="positive sum"):
        largest_remainder(5, [0, 0])
    with pytest.raises(ConfigError, match="non-negative"):
        largest_remainder(5, [1, -1])


def test_split_counts_borrows_from_the_largest_part() -> None:
    assert split_counts(24, np.array([14.0, 2.0, 8.0])).tolist() == [14, 2, 8]
    # 0.5 of a subject rounds to 0 for val; it takes one from train, the largest part.
    assert split_counts(4, [14.0, 0.5, 8.0]).tolist() == [2, 1, 1]
    assert split_counts(5, [1.0, 0.0, 1.0]).tolist() == [3, 0, 2]
    with pytest.raises(ConfigError):
        split_counts(1, [1.0, 1.0])


@pytest.mark.parametrize("n", [9, 17, 100, 433])
def test_assign_splits_respects_fractions_in_every_stratum(n: int) -> None:
    rng = np.random.default_rng(0)
    strata = np.where(np.arange(n) % 3 == 0, "pos", "neg")
    fractions = (0.6, 0.15, 0.25)
    splits = assign_splits(strata, fractions, rng)
    assert set(splits) <= set(SPLITS)
    for label in ("pos", "neg"):
        members = splits[strata == label]
        counts = [int((members == s).sum()) for s in SPLITS]
        assert counts == largest_remainder(len(members), fractions, minimum=1).tolist()
        assert min(counts) >= 1  # every split holds every class


def test_assign_splits_is_deterministic_and_random_within_strata() -> None:
    strata = ["a"] * 50 + ["b"] * 30
    first = assign_splits(strata, (0.5, 0.25, 0.25), np.random.default_rng(7))
    again = assign_splits(strata, (0.5, 0.25, 0.25), np.random.default_rng(7))
    other = assign_splits(strata, (0.5, 0.25, 0.25), np.random.default_rng(8))
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()
    # Not simply blocks in table order.
    assert first[:25].tolist() != ["train"] * 25


def test_assign_splits_without_the_minimum_and_bad_names() -> None:
    splits = assign_splits(["x"] * 10, (1.0, 0.0, 0.0), np.random.default_rng(0), nonempty=False)
    assert splits.tolist() == ["train"] * 10
    with pytest.raises(ConfigError, match="split names"):
        assign_splits(["x"] * 4, (1, 1), np.random.default_rng(0))


def test_seed_by_id_is_stable_when_the_cohort_grows() -> None:
    small = [f"s{i:03d}" for i in range(1, 11)]
    large = [f"s{i:03d}" for i in range(1, 201)]
    draws_small = {pid: subject_rng(5, pid).random(3) for pid in small}
    draws_large = {pid: subject_rng(5, pid).random(3) for pid in large}
    for pid in small:
        np.testing.assert_array_equal(draws_small[pid], draws_large[pid])
    states = {tuple(subject_seed(5, pid).generate_state(2)) for pid in large}
    assert len(states) == len(large)  # distinct subjects, distinct streams
    assert subject_seed(5, "s001").generate_state(1) != subject_seed(6, "s001").generate_state(1)


def test_seed_by_id_is_pinned() -> None:
    """The synthmri demo data depend on this exact derivation: study seed, then the id bytes."""
    expected = np.random.SeedSequence([2025, *b"s001"]).generate_state(4)
    np.testing.assert_array_equal(subject_seed(2025, "s001").generate_state(4), expected)


def test_assign_splits_reports_a_stratum_too_small() -> None:
    with pytest.raises(ConfigError, match="at least"):
        assign_splits(["a", "a", "b", "b", "b"], (0.6, 0.2, 0.2), np.random.default_rng(0))
