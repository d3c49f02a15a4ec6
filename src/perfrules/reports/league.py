"""A league table as a self-contained, printable HTML page (and, through it, PDF).

Everything printed comes from a :class:`~perfrules._outcomes.LeagueTable` built by the
workflow: ranks as published (``=5``), totals, grades, the top-level scores and, against
last year, each unit's movement. Nothing is computed here.
"""

from __future__ import annotations

from html import escape
from typing import Final

from perfrules._messages import ui
from perfrules._outcomes import LeagueTable
from perfrules.errors import Lang
from perfrules.reports._layout import PAGE_CSS

__all__ = ["render_league_html"]

_CSS: Final = (
    """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --up: #2f8132; --down: #b42318; }
"""
    + PAGE_CSS
    + """table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .35rem .5rem; }
th { background: #f0f4f8; text-align: left; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.up { color: var(--up); } td.down { color: var(--down); }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
footer, .aside { color: var(--muted); font-size: .85rem; margin-top: 1rem; }
@page { size: A4; margin: 14mm 12mm; }
@media print { body { margin: 0; max-width: none; padding: 0; font-size: 10pt; } }
"""
)


def _movement_class(movement: str) -> str:
    if movement.startswith("▲"):
        return "num up"
    return "num down" if movement.startswith("▼") else "num"


def render_league_html(table: LeagueTable, lang: Lang) -> str:
    """The league table page: rank, unit, total, grade, the top-level scores, movement."""
    head = [
        escape(table.rank_label or ui("league.rank", lang)),
        escape(ui("league.unit", lang)),
        escape(ui("total", lang)),
        *([escape(ui("grade", lang))] if table.graded else []),
        *(f"{escape(name)} ({escape(weight)})" for _, name, weight in table.columns),
    ]
    if table.movers:
        head += [escape(ui("league.previous", lang)), escape(ui("league.movement", lang))]
    header = "".join(f"<th>{cell}</th>" for cell in head)
    body = []
    for row in table.rows:
        cells = [
            f'<td class="num rank">{escape(row.rank)}</td>',
            f'<td class="unit">{escape(row.unit)}</td>',
            f'<td class="num total">{escape(row.total)}</td>',
            *([f'<td class="grade">{escape(row.grade)}</td>'] if table.graded else []),
            *(f'<td class="num">{escape(score)}</td>' for score in row.scores),
        ]
        if table.movers:
            movement = row.movement or ""
            shown = ui("league.new", lang) if movement == "new" else movement
            cells += [
                f'<td class="num">{escape(row.previous or "—")}</td>',
                f'<td class="{_movement_class(movement)}">{escape(shown)}</td>',
            ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    asides = []
    if table.unranked:
        listed = "; ".join(f"{unit} ({why})" if why else unit for unit, why in table.unranked)
        asides.append(f"{ui('league.failed', lang)}{ui('colon', lang)}{listed}")
    if table.dropped:
        asides.append(f"{ui('league.dropped', lang)}{ui('colon', lang)}{', '.join(table.dropped)}")
    aside = "".join(f'<p class="aside">{escape(text)}</p>' for text in asides)
    ties = f" · {escape(ui('league.ties', lang, ties=table.ties))}" if table.ties else ""
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(table.title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(table.title)}</h1>
<p class="meta">{escape(ui("league.units", lang, n=len(table.rows)))}{ties}</p>
<table id="league">
<thead><tr>{header}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
{aside}
<footer>{escape(table.scheme_id)} · sha256 {escape(table.sha256)}</footer>
</body>
</html>
"""
