"""The qsm QC page: QSM panels, lesion close-ups and measures of one subject."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.io import save_nifti, write_tsv
from qmrflow.studies.qsm.qc import subject_measures, subject_qc

SHAPE = (20, 20, 6)


def _tables() -> dict[str, pd.DataFrame]:
    rois = pd.DataFrame(
        [
            ("ms1", acq, recon, inv, label, region, value)
            for acq, recon in (("gre", "cr"), ("epi1avg", "dlr"))
            for inv in ("tkd", "tv")
            for label, region, value in (
                (1, "caudate", 0.05),
                (3, "globus pallidus", 0.15),
                (5, "lateral ventricles", 1e-12),  # the reference: zero by construction
            )
        ],
        columns=[
            "participant_id",
            "acquisition",
            "recon",
            "inversion",
            "label",
            "region",
            "mean_ppm",
        ],
    )
    agreement = pd.DataFrame(
        [
            ("ms1", "epi1avg", recon, inv, rmse)
            for recon, rmse in (("cr", 80.0), ("dlr", 70.0))
            for inv in ("tkd", "tv")
        ],
        columns=["participant_id", "acquisition", "recon", "inversion", "rmse"],
    )
    lesions = pd.DataFrame(
        [
            (lesion, volume, recon, "epi1avg", inv, "ms1")
            for lesion, volume in ((1, 0.2), (2, 0.3))
            for recon in ("cr", "dlr")
            for inv in ("tkd", "tv")
        ],
        columns=["lesion", "volume_ml", "recon", "acquisition", "inversion", "participant_id"],
    )
    accuracy = agreement.assign(acquisition="gre", rmse=agreement["rmse"] / 2)
    return {"rois": rois, "agreement": agreement, "lesions": lesions, "accuracy": accuracy}


def test_the_measures_leave_the_reference_region_out():
    tables = _tables()
    values = subject_measures(**tables, lesion_acquisition="epi1avg").set_index("measure")
    assert values["value"].to_dict() == pytest.approx(
        {
            "chi_caudate": 0.05,
            "chi_globus_pallidus": 0.15,
            "rmse_vs_gre_epi1avg_cr": 80.0,
            "rmse_vs_gre_epi1avg_dlr": 70.0,
            "lesions": 2,
            "lesion_volume_ml": 0.5,
            "rmse_vs_truth_gre_cr": 40.0,
            "rmse_vs_truth_gre_dlr": 35.0,
        }
    )
    assert values.loc["chi_caudate", "unit"] == "ppm"
    other = subject_measures(**tables, lesion_acquisition="epi2avg")
    assert other.set_index("measure")["value"]["lesions"] == 0


def test_the_page_shows_the_qsm_panels_and_the_lesions(tmp_path):
    rng = np.random.default_rng(0)
    inputs = {}
    for recon, acq in (("cr", "gre"), ("cr", "epi1avg"), ("dlr", "epi1avg")):
        for inv in ("tkd", "tv"):
            inputs[f"{recon}_{acq}_{inv}"] = save_nifti(
                (0.05 * rng.standard_normal(SHAPE)).astype(np.float32),
                tmp_path / f"{recon}_{acq}_{inv}.nii.gz",
            )
    inputs["cr_gre_mask"] = save_nifti(np.ones(SHAPE, np.uint8), tmp_path / "mask.nii.gz")
    labels = np.zeros(SHAPE, np.uint8)
    labels[5:8, 5:8, 2:4] = 1
    labels[12:14, 12:14, 3] = 2
    inputs["lesions"] = save_nifti(labels, tmp_path / "lesions.nii.gz")
    for key, table in _tables().items():
        inputs[f"table_{key}"] = write_tsv(table, tmp_path / f"{key}.tsv")
    qc = subject_qc("ms1", inputs, lesion_acquisition="epi1avg")
    titles = [image.title for section in qc.sections for image in section.images]
    assert titles == ["QSM panels", "Lesion close-ups"]
    assert set(qc.sources) == {"rois", "agreement", "lesions", "accuracy"}
    del inputs["lesions"]
    assert [s.title for s in subject_qc("ms1", inputs, lesion_acquisition="epi1avg").sections] == [
        "QSM maps"
    ]
