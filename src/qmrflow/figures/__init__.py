"""Publication figures drawn onto caller-supplied matplotlib Axes.

Functions here never create windows or call ``pyplot.show``; they draw on an ``Axes`` the caller
owns. Create figures with ``matplotlib.figure.Figure`` (or pyplot under the non-interactive Agg
backend, ``matplotlib.use("Agg")``) and save them with ``Figure.savefig``.
"""

from qmrflow.figures.roc import plot_roc

__all__ = ["plot_roc"]
