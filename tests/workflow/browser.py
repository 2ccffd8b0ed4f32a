"""A real browser for the report tests: Debian's headless Chromium, installed when missing.

:func:`show_result` writes a copy of a Snakemake HTML report that opens one of its image results
as a reader's clicks would (Results > category > subcategory > the item: its caption in the side
bar, the image beside it) and, once the browser has decoded the image, reports what the page
shows to the page that holds it. :func:`contact_sheet` puts several such pages in one page, one
below the other, which collects their reports, so that one browser start renders them all.
:func:`render` loads a page in headless Chromium, lets its scripts run (virtual time), and
returns the DOM they left, a screenshot and the page's console messages.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .debian import apt_install

#: Height in pixels of one report in a contact sheet (and its width).
REPORT_SIZE = (1400, 900)

# Snakemake's report (9.x) keeps its React app in the global ``app`` and every result, with
# its embedded data URI, in ``results``; its menu calls ``app.setView`` the same way. What is
# shown goes to the parent page: the decoded image's size and the side bar's text.
_OPEN = """<script>
(function open() {
  if (typeof app === "undefined" || app === undefined) { setTimeout(open, 20); return; }
  const path = %(path)s;
  app.setView({navbarMode: "resultinfo", category: %(category)s, subcategory: %(subcategory)s,
               resultPath: path, content: "img", contentPath: results[path].data_uri});
  (function report() {
    const img = Array.from(document.images).find(i => i.src === results[path].data_uri);
    const nav = document.querySelector("nav");
    if (!img || !img.complete || !nav) { setTimeout(report, 20); return; }
    window.parent.postMessage({name: %(name)s, shown: [img.naturalWidth, img.naturalHeight],
                               text: nav.innerText}, "*");
  })();
})();
</script>
"""

_SHEET = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body {margin: 0} iframe {display: block; border: 0; width: %(width)dpx; height: %(height)dpx}
</style></head><body>
%(frames)s
<script>
window.addEventListener("message", function (event) {
  const pre = document.createElement("pre");
  pre.className = "opened";
  pre.textContent = JSON.stringify(event.data);
  document.body.appendChild(pre);
});
</script>
</body></html>
"""


def chromium() -> str:
    """The ``chromium`` program, installed from Debian's package when missing.

    Raises
    ------
    tests.workflow.debian.PackagesUnavailable
        It is missing and cannot be installed here (the message says why).
    """
    apt_install(("chromium",), ("chromium",), "Chromium")
    return str(shutil.which("chromium"))


def show_result(
    report: Path, page: Path, path: str, category: str, subcategory: str, name: str | None = None
) -> Path:
    """Write ``page``: ``report`` that opens the image result ``path`` when loaded and reports
    it, as ``name`` (default: the category), to the page that holds it."""
    text = report.read_text()
    end = text.rindex("</body>")
    script = _OPEN % {
        key: json.dumps(value)
        for key, value in {
            "path": path,
            "category": category,
            "subcategory": subcategory,
            "name": name or category,
        }.items()
    }
    page.write_text(text[:end] + script + text[end:])
    return page


def contact_sheet(pages: Mapping[str, Path], sheet: Path) -> Path:
    """Write ``sheet``: every page of ``pages`` (made by :func:`show_result`) in a frame of
    :data:`REPORT_SIZE`, one below the other, in order; their reports collected in its DOM."""
    frames = "\n".join(
        f'<iframe title="{html.escape(name)}" src="{page.resolve().as_uri()}"></iframe>'
        for name, page in pages.items()
    )
    width, height = REPORT_SIZE
    sheet.write_text(_SHEET % {"width": width, "height": height, "frames": frames})
    return sheet


def visible_text(markup: str) -> str:
    """The text of HTML ``markup`` without scripts, styles and tags, entities decoded and
    spaces collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@dataclass(frozen=True)
class Rendering:
    """What the browser made of a page."""

    dom: str  #: the DOM after the scripts ran, serialised
    screenshot: Path  #: PNG of the window
    console: list[str]  #: the page's console messages (errors included)

    def opened(self) -> dict[str, dict]:
        """Name -> what a contact sheet's page showed: ``shown``, the decoded image's
        (width, height); ``text``, its side bar's text, spaces collapsed."""
        found = {}
        for match in re.finditer(r'<pre class="opened">(.*?)</pre>', self.dom, re.S):
            item = json.loads(html.unescape(match.group(1)))
            found[item["name"]] = {
                "shown": tuple(item["shown"]),
                "text": " ".join(item["text"].split()),
            }
        return found


def render(
    browser: str,
    page: Path,
    screenshot: Path,
    *,
    size: tuple[int, int] = REPORT_SIZE,
    budget_ms: int = 5000,
    timeout: float = 180,
) -> Rendering:
    """Load ``page`` in headless Chromium, run its scripts for ``budget_ms`` of virtual time,
    then dump the DOM and take a screenshot of a ``size`` window (one browser start)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",  # as root, in a container
                "--disable-gpu",
                "--disable-dev-shm-usage",  # containers' small /dev/shm
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--virtual-time-budget={budget_ms}",
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={screenshot}",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0 or not screenshot.is_file():
        raise RuntimeError(f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}")
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return Rendering(dom=result.stdout, screenshot=screenshot, console=console)
