"""Group evaluation of qsm: rating statistics, DLR vs CR tests, ROI regression, the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qmrflow.io import read_tsv, write_tsv
from qmrflow.stats.tidy import read_tidy
from qmrflow.studies.qsm.evaluate import evaluate_qsm, roi_pairs, timing_table

SUBJECTS = ("a", "b", "c", "d")
DGM = ("caudate", "putamen", "globus pallidus", "thalamus")


def _metrics(subject: str, rng: np.random.Generator) -> list[dict]:
    rows = []
    for acq in ("gre", "epi2avg", "epi1avg"):
        for recon in ("cr", "dlr") if acq != "gre" else ("cr",):
            for inversion in ("tkd", "tv"):
                base = (
                    60.0 + (20.0 if inversion == "tkd" else 0.0) + (10 if acq == "epi1avg" else 0)
                )
                better = -8.0 if recon == "dlr" else 0.0
                rows.append(
                    {
                        "participant_id": subject,
                        "acquisition": acq,
                        "recon": recon,
                        "inversion": inversion,
                        "rmse": base + better + rng.normal(0, 1),
                        "hfen": base + better + rng.normal(0, 1),
                        "ssim": 0.8,
                        "correlation": 0.9,
                        "dgm_error": 0.01,
                    }
                )
    return rows


def _rois(subject: str, rng: np.random.Generator) -> list[dict]:
    truth = dict(zip(DGM, (0.06, 0.07, 0.18, 0.03), strict=True))
    rows = []
    for acq, recon in (("gre", "cr"), ("epi1avg", "cr"), ("epi1avg", "dlr"), ("truth", "truth")):
        for region, value in truth.items():
            rows.append(
                {
                    "participant_id": subject,
                    "acquisition": acq,
                    "recon": recon,
                    "inversion": "truth" if acq == "truth" else "tv",
                    "label": 1,
                    "region": region,
                    "mean_ppm": value + rng.normal(0, 0.005),
                    "voxels": 10,
                }
            )
    return rows


def _ratings(subject: str) -> list[dict]:
    rows = []
    for lesion in range(1, 7):
        for rater in ("rater1", "rater2"):
            for recon, bonus in (("cr", 0), ("dlr", 1)):
                score = min(5, 2 + (lesion % 3) + bonus)
                rows.append(
                    {
                        "participant_id": subject,
                        "lesion": lesion,
                        "rater": rater,
                        "recon": recon,
                        "prl": score,
                        "cvs": score,
                        "hyperiso": int(lesion % 2),
                        "quality": min(5, 3 + bonus),
                    }
                )
    return rows


def test_the_group_tables_hold_the_tests_the_regressions_and_the_paper(tmp_path):
    rng = np.random.default_rng(0)
    inputs: dict[str, list] = {k: [] for k in ("lesions", "rois", "agreement", "accuracy")}
    inputs |= {"timing": [], "qsm_timing": [], "ratings": []}
    for s in SUBJECTS:
        tables = {
            "lesions": pd.DataFrame(
                {"participant_id": [s], "lesion": [1], "acquisition": ["epi1avg"]}
            ),
            "rois": pd.DataFrame(_rois(s, rng)),
            "agreement": pd.DataFrame([r for r in _metrics(s, rng) if r["acquisition"] != "gre"]),
            "accuracy": pd.DataFrame(_metrics(s, rng)),
            "timing": pd.DataFrame(
                [
                    {"participant_id": s, "acquisition": a, "recon": r, "seconds": t}
                    for a, r, t in (
                        ("gre", "cr", 0.2),
                        ("epi1avg", "cr", 0.1),
                        ("epi1avg", "dlr", 0.3),
                    )
                ]
            ),
            "qsm_timing": pd.DataFrame(
                [
                    {
                        "participant_id": s,
                        "acquisition": "gre",
                        "recon": "cr",
                        "inversion": "tv",
                        "seconds": 2.0,
                    }
                ]
            ),
            "ratings": pd.DataFrame(_ratings(s)),
        }
        for key, table in tables.items():
            path = tmp_path / f"{s}_{key}.tsv"
            write_tsv(table, path)
            inputs[key].append(path)
    # a test subject left out (missing_inputs: skip): in the tables of the user, not measured
    write_tsv(pd.DataFrame(_ratings("e")), tmp_path / "e_ratings.tsv")
    inputs["ratings"].append(tmp_path / "e_ratings.tsv")
    participants = tmp_path / "participants.tsv"
    write_tsv(pd.DataFrame({"participant_id": [*SUBJECTS, "e"], "split": "test"}), participants)
    names = ("statistics", "ratings", "lesions", "rois", "agreement", "accuracy", "timing")
    outputs = {k: tmp_path / "group" / f"{k}.tsv" for k in (*names, "paper_comparison")}
    evaluate_qsm(inputs=inputs, participants=participants, outputs=outputs)

    statistics = read_tidy(outputs["statistics"])
    comparisons = set(statistics["comparison"])
    assert "epi1avg tv: rmse against the truth, DLR vs CR" in comparisons
    assert "epi1avg dlr tv: deep grey matter ROI means vs GRE-QSM" in comparisons
    assert "quality, rater rater1: DLR vs CR" in comparisons
    dlr = statistics[
        (statistics["comparison"] == "epi1avg tv: rmse against the truth, DLR vs CR")
        & (statistics["statistic"] == "estimate")
        & (statistics["measure"] == "mean_difference")
    ]
    assert float(dlr["value"].iloc[0]) < 0  # DLR's error is lower
    accuracy = read_tsv(outputs["accuracy"])
    assert set(accuracy["subjects"]) == {4}
    assert set(read_tsv(outputs["ratings"])["participant_id"]) == set(SUBJECTS)
    timing = read_tsv(outputs["timing"])
    ratio = timing[(timing["recon"] == "dlr") & (timing["stage"] == "reconstruction")][
        "ratio_to_cr"
    ]
    np.testing.assert_allclose(ratio, 3.0)
    paper = read_tsv(outputs["paper_comparison"])
    kappa = paper[paper["measure"] == "Cohen's kappa, CR vs DLR ratings (rater1)"]
    assert float(kappa["paper"].iloc[0]) == 0.98 and np.isfinite(float(kappa["ours"].iloc[0]))


def test_roi_pairs_put_each_epi_roi_beside_gre():
    rng = np.random.default_rng(1)
    rois = pd.DataFrame(_rois("a", rng))
    pairs = roi_pairs(rois)
    assert set(pairs["recon"]) == {"cr", "dlr"} and len(pairs) == 8
    assert pairs[["epi", "gre"]].notna().all().all()


def test_timing_without_dlr_has_no_ratio():
    reconstruction = pd.DataFrame(
        [{"participant_id": "a", "acquisition": "gre", "recon": "cr", "seconds": 1.0}]
    )
    qsm = pd.DataFrame(
        [
            {
                "participant_id": "a",
                "acquisition": "gre",
                "recon": "cr",
                "inversion": "tv",
                "seconds": 2.0,
            }
        ]
    )
    table = timing_table(reconstruction, qsm)
    assert list(table["stage"]) == ["reconstruction", "qsm"]
    assert table["ratio_to_cr"].iloc[0] == 1.0 and np.isnan(table["ratio_to_cr"].iloc[1])
