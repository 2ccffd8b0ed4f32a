"""The breathing QC page: lung images, diaphragm curves and measures of one subject."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from qmrflow.io import write_tsv
from qmrflow.studies.breathing.qc import plot_diaphragm_curves, subject_measures, subject_qc


def _measures(method: str, excursion: float) -> pd.DataFrame:
    rows = [
        ("breathing", "right", "excursion", excursion, "mm"),
        ("breathing", "left", "excursion", excursion + 1, "mm"),
        ("sniff", "right", "peak_velocity", 12.0, "cm/s"),
        ("sniff", "right", "paradoxical", 0.0, "bool"),  # not a QC measure
    ]
    table = pd.DataFrame(rows, columns=["task", "side", "measure", "value", "unit"])
    return table.assign(participant_id="b1", method=method)


def _curves(method: str) -> pd.DataFrame:
    t = np.arange(10) * 0.2
    frames = []
    for task in ("breathing", "sniff"):
        frames.append(
            pd.DataFrame(
                {
                    "participant_id": "b1",
                    "method": method,
                    "task": task,
                    "frame": np.arange(10),
                    "time": t,
                    "dome_right_mm": 150 + 10 * np.sin(t),
                    "dome_left_mm": 145 + 10 * np.sin(t),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


T1 = pd.DataFrame({"participant_id": ["b1"], "diaphragm_t1": [1.2]})
QUALITY = pd.DataFrame({"method": ["sense", "sense", "gridding"], "dice": [0.9, 0.8, 0.5]})


def test_the_measures_name_the_reconstruction_task_side_and_measure():
    measures = pd.concat([_measures("gridding", 20.0), _measures("sense", 60.0)])
    table = subject_measures(measures, T1, QUALITY).set_index("measure")
    assert table["value"].to_dict() == pytest.approx(
        {
            "gridding_breathing_right_excursion": 20.0,
            "gridding_breathing_left_excursion": 21.0,
            "gridding_sniff_right_peak_velocity": 12.0,
            "gridding_lung_dice": 0.5,
            "sense_breathing_right_excursion": 60.0,
            "sense_breathing_left_excursion": 61.0,
            "sense_sniff_right_peak_velocity": 12.0,
            "sense_lung_dice": 0.85,
            "diaphragm_t1": 1.2,
        }
    )
    assert table.loc["sense_sniff_right_peak_velocity", "unit"] == "cm/s"
    assert "gridding_lung_dice" not in set(subject_measures(measures, T1)["measure"])


def test_the_curves_figure_has_a_panel_per_task_and_a_line_per_dome_and_method():
    fig = plot_diaphragm_curves(pd.concat([_curves("sense"), _curves("gridding")]), "b1")
    assert [ax.get_title() for ax in fig.axes] == ["breathing", "sniff"]
    assert len(fig.axes[0].lines) == 4


def test_the_page_shows_the_lungs_and_the_curves(tmp_path):
    inputs = {"t1": write_tsv(T1, tmp_path / "t1.tsv")}
    for method, excursion in (("gridding", 20.0), ("sense", 60.0)):
        inputs[f"curves_{method}"] = write_tsv(_curves(method), tmp_path / f"c_{method}.tsv")
        inputs[f"measures_{method}"] = write_tsv(
            _measures(method, excursion), tmp_path / f"m_{method}.tsv"
        )
    Image.new("RGB", (200, 80), "gray").save(tmp_path / "montage.png")
    frames = [Image.new("RGB", (40, 40), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    inputs |= {"montage": tmp_path / "montage.png", "animation": tmp_path / "a.gif"}
    qc = subject_qc("b1", inputs)
    titles = [image.title for section in qc.sections for image in section.images]
    assert titles == ["Lungs over the sniff", "Animation", "Diaphragm curves"]
    assert "sense_breathing_right_excursion" in set(qc.measures["measure"])
    assert "T1" in qc.sources and "quality (sense)" not in qc.sources
