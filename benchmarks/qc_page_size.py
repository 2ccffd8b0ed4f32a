"""Size of the per-subject QC pages of a results folder, per study (and the seconds per page job).

Usage: python benchmarks/qc_page_size.py [RESULTS]   (default: results)

A page is one HTML file with its images embedded (``<results>/qc/<study>/sub-<id>.html``), so
its size is the page with its images. Prints, per study, the number of pages and the median,
smallest and largest page, the total, and the share of the images in it; with
``--pages`` every page. With the page jobs' benchmarks
(``<results>/benchmarks/write_qc_page/<study>/sub-<id>.tsv``), also their median wall and CPU
seconds (CPU time is the fairer figure on a busy machine).
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
from pathlib import Path

import pandas as pd

from qmrflow.report.qc import qc_folder

logger = logging.getLogger("benchmarks.qc_page_size")

_IMAGE = re.compile(r'src="data:image/[a-z]+;base64,([A-Za-z0-9+/=]*)"')


def _kb(size: float) -> str:
    return f"{size / 1024:.0f} kB"


def page_sizes(results: Path) -> pd.DataFrame:
    """One row per page: study, subject, bytes, bytes of its embedded images, images."""
    rows = []
    for page in sorted(qc_folder(results).glob("*/sub-*.html")):
        text = page.read_text(encoding="utf-8")
        images = _IMAGE.findall(text)
        rows.append(
            {
                "study": page.parent.name,
                "subject": page.stem.removeprefix("sub-"),
                "bytes": page.stat().st_size,
                "image_bytes": sum(len(i) for i in images),
                "images": len(images),
            }
        )
    return pd.DataFrame(rows, columns=["study", "subject", "bytes", "image_bytes", "images"])


def job_seconds(results: Path) -> pd.DataFrame:
    """Wall and CPU seconds of every page job that wrote a benchmark: study, subject, seconds,
    cpu_seconds."""
    rows = []
    for path in sorted((results / "benchmarks" / "write_qc_page").glob("*/sub-*.tsv")):
        record = pd.read_csv(path, sep="\t").iloc[0]
        rows.append(
            {
                "study": path.parent.name,
                "subject": path.stem[4:],
                "seconds": float(record["s"]),
                "cpu_seconds": float(record["cpu_time"]),
            }
        )
    return pd.DataFrame(rows, columns=["study", "subject", "seconds", "cpu_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=Path("results"))
    parser.add_argument("--pages", action="store_true", help="print every page's size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sizes = page_sizes(args.results)
    if sizes.empty:
        raise SystemExit(f"no QC pages under {qc_folder(args.results)}")
    seconds = job_seconds(args.results)
    for study, pages in sizes.groupby("study", sort=False):
        timing = seconds[seconds["study"] == study]
        logger.info(
            "%-10s %3d pages: median %s (smallest %s, largest %s), total %s; images %.0f%% "
            "(%d a page)%s",
            study,
            len(pages),
            _kb(statistics.median(pages["bytes"])),
            _kb(pages["bytes"].min()),
            _kb(pages["bytes"].max()),
            _kb(pages["bytes"].sum()),
            100 * pages["image_bytes"].sum() / pages["bytes"].sum(),
            int(pages["images"].median()),
            (
                f"; page job median {timing['seconds'].median():.1f} s wall, "
                f"{timing['cpu_seconds'].median():.1f} s CPU"
            )
            if len(timing)
            else "",
        )
        if args.pages:
            for row in pages.itertuples(index=False):
                logger.info("    sub-%s: %s", row.subject, _kb(row.bytes))
    logger.info(
        "all       %3d pages: total %s, median %s",
        len(sizes),
        _kb(sizes["bytes"].sum()),
        _kb(statistics.median(sizes["bytes"])),
    )
    index = qc_folder(args.results) / "index.html"
    if index.is_file():
        logger.info(
            "index.html %s, flags.js %s",
            _kb(index.stat().st_size),
            _kb((qc_folder(args.results) / "flags.js").stat().st_size),
        )


if __name__ == "__main__":
    main()
