"""PDF: the HTML report printed by headless Chromium (A4, the page's own print styles).

Nothing is drawn here: the page is :func:`~perfrules.reports.html.render_html`, and
Chromium, the browser officials' reports are checked in, prints it. Chromium is found on the
``PATH`` (``chromium``, ``chromium-browser``, ``google-chrome``) or named by
``PERFRULES_CHROMIUM``; it runs without network access to anything but the file.
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
    return print_pdf(render_html(trace, lang, edition), lang)


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
