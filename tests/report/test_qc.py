"""Per-subject QC pages, cohort flags and the index (qmrflow.report.qc)."""

from __future__ import annotations

import io
import json
import re
import sys
import types

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from qmrflow.errors import InputDataError
from qmrflow.io import read_tsv, write_tsv
from qmrflow.report.qc import (
    FAILED_COLUMNS,
    QCImage,
    QCSection,
    QCTable,
    SubjectQC,
    cohort_outliers,
    flag_failed_jobs,
    flags_payload,
    image_from_figure,
    image_from_file,
    index_pages,
    measures_table,
    outliers_path,
    page_path,
    render_index,
    render_subject_page,
    robust_z,
    update_flags,
    write_flags,
    write_subject_page,
)


def _flags(path) -> dict:
    """The object flags.js assigns to window.QMRFLOW_QC_FLAGS."""
    text = path.read_text()
    match = re.search(r"window\.QMRFLOW_QC_FLAGS = (.*);\s*$", text, re.S)
    assert match, text
    return json.loads(match.group(1))


def _png(width: int, height: int, seed: int = 0) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")
    return buffer.getvalue()


def _cohort(values: dict[str, float], study: str = "s", measure: str = "m") -> pd.DataFrame:
    subjects, numbers = list(values), list(values.values())
    return pd.DataFrame({"study": study, "subject": subjects, "measure": measure, "value": numbers})


# ------------------------------------------------------------------------ robust z
def test_robust_z_is_the_deviation_from_the_median_in_robust_sds():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    # median 3, MAD = median(|x - 3|) = median(2, 1, 0, 1, 97) = 1
    np.testing.assert_allclose(robust_z(x), (x - 3.0) / 1.4826)


def test_robust_z_falls_back_to_the_mean_deviation_and_ignores_missing_values():
    x = np.array([5.0, 5.0, 5.0, 5.0, 9.0, np.nan])
    z = robust_z(x)
    # MAD 0 -> 1.253314 * mean(|x - 5|) over the finite values = 1.253314 * 0.8
    np.testing.assert_allclose(z[:5], (x[:5] - 5.0) / (1.253314 * 0.8))
    assert np.isnan(z[5])
    np.testing.assert_array_equal(robust_z([2.0, 2.0, 2.0]), [0.0, 0.0, 0.0])
    assert np.isnan(robust_z([np.nan])).all()


def test_the_outlier_is_flagged_within_its_study_only():
    values = {f"p{i}": v for i, v in enumerate([10.0, 10.5, 9.5, 10.2, 9.8, 10.1, 30.0])}
    other = _cohort({"q1": 30.0, "q2": 31.0, "q3": 29.0}, study="t")
    found = cohort_outliers(pd.concat([_cohort(values), other]), threshold=3.5)
    assert found[["study", "subject", "measure"]].values.tolist() == [["s", "p6", "m"]]
    row = found.iloc[0]
    assert row["median"] == pytest.approx(10.1)
    assert row["z"] == pytest.approx((30.0 - 10.1) / (1.4826 * 0.3))
    assert row["n"] == 7
    # a looser threshold flags nobody; a measure without spread flags nobody
    assert cohort_outliers(_cohort(values), threshold=100.0).empty
    assert cohort_outliers(_cohort({"a": 1.0, "b": 1.0, "c": 1.0})).empty


def test_too_few_subjects_flag_nobody():
    values = {f"p{i}": v for i, v in enumerate([10.0, 10.5, 9.5, 30.0])}
    assert cohort_outliers(_cohort(values)).empty
    assert cohort_outliers(_cohort(values), min_subjects=4)["subject"].tolist() == ["p3"]
    with pytest.raises(ValueError, match="min_subjects"):
        cohort_outliers(_cohort(values), min_subjects=2)


