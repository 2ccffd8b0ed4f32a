"""Lesion ratings on CR- and DLR-QSM: the table layout, simulated raters and their statistics.

Ratings layout
--------------
One row per participant, lesion, rater and reconstruction (:data:`RATING_COLUMNS`), the layout
of a user's ``ratings.tsv`` and of :func:`simulate_ratings`' output:

``participant_id``
    Bare participant label (a ``sub-`` prefix in a file is removed on reading).
``lesion``
    Lesion label in the subject's FLAIR lesion map.
``rater``
    Rater name (text).
``recon``
    ``cr`` (conventional) or ``dlr`` (deep learning) reconstruction (:data:`RECONS`).
``prl``
    Confidence that the lesion is a paramagnetic rim lesion, 1 (none) to 5 (certain).
``cvs``
    Confidence in a central vein sign, 1-5.
``hyperiso``
    QSM appearance of the lesion: 1 hyperintense, 0 iso- or hypointense.
``quality``
    Image quality around the lesion, 1 (non-diagnostic) to 5 (excellent).

Simulated raters (demo)
-----------------------
A rater scores what the images show. From the lesion features of one reconstruction
(:func:`qmrflow.studies.qsm.lesions.lesion_features`) the contrast-to-noise ratios (CNR) of
the three findings are

* rim: ``min(rim_contrast, rim_nawm_contrast) / noise_ppm`` (a rim must be brighter than both
  the core and the surrounding tissue),
* vein: ``vein_contrast / noise_ppm``,
* core: ``qsm_contrast / noise_ppm``,

(``noise_ppm`` floored at :data:`NOISE_FLOOR_PPM`; a missing feature counts as invisible). Each
is mapped to a visibility ``v = 1 / (1 + exp(-slope * (CNR - threshold)))`` with the rater's
threshold per finding and slope; image quality uses
``v = 1 / (1 + exp(-quality_slope * ln(quality_noise_ppm / noise_ppm)))`` (``v = 1/2`` at the
rater's reference noise, higher for less noise). The latent score is ``1 + 4 v + e``, rounded
and clipped to 1-5 (``prl``, ``cvs``, ``quality``); ``hyperiso`` is 1 when
``v + e / 4 > 1/2`` for the core. The rater's error ``e = e_lesion + e_read`` has a part drawn
once per rater, lesion and item, shared by the CR and the DLR reading of the lesion
(SD ``noise_sd``: a rater's stable opinion of a lesion, which makes the CR and DLR scores agree
as closely as in the paper, kappa 0.98 and 0.92), and a part drawn per reading (SD
``read_noise_sd``). Both are seeded by the study seed, the participant, the rater, the lesion
(and the reconstruction for ``e_read``), so a lesion's scores do not depend on the other
lesions, subjects or raters. DLR's lower noise raises the CNRs and the quality, so DLR is
scored higher on average, as in the paper.

Statistics
----------
:func:`rating_statistics` (here, beside the layout it reads): per item and rater, Cohen's
kappa between the CR and the DLR scores of the same lesions (quadratic weights over 1-5 for the
ordinal items, unweighted for ``hyperiso``), the Wilcoxon signed-rank test of the paired
differences DLR - CR, and the mean (SD) score per reconstruction, as one tidy table.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qmrflow.errors import InputDataError
from qmrflow.io import read_tsv
from qmrflow.settings import settings_from_mapping
from qmrflow.stats import cohen_kappa, tidy, wilcoxon_signed_rank

__all__ = [
    "DEFAULT_RATERS",
    "ITEM_WEIGHTS",
    "NOISE_FLOOR_PPM",
    "RATING_COLUMNS",
    "RECONS",
    "SCORE_COLUMNS",
    "SCORE_RANGES",
    "STUDY",
    "RaterSpec",
    "check_ratings",
    "rating_statistics",
    "read_ratings",
    "simulate_ratings",
]

logger = logging.getLogger(__name__)

STUDY = "qsm"
#: Reconstructions rated, in the order of the comparison (DLR vs CR: differences DLR - CR).
RECONS: tuple[str, ...] = ("cr", "dlr")
#: Columns of a ratings table, in order.
RATING_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "lesion",
    "rater",
    "recon",
    "prl",
    "cvs",
    "hyperiso",
    "quality",
)
#: The scores and their allowed values (inclusive integer ranges).
SCORE_RANGES: dict[str, tuple[int, int]] = {
    "prl": (1, 5),
    "cvs": (1, 5),
    "hyperiso": (0, 1),
    "quality": (1, 5),
}
SCORE_COLUMNS: tuple[str, ...] = tuple(SCORE_RANGES)
#: Kappa weights per item: quadratic for the ordinal 1-5 scores, unweighted for the binary one.
ITEM_WEIGHTS: dict[str, str | None] = {
    "prl": "quadratic",
    "cvs": "quadratic",
    "hyperiso": None,
    "quality": "quadratic",
}
#: Smallest noise (ppm) a CNR is divided by: a noise-free map does not give infinite CNRs.
NOISE_FLOOR_PPM = 1e-3
#: Feature columns :func:`simulate_ratings` needs.
FEATURE_INPUTS: tuple[str, ...] = (
    "lesion",
    "recon",
    "rim_contrast",
    "rim_nawm_contrast",
    "vein_contrast",
    "qsm_contrast",
    "noise_ppm",
)
_SHOWN = 10


# ------------------------------------------------------------------------------------------
# Simulated raters
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaterSpec:
    """A simulated rater (module docstring, "Simulated raters").

    Attributes
    ----------
    name
        Rater name in the ratings table.
    rim_threshold, vein_threshold, core_threshold
        CNR at which a rim, a central vein or a hyperintense core is seen with visibility 1/2
        (latent PRL/CVS score 3, ``hyperiso`` 50 %). The vein threshold sits above the CNR
        that noise alone gives ``vein_contrast`` (about 1.5-2).
    slope
        Logistic slope of visibility per CNR unit (steeper: a more decisive rater).
    noise_sd
        SD of the rater's error per lesion and item, on the 1-5 score scale, shared by the CR
        and DLR readings of the lesion.
    read_noise_sd
        SD of the error of each reading (independent between CR and DLR).
    quality_noise_ppm
        Noise SD (ppm) the rater finds of middling quality (latent quality 3).
    quality_slope
        Logistic slope of the quality visibility per unit of ``ln(noise)``.
    """

    name: str
    rim_threshold: float = 2.0
    vein_threshold: float = 3.0
    core_threshold: float = 1.0
    slope: float = 1.5
    noise_sd: float = 0.4
    read_noise_sd: float = 0.05
    quality_noise_ppm: float = 0.03
    quality_slope: float = 3.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"rater name must be non-empty text, got {self.name!r}")
        for field in dataclasses.fields(self)[1:]:
            value = getattr(self, field.name)
            if not np.isfinite(value):
                raise ValueError(f"rater {self.name!r}: {field.name} must be finite, got {value}")
        positive = ("slope", "quality_noise_ppm", "quality_slope")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"rater {self.name!r}: {name} must be > 0")
        for name in ("noise_sd", "read_noise_sd"):
            if getattr(self, name) < 0:
                raise ValueError(f"rater {self.name!r}: {name} must be >= 0")

    @classmethod
    def from_value(cls, value: RaterSpec | Mapping[str, Any]) -> RaterSpec:
        """A spec from itself or a mapping of its fields (e.g. a config block)."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a rater spec must be a RaterSpec or a mapping, got {value!r}")
        return settings_from_mapping(cls, value, "rater setting(s)", error=ValueError)


