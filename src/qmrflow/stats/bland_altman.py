"""Bland-Altman analysis of agreement between two methods measuring the same quantity.

For paired measurements ``x_i`` and ``y_i`` of ``n`` subjects (convention: difference
``d_i = x_i - y_i``, mean ``m_i = (x_i + y_i) / 2``), with ``d̄`` the mean and ``s`` the standard
deviation (``ddof = 1``) of the differences and ``t = t_{(1 + confidence)/2, n - 1}``:

* Bias: ``d̄`` with the t interval ``d̄ ± t·s/sqrt(n)`` and the two-sided one-sample t test of
  ``d̄ = 0`` (the paired t test).
* Limits of agreement: ``d̄ ∓ c·s`` with ``c = multiplier`` (1.96, or 2 as in Bland & Altman
  1986, Lancet 327:307-310).
* Confidence interval of each limit: ``limit ± t·SE`` with the approximate

  - ``limit_ci="bland_altman_1999"`` (default), Bland & Altman (1999, Stat Methods Med Res
    8:135-160): ``SE = s·sqrt(1/n + c²/(2(n - 1)))``;
  - ``limit_ci="bland_altman_1986"``, Bland & Altman (1986): ``SE = s·sqrt(1/n + c²/(2n))``,
    which for ``c = 2`` is the paper's ``sqrt(3 s²/n)``. It is the same delta-method variance
    (``var d̄ + c² var s`` with ``var s ≈ s²/(2·df)``) with ``n`` in place of ``n - 1`` degrees
    of freedom; it is slightly narrower and is offered to reproduce the 1986 worked example.

  Both are large-sample approximations; exact intervals from two-sided tolerance factors
  (Carkeet 2015, Optom Vis Sci 92:e71-e80) are wider for small ``n`` and are not implemented.
* Proportional bias (optional): ordinary least squares of ``d`` on ``m`` (Bland & Altman 1999,
  regression approach) by :func:`qmrflow.stats.regression.linear_regression`; slope and
  intercept with t intervals on ``n - 2`` df and two-sided t tests of each being 0. Not
  estimable when every difference is the same; the result then has no regression and its
  ``method`` says why.

A zero standard deviation (the two methods differ by the same amount for everybody, e.g.
identical methods) is valid: the limits and their intervals collapse onto the bias, and the
bias p-value is NaN when the bias is also 0 (the t statistic is 0/0).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as t_dist

from qmrflow.stats._checks import (
    NAN,
    check_choice,
    check_confidence,
    check_not_constant,
    dropped_note,
    numeric_pairs,
    row,
)
from qmrflow.stats._compat import renamed_arguments
from qmrflow.stats.regression import RegressionResult, linear_regression

__all__ = ["LIMIT_CI_METHODS", "BlandAltmanResult", "bland_altman"]

logger = logging.getLogger(__name__)

LIMIT_CI_METHODS: tuple[str, ...] = ("bland_altman_1999", "bland_altman_1986")
_LIMIT_CI_TEXT = {
    "bland_altman_1999": "Bland & Altman (1999) approximate SE = SD·sqrt(1/n + c²/(2(n-1)))",
    "bland_altman_1986": "Bland & Altman (1986) approximate SE = SD·sqrt(1/n + c²/(2n))",
}
PROPORTIONAL_METHOD = "proportional bias: regression of difference on mean (Bland & Altman 1999)"


@dataclass(frozen=True)
class BlandAltmanResult:
    """Bias and limits of agreement of two methods, with intervals (see the module docstring).

    Attributes
    ----------
    bias, bias_ci_low, bias_ci_high
        Mean difference ``x - y`` and its t confidence interval.
    bias_se
        Standard error of the bias, ``sd / sqrt(n)``.
    bias_p
        Two-sided paired t test of bias = 0 (NaN when every difference is 0).
    sd
        Standard deviation of the differences (``ddof = 1``).
    lower_limit, upper_limit
        ``bias - multiplier·sd`` and ``bias + multiplier·sd``.
    lower_limit_ci_low, lower_limit_ci_high, upper_limit_ci_low, upper_limit_ci_high
        Confidence intervals of the two limits (``limit ± t·limit_se``).
    limit_se
        Approximate standard error of either limit (formula named by ``limit_ci``).
    multiplier
        The ``c`` of ``bias ± c·sd``.
    convention
        ``"difference = x − y; mean = (x + y)/2"`` with the method names filled in.
    names
        ``(name_x, name_y)``: the labels of the two methods (for axis labels).
    n, n_dropped
        Pairs analysed and pairs dropped for a missing value.
    confidence
        Confidence level of every interval.
    limit_ci
        ``"bland_altman_1999"`` or ``"bland_altman_1986"``.
    method
        Estimators and intervals, with references and the difference convention.
    proportional_bias
        The OLS regression of difference on mean (:func:`qmrflow.stats.linear_regression`;
        ``slope``, ``slope_p``, ``intercept``, ``predict``, ...), or None when not requested or
        not estimable (every difference the same; ``method`` then says so).
    means, differences
        Per-pair ``(x + y)/2`` and ``x - y`` (read-only arrays, in input order after dropping
        missing pairs): the x and y of the Bland-Altman plot. Excluded from ``==`` and
        ``repr``.
    """

    bias: float
    bias_ci_low: float
    bias_ci_high: float
    bias_se: float
    bias_p: float
    sd: float
    lower_limit: float
    lower_limit_ci_low: float
    lower_limit_ci_high: float
    upper_limit: float
    upper_limit_ci_low: float
    upper_limit_ci_high: float
    limit_se: float
    multiplier: float
    convention: str
    names: tuple[str, str]
    n: int
    n_dropped: int
    confidence: float
    limit_ci: str
    method: str
    means: np.ndarray = field(compare=False, repr=False)
    differences: np.ndarray = field(compare=False, repr=False)
    proportional_bias: RegressionResult | None = None

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows (statistic ``estimate``): ``bias`` (CI, p), ``sd_difference``,
        ``lower_limit`` and ``upper_limit`` (CI), and when requested
        ``proportional_bias_slope`` and ``proportional_bias_intercept`` (CI, p)."""
        rows = [
            row(
                "bias",
                "estimate",
                self.bias,
                self.bias_ci_low,
                self.bias_ci_high,
                p=self.bias_p,
                n=self.n,
                method=self.method,
            ),
            row("sd_difference", "estimate", self.sd, n=self.n, method=self.method),
            row(
                "lower_limit",
                "estimate",
                self.lower_limit,
                self.lower_limit_ci_low,
                self.lower_limit_ci_high,
                n=self.n,
                method=self.method,
            ),
            row(
                "upper_limit",
                "estimate",
                self.upper_limit,
                self.upper_limit_ci_low,
                self.upper_limit_ci_high,
                n=self.n,
                method=self.method,
            ),
        ]
        if self.proportional_bias is not None:
            # The fit's slope and intercept rows, renamed; its R², F, ... stay on the result.
            for fit_row in self.proportional_bias.to_rows():
                if fit_row["statistic"] == "estimate" and fit_row["measure"] in (
                    "slope",
                    "intercept",
                ):
                    fit_row["measure"] = f"proportional_bias_{fit_row['measure']}"
                    fit_row["method"] = f"{PROPORTIONAL_METHOD}; {fit_row['method']}"
                    rows.append(fit_row)
        return rows


