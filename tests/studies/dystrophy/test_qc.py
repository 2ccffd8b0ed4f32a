"""The dystrophy QC page: ROI windows, CAM figure and measures of one subject."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from qmrflow.io import save_nifti, write_tsv
from qmrflow.studies.dystrophy.qc import plot_roi_overlay, subject_measures, subject_qc

ROI = pd.DataFrame(
    {
        "slice": [1, 2, 3],
        "x0": [4, 5, 6],
        "x1": [60, 58, 56],
        "y0": [10, 10, 12],
        "y1": [40, 38, 40],
        "separable": [True, True, False],
        "gap_px": [6, 4, 0],
    }
)
PROBABILITIES = pd.DataFrame(
    {
        "participant_id": "d1",
        "architecture": ["net", "net", "net", "net"],
        "level": ["image", "image", "image", "case"],
        "slice": [1, 2, 3, None],
        "probability": [0.8, 0.7, 0.2, 0.75],
        "usable": [True, True, False, True],
    }
)


def test_the_measures_summarise_the_rois():
    measures = subject_measures(ROI).set_index("measure")["value"]
    assert measures.to_dict() == pytest.approx(
        {
            "slices": 3,
            "separable_fraction": 2 / 3,
            "roi_width_px": 53.0,
            "roi_height_px": (30 + 28 + 28) / 3,
            "leg_gap_px": 5.0,
        }
    )


def test_the_roi_figure_draws_one_window_per_slice_in_its_colour():
    images = [np.random.default_rng(i).random((64, 48)) for i in range(3)]
    fig = plot_roi_overlay(images, ROI, "d1")
    colours = [ax.patches[0].get_edgecolor()[:3] for ax in fig.axes]
    assert len(colours) == 3 and colours[0] != colours[2]
    assert fig.axes[1].patches[0].get_width() == 53
    with pytest.raises(ValueError, match="2 slices but 3 ROI rows"):
        plot_roi_overlay(images[:2], ROI, "d1")


def test_the_page_shows_the_rois_and_the_cams(tmp_path):
    stack = tmp_path / "sub-d1_T1w.nii.gz"
    save_nifti(np.random.default_rng(0).random((64, 48, 3)).astype(np.float32), stack)
    write_tsv(ROI, tmp_path / "roi.tsv")
    write_tsv(PROBABILITIES, tmp_path / "probabilities.tsv")
    Image.new("RGB", (300, 100), "gray").save(tmp_path / "cam.png")
    inputs = {
        "slices": [str(stack)],
        "roi": tmp_path / "roi.tsv",
        "probabilities": tmp_path / "probabilities.tsv",
        "overlay": tmp_path / "cam.png",
    }
    qc = subject_qc("d1", inputs)
    assert [s.title for s in qc.sections] == ["ROI localisation", "Classification"]
    assert [i.title for s in qc.sections for i in s.images] == ["ROI", "Class activation maps"]
    assert "net 0.75" in qc.sections[1].text
    write_tsv(PROBABILITIES.assign(probability=np.nan), tmp_path / "probabilities.tsv")
    assert "net n/a (no usable slice)" in subject_qc("d1", inputs).sections[1].text
    assert qc.measures["measure"].iloc[0] == "slices"
    with pytest.raises(TypeError, match="unexpected options"):
        subject_qc("d1", inputs, colour="red")
