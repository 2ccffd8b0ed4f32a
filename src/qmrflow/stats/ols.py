"""Ordinary least squares with several predictors (multiple linear regression).

The fit is :class:`statsmodels.regression.linear_model.OLS` (also behind
:func:`qmrflow.stats.regression.linear_regression`, through :func:`fit_ols`); this module
validates the design, refuses a rank-deficient one, fixes the conventions below and returns
plain numbers (no statsmodels object). The test suite reproduces the NIST StRD Longley
(1967) certified values and R's ``lm`` example (Dobson's plant weights).

Model
-----
``y = X b + e`` with ``X`` the ``n × k`` design: a column of ones first when
``intercept=True`` (coefficient ``"(Intercept)"``), then the ``p`` predictors. With
``RSS = sum e²`` and ``s² = RSS / (n - k)`` (Draper & Smith 1998, ch. 5)::

    b = (X'X)⁻¹ X'y,   cov(b) = s² (X'X)⁻¹,   se(b_j) = sqrt(cov(b)_jj)

Intervals ``b_j ± t_{n-k} se(b_j)`` and two-sided t tests of ``b_j = 0`` on ``n - k`` df.

With intercept the sums of squares are centred, ``TSS = sum (y - ȳ)²``, and::

    R² = 1 - RSS/TSS,   adj R² = 1 - (1 - R²)(n - 1)/(n - k),
    F = ((TSS - RSS)/p) / s²  on p and n - k df (all slopes = 0)

Without intercept they are *uncentred*, as R's ``summary.lm`` (and statsmodels, NIST)
reports them: ``TSS = sum y²``, ``R² = 1 - RSS/sum y²``, ``adj R² = 1 - (1 - R²) n/(n - p)``
and ``F`` on ``p`` (every coefficient = 0) and ``n - p`` df. They measure the fit against
``y = 0``, are usually much larger than centred values, and the two must not be compared
(Eisenhauer 2003).

Written here because statsmodels lacks it
-----------------------------------------
statsmodels fits a rank-deficient design silently with a pseudo-inverse (one of infinitely
many solutions, fewer model df). Here it is refused: the design's columns are scaled to unit
length and if the smallest singular value is below ``1e-7`` times the largest (R's ``lm``
uses the same tolerance, on a pivoted QR) the columns with weight in the near-null
directions are named in the :class:`ValueError`. Also the input checks (names, missing
values) and the record/rows of the result.

An exact (or essentially exact) fit is allowed but logged as a warning with R's criterion
``s² < 1e-30 (mean(ŷ)² + var(ŷ))``: ``t``, ``F`` and their p-values are then round-off.

References
----------
Draper NR, Smith H (1998) Applied Regression Analysis, 3rd ed. Wiley.
Eisenhauer JG (2003) Regression through the origin. Teaching Statistics 25:76-80.
Longley JW (1967) An appraisal of least squares programs for the electronic computer from
the point of view of the user. J Am Stat Assoc 62:819-841.
NIST/ITL Statistical Reference Datasets, Linear Least Squares Regression (Longley):
https://www.itl.nist.gov/div898/strd/lls/data/Longley.shtml
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.typing import ArrayLike

from qmrflow.stats._checks import (
    check_confidence,
    check_min_n,
    check_no_missing,
    check_not_constant,
    check_same_length,
    dropped_note,
    row,
)

__all__ = ["Coefficient", "MultipleRegressionResult", "multiple_regression"]

logger = logging.getLogger(__name__)

INTERCEPT_NAME = "(Intercept)"
RANK_TOLERANCE = 1e-7
_ARRAY_FIELDS = ("estimates", "se", "ci_low", "ci_high", "t", "p", "cov")


@dataclass(frozen=True)
class OLSFit:
    """The numbers of one statsmodels OLS fit (shared machinery, not public API).

    ``conf_int`` is ``(k, 2)``; ``ss_*`` are centred with a constant, uncentred without;
    ``essentially_exact`` is R's ``summary.lm`` criterion for a perfect fit.
    """

    params: np.ndarray
    bse: np.ndarray
    tvalues: np.ndarray
    pvalues: np.ndarray
    conf_int: np.ndarray
    cov: np.ndarray
    r_squared: float
    adj_r_squared: float
    f: float
    f_p: float
    df_model: int
    df_resid: int
    scale: float
    ss_regression: float
    ss_residual: float
    ss_total: float
    essentially_exact: bool


def fit_ols(y: np.ndarray, design: np.ndarray, *, hasconst: bool, confidence: float) -> OLSFit:
    """Fit ``y`` on ``design`` with statsmodels OLS (``hasconst`` given, never guessed)."""
    model = sm.OLS(y, design, hasconst=hasconst)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A perfect fit has RSS = 0: t and F are then ±inf (p = 0), which is the right limit.
        fit = model.fit()
        fitted = np.asarray(fit.fittedvalues, dtype=float)
        return OLSFit(
            params=np.asarray(fit.params, dtype=float),
            bse=np.asarray(fit.bse, dtype=float),
            tvalues=np.asarray(fit.tvalues, dtype=float),
            pvalues=np.asarray(fit.pvalues, dtype=float),
            conf_int=np.asarray(fit.conf_int(alpha=1.0 - confidence), dtype=float),
            cov=np.asarray(fit.cov_params(), dtype=float),
            r_squared=float(fit.rsquared),
            adj_r_squared=float(fit.rsquared_adj),
            f=float(fit.fvalue),
            f_p=float(fit.f_pvalue),
            df_model=round(float(fit.df_model)),
            df_resid=round(float(fit.df_resid)),
            scale=float(fit.scale),
            ss_regression=float(fit.ess),
            ss_residual=float(fit.ssr),
            ss_total=float(fit.centered_tss if hasconst else fit.uncentered_tss),
            essentially_exact=bool(
                fit.scale < (np.mean(fitted) ** 2 + np.var(fitted, ddof=1)) * 1e-30
            ),
        )


@dataclass(frozen=True)
class Coefficient:
    """One coefficient of a :class:`MultipleRegressionResult` (see there)."""

    name: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    t: float
    p: float


@dataclass(frozen=True, eq=False)
class MultipleRegressionResult:
    """Ordinary least-squares fit of ``y`` on several predictors, with inference.

    Equality compares every field (arrays elementwise, NaN equal to NaN); the result is not
    hashable.

    Attributes
    ----------
    names
        Coefficient names, ``"(Intercept)"`` first when ``intercept``.
    estimates, se, ci_low, ci_high, t, p
        Per coefficient (read-only arrays in the order of ``names``): estimate, standard
        error, t interval, ``t = estimate / se`` and two-sided p of ``coefficient = 0``.
        :meth:`coefficient` gives them for one name.
    cov
        Covariance matrix of the estimates (read-only, ``k × k``).
    r_squared, adj_r_squared
        R² and adjusted R²: centred with intercept, uncentred without (module docstring).
    f, f_df1, f_df2, f_p
        F test of all slopes = 0 (without intercept: all coefficients = 0), its df (``p``
        and ``n - k``) and p-value.
    residual_sd
        Residual standard deviation ``s = sqrt(ss_residual / df_residual)``.
    ss_regression, ss_residual, ss_total
        Regression, residual and total sums of squares (``ss_regression + ss_residual =
        ss_total``; centred with intercept, uncentred without).
    df_residual
        Residual degrees of freedom ``n - k`` (equal to ``f_df2``).
    n, n_dropped
        Rows used, and rows dropped because a value was missing.
    intercept
        Whether an intercept was fitted.
    confidence
        Confidence level of the intervals.
    method
        Human-readable description of model, intervals, tests and R² type.
    response
        Name of ``y`` (its pandas name, else ``"y"``), for messages and ``method``.
    """

    names: tuple[str, ...]
    estimates: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    t: np.ndarray
    p: np.ndarray
    cov: np.ndarray
    r_squared: float
    adj_r_squared: float
    f: float
    f_df1: int
    f_df2: int
    f_p: float
    residual_sd: float
    ss_regression: float
    ss_residual: float
    ss_total: float
    df_residual: int
    n: int
    n_dropped: int
    intercept: bool
    confidence: float
    method: str
    response: str = "y"

    def __post_init__(self) -> None:
        for name in _ARRAY_FIELDS:
            array = np.array(getattr(self, name), dtype=float)  # a private, frozen copy
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        object.__setattr__(self, "names", tuple(self.names))

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickle through __init__, so that the arrays are read-only again.
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultipleRegressionResult):
            return NotImplemented
        return all(_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    def coefficient(self, name: str) -> Coefficient:
        """Estimate, SE, interval, t and p of the coefficient called ``name``.

        Raises
        ------
        KeyError
            ``name`` is not one of :attr:`names`.
        """
        if name not in self.names:
            raise KeyError(
                f"no coefficient named {name!r}; the coefficients are {list(self.names)}"
            )
        j = self.names.index(name)
        return Coefficient(
            name=name,
            estimate=float(self.estimates[j]),
            se=float(self.se[j]),
            ci_low=float(self.ci_low[j]),
            ci_high=float(self.ci_high[j]),
            t=float(self.t[j]),
            p=float(self.p[j]),
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: one per coefficient, then R², adjusted R², the F test and residual SD.

        Coefficient rows have ``measure`` = the coefficient name and statistic
        ``"coefficient"`` (estimate with CI and p); the F test gets ``F`` (with p), ``df1``
        and ``df2`` rows, as :meth:`RegressionResult.to_rows
        <qmrflow.stats.regression.RegressionResult.to_rows>`.
        """
        m, n = self.method, self.n
        rows = [
            row(name, "coefficient", est, low, high, p=p, n=n, method=m)
            for name, est, low, high, p in zip(
                self.names, self.estimates, self.ci_low, self.ci_high, self.p, strict=True
            )
        ]
        return [
            *rows,
            row("r_squared", "estimate", self.r_squared, n=n, method=m),
            row("adj_r_squared", "estimate", self.adj_r_squared, n=n, method=m),
            row("f_statistic", "F", self.f, p=self.f_p, n=n, method=m),
            row("f_statistic", "df1", self.f_df1, n=n, method=m),
            row("f_statistic", "df2", self.f_df2, n=n, method=m),
            row("residual_sd", "estimate", self.residual_sd, n=n, method=m),
        ]