@renamed_arguments(a="x", b="y")
def bland_altman(
    x: ArrayLike,
    y: ArrayLike,
    *,
    multiplier: float = 1.96,
    confidence: float = 0.95,
    proportional_bias: bool = False,
    drop_missing: bool = False,
    names: tuple[str, str] = ("x", "y"),
    limit_ci: str = "bland_altman_1999",
) -> BlandAltmanResult:
    """Bland-Altman bias and limits of agreement of method ``x`` against method ``y``.

    Parameters
    ----------
    x, y
        Measurements of the same subjects by the two methods (1-D numeric, same length).
        Differences are ``x - y``. The keywords ``a`` and ``b`` are deprecated aliases.
    multiplier
        ``c`` in ``bias ± c·sd``: 1.96 for 95% limits, 2 as in Bland & Altman (1986).
    confidence
        Two-sided confidence level of the intervals of the bias, the limits and the
        regression coefficients.
    proportional_bias
        Also regress the differences on the means (needs at least 3 pairs and non-constant
        means).
    drop_missing
        Drop pairs in which either value is missing (counted in ``n_dropped``) instead of
        raising.
    names
        Labels of the two methods, used in error messages, ``convention`` and ``method``.
    limit_ci
        Standard error of the limits: ``"bland_altman_1999"`` (default) or
        ``"bland_altman_1986"`` (see the module docstring).

    Returns
    -------
    BlandAltmanResult
        Everything a Bland-Altman plot needs: ``means``, ``differences``, ``bias``,
        ``lower_limit``/``upper_limit`` with their intervals, the regression line when
        requested, and ``names``.

    Raises
    ------
    ValueError
        Non-numeric or infinite values, unequal lengths, missing values without
        ``drop_missing`` (the message names the variable), fewer than 2 complete pairs (3 with
        ``proportional_bias``), constant means with ``proportional_bias``, ``multiplier`` not a
        positive finite number, ``confidence`` outside (0, 1), bad ``names`` or ``limit_ci``.

    Examples
    --------
    >>> result = bland_altman([10.0, 12.0, 11.0, 14.0], [9.0, 12.5, 10.0, 13.0])
    >>> round(result.bias, 3), round(result.lower_limit, 3), round(result.upper_limit, 3)
    (0.625, -0.845, 2.095)
    """
    confidence = check_confidence(confidence)
    multiplier = _check_multiplier(multiplier)
    check_choice(limit_ci, "limit_ci", LIMIT_CI_METHODS)
    name_x, name_y = _check_names(names)
    pairs = numeric_pairs(
        x,
        y,
        (name_x, name_y),
        drop_missing=drop_missing,
        min_n=3 if proportional_bias else 2,
    )
    if pairs.n_dropped:
        logger.info("bland_altman: dropped %d pair(s) with a missing value", pairs.n_dropped)
    differences = pairs.x - pairs.y
    means = (pairs.x + pairs.y) / 2.0
    n = differences.size

    bias = float(np.mean(differences))
    sd = float(np.std(differences, ddof=1))
    t_crit = float(t_dist.ppf(0.5 + confidence / 2.0, n - 1))
    bias_se = sd / math.sqrt(n)
    bias_half = t_crit * bias_se
    bias_p = _t_test_p(bias, bias_se, n - 1)

    lower = bias - multiplier * sd
    upper = bias + multiplier * sd
    df_var_s = n - 1 if limit_ci == "bland_altman_1999" else n
    limit_se = sd * math.sqrt(1.0 / n + multiplier**2 / (2.0 * df_var_s))
    limit_half = t_crit * limit_se

    convention = f"difference = {name_x} − {name_y}; mean = ({name_x} + {name_y})/2"
    method = (
        f"Bland & Altman limits of agreement, bias ± {multiplier:g}·SD; {convention}; "
        f"CI of bias: t interval on n-1 df, paired t test; CI of limits: "
        f"{_LIMIT_CI_TEXT[limit_ci]}, t on n-1 df{dropped_note(pairs.n_dropped)}"
    )
    regression = (
        _proportional_bias(means, differences, confidence, (name_x, name_y))
        if proportional_bias
        else None
    )
    if proportional_bias and regression is None:
        method += "; proportional bias not estimable: every difference is the same"
    return BlandAltmanResult(
        bias=bias,
        bias_ci_low=bias - bias_half,
        bias_ci_high=bias + bias_half,
        bias_se=bias_se,
        bias_p=bias_p,
        sd=sd,
        lower_limit=lower,
        lower_limit_ci_low=lower - limit_half,
        lower_limit_ci_high=lower + limit_half,
        upper_limit=upper,
        upper_limit_ci_low=upper - limit_half,
        upper_limit_ci_high=upper + limit_half,
        limit_se=limit_se,
        multiplier=multiplier,
        convention=convention,
        names=(name_x, name_y),
        n=n,
        n_dropped=pairs.n_dropped,
        confidence=confidence,
        limit_ci=limit_ci,
        method=method,
        means=_read_only(means),
        differences=_read_only(differences),
        proportional_bias=regression,
    )


