"""Multi-echo, multi-coil Cartesian k-space of the GRE and 3D-EPI acquisitions of a phantom.

Signal model (per voxel, echo time ``TE``)::

    m(TE) = pd exp(-r2star TE) exp(i (2 pi GAMMA B0 1e-6 (local_ppm + background_ppm) TE + phase0))

times the receive sensitivities (:func:`coil_maps`), centred orthonormal FFT over the three
spatial axes (:func:`qmrflow.recon.fourier.fftc`). The 3D-EPI acquires only the central
``epi_fraction`` of k-space along x and y (all of z; :func:`~.settings.encoded_block`), the rest
is zero. Complex Gaussian noise (:func:`qmrflow.simulate.kspace.complex_noise`) is added on the
acquired samples only, with SD ``wm_signal / snr`` per sample, coil and real/imaginary channel
(:func:`noise_sd`): the noise SD of a fully sampled coil-combined image, since the
sensitivities have a root-sum-of-squares of 1.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from qmrflow.errors import ConfigError
from qmrflow.recon.fourier import fftc
from qmrflow.simulate.kspace import coil_sensitivities, complex_noise
from qmrflow.studies.qsm.dipole import GAMMA_HZ_PER_T
from qmrflow.studies.qsm.simulate.phantom import Phantom
from qmrflow.studies.qsm.simulate.settings import ACQUISITIONS, QsmDemoSettings, encoded_block

logger = logging.getLogger(__name__)

__all__ = [
    "acquired_mask",
    "coil_maps",
    "noise_sd",
    "reference_images",
    "simulate_acquisition",
    "wm_signal",
]

_AXES = (-3, -2, -1)


def coil_maps(phantom: Phantom, settings: QsmDemoSettings) -> np.ndarray:
    """The subject's receive sensitivities ``(C, X, Y, Z)`` complex64 (root-sum-of-squares 1)."""
    maps = coil_sensitivities(phantom.shape, settings.n_coils, **phantom.coil_params)
    return np.ascontiguousarray(maps, dtype=np.complex64)


def reference_images(phantom: Phantom, settings: QsmDemoSettings) -> np.ndarray:
    """Noise-free, full-resolution, coil-combined echo images ``(E, X, Y, Z)`` complex64.

    The signal model of the module docstring: what a fully sampled noise-free acquisition
    reconstructs to after ``sum_c conj(S_c) y_c``.
    """
    te = np.asarray(settings.echo_times, dtype=np.float32).reshape(-1, 1, 1, 1)
    rate = np.float32(2.0 * math.pi * GAMMA_HZ_PER_T * settings.b0 * 1e-6)
    field = phantom.total_ppm.astype(np.float32)
    phase = rate * field[None] * te + phantom.phase0[None]
    magnitude = phantom.pd[None] * np.exp(-phantom.r2star[None] * te)
    return (magnitude * np.exp(1j * phase)).astype(np.complex64)


def wm_signal(phantom: Phantom, settings: QsmDemoSettings) -> float:
    """White-matter magnitude at the first echo: the subject's WM ``pd exp(-r2star TE1)``."""
    wm = phantom.tissues["wm"]
    return float(wm.pd * math.exp(-wm.r2star * settings.echo_times[0]))


def noise_sd(phantom: Phantom, settings: QsmDemoSettings, acq: str) -> float:
    """k-space noise SD per sample, coil and channel of ``acq``: ``wm_signal / snr`` (0 for an
    infinite SNR)."""
    snr = settings.snr(acq)
    return 0.0 if math.isinf(snr) else wm_signal(phantom, settings) / snr


def acquired_mask(settings: QsmDemoSettings, acq: str) -> np.ndarray:
    """bool ``(X, Y, Z)``: the k-space samples ``acq`` acquires (all for GRE)."""
    encoded = settings.encoded(acq)
    mask = np.zeros(settings.matrix, dtype=bool)
    blocks = tuple(
        slice(start, start + size)
        for start, size in (
            (n // 2 - m // 2, m) for n, m in zip(settings.matrix, encoded, strict=True)
        )
    )
    mask[blocks] = True
    return mask


def simulate_acquisition(
    phantom: Phantom,
    settings: QsmDemoSettings,
    acq: str,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Multi-coil multi-echo k-space of one acquisition of ``phantom``.

    Parameters
    ----------
    phantom
        The subject (:func:`.phantom.simulate_phantom`).
    settings
        Shared settings (echo times, B0, coils, EPI fraction, SNR).
    acq
        ``gre``, ``epi2avg`` or ``epi1avg``.
    rng
        Noise generator (None: no noise).

    Returns
    -------
    kspace
        ``(C, E, X, Y, Z)`` complex64 on the full reconstruction matrix, centred (DC at
        ``n // 2``); zero outside the acquired block.
    encoded
        The acquired block ``(x, y, z)``, centred on DC (:meth:`.QsmDemoSettings.encoded`).

    Raises
    ------
    ConfigError
        An unknown acquisition, or a phantom whose grid differs from ``settings.matrix``.
    """
    if acq not in ACQUISITIONS:
        raise ConfigError(f"unknown acquisition {acq!r}; known: {ACQUISITIONS}")
    if tuple(phantom.shape) != tuple(settings.matrix):
        raise ConfigError(
            f"sub-{phantom.participant_id}: phantom grid {phantom.shape} differs from the "
            f"settings' matrix {settings.matrix}"
        )
    images = reference_images(phantom, settings)
    coils = coil_maps(phantom, settings)
    kspace = fftc(coils[:, None] * images[None], axes=_AXES).astype(np.complex64, copy=False)
    encoded = settings.encoded(acq)
    nx, ny, _ = settings.matrix
    (x0, ex), (y0, ey) = (
        encoded_block(nx, settings.epi_fraction if acq != "gre" else 1.0),
        encoded_block(ny, settings.epi_fraction if acq != "gre" else 1.0),
    )
    block = (slice(None), slice(None), slice(x0, x0 + ex), slice(y0, y0 + ey), slice(None))
    if acq != "gre":
        acquired = kspace[block].copy()
        kspace[...] = 0.0
        kspace[block] = acquired
    sigma = noise_sd(phantom, settings, acq)
    if rng is not None and sigma > 0:
        for coil in kspace:  # one coil at a time: complex_noise draws float64
            acquired = coil[block[1:]]
            acquired += complex_noise(acquired.shape, sigma, rng).astype(np.complex64)
    logger.debug(
        "sub-%s %s: k-space %s, encoded %s, noise SD %.4g",
        phantom.participant_id,
        acq,
        kspace.shape,
        encoded,
        sigma if rng is not None else 0.0,
    )
    return kspace, encoded
