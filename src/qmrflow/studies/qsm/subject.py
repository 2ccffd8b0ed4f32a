"""The per-subject steps of study ``qsm``, file in and file out (one function per rule).

* :func:`reconstruct_subject`: the conventional reconstruction (CR) of every acquisition, from
  its ISMRMRD k-space (:func:`qmrflow.io.read_cartesian_echoes`) or a user's magnitude/phase
  MEGRE images (:func:`qmrflow.io.megre.read_megre`);
* :func:`train_reconstruction` / :func:`reconstruct_subject_dlr`: the DL reconstruction
  (:mod:`.dlr`) trained on the train split's EPI against their GRE, and applied;
* :func:`compute_subject_qsm`: QSM of every acquisition of one reconstruction (:mod:`.pipeline`);
* :func:`measure_subject`: lesion features, ROI means, agreement with GRE-QSM and (demo) the
  error against the true susceptibility;
* :func:`rate_subject`: the demo's simulated raters.

Every failure names the subject and the file; outputs are written atomically, so a failed job
leaves none behind.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import InputDataError
from qmrflow.io import write_tsv
from qmrflow.io.nifti import load_nifti, save_nifti
from qmrflow.studies.qsm.images import load_echo_series, save_echo_series
from qmrflow.studies.qsm.recon import MultiEcho, reconstruct_cr

__all__ = [
    "compute_subject_qsm",
    "measure_subject",
    "rate_subject",
    "reconstruct_subject",
    "reconstruct_subject_dlr",
    "train_reconstruction",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def _read_source(
    subject: str, acq: str, files: Sequence[PathLike], expected: Sequence[str]
) -> tuple[MultiEcho, np.ndarray, float, str]:
    """One acquisition's CR from its k-space or its MEGRE images: echoes, affine, B0, source."""
    from qmrflow.io.ismrmrd import read_cartesian_echoes
    from qmrflow.io.megre import read_megre

    files = [Path(f) for f in files]
    kspace = [f for f in files if f.suffix == ".h5"]
    if kspace:
        raw = read_cartesian_echoes(kspace[0], subject=subject)
        echoes = reconstruct_cr(raw.kspace, raw.echo_times, raw.encoded)
        return echoes, raw.affine, float(raw.field_strength or 3.0), "kspace"
    images = [f for f in files if f.name.endswith(".nii.gz")]
    if not images:
        raise InputDataError(
            f"acquisition {acq!r} not found: expected {' or '.join(expected)}",
            subject=subject,
            path=expected[0],
        )
    megre = read_megre(images[0].parent, subject, acq)
    echoes = MultiEcho(
        images=megre.images.astype(np.complex64),
        echo_times=megre.echo_times,
        encoded=tuple(megre.images.shape[1:]),
    )
    return echoes, megre.affine, float(megre.field_strength or 3.0), "megre"


def reconstruct_subject(
    subject: str,
    *,
    sources: Mapping[str, Sequence[PathLike]],
    expected: Mapping[str, Sequence[str]],
    outputs: Mapping[str, PathLike],
) -> pd.DataFrame:
    """CR of every acquisition of one subject: magnitude and phase echoes and a timing table.

    Parameters
    ----------
    subject
        Participant label (named in every error).
    sources
        Acquisition -> its input files (the k-space ``.h5``, or the MEGRE images).
    expected
        Acquisition -> the names its input was looked for under (for the error message).
    outputs
        ``<acq>_mag`` and ``<acq>_phase`` per acquisition, and ``timing`` (TSV:
        participant_id, acquisition, recon, source, seconds, device).
    """
    rows = []
    results = {}
    for acq, files in sources.items():
        start = time.perf_counter()
        echoes, affine, b0, source = _read_source(subject, acq, files, expected[acq])
        seconds = time.perf_counter() - start
        results[acq] = (echoes, affine, b0)
        rows.append(
            {
                "participant_id": subject,
                "acquisition": acq,
                "recon": "cr",
                "source": source,
                "seconds": seconds,
                "device": platform.processor() or platform.machine(),
            }
        )
        logger.info("sub-%s %s: CR of %s in %.2f s", subject, acq, source, seconds)
    shapes = {acq: r[0].images.shape[1:] for acq, r in results.items()}
    if len(set(shapes.values())) > 1:
        raise InputDataError(
            f"the acquisitions are on different grids {shapes}: the study compares them "
            "voxel by voxel (reconstruct them onto one grid)",
            subject=subject,
            path=str(next(iter(sources.values()))[0]),
        )
    for acq, (echoes, affine, b0) in results.items():
        save_echo_series(
            echoes,
            affine,
            outputs[f"{acq}_mag"],
            outputs[f"{acq}_phase"],
            field_strength=b0,
            method="CR: inverse FFT, Hermitian-inner-product coil combination",
        )
    table = pd.DataFrame(rows)
    write_tsv(table, outputs["timing"])
    return table