#: The demo's two raters: rater1 decisive and consistent, rater2 more cautious and noisier.
DEFAULT_RATERS: tuple[RaterSpec, ...] = (
    RaterSpec("rater1"),
    RaterSpec(
        "rater2",
        rim_threshold=2.5,
        vein_threshold=3.5,
        core_threshold=1.5,
        slope=1.0,
        noise_sd=0.6,
        read_noise_sd=0.15,
        quality_noise_ppm=0.025,
        quality_slope=2.5,
    ),
)


def simulate_ratings(
    features: pd.DataFrame,
    raters: Sequence[RaterSpec | Mapping[str, Any]] = DEFAULT_RATERS,
    seed: int = 0,
    *,
    participant_id: str | None = None,
) -> pd.DataFrame:
    """Scores of simulated raters for every lesion and reconstruction (module docstring).

    Parameters
    ----------
    features
        Lesion features, one row per lesion and reconstruction: the columns of
        :data:`FEATURE_INPUTS` (``lesion``, ``recon`` and the features of
        :func:`~qmrflow.studies.qsm.lesions.lesion_features`), and ``participant_id`` unless
        ``participant_id`` is given.
    raters
        Rater specs (:class:`RaterSpec` or mappings of its fields); names must differ.
    seed
        Study seed.
    participant_id
        The subject's label for every row (overrides a ``participant_id`` column).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RATING_COLUMNS`, one row per participant, lesion, rater and recon,
        sorted in that order.

    Raises
    ------
    ValueError
        Missing columns, unknown ``recon`` values, a (participant, lesion, recon) twice, bad
        or duplicate rater specs.
    """
    specs = [RaterSpec.from_value(rater) for rater in raters]
    names = [spec.name for spec in specs]
    if not specs or len(set(names)) != len(names):
        raise ValueError(f"raters must be one or more with different names, got {names}")
    table = _checked_features(features, participant_id)
    cnr = _cnrs(table)
    noise = np.maximum(table["noise_ppm"].to_numpy(dtype=float), NOISE_FLOOR_PPM)
    frames = []
    for spec in specs:
        errors = _rater_errors(table, spec, int(seed))
        scores = {}
        for item, finding, threshold in (
            ("prl", "rim", spec.rim_threshold),
            ("cvs", "vein", spec.vein_threshold),
            ("hyperiso", "core", spec.core_threshold),
        ):
            scores[item] = _logistic(spec.slope * (cnr[finding] - threshold))
        scores["quality"] = _logistic(spec.quality_slope * np.log(spec.quality_noise_ppm / noise))
        rated = table[["participant_id", "lesion", "recon"]].copy()
        rated.insert(2, "rater", spec.name)
        for item, visibility in scores.items():
            if item == "hyperiso":
                rated[item] = (visibility + errors[item] / 4.0 > 0.5).astype(np.int64)
            else:
                latent = 1.0 + 4.0 * visibility + errors[item]
                rated[item] = np.clip(np.rint(latent), 1, 5).astype(np.int64)
        frames.append(rated)
    ratings = pd.concat(frames, ignore_index=True)[list(RATING_COLUMNS)]
    ratings = ratings.sort_values(["participant_id", "lesion", "rater", "recon"])
    logger.info(
        "simulated %d rating(s): %d rater(s) x %d lesion reading(s)",
        len(ratings),
        len(specs),
        len(table),
    )
    return ratings.reset_index(drop=True)


