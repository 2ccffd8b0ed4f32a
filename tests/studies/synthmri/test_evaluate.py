"""Group evaluation (qmrflow.studies.synthmri.evaluate) on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.stats import (
    adjust_p,
    bland_altman,
    linear_regression,
    paired_ttest,
    read_tidy,
    wilcoxon_signed_rank,
)
from qmrflow.studies.synthmri.evaluate import (
    ACCURACY_COLUMNS,
    QUALITY_SUMMARY_COLUMNS,
    evaluate_study,
    run_evaluation,
)
from qmrflow.studies.synthmri.paper import PAPER_COMPARISON_COLUMNS, R_SQUARED
from qmrflow.studies.synthmri.rois import QUALITY_COLUMNS, ROI_COLUMNS

BASE = {
    "CSF": (4000.0, 1800.0, 1.0),
    "GM": (1330.0, 90.0, 0.80),
    "WM": (830.0, 70.0, 0.69),
    "frontal": (1000.0, 80.0, 0.74),
    "occipital": (1100.0, 82.0, 0.76),
}
NOISE = {"truth": 0.0, "routine": 0.02, "dl": 0.03, "fast": 0.06}


def make_tables(n_subjects=6, lesions=(2, 1, 0, 1, 1, 0), seed=0, truth=True):
    """ROI and quality tables shaped like measure_subject's output."""
    rng = np.random.default_rng(seed)
    methods = [m for m in NOISE if truth or m != "truth"]
    roi_rows, quality_rows = [], []
    for s in range(n_subjects):
        pid = f"{s + 1:02d}"
        rois = [("tissue", r) for r in ("CSF", "GM", "WM")] + [
            ("region", r) for r in ("frontal", "occipital")
        ]
        rois += [("lesion", f"lesion-{k + 1}") for k in range(lesions[s % len(lesions)])]
        for roi_type, roi in rois:
            base = BASE.get(roi, (1400.0, 110.0, 0.8))
            subject_true = [v * (1 + 0.05 * rng.standard_normal()) for v in base]
            for method in methods:
                for map_name, value in zip(("T1", "T2", "PD"), subject_true, strict=True):
                    mean = value * (1 + NOISE[method] * rng.standard_normal())
                    roi_rows.append(
                        {
                            "participant_id": pid,
                            "method": method,
                            "roi_type": roi_type,
                            "roi": roi,
                            "map": map_name,
                            "mean": mean,
                            "median": mean,
                            "sd": 0.1 * mean,
                            "n_voxels": 50,
                        }
                    )
        for method, level in (("fast", 30.0), ("dl", 34.0)):
            for reference in ("routine", "truth") if truth else ("routine",):
                for map_name in ("T1", "T2", "PD"):
                    quality_rows.append(
                        {
                            "participant_id": pid,
                            "method": method,
                            "reference": reference,
                            "map": map_name,
                            "psnr": level + rng.normal(0, 1),
                            "ssim": level / 40 + rng.normal(0, 0.01),
                            "nrmse": 1 / level + rng.normal(0, 0.002),
                        }
                    )
    return (
        pd.DataFrame(roi_rows, columns=list(ROI_COLUMNS)),
        pd.DataFrame(quality_rows, columns=list(QUALITY_COLUMNS)),
    )


def paired(rois, method, map_name, types):
    keys = ["participant_id", "roi_type", "roi", "map"]
    sub = rois[(rois["map"] == map_name) & rois["roi_type"].isin(types)]
    routine = sub[sub["method"] == "routine"][[*keys, "mean"]]
    other = sub[sub["method"] == method][[*keys, "mean"]]
    joined = routine.merge(other, on=keys, suffixes=("_routine", "_other"))
    joined = joined.sort_values(keys)
    return joined["mean_routine"].to_numpy(), joined["mean_other"].to_numpy()


@pytest.fixture(scope="module")
def default():
    """The default tables and their evaluation, computed once for the module."""
    rois, quality = make_tables()
    return rois, quality, evaluate_study(rois, quality, confidence=0.95)


def value(statistics, comparison, measure, statistic="estimate", column="value"):
    hit = statistics[
        (statistics["comparison"] == comparison)
        & (statistics["measure"] == measure)
        & (statistics["statistic"] == statistic)
    ]
    assert len(hit) == 1, (comparison, measure, statistic, len(hit))
    return hit.iloc[0][column]


