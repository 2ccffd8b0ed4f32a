"""Shared model-fitting methods.

* Voxelwise driver (:mod:`qmrflow.fitting.voxelwise`): :func:`masked_voxels` (mask -> rows),
  :func:`fit_voxels` (chunks through a solver -> :class:`VoxelFit`), :func:`to_map` (rows ->
  maps), :func:`fit_masked` (all three -> :class:`MaskedFit`), :func:`relative_residual`.
* Batched nonlinear least squares (:mod:`qmrflow.fitting.nlls`): :func:`levenberg_marquardt`
  -> :class:`NllsResult` fits many small independent problems (one per voxel) as array
  operations.
* Noise (:mod:`qmrflow.fitting.noise`): :func:`image_noise_level`, :func:`background_mask`,
  :func:`estimate_noise_sigma` (Rayleigh background), :func:`rician_mean`.
* Grid starts (:mod:`qmrflow.fitting.grid`): :func:`recovery_grid_start` (T1 and efficiency /
  B1 grid over magnitude recovery curves, per polarity class) -> :class:`GridStart`, with the
  signed model :func:`inversion_recovery`.
* Magnitude recovery fits (:mod:`qmrflow.fitting.recovery`): the three-parameter model
  :func:`magnitude_recovery_model` (``|A - B exp(-t/T1)|`` with its Jacobian) and
  :func:`signed_recovery`, and :func:`fit_across_null` -> :class:`AcrossNullFit` (grid start,
  Levenberg-Marquardt, second start on the other side of the signal null, lower cost kept).
"""

from qmrflow.fitting.grid import GridStart, RecoveryModel, inversion_recovery, recovery_grid_start
from qmrflow.fitting.nlls import Model, NllsResult, levenberg_marquardt
from qmrflow.fitting.noise import (
    background_mask,
    estimate_noise_sigma,
    image_noise_level,
    in_plane_structure,
    rician_mean,
)
from qmrflow.fitting.recovery import (
    NULL_PROXIMITY,
    AcrossNullFit,
    fit_across_null,
    magnitude_recovery_model,
    signed_recovery,
)
from qmrflow.fitting.voxelwise import (
    MaskedFit,
    Solver,
    VoxelFit,
    fit_masked,
    fit_voxels,
    masked_voxels,
    relative_residual,
    to_map,
)

__all__ = [
    "NULL_PROXIMITY",
    "AcrossNullFit",
    "GridStart",
    "MaskedFit",
    "Model",
    "NllsResult",
    "RecoveryModel",
    "Solver",
    "VoxelFit",
    "background_mask",
    "estimate_noise_sigma",
    "fit_across_null",
    "fit_masked",
    "fit_voxels",
    "image_noise_level",
    "in_plane_structure",
    "inversion_recovery",
    "levenberg_marquardt",
    "magnitude_recovery_model",
    "masked_voxels",
    "recovery_grid_start",
    "relative_residual",
    "rician_mean",
    "signed_recovery",
    "to_map",
]
