"""Contrast kinetics of one subject: frame times, arterial input, blood pools and tissues.

All curves come from :mod:`qmrflow.studies.perfusion.kinetics` (the model the quantification
fits): gamma variates for the blood pools, the input convolved with a Fermi response through
:func:`~qmrflow.studies.perfusion.kinetics.tissue_operator` for the myocardium.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qmrflow.studies.perfusion.kinetics import (
    fermi_response,
    gamma_variate,
    mbf_to_flow,
    tissue_operator,
    uniform_grid,
)
from qmrflow.studies.perfusion.segments import SEGMENT_NAMES, SEGMENT_TERRITORY
from qmrflow.studies.perfusion.simulate.settings import LABELS

__all__ = [
    "GRID_STEP",
    "Inputs",
    "concentration_maps",
    "draw_frame_times",
    "draw_inputs",
    "draw_segment_table",
    "myocardial_curves",
]

#: Step (s) of the uniform grid the convolution is evaluated on.
GRID_STEP = 0.1


@dataclass(frozen=True)
class Inputs:
    """Blood-pool and background-tissue concentrations (mM) at the frame times.

    Attributes
    ----------
    frame_times
        ``(T,)`` seconds from the first frame.
    aif
        LV blood pool = arterial input.
    rv
        RV blood pool: an earlier, slightly higher and narrower gamma variate.
    liver, other
        Slow, small enhancement (``plateau (1 - exp(-(t - onset) / tau))``).
    aif_parameters
        The gamma-variate parameters of the input.
    """

    frame_times: np.ndarray
    aif: np.ndarray
    rv: np.ndarray
    liver: np.ndarray
    other: np.ndarray
    aif_parameters: dict[str, float]


def draw_frame_times(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """One frame per heartbeat: RR ~ U(0.6, 0.75) s per subject, 3 % beat-to-beat jitter."""
    rr = rng.uniform(0.6, 0.75)
    intervals = rr * np.clip(1.0 + rng.normal(0.0, 0.03, n_frames - 1), 0.85, 1.15)
    return np.concatenate([[0.0], np.cumsum(intervals)])


def _slow(t: np.ndarray, onset: float, plateau: float, tau: float) -> np.ndarray:
    return plateau * (1.0 - np.exp(-np.clip(t - onset, 0.0, None) / tau))


def draw_inputs(rng: np.random.Generator, frame_times: np.ndarray) -> Inputs:
    """Draw the input (peak 5-7 mM, onset 4-6 s, recirculation 8-15 %) and the other pools."""
    params = {
        "onset": rng.uniform(4.0, 6.0),
        "alpha": rng.uniform(2.5, 4.0),
        "beta": rng.uniform(0.9, 1.3),
        "peak": rng.uniform(5.0, 7.0),
        "recirculation": rng.uniform(0.08, 0.15),
        "recirculation_delay": rng.uniform(8.0, 10.0),
    }
    params = {k: float(v) for k, v in params.items()}
    rv_params = {
        **params,
        "onset": params["onset"] - rng.uniform(1.5, 2.5),
        "beta": params["beta"] * 0.8,
        "peak": params["peak"] * rng.uniform(1.1, 1.3),
    }
    t = np.asarray(frame_times, dtype=float)
    liver = _slow(t, params["onset"] + rng.uniform(2.0, 4.0), rng.uniform(0.2, 0.4), 15.0)
    other = _slow(t, params["onset"] + rng.uniform(3.0, 5.0), rng.uniform(0.1, 0.2), 20.0)
    return Inputs(
        frame_times=t,
        aif=gamma_variate(t, **params),
        rv=gamma_variate(t, **rv_params),
        liver=liver,
        other=other,
        aif_parameters=params,
    )


def draw_segment_table(rng: np.random.Generator, stress_mbf: float, ischaemia: str) -> pd.DataFrame:
    """Fermi parameters of the 16 AHA segments.

    Normal segments: MBF ``stress_mbf (1 + N(0, 0.05))``; segments of the ischaemic territory
    U(0.8, 1.2) ml/min/g. ``tau0`` U(2, 4) s, ``k`` U(0.5, 1.5) /s, ``delay`` U(0.5, 2) s. All
    values are drawn for every segment whatever the territory, so the territory changes only
    the MBF of its segments.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``name``, ``territory``, ``ischaemic``, ``mbf`` (ml/min/g), ``tau0`` (s),
        ``k`` (1/s), ``delay`` (s); one row per segment 1-16.
    """
    segments = np.arange(1, 17)
    normal = stress_mbf * (1.0 + rng.normal(0.0, 0.05, 16))
    low = rng.uniform(0.8, 1.2, 16)
    tau0 = rng.uniform(2.0, 4.0, 16)
    k = rng.uniform(0.5, 1.5, 16)
    delay = rng.uniform(0.5, 2.0, 16)
    territory = np.array([SEGMENT_TERRITORY[int(s)] for s in segments])
    ischaemic = territory == ischaemia
    return pd.DataFrame(
        {
            "segment": segments,
            "name": [SEGMENT_NAMES[int(s) - 1] for s in segments],
            "territory": territory,
            "ischaemic": ischaemic,
            "mbf": np.where(ischaemic, low, normal),
            "tau0": tau0,
            "k": k,
            "delay": delay,
        }
    )


def myocardial_curves(
    aif: np.ndarray,
    frame_times: np.ndarray,
    mbf: np.ndarray,
    tau0: np.ndarray,
    k: np.ndarray,
    delay: np.ndarray,
) -> np.ndarray:
    """Tissue concentration ``(N, T)`` of ``N`` pixels: the input convolved with their Fermi."""
    operator = tissue_operator(aif, frame_times, dt=GRID_STEP)
    grid = uniform_grid(frame_times, GRID_STEP)
    response = fermi_response(grid, mbf_to_flow(mbf), tau0, k, delay)
    return response @ operator.T


def concentration_maps(
    labels: np.ndarray,
    segments: np.ndarray,
    mbf_map: np.ndarray,
    inputs: Inputs,
    table: pd.DataFrame,
) -> np.ndarray:
    """Concentration ``(..., T, X, Y)`` (mM) of label maps ``(..., X, Y)`` in their position.

    Blood pools and the liver and other tissue follow :class:`Inputs`; a myocardial pixel
    follows its own MBF (``mbf_map``) with its segment's ``tau0``, ``k`` and ``delay``.
    """
    n_frames = inputs.frame_times.size
    out = np.zeros((*labels.shape[:-2], n_frames, *labels.shape[-2:]))
    moved = np.moveaxis(out, -3, -1)  # view (..., X, Y, T)
    for name, curve in (
        ("lv", inputs.aif),
        ("rv", inputs.rv),
        ("liver", inputs.liver),
        ("other", inputs.other),
    ):
        moved[labels == LABELS[name]] = curve
    myo = labels == LABELS["myocardium"]
    if np.any(myo):
        lookup = table.set_index("segment")
        seg = segments[myo].astype(int)
        params = [lookup[c].reindex(np.arange(17)).to_numpy()[seg] for c in ("tau0", "k", "delay")]
        moved[myo] = myocardial_curves(inputs.aif, inputs.frame_times, mbf_map[myo], *params)
    return out
