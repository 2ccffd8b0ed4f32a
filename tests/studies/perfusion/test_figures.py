"""The perfusion figures (qmrflow.studies.perfusion.figures) from small synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.stats import write_tidy
from qmrflow.studies.perfusion.evaluate import evaluate_study
from qmrflow.studies.perfusion.figures import (
    FIGURE_KEYS,
    plot_curves_figure,
    plot_perfusion_figures,
)

from .test_evaluate import make_tables, stacked

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """The group tables as evaluate_perfusion writes them, and the example's curves files."""
    root = tmp_path_factory.mktemp("perfusion_figures")
    segments, quality, curves = make_tables(3, seed=4)
    evaluation = evaluate_study(stacked(segments), stacked(quality))
    paths = {"subjects": root / "subjects.tsv", "segments": root / "segments.tsv"}
    evaluation.subjects.to_csv(paths["subjects"], sep="\t", index=False, na_rep="n/a")
    evaluation.segments.to_csv(paths["segments"], sep="\t", index=False, na_rep="n/a")
    paths["statistics"] = write_tidy(evaluation.statistics, root / "statistics.tsv")
    paths["curves"] = []
    for (pid, method), table in curves.items():
        if pid == "02":
            path = root / f"sub-{pid}_method-{method}_curves.tsv"
            table.to_csv(path, sep="\t", index=False)
            paths["curves"].append(path)
    return root, paths


def test_every_figure_is_written(group):
    root, paths = group
    outputs = {key: root / "figures" / f"{key}.png" for key in FIGURE_KEYS}
    plot_perfusion_figures(outputs=outputs, example_subject="02", dpi=60, **paths)
    for path in outputs.values():
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 1000, path


def test_user_data_without_truth_draws_too(tmp_path):
    segments, quality, curves = make_tables(3, truth=False, seed=5)
    evaluation = evaluate_study(stacked(segments), stacked(quality))
    outputs = {key: tmp_path / f"{key}.png" for key in FIGURE_KEYS}
    plot_perfusion_figures(
        outputs=outputs,
        subjects=evaluation.subjects,
        segments=evaluation.segments,
        curves=[t for (pid, _), t in curves.items() if pid == "01"],
        statistics=evaluation.statistics,
        dpi=50,
    )
    assert all(path.read_bytes().startswith(PNG) for path in outputs.values())


def test_bad_requests_are_refused(group, tmp_path):
    _, paths = group
    with pytest.raises(ValueError, match="unknown figure"):
        plot_perfusion_figures(outputs={"maps": tmp_path / "m.png"}, **paths)
    with pytest.raises(ValueError, match="not given"):
        plot_perfusion_figures(outputs={"paper": tmp_path / "p.png"})
    with pytest.raises(ValueError, match="sub-09"):
        plot_perfusion_figures(
            outputs={"bullseye": tmp_path / "b.png"}, segments=paths["segments"],
            example_subject="09",
        )  # fmt: skip


def test_the_aif_row_shows_concentration_when_its_signal_is_not_measured():
    _, _, curves = make_tables(2, seed=6)
    table = pd.concat(curves.values(), ignore_index=True)
    table.loc[table["segment"] == 0, "signal"] = np.nan  # as measure_perfusion_subject writes it
    fig = plot_curves_figure(table, "01")
    aif_axes = fig.axes[: len(table["method"].unique())]
    assert all(np.isfinite(line.get_ydata()).any() for ax in aif_axes for line in ax.lines)
    assert aif_axes[0].get_ylabel() == "AIF concentration (mM)"
