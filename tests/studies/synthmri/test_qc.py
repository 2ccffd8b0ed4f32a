"""The synthmri QC page: fits against their source images, maps of every method, measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.io import save_nifti, write_tsv
from qmrflow.studies.synthmri.protocol import DEFAULT_PROTOCOL, write_sidecar
from qmrflow.studies.synthmri.qc import plot_fit_against_source, subject_measures, subject_qc

SHAPE = (12, 10, 3)
MAPS = {"T1map": 900.0, "T2map": 80.0, "PDmap": 0.7, "B1map": 1.0}


def _rois() -> pd.DataFrame:
    rows = [
        ("s1", method, "tissue", tissue, name, value * (2 if tissue == "CSF" else 1))
        for method in ("routine", "dl")
        for tissue in ("CSF", "WM")
        for name, value in (("T1", 900.0), ("T2", 80.0), ("PD", 0.7))
    ]
    rows.append(("s1", "routine", "region", "frontal_left", "T1", 1000.0))
    columns = ["participant_id", "method", "roi_type", "roi", "map", "mean"]
    return pd.DataFrame(rows, columns=columns)


def _quality() -> pd.DataFrame:
    rows = [
        ("s1", method, reference, name, 30.0, ssim, 0.1)
        for method, ssim in (("fast", 0.9), ("dl", 0.95))
        for reference in ("routine", "truth")
        for name in ("T1", "T2", "PD")
    ]
    columns = ["participant_id", "method", "reference", "map", "psnr", "ssim", "nrmse"]
    return pd.DataFrame(rows, columns=columns)


def test_the_measures_hold_the_fit_residuals_tissue_means_and_quality_against_routine():
    table = subject_measures(_rois(), _quality(), {"routine": 0.03, "fast": 0.02})
    values = table.set_index("measure")["value"]
    assert values["fit_residual_routine"] == 0.03
    assert values["routine_CSF_T1"] == 1800.0 and values["routine_WM_PD"] == 0.7
    assert values["dl_T2_ssim"] == 0.95 and values["fast_PD_nrmse"] == 0.1
    assert "routine_GM_T1" not in values  # a tissue the labels lack is left out
    assert not any(name.startswith("dl_WM") for name in values.index)
    assert len(table) == 2 + 6 + 12


def test_the_fit_figure_shows_every_source_image_and_the_maps():
    source = np.random.default_rng(0).random((*SHAPE, 8))
    maps = {key: np.full(SHAPE, value) for key, value in MAPS.items()}
    mask = np.ones(SHAPE, bool)
    fig = plot_fit_against_source(source, DEFAULT_PROTOCOL, maps, np.zeros(SHAPE), mask, "t")
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 8 + 5
    assert "TD 150 ms, TE 100 ms" in titles and titles[-1].startswith("residual")


def test_the_page_shows_both_fits_and_the_maps_of_every_method(tmp_path):
    def volume(name: str, value: float) -> str:
        path = tmp_path / f"{name}.nii.gz"
        save_nifti(np.full(SHAPE, value, np.float32), path, np.diag([2.0, 2.0, 5.0, 1.0]))
        return str(path)

    inputs = {
        "rois": write_tsv(_rois(), tmp_path / "rois.tsv"),
        "quality": write_tsv(_quality(), tmp_path / "quality.tsv"),
    }
    for acq in ("routine", "fast"):
        image = tmp_path / f"{acq}_MDME.nii.gz"
        save_nifti(np.random.default_rng(1).random((*SHAPE, 8)).astype(np.float32), image)
        write_sidecar(DEFAULT_PROTOCOL, image)
        inputs[f"mdme_{acq}"] = str(image)
        inputs |= {f"{acq}_{key}": volume(f"{acq}_{key}", value) for key, value in MAPS.items()}
        inputs[f"{acq}_residual"] = volume(f"{acq}_res", 0.05)
        inputs[f"{acq}_mask"] = volume(f"{acq}_mask", 1)
    for prefix in ("spline", "dl"):
        inputs |= {f"{prefix}_{k}": volume(f"{prefix}_{k}", MAPS[k]) for k in MAPS if k != "B1map"}
    qc = subject_qc("s1", inputs)
    titles = [image.title for section in qc.sections for image in section.images]
    assert titles == ["Fit of the routine MDME", "Fit of the fast MDME", "Maps of every method"]
    assert "median residual 0.05" in qc.sections[0].images[0].caption
    assert qc.measures.set_index("measure")["value"]["fit_residual_fast"] == pytest.approx(0.05)
