"""ROI measurement shared by the studies: by label, by lesion component, by named masks.

A region of interest (ROI) is a boolean mask; a measurement summarises one or more maps (T1,
T2, PD, a perfusion or susceptibility map, ...) inside it. Three ways to get ROIs:

* :func:`label_masks`: one ROI per non-zero label of a label image (tissue classes, regions,
  muscles, myocardial segments);
* :func:`component_masks`: one ROI per connected component of a binary mask (lesions), found
  with :func:`scipy.ndimage.label`; components are numbered in scipy's raster-scan order;
* any mapping ``name -> mask`` the study builds itself.

:func:`roi_rows` measures a mapping of ROIs over a mapping of maps: per ROI and map the mean,
median, standard deviation (``ddof = 1``; NaN for a one-voxel ROI) and voxel count, and, when
reference maps are given (e.g. a simulation's ground truth), the median over the ROI's voxels
of the absolute percentage error against the reference. :func:`measure_labels` and
:func:`measure_components` return the same measures as tables. :func:`dice` compares two label
arrays (per slice and frame by default).

Connectivity of components: ``connectivity`` is scipy's rank of the structuring element
(:func:`scipy.ndimage.generate_binary_structure`): 1 joins voxels sharing a face, ``ndim``
(the default) also those touching along an edge or a corner (26-connectivity in 3-D), so that a
lesion that touches itself only diagonally on a thick-slice grid stays one lesion.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import ndimage

__all__ = [
    "MEASURE_COLUMNS",
    "component_masks",
    "dice",
    "label_components",
    "label_masks",
    "largest_component",
    "measure_components",
    "measure_labels",
    "roi_rows",
]

logger = logging.getLogger(__name__)

#: Columns of the measures of one ROI and map (after the ROI key columns and ``map``).
MEASURE_COLUMNS: tuple[str, ...] = ("mean", "median", "sd", "n_voxels")
ERROR_COLUMN = "voxel_error_percent"


def dice(a: ArrayLike, b: ArrayLike, label: int, axes: Sequence[int] = (0, 1)) -> np.ndarray:
    """Dice overlap of ``label`` in two label arrays, over ``axes`` (per frame by default).

    Parameters
    ----------
    a, b
        Label arrays of one shape, e.g. ``(X, Y, S, T)``.
    label
        The label compared.
    axes
        The in-plane axes: the default ``(0, 1)`` gives one Dice per slice and frame for
        ``(X, Y, S, T)`` series; use ``(1, 2)`` for a stack ``(N, X, Y)``.

    Returns
    -------
    numpy.ndarray
        Dice over the remaining axes (float64); NaN where the label is in neither array.
    """
    a, b = np.asarray(a) == label, np.asarray(b) == label
    if a.shape != b.shape:
        raise ValueError(f"label arrays differ in shape: {a.shape} vs {b.shape}")
    axes = tuple(axes)
    overlap = np.count_nonzero(a & b, axis=axes)
    total = np.count_nonzero(a, axis=axes) + np.count_nonzero(b, axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * overlap / total, np.nan)


def label_components(mask: ArrayLike, connectivity: int | None = None) -> tuple[np.ndarray, int]:
    """Connected components of a binary mask (:func:`scipy.ndimage.label`).

    Parameters
    ----------
    mask
        Binary array (non-zero = inside).
    connectivity
        Rank of the structuring element, 1 to ``mask.ndim``; default ``mask.ndim`` (faces,
        edges and corners; see the module docstring).

    Returns
    -------
    components : numpy.ndarray
        int32 array of the mask's shape: 0 outside, ``1..count`` the components.
    count : int
        Number of components.
    """
    inside = np.asarray(mask) != 0
    rank = inside.ndim if connectivity is None else int(connectivity)
    if not 1 <= rank <= max(inside.ndim, 1):
        raise ValueError(f"connectivity must be 1 to {inside.ndim}, got {connectivity}")
    structure = ndimage.generate_binary_structure(inside.ndim, rank)
    components, count = ndimage.label(inside, structure=structure)
    return components.astype(np.int32, copy=False), int(count)


def largest_component(
    mask: ArrayLike, connectivity: int | None = None, *, per_frame: bool = False
) -> np.ndarray:
    """The largest connected component of a binary mask, as a boolean array (empty stays empty;
    ties: the first component in raster-scan order).

    Parameters
    ----------
    mask
        Binary array (non-zero = inside).
    connectivity
        Rank of the structuring element (see :func:`label_components`); default: the full
        rank of the (per-frame) grid.
    per_frame
        Take the largest component of every slice along axis 0 on its own (components never
        join across that axis), e.g. each frame of a ``(T, X, Y)`` series: one
        :func:`scipy.ndimage.label` call over the whole array, not a loop over frames.
    """
    inside = np.asarray(mask) != 0
    if not per_frame:
        components, count = label_components(inside, connectivity)
    else:
        rank = inside.ndim - 1 if connectivity is None else int(connectivity)
        if not 1 <= rank <= inside.ndim - 1:
            raise ValueError(f"connectivity must be 1 to {inside.ndim - 1}, got {connectivity}")
        structure = np.zeros((3,) * inside.ndim, dtype=bool)
        structure[1] = ndimage.generate_binary_structure(inside.ndim - 1, rank)
        components, count = ndimage.label(inside, structure=structure)
    if count <= 1:
        return components > 0
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    sizes[0] = 0
    if not per_frame:
        return components == int(np.argmax(sizes))
    # The frame of each component, then per frame the component with the most voxels.
    frame_of = np.zeros(count + 1, dtype=np.intp)
    frame_of[components[inside]] = np.nonzero(inside)[0]
    ids = np.arange(1, count + 1)
    order = ids[np.lexsort((ids, -sizes[ids], frame_of[ids]))]
    first = np.r_[True, frame_of[order][1:] != frame_of[order][:-1]]
    keep = np.zeros(count + 1, dtype=bool)
    keep[order[first]] = True
    return keep[components]


def component_masks(
    mask: ArrayLike, *, prefix: str = "lesion", connectivity: int | None = None
) -> dict[str, np.ndarray]:
    """One boolean mask per connected component, named ``<prefix>-1``, ``<prefix>-2``, ...

    Components are numbered in :func:`scipy.ndimage.label`'s raster-scan order.
    """
    components, count = label_components(mask, connectivity)
    return {f"{prefix}-{index}": components == index for index in range(1, count + 1)}


def label_masks(
    labels: ArrayLike,
    names: Mapping[int, str] | None = None,
    *,
    prefix: str = "label",
    skip_unnamed: bool = False,
) -> dict[str, np.ndarray]:
    """One boolean mask per non-zero label of a label image, in label order.

    Parameters
    ----------
    labels
        Integer label image (0 = background).
    names
        Label -> ROI name; ``None`` names them ``<prefix>-<k>``.
    prefix
        Name prefix without ``names``, and the word for a label in messages.
    skip_unnamed
        Leave out labels missing from ``names`` (otherwise they raise).

    Raises
    ------
    ValueError
        Non-integer labels, or a label missing from ``names`` (without ``skip_unnamed``).
    """
    values = np.asarray(labels)
    if np.issubdtype(values.dtype, np.floating) and not np.all(values == np.round(values)):
        raise ValueError("label image holds non-integer values")
    masks = {}
    for label in np.unique(values[values != 0]):
        label = int(label)
        if names is None:
            name = f"{prefix}-{label}"
        elif label in names:
            name = str(names[label])
        elif skip_unnamed:
            continue
        else:
            raise ValueError(f"{prefix} label {label} has no name in the lookup table")
        masks[name] = values == label
    return masks


def roi_rows(
    masks: Mapping[Hashable, np.ndarray],
    maps: Mapping[str, np.ndarray],
    *,
    reference: Mapping[str, np.ndarray] | None = None,
    key_names: Sequence[str] = ("roi",),
) -> list[dict[str, Any]]:
    """Measures of every ROI over every map, one row per ROI and map (ROI-major order).

    Parameters
    ----------
    masks
        ROI key -> boolean mask (the maps' shape). A tuple key is spread over ``key_names``
        (e.g. ``("tissue", "WM")`` with ``("roi_type", "roi")``); any other key fills the one
        column of ``key_names``.
    maps
        Map name -> array.
    reference
        Map name -> reference array (e.g. the ground truth): adds ``voxel_error_percent``, the
        median over the ROI's voxels of ``100·|value − reference|/reference`` (NaN where the
        reference is 0 in every voxel of the ROI). ``None``: the column is NaN.
    key_names
        Column names of the ROI key.

    Returns
    -------
    list of dict
        Keys ``*key_names, map, mean, median, sd, n_voxels, voxel_error_percent``.

    Raises
    ------
    ValueError
        A mask and a map differ in shape, or a key does not fit ``key_names``.
    """
    rows = []
    for key, mask in masks.items():
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) != len(key_names):
            raise ValueError(f"ROI key {key!r} does not fit the key columns {tuple(key_names)}")
        n = int(mask.sum())
        for name, volume in maps.items():
            if np.shape(volume) != np.shape(mask):
                raise ValueError(
                    f"map {name!r} shape {np.shape(volume)} differs from ROI {key!r} "
                    f"shape {np.shape(mask)}"
                )
            values = volume[mask]
            error = np.nan
            if reference is not None:
                truth = reference[name][mask]
                valid = truth != 0
                if valid.any():
                    error = float(
                        np.median(100.0 * np.abs(values[valid] - truth[valid]) / truth[valid])
                    )
            rows.append(
                {
                    **dict(zip(key_names, parts, strict=True)),
                    "map": name,
                    "mean": float(values.mean()) if n else np.nan,
                    "median": float(np.median(values)) if n else np.nan,
                    "sd": float(values.std(ddof=1)) if n > 1 else np.nan,
                    "n_voxels": n,
                    ERROR_COLUMN: error,
                }
            )
    return rows


def _table(rows: list[dict[str, Any]], key_names: Sequence[str]) -> pd.DataFrame:
    columns = [*key_names, "map", *MEASURE_COLUMNS, ERROR_COLUMN]
    return pd.DataFrame(rows, columns=columns)


def measure_labels(
    labels: ArrayLike,
    maps: Mapping[str, np.ndarray],
    *,
    names: Mapping[int, str] | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Measures per label of a label image over one or more maps (see :func:`roi_rows`).

    Returns
    -------
    pandas.DataFrame
        ``roi, map, mean, median, sd, n_voxels, voxel_error_percent``; ``roi`` is the label's
        name (:func:`label_masks`).
    """
    return _table(roi_rows(label_masks(labels, names), maps, reference=reference), ("roi",))


def measure_components(
    mask: ArrayLike,
    maps: Mapping[str, np.ndarray],
    *,
    prefix: str = "lesion",
    connectivity: int | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Measures per connected component of a binary mask (lesions) over one or more maps.

    Returns
    -------
    pandas.DataFrame
        ``roi, map, mean, median, sd, n_voxels, voxel_error_percent``; ``roi`` is
        ``<prefix>-<k>`` (:func:`component_masks`). Empty (with these columns) without
        components.
    """
    masks = component_masks(mask, prefix=prefix, connectivity=connectivity)
    logger.debug("%d connected component(s) measured", len(masks))
    return _table(roi_rows(masks, maps, reference=reference), ("roi",))
