"""PDF: the HTML report printed by headless Chromium (A4, the page's own print styles).

Nothing is drawn here: the page is :func:`~perfrules.reports.html.render_html`, and
Chromium, the browser officials' reports are checked in, prints it. Chromium is found on the
``PATH`` (``chromium``, ``chromium-browser``, ``google-chrome``) or named by
``PERFRULES_CHROMIUM``; it runs without network access to anything but the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

from perfrules.errors import Lang, PerfrulesError
from perfrules.reports.html import Edition, render_html
from perfrules.trace import Trace

__all__ = ["PdfError", "chromium", "print_pdf", "render_pdf"]

_NAMES: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_TIMEOUT: Final = 120


class PdfError(PerfrulesError):
    """The PDF could not be printed (no browser, or the browser failed)."""


def chromium() -> str | None:
    """The Chromium to print with, or ``None``."""
    named = os.environ.get("PERFRULES_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def render_pdf(trace: Trace, lang: Lang, edition: Edition = "filing") -> bytes:
    """The report as PDF bytes (A4): the form to file unless *edition* says otherwise."""
    return print_pdf(render_html(trace, lang, edition))


def print_pdf(page_html: str) -> bytes:
    """A self-contained HTML page printed to PDF bytes by headless Chromium."""
    browser = chromium()
    if browser is None:
        msg = (
            "printing PDF needs headless Chromium (Debian: apt-get install chromium); "
            "or set PERFRULES_CHROMIUM to its path"
        )
        raise PdfError(msg)
    with tempfile.TemporaryDirectory(prefix="perfrules-pdf-") as folder:
        page = Path(folder) / "report.html"
        page.write_text(page_html, encoding="utf-8")
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
