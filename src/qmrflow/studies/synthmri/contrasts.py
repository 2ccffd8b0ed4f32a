"""Synthetic contrast-weighted images from T1, T2 and PD maps.

:func:`synthesize_contrasts` evaluates the standard spin-echo and inversion-recovery signal
equations (Bernstein, King & Zhou 2004, Handbook of MRI Pulse Sequences; as used for synthetic
MRI by Hagiwara et al. 2017, AJNR 38:1103-1110)::

    spin echo:          S = PD (1 - e^(-TR/T1)) e^(-TE/T2)
    inversion recovery: S = PD |1 - 2 e^(-TI/T1) + e^(-TR/T1)| e^(-TE/T2)

with the parameters of :data:`CONTRASTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["CONTRASTS", "Contrast", "synthesize_contrasts"]


@dataclass(frozen=True)
class Contrast:
    """Sequence parameters of a synthetic contrast (ms); ``inversion_time`` set for IR."""

    repetition_time: float
    echo_time: float
    inversion_time: float | None = None


CONTRASTS: dict[str, Contrast] = {
    "T1w": Contrast(repetition_time=500.0, echo_time=10.0),
    "T2w": Contrast(repetition_time=4500.0, echo_time=100.0),
    "PDw": Contrast(repetition_time=4000.0, echo_time=10.0),
    "FLAIR": Contrast(repetition_time=11000.0, echo_time=120.0, inversion_time=2800.0),
}
"""Default synthetic contrasts (typical 3 T clinical values), in output volume order."""


def synthesize_contrasts(
    t1: ArrayLike,
    t2: ArrayLike,
    pd: ArrayLike,
    mask: ArrayLike,
    contrasts: Mapping[str, Contrast] | None = None,
) -> dict[str, np.ndarray]:
    """Contrast-weighted images from T1, T2, PD maps (spin echo / inversion recovery).

    Parameters
    ----------
    t1, t2
        Maps (ms).
    pd
        PD map (fraction).
    mask
        Voxels to synthesise; 0 elsewhere.
    contrasts
        Name -> :class:`Contrast`; default :data:`CONTRASTS` (T1w TR 500 TE 10; T2w TR 4500
        TE 100; PDw TR 4000 TE 10; FLAIR TR 11000 TI 2800 TE 120 ms).

    Returns
    -------
    dict
        Name -> float64 image of the maps' shape, in ``contrasts`` order. Equations in the
        module docstring.
    """
    mask = np.asarray(mask, dtype=bool)
    t1 = np.where(mask, np.asarray(t1, dtype=float), 1.0)
    t2 = np.where(mask, np.asarray(t2, dtype=float), 1.0)
    pd = np.where(mask, np.asarray(pd, dtype=float), 0.0)
    out = {}
    for name, c in (CONTRASTS if contrasts is None else contrasts).items():
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            etr = np.exp(-c.repetition_time / t1)
            if c.inversion_time is None:
                recovery = 1.0 - etr
            else:
                recovery = np.abs(1.0 - 2.0 * np.exp(-c.inversion_time / t1) + etr)
            image = pd * recovery * np.exp(-c.echo_time / t2)
        out[name] = np.where(mask, image, 0.0)
    return out
