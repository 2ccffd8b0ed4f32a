"""Per-subject QC pages, the cohort's flags and their index (fMRIPrep-style visual reports).

Layout under ``<results>/qc/`` (:func:`page_path` and friends)::

    index.html                  every study's subjects with their flags and a link to each page
    flags.js                    window.QMRFLOW_QC_FLAGS = {...}: outliers and failed jobs
    outliers.tsv                the outlying measures (study, subject, measure, value, z, ...)
    <study>/sub-<id>.html       one subject's page: images, measures, links to its tables
    <study>/sub-<id>_measures.tsv   the measures shown on the page (measure, value, unit)

A page is one self-contained HTML file (images embedded as base64 data URIs, downsampled:
stills at most :data:`MAX_SIDE` pixels a side, animations :data:`ANIMATION_MAX_SIDE` with one
palette of :data:`ANIMATION_COLOURS` colours; no volumes). It depends on its subject's files only,
so a changed subject rebuilds only its own page. What depends on the cohort, the flags, is
computed once by the group rule (:func:`index_pages`) and written to ``flags.js``, which every
page loads with ``<script src="../flags.js">`` (this works from ``file://``) to show its own
flags and mark its outlying measures. ``qmrflow status`` rewrites ``flags.js`` with the failed
jobs through :func:`update_flags` (:func:`write_flags`); the index shows the flags of
``flags.js`` when it loads, and those it was written with otherwise.

What a study's page shows is the study's business: :func:`write_subject_page` calls
``qmrflow.studies.<study>.qc.subject_qc(subject, inputs, **options)``, which returns a
:class:`SubjectQC` (sections of images and tables, the measures, the source tables).

Outliers are robust z-scores within a study's cohort, measure by measure (Iglewicz & Hoaglin,
*How to Detect and Handle Outliers*, ASQC 1993): ``z = (x - median) / (1.4826 MAD)``, flagged when
``|z| > threshold`` (3.5 by default, their recommendation). When the MAD is 0 (more than half the
subjects share one value) the scale falls back to ``1.253314 x`` the mean absolute deviation from
the median, so a lone deviant value of a mostly constant measure is still flagged; a measure
without any spread flags nobody, and neither does a measure fewer than ``min_subjects`` (5 by
default) subjects have: the MAD of four values is too unstable to call anything an outlier.
"""

from __future__ import annotations

import base64
import html
import importlib
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from qmrflow.errors import InputDataError
from qmrflow.io.atomic import atomic_output
from qmrflow.io.tables import read_tsv, write_tsv

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image as PILImage

__all__ = [
    "ANIMATION_COLOURS",
    "ANIMATION_MAX_SIDE",
    "DEFAULT_THRESHOLD",
    "FAILED_COLUMNS",
    "MAX_SIDE",
    "MEASURE_COLUMNS",
    "MIN_SUBJECTS",
    "OUTLIER_COLUMNS",
    "QCImage",
    "QCSection",
    "QCTable",
    "SubjectQC",
    "cohort_outliers",
    "flag_failed_jobs",
    "flags_path",
    "flags_payload",
    "image_from_figure",
    "image_from_file",
    "index_pages",
    "index_path",
    "measures_path",
    "measures_table",
    "outliers_path",
    "page_path",
    "qc_folder",
    "read_cohort_measures",
    "render_index",
    "render_subject_page",
    "robust_z",
    "update_flags",
    "write_flags",
    "write_index",
    "write_page",
    "write_subject_page",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Robust z-score above which a measure is an outlier (Iglewicz & Hoaglin 1993).
DEFAULT_THRESHOLD = 3.5
#: Fewest subjects with a measure for it to flag anyone.
MIN_SUBJECTS = 5
#: Longest side of a still image on a page (pixels).
MAX_SIDE = 1000
#: Longest side of an animation's frames (pixels).
ANIMATION_MAX_SIDE = 480
#: Colours of an animation's one palette.
ANIMATION_COLOURS = 64
#: Frames of an animation at most (every k-th frame kept, each shown k times as long).
ANIMATION_MAX_FRAMES = 60
#: JPEG quality of a still whose JPEG is smaller than its PNG (noisy images, photographs).
JPEG_QUALITY = 85

#: Columns of a subject's measures (the page's table and ``sub-<id>_measures.tsv``).
MEASURE_COLUMNS: tuple[str, ...] = ("measure", "value", "unit")
#: Columns of the outlier table (:func:`cohort_outliers`, ``outliers.tsv``).
OUTLIER_COLUMNS: tuple[str, ...] = (
    "study",
    "subject",
    "measure",
    "value",
    "unit",
    "median",
    "scale",
    "z",
    "n",
)
#: Columns of the failed jobs given to :func:`write_flags`.
FAILED_COLUMNS: tuple[str, ...] = ("study", "subject", "stage", "log")

_MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4): the MAD of a normal sample is 0.6745 sd
_MEANAD_TO_SD = 1.253314  # sqrt(pi / 2): the mean absolute deviation of a normal sample


