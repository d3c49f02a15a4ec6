"""PDF: the HTML report printed by headless Chromium (A4, the page's own print styles).

Nothing is drawn here: the page is :func:`~perfrules.reports.html.render_html`, and
Chromium, the browser officials' reports are checked in, prints it. Chromium is found on the
``PATH`` (``chromium``, ``chromium-browser``, ``google-chrome``) or named by
``PERFRULES_CHROMIUM``; it runs without network access to anything but the file.

A browser prints a merged (``rowspan``) cell once, on the page where it starts: a level
cell (产出指标, 数量…) continued on the next page would leave that page's rows without
their level. Before printing, :data:`_REPEAT_LEVELS` lays the page out as it will print
(the page's own print styles, its ``@page`` size and margins), finds the row each new page
starts with, and there splits every merged cell that goes on: the page starts on that row
(a forced break) and the cell's name stands again at its top.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from html import escape
from pathlib import Path
from typing import Final

from perfrules._messages import ui
from perfrules.errors import Lang, PerfrulesError
from perfrules.reports.html import Edition, render_html
from perfrules.trace import Trace

__all__ = [
    "MAX_PDF_PAGE",
    "MAX_PDF_ROWS",
    "MAX_PDF_TEXT",
    "PdfError",
    "chromium",
    "print_pdf",
    "render_pdf",
]

_NAMES: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_TIMEOUT: Final = 120

#: Rows (groups and indicators) a PDF prints: a larger report is refused before Chromium
#: starts (9,000 rows took 29 s to 63 s here; 1,000 take about 8 s). HTML has no such limit.
MAX_PDF_ROWS: Final = 1_000
#: Characters of one text printed whole: a longer one (a unit's name, a note) is cut with an
#: ellipsis and the page says so (a name of 900,000 characters kept Chromium for minutes).
MAX_PDF_TEXT: Final = 2_000
#: Characters of the whole page after the cuts: a larger page is refused.
MAX_PDF_PAGE: Final = 600_000


#: Run in the page before it prints (see the module's docstring). Rows never split (the
#: print styles keep a cell whole), the header row repeats on every page, and a page is
#: taken as 2 px shorter than it is, so that rounding cannot make the browser break first.
_REPEAT_LEVELS: Final = """
(function () {
  var table = document.querySelector("table");
  if (!table || !table.tBodies.length || !table.tHead) { return; }
  var pageRule = null;
  for (var s = 0; s < document.styleSheets.length; s++) {
    var rules = document.styleSheets[s].cssRules;
    for (var r = 0; r < rules.length; r++) {
      var rule = rules[r];
      if (rule.media && rule.media.mediaText.indexOf("print") >= 0) {
        rule.media.appendMedium("screen");  // lay out as printed
      }
      if (rule.type === CSSRule.PAGE_RULE) { pageRule = rule; }
    }
  }
  var sizes = {a4: [210, 297], a3: [297, 420], a5: [148, 210], letter: [215.9, 279.4]};
  var size = ((pageRule && pageRule.style.getPropertyValue("size")) || "A4").toLowerCase();
  var paper = sizes[size.split(" ")[0]] || sizes.a4;
  if (size.indexOf("landscape") >= 0) { paper = [paper[1], paper[0]]; }
  function margin(side) {
    var text = pageRule ? pageRule.style.getPropertyValue("margin-" + side) : "";
    return text.slice(-2) === "mm" ? parseFloat(text) : 0;
  }
  var probe = document.createElement("div");
  probe.style.cssText = "position:absolute;width:100mm;height:100mm;visibility:hidden";
  document.body.appendChild(probe);
  var mm = probe.getBoundingClientRect().height / 100;
  document.body.removeChild(probe);
  document.documentElement.style.width = (paper[0] - margin("left") - margin("right")) + "mm";
  var pageHeight = (paper[1] - margin("top") - margin("bottom")) * mm - 2;
  var body = table.tBodies[0];
  var breaks = [];

  function grid() {
    var taken = [], cells = [];
    for (var r = 0; r < body.rows.length; r++) {
      var column = 0, row = body.rows[r];
      for (var c = 0; c < row.cells.length; c++) {
        var cell = row.cells[c];
        while (taken[r] && taken[r][column]) { column++; }
        for (var dr = 0; dr < cell.rowSpan; dr++) {
          taken[r + dr] = taken[r + dr] || [];
          for (var dc = 0; dc < cell.colSpan; dc++) { taken[r + dr][column + dc] = true; }
        }
        cells.push({cell: cell, row: r, column: column});
        column += cell.colSpan;
      }
    }
    return cells;
  }

  function overflowing() {
    var head = table.tHead.getBoundingClientRect().height;
    var end = pageHeight;  // page 1 starts where the document does
    for (var r = 0; r < body.rows.length; r++) {
      var box = body.rows[r].getBoundingClientRect();
      var top = box.top + window.scrollY, bottom = box.bottom + window.scrollY;
      if (breaks.indexOf(r) >= 0) { end = top - head + pageHeight; continue; }
      if (bottom > end && r > 0) { return r; }
    }
    return -1;
  }

  function split(at) {
    var cells = grid(), row = body.rows[at];
    var own = cells.filter(function (c) { return c.row === at; });
    cells.filter(function (c) { return c.row < at && c.row + c.cell.rowSpan > at; })
      .sort(function (a, b) { return a.column - b.column; })
      .forEach(function (c) {
        var again = c.cell.cloneNode(true);
        again.rowSpan = c.row + c.cell.rowSpan - at;
        again.classList.add("continued");
        c.cell.rowSpan = at - c.row;
        var next = own.filter(function (o) { return o.column > c.column; })[0];
        row.insertBefore(again, next ? next.cell : null);
      });
    row.style.breakBefore = "page";
    breaks.push(at);
  }

  for (var guard = 0; guard < body.rows.length; guard++) {
    var at = overflowing();
    if (at < 0) { break; }
    split(at);
  }
  // Printed, the page is as wide as this (a width set here could only make it shrink).
  document.documentElement.style.width = "";
})();
"""


class PdfError(PerfrulesError):
    """The PDF could not be printed (no browser, or the browser failed)."""


def chromium() -> str | None:
    """The Chromium to print with, or ``None``."""
    named = os.environ.get("PERFRULES_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def render_pdf(trace: Trace, lang: Lang, edition: Edition = "filing") -> bytes:
    """The report as PDF bytes (A4): the form to file unless *edition* says otherwise.

    Raises:
        PdfError: no browser, the browser failed, or the report is past the budgets
            (``MAX_PDF_ROWS``, and those of :func:`print_pdf`).
    """
    rows = sum(1 for node in trace.root.walk() if node.kind != "scheme")
    if rows > MAX_PDF_ROWS:
        msg = (
            f"the report has {rows:,} rows (scheme {trace.provenance.scheme_id}); a PDF "
            f"prints at most {MAX_PDF_ROWS:,}: write it as HTML (--format html) instead"
        )
        raise PdfError(msg)
    html = render_html(trace, lang, edition)
    at = html.rindex("</body>")
    return print_pdf(f"{html[:at]}<script>{_REPEAT_LEVELS}</script>\n{html[at:]}", lang)


def print_pdf(page_html: str, lang: Lang = "en") -> bytes:
    """A self-contained HTML page printed to PDF bytes by headless Chromium.

    Every text over ``MAX_PDF_TEXT`` characters is cut with an ellipsis, and the page says
    so (in *lang*); a page still over ``MAX_PDF_PAGE`` characters is refused before
    Chromium starts.

    Raises:
        PdfError: no browser, the browser failed, or the page is past its budget.
    """
    html = _bounded_page(page_html, lang)
    browser = chromium()
    if browser is None:
        msg = (
            "printing PDF needs headless Chromium (Debian: apt-get install chromium); "
            "or set PERFRULES_CHROMIUM to its path"
        )
        raise PdfError(msg)
    with tempfile.TemporaryDirectory(prefix="perfrules-pdf-") as folder:
        page = Path(folder) / "report.html"
        page.write_text(html, encoding="utf-8")
        target = Path(folder) / "report.pdf"
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            f"--user-data-dir={Path(folder) / 'profile'}",
            "--no-pdf-header-footer",
            "--print-to-pdf-no-header",
            f"--print-to-pdf={target}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(  # noqa: S603 - a browser found on PATH, our own file
                command, capture_output=True, timeout=_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            msg = f"Chromium could not print the page: {exc}"
            raise PdfError(msg) from None
        if not target.is_file() or target.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            msg = f"Chromium printed nothing (exit {done.returncode}): {tail[0]}"
            raise PdfError(msg)
        return target.read_bytes()


_INERT: Final = re.compile(r"(<(style|script)\b[^>]*>.*?</\2>)", re.DOTALL)
_TEXT: Final = re.compile(">([^<]{%d,})<" % (MAX_PDF_TEXT + 1))  # noqa: UP031 - a regex


def _bounded_page(page_html: str, lang: Lang) -> str:
    """The page to print within the budgets: long texts cut and said so, or refused."""
    cut = False

    def shortened(match: re.Match[str]) -> str:
        nonlocal cut
        cut = True
        head = match.group(1)[:MAX_PDF_TEXT]
        entity = head.rfind("&")
        if entity != -1 and ";" not in head[entity:]:  # never half an entity (&amp;)
            head = head[:entity]
        return f">{head}…<"

    # Text runs between tags are the texts (markup in them is escaped); the page's own
    # style and script are left as they are.
    parts = _INERT.split(page_html)
    page = "".join(
        part if i % 3 else _TEXT.sub(shortened, part) for i, part in enumerate(parts) if i % 3 != 2
    )
    if cut:
        note = escape(ui("pdf.cut", lang, limit=f"{MAX_PDF_TEXT:,}"))
        page = page.replace("<body>", f'<body>\n<p class="meta" id="cut">{note}</p>', 1)
    if len(page) > MAX_PDF_PAGE:
        msg = (
            f"the report is {len(page):,} characters long after long texts are cut; a PDF "
            f"prints at most {MAX_PDF_PAGE:,}: write it as HTML (--format html) instead"
        )
        raise PdfError(msg)
    return page
