"""The qsm study's QC page of one test subject: its QSM maps and its lesions.

Images
    ``QSM panels`` (:func:`qmrflow.studies.qsm.figures.plot_qsm_panels`): one axial slice through
    the deep grey matter of the GRE-QSM, the lesion acquisition's CR- and DLR-QSM and (demo) the
    truth, TKD and TV. ``Lesion close-ups`` (:func:`~qmrflow.studies.qsm.figures.
    plot_lesion_closeups`): the largest FLAIR lesions on CR and DLR (TV), outlined.
Measures (:func:`subject_measures`)
    The GRE-QSM (CR, TV) mean of every region of the tissue labels but the reference (the
    lateral ventricles, zero by construction); the relative RMSE (%) of
    each EPI-QSM (TV) against the GRE-QSM; the number of lesions and their volume; (demo) the
    relative RMSE of each TV map against the true susceptibility.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from qmrflow.io import read_tsv
from qmrflow.report.qc import QCSection, SubjectQC, image_from_figure, measures_table

__all__ = ["subject_measures", "subject_qc"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The inversion whose measures are compared with the cohort's.
QC_INVERSION = "tv"


def _name(text: str) -> str:
    return str(text).strip().replace(" ", "_")


def subject_measures(
    rois: pd.DataFrame,
    agreement: pd.DataFrame,
    lesions: pd.DataFrame,
    accuracy: pd.DataFrame | None = None,
    *,
    lesion_acquisition: str,
) -> pd.DataFrame:
    """The subject's key measures (:data:`qmrflow.report.qc.MEASURE_COLUMNS`).

    Parameters
    ----------
    rois, agreement, lesions, accuracy
        The subject's tables (``accuracy``: the demo's, else None).
    lesion_acquisition
        The acquisition whose CR lesions are counted.
    """
    from qmrflow.studies.qsm.pipeline import CSF_LABEL

    rows: list[tuple[str, float, str]] = []
    gre = rois[
        (rois["acquisition"] == "gre")
        & (rois["recon"] == "cr")
        & (rois["inversion"] == QC_INVERSION)
        & (rois["label"] != CSF_LABEL)
    ]
    rows += [(f"chi_{_name(r.region)}", float(r.mean_ppm), "ppm") for r in gre.itertuples()]
    tv = agreement[agreement["inversion"] == QC_INVERSION]
    rows += [
        (f"rmse_vs_gre_{r.acquisition}_{r.recon}", float(r.rmse), "%") for r in tv.itertuples()
    ]
    counted = lesions[
        (lesions["acquisition"] == lesion_acquisition)
        & (lesions["recon"] == "cr")
        & (lesions["inversion"] == QC_INVERSION)
    ]
    rows += [
        ("lesions", float(counted["lesion"].nunique()), "1"),
        ("lesion_volume_ml", float(counted.drop_duplicates("lesion")["volume_ml"].sum()), "ml"),
    ]
    if accuracy is not None:
        truth = accuracy[accuracy["inversion"] == QC_INVERSION]
        rows += [
            (f"rmse_vs_truth_{r.acquisition}_{r.recon}", float(r.rmse), "%")
            for r in truth.itertuples()
        ]
    return measures_table(rows)


def subject_qc(subject: str, inputs: Mapping[str, Any], *, lesion_acquisition: str) -> SubjectQC:
    """The subject's page (:mod:`qmrflow.report.qc`).

    Parameters
    ----------
    subject
        Participant label.
    inputs
        The maps ``<recon>_<acq>_<inversion>`` of the GRE (CR) and the lesion acquisition (CR
        and DLR), ``cr_gre_mask``, the FLAIR ``lesions`` labels, (demo) ``truth``; the tables
        ``table_rois``, ``table_agreement``, ``table_lesions`` and (demo) ``table_accuracy``.
    lesion_acquisition
        The EPI acquisition shown beside the GRE (config ``qsm.lesions.acquisition``).
    """
    from qmrflow.studies.qsm.figures import plot_lesion_closeups, plot_qsm_panels

    panels = image_from_figure(
        plot_qsm_panels(inputs, lesion_acquisition),
        "QSM panels",
        f"One axial slice through the deep grey matter: GRE-QSM, {lesion_acquisition} CR- and "
        "DLR-QSM (and the demo's truth), TKD above TV, -0.15 to 0.25 ppm.",
    )
    sections = [QCSection("QSM maps", images=(panels,))]
    if "lesions" in inputs:
        closeups = image_from_figure(
            plot_lesion_closeups(inputs, lesion_acquisition),
            "Lesion close-ups",
            f"The largest FLAIR lesions on the {lesion_acquisition} TV maps, CR above DLR, "
            "the lesion outlined (-0.08 to 0.12 ppm).",
        )
        sections.append(QCSection("Lesions", images=(closeups,)))
    tables = {
        key: read_tsv(inputs[f"table_{key}"], subject=subject)
        for key in ("rois", "agreement", "lesions", "accuracy")
        if f"table_{key}" in inputs
    }
    return SubjectQC(
        study="qsm",
        subject=subject,
        sections=tuple(sections),
        measures=subject_measures(
            tables["rois"],
            tables["agreement"],
            tables["lesions"],
            tables.get("accuracy"),
            lesion_acquisition=lesion_acquisition,
        ),
        sources={key: inputs[f"table_{key}"] for key in tables},
    )