# ------------------------------------------------------------------------------------- paths
def qc_folder(results: PathLike) -> Path:
    """The folder of every QC page, the index and the flags."""
    return Path(results) / "qc"


def page_path(results: PathLike, study: str, subject: str) -> Path:
    """A subject's QC page."""
    return qc_folder(results) / study / f"sub-{subject}.html"


def measures_path(results: PathLike, study: str, subject: str) -> Path:
    """The measures shown on a subject's QC page (the group rule's input)."""
    return qc_folder(results) / study / f"sub-{subject}_measures.tsv"


def index_path(results: PathLike) -> Path:
    """The index of every QC page."""
    return qc_folder(results) / "index.html"


def flags_path(results: PathLike) -> Path:
    """The flags script every page loads."""
    return qc_folder(results) / "flags.js"


def outliers_path(results: PathLike) -> Path:
    """The table of outlying measures (what ``qmrflow status`` rewrites the flags from)."""
    return qc_folder(results) / "outliers.tsv"


# ------------------------------------------------------------------------------------- content
@dataclass(frozen=True)
class QCImage:
    """One image of a page, encoded (PNG, JPEG or GIF bytes)."""

    title: str
    data: bytes
    mime: str
    caption: str = ""

    @property
    def uri(self) -> str:
        """The image as a ``data:`` URI."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class QCTable:
    """A small table of a page (drawn as it is: keep it to tens of rows)."""

    title: str
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class QCSection:
    """A titled part of a page: text, then images, then tables."""

    title: str
    images: tuple[QCImage, ...] = ()
    tables: tuple[QCTable, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class SubjectQC:
    """Everything one subject's page shows.

    Attributes
    ----------
    study, subject
        The study and the participant label (without ``sub-``).
    sections
        What a reader checks, in order.
    measures
        The subject's key measures (:data:`MEASURE_COLUMNS`), shown on the page and compared
        with the cohort's for the outlier flags.
    sources
        Label -> the per-subject tables the measures come from (linked from the page).
    """

    study: str
    subject: str
    sections: tuple[QCSection, ...]
    measures: pd.DataFrame
    sources: Mapping[str, PathLike] = field(default_factory=dict)


def measures_table(rows: Iterable[tuple[str, float, str]]) -> pd.DataFrame:
    """A measures table from ``(measure, value, unit)`` rows; non-finite values are dropped
    (a measure a subject does not have is left out, not flagged)."""
    table = pd.DataFrame(list(rows), columns=list(MEASURE_COLUMNS))
    table["value"] = pd.to_numeric(table["value"], errors="coerce").astype(float)
    table = table[np.isfinite(table["value"].to_numpy())].reset_index(drop=True)
    duplicated = table["measure"][table["measure"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"measures named twice: {duplicated}")
    return table


# ------------------------------------------------------------------------------------- images
def _flatten(image: PILImage.Image) -> PILImage.Image:
    """RGB on white (transparency composited away)."""
    from PIL import Image

    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _encode_still(image: PILImage.Image, max_side: int) -> tuple[bytes, str]:
    """The smaller of the PNG and the JPEG of ``image`` shrunk to ``max_side``."""
    from PIL import Image

    flat = _flatten(image)
    if max(flat.size) > max_side:
        flat.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    candidates = []
    for fmt, mime, options in (
        ("PNG", "image/png", {"optimize": True}),
        ("JPEG", "image/jpeg", {"quality": JPEG_QUALITY, "optimize": True}),
    ):
        buffer = io.BytesIO()
        flat.save(buffer, fmt, **options)
        candidates.append((buffer.getvalue(), mime))
    return min(candidates, key=lambda item: len(item[0]))


def _encode_animation(image: PILImage.Image, max_side: int) -> bytes:
    """A GIF of ``image``'s frames: at most ``max_side`` pixels a side and
    :data:`ANIMATION_MAX_FRAMES` frames, on one palette of :data:`ANIMATION_COLOURS` colours
    learnt from frames spread over the whole animation (the bolus or the sniff included)."""
    from PIL import Image, ImageSequence

    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        frames.append(_flatten(frame))
        durations.append(int(frame.info.get("duration", image.info.get("duration", 100)) or 100))
    step = max(1, math.ceil(len(frames) / ANIMATION_MAX_FRAMES))
    frames = frames[::step]
    durations = [d * step for d in durations[::step]]
    if max(frames[0].size) > max_side:
        scale = max_side / max(frames[0].size)
        size = (max(1, round(frames[0].width * scale)), max(1, round(frames[0].height * scale)))
        frames = [f.resize(size, Image.Resampling.LANCZOS) for f in frames]
    samples = [frames[i] for i in np.linspace(0, len(frames) - 1, min(8, len(frames))).astype(int)]
    montage = Image.new("RGB", (sum(f.width for f in samples), samples[0].height))
    x = 0
    for sample in samples:
        montage.paste(sample, (x, 0))
        x += sample.width
    palette = montage.quantize(colors=ANIMATION_COLOURS, method=Image.Quantize.MEDIANCUT)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    buffer = io.BytesIO()
    indexed[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=durations,
        loop=0,
        optimize=True,
    )
    return buffer.getvalue()


def image_from_file(
    path: PathLike,
    title: str,
    caption: str = "",
    *,
    max_side: int = MAX_SIDE,
    animation_max_side: int = ANIMATION_MAX_SIDE,
) -> QCImage:
    """An image file (PNG, JPEG, GIF, animated or not) for a page, downsampled.

    A still becomes the smaller of its PNG and its JPEG at most ``max_side`` pixels a side; an
    animation is re-encoded (:func:`_encode_animation`). The file's own bytes are kept when
    they are smaller and need no shrinking.

    Raises
    ------
    InputDataError
        No such file, or not a readable image (the message names the file).
    """
    from PIL import Image, UnidentifiedImageError

    if not Path(path).is_file():
        raise InputDataError("image not found", path=path)
    raw = Path(path).read_bytes()
    try:
        opened = Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputDataError(f"not a readable image: {exc}", path=path) from exc
    with opened as image:
        animated = getattr(image, "n_frames", 1) > 1
        side = max(image.size)
        original = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}.get(
            image.format or ""
        )
        if animated:
            data, mime = _encode_animation(image, animation_max_side), "image/gif"
            limit = animation_max_side
        else:
            data, mime = _encode_still(image, max_side)
            limit = max_side
    if original is not None and side <= limit and len(raw) <= len(data):
        data, mime = raw, original
    logger.info("%s: %d -> %d bytes (%s)", Path(path).name, len(raw), len(data), mime)
    return QCImage(title=title, data=data, mime=mime, caption=caption)


def image_from_figure(
    figure: Figure, title: str, caption: str = "", *, dpi: int = 80, max_side: int = MAX_SIDE
) -> QCImage:
    """A matplotlib figure for a page: drawn at ``dpi``, then as :func:`image_from_file`."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        data, mime = _encode_still(image, max_side)
    return QCImage(title=title, data=data, mime=mime, caption=caption)