def _checked_features(features: pd.DataFrame, participant_id: str | None) -> pd.DataFrame:
    if not isinstance(features, pd.DataFrame):
        raise ValueError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    needed = list(FEATURE_INPUTS) + ([] if participant_id is not None else ["participant_id"])
    missing = [column for column in needed if column not in features.columns]
    if missing:
        raise ValueError(
            f"features lack column(s) {missing}; have {list(features.columns)}"
            + ("; pass participant_id=..." if missing == ["participant_id"] else "")
        )
    table = features.copy()
    if participant_id is not None:
        table["participant_id"] = str(participant_id)
    table["participant_id"] = table["participant_id"].astype(str)
    table["lesion"] = table["lesion"].astype(np.int64)
    unknown = sorted(set(table["recon"].astype(str)) - set(RECONS))
    if unknown:
        raise ValueError(f"features recon values {unknown} unknown; expected {list(RECONS)}")
    repeated = table.duplicated(["participant_id", "lesion", "recon"])
    if repeated.any():
        cases = table.loc[repeated, ["participant_id", "lesion", "recon"]].head(_SHOWN)
        raise ValueError(
            f"features have a (participant, lesion, recon) more than once: "
            f"{[tuple(c) for c in cases.itertuples(index=False)]}"
        )
    return table.reset_index(drop=True)


