"""Simple linear regression of y on x (ordinary least squares), with or without intercept.

The fit is :class:`statsmodels.regression.linear_model.OLS`; this module validates the
input, fixes the conventions below, and returns plain numbers (no statsmodels object), so
that results pickle, compare and turn into tidy rows. The test suite reproduces the NIST
Statistical Reference Datasets for linear least squares (Norris, NoInt1, NoInt2) to a
relative 1e-9. Several predictors: :func:`multiple_regression` (in :mod:`qmrflow.stats.ols`,
re-exported here), which shares the fit (:func:`qmrflow.stats.ols.fit_ols`).

Model with intercept, ``y = b0 + b1·x + e``
-------------------------------------------
With ``Sxx = sum (x - x̄)²``, ``Sxy = sum (x - x̄)(y - ȳ)``, ``RSS = sum e²`` and
``TSS = sum (y - ȳ)²`` (Draper & Smith 1998, *Applied Regression Analysis*, 3rd ed., ch. 1)::

    b1 = Sxy / Sxx,   b0 = ȳ - b1 x̄,   s² = RSS / (n - 2)
    se(b1) = s / sqrt(Sxx),   se(b0) = s sqrt(1/n + x̄² / Sxx),   cov(b0, b1) = -x̄ s² / Sxx
    R² = 1 - RSS / TSS,   adj R² = 1 - (1 - R²)(n - 1)/(n - 2),   F = (TSS - RSS) / s²

Intervals ``b ± t_{n-2} se(b)``, two-sided t tests of ``b = 0``, and ``F`` on 1 and
``n - 2`` df (``F = t(b1)²``). Pearson's correlation is reported beside them,
``r = Sxy / sqrt(Sxx Syy)`` (so ``r² = R²`` and ``r`` has the sign of ``b1``); its test of
``rho = 0`` is the t test of the slope (:mod:`qmrflow.stats.correlation` gives its interval).

Regression through the origin, ``y = b1·x + e``
------------------------------------------------
The intercept is fixed at exactly 0 (it has no standard error, interval or test)::

    b1 = sum xy / sum x²,   s² = RSS / (n - 1),   se(b1) = s / sqrt(sum x²)
    R²₀ = 1 - RSS / sum y²,   adj R²₀ = 1 - (1 - R²₀) n / (n - 1),   F = (sum y² - RSS) / s²

``R²₀`` is the *uncentred* coefficient of determination (as R's ``summary.lm``, statsmodels
and NIST use): it measures the fit against ``y = 0``, not against ``y = ȳ``, is usually
much larger than a centred R², and the two must not be compared (Eisenhauer 2003, Teaching
Statistics 25:76-80). ``F`` is on 1 and ``n - 1`` df. Pearson's ``r`` is not defined
(it is about the centred fit, and ``sqrt(R²₀)`` is no correlation), so it is NaN.

Bands for plots
---------------
At ``x0`` the fitted mean ``ŷ0 = b0 + b1 x0`` has variance
``v0 = var(b0) + 2 x0 cov(b0, b1) + x0² var(b1)`` (``x0² var(b1)`` through the origin);
:meth:`RegressionResult.confidence_band` is ``ŷ0 ± t sqrt(v0)`` and
:meth:`RegressionResult.prediction_band` (a new observation) is ``ŷ0 ± t sqrt(v0 + s²)``,
with ``t`` on the residual df (Draper & Smith 1998, §1.4).

An exact (or essentially exact) fit is allowed: the estimates and R² are right, but ``t``,
``F`` and their p-values are then round-off, so a warning is logged with R's ``summary.lm``
criterion ``s² < 1e-30 (mean(ŷ)² + var(ŷ))``.

References
----------
Draper NR, Smith H (1998) Applied Regression Analysis, 3rd ed. Wiley.
Eisenhauer JG (2003) Regression through the origin. Teaching Statistics 25:76-80.
NIST/ITL Statistical Reference Datasets, Linear Least Squares Regression:
https://www.itl.nist.gov/div898/strd/lls/lls.shtml
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as t_dist

from qmrflow.stats._checks import (
    NAN,
    check_confidence,
    check_min_n,
    check_not_constant,
    dropped_note,
    numeric_pairs,
    row,
)
from qmrflow.stats.ols import (
    Coefficient,
    MultipleRegressionResult,
    fit_ols,
    multiple_regression,
)

__all__ = [
    "Coefficient",
    "MultipleRegressionResult",
    "RegressionResult",
    "linear_regression",
    "multiple_regression",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegressionResult:
    """Ordinary least-squares line ``y = intercept + slope·x`` with inference.

    Attributes
    ----------
    slope, slope_se, slope_ci_low, slope_ci_high, slope_t, slope_p
        Slope, its standard error, t interval, ``t = slope / se`` and two-sided p.
    intercept, intercept_se, intercept_ci_low, intercept_ci_high, intercept_t, intercept_p
        The same for the intercept. Through the origin ``intercept`` is exactly 0 and the
        others are NaN (it is fixed, not estimated).
    cov_intercept_slope
        Covariance of the two estimates (used by the bands); NaN through the origin.
    r_squared
        Coefficient of determination: centred (``1 - RSS/TSS``) with intercept, uncentred
        (``1 - RSS/sum y²``) through the origin (see the module docstring).
    adj_r_squared
        Adjusted R² (same centring as ``r_squared``).
    f, f_df1, f_df2, f_p
        F statistic of the regression, its degrees of freedom (1 and ``n - 2``, or 1 and
        ``n - 1`` through the origin) and p-value.
    residual_sd
        Residual standard deviation ``s = sqrt(RSS / f_df2)``.
    n, n_dropped
        Pairs used, and pairs dropped because ``x`` or ``y`` was missing.
    through_origin
        Whether the intercept was fixed at 0.
    confidence
        Confidence level of the intervals (and the default level of the bands).
    method
        Human-readable description of model, intervals, R² type and tests.
    names
        Names of ``x`` and ``y``, for messages and plot labels.
    r
        Pearson's correlation of ``x`` and ``y`` (``r² = R²``, sign of the slope); NaN
        through the origin, where it is not defined (see the module docstring).
    """

    slope: float
    slope_se: float
    slope_ci_low: float
    slope_ci_high: float
    slope_t: float
    slope_p: float
    intercept: float
    intercept_se: float
    intercept_ci_low: float
    intercept_ci_high: float
    intercept_t: float
    intercept_p: float
    cov_intercept_slope: float
    r_squared: float
    adj_r_squared: float
    f: float
    f_df1: int
    f_df2: int
    f_p: float
    residual_sd: float
    n: int
    n_dropped: int
    through_origin: bool
    confidence: float
    method: str
    names: tuple[str, str] = ("x", "y")
    r: float = NAN

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom (``n - 2``, or ``n - 1`` through the origin)."""
        return self.f_df2

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Fitted mean ``intercept + slope·x`` at ``x`` (any shape), e.g. to draw the line."""
        return self.intercept + self.slope * np.asarray(x, dtype=float)

    def confidence_band(
        self, x: ArrayLike, *, confidence: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise confidence band ``(low, high)`` of the mean response at ``x``.

        ``confidence`` defaults to the level of the fit. See the module docstring.
        """
        return self._band(x, confidence, new_observation=False)

    def prediction_band(
        self, x: ArrayLike, *, confidence: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise prediction band ``(low, high)`` for a new observation at ``x``."""
        return self._band(x, confidence, new_observation=True)

    def _band(
        self, x: ArrayLike, confidence: float | None, *, new_observation: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        level = self.confidence if confidence is None else check_confidence(confidence)
        x0 = np.asarray(x, dtype=float)
        variance = x0**2 * self.slope_se**2
        if not self.through_origin:
            variance = variance + self.intercept_se**2 + 2.0 * x0 * self.cov_intercept_slope
        if new_observation:
            variance = variance + self.residual_sd**2
        half = float(t_dist.ppf(0.5 + level / 2.0, self.f_df2)) * np.sqrt(np.maximum(variance, 0.0))
        fitted = self.predict(x0)
        return fitted - half, fitted + half

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: slope, intercept, R², adjusted R², F test, residual SD and Pearson's r.

        Slope and intercept get ``estimate`` (with CI and p), ``se`` and ``t`` rows; the F
        test gets ``F`` (with p), ``df1`` and ``df2`` rows; ``pearson_r`` an ``estimate`` row
        without p (its test is the slope's) and NaN through the origin.
        """
        m, n = self.method, self.n
        if self.through_origin:
            intercept_method = f"intercept fixed at 0 (regression through the origin); {m}"
            r_method = f"Pearson's r not defined through the origin (NaN); {m}"
        else:
            intercept_method = m
            r_method = (
                f"Pearson's r (sign of the slope, r² = R²; its test of rho = 0 is the slope's "
                f"t test); {m}"
            )
        return [
            row(
                "slope",
                "estimate",
                self.slope,
                self.slope_ci_low,
                self.slope_ci_high,
                p=self.slope_p,
                n=n,
                method=m,
            ),
            row("slope", "se", self.slope_se, n=n, method=m),
            row("slope", "t", self.slope_t, p=self.slope_p, n=n, method=m),
            row(
                "intercept",
                "estimate",
                self.intercept,
                self.intercept_ci_low,
                self.intercept_ci_high,
                p=self.intercept_p,
                n=n,
                method=intercept_method,
            ),
            row("intercept", "se", self.intercept_se, n=n, method=intercept_method),
            row(
                "intercept",
                "t",
                self.intercept_t,
                p=self.intercept_p,
                n=n,
                method=intercept_method,
            ),
            row("r_squared", "estimate", self.r_squared, n=n, method=m),
            row("adj_r_squared", "estimate", self.adj_r_squared, n=n, method=m),
            row("f_statistic", "F", self.f, p=self.f_p, n=n, method=m),
            row("f_statistic", "df1", self.f_df1, n=n, method=m),
            row("f_statistic", "df2", self.f_df2, n=n, method=m),
            row("residual_sd", "estimate", self.residual_sd, n=n, method=m),
            row("pearson_r", "estimate", self.r, n=n, method=r_method),
        ]


def linear_regression(
    x: ArrayLike,
    y: ArrayLike,
    *,
    through_origin: bool = False,
    confidence: float = 0.95,
    drop_missing: bool = False,
    names: tuple[str, str] = ("x", "y"),
) -> RegressionResult:
    """Ordinary least-squares regression of ``y`` on ``x`` (statsmodels OLS).

    The fit is :func:`qmrflow.stats.ols.fit_ols`, shared with :func:`multiple_regression`
    (which gives the same numbers for one predictor); this function adds the checks, the
    slope/intercept naming, Pearson's r and the bands.

    Parameters
    ----------
    x, y
        Predictor and response (1-D, same length, finite numbers).
    through_origin
        Fit ``y = slope·x`` with the intercept fixed at 0; ``r_squared`` is then uncentred
        (see the module docstring).
    confidence
        Confidence level of the coefficient intervals, in (0, 1).
    drop_missing
        Drop pairs in which ``x`` or ``y`` is missing instead of raising; the number dropped
        is reported in ``n_dropped`` and ``method``.
    names
        Names of ``x`` and ``y`` used in error messages and in ``method``.

    Returns
    -------
    RegressionResult
        Coefficients with SE, t interval, t and two-sided p; R², adjusted R², F test,
        residual SD and Pearson's r; :meth:`~RegressionResult.predict` and the bands for
        plotting.

    Raises
    ------
    ValueError
        Bad ``confidence``, non-numeric or infinite values, unequal lengths, missing values
        without ``drop_missing`` (the message names the variable), fewer than 3 pairs (2
        through the origin), constant ``x``, constant ``y`` (R² undefined; through the
        origin: ``y`` all zero).

    Examples
    --------
    >>> fit = linear_regression([1, 2, 3, 4], [3.1, 4.9, 7.2, 8.8])
    >>> round(fit.slope, 2), round(fit.intercept, 2)
    (1.94, 1.15)
    """
    confidence = check_confidence(confidence)
    through_origin = bool(through_origin)
    pairs = numeric_pairs(x, y, names, drop_missing=drop_missing)
    xs, ys = pairs.x, pairs.y
    n = int(xs.size)
    check_min_n(n, 2 if through_origin else 3, f"{names[0]}/{names[1]} pairs")
    check_not_constant(xs, names[0])
    if through_origin:
        if np.all(ys == 0.0):
            raise ValueError(
                f"{names[1]} is all zero; the uncentred R² of a regression through the "
                "origin is undefined"
            )
    else:
        check_not_constant(ys, names[1])

    design = xs[:, None] if through_origin else np.column_stack([np.ones(n), xs])
    fit = fit_ols(ys, design, hasconst=not through_origin, confidence=confidence)
    params, bse, tvalues, pvalues = fit.params, fit.bse, fit.tvalues, fit.pvalues
    interval = fit.conf_int
    df_resid = fit.df_resid
    if fit.essentially_exact:
        logger.warning(
            "essentially perfect fit of %s on %s: t, F and p are dominated by round-off",
            names[1],
            names[0],
        )

    if through_origin:
        slope_index = 0
        intercept_fields = dict.fromkeys(
            (
                "intercept_se",
                "intercept_ci_low",
                "intercept_ci_high",
                "intercept_t",
                "intercept_p",
                "cov_intercept_slope",
            ),
            NAN,
        )
        intercept_fields["intercept"] = 0.0
    else:
        slope_index = 1
        intercept_fields = {
            "intercept": float(params[0]),
            "intercept_se": float(bse[0]),
            "intercept_ci_low": float(interval[0, 0]),
            "intercept_ci_high": float(interval[0, 1]),
            "intercept_t": float(tvalues[0]),
            "intercept_p": float(pvalues[0]),
            "cov_intercept_slope": float(fit.cov[0, 1]),
        }
    return RegressionResult(
        slope=float(params[slope_index]),
        slope_se=float(bse[slope_index]),
        slope_ci_low=float(interval[slope_index, 0]),
        slope_ci_high=float(interval[slope_index, 1]),
        slope_t=float(tvalues[slope_index]),
        slope_p=float(pvalues[slope_index]),
        r_squared=fit.r_squared,
        adj_r_squared=fit.adj_r_squared,
        f=fit.f,
        f_df1=fit.df_model,
        f_df2=df_resid,
        f_p=fit.f_p,
        residual_sd=math.sqrt(fit.scale),
        n=n,
        n_dropped=pairs.n_dropped,
        through_origin=through_origin,
        confidence=confidence,
        method=_method_text(names, through_origin, confidence, df_resid, pairs.n_dropped),
        names=(names[0], names[1]),
        r=NAN if through_origin else _pearson_r(xs, ys),
        **intercept_fields,
    )


def _pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r from the normalised centred values (as :func:`scipy.stats.pearsonr`)."""
    xc, yc = x - x.mean(), y - y.mean()
    r = float(np.dot(xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)))
    return min(1.0, max(-1.0, r))


def _method_text(
    names: tuple[str, str], through_origin: bool, confidence: float, df: int, n_dropped: int
) -> str:
    x, y = names
    inference = (
        f"{100 * confidence:g}% t CIs and two-sided t tests on {df} df; F test on 1 and {df} df"
    )
    if through_origin:
        text = (
            f"OLS regression of {y} on {x} through the origin ({y} = b1·{x}; intercept fixed "
            f"at 0, no SE/CI); {inference}; R² uncentred (1 - RSS/Σ{y}²), not comparable with "
            "a centred R²"
        )
    else:
        text = f"OLS regression of {y} on {x} ({y} = b0 + b1·{x}); {inference}; R² centred"
    return text + dropped_note(n_dropped)