# ------------------------------------------------------------------------------------- flags
def _location_scale(values: np.ndarray) -> tuple[float, float]:
    """The median and the robust sd (``1.4826 MAD``, else ``1.253314 x`` the mean absolute
    deviation from the median) of finite values."""
    median = float(np.median(values))
    deviation = np.abs(values - median)
    scale = _MAD_TO_SD * float(np.median(deviation))
    if scale == 0.0:
        scale = _MEANAD_TO_SD * float(np.mean(deviation))
    return median, scale


def robust_z(values: ArrayLike) -> np.ndarray:
    """Robust z-scores ``(x - median) / (1.4826 MAD)`` of the finite values (NaN elsewhere).

    With a MAD of 0 the scale is ``1.253314 x`` the mean absolute deviation from the median;
    when that is 0 too (no spread at all) every score is 0.
    """
    x = np.asarray(values, dtype=float)
    z = np.full(x.shape, np.nan)
    finite = np.isfinite(x)
    if finite.any():
        median, scale = _location_scale(x[finite])
        z[finite] = 0.0 if scale == 0.0 else (x[finite] - median) / scale
    return z


def cohort_outliers(
    measures: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    min_subjects: int = MIN_SUBJECTS,
) -> pd.DataFrame:
    """The measures whose robust z-score within their study's cohort exceeds ``threshold``.

    Parameters
    ----------
    measures
        One row per subject and measure: ``study``, ``subject``, ``measure``, ``value`` and
        optionally ``unit``. Non-finite values take no part.
    threshold
        ``|z|`` above which a value is an outlier.
    min_subjects
        A measure fewer subjects have flags nobody.

    Returns
    -------
    pandas.DataFrame
        :data:`OUTLIER_COLUMNS`, sorted by study, subject and measure: the value, the cohort's
        median and scale (the robust sd), ``z`` (signed) and ``n`` (subjects with the measure).
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    if min_subjects < 3:
        raise ValueError(f"min_subjects must be at least 3, got {min_subjects}")
    missing = {"study", "subject", "measure", "value"} - set(measures.columns)
    if missing:
        raise ValueError(f"measures lack the column(s) {sorted(missing)}")
    table = measures.assign(value=pd.to_numeric(measures["value"], errors="coerce"))
    if "unit" not in table:
        table = table.assign(unit="")
    table = table[np.isfinite(table["value"].to_numpy(dtype=float))]
    rows = []
    for (study, measure), group in table.groupby(["study", "measure"], sort=True):
        values = group["value"].to_numpy(dtype=float)
        median, scale = _location_scale(values)
        if scale == 0.0 or len(values) < min_subjects:
            continue
        z = (values - median) / scale
        for row, score in zip(group.itertuples(index=False), z, strict=True):
            if abs(score) > threshold:
                rows.append(
                    {
                        "study": study,
                        "subject": str(row.subject),
                        "measure": measure,
                        "value": float(row.value),
                        "unit": "" if pd.isna(row.unit) else str(row.unit),
                        "median": median,
                        "scale": scale,
                        "z": float(score),
                        "n": len(values),
                    }
                )
    out = pd.DataFrame(rows, columns=list(OUTLIER_COLUMNS))
    return out.sort_values(["study", "subject", "measure"], kind="stable").reset_index(drop=True)


def _failed_frame(failed: pd.DataFrame | None) -> pd.DataFrame:
    if failed is None:
        return pd.DataFrame(columns=list(FAILED_COLUMNS))
    missing = set(FAILED_COLUMNS) - set(failed.columns)
    if missing:
        raise ValueError(f"failed lacks the column(s) {sorted(missing)}")
    return failed[list(FAILED_COLUMNS)].astype(str)


def flags_payload(
    outliers: pd.DataFrame,
    failed: pd.DataFrame | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    """The flags as one JSON-able object: ``{"threshold": t, "studies": {study: {subject:
    {"outliers": [...], "failed": [...]}}}}`` (outlier entries: measure, value, unit, median,
    z; failed entries: stage, log)."""
    studies: dict[str, dict[str, dict[str, list]]] = {}

    def entry(study: str, subject: str) -> dict[str, list]:
        return studies.setdefault(study, {}).setdefault(subject, {"outliers": [], "failed": []})

    for row in outliers.itertuples(index=False):
        entry(str(row.study), str(row.subject))["outliers"].append(
            {
                "measure": str(row.measure),
                "value": float(row.value),
                "unit": "" if pd.isna(row.unit) else str(row.unit),
                "median": float(row.median),
                "z": round(float(row.z), 2),
            }
        )
    for row in _failed_frame(failed).itertuples(index=False):
        entry(row.study, row.subject)["failed"].append({"stage": row.stage, "log": row.log})
    return {"threshold": float(threshold), "studies": studies}


def write_flags(
    path: PathLike,
    outliers: pd.DataFrame,
    failed: pd.DataFrame | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Path:
    """Write ``flags.js`` (``window.QMRFLOW_QC_FLAGS = {...};``), which every page and the
    index load to show their flags.

    Parameters
    ----------
    path
        The script (:func:`flags_path`).
    outliers
        :func:`cohort_outliers`'s table (or ``outliers.tsv`` read back).
    failed
        Failed jobs: :data:`FAILED_COLUMNS` (``study``, ``subject``, ``stage`` = the rule,
        ``log`` = its log's path); None or empty when nothing failed.
    threshold
        The threshold the outliers were found with (shown on the pages).
    """
    payload = json.dumps(
        flags_payload(outliers, failed, threshold), indent=1, sort_keys=True, allow_nan=False
    )
    with atomic_output(path) as tmp:
        tmp.write_text(
            "// qmrflow QC flags: written by the index rule and by `qmrflow status`.\n"
            f"window.QMRFLOW_QC_FLAGS = {payload};\n"
        )
    return Path(path)


def _text(column: pd.Series) -> pd.Series:
    """A column read back from a TSV as text, empty cells (read as NaN) as ``""``."""
    return column.astype(object).where(column.notna(), "").astype(str)


def update_flags(
    results: PathLike, failed: pd.DataFrame | None = None, threshold: float = DEFAULT_THRESHOLD
) -> Path:
    """Rewrite ``<results>/qc/flags.js`` with the outliers of the last index run
    (``outliers.tsv``, none when it is absent) and ``failed`` jobs (what ``qmrflow status``
    calls: every page and the index then show the failed jobs without rebuilding them).

    Parameters
    ----------
    results
        The results folder.
    failed
        :data:`FAILED_COLUMNS`; None or empty when nothing failed.
    threshold
        The outlier threshold of the run (config ``qc.outlier_threshold``).
    """
    table = outliers_path(results)
    if table.is_file():
        # text stays text (a label such as 001 is not a number)
        outliers = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
        for column in ("value", "median", "scale", "z", "n"):
            outliers[column] = pd.to_numeric(outliers[column])
    else:
        outliers = pd.DataFrame(columns=list(OUTLIER_COLUMNS))
    return write_flags(flags_path(results), outliers, failed, threshold)


# ------------------------------------------------------------------------------------- HTML
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
nav a { margin-right: 1em; }
figure { margin: 0.8em 0 1.6em 0; } figure img { max-width: 100%; height: auto; }
figure img.animation { width: 480px; }
figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0 1em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.outlier td { background: #fde2e1; }
.flags { padding: 0.5em 0.8em; border-radius: 4px; margin: 0.5em 0 1em 0; }
.flags.ok { background: #e3f4e4; } .flags.flagged { background: #fde2e1; }
.flags.unknown { background: #eee; }
.flags ul { margin: 0.2em 0; padding-left: 1.2em; }
.muted { color: #666; font-size: 0.9em; }
"""

# The flags of one subject as list items (textContent only: nothing of the data is parsed).
_FLAGS_SCRIPT = """
function qmrflowFlagItems(flags, threshold) {
  var items = [];
  (flags.failed || []).forEach(function (f) {
    items.push("failed: " + f.stage + " (log: " + f.log + ")");
  });
  (flags.outliers || []).forEach(function (o) {
    items.push("outlier: " + o.measure + " = " + Number(o.value).toPrecision(4) +
      (o.unit && o.unit !== "1" ? " " + o.unit : "") + " (robust z " + o.z +
      ", cohort median " + Number(o.median).toPrecision(4) + ", |z| > " + threshold + ")");
  });
  return items;
}
function qmrflowShowFlags(box, flags, threshold, short) {
  var items = qmrflowFlagItems(flags, threshold);
  box.replaceChildren();
  box.classList.remove("ok", "flagged", "unknown");
  box.classList.add(items.length ? "flagged" : "ok");
  if (!items.length) { box.textContent = "no flags"; return; }
  if (short) {
    var outliers = (flags.outliers || []).length, failed = (flags.failed || []).length;
    var parts = [];
    if (failed) parts.push(failed + " failed");
    if (outliers) parts.push(outliers + " outlier" + (outliers > 1 ? "s" : "") + ": " +
      flags.outliers.map(function (o) { return o.measure; }).join(", "));
    box.textContent = parts.join("; ");
    return;
  }
  var list = document.createElement("ul");
  items.forEach(function (text) {
    var li = document.createElement("li"); li.textContent = text; list.appendChild(li);
  });
  box.appendChild(list);
}
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>$style</style>
</head>
<body data-study="$study" data-subject="$subject">
<p class="muted"><a href="$index">QC index</a> &middot; study $study</p>
<h1>$title</h1>
<h2 id="flags">Flags</h2>
<div id="qc-flags" class="flags unknown">Flags are shown with JavaScript from
<code>$flags</code> (written by the group QC rule); the index lists them too.</div>
<nav>$nav</nav>
$sections
<section id="measures">
<h2>Measures</h2>
<p class="muted">Compared with the study's other subjects for the flags (robust z-score).
Source tables: $sources</p>
$measures
</section>
<p class="muted">qmrflow $version &middot; images downsampled; no image volumes on this page.</p>
<script src="$flags"></script>
<script>$script
(function () {
  var data = window.QMRFLOW_QC_FLAGS, body = document.body;
  var box = document.getElementById("qc-flags");
  if (!data) {
    box.textContent = "Cohort flags not found ($flags is written by the group QC rule).";
    return;
  }
  var flags = ((data.studies || {})[body.dataset.study] || {})[body.dataset.subject] || {};
  qmrflowShowFlags(box, flags, data.threshold, false);
  var flagged = {};
  (flags.outliers || []).forEach(function (o) { flagged[o.measure] = true; });
  document.querySelectorAll("tr[data-measure]").forEach(function (row) {
    if (flagged[row.dataset.measure]) row.classList.add("outlier");
  });
})();
</script>
</body>
</html>
""")