def _proportional_bias(
    means: np.ndarray, differences: np.ndarray, confidence: float, names: tuple[str, str]
) -> RegressionResult | None:
    """OLS of differences on means; None when every difference is the same (nothing to fit)."""
    check_not_constant(means, f"means ({names[0]} + {names[1]})/2")
    if np.all(differences == differences[0]):
        return None
    return linear_regression(
        means,
        differences,
        confidence=confidence,
        names=(f"mean of {names[0]} and {names[1]}", f"{names[0]} − {names[1]}"),
    )


def _t_test_p(estimate: float, se: float, df: int) -> float:
    """Two-sided p of ``estimate / se`` on ``df`` df; 0 for a nonzero estimate with se 0."""
    if se > 0.0:
        return float(2.0 * t_dist.sf(abs(estimate / se), df))
    return NAN if estimate == 0.0 else 0.0


def _check_multiplier(multiplier: float) -> float:
    try:
        value = float(multiplier)
    except (TypeError, ValueError):
        raise ValueError(f"multiplier must be a positive number, got {multiplier!r}") from None
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"multiplier must be a positive finite number, got {multiplier!r}")
    return value


def _check_names(names: tuple[str, str]) -> tuple[str, str]:
    if (
        isinstance(names, str)
        or len(names) != 2
        or not all(isinstance(name, str) and name.strip() for name in names)
    ):
        raise ValueError(f"names must be two non-empty strings, got {names!r}")
    return names[0], names[1]


def _read_only(values: np.ndarray) -> np.ndarray:
    array = np.array(values, dtype=float)
    array.flags.writeable = False
    return array
