"""A self-contained, printable HTML report of one trace.

One file, no network: inline CSS, an inline SVG bar chart of score against weight for every
group and indicator, the report's table with each indicator's step-by-step explanation
folded under its row (``<details>``), the total, the grade, the gap to the next band and the
fewest rows that would close it. Everything shown is read from the trace; only widths of
bars are derived from it, for drawing.
"""

from __future__ import annotations

from fractions import Fraction
from html import escape
from typing import Final, Literal

from perfrules._messages import ui
from perfrules._numbers import ROUNDING, format_number, format_short
from perfrules.errors import Lang
from perfrules.reports._layout import (
    PAGE_CSS,
    cohort_lines,
    counted_legend,
    depth_of,
    gap_text,
    grade_label,
    graded,
    level_cells,
    level_titles,
    score_text,
    table_rows,
    weight_text,
)
from perfrules.trace import NodeTrace, Trace

__all__ = ["EDITIONS", "Edition", "render_html"]

#: The page to file (the form: no analysis aids, pages numbered) or to analyse.
Edition = Literal["filing", "analysis"]
EDITIONS: Final[tuple[Edition, ...]] = ("filing", "analysis")

_CSS = (
    """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bar: #3e7cb1; --lost: #f0b429; }
* { box-sizing: border-box; }
"""
    + PAGE_CSS
    + """.headline { display: flex; gap: 2rem; align-items: baseline; margin: 1rem 0; }
.total { font-size: 2.4rem; font-weight: 700; }
.grade { font-size: 1.6rem; font-weight: 700; color: var(--bar); white-space: nowrap; }
.gap { color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .35rem .5rem; vertical-align: top; }
th { background: #f0f4f8; text-align: left; }
th.level, td.level { min-width: 6.5em; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.subtotal td, tr.grand td { font-weight: 700; background: #f8fafc; }
details { font-size: .82rem; color: var(--muted); }
details pre { white-space: pre-wrap; margin: .3rem 0; font-family: inherit; }
svg text { font-size: 12px; fill: var(--ink); }
th { white-space: nowrap; }
tr.subtotal td { white-space: nowrap; }
thead { display: table-header-group; }
.signatures { display: grid; grid-template-columns: repeat(3, 1fr); gap: .8rem 2rem;
              margin-top: 1.6rem; font-size: .95rem; }
.signatures span { display: inline-block; min-width: 8em; border-bottom: 1px solid var(--ink); }
footer { color: var(--muted); font-size: .8rem; margin-top: 2rem; }
details.provenance pre { font-size: .75rem; }
.meta span + span { margin-left: 2em; }
tr.grade-row td { font-weight: 700; }
td.reason { min-width: 8em; }
@media print {
  details { display: none; }
  body { margin: 0; max-width: none; padding: 0; font-size: 10.5pt; }
  a { color: inherit; }
  #chart { display: none; }
  td:not([rowspan]), .headline, .signatures { break-inside: avoid; page-break-inside: avoid; }
  table { font-size: 9pt; }
  th, td { padding: .2rem .4rem; }
  .headline { margin: .4rem 0; }
  .total { font-size: 1.8rem; }
  .signatures { margin-top: 1rem; }
}
"""
)

_SCRIPT = """
(function () {
  var chart = document.getElementById("chart");
  var box = chart ? chart.getBoundingClientRect() : {width: 0, height: 0};
  document.body.setAttribute("data-chart-visible", box.width > 0 && box.height > 0 ? "yes" : "no");
})();
"""


def _num(value: Fraction | None, places: int | None = None) -> str:
    return "—" if value is None else format_number(value, places)