def test_a_low_outlier_has_a_negative_score_and_bad_input_is_refused():
    values = {f"p{i}": v for i, v in enumerate([10.0, 10.5, 9.5, 10.2, 9.8, -20.0])}
    assert cohort_outliers(_cohort(values))["z"].iloc[0] < -3.5
    with pytest.raises(ValueError, match="threshold"):
        cohort_outliers(_cohort(values), threshold=0)
    with pytest.raises(ValueError, match="value"):
        cohort_outliers(_cohort(values).drop(columns="value"))


def test_measures_tables_drop_missing_values_and_refuse_duplicates():
    table = measures_table([("a", 1.0, "mm"), ("b", float("nan"), "1")])
    assert table.to_dict("list") == {"measure": ["a"], "value": [1.0], "unit": ["mm"]}
    with pytest.raises(ValueError, match="twice"):
        measures_table([("a", 1.0, "mm"), ("a", 2.0, "mm")])


# ------------------------------------------------------------------------ flags
def test_flags_js_holds_outliers_and_failed_jobs(tmp_path):
    outliers = cohort_outliers(
        _cohort({f"p{i}": v for i, v in enumerate([1.0, 1.1, 0.9, 1.0, 5.0])})
    )
    failed = pd.DataFrame(
        [["s", "p2", "fit_maps", "results/logs/fit_maps/sub-p2.log"]], columns=FAILED_COLUMNS
    )
    path = write_flags(tmp_path / "flags.js", outliers, failed, threshold=3.0)
    flags = _flags(path)
    assert flags["threshold"] == 3.0
    assert flags["studies"]["s"]["p4"]["outliers"][0]["measure"] == "m"
    assert flags["studies"]["s"]["p4"]["failed"] == []
    assert flags["studies"]["s"]["p2"] == {
        "outliers": [],
        "failed": [{"stage": "fit_maps", "log": "results/logs/fit_maps/sub-p2.log"}],
    }
    assert _flags(write_flags(tmp_path / "none.js", outliers.iloc[:0])) == {
        "threshold": 3.5,
        "studies": {},
    }
    with pytest.raises(ValueError, match="log"):
        flags_payload(outliers, failed.drop(columns="log"))


# ------------------------------------------------------------------------ images
def test_a_large_still_is_shrunk_and_a_small_one_kept(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(_png(1600, 400))
    image = image_from_file(big, "big", max_side=800)
    with Image.open(io.BytesIO(image.data)) as shrunk:
        assert shrunk.size == (800, 200)
    assert image.mime in ("image/png", "image/jpeg") and len(image.data) < big.stat().st_size
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 30), "white").save(small)
    kept = image_from_file(small, "small")
    assert kept.data == small.read_bytes() and kept.mime == "image/png"
    assert kept.uri.startswith("data:image/png;base64,")


def test_a_missing_or_broken_image_names_its_file(tmp_path):
    with pytest.raises(InputDataError, match=r"absent\.png: image not found"):
        image_from_file(tmp_path / "absent.png", "x")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputDataError, match=r"broken\.png: not a readable image"):
        image_from_file(tmp_path / "broken.png", "x")


def test_an_animation_stays_an_animation_of_at_most_the_maximum_side(tmp_path):
    frames = [Image.fromarray(np.full((300, 600, 3), 40 * i, np.uint8)) for i in range(5)]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=120, loop=0)
    image = image_from_file(path, "a", animation_max_side=120)
    assert image.mime == "image/gif"
    with Image.open(io.BytesIO(image.data)) as gif:
        assert gif.n_frames == 5 and gif.size == (120, 60)


def test_a_figure_becomes_an_image():
    fig = Figure(figsize=(4, 2))
    fig.subplots().plot([0, 1], [1, 0])
    image = image_from_figure(fig, "line", dpi=50)
    with Image.open(io.BytesIO(image.data)) as drawn:
        assert max(drawn.size) <= 200


