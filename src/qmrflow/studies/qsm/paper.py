"""The qsm paper's numbers beside ours.

Gkotsoulias, Weigel, Cagol, de Oliveira Soares Siebenborn, Ruberte, Pfeuffer, Granziera. "A
pilot study assessing the clinical utility of deep learning-reconstructed 3D-echo-planar-
imaging-based quantitative susceptibility mapping in multiple sclerosis." Frontiers in
Neuroscience 2025. 7 MS patients, 433 FLAIR lesions, two raters: Cohen's kappa between CR and
DLR ratings 0.98 (rater 1) and 0.92 (rater 2); DLR rated higher (hyper/isointensity
P < 0.001, central vein sign P = 0.01, image quality P < 0.001). In a volunteer, DLR-EPI QSM
from 1:56 min (1-average EPI) agreed with GRE-QSM from 7:02 min.

Our kappa is the mean over the four rated items of a rater; ours for each Wilcoxon test is its
p value (the paper's where it gives one) with the direction (rank-biserial > 0: DLR higher) in
the note; the volunteer's agreement, stated without a number, is ours as the ROI regression
slope and R² of DLR-EPI on GRE-QSM.
"""

from __future__ import annotations

import math

import pandas as pd

from qmrflow.stats.paper import PaperValue, paper_comparison_table

__all__ = ["PAPER", "paper_comparison"]

STUDY = "qsm"
PAPER = "Gkotsoulias et al., Front Neurosci 2025"
#: Cohen's kappa between CR and DLR ratings per rater.
PAPER_KAPPA = {"rater1": 0.98, "rater2": 0.92}
#: Wilcoxon p values of DLR vs CR per item (hyper/iso and quality: P < 0.001, given as 0.001).
PAPER_P = {"hyperiso": 0.001, "cvs": 0.01, "quality": 0.001, "prl": math.nan}
#: Acquisition times (s): GRE 7:02, 2-average EPI 3:44, 1-average EPI 1:56.
ACQUISITION_SECONDS = {"gre": 422.0, "epi2avg": 224.0, "epi1avg": 116.0}


def _first(statistics: pd.DataFrame, comparison: str, measure: str, column: str) -> float:
    rows = statistics[
        (statistics["comparison"] == comparison)
        & (statistics["measure"] == measure)
        & (statistics["statistic"] == "estimate")
    ]
    return float(rows[column].iloc[0]) if len(rows) else math.nan


def paper_comparison(
    statistics: pd.DataFrame,
    agreement: pd.DataFrame,
    accuracy: pd.DataFrame,
    timing: pd.DataFrame,
    *,
    lesion_acquisition: str = "epi1avg",
) -> pd.DataFrame:
    """The paper-comparison table (:func:`qmrflow.stats.paper_comparison_table`).

    ``agreement`` and ``accuracy`` are the group summaries (mean per acquisition, recon and
    inversion) of :func:`.evaluate.summary`.
    """
    rows = []
    items = ("prl", "cvs", "hyperiso", "quality")
    for rater, kappa in PAPER_KAPPA.items():
        ours = [
            _first(statistics, f"{item}, rater {rater}: DLR vs CR", measure, "value")
            for item in items
            for measure in ("cohen_kappa", "cohen_kappa_quadratic")
        ]
        ours = [k for k in ours if not math.isnan(k)]
        rows.append(
            PaperValue(
                STUDY,
                f"Cohen's kappa, CR vs DLR ratings ({rater})",
                kappa,
                ours=sum(ours) / len(ours) if ours else math.nan,
                paper_source=PAPER,
                note="ours: mean over the rated items (quadratic weights for the 1-5 scores)",
            )
        )
        for item, p in PAPER_P.items():
            what = f"{item}, rater {rater}: DLR vs CR"
            rank = _first(statistics, what, "rank_biserial", "value")
            rows.append(
                PaperValue(
                    STUDY,
                    f"Wilcoxon p, DLR vs CR ratings: {item} ({rater})",
                    p,
                    ours=_first(statistics, what, "wilcoxon_v", "p"),
                    comparison=what,
                    paper_source=PAPER,
                    note=f"paper: DLR rated higher; ours: rank-biserial {rank:.2f} (> 0: DLR)",
                )
            )
    dgm = f"{lesion_acquisition} dlr tv: deep grey matter ROI means vs GRE-QSM"
    for measure in ("slope", "r_squared"):
        rows.append(
            PaperValue(
                STUDY,
                f"DLR-EPI vs GRE-QSM deep grey matter ROI regression: {measure}",
                math.nan,
                ours=_first(statistics, dgm, measure, "value"),
                ours_ci_low=_first(statistics, dgm, measure, "ci_low"),
                ours_ci_high=_first(statistics, dgm, measure, "ci_high"),
                comparison=dgm,
                paper_source=PAPER,
                note="paper: DLR-EPI QSM agreed with GRE-QSM (volunteer); 1 is perfect",
            )
        )
    for recon in ("cr", "dlr"):
        agree = agreement[
            (agreement["acquisition"] == lesion_acquisition)
            & (agreement["recon"] == recon)
            & (agreement["inversion"] == "tv")
        ]
        rows.append(
            PaperValue(
                STUDY,
                f"{lesion_acquisition} {recon.upper()}-QSM vs GRE-QSM: RMSE (%)",
                math.nan,
                ours=float(agree["rmse"].iloc[0]) if len(agree) else math.nan,
                paper_source=PAPER,
                note="paper: DLR-EPI agreed visually and quantitatively with GRE",
            )
        )
    share = ACQUISITION_SECONDS[lesion_acquisition] / ACQUISITION_SECONDS["gre"]
    rows.append(
        PaperValue(
            STUDY,
            f"{lesion_acquisition} acquisition time / GRE's",
            share,
            ours=share,
            paper_source=PAPER,
            note="a protocol fact (1:56 vs 7:02 min), the demo assumes the paper's protocols",
        )
    )
    dlr = timing[(timing["stage"] == "reconstruction") & (timing["recon"] == "dlr")]
    rows.append(
        PaperValue(
            STUDY,
            "DLR reconstruction time / CR's (per EPI volume)",
            math.nan,
            ours=float(dlr["ratio_to_cr"].median()) if len(dlr) else math.nan,
            paper_source=PAPER,
            note="paper: offline reconstruction, no time given; ours on this machine",
        )
    )
    if not accuracy.empty:
        for recon in ("cr", "dlr"):
            acc = accuracy[
                (accuracy["acquisition"] == lesion_acquisition)
                & (accuracy["recon"] == recon)
                & (accuracy["inversion"] == "tv")
            ]
            rows.append(
                PaperValue(
                    STUDY,
                    f"{lesion_acquisition} {recon.upper()}-QSM vs truth: RMSE (%)",
                    math.nan,
                    ours=float(acc["rmse"].iloc[0]) if len(acc) else math.nan,
                    paper_source=PAPER,
                    note="demo only (the paper has no ground truth)",
                )
            )
    return paper_comparison_table(rows)