_INDEX = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>qmrflow QC</title>
<style>$style</style>
</head>
<body>
<h1>qmrflow QC: every subject's page</h1>
<p>$summary Outliers: a measure whose robust z-score against its study's other subjects
exceeds <span id="qc-threshold">$threshold</span> in absolute value.</p>
<div id="qc-failed">$failed</div>
$studies
<script src="flags.js"></script>
<script>$script
(function () {
  var data = window.QMRFLOW_QC_FLAGS;
  if (!data) return;
  document.getElementById("qc-threshold").textContent = data.threshold;
  document.querySelectorAll("tr[data-subject]").forEach(function (row) {
    var flags = ((data.studies || {})[row.dataset.study] || {})[row.dataset.subject] || {};
    qmrflowShowFlags(row.querySelector(".flags"), flags, data.threshold, true);
  });
  var failed = [];
  Object.keys(data.studies || {}).sort().forEach(function (study) {
    Object.keys(data.studies[study]).sort().forEach(function (subject) {
      (data.studies[study][subject].failed || []).forEach(function (f) {
        failed.push(study + " sub-" + subject + ": " + f.stage + " (log: " + f.log + ")");
      });
    });
  });
  var box = document.getElementById("qc-failed");
  box.replaceChildren();
  if (!failed.length) return;
  var title = document.createElement("h2"); title.textContent = "Failed jobs";
  var list = document.createElement("ul");
  failed.forEach(function (text) {
    var li = document.createElement("li"); li.textContent = text; list.appendChild(li);
  });
  box.appendChild(title); box.appendChild(list);
})();
</script>
</body>
</html>
""")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _format(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "n/a" if not np.isfinite(value) else f"{float(value):.4g}"
    return "n/a" if value is None or value is pd.NA else str(value)


def _table_html(frame: pd.DataFrame, row_key: str | None = None) -> str:
    """A plain HTML table, every cell escaped; numbers right-aligned, 4 significant digits."""
    head = "".join(f"<th>{_e(column)}</th>" for column in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for value in record:
            numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool | np.bool_
            )
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{_e(_format(value))}</td>")
        key = ""
        if row_key is not None:
            key = f' data-measure="{_e(getattr(record, row_key))}"'
        rows.append(f"<tr{key}>{''.join(cells)}</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _anchor(index: int) -> str:
    return f"section-{index + 1}"


def _section_html(section: QCSection, index: int) -> str:
    parts = [f'<section id="{_anchor(index)}">', f"<h2>{_e(section.title)}</h2>"]
    if section.text:
        parts.append(f"<p>{_e(section.text)}</p>")
    for image in section.images:
        caption = f"<strong>{_e(image.title)}</strong>"
        if image.caption:
            caption += f" {_e(image.caption)}"
        css = ' class="animation"' if image.mime == "image/gif" else ""
        parts.append(
            f'<figure><img{css} src="{image.uri}" alt="{_e(image.title)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    for table in section.tables:
        parts.append(f"<h3>{_e(table.title)}</h3>")
        if table.caption:
            parts.append(f'<p class="muted">{_e(table.caption)}</p>')
        parts.append(_table_html(table.frame))
    parts.append("</section>")
    return "\n".join(parts)


def _relative(target: PathLike, start: PathLike) -> str:
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()


def render_subject_page(qc: SubjectQC, page: PathLike) -> str:
    """A subject's page as HTML (links relative to ``page``, where it will be written)."""
    from qmrflow import __version__

    folder = Path(page).parent
    nav = " ".join(
        f'<a href="#{_anchor(i)}">{_e(section.title)}</a>' for i, section in enumerate(qc.sections)
    )
    nav += ' <a href="#measures">Measures</a>'
    sources = ", ".join(
        f'<a href="{_e(_relative(path, folder))}">{_e(label)}</a>'
        for label, path in qc.sources.items()
    )
    measures = qc.measures[list(MEASURE_COLUMNS)]
    return _PAGE.substitute(
        title=_e(f"sub-{qc.subject} ({qc.study})"),
        style=_STYLE,
        study=_e(qc.study),
        subject=_e(qc.subject),
        index="../index.html",
        flags="../flags.js",
        nav=nav,
        sections="\n".join(_section_html(s, i) for i, s in enumerate(qc.sections)),
        sources=sources or "none",
        measures=_table_html(measures, row_key="measure") if len(measures) else "<p>none</p>",
        version=_e(__version__),
        script=_FLAGS_SCRIPT,
    )


