"""A league table: every unit of a batch in ranking order, ready for a renderer to print.

The table is built here, from results the engine computed (totals, grades, ranks as
published: :attr:`~perfrules.trace.Rank.shown`) and, when given, the movement against last
year's results (:func:`~perfrules.workflows.movers`). The renderers (HTML, PDF, XLSX) only
lay the rows out.
"""

from __future__ import annotations

from perfrules._numbers import format_number
from perfrules._outcomes import LeagueRow, LeagueTable, Movers
from perfrules.engine import CompiledScheme
from perfrules.workflows._batch import BatchOutcome

__all__ = ["LeagueTable", "league_table"]


def _movement(change: int | None) -> str:
    if change is None:
        return "—"
    if change > 0:
        return f"▲{change}"
    return f"▼{-change}" if change < 0 else "="


def league_table(
    compiled: CompiledScheme, outcome: BatchOutcome, *, movers: Movers | None = None
) -> LeagueTable:
    """The units of *outcome* as a league table, with their movement when *movers* is given.

    Ranked units come first in ranking order (ties in the order the units were given), then
    units scored but not ranked, by total; units that failed are listed with their problems.
    """
    plan = compiled.plan
    root = plan.nodes[0]
    shown = [plan.nodes[i] for i in root.children]
    columns = tuple((n.id, n.name or n.id, format_number(n.weight)) for n in shown)
    ranked, unranked_rows, unranked = [], [], []
    for position, unit in enumerate(outcome.units):
        result = unit.result
        if result is None:
            codes = ", ".join(sorted({d.code for d in unit.errors}))
            unranked.append((unit.unit, codes))
            continue
        rank = result.rank
        scores = tuple(
            "—" if result.scores.get(n.id) is None else str(result.scores[n.id]) for n in shown
        )
        movement = previous = None
        if movers is not None:
            moved = movers.of(unit.unit)
            if moved is None or moved.old_total is None:
                movement = "new"
            else:
                movement = _movement(moved.rank_change)
                previous = moved.old_rank
        row = LeagueRow(
            "—" if rank is None else rank.shown,
            unit.unit,
            str(result.total),
            result.grade.label,
            scores,
            movement,
            previous,
        )
        if rank is None:
            unranked_rows.append((-result.total_exact, position, row))
            short = None if result.cohort is None else result.cohort.unranked
            if short is not None:  # too little data given: the share it gave, the one asked
                asked = format_number(short.min_available * 100)
                unranked.append((unit.unit, f"{short.given}/{short.of} < {asked}%"))
        else:
            ranked.append((rank.position, position, row))
    ranking = compiled.scheme.ranking
    rows = [row for *_, row in sorted(ranked)] + [row for *_, row in sorted(unranked_rows)]
    return LeagueTable(
        title=compiled.scheme.scheme.title or compiled.id,
        scheme_id=compiled.id,
        sha256=compiled.sha256,
        rank_label=(ranking.label if ranking is not None else "") or "",
        columns=columns,
        rows=tuple(rows),
        ties="" if ranking is None else ranking.ties,
        movers=movers is not None,
        unranked=tuple(unranked),
        dropped=() if movers is None else tuple(m.unit for m in movers.dropped),
        graded=bool(plan.grades) or any(row.grade for row in rows),
    )