def _cnrs(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rim, vein and core CNRs per row; a missing feature counts as CNR 0 (invisible)."""
    noise = np.maximum(table["noise_ppm"].to_numpy(dtype=float), NOISE_FLOOR_PPM)
    rim = np.minimum(
        table["rim_contrast"].to_numpy(dtype=float),
        table["rim_nawm_contrast"].to_numpy(dtype=float),
    )
    contrasts = {
        "rim": rim,
        "vein": table["vein_contrast"].to_numpy(dtype=float),
        "core": table["qsm_contrast"].to_numpy(dtype=float),
    }
    out = {}
    for finding, contrast in contrasts.items():
        cnr = contrast / noise
        missing = ~np.isfinite(cnr)
        if missing.any():
            logger.warning(
                "%d lesion reading(s) without a %s CNR scored as invisible", missing.sum(), finding
            )
        out[finding] = np.where(missing, 0.0, cnr)
    return out


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def _rater_errors(table: pd.DataFrame, spec: RaterSpec, seed: int) -> dict[str, np.ndarray]:
    """Per row and item: shared (lesion) plus per-reading error on the 1-5 scale.

    One loop step per row (lesion reading), not per voxel: each draws from its own seeded
    stream so that a lesion's scores do not depend on the other rows.
    """
    items = len(SCORE_COLUMNS)
    shared = np.empty((len(table), items))
    read = np.empty((len(table), items))
    rater = list(spec.name.encode("utf-8"))
    rows = zip(table["participant_id"], table["lesion"], table["recon"], strict=True)
    for index, (participant, lesion, recon) in enumerate(rows):
        subject = list(str(participant).encode("utf-8"))
        entropy = [seed, int(lesion), len(rater), *rater, len(subject), *subject]
        shared[index] = np.random.default_rng([*entropy, 0]).normal(size=items)
        reading = [1 + RECONS.index(str(recon))]
        read[index] = np.random.default_rng([*entropy, *reading]).normal(size=items)
    total = spec.noise_sd * shared + spec.read_noise_sd * read
    return {item: total[:, k] for k, item in enumerate(SCORE_COLUMNS)}


# ------------------------------------------------------------------------------------------
# Ratings tables
# ------------------------------------------------------------------------------------------


def read_ratings(
    path: str | os.PathLike[str],
    *,
    subject: str | None = None,
    lesions: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Read and check a ratings table (``ratings.tsv``, module docstring for the layout).

    Parameters
    ----------
    path
        The TSV file.
    subject
        Keep only this participant's rows (bare label); it must have some.
    lesions
        The lesion labels of the subject's lesion map: every rated lesion must be one of them
        (lesions without ratings are allowed and logged). Needs ``subject`` when the table
        holds several participants.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RATING_COLUMNS` (others dropped), typed: ``participant_id``, ``rater``
        and ``recon`` text (recon lower case), ``lesion`` and the scores integers.

    Raises
    ------
    InputDataError
        Missing file or columns, missing values, scores that are not integers in their range,
        unknown ``recon`` values, a rating given twice, no rows for ``subject``, or rated
        lesions that are not in ``lesions``; the message names the file and the subject.
    """
    table = read_tsv(path, subject=subject)
    try:
        ratings = check_ratings(table, name="ratings table")
    except ValueError as error:
        raise InputDataError(str(error), subject=subject, path=path) from error
    if subject is not None:
        ratings = ratings[ratings["participant_id"] == str(subject)].reset_index(drop=True)
        if ratings.empty:
            raise InputDataError("no ratings for this participant", subject=subject, path=path)
    if lesions is not None:
        known = {int(label) for label in lesions}
        subjects = ratings["participant_id"].unique()
        if len(subjects) > 1:
            raise ValueError(
                "read_ratings: lesions=... needs subject=... for a multi-subject table"
            )
        rated = set(ratings["lesion"].tolist())
        unknown = sorted(rated - known)
        if unknown:
            raise InputDataError(
                f"{len(unknown)} rated lesion(s) not in the lesion map: {unknown[:_SHOWN]} "
                f"(the map has {len(known)} lesion(s))",
                subject=subject,
                path=path,
            )
        unrated = sorted(known - rated)
        if unrated:
            logger.info("%s: %d lesion(s) without ratings", path, len(unrated))
    logger.info("%s: %d rating(s) read", path, len(ratings))
    return ratings


def check_ratings(table: pd.DataFrame, *, name: str = "ratings") -> pd.DataFrame:
    """A typed copy of a ratings table (layout of the module docstring), or ValueError.

    Raises
    ------
    ValueError
        Not a DataFrame, missing columns, no rows, missing values, scores that are not
        integers in :data:`SCORE_RANGES`, non-integer lesion labels, unknown ``recon`` values
        or a (participant, lesion, rater, recon) given twice; the message names ``name``, the
        column and some offending rows (0-based data rows).
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [column for column in RATING_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; has {list(table.columns)}")
    if table.empty:
        raise ValueError(f"{name} has no rows")
    out = table[list(RATING_COLUMNS)].reset_index(drop=True).copy()
    empty = out.isna() | out.astype(str).apply(lambda column: column.str.strip() == "")
    if empty.any().any():
        columns = [column for column in out.columns if empty[column].any()]
        rows = out.index[empty.any(axis=1)].tolist()
        raise ValueError(f"{name} has missing values in {columns}, rows {rows[:_SHOWN]}")
    for column in ("participant_id", "rater"):
        out[column] = out[column].astype(str).str.strip()
    out["recon"] = out["recon"].astype(str).str.strip().str.lower()
    unknown = ~out["recon"].isin(RECONS)
    if unknown.any():
        raise ValueError(
            f"{name} column 'recon' holds {sorted(out.loc[unknown, 'recon'].unique())}; "
            f"expected one of {list(RECONS)} (rows {out.index[unknown].tolist()[:_SHOWN]})"
        )
    out["lesion"] = _integers(out["lesion"], name, "lesion", (1, None))
    for column, bounds in SCORE_RANGES.items():
        out[column] = _integers(out[column], name, column, bounds)
    keys = ["participant_id", "lesion", "rater", "recon"]
    repeated = out.duplicated(keys, keep=False)
    if repeated.any():
        cases = out.loc[repeated, keys].drop_duplicates().head(_SHOWN)
        raise ValueError(
            f"{name} rates the same (participant_id, lesion, rater, recon) more than once: "
            f"{[tuple(case) for case in cases.itertuples(index=False)]}"
        )
    return out


def _integers(
    values: pd.Series, name: str, column: str, bounds: tuple[int, int | None]
) -> pd.Series:
    """``values`` as int64, or ValueError naming the column, the allowed values and rows."""
    numbers = pd.to_numeric(values, errors="coerce")
    low, high = bounds
    bad = numbers.isna() | (numbers != np.round(numbers)) | (numbers < low)
    if high is not None:
        bad |= numbers > high
    if bad.any():
        allowed = f"integers {low}-{high}" if high is not None else f"integers >= {low}"
        shown = values[bad].head(5).tolist()
        raise ValueError(
            f"{name} column {column!r} must hold {allowed}, got {shown} "
            f"(rows {values.index[bad].tolist()[:_SHOWN]})"
        )
    return numbers.astype(np.int64)


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scores:
    """Mean and SD of one reconstruction's scores, as tidy rows."""

    recon: str
    values: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        x = np.asarray(self.values, dtype=float)
        n = int(x.size)
        sd = float(x.std(ddof=1)) if n > 1 else np.nan
        measure = f"score_{self.recon}"
        text = f"{self.recon.upper()} scores of the paired lesions"
        return [
            _row(measure, "mean", float(x.mean()), n, f"mean of the {text}"),
            _row(measure, "sd", sd, n, f"SD (ddof 1) of the {text}"),
        ]


@dataclass(frozen=True)
class _NotComputed:
    """A statistic that is undefined for these scores: NaN with the reason."""

    measure: str
    n: int
    reason: str

    def to_rows(self) -> list[dict[str, Any]]:
        return [_row(self.measure, "estimate", np.nan, self.n, f"not computed: {self.reason}")]


def _row(measure: str, statistic: str, value: float, n: int, method: str) -> dict[str, Any]:
    return {"measure": measure, "statistic": statistic, "value": float(value),
            "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "n": int(n),
            "method": method}  # fmt: skip


def rating_statistics(ratings: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Per item and rater: kappa between CR and DLR, Wilcoxon DLR vs CR, mean scores.

    The lesions (``participant_id``, ``lesion``) a rater scored on both reconstructions are
    paired (a lesion scored on one only is dropped with a warning and counted in the
    ``method`` text). Per item of :data:`SCORE_COLUMNS` and rater, under the comparison
    ``"<item>, rater <rater>: DLR vs CR"``:

    * Cohen's kappa of the CR and DLR scores (:func:`qmrflow.stats.cohen_kappa` over the full
      scale of :data:`SCORE_RANGES`; quadratic weights for ``prl``, ``cvs``, ``quality``,
      unweighted for ``hyperiso``: measure ``cohen_kappa_quadratic`` or ``cohen_kappa``);
    * the Wilcoxon signed-rank test of DLR - CR (:func:`qmrflow.stats.wilcoxon_signed_rank`,
      R's rules: normal approximation with continuity correction when scores tie; measures
      ``wilcoxon_v``, ``rank_biserial`` (> 0: DLR scored higher), ...);
    * ``score_cr`` and ``score_dlr``: mean and SD of the paired scores.

    A statistic that is undefined (kappa when one category is used throughout, the test when
    every difference is zero) is one row with a NaN estimate and the reason in ``method``.

    :func:`qmrflow.stats.rating_agreement` computes the same kappa and test from a long table,
    but raises for a rater as soon as either statistic is undefined; here identical CR and
    DLR scores (kappa 1, no test) must still give their kappa, so the pairing is done here
    and the two statistics are called one by one.

    Parameters
    ----------
    ratings
        Ratings table (:data:`RATING_COLUMNS`; checked by :func:`check_ratings`).
    confidence
        Confidence level of the kappa intervals.

    Returns
    -------
    pandas.DataFrame
        Tidy table (:data:`qmrflow.stats.TIDY_COLUMNS`), study ``"qsm"``, items in the order of
        :data:`SCORE_COLUMNS`, raters sorted.

    Raises
    ------
    ValueError
        A bad ratings table, or a rater with no lesion scored on both reconstructions.
    """
    table = check_ratings(ratings, name="ratings")
    frames = []
    for rater in sorted(table["rater"].unique()):
        wide = (
            table[table["rater"] == rater]
            .pivot(index=["participant_id", "lesion"], columns="recon", values=list(SCORE_COLUMNS))
            .reindex(columns=pd.MultiIndex.from_product([SCORE_COLUMNS, RECONS]))
        )
        first, second = RECONS[1], RECONS[0]  # DLR vs CR: differences DLR - CR
        complete = wide.notna().all(axis=1)
        n_dropped = int((~complete).sum())
        note = ""
        if n_dropped:
            dropped = [f"{p}:{les}" for p, les in wide.index[~complete][:_SHOWN]]
            logger.warning(
                "rater %r: %d lesion(s) scored on one reconstruction only, dropped: %s",
                rater,
                n_dropped,
                dropped,
            )
            note = f"; {n_dropped} lesion(s) scored on one reconstruction only dropped"
        paired = wide[complete]
        if paired.empty:
            raise ValueError(f"rater {rater!r} scored no lesion on both CR and DLR")
        for item in SCORE_COLUMNS:
            dlr = paired[(item, first)].to_numpy(dtype=np.int64)
            cr = paired[(item, second)].to_numpy(dtype=np.int64)
            results = _item_results(item, dlr, cr, confidence, note)
            comparison = f"{item}, rater {rater}: {first.upper()} vs {second.upper()}"
            frames.append((SCORE_COLUMNS.index(item), rater, comparison, results))
    frames.sort(key=lambda entry: (entry[0], entry[1]))
    out = pd.concat(
        [tidy(results, study=STUDY, comparison=comparison) for _, _, comparison, results in frames],
        ignore_index=True,
    )
    logger.info("rating statistics: %d rater x item comparison(s)", len(frames))
    return out


def _item_results(
    item: str, dlr: np.ndarray, cr: np.ndarray, confidence: float, note: str
) -> list[Any]:
    """Kappa, Wilcoxon test and score summaries of one item and rater."""
    low, high = SCORE_RANGES[item]
    weights = ITEM_WEIGHTS[item]
    results: list[Any] = []
    try:
        kappa = cohen_kappa(
            dlr,
            cr,
            categories=list(range(low, high + 1)),
            weights=weights,
            confidence=confidence,
        )
        if note:
            kappa = dataclasses.replace(kappa, method=kappa.method + note)
        results.append(kappa)
    except ValueError as error:
        measure = "cohen_kappa" if weights is None else f"cohen_kappa_{weights}"
        results.append(_NotComputed(measure, dlr.size, f"{error}{note}"))
    if np.any(dlr != cr):
        test = wilcoxon_signed_rank(dlr, cr, names=("DLR", "CR"))
        if note:
            test = dataclasses.replace(test, method=test.method + note)
        results.append(test)
    else:
        reason = f"all {dlr.size} differences DLR − CR are zero (identical scores){note}"
        results.append(_NotComputed("wilcoxon_v", dlr.size, reason))
    results += [_Scores("cr", cr), _Scores("dlr", dlr)]
    return results
