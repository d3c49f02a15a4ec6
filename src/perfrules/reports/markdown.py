"""Markdown rendering of a trace: the report's table, pasteable into a document."""

from __future__ import annotations

from perfrules._messages import ui
from perfrules._numbers import format_number
from perfrules.errors import Lang
from perfrules.reports._layout import (
    cohort_lines,
    counted_legend,
    depth_of,
    gap_lines,
    grade_label,
    graded,
    level_titles,
    score_text,
    table_rows,
    weight_text,
)
from perfrules.reports._safe import markdown_text
from perfrules.trace import Trace


def _cell(text: str) -> str:
    return markdown_text(text)


def _num(value: object, places: int | None = None) -> str:
    from fractions import Fraction  # noqa: PLC0415

    return "—" if not isinstance(value, Fraction) else format_number(value, places)


def render_markdown(trace: Trace, lang: Lang) -> str:
    """The table (levels, weight, target, actual, score), subtotals, total, grade, gap, losses."""
    depth = depth_of(trace)
    header = [
        *level_titles(trace, depth, lang),
        ui("weight", lang),
        ui("target", lang),
        ui("actual", lang),
        ui("score", lang),
    ]
    lines = [f"## {_cell(trace.root.name)}", ""]
    if trace.provenance.unit:
        lines += [f"{ui('unit', lang)}{ui('colon', lang)}{_cell(trace.provenance.unit)}", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * (depth + 3) + "---:|"]
    for row in table_rows(trace, lang):
        node = row.node
        if row.kind == "indicator":
            cells = [*(_cell(t) for t in row.levels), weight_text(node), _cell(node.target)]
            cells += [_cell(node.actual), score_text(node, lang)]
        else:
            places = trace.total_places if row.kind == "total" else node.places
            cells = [f"**{_cell(t)}**" if t else "" for t in row.levels]
            cells += [weight_text(node), "", "", f"**{_num(node.score, places)}**"]
        lines.append("| " + " | ".join(cells) + " |")
    total = _num(trace.total, trace.total_places)
    label = grade_label(trace, lang)
    lines += [f"\n{text}" for text in counted_legend(trace, lang)]
    heading = f"**{ui('total', lang)}**: {total}"
    if graded(trace):  # a rank-only scheme shows its rank below, no grade
        heading += f"　**{ui('grade', lang)}**: {label}"
    lines += ["", heading]
    lines += gap_lines(trace, lang)
    cohort = cohort_lines(trace, lang)
    if cohort:
        lines += ["", *(f"- {_cell(text)}" for text in cohort)]
    losses = trace.losses[:5]  # counted rows only: a row not counted loses nothing
    if losses:
        title = f"{ui('lost', lang)}:" if lang == "en" else f"{ui('lost', lang)}（前 5 项）："
        lines += ["", title]
        lines += [f"- {_cell(n.name)} ({n.id}): {_num(lost, n.places)}" for n, lost in losses]
    return "\n".join(lines) + "\n"
