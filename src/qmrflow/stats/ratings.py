"""Reader scores of two methods: per-rater Cohen's kappa and Wilcoxon signed-rank test.

Reader studies score the same items (lesions, images) under two methods, e.g. lesion
visibility 1-4 on conventional (CR) and deep-learning (DLR) reconstructions, each rater scoring
every item under both. :func:`rating_agreement` takes such scores as a long table -- one row
per item, rater and method -- and, for each rater, pairs the two scores of every item and
reports

* Cohen's kappa between the methods (:func:`qmrflow.stats.agreement.cohen_kappa`, unweighted or
  linear/quadratic weights over the ordered score scale): do the methods earn the same score?
* the Wilcoxon signed-rank test of the paired scores
  (:func:`qmrflow.stats.ranks.wilcoxon_signed_rank`, differences ``method 1 − method 2``): does
  one method score systematically higher?

as one tidy table (:func:`qmrflow.stats.tidy.tidy`) with one comparison per rater, named
``"rater R1: CR vs DLR"``.

Pairing is strict: exactly two methods, each (rater, item, method) scored once, and every item
a rater scored scored under both methods; an item with one score (or a missing score) is an
error naming the rater and the items, unless ``drop_missing=True`` drops it, counts it in the
results' ``n_dropped`` and says so in their ``method`` text.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.stats._checks import check_choice, check_confidence
from qmrflow.stats.agreement import WEIGHTS, cohen_kappa
from qmrflow.stats.ranks import wilcoxon_signed_rank
from qmrflow.stats.tidy import tidy

__all__ = ["rating_agreement"]

logger = logging.getLogger(__name__)

_SHOWN = 10  # items named in an error message


def rating_agreement(
    table: pd.DataFrame,
    *,
    study: str,
    item: str = "lesion",
    rater: str = "rater",
    method: str = "method",
    score: str = "score",
    methods: Sequence[Any] | None = None,
    categories: Sequence[Any] | None = None,
    weights: str | None = None,
    confidence: float = 0.95,
    drop_missing: bool = False,
) -> pd.DataFrame:
    """Per rater, Cohen's kappa and the Wilcoxon signed-rank test between two methods' scores.

    Parameters
    ----------
    table
        Long table, one row per item, rater and method, with the columns named by ``item``,
        ``rater``, ``method`` and ``score`` (others are ignored). Scores are numeric and
        ordinal (e.g. 1-4).
    study
        Study identifier for the tidy table, e.g. ``"qsm"``.
    item, rater, method, score
        Column names.
    methods
        The two methods compared, in order: differences are ``methods[0] − methods[1]`` and
        comparisons read ``"rater R1: CR vs DLR"``; rows of other methods are ignored. Default:
        the two methods in the table, sorted (more than two is an error).
    categories
        The full ordinal score scale for kappa (e.g. ``[1, 2, 3, 4]``); matters for weighted
        kappa when a level was never used. Default: the sorted scores observed over the whole
        table (all raters), so every rater's kappa uses the same scale.
    weights
        Kappa weights: ``None`` (unweighted), ``"linear"`` or ``"quadratic"``.
    confidence
        Confidence level of the kappa interval.
    drop_missing
        Drop items lacking a score under one method (or with a missing score) instead of
        raising; the number dropped per rater is reported in ``n_dropped`` and the ``method``
        text of the results.

    Returns
    -------
    pandas.DataFrame
        Tidy table (:data:`qmrflow.stats.tidy.TIDY_COLUMNS`): per rater (sorted), the rows
        of :class:`~qmrflow.stats.agreement.KappaResult` then of
        :class:`~qmrflow.stats.ranks.WilcoxonResult`, under the comparison
        ``"rater <rater>: <method 1> vs <method 2>"``.

    Raises
    ------
    ValueError
        ``table`` not a DataFrame, a missing or repeated column name, missing item, rater or
        method labels, non-numeric scores, not exactly two methods (or ``methods`` not two
        distinct methods of the table), a (rater, item, method) scored twice, an item
        without both scores (unless ``drop_missing``), or a rater whose kappa or test is
        undefined (the message names the rater).
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    check_choice(weights, "weights", WEIGHTS)
    confidence = check_confidence(confidence)
    columns = {"item": item, "rater": rater, "method": method, "score": score}
    _check_columns(table, columns)
    data = table[[item, rater, method, score]]
    for role in ("item", "rater", "method"):
        missing = data[columns[role]].isna()
        if missing.any():
            rows = data.index[missing][:_SHOWN].tolist()
            raise ValueError(
                f"{role} column {columns[role]!r} has {int(missing.sum())} missing label(s), "
                f"at rows {rows}"
            )
    first, second = _two_methods(data[method], methods, method)
    data = data[data[method].isin([first, second])]
    scores = pd.to_numeric(data[score], errors="coerce")
    non_numeric = scores.isna() & data[score].notna()
    if non_numeric.any():
        bad = data.loc[non_numeric, score].unique()[:5].tolist()
        raise ValueError(f"score column {score!r} must be numeric, got {bad}")
    data = data.assign(**{score: scores})
    _check_duplicates(data, [rater, item, method])
    if categories is None:
        categories = np.unique(data[score].dropna().to_numpy()).tolist()

    frames = []
    for name in _sorted(data[rater].unique().tolist()):
        scored = data[data[rater] == name]
        wide = scored.pivot(index=item, columns=method, values=score).reindex(
            columns=[first, second]
        )
        incomplete = wide.isna().any(axis=1)
        if incomplete.any() and not drop_missing:
            raise ValueError(_missing_pairs_message(name, wide, first, second))
        n_dropped = int(incomplete.sum())
        if n_dropped:
            logger.info("rater %r: %d item(s) without both scores dropped", name, n_dropped)
        complete = wide[~incomplete]
        if complete.empty:
            raise ValueError(f"rater {name!r} has no item scored under both {first} and {second}")
        x, y = complete[first].to_numpy(), complete[second].to_numpy()
        try:
            kappa = cohen_kappa(x, y, categories=categories, weights=weights, confidence=confidence)
            test = wilcoxon_signed_rank(x, y, names=(str(first), str(second)))
        except ValueError as error:
            raise ValueError(f"rater {name!r}, {first} vs {second}: {error}") from error
        if n_dropped:
            note = f"; {n_dropped} item(s) without both {first} and {second} scores dropped"
            kappa = dataclasses.replace(kappa, n_dropped=n_dropped, method=kappa.method + note)
            test = dataclasses.replace(test, n_dropped=n_dropped, method=test.method + note)
        comparison = f"rater {name}: {first} vs {second}"
        frames.append(tidy([kappa, test], study=study, comparison=comparison))
    logger.info("%s vs %s compared for %d rater(s)", first, second, len(frames))
    return pd.concat(frames, ignore_index=True)


