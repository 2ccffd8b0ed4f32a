"""Group evaluation of the breathing study (qmrflow.studies.breathing.evaluate, .paper)."""

import numpy as np
import pandas as pd

from qmrflow.io import write_tsv
from qmrflow.stats import read_tidy
from qmrflow.studies.breathing.evaluate import evaluate_breathing


def cohort(tmp_path, n=6):
    """Tables of ``n`` patients and ``n`` controls: patients move less, and more are paradoxical."""
    rng = np.random.default_rng(0)
    people, measures, t1, timing, quality = [], [], [], [], []
    for i in range(2 * n):
        subject, patient = f"c{i:02d}", i < n
        people.append(
            {
                "participant_id": f"sub-{subject}",
                "group": "patient" if patient else "control",
                "split": "test",
                "fvc_upright_pct": rng.normal(70 if patient else 100, 5),
                "fvc_supine_drop_pct": 10.0,
                "mip": 60.0,
                "snip": 70.0,
            }
        )
        for method in ("gridding", "sense"):
            excursion = rng.normal(30 if patient else 60, 4)
            rows = (
                [("breathing", side, "excursion", excursion, "mm") for side in ("right", "left")]
                + [
                    ("sniff", side, "peak_velocity", rng.normal(8 if patient else 15, 1), "cm/s")
                    for side in ("right", "left")
                ]
                + [("sniff", "right", "paradoxical", float(patient and i % 2 == 0), "bool")]
            )
            table = pd.DataFrame(rows, columns=["task", "side", "measure", "value", "unit"])
            table.insert(0, "method", method)
            table.insert(0, "participant_id", subject)
            measures.append(write_tsv(table, tmp_path / f"{subject}_{method}_m.tsv"))
            timing.append(
                write_tsv(
                    pd.DataFrame(
                        [
                            {
                                "participant_id": subject,
                                "task": "sniff",
                                "method": method,
                                "frames": 80,
                                "frame_duration": 0.05,
                                "seconds": 0.5 if method == "gridding" else 2.0,
                                "frames_per_second": 160 if method == "gridding" else 40,
                                "realtime_factor": 8.0 if method == "gridding" else 2.0,
                                "coil_seconds": 0.1,
                                "device": "cpu",
                            }
                        ]
                    ),
                    tmp_path / f"{subject}_{method}_t.tsv",
                )
            )
            quality.append(
                write_tsv(
                    pd.DataFrame(
                        [
                            {
                                "participant_id": subject,
                                "method": method,
                                "task": "sniff",
                                "side": "right",
                                "dice": 0.97,
                                "excursion": 20.0,
                                "true_excursion": 21.0,
                                "excursion_error": -1.0,
                                "paradoxical": patient and i % 2 == 0,
                                "true_paradoxical": patient and i % 2 == 0,
                            },
                        ]
                    ),
                    tmp_path / f"{subject}_{method}_q.tsv",
                )
            )
        t1.append(
            write_tsv(
                pd.DataFrame(
                    [
                        {
                            "participant_id": subject,
                            "diaphragm_t1": 0.9 if patient else 1.3,
                            "n_roi": 50,
                            "n_valid": 50,
                            "true_diaphragm_t1": 0.9 if patient else 1.3,
                            "t1_error": 0.01,
                        }
                    ]
                ),
                tmp_path / f"{subject}_t1.tsv",
            )
        )
    participants = write_tsv(pd.DataFrame(people), tmp_path / "participants.tsv")
    return measures, t1, timing, quality, participants


def test_group_tables(tmp_path):
    measures, t1, timing, quality, participants = cohort(tmp_path)
    names = ("subjects", "statistics", "timing", "paper_comparison", "accuracy")
    outputs = {k: tmp_path / f"{k}.tsv" for k in names}
    evaluate_breathing(
        measures=measures,
        t1=t1,
        timing=timing,
        quality=quality,
        participants=participants,
        outputs=outputs,
    )
    statistics = read_tidy(outputs["statistics"])
    welch = statistics[
        (statistics["comparison"] == "sense: breathing_right_excursion, patients vs controls")
        & (statistics["measure"] == "mean_difference")
        & (statistics["statistic"] == "estimate")
    ].iloc[0]
    assert welch["value"] < -20 and welch["p"] < 0.001 and welch["p_adjusted"] >= welch["p"]
    assert "hedges_g" in set(statistics["measure"])
    counts = statistics[statistics["measure"] == "subjects_with_paradoxical_motion"]
    assert counts["value"].tolist() == [3.0, 0.0, 3.0, 0.0]
    spearman = statistics[statistics["comparison"] == "sense: diaphragm_t1 vs fvc_upright_pct"]
    assert len(spearman) and spearman["value"].iloc[0] > 0.5
    accuracy = pd.read_csv(outputs["accuracy"], sep="\t").set_index(["method", "measure"])
    assert accuracy.loc[("sense", "paradoxical_sensitivity"), "value"] == 1.0
    subjects = pd.read_csv(outputs["subjects"], sep="\t")
    assert len(subjects) == 24 and "sniff_right_peak_velocity" in subjects
    paper = pd.read_csv(outputs["paper_comparison"], sep="\t").set_index("measure")
    assert paper.loc["fraction of patients with paradoxical diaphragm motion", "ours"] == 0.5
    timing_table = pd.read_csv(outputs["timing"], sep="\t").set_index("method")
    assert timing_table.loc["sense", "realtime_factor"] == 2.0


def test_a_user_dataset_without_truth_writes_an_empty_accuracy_table(tmp_path):
    measures, t1, timing, _, participants = cohort(tmp_path, n=3)
    outputs = {
        k: tmp_path / f"{k}.tsv"
        for k in ("subjects", "statistics", "timing", "paper_comparison", "accuracy")
    }
    evaluate_breathing(
        measures=measures, t1=t1, timing=timing, participants=participants, outputs=outputs
    )
    accuracy = pd.read_csv(outputs["accuracy"], sep="\t")
    assert accuracy.empty and list(accuracy.columns)[:2] == ["method", "measure"]
