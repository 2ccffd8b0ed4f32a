"""T1, T2, PD and B1 maps from MDME (QRAPMASTER / MAGiC) images, and synthetic contrasts.

Every voxel's 8 magnitude images (4 saturation delays x 2 echoes, see
:mod:`qmrflow.studies.synthmri.protocol`) are fitted with the MDME signal model (Warntjes et al.
2008, Magn Reson Med 60:320-329)::

    S(TD, TE) = PD · exp(-TE/T2) · |1 - (1 - cos θ) e^(-TD/T1) - cos θ e^(-TR/T1)|
                / (1 - cos θ cos α e^(-TR/T1)),        θ = B1·θ_nom, α = B1·α_nom

for the four unknowns T1, T2, PD and B1, all voxels at once (batched Levenberg-Marquardt,
:func:`qmrflow.fitting.levenberg_marquardt`, with the analytic Jacobian below).

Fitting pipeline (:func:`fit_mdme`)
-----------------------------------
1. **T2, closed form**: log-linear regression of ``ln S`` on TE with one intercept per delay and
   a common slope ``-1/T2``, weighted by ``S²`` (the inverse variance of ``ln S``), so the
   echo pairs of the well-recovered delays dominate and the near-null delay barely counts.
2. **T1 and B1, grid search**: each delay's echoes are reduced to a TE-normalised amplitude
   ``A_d = Σ S·E2 / Σ E2²`` (``E2 = exp(-TE/T2)``); the delay curve ``A`` is matched against the
   model curve ``g(TD; T1, B1) = |R|/D`` on a (T1, B1) grid (log-spaced T1, linear B1) by the
   largest normalised inner product ``A·g / |g|`` -- the grid point of least squared error with
   the scale (PD) profiled out. One matrix product per chunk of voxels.
3. **PD, linear least squares** given T1, T2, B1: ``PD = Σ S m / Σ m²`` with ``m`` the model
   at PD = 1.
4. **Levenberg-Marquardt** on all volumes for (T1, T2, PD, B1) within the bounds
   T1 50-6000 ms, T2 5-3000 ms, PD >= 0, B1 0.5-1.5.
5. **Second start across the null**: magnitude data cannot tell on which side of its null a
   delay with a small recovery term ``R`` lies, and the cost has one basin per side (the
   classic magnitude inversion-recovery ambiguity). Voxels whose solution has a delay with
   ``|R| < 0.2 max|R|`` are fitted again from the best grid point of the other polarity and
   the lower cost wins (Barral et al. 2010, Magn Reson Med 64:1057-1067, fit every null
   position). Without it, several percent of noise-free grey-matter-like voxels (whose null is
   near the 580 ms delay of the default protocol) end in the wrong basin.

The magnitude ``|·|`` is part of the model; its derivative is ``sign(R)·dR``. Magnitude images
carry Rician noise, whose mean exceeds the true signal at low signal-to-noise (Gudbjartsson &
Patz 1995, Magn Reson Med 34:910-914). Given the noise level ``σ`` the fit uses the Rician mean
of the model instead of the model itself (``noise_sigma``; :func:`map_subject` estimates ``σ``
from the image background), which removes the noise-floor bias at the delay near the null.

Precision and B1 smoothing
--------------------------
At SNR 50 (noise σ = 1/50 of the fully relaxed PD = 1 signal) the Cramér-Rao bound of the
default 4x2 protocol is a coefficient of variation of ~10-15 % for T1 and ~8 % for T2 in white
and grey matter with B1 free per voxel (~5-10 % for T1 with B1 known; T2 depends only on the
echo pairs). The fit reaches these bounds and is nearly unbiased (tissue medians within ~1.5 %),
so per-voxel errors of that size are intrinsic to the acquisition. Because the transmit field
varies over centimetres, ``b1_smoothing`` runs a second pass with B1 fixed to the first pass's
B1 smoothed within the mask (local linear regression, :func:`smooth_b1`); this brings T1 close
to the known-B1 bound. Measured on a simulated slab (B1 0.8-1.2, Rician noise, noise σ
estimated from the background), median absolute voxel error in white / grey matter:

=========  ==================  ==================  ====================
SNR        T1, B1 per voxel    T1, B1 smoothed     T2
=========  ==================  ==================  ====================
50         8 %                 5 %                 5.5 %
80         5 %                 3 %                 3.4 %
=========  ==================  ==================  ====================

with tissue medians within ~1.5 % of the truth. :func:`map_subject` smooths B1 by default
(σ = 8 mm).

PD scaling
----------
PD comes out in the receiver's arbitrary units. As synthetic-MRI software does (PD referenced to
CSF = 100 % water; Warntjes et al. 2008), it is divided by the median fitted PD of CSF-like
voxels (T1 > 3000 ms) inside the mask (away from its border, see :func:`normalise_pd`). With
fewer than 20 such voxels the 99th percentile of PD in the mask is used instead and a warning is
logged. The divisor is kept in
:attr:`MdmeMaps.pd_reference`.

Synthetic contrasts
-------------------
:func:`synthesize_contrasts` evaluates the standard spin-echo and inversion-recovery signal
equations (Bernstein, King & Zhou 2004, Handbook of MRI Pulse Sequences; as used for synthetic
MRI by Hagiwara et al. 2017, AJNR 38:1103-1110)::

    spin echo:          S = PD (1 - e^(-TR/T1)) e^(-TE/T2)
    inversion recovery: S = PD |1 - 2 e^(-TI/T1) + e^(-TR/T1)| e^(-TE/T2)

with the parameters of :data:`CONTRASTS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from qmrflow.errors import InputDataError
from qmrflow.fitting import (
    background_mask,
    estimate_noise_sigma,
    fit_voxels,
    image_noise_level,
    in_plane_structure,
    masked_voxels,
    to_map,
)
from qmrflow.io import load_nifti, save_nifti, write_json
from qmrflow.io.bids import sidecar_path
from qmrflow.studies.synthmri.contrasts import CONTRASTS, Contrast, synthesize_contrasts
from qmrflow.studies.synthmri.mdme import B1_BOUNDS, T1_BOUNDS, T2_BOUNDS, fit_chunk, mdme_model
from qmrflow.studies.synthmri.protocol import MdmeProtocol, read_sidecar

__all__ = [
    "B1_BOUNDS",
    "CONTRASTS",
    "MAP_KEYS",
    "T1_BOUNDS",
    "T2_BOUNDS",
    "Contrast",
    "MdmeMaps",
    "background_mask",
    "estimate_noise_sigma",
    "fit_mdme",
    "image_noise_level",
    "map_subject",
    "mdme_model",
    "normalise_pd",
    "smooth_b1",
    "synthesize_contrasts",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

CSF_T1_THRESHOLD = 3000.0
"""Voxels with fitted T1 above this (ms) are CSF-like: their median PD is the PD reference."""
MIN_CSF_VOXELS = 20
"""Fewer CSF-like voxels than this: PD is referenced to its 99th percentile instead."""

MAP_KEYS = ("T1map", "T2map", "PDmap", "B1map", "residual", "mask", "synthetic")

#: Units of the quantitative maps: the clinical units of the paper (ms), said in sidecars.
MAP_UNITS: dict[str, str] = {
    "T1map": "ms",
    "T2map": "ms",
    "PDmap": "fraction of CSF proton density",
    "B1map": "ratio of actual to nominal flip angle",
}

#: BIDS sidecars of the fitted maps (every map is zero outside the fitted brain mask).
MAP_SIDECARS: dict[str, dict[str, object]] = {
    key: {"SkullStripped": True, "Units": units, "Description": f"{key} from the MDME fit"}
    for key, units in MAP_UNITS.items()
}
"""Keys of the ``outputs`` mapping of :func:`map_subject`."""

_CHUNK = 65536  # voxels per fitting chunk (bounds memory: ~chunk x volumes x 4 x 8 bytes x ~10)


@dataclass(frozen=True)
class MdmeMaps:
    """Fitted MDME parameter maps (spatial shape of the input; background = 0 in every map).

    Attributes
    ----------
    t1, t2
        Relaxation times (ms).
    pd
        Proton density as a fraction of the reference (CSF = 1 when normalised).
    b1
        Relative transmit field (1 = nominal flip angles).
    residual
        RMS fit residual over the volumes divided by the voxel's mean signal.
    mask
        Voxels that were fitted.
    converged
        Voxels where the Levenberg-Marquardt iteration converged.
    pd_reference
        The fitted PD (image units) that was divided out (1.0 when not normalised).
    """

    t1: np.ndarray
    t2: np.ndarray
    pd: np.ndarray
    b1: np.ndarray
    residual: np.ndarray
    mask: np.ndarray
    converged: np.ndarray
    pd_reference: float = 1.0


def smooth_b1(b1: np.ndarray, weights: np.ndarray, sigma: float | ArrayLike) -> np.ndarray:
    """Smooth a B1 map by Gaussian-weighted local linear regression within the weights' support.

    At each voxel ``x0`` the plane ``b1(x) ≈ a + bᵀ(x - x0)`` is fitted by weighted least
    squares with weights ``w(x) G(x - x0)`` (``G`` a Gaussian of standard deviation ``sigma``
    voxels, one value or one per spatial axis; axes with ``sigma = 0`` are not smoothed) and
    ``a`` is the smoothed value. This is first-order normalised convolution (Knutsson & Westin
    1993, Proc IEEE CVPR 515-523), computed from Gaussian-filtered weighted moments: unlike the
    plain weighted average ``G(w b1)/G(w)`` it has no first-order bias where the window is
    one-sided (the edge of the brain, where CSF sits and T1 is most sensitive to B1). The
    transmit field varies over centimetres, much more slowly than anatomy, which is what makes
    smoothing it legitimate.

    Parameters
    ----------
    b1
        B1 map (spatial shape).
    weights
        Non-negative weights of the same shape (0 outside the mask / for unreliable voxels).
    sigma
        Gaussian standard deviation(s) in voxels.

    Returns
    -------
    numpy.ndarray
        The smoothed map, clipped to :data:`B1_BOUNDS` (1 where no weight is near).
    """
    b1 = np.asarray(b1, dtype=float)
    w = np.asarray(weights, dtype=float)
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (b1.ndim,))
    axes = [k for k in range(b1.ndim) if sigmas[k] > 0 and b1.shape[k] > 1]

    def blur(values: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(values, sigmas, mode="constant", cval=0.0)

    # Coordinates centred on the array (keeps the moments well scaled).
    coords = [
        (np.arange(b1.shape[k]) - (b1.shape[k] - 1) / 2.0).reshape(
            [-1 if j == k else 1 for j in range(b1.ndim)]
        )
        for k in axes
    ]
    s0 = blur(w)
    support = s0 > 1e-6 * max(float(s0.max()), 1e-300)
    out = np.ones_like(b1)
    if not support.any():
        return out
    d = len(axes)
    # Normal equations per voxel for (a, b): moments of the shifted coordinates u = x - x0.
    first = [blur(w * c) for c in coords]  # G(w x_i)
    t0 = blur(w * b1)
    t1 = [blur(w * b1 * c) for c in coords]
    matrix = np.zeros((*b1.shape, d + 1, d + 1))
    rhs = np.zeros((*b1.shape, d + 1))
    matrix[..., 0, 0] = s0
    rhs[..., 0] = t0
    for i, ci in enumerate(coords):
        s1 = first[i] - ci * s0
        matrix[..., 0, i + 1] = matrix[..., i + 1, 0] = s1
        rhs[..., i + 1] = t1[i] - ci * t0
        for j in range(i, d):
            cj = coords[j]
            s2 = blur(w * ci * cj) - ci * first[j] - cj * first[i] + ci * cj * s0
            matrix[..., i + 1, j + 1] = matrix[..., j + 1, i + 1] = s2
    # A small ridge on the slopes keeps thin or one-sided supports solvable.
    ridge = 1e-3 * (sigmas[axes] ** 2 if d else np.zeros(0))
    m = matrix[support]
    m[:, 1:, 1:] += (ridge * m[:, :1, :1].reshape(-1, 1))[:, :, None] * np.eye(d)
    solution = np.linalg.solve(m, rhs[support][..., None])[..., 0]
    out[support] = solution[:, 0]
    return np.clip(out, *B1_BOUNDS)


# ----------------------------------------------------------------------------- public API


def fit_mdme(
    images: ArrayLike,
    protocol: MdmeProtocol,
    *,
    mask: ArrayLike | None = None,
    max_iterations: int = 50,
    noise_sigma: float | None = None,
    normalise: bool = True,
    b1: ArrayLike | None = None,
    b1_smoothing: float | ArrayLike | None = None,
) -> MdmeMaps:
    """Fit T1, T2, PD and B1 to every masked voxel of MDME magnitude images.

    Parameters
    ----------
    images
        ``(..., V)`` magnitude images, ``V = protocol.n_volumes``, volumes in the protocol's
        order.
    protocol
        Delays, echo times, TR and angles of the volumes.
    mask
        Boolean array of the spatial shape ``images.shape[:-1]``: voxels to fit. ``None`` fits
        every voxel whose signal is not all zero (use :func:`background_mask` for images).
    max_iterations
        Levenberg-Marquardt iteration limit.
    noise_sigma
        Noise standard deviation of the images (same units). Given (and > 0), the model's
        Rician mean is fitted instead of the noiseless magnitude (see the module docstring).
    normalise
        Divide PD by the CSF reference (see the module docstring); otherwise PD stays in image
        units and ``pd_reference`` is 1.
    b1
        A known B1 map (spatial shape, e.g. from a separate B1 scan): B1 is then held fixed
        and only T1, T2 and PD are fitted.
    b1_smoothing
        Gaussian standard deviation in voxels (one value or one per spatial axis). When
        given (and ``b1`` is not), the fit runs twice: all four parameters, then T1, T2, PD
        again with B1 fixed to the first pass's B1 smoothed within the mask
        (:func:`smooth_b1`). The transmit field is spatially smooth, so this trades no
        resolution for a lower T1/PD variance (about half the T1 CRLB variance at SNR 50).

    Returns
    -------
    MdmeMaps
        Maps of the spatial shape (float64), 0 outside the mask.

    Raises
    ------
    ValueError
        The last axis does not match the protocol, the mask or B1 shape differs, or values are
        not finite.
    """
    data = np.asarray(images, dtype=float)
    if data.ndim < 1 or data.shape[-1] != protocol.n_volumes:
        raise ValueError(
            f"images have {data.shape[-1] if data.ndim else 0} volumes on the last axis, "
            f"the protocol {protocol.n_volumes}"
        )
    signal, fit_mask = masked_voxels(data, mask)
    spatial = fit_mask.shape
    known_b1 = None
    if b1 is not None:
        known_b1 = np.asarray(b1, dtype=float)
        if known_b1.shape != spatial or not np.all(np.isfinite(known_b1[fit_mask])):
            raise ValueError(f"b1 must be a finite map of shape {spatial}")
        known_b1 = np.clip(known_b1[fit_mask], *B1_BOUNDS)
    n = signal.shape[0]
    # One global scale keeps PD ~ 1 (the solver's tolerances are relative anyway).
    scale = float(np.percentile(signal.max(axis=1), 99)) if n else 1.0
    scale = scale if scale > 0 else 1.0
    sigma = noise_sigma / scale if noise_sigma else None
    scaled = signal / scale

    def solver(chunk: np.ndarray, fixed_b1: np.ndarray | None) -> tuple[np.ndarray, ...]:
        return fit_chunk(chunk, protocol, sigma, max_iterations, fixed_b1)

    fit = fit_voxels(scaled, solver, known_b1, chunk=_CHUNK, n_params=4)
    if known_b1 is None and b1_smoothing is not None and n:
        params = fit.params
        inside = (params[:, 3] > B1_BOUNDS[0]) & (params[:, 3] < B1_BOUNDS[1])
        weights = to_map(fit.converged & inside, fit_mask)
        if not weights.any():
            weights = fit_mask.astype(float)
        smoothed = smooth_b1(to_map(params[:, 3], fit_mask), weights, b1_smoothing)[fit_mask]
        fit = fit_voxels(scaled, solver, smoothed, chunk=_CHUNK, n_params=4)
    params, converged, residual = fit.params, fit.converged, fit.residual
    params[:, 2] *= scale

    t1, t2, pd, b1_map = (to_map(params[:, k], fit_mask) for k in range(4))
    reference = 1.0
    if normalise and n:
        pd, reference = normalise_pd(pd, t1, fit_mask)
    if n:
        logger.info(
            "MDME fit: %d voxels, %.1f %% converged, median relative residual %.4f",
            n,
            100.0 * np.mean(converged),
            float(np.median(residual)),
        )
    return MdmeMaps(
        t1=t1,
        t2=t2,
        pd=pd,
        b1=b1_map,
        residual=to_map(residual, fit_mask),
        mask=fit_mask,
        converged=to_map(converged, fit_mask, bool),
        pd_reference=reference,
    )


def normalise_pd(pd: np.ndarray, t1: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """PD as a fraction of the CSF reference (CSF = 100 % water).

    The reference is the median PD of the CSF-like voxels (``T1 > 3000 ms``) in the interior of
    ``mask``: for images (2 or more spatial axes) the mask is first eroded by one voxel
    in-plane, because voxels on its border share their volume with the background, which
    lowers their PD while their noisy, low signal often fits to a long T1 (in the demo
    cohort those border voxels alone pull the median 2-3 % low). With fewer than 20 interior
    CSF-like voxels all CSF-like voxels in the mask are used; with fewer than 20 of those, the
    99th percentile of PD in the mask (a warning is logged).

    Returns
    -------
    pd : numpy.ndarray
        ``pd / reference`` (0 outside the mask).
    reference : float
        The divisor.
    """
    mask = np.asarray(mask, dtype=bool)
    csf = mask & (t1 > CSF_T1_THRESHOLD)
    if mask.ndim >= 2:
        interior = csf & ndimage.binary_erosion(mask, structure=in_plane_structure(mask.ndim))
        if np.count_nonzero(interior) >= MIN_CSF_VOXELS:
            csf = interior
    n_csf = int(np.count_nonzero(csf))
    if n_csf >= MIN_CSF_VOXELS:
        reference = float(np.median(pd[csf]))
    else:
        reference = float(np.percentile(pd[mask], 99)) if mask.any() else 0.0
        logger.warning(
            "only %d CSF-like voxels (T1 > %g ms, need %d): PD referenced to its 99th "
            "percentile in the mask instead of CSF",
            n_csf,
            CSF_T1_THRESHOLD,
            MIN_CSF_VOXELS,
        )
    if not reference > 0:
        logger.warning("PD reference is %g; PD left unnormalised", reference)
        return np.where(mask, pd, 0.0), 1.0
    return np.where(mask, pd / reference, 0.0), reference


def _write_outputs(
    maps: MdmeMaps, affine: np.ndarray, outputs: Mapping[str, PathLike], source: str
) -> None:
    """Write the maps, the mask and the synthetic contrasts (with their sidecar)."""
    fitted = maps.mask
    synthetic = synthesize_contrasts(maps.t1, maps.t2, maps.pd, fitted)
    stack = np.stack(list(synthetic.values()), axis=-1).astype(np.float32)

    for key, values in (
        ("T1map", maps.t1),
        ("T2map", maps.t2),
        ("PDmap", maps.pd),
        ("B1map", maps.b1),
        ("residual", maps.residual),
    ):
        sidecar = MAP_SIDECARS.get(key)
        save_nifti(values.astype(np.float32), outputs[key], affine, sidecar=sidecar)
    save_nifti(fitted.astype(np.uint8), outputs["mask"], affine)
    save_nifti(stack, outputs["synthetic"], affine)
    write_json(
        {
            "Volumes": list(synthetic),
            "SequenceParameters": {
                name: {
                    bids: value / 1000.0  # BIDS times are in seconds
                    for bids, value in (
                        ("RepetitionTime", c.repetition_time),
                        ("EchoTime", c.echo_time),
                        ("InversionTime", c.inversion_time),
                    )
                    if value is not None
                }
                for name, c in CONTRASTS.items()
            },
            "Units": "times in s; intensities in PD fraction units",
            "Equations": {
                "spin_echo": "PD * (1 - exp(-TR/T1)) * exp(-TE/T2)",
                "inversion_recovery": "PD * |1 - 2 exp(-TI/T1) + exp(-TR/T1)| * exp(-TE/T2)",
            },
            "Sources": [source],
        },
        sidecar_path(outputs["synthetic"]),
    )


def map_subject(
    image: PathLike,
    *,
    subject: str,
    outputs: Mapping[str, PathLike],
    mask_threshold: float = 0.05,
    max_iterations: int = 50,
    noise_correction: bool = True,
    b1_smoothing_mm: float | None = 8.0,
) -> MdmeMaps:
    """Fit one subject's MDME acquisition and write its maps and synthetic contrasts.

    Parameters
    ----------
    image
        4D MDME NIfTI (x, y, slices, volumes) with its JSON sidecar beside it.
    subject
        Participant label (without ``sub-``), for messages.
    outputs
        Paths for the keys of :data:`MAP_KEYS`: ``"T1map"``, ``"T2map"``, ``"PDmap"``,
        ``"B1map"``, ``"residual"`` (float32), ``"mask"`` (uint8), ``"synthetic"`` (4D float32,
        volumes T1w, T2w, PDw, FLAIR, with a JSON sidecar of the same name naming them and
        their sequence parameters). Every map has the source affine; files are written
        atomically, after the whole fit succeeded.
    mask_threshold
        Threshold of :func:`background_mask`.
    max_iterations
        Levenberg-Marquardt iteration limit.
    noise_correction
        Estimate the noise σ from the background (:func:`estimate_noise_sigma`) and fit the
        Rician mean; skipped when the background is too small or zero-filled.
    b1_smoothing_mm
        Gaussian standard deviation (mm) of the B1 smoothing between the two fit passes (see
        :func:`fit_mdme`), converted to voxels with the image spacing so that acquisitions of
        different resolution are smoothed alike; ``None`` fits B1 freely per voxel.

    Returns
    -------
    MdmeMaps
        The fitted maps.

    Raises
    ------
    InputDataError
        The image or sidecar is missing or invalid (not 4D, negative values, sidecar not
        matching the volumes), or no voxel is above the mask threshold.
    """
    missing = [key for key in MAP_KEYS if key not in outputs]
    if missing:
        raise KeyError(f"outputs lacks {missing}")
    loaded = load_nifti(image, subject=subject, ndim=4)
    data = loaded.data
    protocol = read_sidecar(image, data.shape[-1], subject=subject)
    if np.any(data < 0):
        raise InputDataError(
            f"{int(np.count_nonzero(data < 0))} negative voxel values; MDME images must be "
            "magnitude images",
            subject=subject,
            path=image,
        )
    mask = background_mask(data, mask_threshold)
    if not mask.any():
        raise InputDataError(
            f"no voxel above the mask threshold ({mask_threshold:g} of the robust maximum)",
            subject=subject,
            path=image,
        )
    sigma = estimate_noise_sigma(data, mask) if noise_correction else None
    logger.info(
        "sub-%s: fitting %d voxels of %s (%d volumes), noise sigma %s",
        subject,
        int(mask.sum()),
        Path(image).name,
        data.shape[-1],
        "not used" if sigma is None else f"{sigma:.4g}",
    )
    smoothing = (
        None
        if b1_smoothing_mm is None
        else tuple(b1_smoothing_mm / np.asarray(loaded.spacing[:3], dtype=float))
    )
    maps = fit_mdme(
        data,
        protocol,
        mask=mask,
        max_iterations=max_iterations,
        noise_sigma=sigma,
        b1_smoothing=smoothing,
    )
    fitted = maps.mask
    logger.info(
        "sub-%s: %.1f %% of voxels converged; median relative residual %.4f; median T1 %.0f ms, "
        "T2 %.0f ms, B1 %.3f; PD reference %.4g",
        subject,
        100.0 * float(np.mean(maps.converged[fitted])),
        float(np.median(maps.residual[fitted])),
        float(np.median(maps.t1[fitted])),
        float(np.median(maps.t2[fitted])),
        float(np.median(maps.b1[fitted])),
        maps.pd_reference,
    )
    _write_outputs(maps, loaded.affine, outputs, Path(image).name)
    return maps