# ------------------------------------------------------------------------ pages
def _qc(tmp_path, **changes) -> SubjectQC:
    source = tmp_path / "results/study/sub-p1/sub-p1_measures.tsv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("x\n1\n")
    fields = {
        "study": "study",
        "subject": "p1",
        "sections": (
            QCSection(
                "Maps <b>",
                images=(
                    QCImage("T1 & T2", b"\x89PNG", "image/png", "a <script>x</script>"),
                    QCImage("frames", b"GIF89a", "image/gif"),
                ),
                tables=(QCTable("rows", pd.DataFrame({"a": [1.5], "b": ["<i>"]})),),
                text="read me & check",
            ),
        ),
        "measures": measures_table([("dice<1>", 0.9, "1"), ("volume", 12.0, "ml")]),
        "sources": {"measures": source},
    }
    return SubjectQC(**(fields | changes))


def test_the_page_shows_images_measures_and_links_and_escapes_every_text(tmp_path):
    page = page_path(tmp_path / "results", "study", "p1")
    text = render_subject_page(_qc(tmp_path), page)
    assert "<script>x</script>" not in text and "a &lt;script&gt;x&lt;/script&gt;" in text
    assert "Maps &lt;b&gt;" in text and "T1 &amp; T2" in text and "&lt;i&gt;" in text
    assert '<img src="data:image/png;base64,iVBORw==" alt="T1 &amp; T2">' in text
    assert '<img class="animation" src="data:image/gif;base64,R0lGODlh" alt="frames">' in text
    assert '<tr data-measure="dice&lt;1&gt;"><td>dice&lt;1&gt;</td><td class="num">0.9</td>' in text
    assert '<a href="../../study/sub-p1/sub-p1_measures.tsv">measures</a>' in text
    assert '<script src="../flags.js"></script>' in text and 'href="../index.html"' in text
    assert 'data-study="study" data-subject="p1"' in text


def test_a_study_page_is_written_by_the_study_module_with_its_measures(tmp_path, monkeypatch):
    calls = []

    def subject_qc(subject, inputs, **options):
        calls.append((subject, dict(inputs), options))
        return _qc(tmp_path, subject=subject)

    module = types.ModuleType("qmrflow.studies.fakestudy.qc")
    module.subject_qc = subject_qc
    monkeypatch.setitem(sys.modules, "qmrflow.studies.fakestudy.qc", module)
    with pytest.raises(ValueError, match="returned the page of study"):
        write_subject_page(
            "fakestudy", "p1", inputs={}, page=tmp_path / "a.html", measures=tmp_path / "a.tsv"
        )
    monkeypatch.setattr(module, "subject_qc", lambda s, i, **o: _qc(tmp_path, study="fakestudy"))
    page, measures = tmp_path / "qc/fakestudy/sub-p1.html", tmp_path / "qc/fakestudy/m.tsv"
    write_subject_page(
        "fakestudy", "p1", inputs={"x": "y"}, options={"k": 1}, page=page, measures=measures
    )
    assert calls == [("p1", {}, {})]
    assert "sub-p1 (fakestudy)" in page.read_text()
    assert read_tsv(measures)["measure"].tolist() == ["dice<1>", "volume"]


# ------------------------------------------------------------------------ index
def test_the_index_lists_subjects_by_study_with_links_and_flags(tmp_path):
    results = tmp_path / "results"
    pages = {
        "dystrophy": {s: page_path(results, "dystrophy", s) for s in ("d1", "d2")},
        "qsm": {"ms1": page_path(results, "qsm", "ms1")},
    }
    outliers = pd.DataFrame(
        [["dystrophy", "d2", "roi_width_px", 90.0, "px", 190.0, 5.0, -20.0, 8]],
        columns=["study", "subject", "measure", "value", "unit", "median", "scale", "z", "n"],
    )
    failed = pd.DataFrame([["qsm", "ms1", "compute_qsm_cr", "log<1>"]], columns=FAILED_COLUMNS)
    text = render_index(pages, outliers, failed, index=results / "qc/index.html", min_subjects=2)
    assert text.index('id="dystrophy"') < text.index('id="qsm"')
    assert "2 subject page(s), 1 with outliers." in text
    assert "1 subject page(s), too few to flag outliers (fewer than 2)." in text
    assert '<a href="dystrophy/sub-d1.html">sub-d1</a></td><td class="flags ok">no flags' in text
    assert '<td class="flags flagged">1 outlier: roi_width_px</td>' in text
    assert '<td class="flags flagged">1 failed</td>' in text
    assert "qsm sub-ms1: compute_qsm_cr (log: log&lt;1&gt;)" in text
    assert '<script src="flags.js"></script>' in text


