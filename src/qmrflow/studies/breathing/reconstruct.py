"""Per-subject reconstruction of one real-time task: ISMRMRD k-space in, NIfTI frames out.

One job per subject, task and method: the raw file is read and validated
(:func:`qmrflow.io.read_radial_series`), every frame is reconstructed by
:func:`qmrflow.recon.reconstruct_series` (``gridding``: density-compensated adjoint NUFFT and
coil combination, the baseline; ``sense``: CG-SENSE per frame regularised toward the previous
frame, NLINV-like in spirit), and the magnitude frames are written on the acquisition's grid
(:func:`.frames.save_frames`, the affine from the file's slice geometry) with a timing row:
processing seconds, frames per second and the real-time factor (acquisition time over
processing time; >= 1 keeps pace with the scanner).
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from qmrflow.io import read_radial_series, write_tsv
from qmrflow.studies.breathing.frames import save_frames

__all__ = ["METHODS", "reconstruct_subject"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The reconstructions compared: the baseline first.
METHODS: tuple[str, ...] = ("gridding", "sense")


def reconstruct_subject(
    subject: str,
    task: str,
    method: str,
    *,
    kspace: PathLike,
    outputs: Mapping[str, PathLike],
    options: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Reconstruct one task's frames and write them with their timing.

    Parameters
    ----------
    subject, task
        Participant label (named in every error) and task (``breathing``, ``sniff``).
    method
        ``gridding`` or ``sense``.
    kspace
        The task's ISMRMRD file.
    outputs
        ``frames`` (``(X, Y, 1, T)`` NIfTI with the frame times in its sidecar) and ``timing``
        (TSV: participant_id, task, method, frames, frame_duration, seconds, frames_per_second,
        realtime_factor, coil_seconds, device (``cpu`` or ``torch:cuda``...), host).
    options
        SENSE settings (``iterations``, ``lam``, ``lam0``, ``device``; the config's
        ``reconstruction.sense``); ignored by gridding.
    threads
        FINUFFT threads.

    Returns
    -------
    dict
        The timing row.
    """
    from qmrflow.recon import reconstruct_series

    if method not in METHODS:
        raise ValueError(f"unknown reconstruction {method!r}; known: {METHODS}")
    series = read_radial_series(kspace, subject=subject)
    settings = dict(options or {}) if method == "sense" else {}
    result = reconstruct_series(
        series.kspace,
        series.trajectory,
        series.matrix,
        method=method,  # type: ignore[arg-type]
        threads=threads,
        **settings,
    )
    duration = series.frame_duration
    timing = {
        "participant_id": subject,
        "task": task,
        "method": method,
        "frames": series.n_frames,
        "frame_duration": duration,
        "seconds": result.seconds,
        "frames_per_second": result.frames_per_second,
        "realtime_factor": result.realtime_factor(duration),
        "coil_seconds": result.timings.get("coils", np.nan),
        "device": result.device,
        "host": platform.node(),
    }
    logger.info(
        "sub-%s %s %s: %d frames in %.2f s (%.1f frames/s, real-time factor %.2f)",
        *(subject, task, method, series.n_frames, result.seconds),
        *(result.frames_per_second, timing["realtime_factor"]),
    )
    save_frames(
        result.frames,
        series.affine,
        outputs["frames"],
        frame_times=series.frame_times,
        extra={
            "Reconstruction": method,
            "Sources": [series.path.name],
            "MagneticFieldStrength": series.field_strength,
        },
    )
    import pandas as pd  # tables only once the work is done

    write_tsv(pd.DataFrame([timing]), outputs["timing"])
    return timing
