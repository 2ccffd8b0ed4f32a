"""Shared model-fitting methods.

Batched nonlinear least squares (:mod:`qmrflow.fitting.nlls`): :func:`levenberg_marquardt`
-> :class:`NllsResult` fits many small independent problems (one per voxel) as array operations.
"""

from qmrflow.fitting.nlls import NllsResult, levenberg_marquardt

__all__ = ["NllsResult", "levenberg_marquardt"]