def _check_columns(table: pd.DataFrame, columns: dict[str, str]) -> None:
    names = list(columns.values())
    if len(set(names)) != len(names):
        raise ValueError(f"item, rater, method and score must name different columns: {columns}")
    absent = {role: name for role, name in columns.items() if name not in table.columns}
    if absent:
        raise ValueError(f"table lacks the column(s) {absent}; it has {list(table.columns)}")
    if table.empty:
        raise ValueError("table is empty")


def _two_methods(labels: pd.Series, methods: Sequence[Any] | None, column: str) -> tuple[Any, Any]:
    """The two methods compared: given (checked against the table) or the two found."""
    found = _sorted(labels.unique().tolist())
    if methods is None:
        if len(found) != 2:
            raise ValueError(
                f"method column {column!r} must hold exactly two methods, found {len(found)}: "
                f"{found}; pass methods=[method 1, method 2] to choose two"
            )
        return found[0], found[1]
    chosen = list(methods)
    if len(chosen) != 2 or chosen[0] == chosen[1]:
        raise ValueError(f"methods must name two different methods, got {chosen}")
    unknown = [m for m in chosen if m not in found]
    if unknown:
        raise ValueError(f"methods {unknown} not in method column {column!r} (found {found})")
    return chosen[0], chosen[1]


def _sorted(values: list[Any]) -> list[Any]:
    """``values`` sorted, or as they are when they cannot be compared (mixed types)."""
    try:
        return sorted(values)
    except TypeError:
        return values


def _check_duplicates(data: pd.DataFrame, keys: list[str]) -> None:
    duplicated = data.duplicated(subset=keys, keep=False)
    if duplicated.any():
        shown = data.loc[duplicated, keys].drop_duplicates().head(_SHOWN)
        cases = [tuple(values) for values in shown.itertuples(index=False)]
        raise ValueError(
            f"{int(duplicated.sum())} rows score the same ({', '.join(keys)}) more than once, "
            f"e.g. {cases}; each rater scores each item once per method"
        )


def _missing_pairs_message(name: Any, wide: pd.DataFrame, first: Any, second: Any) -> str:
    parts = []
    for present, absent in ((first, second), (second, first)):
        items = wide.index[wide[absent].isna() & wide[present].notna()].tolist()
        if items:
            parts.append(f"{len(items)} item(s) without a {absent} score: {items[:_SHOWN]}")
    both = wide.index[wide.isna().all(axis=1)].tolist()
    if both:
        parts.append(f"{len(both)} item(s) with missing scores under both: {both[:_SHOWN]}")
    return (
        f"rater {name!r}: every item needs a {first} and a {second} score; "
        + "; ".join(parts)
        + ". Pass drop_missing=True to drop these items"
    )