def _chart(trace: Trace, lang: Lang) -> str:
    rows = [n for n in trace.root.walk() if n.kind != "scheme"]
    width, label_width, row_height = 900, 260, 22
    bar_width = width - label_width - 90
    height = row_height * len(rows) + 10
    biggest = max((n.weight for n in rows), default=Fraction(1)) or Fraction(1)
    label = f"{escape(ui('score', lang))} / {escape(ui('weight', lang))}"
    parts = [f'<svg id="chart" role="img" viewBox="0 0 {width} {height}" aria-label="{label}">']
    for i, node in enumerate(rows):
        y = 5 + i * row_height
        full = float(node.weight / biggest * bar_width)  # float-ok: pixels, not a score
        got = float((node.score or 0) / biggest * bar_width)  # float-ok: pixels
        indent = 12 * (node.depth - 1)
        # A long name (a sentence, in real forms) would run into the bars: the id is short.
        name = node.name if len(node.name) <= 18 else node.id
        weight_text = "700" if node.kind == "group" else "400"
        parts.append(
            f'<text x="{indent}" y="{y + 14}" font-weight="{weight_text}">{escape(name)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{full:.1f}" height="14" '
            f'fill="var(--lost)" opacity="0.35">'
            f"<title>{escape(node.id)}: {_num(node.weight)}</title></rect>"
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{got:.1f}" height="14" '
            f'fill="var(--bar)"><title>{escape(node.id)}: {_num(node.score, node.places)}'
            f"</title></rect>"
            f'<text x="{label_width + full + 6:.1f}" y="{y + 14}">{_num(node.score, node.places)}'
            f" / {_num(node.weight)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _value(value: object) -> str:
    if value is None:
        return "—"
    return format_short(value) if isinstance(value, Fraction) else str(value)


def _explanation(node: NodeTrace, lang: Lang) -> str:
    lines = []
    if node.formula:
        lines.append(f"{ui('formula', lang)}: {node.formula}")
    if node.inputs:
        shown = "; ".join(
            f"{i.name} = {_value(i.value)}"
            + (f" ({i.text})" if i.text and i.source != "weight" else "")
            for i in node.inputs
        )
        lines.append(f"{ui('inputs', lang)}: {shown}")
    lines += [str(step) for step in node.steps]
    for r in node.roundings:
        mode = ROUNDING[r.mode].zh if lang == "zh" else ROUNDING[r.mode].en
        rounded = ui("rounded", lang, mode=mode, mode_zh=mode, places=r.places)
        lines.append(f"{rounded}: {format_short(r.before)} → {format_number(r.after, r.places)}")
    lines += [note.text(lang) for note in node.notes]
    lines += [f"{key}: {at}" for key, at in node.sources]
    body = escape("\n".join(lines))
    summary = ui("steps", lang)
    return f"<details><summary>{escape(summary)}</summary><pre>{body}</pre></details>"


def _table(trace: Trace, lang: Lang) -> str:
    depth = depth_of(trace)
    titles = level_titles(trace, depth, lang)
    heads = [f'<th class="level">{escape(h)}</th>' for h in titles]
    heads += [
        f"<th>{escape(ui(key, lang))}</th>"
        for key in ("form.weight", "form.target", "form.actual", "form.score")
    ]
    heads.append(f'<th class="reason">{escape(ui("form.reason", lang))}</th>')
    out = ["<table><thead><tr>", *heads, "</tr></thead><tbody>"]
    rows = table_rows(trace, lang)
    provenance = trace.provenance
    for row, cells in zip(rows, level_cells(trace, rows), strict=True):
        node = row.node
        levels = []
        for cell in cells:
            body = escape(cell.text)
            if row.kind == "indicator" and cell is cells[-1]:
                body += _explanation(node, lang)
            spans = (f' rowspan="{cell.rows}"' if cell.rows > 1 else "") + (
                f' colspan="{cell.columns}"' if cell.columns > 1 else ""
            )
            levels.append(f'<td class="level"{spans}>{body}</td>')
        if row.kind == "indicator":
            out.append(
                f"<tr>{''.join(levels)}"
                f'<td class="num">{escape(weight_text(node))}</td><td>{escape(node.target)}</td>'
                f"<td>{escape(node.actual)}</td>"
                f'<td class="num">{escape(score_text(node, lang))}</td>'
                f'<td class="reason">{escape(provenance.reason(node.id))}</td></tr>'
            )
            continue
        total = row.kind == "total"
        places = trace.total_places if total else node.places
        cell_id = ' id="total-cell"' if total else ""
        out.append(
            f'<tr class="{"grand" if total else "subtotal"}">{"".join(levels)}'
            f'<td class="num">{escape(weight_text(node))}</td><td></td><td></td>'
            f'<td class="num"{cell_id}>{_num(node.score, places)}</td><td></td></tr>'
        )
    if graded(trace):  # a rank-only scheme has no grade row
        out.append(
            f'<tr class="grade-row"><td colspan="{depth}">{escape(ui("form.grade", lang))}</td>'
            f'<td colspan="5">{escape(grade_label(trace, lang))}</td></tr>'
        )
    out.append("</tbody></table>")
    out += [f'<p class="legend">{escape(text)}</p>' for text in counted_legend(trace, lang)]
    return "".join(out)


def _page_css(lang: Lang, edition: Edition) -> str:
    """The printed page: A4 (landscape for the form to file), numbered 第 x 页 共 y 页."""
    mark = "\x00"
    text = ui("form.page", lang, page=f"{mark}page{mark}", pages=f"{mark}pages{mark}")
    parts = []
    for index, part in enumerate(text.split(mark)):
        if index % 2:
            parts.append(f"counter({part})")
        elif part:
            parts.append('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"')
    size = "A4 landscape" if edition == "filing" else "A4"
    return (
        f"@page {{ size: {size}; margin: 12mm 12mm 16mm;"
        f" @bottom-center {{ content: {' '.join(parts)}; font-size: 9pt; color: #616e7c; }} }}"
    )


def render_html(trace: Trace, lang: Lang, edition: Edition = "analysis") -> str:
    """The whole page: the *edition* to file (the form, numbered pages) or to analyse.

    The analysis edition adds what helps to read the score (the chart, the gap to the next
    band and the rows that would close it); the form to file has none of it.
    """
    label = grade_label(trace, lang)
    gap = gap_text(trace, lang)
    analysis = edition == "analysis"
    gap_block = f'\n  <div class="gap" id="gap">{escape(gap)}</div>' if analysis and gap else ""
    grade_block = (
        f'\n  <div><div class="meta">{escape(ui("grade", lang))}</div>\n'
        f'    <div class="grade" id="grade">{escape(label)}</div></div>'
        if graded(trace)
        else ""  # rank-only: the rank is in the cohort list below
    )
    chart = _chart(trace, lang) if analysis else ""
    cohort_items = "".join(f"<li>{escape(text)}</li>" for text in cohort_lines(trace, lang))
    cohort = f'<ul class="cohort" id="cohort">{cohort_items}</ul>' if cohort_items else ""
    provenance = trace.provenance
    colon = ui("colon", lang)
    year = "" if provenance.scheme_year is None else str(provenance.scheme_year)
    unit = (
        f'<span id="unit">{escape(ui("form.unit", lang))}{colon}{escape(provenance.unit)}</span>'
        f'<span id="year">{escape(ui("form.year", lang))}{colon}{escape(year)}</span>'
    )
    total = _num(trace.total, trace.total_places)
    footer = escape(
        ui(
            "provenance",
            lang,
            id=provenance.scheme_id,
            version=provenance.scheme_version,
            lib=provenance.perfrules,
        )
    )
    form = dict(provenance.form)  # the facts' [form], where given; blank lines otherwise
    signs = "".join(
        f"<div>{escape(ui(key, lang))}{colon}<span>{escape(value)}</span></div>"
        for key, value in (
            ("form.seal", provenance.unit),
            ("form.filled_by", form.get("filled_by", "")),
            ("form.reviewed_by", form.get("reviewed_by", "")),
            ("form.phone", form.get("phone", "")),
            ("form.date", form.get("date", "")),
        )
    )
    files = "\n".join(f"{name}  sha256 {digest}" for name, digest in provenance.files)
    facts_file, facts_hash = provenance.facts
    details = escape(
        f"scheme sha256 {provenance.scheme_sha256}\n{files}\n"
        f"facts {facts_file or '-'}  sha256 {facts_hash}"
    )
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(trace.root.name)}</title>
<style>{_CSS}{_page_css(lang, edition)}</style>
</head>
<body>
<h1>{escape(trace.root.name)}</h1>
<p class="meta">{unit}</p>
<div class="headline">
  <div><div class="meta">{escape(ui("total", lang))}</div>
    <div class="total" id="total">{total}</div></div>{grade_block}{gap_block}
</div>
{cohort}
{chart}
{_table(trace, lang)}
<div class="signatures" id="signatures">{signs}</div>
<footer>{footer}
<details class="provenance"><summary>{escape(ui("form.provenance", lang))}</summary>
<pre>{details}</pre></details></footer>
<script>{_SCRIPT}</script>
</body>
</html>
"""