def write_page(qc: SubjectQC, page: PathLike) -> Path:
    """Write a subject's page (atomically)."""
    text = render_subject_page(qc, page)
    with atomic_output(page) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("sub-%s (%s): QC page of %d kB", qc.subject, qc.study, len(text.encode()) // 1024)
    return Path(page)


def write_subject_page(
    study: str,
    subject: str,
    *,
    inputs: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    page: PathLike,
    measures: PathLike,
) -> SubjectQC:
    """Build one subject's page with its study's ``qc.subject_qc`` and write it and its
    measures (the per-subject rule's job).

    Parameters
    ----------
    study, subject
        The study (``qmrflow.studies.<study>.qc`` draws the page) and the participant label.
    inputs
        The subject's files the study's page shows (keys: the study's ``subject_qc``).
    options
        The study's page settings (keyword arguments of its ``subject_qc``).
    page, measures
        The HTML page and the measures TSV to write.
    """
    module = importlib.import_module(f"qmrflow.studies.{study}.qc")
    qc = module.subject_qc(subject, inputs, **dict(options or {}))
    if (qc.study, qc.subject) != (study, subject):
        raise ValueError(f"{study}.qc.subject_qc returned the page of {qc.study} sub-{qc.subject}")
    write_page(qc, page)
    write_tsv(qc.measures[list(MEASURE_COLUMNS)], measures)
    return qc


def _flag_text(outliers: pd.DataFrame, failed: pd.DataFrame) -> str:
    parts = []
    if len(failed):
        parts.append(f"{len(failed)} failed")
    if len(outliers):
        plural = "s" if len(outliers) > 1 else ""
        parts.append(f"{len(outliers)} outlier{plural}: " + ", ".join(outliers["measure"]))
    return "; ".join(parts) or "no flags"


def render_index(
    pages: Mapping[str, Mapping[str, PathLike]],
    outliers: pd.DataFrame,
    failed: pd.DataFrame | None = None,
    *,
    index: PathLike,
    threshold: float = DEFAULT_THRESHOLD,
    min_subjects: int = MIN_SUBJECTS,
) -> str:
    """The index as HTML: per study, its subjects, their flags and links to their pages.

    Parameters
    ----------
    pages
        Study -> subject -> its page, in the order listed.
    outliers, failed
        The flags when the index is written (``flags.js``, when present, replaces them).
    index
        Where the index will be written (links are relative to it).
    threshold, min_subjects
        The settings the outliers were found with (:func:`cohort_outliers`).
    """
    failed = _failed_frame(failed)
    n_pages = sum(len(subjects) for subjects in pages.values())
    blocks = []
    for study, subjects in pages.items():
        rows = []
        for subject, page in subjects.items():
            mine = outliers[(outliers["study"] == study) & (outliers["subject"] == subject)]
            theirs = failed[(failed["study"] == study) & (failed["subject"] == subject)]
            css = "flagged" if len(mine) or len(theirs) else "ok"
            rows.append(
                f'<tr data-study="{_e(study)}" data-subject="{_e(subject)}">'
                f'<td><a href="{_e(_relative(page, Path(index).parent))}">sub-{_e(subject)}</a>'
                f'</td><td class="flags {css}">{_e(_flag_text(mine, theirs))}</td></tr>'
            )
        flagged = outliers[outliers["study"] == study]["subject"].nunique()
        note = f"{flagged} with outliers"
        if len(subjects) < min_subjects:
            note = f"too few to flag outliers (fewer than {min_subjects})"
        blocks.append(
            f'<section id="{_e(study)}"><h2>{_e(study)}</h2>'
            f'<p class="muted">{len(subjects)} subject page(s), {_e(note)}.</p>\n'
            "<table>\n<tr><th>subject</th><th>flags</th></tr>\n"
            + "\n".join(rows)
            + "\n</table></section>"
        )
    failed_html = ""
    if len(failed):
        items = "".join(
            f"<li>{_e(f'{r.study} sub-{r.subject}: {r.stage} (log: {r.log})')}</li>"
            for r in failed.itertuples(index=False)
        )
        failed_html = f"<h2>Failed jobs</h2><ul>{items}</ul>"
    summary = f"{n_pages} subject page(s) of {len(pages)} stud{'y' if len(pages) == 1 else 'ies'}."
    return _INDEX.substitute(
        style=_STYLE,
        summary=_e(summary),
        threshold=_e(f"{threshold:g}"),
        failed=failed_html,
        studies="\n".join(blocks),
        script=_FLAGS_SCRIPT,
    )


def write_index(
    path: PathLike,
    pages: Mapping[str, Mapping[str, PathLike]],
    outliers: pd.DataFrame,
    failed: pd.DataFrame | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    min_subjects: int = MIN_SUBJECTS,
) -> Path:
    """Write the index (:func:`render_index`) atomically."""
    text = render_index(
        pages, outliers, failed, index=path, threshold=threshold, min_subjects=min_subjects
    )
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_cohort_measures(measures: Mapping[str, Mapping[str, PathLike]]) -> pd.DataFrame:
    """Every subject's measures TSV as one table with ``study`` and ``subject`` columns."""
    tables = [
        read_tsv(path, subject=subject).assign(study=study, subject=subject)
        for study, subjects in measures.items()
        for subject, path in subjects.items()
    ]
    columns = ["study", "subject", *MEASURE_COLUMNS]
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True)
    table["measure"] = table["measure"].astype(str)
    table["unit"] = _text(table["unit"])
    return table[columns]


