"""QSM reconstruction challenge metrics of a susceptibility map against a reference.

The metrics of the 2016 QSM reconstruction challenge (Langkammer et al., MRM 2018) and of QSM
challenge 2.0 (QSM Challenge 2.0 Organization Committee, Bilgic et al., MRM 2021), computed
inside a mask:

* :func:`rmse_percent`: ``100 ||x - y|| / ||y||`` (the challenges' "RMSE", a relative error);
* :func:`hfen`: the same on Laplacian-of-Gaussian filtered maps (high-frequency error norm;
  Ravishankar & Bresler, IEEE TMI 2011; ``sigma = 1.5`` voxels as in the challenge, whose
  15-voxel kernel is the same filter truncated at 4.7 sigma);
* :func:`ssim3d`: structural similarity on 3-D windows (Wang et al., IEEE TIP 2004; Gaussian
  window ``sigma = 1.5``, ``K1 = 0.01``, ``K2 = 0.03``) with the data range of the reference
  inside the mask, averaged over the mask;
* :func:`roi_means` and the deep grey matter error of :func:`challenge_metrics`: the mean
  absolute difference (ppm) of ROI means over the DGM labels (challenge 2.0's "deviation from
  reference in DGM").

Referencing: every metric compares the maps as given; both must be referenced the same way
beforehand (the study subtracts the mean of the lateral-ventricle CSF from both with
:func:`.inversion.reference_to`). Nothing here demeans or re-references. Both maps are set to
zero outside the mask before filtering (the challenge compared masked maps).

SSIM uses :func:`skimage.metrics.structural_similarity` directly: the shared
:func:`qmrflow.image_quality.ssim` treats a 3-D volume as a stack of 2-D slices, while the
challenges use 3-D windows. The other metrics are a few lines of numpy/scipy.ndimage each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from skimage.metrics import structural_similarity

__all__ = [
    "DGM_LABELS",
    "challenge_metrics",
    "hfen",
    "rmse_percent",
    "roi_means",
    "ssim3d",
]

logger = logging.getLogger(__name__)

#: Deep grey matter labels of the study's tissue map: caudate, putamen, globus pallidus, thalamus.
DGM_LABELS: tuple[int, ...] = (1, 2, 3, 4)


def _prepare(
    chi: ArrayLike, truth: ArrayLike, mask: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(chi, dtype=float)
    y = np.asarray(truth, dtype=float)
    inside = np.asarray(mask, dtype=bool)
    if x.shape != y.shape or inside.shape != y.shape:
        raise ValueError(f"shapes differ: chi {x.shape}, truth {y.shape}, mask {inside.shape}")
    if x.ndim != 3:
        raise ValueError(f"maps must be 3-D, got shape {x.shape}")
    if not inside.any():
        raise ValueError("the mask is empty")
    for name, array in (("chi", x), ("truth", y)):
        if not np.all(np.isfinite(array[inside])):
            raise ValueError(f"{name} has non-finite values inside the mask")
    return np.where(inside, x, 0.0), np.where(inside, y, 0.0), inside


def _relative_error(x: np.ndarray, y: np.ndarray, inside: np.ndarray) -> float:
    denominator = float(np.linalg.norm(y[inside]))
    if denominator == 0:
        raise ValueError("the reference is zero inside the mask: relative error undefined")
    return 100.0 * float(np.linalg.norm((x - y)[inside])) / denominator


def rmse_percent(chi: ArrayLike, truth: ArrayLike, mask: ArrayLike) -> float:
    """Relative RMSE (%): ``100 ||chi - truth|| / ||truth||`` over the mask.

    Raises
    ------
    ValueError
        Shapes differ, not 3-D, an empty mask, non-finite values or a zero reference.
    """
    x, y, inside = _prepare(chi, truth, mask)
    return _relative_error(x, y, inside)


def hfen(chi: ArrayLike, truth: ArrayLike, mask: ArrayLike, sigma: float = 1.5) -> float:
    """High-frequency error norm (%): :func:`rmse_percent` of LoG-filtered masked maps.

    The Laplacian of Gaussian (``sigma`` in voxels, reflecting borders) is applied to both maps
    set to zero outside the mask; the norms are taken over the mask.
    """
    x, y, inside = _prepare(chi, truth, mask)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    lx = ndimage.gaussian_laplace(x, sigma, mode="reflect")
    ly = ndimage.gaussian_laplace(y, sigma, mode="reflect")
    return _relative_error(lx, ly, inside)


def ssim3d(chi: ArrayLike, truth: ArrayLike, mask: ArrayLike) -> float:
    """Mean 3-D SSIM over the mask (Gaussian window sigma 1.5, data range of the truth).

    Raises
    ------
    ValueError
        As :func:`rmse_percent`, a constant truth in the mask, or a volume thinner than the
        11-voxel window.
    """
    x, y, inside = _prepare(chi, truth, mask)
    value_range = float(np.ptp(y[inside]))
    if not value_range > 0:
        raise ValueError("the truth is constant inside the mask: SSIM data range is zero")
    if min(x.shape) < 11:
        raise ValueError(f"3-D SSIM needs at least 11 voxels per axis, got {x.shape}")
    _, full = structural_similarity(
        y,
        x,
        data_range=value_range,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    return float(np.mean(full[inside]))


def roi_means(chi: ArrayLike, labels: ArrayLike, ids: Iterable[int]) -> dict[int, float]:
    """Mean of ``chi`` over each label in ``ids`` (NaN, with a warning, for an absent label)."""
    x = np.asarray(chi, dtype=float)
    lab = np.asarray(labels)
    if lab.shape != x.shape:
        raise ValueError(f"labels shape {lab.shape} differs from chi's {x.shape}")
    wanted = [int(i) for i in ids]
    means: dict[int, float] = {}
    for label in wanted:
        where = lab == label
        if not where.any():
            logger.warning("label %d is absent: its ROI mean is NaN", label)
            means[label] = float("nan")
        else:
            means[label] = float(x[where].mean())
    return means


def challenge_metrics(
    chi: ArrayLike,
    truth: ArrayLike,
    mask: ArrayLike,
    labels: ArrayLike | None = None,
    dgm_labels: Iterable[int] = DGM_LABELS,
) -> dict[str, float]:
    """All challenge metrics of ``chi`` against ``truth`` in ``mask``.

    Parameters
    ----------
    chi, truth
        Susceptibility maps (ppm), referenced the same way by the caller.
    mask
        Boolean evaluation mask.
    labels
        Optional tissue labels; the DGM ROIs are ``labels == id`` within the mask.
    dgm_labels
        The deep grey matter label ids (default caudate, putamen, globus pallidus, thalamus).

    Returns
    -------
    dict
        ``rmse`` (%), ``hfen`` (%), ``ssim``, ``correlation`` (Pearson over the mask) and
        ``dgm_error`` (ppm, mean absolute error of the DGM ROI means; NaN without labels or
        when no DGM label lies in the mask).
    """
    x, y, inside = _prepare(chi, truth, mask)
    result = {
        "rmse": _relative_error(x, y, inside),
        "hfen": hfen(x, y, inside),
        "ssim": ssim3d(x, y, inside),
        "correlation": float(np.corrcoef(x[inside], y[inside])[0, 1]),
        "dgm_error": float("nan"),
    }
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != inside.shape:
            raise ValueError(f"labels shape {lab.shape} differs from the maps' {inside.shape}")
        lab = np.where(inside, lab, 0)
        ids = [i for i in dgm_labels if np.any(lab == i)]
        if ids:
            got = roi_means(x, lab, ids)
            want = roi_means(y, lab, ids)
            result["dgm_error"] = float(np.mean([abs(got[i] - want[i]) for i in ids]))
    return result
