"""The synthmri figures (qmrflow.studies.synthmri.figures) from small tables and volumes."""

from __future__ import annotations

import numpy as np
import pytest

from qmrflow.io import save_nifti
from qmrflow.stats import write_tidy
from qmrflow.studies.synthmri.evaluate import evaluate_study
from qmrflow.studies.synthmri.figures import FIGURE_KEYS, run_figures

from .test_evaluate import make_tables

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """Group tables (as run_evaluation writes them) and one subject's example maps."""
    root = tmp_path_factory.mktemp("synthmri_figures")
    rois, quality = make_tables(n_subjects=4, lesions=(2, 1, 0, 0))
    evaluation = evaluate_study(rois, quality, confidence=0.95)
    paths = {"rois": root / "rois.tsv", "quality": root / "quality.tsv"}
    evaluation.rois.to_csv(paths["rois"], sep="\t", index=False)
    evaluation.quality.to_csv(paths["quality"], sep="\t", index=False)
    paths["statistics"] = write_tidy(evaluation.statistics, root / "statistics.tsv")
    rng = np.random.default_rng(0)
    examples = {}
    for method in ("routine", "fast", "dl", "truth"):
        examples[method] = {}
        for key, scale in (("T1map", 1000.0), ("T2map", 80.0), ("PDmap", 0.8)):
            data = (scale * (1 + 0.1 * rng.standard_normal((12, 14, 3)))).astype(np.float32)
            examples[method][key] = save_nifti(data, root / f"{method}_{key}.nii.gz")
    return root, paths, examples


def test_every_figure_is_written(group):
    root, paths, examples = group
    outputs = {key: root / f"{key}.png" for key in FIGURE_KEYS}
    run_figures(
        rois=paths["rois"],
        quality=paths["quality"],
        statistics=paths["statistics"],
        examples=examples,
        example_subject="01",
        outputs=outputs,
        dpi=60,
    )
    assert set(FIGURE_KEYS) == {
        "agreement_T1",
        "agreement_T2",
        "agreement_PD",
        "examples",
        "quality",
        "paper",
        "lesions",
    }
    for path in outputs.values():
        assert path.stat().st_size > 500
        assert path.read_bytes()[:4] == PNG


def test_example_panel_without_truth_and_bad_keys(group):
    root, paths, examples = group
    out = root / "examples_no_truth.png"
    run_figures(
        rois=paths["rois"],
        quality=paths["quality"],
        statistics=paths["statistics"],
        examples={k: v for k, v in examples.items() if k != "truth"},
        example_subject="01",
        outputs={"examples": out},
        dpi=60,
    )
    assert out.read_bytes()[:4] == PNG
    with pytest.raises(ValueError, match="unknown figure key"):
        run_figures(
            rois=paths["rois"],
            quality=paths["quality"],
            statistics=paths["statistics"],
            examples=examples,
            example_subject="01",
            outputs={"agreement": root / "x.png"},
        )
    with pytest.raises(ValueError, match="'routine'"):
        run_figures(
            rois=paths["rois"],
            quality=paths["quality"],
            statistics=paths["statistics"],
            examples={"dl": examples["dl"]},
            example_subject="01",
            outputs={"examples": root / "y.png"},
        )
