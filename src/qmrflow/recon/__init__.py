"""Reconstruction of (real-time, multi-coil, radial) MRI k-space.

- :mod:`~qmrflow.recon.fourier`: centred orthonormal FFTs, the FINUFFT NUFFT and its batched
  multi-frame, multi-coil operator, radial density compensation (shared with the simulator,
  :mod:`qmrflow.simulate.kspace`);
- :mod:`~qmrflow.recon.coils`: coil sensitivities and body mask from the time-averaged data
  (Walsh's adaptive combine);
- :mod:`~qmrflow.recon.gridding`: density-compensated adjoint and coil combination per frame;
- :mod:`~qmrflow.recon.sense`: temporally regularised CG-SENSE, frame after frame;
- :mod:`~qmrflow.recon.series`: :func:`reconstruct_series`, the entry point.

Conventions (all modules): images ``(..., X, Y)`` with ``X`` along trajectory component 0
(``kx``); trajectories in radians per pixel in ``[-pi, pi)``; orthonormal transforms, so
reconstructions are in the units of the forward model. CPU only (numpy, FINUFFT).
"""

from qmrflow.recon.coils import CoilMaps, estimate_coil_maps, walsh_sensitivities
from qmrflow.recon.fourier import (
    BatchedNufft,
    fftc,
    ifftc,
    nufft_adjoint,
    nufft_forward,
    radial_dcf,
    radial_density,
)
from qmrflow.recon.gridding import combine_coils, grid_frames
from qmrflow.recon.sense import sense_frames
from qmrflow.recon.series import ReconResult, reconstruct_series

__all__ = [
    "BatchedNufft",
    "CoilMaps",
    "ReconResult",
    "combine_coils",
    "estimate_coil_maps",
    "fftc",
    "grid_frames",
    "ifftc",
    "nufft_adjoint",
    "nufft_forward",
    "radial_dcf",
    "radial_density",
    "reconstruct_series",
    "sense_frames",
    "walsh_sensitivities",
]
