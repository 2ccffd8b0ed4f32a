"""Input checks and row building shared by every ``qmrflow.stats`` module (private).

Every public function in ``qmrflow.stats`` validates its input through these helpers so that bad
input fails the same way everywhere: a :class:`ValueError` whose message names the offending
argument (``x``, ``ratings``, ...) and says what is wrong, never a silent NaN in a result table.

Missing values are rejected unless the caller asks for them to be dropped
(``drop_missing=True``); the number dropped is then returned so that results can report it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm

NAN = float("nan")


def row(
    measure: str,
    statistic: str,
    value: float,
    ci_low: float = NAN,
    ci_high: float = NAN,
    *,
    p: float = NAN,
    n: int | None = None,
    method: str = "",
) -> dict[str, Any]:
    """A tidy row dict with exactly the keys :data:`qmrflow.stats.tidy.ROW_KEYS`."""
    return {
        "measure": measure,
        "statistic": statistic,
        "value": float(value),
        "ci_low": float(ci_low),
        "ci_high": float(ci_high),
        "p": float(p),
        "n": n,
        "method": method,
    }


def critical_z(confidence: float) -> float:
    """Two-sided standard-normal critical value for ``confidence``."""
    return float(norm.ppf(0.5 + confidence / 2.0))


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float in (0, 1), else ValueError."""
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``, else ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def as_count(value: Any, name: str) -> int:
    """A non-negative integer (integral floats accepted), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def as_1d(values: ArrayLike | Sequence[Any], name: str) -> np.ndarray:
    """1-D array, non-empty, without missing values (NaN/None/pd.NA); any dtype."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    check_no_missing(array, name)
    return array


def missing_mask(array: np.ndarray) -> np.ndarray:
    """Boolean mask of missing entries (NaN, None, pd.NA, NaT) for any dtype."""
    if array.dtype.kind in "fc":
        return np.isnan(array)
    if array.dtype.kind == "O":
        return np.asarray(pd.isna(array), dtype=bool)
    return np.zeros(array.shape, dtype=bool)


def check_no_missing(array: np.ndarray, name: str) -> None:
    """ValueError naming ``name`` and the count if ``array`` has missing values."""
    missing = missing_mask(array)
    if missing.any():
        first = int(np.flatnonzero(missing.ravel())[0])
        raise ValueError(
            f"{name} contains {int(missing.sum())} missing value(s) (NaN/None), "
            f"first at flat index {first}; pass drop_missing=True to drop them where supported"
        )


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """ValueError if the first dimensions of ``a`` and ``b`` differ."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )


def binary_labels(values: ArrayLike, name: str, *, positive: Any = None) -> np.ndarray:
    """Boolean array of "is positive" from binary labels.

    With ``positive=None`` the labels must all be 0 or 1 (bools accepted; 1 = positive).
    Otherwise ``positive`` is the label of the positive class and the labels may be of any
    type (e.g. ``"DMD"``/``"control"``), with at most two distinct values. Whether
    ``positive`` occurs at all is left to the caller (a decision vector may lack it).
    """
    array = as_1d(values, name)
    if positive is not None:
        labels = pd.unique(array)
        if labels.size > 2:
            raise ValueError(
                f"{name} must have at most two distinct labels (positive={positive!r} and one "
                f"other); found {labels.size}: {labels[:5].tolist()}"
            )
        return np.asarray(array == positive, dtype=bool)
    hint = "; pass positive=<label> to name the positive class"
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind not in "iuf":
        try:
            array = array.astype(float)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must contain only the labels 0 and 1, got dtype {array.dtype}{hint}"
            ) from None
    bad = (array != 0) & (array != 1)
    if bad.any():
        offending = np.unique(array[bad])[:5]
        raise ValueError(
            f"{name} must contain only the labels 0 and 1 (1 = positive); "
            f"found {offending.tolist()}{hint}"
        )
    return array == 1


def _as_float(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {array.shape}")
    if array.dtype.kind == "b" or array.dtype.kind not in "iufO":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    try:
        array = np.asarray(
            pd.to_numeric(pd.Series(array, dtype=object if array.dtype.kind == "O" else None)),
            dtype=float,
        )
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got non-numeric values") from None
    if np.isinf(array).any():
        raise ValueError(f"{name} contains {int(np.isinf(array).sum())} infinite value(s)")
    return array


@dataclass(frozen=True)
class Sample:
    """A numeric 1-D sample after missing-value handling."""

    values: np.ndarray
    n_dropped: int


@dataclass(frozen=True)
class Paired:
    """Two numeric samples paired by position after pairwise missing-value handling."""

    x: np.ndarray
    y: np.ndarray
    n_dropped: int


def numeric_sample(
    values: ArrayLike, name: str, *, drop_missing: bool = False, min_n: int = 1
) -> Sample:
    """A finite float sample, missing values rejected (or dropped and counted).

    Raises
    ------
    ValueError
        Not 1-D, not numeric, infinite values, missing values without ``drop_missing``, or
        fewer than ``min_n`` observations left.
    """
    array = _as_float(values, name)
    missing = np.isnan(array)
    if missing.any() and not drop_missing:
        check_no_missing(array, name)
    array = array[~missing]
    check_min_n(array.size, min_n, name)
    return Sample(array, int(missing.sum()))


def numeric_pairs(
    x: ArrayLike,
    y: ArrayLike,
    names: tuple[str, str] = ("x", "y"),
    *,
    drop_missing: bool = False,
    min_n: int = 1,
) -> Paired:
    """Two finite float samples of equal length; pairs with a missing value rejected or dropped.

    Raises
    ------
    ValueError
        Not 1-D, not numeric, unequal lengths, infinite values, missing values without
        ``drop_missing`` (the message names the variable), or fewer than ``min_n`` complete
        pairs.
    """
    a = _as_float(x, names[0])
    b = _as_float(y, names[1])
    check_same_length(a, b, *names)
    missing = np.isnan(a) | np.isnan(b)
    if missing.any() and not drop_missing:
        for array, name in ((a, names[0]), (b, names[1])):
            check_no_missing(array, name)
    keep = ~missing
    check_min_n(int(keep.sum()), min_n, f"{names[0]}/{names[1]} pairs")
    return Paired(a[keep], b[keep], int(missing.sum()))


def check_min_n(n: int, minimum: int, name: str) -> None:
    """ValueError if fewer than ``minimum`` observations of ``name`` are available."""
    if n < minimum:
        raise ValueError(f"{name} has {n} usable observation(s); at least {minimum} are needed")


def check_not_constant(values: np.ndarray, name: str) -> None:
    """ValueError if every value of ``values`` is the same (zero variance)."""
    if values.size and np.all(values == values[0]):
        raise ValueError(
            f"{name} is constant (every value is {values[0]!r}); the statistic is undefined"
        )


def tie_sizes(values: np.ndarray) -> np.ndarray:
    """Sizes of the groups of tied (exactly equal) values, only groups of 2 or more, as float.

    Untied values would add nothing to the tie corrections (``t³ - t = 0`` for ``t = 1``).
    """
    counts = np.unique(values, return_counts=True)[1]
    return counts[counts > 1].astype(float)


def dropped_note(n_dropped: int, what: str = "pair") -> str:
    """Method-string suffix reporting dropped missing values, empty when none were dropped."""
    if n_dropped == 0:
        return ""
    return f"; {n_dropped} {what}(s) with missing values dropped"
