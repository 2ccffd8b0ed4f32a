"""Group evaluation of the perfusion study (qmrflow.studies.perfusion.evaluate) on small tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qmrflow.stats import PAPER_COMPARISON_COLUMNS, adjust_p, paired_ttest, read_tidy
from qmrflow.studies.perfusion.evaluate import (
    COMPARISONS,
    METHODS_COLUMNS,
    OUTPUT_KEYS,
    SUBJECT_COLUMNS,
    evaluate_perfusion,
    evaluate_study,
    median_ci,
)
from qmrflow.studies.perfusion.paper import (
    DICE,
    MEASURE_DICE,
    MEASURE_SPEED_RATIO,
    paired_comparison,
    speed_comparison,
    subject_comparison,
    truth_comparison,
)

METHODS = ("none", "iterative", "dl")
SLICE_SEGMENTS = {0: range(1, 7), 1: range(7, 13), 2: range(13, 17)}
TERRITORY = {
    **dict.fromkeys((1, 2, 7, 8, 13, 14), "LAD"),
    **dict.fromkeys((3, 4, 9, 10, 15), "RCA"),
    **dict.fromkeys((5, 6, 11, 12, 16), "LCx"),
}
# method -> (dice, smoothness, relative MBF noise, pixel SD, seconds)
LEVELS = {
    "none": (0.80, 1.00, 0.25, 0.80, 0.02),
    "iterative": (0.91, 0.50, 0.08, 0.55, 30.0),
    "dl": (0.92, 0.45, 0.07, 0.52, 2.0),
}
FRAMES = 40


def make_tables(n_subjects: int = 5, *, truth: bool = True, seed: int = 0):
    """Segments, quality and curves tables of synthetic subjects, one table per subject/method.

    Returns three dicts ``(participant_id, method) -> DataFrame`` in the per-subject formats.
    """
    rng = np.random.default_rng(seed)
    segments, quality, curves = {}, {}, {}
    time = np.arange(FRAMES) * 0.9
    aif = 6.0 * (time / 8.0) ** 3 * np.exp(-(time - 8.0) / 2.5 - 3.0)
    for s in range(n_subjects):
        pid = f"{s + 1:02d}"
        true_mbf = {seg: (1.0 if seg in (3, 4, 9) and s % 2 else 3.0) * (1 + 0.1 * rng.random())
                    for seg in range(1, 17)}  # fmt: skip
        for method in METHODS:
            dice, smooth, noise, sd, seconds = LEVELS[method]
            seconds *= 1 + 0.2 * rng.random()
            seg_rows, q_rows, c_rows = [], [], []
            for slice_index, members in SLICE_SEGMENTS.items():
                for seg in members:
                    t = true_mbf[seg]
                    seg_rows.append({
                        "participant_id": pid, "method": method, "slice": slice_index,
                        "segment": seg, "territory": TERRITORY[seg],
                        "mbf": t * (1 + noise * rng.standard_normal()),
                        "pixel_mbf_sd": sd * (1 + 0.1 * rng.standard_normal()),
                        "n_pixels": 40, "truth_mbf": t if truth else math.nan,
                    })  # fmt: skip
                    tissue = 0.2 * t * np.convolve(aif, np.exp(-time / 3.0))[:FRAMES] / 10
                    jitter = (1 - dice) * rng.standard_normal(FRAMES)
                    for frame in range(FRAMES):
                        c_rows.append({
                            "participant_id": pid, "method": method, "slice": slice_index,
                            "segment": seg, "frame": frame, "time": time[frame],
                            "signal": 100 * (tissue[frame] + jitter[frame]),
                            "concentration": tissue[frame],
                        })  # fmt: skip
                q_rows.append({
                    "participant_id": pid, "method": method, "slice": slice_index,
                    "frames": FRAMES, "dice": dice + 0.02 * rng.standard_normal(),
                    "dice_truth": dice - 0.01 + 0.02 * rng.standard_normal() if truth else math.nan,
                    "smoothness": smooth * (1 + 0.2 * rng.random()), "seconds": seconds,
                    "device": "cpu" if method != "dl" else "cuda",
                })  # fmt: skip
            for frame in range(FRAMES):
                c_rows.append({
                    "participant_id": pid, "method": method, "slice": 0, "segment": 0,
                    "frame": frame, "time": time[frame], "signal": 400 * aif[frame],
                    "concentration": aif[frame],
                })  # fmt: skip
            segments[pid, method] = pd.DataFrame(seg_rows)
            quality[pid, method] = pd.DataFrame(q_rows)
            curves[pid, method] = pd.DataFrame(c_rows)
    return segments, quality, curves


def stacked(tables: dict) -> pd.DataFrame:
    return pd.concat(tables.values(), ignore_index=True)


@pytest.fixture(scope="module")
def tables():
    segments, quality, _ = make_tables(5)
    return stacked(segments), stacked(quality)


@pytest.fixture(scope="module")
def demo(tables):
    return evaluate_study(*tables, confidence=0.95)


def _rows(statistics, comparison, measure, statistic="estimate"):
    return statistics[
        (statistics["comparison"] == comparison)
        & (statistics["measure"] == measure)
        & (statistics["statistic"] == statistic)
    ]


def test_statistics_have_every_measure_and_comparison(demo):
    stats = demo.statistics
    for outcome in ("dice", "dice_truth", "smoothness", "segment_sd", "mbf_error_percent"):
        for x, y in COMPARISONS:
            name = paired_comparison(x, y, outcome)
            assert len(_rows(stats, name, "mean_difference")) == 1, name
            assert len(_rows(stats, name, "wilcoxon_v")) == 1, name
            assert _rows(stats, name, "subjects", "count")["value"].iloc[0] == 5
    for method in METHODS:
        for outcome in ("dice", "smoothness", "segment_sd", "seconds", "frames_per_second"):
            assert len(_rows(stats, subject_comparison(method), outcome, "mean")) == 1
        error = _rows(stats, truth_comparison(method, "MBF error (segments)"), "abs_error_percent",
                      "median")  # fmt: skip
        assert error["n"].iloc[0] == 5 * 16
        agreement = stats[stats["comparison"] == truth_comparison(method, "MBF (segments)")]
        assert {"slope", "bias", "mean_difference"} <= set(agreement["measure"])
    assert len(_rows(stats, speed_comparison(), "speed_ratio", "median")) == 1
    assert list(demo.subjects.columns) == list(SUBJECT_COLUMNS)
    assert list(demo.methods.columns) == list(METHODS_COLUMNS)
    assert list(demo.methods["method"]) == list(METHODS)


def test_paired_tests_match_stats_and_are_holm_adjusted_within_each_measure(demo):
    stats, subjects = demo.statistics, demo.subjects
    for outcome in ("dice", "smoothness", "segment_sd"):
        for measure in ("mean_difference", "wilcoxon_v"):
            rows = pd.concat(
                [_rows(stats, paired_comparison(x, y, outcome), measure) for x, y in COMPARISONS]
            )
            expected = adjust_p(rows["p"].to_numpy(), "holm")
            np.testing.assert_allclose(rows["p_adjusted"].to_numpy(), expected)
            assert rows["method"].str.contains("Holm").all()
    wide = subjects.pivot(index="participant_id", columns="method", values="dice")
    direct = paired_ttest(x=wide["dl"], y=wide["iterative"])
    row = _rows(stats, paired_comparison("dl", "iterative", "dice"), "mean_difference")
    assert row["p"].iloc[0] == pytest.approx(direct.p)
    assert row["value"].iloc[0] == pytest.approx(direct.mean_difference)
    # DL and iterative both clearly better than none on these tables
    none = _rows(stats, paired_comparison("dl", "none", "dice"), "mean_difference")
    assert none["value"].iloc[0] > 0.05


def test_speed_ratio_is_the_median_of_subject_ratios(tables, demo):
    table, evaluation = tables[1], demo
    seconds = table.groupby(["participant_id", "method"])["seconds"].first().unstack()
    expected = float(np.median(seconds["iterative"] / seconds["dl"]))
    row = _rows(evaluation.statistics, speed_comparison(), "speed_ratio", "median")
    assert row["value"].iloc[0] == pytest.approx(expected)
    assert "cuda" in row["method"].iloc[0]
    paper = evaluation.paper_comparison.set_index("measure")
    assert paper.loc[MEASURE_SPEED_RATIO, "ours"] == pytest.approx(expected)
    fps = evaluation.subjects.set_index(["participant_id", "method"])["frames_per_second"]
    assert fps["01", "dl"] == pytest.approx(3 * FRAMES / seconds.loc["01", "dl"])


def test_mbf_error_on_a_hand_made_case():
    segments, quality, _ = make_tables(3, seed=1)
    table = stacked(segments)
    table["truth_mbf"] = 2.0
    # relative errors of the DL fit: segment k of subject s -> (k - 8) % over 16 segments
    dl = table["method"] == "dl"
    table.loc[dl, "mbf"] = 2.0 * (1 + (table.loc[dl, "segment"] - 8) / 100.0)
    evaluation = evaluate_study(table, stacked(quality))
    expected = np.abs(np.arange(1, 17) - 8.0)
    subjects = evaluation.subjects.set_index(["participant_id", "method"])
    assert subjects.loc[("02", "dl"), "mbf_error_percent"] == pytest.approx(np.median(expected))
    row = _rows(evaluation.statistics, truth_comparison("dl", "MBF error (segments)"),
                "abs_error_percent", "median")  # fmt: skip
    assert row["value"].iloc[0] == pytest.approx(np.median(np.tile(expected, 3)))
    assert row["ci_low"].iloc[0] <= row["value"].iloc[0] <= row["ci_high"].iloc[0]
    signed = _rows(evaluation.statistics, truth_comparison("dl", "MBF error (segments)"),
                   "error_percent", "median")  # fmt: skip
    assert signed["value"].iloc[0] == pytest.approx(np.median(np.tile(np.arange(1, 17) - 8.0, 3)))
    methods = evaluation.methods.set_index("method")
    assert methods.loc["dl", "mbf_error_percent_median"] == pytest.approx(np.median(expected))


def test_median_ci_from_order_statistics():
    six = median_ci(np.array([5.0, 1.0, 3.0, 2.0, 6.0, 4.0]))
    assert (six.median, six.ci_low, six.ci_high) == (3.5, 1.0, 6.0)
    assert six.coverage == pytest.approx(1 - 2 / 64)
    assert math.isnan(median_ci(np.arange(5.0)).ci_low)
    big = median_ci(np.arange(1.0, 101.0))
    assert (big.ci_low, big.ci_high) == (40.0, 61.0)  # ranks 40 and 61 for n = 100 at 95%
    assert big.coverage >= 0.95


def test_user_data_without_truth_skips_the_truth_rows():
    segments, quality, _ = make_tables(4, truth=False)
    evaluation = evaluate_study(stacked(segments), stacked(quality))
    stats = evaluation.statistics
    assert not stats["comparison"].str.contains("truth").any()
    assert not stats["comparison"].str.contains("dice_truth|mbf_error").any()
    assert not stats["measure"].isin(["dice_truth", "mbf_error_percent"]).any()
    assert evaluation.segment_errors.empty
    assert evaluation.methods["dice_truth_mean"].isna().all()
    assert evaluation.methods["mbf_error_percent_median"].isna().all()
    dice = evaluation.paper_comparison[evaluation.paper_comparison["measure"] == MEASURE_DICE]
    assert dice["ours"].notna().all()


def test_a_missing_method_names_the_subject():
    segments, quality, _ = make_tables(3)
    del segments["02", "iterative"]
    with pytest.raises(ValueError, match=r"sub-02.*iterative"):
        evaluate_study(stacked(segments), stacked(quality))
    segments, quality, _ = make_tables(3)
    del quality["03", "dl"]
    with pytest.raises(ValueError, match=r"sub-03.*quality.*dl"):
        evaluate_study(stacked(segments), stacked(quality))


def test_bad_tables_are_refused():
    segments, quality, _ = make_tables(3)
    table = stacked(quality)
    table.loc[table.index[0], "seconds"] = 99.0
    with pytest.raises(ValueError, match="sub-01 none has different 'seconds'"):
        evaluate_study(stacked(segments), table)
    bad = stacked(segments)
    bad.loc[0, "segment"] = 17
    with pytest.raises(ValueError, match="segment"):
        evaluate_study(bad, stacked(quality))


def test_evaluate_perfusion_reads_paths_and_writes_every_output(tmp_path):
    segments, quality, _ = make_tables(4, seed=2)
    paths = {"segments": [], "quality": []}
    for kind, tables in (("segments", segments), ("quality", quality)):
        for (pid, method), table in tables.items():
            path = tmp_path / f"sub-{pid}_method-{method}_{kind}.tsv"
            table.to_csv(path, sep="\t", index=False, na_rep="n/a")
            paths[kind].append(path)
    outputs = {key: tmp_path / "group" / f"{key}.tsv" for key in OUTPUT_KEYS}
    evaluation = evaluate_perfusion(
        paths["segments"], paths["quality"], confidence=0.9, outputs=outputs
    )
    for path in outputs.values():
        assert path.stat().st_size > 0
    statistics = read_tidy(outputs["statistics"])
    assert len(statistics) == len(evaluation.statistics)
    paper = pd.read_csv(outputs["paper_comparison"], sep="\t")
    assert list(paper.columns) == list(PAPER_COMPARISON_COLUMNS)
    dice = paper[paper["measure"] == MEASURE_DICE].set_index("comparison")
    assert dice.loc[subject_comparison("dl"), "paper"] == DICE["dl"]
    mean_dl = evaluation.subjects.query("method == 'dl'")["dice"].mean()
    assert dice.loc[subject_comparison("dl"), "ours"] == pytest.approx(mean_dl, rel=1e-8)
    assert len(pd.read_csv(outputs["methods"], sep="\t")) == 3
    with pytest.raises(ValueError, match="unknown output"):
        evaluate_perfusion(paths["segments"], paths["quality"], outputs={"nope": tmp_path / "x"})