def test_the_group_step_flags_the_cohorts_outlier_everywhere(tmp_path):
    results = tmp_path / "results"
    qc = results / "qc"
    pages, measures = {"s": {}}, {"s": {}}
    for i, value in enumerate([1.0, 1.1, 0.9, 1.05, 0.95, 4.0]):
        subject = f"p{i}"
        pages["s"][subject] = page_path(results, "s", subject)
        measures["s"][subject] = qc / "s" / f"sub-{subject}_measures.tsv"
        write_tsv(
            pd.DataFrame({"measure": ["m", "n"], "value": [value, 2.0], "unit": ["mm", ""]}),
            measures["s"][subject],
        )
    found = index_pages(
        pages=pages,
        measures=measures,
        index=qc / "index.html",
        flags=qc / "flags.js",
        outliers=qc / "outliers.tsv",
    )
    assert found[["subject", "measure", "unit"]].values.tolist() == [["p5", "m", "mm"]]
    assert read_tsv(qc / "outliers.tsv")["subject"].astype(str).tolist() == ["p5"]
    assert list(_flags(qc / "flags.js")["studies"]["s"]) == ["p5"]
    assert "1 outlier: m" in (qc / "index.html").read_text()


def test_status_rewrites_the_flags_with_failed_jobs_keeping_the_outliers(tmp_path):
    results = tmp_path / "results"
    failed = pd.DataFrame([["s", "p1", "fit", "logs/fit/sub-p1.log"]], columns=FAILED_COLUMNS)
    flags = _flags(update_flags(results, failed))  # no index run yet: no outliers
    assert flags["studies"] == {
        "s": {"p1": {"outliers": [], "failed": [failed.iloc[0, 2:].to_dict()]}}
    }
    values = {f"00{i}": v for i, v in enumerate([1.0, 1.1, 0.9, 1.0, 0.95, 8.0])}
    write_tsv(cohort_outliers(_cohort(values)), outliers_path(results))
    flags = _flags(update_flags(results, failed))
    assert flags["studies"]["s"]["005"]["outliers"][0]["value"] == 8.0
    assert flags["studies"]["s"]["p1"]["failed"][0]["stage"] == "fit"
    assert _flags(update_flags(results))["studies"].keys() == {"s"}


def test_a_failed_run_gets_its_flags_and_an_index_of_the_pages_on_disk(tmp_path):
    """A subject's failure keeps the index rule from running: the pages already written are
    indexed with the failure; nothing is written for a run without pages or failures."""
    results = tmp_path / "results"
    none = pd.DataFrame(columns=list(FAILED_COLUMNS))
    flag_failed_jobs(results, none, 3.5, studies=["s"])
    assert not results.exists()
    for subject in ("p1", "p2"):
        page = page_path(results, "s", subject)
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<html></html>")
    failed = pd.DataFrame([["s", "p3", "fit", "logs/fit/sub-p3.log"]], columns=FAILED_COLUMNS)
    flag_failed_jobs(results, failed, 3.5, studies=["s"])
    assert _flags(results / "qc/flags.js")["studies"]["s"]["p3"]["failed"][0]["stage"] == "fit"
    index = (results / "qc/index.html").read_text()
    assert 'href="s/sub-p1.html"' in index and 'href="s/sub-p2.html"' in index
    assert "s sub-p3: fit" in index