def multiple_regression(
    X: ArrayLike | pd.DataFrame,
    y: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    intercept: bool = True,
    confidence: float = 0.95,
    drop_missing: bool = False,
) -> MultipleRegressionResult:
    """Ordinary least-squares regression of ``y`` on the columns of ``X`` (statsmodels OLS).

    Parameters
    ----------
    X
        Predictors, ``(n, p)`` with ``p >= 1``: a 2-D array (columns named ``x1``, ``x2``,
        ...) or a pandas DataFrame (its column names). Numbers or booleans; encode a
        categorical predictor as 0/1 indicator columns. Rows pair with ``y`` by position.
    y
        Response, 1-D, length ``n``.
    names
        Coefficient names for the ``p`` columns of ``X`` (overriding a DataFrame's), unique.
    intercept
        Fit an intercept (coefficient ``"(Intercept)"``, first). Without it R², adjusted R²
        and F are uncentred (see the module docstring).
    confidence
        Confidence level of the coefficient intervals, in (0, 1).
    drop_missing
        Drop rows with a missing value in ``X`` or ``y`` instead of raising; their number is
        reported in ``n_dropped`` and ``method``.

    Returns
    -------
    MultipleRegressionResult
        Coefficients with SE, t interval, t and two-sided p; R², adjusted R², F test,
        residual SD and the sums of squares.

    Raises
    ------
    ValueError
        Bad ``confidence``; ``X`` not 2-D or without columns; ``y`` not 1-D; non-numeric or
        infinite values; ``X`` and ``y`` of different lengths; ``names`` not one unique
        string per column; missing values without ``drop_missing`` (the message names the
        column); ``n`` not larger than the number of coefficients; ``y`` constant (with
        intercept) or all zero (without); a rank-deficient design (the message names the
        collinear columns).

    Examples
    --------
    >>> fit = multiple_regression([[1, 0], [2, 1], [3, 0], [4, 1], [5, 0]],
    ...                           [3.1, 6.2, 7.0, 10.1, 11.0])
    >>> fit.names
    ('(Intercept)', 'x1', 'x2')
    >>> round(fit.coefficient("x1").estimate, 2), round(fit.r_squared, 4)
    (1.97, 0.9999)
    """
    confidence = check_confidence(confidence)
    intercept = bool(intercept)
    predictors, columns = _design_columns(X, names)
    response = y.name if isinstance(y, pd.Series) and isinstance(y.name, str) else "y"
    if np.ndim(y) != 1:
        raise ValueError(f"y must be 1-dimensional, got shape {np.shape(y)}")
    ys = _float_column(y, "y")
    design = np.column_stack(columns)
    check_same_length(design, ys, "X", "y")

    missing = np.isnan(design).any(axis=1) | np.isnan(ys)
    if missing.any() and not drop_missing:
        for column, name in zip(columns, predictors, strict=True):
            check_no_missing(column, f"X column {name!r}")
        check_no_missing(ys, "y")
    design, ys = design[~missing], ys[~missing]
    n, n_dropped = int(ys.size), int(missing.sum())

    coefficient_names = (INTERCEPT_NAME, *predictors) if intercept else predictors
    _check_unique(coefficient_names)
    if intercept:
        design = np.column_stack([np.ones(n), design])
    k = design.shape[1]
    check_min_n(n, k + 1, f"X/y rows (for {k} coefficients)")
    if intercept:
        check_not_constant(ys, "y")
    elif np.all(ys == 0.0):
        raise ValueError(
            "y is all zero; the uncentred R² of a regression without intercept is undefined"
        )
    _check_rank(design, coefficient_names)

    fit = fit_ols(ys, design, hasconst=intercept, confidence=confidence)
    p = len(predictors)
    if fit.df_model != p or fit.df_resid != n - k:  # statsmodels found a lower rank
        raise ValueError(
            f"X is numerically rank deficient (statsmodels fitted {fit.df_model} of {p} "
            "predictor df); rescale or remove collinear columns"
        )
    if fit.essentially_exact:
        logger.warning(
            "essentially perfect fit of %s on %s: t, F and p are dominated by round-off",
            response,
            ", ".join(predictors),
        )
    return MultipleRegressionResult(
        names=coefficient_names,
        estimates=fit.params,
        se=fit.bse,
        ci_low=fit.conf_int[:, 0],
        ci_high=fit.conf_int[:, 1],
        t=fit.tvalues,
        p=fit.pvalues,
        cov=fit.cov,
        r_squared=fit.r_squared,
        adj_r_squared=fit.adj_r_squared,
        f=fit.f,
        f_df1=fit.df_model,
        f_df2=fit.df_resid,
        f_p=fit.f_p,
        residual_sd=math.sqrt(fit.scale),
        ss_regression=fit.ss_regression,
        ss_residual=fit.ss_residual,
        ss_total=fit.ss_total,
        df_residual=fit.df_resid,
        n=n,
        n_dropped=n_dropped,
        intercept=intercept,
        confidence=confidence,
        method=_method_text(response, predictors, intercept, confidence, fit.df_resid, n_dropped),
        response=response,
    )


