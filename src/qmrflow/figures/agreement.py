"""Method-comparison figures: Bland-Altman plot, scatter with regression and identity lines, and
the two side by side (:func:`plot_agreement_panel`)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes

from qmrflow.stats.bland_altman import BlandAltmanResult
from qmrflow.stats.regression import RegressionResult

__all__ = ["plot_agreement_panel", "plot_bland_altman", "plot_scatter_regression"]


def plot_bland_altman(ax: Axes, result: BlandAltmanResult, *, units: str = "") -> Axes:
    """Differences against means with the bias, the limits of agreement and their CIs.

    Parameters
    ----------
    ax
        Axes to draw on.
    result
        Result of :func:`qmrflow.stats.bland_altman` (it carries the means and differences).
    units
        Unit of the measurement, appended to the axis labels (e.g. ``"ms"``).

    Returns
    -------
    Axes
        ``ax``. The bias is a solid line, each limit a dashed line; the CI of each is a shaded
        band; a proportional-bias regression, when the result has one, is a dotted line. The y
        label states the sign convention (``a − b``).
    """
    first, second = result.names
    unit = f" ({units})" if units else ""
    ax.scatter(result.means, result.differences, s=12, color="tab:blue", alpha=0.7, zorder=3)
    level = f"{result.confidence * 100:g}% CI"
    lines = (
        ("bias", result.bias, result.bias_ci_low, result.bias_ci_high, "-"),
        (
            f"bias − {result.multiplier:g} SD",
            result.lower_limit,
            result.lower_limit_ci_low,
            result.lower_limit_ci_high,
            "--",
        ),
        (
            f"bias + {result.multiplier:g} SD",
            result.upper_limit,
            result.upper_limit_ci_low,
            result.upper_limit_ci_high,
            "--",
        ),
    )
    for name, value, low, high, style in lines:
        ax.axhline(value, color="black", linestyle=style, linewidth=1.2, zorder=2)
        if math.isfinite(low) and math.isfinite(high):
            ax.axhspan(low, high, color="0.5", alpha=0.15, linewidth=0, zorder=1)
        ax.annotate(
            f"{name} {value:.3g}",
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            fontsize="small",
        )
    fit = result.proportional_bias
    if fit is not None:
        x = np.array([result.means.min(), result.means.max()])
        ax.plot(
            x,
            fit.predict(x),
            linestyle=":",
            color="tab:red",
            label=f"proportional bias: slope {fit.slope:.3g} (p = {fit.slope_p:.3g})",
        )
        ax.legend(loc="lower left", fontsize="small", frameon=False)
    ax.set_xlabel(f"mean of {first} and {second}{unit}")
    ax.set_ylabel(f"{first} − {second}{unit}")
    ax.set_title(f"n = {result.n}; shaded: {level}", fontsize="small")
    return ax


def plot_scatter_regression(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    fit: RegressionResult,
    *,
    identity: bool = True,
    band: bool = True,
    units: str = "",
) -> Axes:
    """Scatter of ``y`` against ``x`` with the fitted line, its CI band and the identity line.

    Parameters
    ----------
    ax
        Axes to draw on.
    x, y
        The values the regression was fitted to (axis names come from ``fit.names``).
    fit
        Result of :func:`qmrflow.stats.linear_regression` of ``y`` on ``x``.
    identity
        Draw the line of identity ``y = x`` (for method comparison).
    band
        Shade the confidence band of the mean response.
    units
        Unit appended to both axis labels.

    Returns
    -------
    Axes
        ``ax``; the legend gives the fitted equation and R².
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    x_name, y_name = fit.names
    unit = f" ({units})" if units else ""
    ax.scatter(x, y, s=12, color="tab:blue", alpha=0.7, zorder=3)
    finite = np.isfinite(x) & np.isfinite(y)
    span = np.linspace(x[finite].min(), x[finite].max(), 100)
    if fit.through_origin:
        equation = f"y = {fit.slope:.3g}x"
    else:
        sign = "+" if fit.intercept >= 0 else "−"
        equation = f"y = {fit.slope:.3g}x {sign} {abs(fit.intercept):.3g}"
    ax.plot(span, fit.predict(span), color="tab:red", linewidth=1.5, zorder=4,
            label=f"{equation}, R² = {fit.r_squared:.3f}")  # fmt: skip
    if band:
        low, high = fit.confidence_band(span)
        ax.fill_between(span, low, high, color="tab:red", alpha=0.15, linewidth=0, zorder=2)
    if identity:
        ends = [min(x[finite].min(), y[finite].min()), max(x[finite].max(), y[finite].max())]
        ax.plot(ends, ends, linestyle="--", color="0.4", linewidth=1, label="identity", zorder=1)
    ax.set_xlabel(f"{x_name}{unit}")
    ax.set_ylabel(f"{y_name}{unit}")
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    return ax


def plot_agreement_panel(
    scatter_ax: Axes,
    bland_altman_ax: Axes,
    reference: np.ndarray,
    method: np.ndarray,
    fit: RegressionResult,
    agreement: BlandAltmanResult,
    *,
    units: str = "",
) -> tuple[Axes, Axes]:
    """One method comparison side by side: scatter with regression, and Bland-Altman.

    Parameters
    ----------
    scatter_ax, bland_altman_ax
        Axes to draw on (left: :func:`plot_scatter_regression` of ``method`` on
        ``reference`` with the identity line; right: :func:`plot_bland_altman`).
    reference, method
        The paired values (x = reference).
    fit, agreement
        The regression of ``method`` on ``reference`` and the Bland-Altman result of
        ``method − reference`` (e.g. :attr:`qmrflow.stats.MethodComparison.regression` and
        ``.bland_altman`` of :func:`qmrflow.stats.compare_pair`).
    units
        Unit of the measurement for the axis labels.

    Returns
    -------
    tuple of Axes
        ``(scatter_ax, bland_altman_ax)``.
    """
    plot_scatter_regression(scatter_ax, reference, method, fit, units=units)
    plot_bland_altman(bland_altman_ax, agreement, units=units)
    return scatter_ax, bland_altman_ax