def index_pages(
    *,
    pages: Mapping[str, Mapping[str, PathLike]],
    measures: Mapping[str, Mapping[str, PathLike]],
    index: PathLike,
    flags: PathLike,
    outliers: PathLike,
    threshold: float = DEFAULT_THRESHOLD,
    min_subjects: int = MIN_SUBJECTS,
) -> pd.DataFrame:
    """The group rule's job: the cohort's outliers, ``flags.js``, ``outliers.tsv`` and the
    index (no failed jobs: the rule runs when every page is there).

    Parameters
    ----------
    pages, measures
        Study -> subject -> the subject's page and its measures TSV.
    index, flags, outliers
        The files to write.
    threshold, min_subjects
        ``|z|`` above which a measure is flagged, and the fewest subjects to flag anyone.

    Returns
    -------
    pandas.DataFrame
        The outliers.
    """
    found = cohort_outliers(read_cohort_measures(measures), threshold, min_subjects)
    write_tsv(found, outliers)
    write_flags(flags, found, None, threshold)
    write_index(index, pages, found, None, threshold, min_subjects)
    logger.info(
        "QC index: %d pages, %d outlying measures of %d subjects (|z| > %g)",
        sum(len(p) for p in pages.values()),
        len(found),
        found[["study", "subject"]].drop_duplicates().shape[0],
        threshold,
    )
    return found


def flag_failed_jobs(
    results: PathLike, failed: pd.DataFrame, threshold: float, studies: Iterable[str]
) -> None:
    """Show the failed jobs on the QC pages and their index (``flags.js``, which every page
    loads). A run whose subject failed never reaches the index rule, so when there is no index
    yet it is written here from the pages on disk (the index rule replaces it once it runs).

    Parameters
    ----------
    results
        The run's results folder.
    failed
        The failed jobs (:data:`FAILED_COLUMNS`), e.g. from ``qmrflow status``; may be empty.
    threshold
        The outlier threshold the index states.
    studies
        The studies of the run (the index lists each).
    """
    if failed.empty and not qc_folder(results).is_dir():
        return
    logger.info("wrote %s", update_flags(results, failed, threshold))
    if not index_path(results).is_file():
        pages = {
            study: {
                page.stem.removeprefix("sub-"): page
                for page in sorted((qc_folder(results) / str(study)).glob("sub-*.html"))
            }
            for study in sorted(set(studies))
        }
        outliers = pd.DataFrame(columns=["study", "subject", "measure"])
        path = write_index(index_path(results), pages, outliers, failed, threshold)
        logger.info("wrote %s", path)