def _design_columns(
    X: ArrayLike | pd.DataFrame,
    names: Sequence[str] | None,
) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """Predictor names and float columns of ``X`` (missing values kept as NaN)."""
    if isinstance(X, pd.DataFrame):
        default = tuple(str(c) for c in X.columns)
        raw = [X.iloc[:, j] for j in range(X.shape[1])]
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(
                f"X must be 2-dimensional (n observations × p predictors), got shape "
                f"{array.shape}; for one predictor pass X[:, None] or use linear_regression"
            )
        default = tuple(f"x{j + 1}" for j in range(array.shape[1]))
        raw = [array[:, j] for j in range(array.shape[1])]
    if not raw:
        raise ValueError("X has no columns; at least one predictor is needed")
    if names is None:
        predictors = default
    else:
        if isinstance(names, str) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"names must be a sequence of strings, got {names!r}")
        predictors = tuple(names)
        if len(predictors) != len(raw):
            raise ValueError(f"names has {len(predictors)} entries but X has {len(raw)} columns")
    columns = [
        _float_column(values, f"X column {name!r}")
        for values, name in zip(raw, predictors, strict=True)
    ]
    return predictors, columns


def _float_column(values: Any, label: str) -> np.ndarray:
    """Numbers or booleans as a float array (NaN for missing), else ValueError naming it."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    try:
        if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
            array = series.to_numpy(dtype=float, na_value=np.nan)
        elif series.dtype == object:
            array = pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan)
        else:
            raise TypeError
    except (TypeError, ValueError):
        hint = " (encode a categorical predictor as 0/1 indicator columns)"
        raise ValueError(
            f"{label} must be numeric{hint if label.startswith('X') else ''}, "
            f"got dtype {series.dtype}"
        ) from None
    if np.isinf(array).any():
        raise ValueError(f"{label} contains {int(np.isinf(array).sum())} infinite value(s)")
    return array


def _check_unique(names: tuple[str, ...]) -> None:
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"coefficient names must be unique; duplicated: {duplicated}")


def _check_rank(design: np.ndarray, names: tuple[str, ...]) -> None:
    """ValueError naming the collinear columns if the design is (numerically) rank deficient."""
    norms = np.linalg.norm(design, axis=0)
    zero = [names[j] for j in np.flatnonzero(norms == 0.0)]
    if zero:
        raise ValueError(f"X is rank deficient: column(s) {zero} are all zero")
    _, singular, vt = np.linalg.svd(design / norms, full_matrices=False)
    small = singular < RANK_TOLERANCE * singular[0]
    if not small.any():
        return
    # Columns with weight in a near-null direction take part in the linear dependence.
    weight = np.abs(vt[small]).max(axis=0)
    involved = [names[j] for j in np.flatnonzero(weight > 1e-6)]
    raise ValueError(
        f"X is rank deficient: the columns {involved or 'of the design'} are (nearly) linearly "
        f"dependent (smallest/largest singular value of the column-scaled design "
        f"{singular[-1] / singular[0]:.2g} < {RANK_TOLERANCE:g}); remove or combine them"
    )


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=True))
        )
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _method_text(
    response: str,
    predictors: tuple[str, ...],
    intercept: bool,
    confidence: float,
    df: int,
    n_dropped: int,
) -> str:
    p, on = len(predictors), ", ".join(predictors)
    inference = f"{100 * confidence:g}% t CIs and two-sided t tests on {df} df"
    if intercept:
        text = (
            f"OLS multiple regression of {response} on {on} with intercept; {inference}; "
            f"F test of all {p} slopes = 0 on {p} and {df} df; R² centred"
        )
    else:
        text = (
            f"OLS multiple regression of {response} on {on} without intercept; {inference}; "
            f"F test of all {p} coefficients = 0 on {p} and {df} df; R², adjusted R² and F "
            f"uncentred (against {response} = 0, as R's summary.lm), not comparable with "
            "centred values"
        )
    return text + dropped_note(n_dropped, "row")
