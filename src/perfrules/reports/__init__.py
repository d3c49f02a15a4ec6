"""Human renderings of diagnostics and traces. Rendering reads; it never computes a score.

:data:`FORMATS` is the one registry of what ``perfrules score`` can write: one unit's page
(text, JSON, Markdown, HTML, XLSX) or a file of many units' results (CSV, JSONL, XLSX);
the CLI takes its choices, file endings and messages from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfrules._lazy import lazy_exports
from perfrules.errors import Lang
from perfrules.reports._safe import (
    FORMULA_STARTS,
    SIGNED_NUMBER,
    click_text,
    csv_text,
    printable,
    sheet_value,
    text_cells,
)

if TYPE_CHECKING:
    from perfrules.reports._layout import level_headings
    from perfrules.reports._pdf import PdfError, print_pdf, render_pdf
    from perfrules.reports._xlsx import render_league_xlsx, render_xlsx
    from perfrules.reports.html import render_html
    from perfrules.reports.league import render_league_html
    from perfrules.reports.markdown import render_markdown
    from perfrules.reports.sensitivity import (
        render_sensitivity,
        render_sensitivity_html,
        sensitivity_progress,
    )
    from perfrules.reports.text import (
        diagnostics_json,
        make_console,
        make_progress,
        render_audit,
        render_batch_summary,
        render_diagnostics,
        render_diff,
        render_explain,
        render_movers,
        render_score_table,
        render_table_audit,
    )
    from perfrules.trace import Trace

__all__ = [
    "FORMATS",
    "FORMULA_STARTS",
    "SIGNED_NUMBER",
    "OutputFormat",
    "PdfError",
    "click_text",
    "csv_text",
    "diagnostics_json",
    "format_named",
    "level_headings",
    "make_console",
    "make_progress",
    "print_pdf",
    "printable",
    "render_audit",
    "render_batch_summary",
    "render_diagnostics",
    "render_diff",
    "render_explain",
    "render_html",
    "render_league_html",
    "render_league_xlsx",
    "render_markdown",
    "render_movers",
    "render_pdf",
    "render_score_table",
    "render_sensitivity",
    "render_sensitivity_html",
    "render_table_audit",
    "render_xlsx",
    "results_format",
    "sensitivity_progress",
    "sheet_value",
    "text_cells",
]

#: Loaded when first used: a batch writes its cells through ``_safe`` alone, and a command
#: imports the renderer it runs (the console's, rich, only when it draws); the workbook
#: writer needs openpyxl (the ``xlsx`` extra).
_LAZY = {
    "._layout": ("level_headings",),
    "._pdf": ("PdfError", "print_pdf", "render_pdf"),
    "._xlsx": ("render_league_xlsx", "render_xlsx"),
    ".html": ("render_html",),
    ".league": ("render_league_html",),
    ".markdown": ("render_markdown",),
    ".sensitivity": ("render_sensitivity", "render_sensitivity_html", "sensitivity_progress"),
    ".text": (
        "diagnostics_json",
        "make_console",
        "make_progress",
        "render_audit",
        "render_batch_summary",
        "render_diagnostics",
        "render_diff",
        "render_explain",
        "render_movers",
        "render_score_table",
        "render_table_audit",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """One thing ``perfrules score`` can write.

    Attributes:
        name: the ``--format`` value (or, for files of results, the file ending's name).
        suffixes: the ``--out`` endings it is chosen by.
        page: renders one unit's trace as text; ``None`` when the format is not text.
        unit: it renders one unit (``--format``).
        results: it holds many units' results (batch ``--out``).
        extra: the ``pip install 'perfrules[...]'`` extra it needs, if any.
    """

    name: str
    suffixes: tuple[str, ...]
    page: Callable[[Trace, Lang], str] | None = None
    unit: bool = True
    results: bool = False
    extra: str | None = None


def _json(trace: Trace, lang: Lang) -> str:
    del lang  # the trace carries both languages
    return trace.to_json(indent=2)


def _markdown(trace: Trace, lang: Lang) -> str:
    from perfrules.reports.markdown import render_markdown  # noqa: PLC0415 - when it renders

    return render_markdown(trace, lang)


def _html(trace: Trace, lang: Lang) -> str:
    from perfrules.reports.html import render_html  # noqa: PLC0415 - when it renders

    return render_html(trace, lang)


FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat("text", (".txt",)),
    OutputFormat("json", (".json",), _json),
    OutputFormat("markdown", (".md",), _markdown),
    OutputFormat("html", (".html", ".htm"), _html),
    OutputFormat("xlsx", (".xlsx",), results=True, extra="xlsx"),
    OutputFormat("pdf", (".pdf",)),
    OutputFormat("csv", (".csv",), unit=False, results=True),
    OutputFormat("jsonl", (".jsonl",), unit=False, results=True),
    OutputFormat("parquet", (".parquet",), unit=False, results=True, extra="frame"),
)


def format_named(name: str) -> OutputFormat:
    """The format called *name* (a ``--format`` choice)."""
    return next(f for f in FORMATS if f.name == name)


def results_format(path: str) -> OutputFormat | None:
    """The results-file format of *path* by its ending, or ``None``."""
    lowered = path.lower()
    return next(
        (f for f in FORMATS if f.results and lowered.endswith(f.suffixes)),
        None,
    )