def test_agreement_equals_direct_stats_calls(default):
    rois, _quality, evaluation = default
    stats = evaluation.statistics
    assert set(stats["study"]) == {"synthmri"}
    for method, label in (("dl", "DL"), ("fast", "fast")):
        for map_name in ("T1", "T2", "PD"):
            x, y = paired(rois, method, map_name, ("tissue", "region"))
            assert x.size == 6 * 5
            name = f"{label} vs routine: {map_name} (tissues+regions)"
            fit = linear_regression(x, y)
            ba = bland_altman(y, x)
            test = paired_ttest(y, x)
            assert value(stats, name, "r_squared") == pytest.approx(fit.r_squared, rel=1e-12)
            assert value(stats, name, "slope") == pytest.approx(fit.slope, rel=1e-12)
            assert value(stats, name, "intercept") == pytest.approx(fit.intercept, rel=1e-9)
            assert value(stats, name, "bias") == pytest.approx(ba.bias, rel=1e-12)
            assert value(stats, name, "upper_limit") == pytest.approx(ba.upper_limit, rel=1e-12)
            assert value(stats, name, "mean_difference", column="p") == pytest.approx(test.p)
            assert value(stats, name, "roi_pairs", "count") == x.size
            assert value(stats, name, "subjects", "count") == 6
            # Lesions: every lesion of every subject (2+1+0+1+1+0 = 5).
            x, y = paired(rois, method, map_name, ("lesion",))
            assert x.size == 5
            name = f"{label} vs routine: {map_name} (lesions)"
            assert value(stats, name, "mean_difference", column="p") == pytest.approx(
                paired_ttest(y, x).p
            )
            assert value(stats, name, "bias") == pytest.approx(bland_altman(y, x).bias)
            assert value(stats, name, "lesion_rois", "count") == 5
    # DL agrees better than fast (the synthetic noise says so).
    assert value(stats, "DL vs routine: T1 (tissues+regions)", "r_squared") > value(
        stats, "fast vs routine: T1 (tissues+regions)", "r_squared"
    )


def test_holm_adjustment_across_each_comparison_set(default):
    stats = default[2].statistics
    for label in ("DL", "fast"):
        tests = stats[
            stats["comparison"].str.startswith(f"{label} vs routine:")
            & (stats["measure"] == "mean_difference")
            & (stats["statistic"] == "estimate")
        ]
        assert len(tests) == 6  # 3 maps x {tissues+regions, lesions}
        expected = adjust_p(tests["p"].to_numpy(), "holm")
        np.testing.assert_allclose(tests["p_adjusted"].to_numpy(), expected)
        assert tests["method"].str.contains("Holm").all()
    # Regression and Bland-Altman rows are not adjusted.
    assert stats.loc[stats["measure"].isin(["slope", "bias"]), "p_adjusted"].isna().all()


def test_fewer_than_two_lesions_is_recorded():
    rois, quality = make_tables(lesions=(1, 0, 0, 0, 0, 0))
    evaluation = evaluate_study(rois, quality, confidence=0.95)
    stats = evaluation.statistics
    name = "DL vs routine: PD (lesions)"
    rows = stats[stats["comparison"] == name]
    assert value(stats, name, "lesion_rois", "count") == 1
    note = value(stats, name, "lesion_rois", "count", "method")
    assert "not computed" in note and "at least 2" in note
    assert not (rows["measure"] == "mean_difference").any()
    paper = evaluation.paper_comparison
    lesion_rows = paper[paper["measure"].str.contains("lesions")]
    assert lesion_rows["ours"].isna().all()
    # Holm family then holds only the three tissue+region tests.
    tests = stats[
        stats["comparison"].str.startswith("DL vs routine:")
        & (stats["measure"] == "mean_difference")
        & (stats["statistic"] == "estimate")
    ]
    assert len(tests) == 3
    np.testing.assert_allclose(tests["p_adjusted"], adjust_p(tests["p"].to_numpy(), "holm"))


def test_accuracy_against_truth(default):
    rois, _, evaluation = default
    accuracy = evaluation.accuracy
    assert tuple(accuracy.columns) == ACCURACY_COLUMNS
    assert set(accuracy["method"]) == {"routine", "fast", "dl"}
    assert set(accuracy["roi"]) == {"CSF", "GM", "WM"}  # tissue ROIs only
    row = accuracy[
        (accuracy["method"] == "routine") & (accuracy["map"] == "T2") & (accuracy["roi"] == "WM")
    ].iloc[0]
    sel = rois[(rois["roi"] == "WM") & (rois["map"] == "T2")]
    measured = sel[sel["method"] == "routine"].set_index("participant_id")["mean"]
    truth = sel[sel["method"] == "truth"].set_index("participant_id")["mean"]
    expected = float(np.median(100 * (measured - truth).abs() / truth))
    assert row["median_abs_error_percent"] == pytest.approx(expected)
    assert row["n_subjects"] == 6
    # Without truth the table is empty but has its columns.
    rois, quality = make_tables(truth=False)
    accuracy = evaluate_study(rois, quality, confidence=0.95).accuracy
    assert accuracy.empty and tuple(accuracy.columns) == ACCURACY_COLUMNS