# ---------------------------------------------------------------------------- DL reconstruction
#: Subject -> ``inputs`` (EPI acquisition -> [magnitude, phase] files) and ``target`` (the
#: reference GRE's [magnitude, phase] files).
TrainingItems = Mapping[str, Mapping[str, Any]]


def _training_volumes(
    items: TrainingItems,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray], list[str]]:
    """Inputs, sampled masks, targets, brain masks and subjects: one per subject and EPI."""
    from qmrflow.studies.qsm.masking import brain_mask

    inputs, sampled, targets, masks, subjects = [], [], [], [], []
    for subject, item in items.items():
        target = load_echo_series(*item["target"], subject=subject)
        mask = brain_mask(target.magnitude[0], target.voxel_mm)
        for files in item["inputs"].values():
            epi = load_echo_series(*files, subject=subject)
            inputs.append(epi.echoes.images)
            sampled.append(epi.echoes.sampled)
            targets.append(target.echoes.images)
            masks.append(mask)
            subjects.append(subject)
    return inputs, sampled, targets, masks, subjects


def train_reconstruction(
    *,
    train: TrainingItems,
    val: TrainingItems,
    settings: Mapping[str, Any] | None,
    seed: int,
    outputs: Mapping[str, PathLike],
    provenance: Mapping[str, Any],
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the DLR on the train subjects' EPI CR against their GRE CR, select on val.

    ``outputs``: ``model`` (checkpoint, metadata beside it) and ``history`` (TSV).
    """
    from qmrflow.studies.qsm.dlr import train_and_save_dlr

    *volumes, subjects = _training_volumes(train)
    *val_volumes, val_subjects = _training_volumes(val)
    if not subjects:
        raise InputDataError("no training subjects for the DL reconstruction")
    echo_times = load_echo_series(*next(iter(train.values()))["target"]).echoes.echo_times
    return train_and_save_dlr(
        *volumes,
        model_path=outputs["model"],
        subjects=subjects,
        settings=settings,
        seed=seed,
        val=tuple(val_volumes) if val_subjects else None,  # type: ignore[arg-type]
        val_subjects=val_subjects,
        provenance=provenance,
        history_path=outputs.get("history"),
        echo_times=list(echo_times),
        threads=threads,
    )


def reconstruct_subject_dlr(
    subject: str,
    *,
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    acquisitions: Sequence[str],
    sha256: str | None,
    threads: int | None = None,
) -> pd.DataFrame:
    """DLR of one subject's EPI acquisitions (``<acq>_mag``/``<acq>_phase`` in and out, the
    ``model`` checkpoint in, a ``timing`` table out)."""
    import torch

    from qmrflow.dl.device import select_device
    from qmrflow.studies.qsm.dlr import apply_dlr, load_dlr

    if threads:
        torch.set_num_threads(int(threads))
    device = select_device()
    model, _, checkpoint = load_dlr(inputs["model"], sha256, device=device, subject=subject)
    rows = []
    for acq in acquisitions:
        series = load_echo_series(inputs[f"{acq}_mag"], inputs[f"{acq}_phase"], subject=subject)
        start = time.perf_counter()
        images = apply_dlr(model, series.echoes.images, series.echoes.sampled, subject=subject)
        seconds = time.perf_counter() - start
        echoes = MultiEcho(images, series.echoes.echo_times, series.echoes.encoded)
        save_echo_series(
            echoes,
            series.affine,
            outputs[f"{acq}_mag"],
            outputs[f"{acq}_phase"],
            field_strength=series.field_strength,
            method="DLR: U-Net with soft k-space data consistency",
            extra={"ModelSha256": checkpoint.sha256},
        )
        rows.append(
            {
                "participant_id": subject,
                "acquisition": acq,
                "recon": "dlr",
                "source": "cr",
                "seconds": seconds,
                "device": str(device),
            }
        )
        logger.info("sub-%s %s: DLR in %.2f s on %s", subject, acq, seconds, device)
    table = pd.DataFrame(rows)
    write_tsv(table, outputs["timing"])
    return table


# ---------------------------------------------------------------------------- QSM
def _load_labels(path: PathLike, subject: str, shape: tuple[int, ...]) -> np.ndarray:
    labels = load_nifti(path, subject=subject, ndim=3, dtype=None).data
    if labels.shape != shape:
        raise InputDataError(
            f"labels of shape {labels.shape} do not match the images {shape}",
            subject=subject,
            path=path,
        )
    return np.rint(labels).astype(np.int16)


def compute_subject_qsm(
    subject: str,
    *,
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    acquisitions: Sequence[str],
    inversions: Sequence[str],
    settings: Mapping[str, Any] | None,
    recon: str,
) -> pd.DataFrame:
    """QSM of every acquisition of one reconstruction (:func:`.pipeline.compute_qsm`).

    ``inputs``: ``<acq>_mag``/``<acq>_phase`` and ``tissues`` (labels; the reference region).
    ``outputs``: ``<acq>_<inversion>`` maps, ``<acq>_mask`` and ``timing`` (TSV: participant_id,
    acquisition, recon, inversion, seconds).
    """
    from qmrflow.studies.qsm.pipeline import compute_qsm

    rows = []
    tissues = None
    for acq in acquisitions:
        series = load_echo_series(inputs[f"{acq}_mag"], inputs[f"{acq}_phase"], subject=subject)
        if tissues is None:
            tissues = _load_labels(inputs["tissues"], subject, series.echoes.images.shape[1:])
        maps = compute_qsm(
            series.echoes,
            series.voxel_mm,
            series.field_strength,
            tissues=tissues,
            inversions=inversions,
            settings=settings,
        )
        for inversion, chi in maps.chi.items():
            save_nifti(
                chi,
                outputs[f"{acq}_{inversion}"],
                series.affine,
                sidecar={"Units": "ppm", "ReferenceRegion": "lateral ventricles (CSF)"},
            )
            rows.append(
                {
                    "participant_id": subject,
                    "acquisition": acq,
                    "recon": recon,
                    "inversion": inversion,
                    "seconds": maps.seconds[inversion],
                }
            )
        save_nifti(maps.mask, outputs[f"{acq}_mask"], series.affine)
        logger.info("sub-%s %s %s: QSM %s", subject, acq, recon, maps.seconds)
    table = pd.DataFrame(rows)
    write_tsv(table, outputs["timing"])
    return table


# ---------------------------------------------------------------------------- measures
#: Tissue label -> region name (the study's labels; 1-4 deep grey matter, 5 the reference).
REGIONS: dict[int, str] = {
    1: "caudate",
    2: "putamen",
    3: "globus pallidus",
    4: "thalamus",
    5: "lateral ventricles",
    6: "white matter",
    7: "cortical grey matter",
}


def _maps(
    subject: str,
    inputs: Mapping[str, PathLike],
    acquisitions: Mapping[str, Sequence[str]],
    inversions: Sequence[str],
) -> tuple[dict[tuple[str, str, str], np.ndarray], np.ndarray, np.ndarray]:
    """Every map by (recon, acquisition, inversion), their common mask and the affine."""
    maps, mask, affine = {}, None, None
    for recon, acqs in acquisitions.items():
        for acq in acqs:
            this = load_nifti(inputs[f"{recon}_{acq}_mask"], subject=subject, ndim=3).data > 0
            mask = this if mask is None else mask & this
            for inversion in inversions:
                image = load_nifti(inputs[f"{recon}_{acq}_{inversion}"], subject=subject, ndim=3)
                maps[(recon, acq, inversion)] = image.data
                affine = image.affine
    assert mask is not None and affine is not None
    return maps, mask, affine


def measure_subject(
    subject: str,
    *,
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    lesion_acquisition: str,
    acquisitions: Mapping[str, Sequence[str]],
    inversions: Sequence[str],
) -> None:
    """Lesion features, ROI means, agreement with GRE-QSM and (demo) accuracy of one subject.

    Every comparison uses the voxels inside every map's mask (the same voxels for every
    acquisition, reconstruction and inversion).

    Outputs (TSV):

    * ``lesions``: :func:`.lesions.lesion_features` of the lesion acquisition's CR and DLR
      TV-QSM per FLAIR lesion (with ``recon``, ``acquisition``, ``inversion``);
    * ``rois``: mean susceptibility per tissue label and map (``truth`` rows on the demo);
    * ``agreement``: each EPI map against the GRE CR map of the same inversion: correlation,
      RMSE (%), HFEN (%), SSIM and the deep grey matter ROI error (ppm);
    * ``accuracy`` (demo): every map against the true susceptibility, referenced like the maps
      (to the lateral ventricles inside the mask), with the same metrics (the QSM
      reconstruction challenges').
    """
    from qmrflow.studies.qsm.inversion import reference_to
    from qmrflow.studies.qsm.lesions import lesion_features
    from qmrflow.studies.qsm.pipeline import CSF_LABEL

    maps, mask, affine = _maps(subject, inputs, acquisitions, inversions)
    shape = mask.shape
    tissues = _load_labels(inputs["tissues"], subject, shape)
    lesion_labels = _load_labels(inputs["lesions"], subject, shape)
    flair = load_nifti(inputs["flair"], subject=subject, ndim=3).data
    voxel = tuple(float(v) for v in np.sqrt((affine[:3, :3] ** 2).sum(axis=0)))

    features = []
    for recon in acquisitions:
        series = load_echo_series(
            inputs[f"{recon}_{lesion_acquisition}_mag"],
            inputs[f"{recon}_{lesion_acquisition}_phase"],
            subject=subject,
        )
        magnitude = np.sqrt(np.mean(series.magnitude**2, axis=0))
        table = lesion_features(
            lesion_labels,
            maps[(recon, lesion_acquisition, "tv")],
            magnitude,
            flair,
            voxel,
            reference=mask,
            subject=subject,
        )
        features.append(table.assign(recon=recon, acquisition=lesion_acquisition, inversion="tv"))
    lesions = pd.concat(features, ignore_index=True).assign(participant_id=subject)
    write_tsv(lesions, outputs["lesions"])

    truth = None
    if "truth" in inputs:
        truth_image = load_nifti(inputs["truth"], subject=subject, ndim=3).data
        region = (tissues == CSF_LABEL) & mask
        truth = reference_to(truth_image, region if region.any() else mask) * mask
    named = dict(maps)
    if truth is not None:
        named[("truth", "truth", "truth")] = truth
    write_tsv(_roi_table(subject, named, np.where(mask, tissues, 0)), outputs["rois"])

    write_tsv(
        _metric_rows(subject, maps, _gre_reference(maps), mask, tissues), outputs["agreement"]
    )
    if "accuracy" in outputs:
        if truth is None:
            raise InputDataError("the demo's accuracy needs the true susceptibility map")
        references = dict.fromkeys(maps, truth)
        write_tsv(_metric_rows(subject, maps, references, mask, tissues), outputs["accuracy"])


def _roi_table(
    subject: str, maps: Mapping[tuple[str, str, str], np.ndarray], labels: np.ndarray
) -> pd.DataFrame:
    """Mean susceptibility per tissue region of every map (:func:`qmrflow.roi.measure_labels`):
    participant_id, acquisition, recon, inversion, label, region, mean_ppm, voxels."""
    from qmrflow.roi import measure_labels

    table = measure_labels(labels, {"|".join(key): chi for key, chi in maps.items()}, names=REGIONS)
    keys = table["map"].str.split("|", expand=True)
    label_of = {name: label for label, name in REGIONS.items()}
    return pd.DataFrame(
        {
            "participant_id": subject,
            "acquisition": keys[1],
            "recon": keys[0],
            "inversion": keys[2],
            "label": table["roi"].map(label_of),
            "region": table["roi"],
            "mean_ppm": table["mean"],
            "voxels": table["n_voxels"],
        }
    )


def _gre_reference(
    maps: Mapping[tuple[str, str, str], np.ndarray],
) -> dict[tuple[str, str, str], np.ndarray]:
    """Each EPI map's reference for the agreement: the GRE CR map of the same inversion."""
    return {key: maps[("cr", "gre", key[2])] for key in maps if key[1] != "gre"}


def _metric_rows(
    subject: str,
    maps: Mapping[tuple[str, str, str], np.ndarray],
    references: Mapping[tuple[str, str, str], np.ndarray],
    mask: np.ndarray,
    tissues: np.ndarray,
) -> pd.DataFrame:
    """The challenge metrics of every map that has a reference, one row each."""
    from qmrflow.studies.qsm.metrics import challenge_metrics

    return pd.DataFrame(
        [
            {
                "participant_id": subject,
                "acquisition": acq,
                "recon": recon,
                "inversion": inversion,
                **challenge_metrics(maps[key], reference, mask, tissues),
            }
            for key, reference in references.items()
            for recon, acq, inversion in [key]
        ]
    )


def rate_subject(subject: str, *, lesions: PathLike, output: PathLike, seed: int) -> pd.DataFrame:
    """The demo's simulated raters score one subject's lesions on CR and DLR (:mod:`.raters`)."""
    from qmrflow.io import read_tsv
    from qmrflow.studies.qsm.raters import simulate_ratings

    features = read_tsv(lesions)
    ratings = simulate_ratings(features, seed=seed, participant_id=subject)
    write_tsv(ratings, output)
    return ratings
