"""Human renderings of diagnostics and traces. Rendering reads; it never computes a score."""

from __future__ import annotations

from perfrules.reports.html import render_html
from perfrules.reports.markdown import render_markdown
from perfrules.reports.text import (
    diagnostics_json,
    make_console,
    make_progress,
    render_audit,
    render_batch_summary,
    render_diagnostics,
    render_diff,
    render_explain,
    render_score_table,
)

__all__ = [
    "diagnostics_json",
    "make_console",
    "make_progress",
    "render_audit",
    "render_batch_summary",
    "render_diagnostics",
    "render_diff",
    "render_explain",
    "render_html",
    "render_markdown",
    "render_score_table",
]
