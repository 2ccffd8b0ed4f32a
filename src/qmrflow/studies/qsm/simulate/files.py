"""Writing one simulated qsm subject in the study's input layout (BIDS), with its truth.

Layout under the dataset root (subject label ``s``; :func:`subject_paths`):

Input dataset (what a user brings)
    ``sub-s/kspace/sub-s_acq-<acq>_kspace.h5`` for ``acq`` in ``gre``, ``epi2avg``,
    ``epi1avg``: multi-coil multi-echo Cartesian k-space as ISMRMRD HDF5
    (:func:`qmrflow.io.ismrmrd.write_cartesian_echoes`; the EPI files hold only their acquired
    centre, protocol names :data:`~.settings.PROTOCOLS`); ``sub-s/anat/sub-s_FLAIR.nii.gz``
    with its JSON sidecar.
Labels (``derivatives/labels``, what a user gives: the FLAIR lesion mask, a tissue segmentation)
    ``sub-s_desc-lesions_dseg.nii.gz`` (int16 lesion instance labels 1..L) and
    ``sub-s_desc-aseg_dseg.nii.gz`` (int16 tissue labels, :data:`~.phantom.LABELS`) with its
    lookup table ``sub-s_desc-aseg_dseg.tsv`` (``index``, ``name``), in ``sub-s/anat/``.
Truth (``derivatives/truth``, demo only)
    ``sub-s/anat/sub-s_Chimap.nii.gz`` (susceptibility, ppm relative to CSF),
    ``sub-s/anat/sub-s_desc-brain_mask.nii.gz`` and ``sub-s/sub-s_lesions.tsv`` (the lesion
    truth table, :data:`~.phantom.LESION_COLUMNS`).

Every image has the same RAS affine (:meth:`~.settings.QsmDemoSettings.affine`). BIDS has no
name for the ``kspace`` folder (raw dataset) nor the ``*_lesions.tsv`` table (truth): both
belong in the datasets' ``.bidsignore``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.io.bids import bids_path
from qmrflow.studies.qsm.simulate.acquisition import simulate_acquisition
from qmrflow.studies.qsm.simulate.cohort import subject_streams
from qmrflow.studies.qsm.simulate.phantom import LABELS, Phantom, simulate_phantom
from qmrflow.studies.qsm.simulate.settings import ACQUISITIONS, PROTOCOLS, QsmDemoSettings

__all__ = ["LABELS_PIPELINE", "OUTPUT_KEYS", "TRUTH_PIPELINE", "subject_paths", "write_subject"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Derivative folder of the labels a user supplies (lesion mask, tissue segmentation).
LABELS_PIPELINE = "labels"
#: Derivative folder of the demo's ground truth.
TRUTH_PIPELINE = "truth"

#: Keys of :func:`subject_paths` / :func:`write_subject` (sidecars are written beside their
#: images and not listed).
OUTPUT_KEYS: tuple[str, ...] = (
    *(f"kspace_{acq}" for acq in ACQUISITIONS),
    "flair",
    "lesions",
    "aseg",
    "aseg_lut",
    "chi",
    "brain_mask",
    "lesion_table",
)


def subject_paths(root: PathLike, participant_id: str) -> dict[str, Path]:
    """Where :func:`write_subject` puts each file of one subject (see the module docstring)."""
    sub = str(participant_id).removeprefix("sub-")
    labels = Path(root, "derivatives", LABELS_PIPELINE)
    truth = Path(root, "derivatives", TRUTH_PIPELINE)
    paths = {
        f"kspace_{acq}": bids_path(root, "kspace", ".h5", datatype="kspace", sub=sub, acq=acq)
        for acq in ACQUISITIONS
    }
    paths.update(
        flair=bids_path(root, "FLAIR", sub=sub),
        lesions=bids_path(labels, "dseg", sub=sub, desc="lesions"),
        aseg=bids_path(labels, "dseg", sub=sub, desc="aseg"),
        aseg_lut=bids_path(labels, "dseg", ".tsv", sub=sub, desc="aseg"),
        chi=bids_path(truth, "Chimap", sub=sub),
        brain_mask=bids_path(truth, "mask", sub=sub, desc="brain"),
        lesion_table=bids_path(truth, "lesions", ".tsv", datatype=None, sub=sub),
    )
    return {key: Path(value) for key, value in paths.items()}


def _sidecars(settings: QsmDemoSettings) -> dict[str, dict[str, Any]]:
    """JSON sidecars of the NIfTI files by key."""
    generated = "qmrflow qsm demo (simulated)"
    return {
        "flair": {
            "MagneticFieldStrength": settings.b0,
            "MRAcquisitionType": "3D",
            "PulseSequenceType": "simulated FLAIR (CSF nulled, lesions bright)",
            "SeriesDescription": generated,
        },
        "lesions": {
            "Description": "MS lesion instance labels on FLAIR (0 none, 1..L one per lesion); "
            + generated,
        },
        "aseg": {
            "Description": "tissue labels: "
            + ", ".join(f"{v} {k}" for k, v in LABELS.items())
            + "; 0 outside the brain and extraventricular CSF; "
            + generated,
        },
        "chi": {
            "Description": "true magnetic susceptibility relative to CSF (lateral ventricles) "
            "= 0; " + generated,
            "Units": "ppm",
            "SkullStripped": True,
        },
        "brain_mask": {"Description": "true brain mask; " + generated, "Type": "Brain"},
    }


def _write_images(
    phantom: Phantom, settings: QsmDemoSettings, paths: Mapping[str, Path], written: list[Path]
) -> None:
    """The NIfTI files and tables of one subject (each atomically), recorded in ``written``."""
    from qmrflow.io import save_nifti, write_tsv
    from qmrflow.io.bids import sidecar_path

    sidecars = _sidecars(settings)
    arrays = {
        "flair": phantom.flair.astype(np.float32),
        "lesions": phantom.lesions.astype(np.int16),
        "aseg": phantom.labels.astype(np.int16),
        "chi": phantom.chi.astype(np.float32),
        "brain_mask": phantom.brain.astype(np.uint8),
    }
    for key, data in arrays.items():
        written.append(paths[key])
        save_nifti(data, paths[key], phantom.affine, sidecar=sidecars[key])
        written.append(sidecar_path(paths[key]))
    lut = pd.DataFrame({"index": list(LABELS.values()), "name": list(LABELS)})
    written.append(paths["aseg_lut"])
    write_tsv(lut, paths["aseg_lut"])
    written.append(paths["lesion_table"])
    write_tsv(phantom.lesion_table, paths["lesion_table"])


def write_subject(
    row: Mapping[str, Any] | pd.Series,
    root: PathLike,
    settings: QsmDemoSettings | Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Path]:
    """Simulate one subject and write its files (see the module docstring).

    The phantom is simulated first, then each acquisition's k-space is simulated and written
    in turn (one at a time in memory). Each file is written atomically, and when anything
    fails the files this call already wrote are removed, so a failed subject leaves nothing
    behind.

    Parameters
    ----------
    row
        A participants row with ``participant_id``.
    root
        The dataset root.
    settings
        :class:`~.settings.QsmDemoSettings` or a mapping of its fields (None: defaults).
    seed
        Cohort seed (:func:`.phantom.simulate_phantom`; each acquisition's noise has its own
        stream, :data:`.cohort.ASPECTS`).

    Returns
    -------
    dict
        The written path by :data:`OUTPUT_KEYS` key.
    """
    from qmrflow.io.ismrmrd import write_cartesian_echoes

    settings = QsmDemoSettings.from_mapping(settings)
    phantom = simulate_phantom(row, settings, seed)
    paths = subject_paths(root, phantom.participant_id)
    rngs = subject_streams(seed, phantom.participant_id)
    written: list[Path] = []
    try:
        for acq in ACQUISITIONS:
            kspace, encoded = simulate_acquisition(phantom, settings, acq, rngs[acq])
            written.append(paths[f"kspace_{acq}"])
            write_cartesian_echoes(
                paths[f"kspace_{acq}"],
                kspace,
                np.asarray(settings.echo_times),
                fov_mm=settings.fov_mm,
                encoded=encoded,
                affine=phantom.affine,
                field_strength=settings.b0,
                protocol=PROTOCOLS[acq],
            )
            del kspace
        _write_images(phantom, settings, paths, written)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    logger.info(
        "wrote sub-%s: %d files, %d lesions",
        phantom.participant_id,
        len(written),
        len(phantom.lesion_table),
    )
    return paths
