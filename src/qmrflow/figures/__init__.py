"""Publication figures drawn onto caller-supplied matplotlib Axes.

Functions here never create windows or call ``pyplot.show``; they draw on an ``Axes`` the caller
owns. Create figures with ``matplotlib.figure.Figure`` (or pyplot under the non-interactive Agg
backend, ``matplotlib.use("Agg")``) and save them with ``Figure.savefig``.

Submodules are imported on first use so that a job drawing an overlay does not pay for the
statistics stack the ROC module needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "best_epoch": "qmrflow.figures.curves",
    "plot_agreement_panel": "qmrflow.figures.agreement",
    "plot_training_curves": "qmrflow.figures.curves",
    "plot_bland_altman": "qmrflow.figures.agreement",
    "plot_scatter_regression": "qmrflow.figures.agreement",
    "plot_paired": "qmrflow.figures.paired",
    "plot_roc": "qmrflow.figures.roc",
    "overlay_grid": "qmrflow.figures.overlay",
    "save_figure": "qmrflow.figures.overlay",
    "write_qc_index": "qmrflow.figures.qc",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qmrflow.figures' has no attribute {name!r}")