def test_image_quality_summary_and_wilcoxon(default):
    _rois, quality, evaluation = default
    summary = evaluation.quality_summary
    assert tuple(summary.columns) == QUALITY_SUMMARY_COLUMNS
    assert len(summary) == 2 * 2 * 3 * 3  # methods x references x maps x metrics
    sel = quality[
        (quality["method"] == "dl") & (quality["reference"] == "truth") & (quality["map"] == "T1")
    ]
    row = summary[
        (summary["method"] == "dl")
        & (summary["reference"] == "truth")
        & (summary["map"] == "T1")
        & (summary["metric"] == "SSIM")
    ].iloc[0]
    q25, median, q75 = np.percentile(sel["ssim"], [25, 50, 75])
    assert (row["median"], row["q25"], row["q75"]) == pytest.approx((median, q25, q75))
    stats = evaluation.statistics
    assert value(stats, "DL vs truth: T1 image quality", "SSIM", "median") == pytest.approx(median)
    wide = quality[(quality["reference"] == "routine") & (quality["map"] == "PD")].pivot(
        index="participant_id", columns="method", values="psnr"
    )
    expected = wilcoxon_signed_rank(wide["dl"], wide["fast"])
    name = "DL vs fast: PD PSNR (reference routine)"
    assert value(stats, name, "wilcoxon_v") == expected.v
    assert value(stats, name, "wilcoxon_v", column="p") == pytest.approx(expected.p)
    family = stats[
        stats["comparison"].str.endswith("(reference routine)")
        & (stats["measure"] == "wilcoxon_v")
        & (stats["statistic"] == "estimate")
    ]
    assert len(family) == 9
    np.testing.assert_allclose(family["p_adjusted"], adjust_p(family["p"].to_numpy(), "holm"))


def test_paper_comparison_table(default):
    _rois, _quality, evaluation = default
    paper = evaluation.paper_comparison
    assert tuple(paper.columns) == PAPER_COMPARISON_COLUMNS
    assert len(paper) == 6
    assert set(paper["study"]) == {"synthmri"}
    r2 = paper[paper["measure"].str.startswith("R²")].set_index("comparison")
    assert r2["paper"].tolist() == list(R_SQUARED.values())
    assert r2.loc["DL vs routine: T1 (tissues+regions)", "ours"] == pytest.approx(
        value(evaluation.statistics, "DL vs routine: T1 (tissues+regions)", "r_squared")
    )


def test_bad_tables_raise_clear_errors():
    rois, quality = make_tables()
    with pytest.raises(ValueError, match=r"rois table lacks column\(s\) \['mean'\]"):
        evaluate_study(rois.drop(columns="mean"), quality, confidence=0.95)
    with pytest.raises(ValueError, match="quality table is empty"):
        evaluate_study(rois, quality.iloc[:0], confidence=0.95)
    bad = quality.astype({"psnr": object})
    bad.loc[0, "psnr"] = "high"
    with pytest.raises(ValueError, match="column 'psnr' holds non-numeric"):
        evaluate_study(rois, bad, confidence=0.95)
    with pytest.raises(ValueError, match="no 'dl' rows"):
        evaluate_study(rois[rois["method"] != "dl"], quality, confidence=0.95)
    with pytest.raises(ValueError, match="duplicate ROI row"):
        evaluate_study(pd.concat([rois, rois.iloc[:1]]), quality, confidence=0.95)


def test_run_evaluation_writes_every_table(tmp_path):
    rois, quality = make_tables()
    roi_paths, quality_paths = [], []
    for pid, group in rois.groupby("participant_id"):
        path = tmp_path / f"sub-{pid}_rois.tsv"
        group.to_csv(path, sep="\t", index=False)
        roi_paths.append(path)
    for pid, group in quality.groupby("participant_id"):
        path = tmp_path / f"sub-{pid}_quality.tsv"
        group.to_csv(path, sep="\t", index=False)
        quality_paths.append(path)
    outputs = {
        key: tmp_path / "group" / f"{key}.tsv"
        for key in ("statistics", "accuracy", "quality_summary", "paper_comparison", "rois")
    }
    outputs["quality"] = tmp_path / "group" / "quality.tsv"
    evaluation = run_evaluation(
        rois=roi_paths, quality=quality_paths, confidence=0.95, outputs=outputs
    )
    for path in outputs.values():
        assert path.stat().st_size > 0
    statistics = read_tidy(outputs["statistics"])
    assert len(statistics) == len(evaluation.statistics)
    assert len(pd.read_csv(outputs["rois"], sep="\t")) == len(rois)
    with pytest.raises(ValueError, match="unknown output key"):
        run_evaluation(
            rois=roi_paths, quality=quality_paths, confidence=0.95, outputs={"x": tmp_path / "x"}
        )
    broken = tmp_path / "broken_rois.tsv"
    rois.drop(columns="roi").to_csv(broken, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"broken_rois\.tsv lacks column"):
        run_evaluation(rois=[broken], quality=quality_paths, confidence=0.95, outputs={})
