"""Terminal output with rich: diagnostics, the score table, step-by-step explanations.

Everything shown comes from a :class:`~perfrules.trace.Trace` or a list of diagnostics;
numbers are only formatted here, never computed. Chinese text is measured by rich as double
width, so tables stay aligned.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from perfrules._messages import ui
from perfrules._numbers import ROUNDING, format_number, format_short
from perfrules.errors import Diagnostic, Lang
from perfrules.reports._layout import (
    cohort_lines,
    counted_legend,
    depth_of,
    gap_lines,
    grade_label,
    graded,
    level_titles,
    not_counted,
    score_text,
    table_rows,
    weight_text,
)
from perfrules.reports._safe import MESSAGE_CHARS, terminal_text
from perfrules.reports._safe import printable as _printable
from perfrules.trace import NodeTrace, Trace

if TYPE_CHECKING:
    from perfrules._outcomes import AuditReport, Change, Movers, TableAudit, WhatIf

#: Characters of one line of a batch's summary: a failed unit's name and its problem.
_SUMMARY_LINE = 2_000
#: Characters of a problem's line shown (a longer line is shown around its column, the
#: cut ends marked): a minified JSON file is one line of any length.
_EXCERPT = 100
#: Of them, those before the column.
_EXCERPT_BEFORE = 40


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A console that honours NO_COLOR and uses the terminal width (at least 100 columns)."""
    console = Console(file=file, stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 140
    return console


def _num(value: Fraction | None, places: int | None = None) -> str:
    return "—" if value is None else format_number(value, places)


# --- diagnostics ----------------------------------------------------------------------
def render_diagnostics(diagnostics: Sequence[Diagnostic], lang: Lang, console: Console) -> None:
    """``file:line:col: error[PRxxx]: message``, the offending line and a caret, then a hint.

    Each is one line however long (never wrapped at the console's width): editors and CI
    logs find a problem by its ``file:line:col:`` line, and a caret under a wrapped line
    would point at the wrong character.
    """
    for d in diagnostics:
        style = "bold red" if d.severity == "error" else "bold yellow"
        where = d.file or "<input>"
        if d.line:
            where += f":{d.line}:{d.column or 1}"
        head = Text()
        head.append(_printable(f"{where}: "), style="bold")
        head.append(_printable(f"{d.severity}[{d.code}]"), style=style)
        head.append(_printable(f": {d.message(lang)}"))
        console.print(head, soft_wrap=True)
        if d.excerpt is not None and d.line:
            gutter = f"  {d.line:>4} | "
            excerpt, column = _line_part(d.excerpt, d.excerpt_column or d.column)
            console.print(terminal_text(gutter + excerpt, style="dim"), soft_wrap=True)
            if column:
                # As wide as what is shown before the column (a control character by name).
                pad = _display_width(gutter + _printable(excerpt[: column - 1]))
                console.print(terminal_text(" " * pad + "^", style=style), soft_wrap=True)
        hint = d.hint_text(lang)
        if hint:
            console.print(terminal_text(f"       = {hint}", style="cyan"), soft_wrap=True)
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    parts = []
    if errors:
        parts.append(ui("n_errors", lang, n=errors))
    if warnings:
        parts.append(ui("n_warnings", lang, n=warnings))
    if parts:
        console.print(terminal_text(", ".join(parts), style="bold"))


def _line_part(excerpt: str, column: int) -> tuple[str, int]:
    """The part of a problem's line shown, and the problem's column in it (0: none).

    A line of at most :data:`_EXCERPT` characters is shown whole; a longer one from
    :data:`_EXCERPT_BEFORE` characters before the column, ``…`` where it is cut.
    """
    if len(excerpt) <= _EXCERPT:
        return excerpt, column
    at = max(column - 1, 0)
    start = max(0, min(at - _EXCERPT_BEFORE, len(excerpt) - _EXCERPT))
    lead = "…" if start else ""
    tail = "…" if start + _EXCERPT < len(excerpt) else ""
    shown = lead + excerpt[start : start + _EXCERPT] + tail
    return shown, (column - start + len(lead)) if column else 0


def _display_width(text: str) -> int:
    from rich.cells import cell_len  # noqa: PLC0415 - small helper, keeps the import local

    return cell_len(text)


def diagnostics_json(diagnostics: Iterable[Diagnostic], lang: Lang) -> str:
    """The ``check --format json`` document: a list of diagnostic objects."""
    return json.dumps([d.to_dict(lang) for d in diagnostics], ensure_ascii=False, indent=2) + "\n"


# --- score table ----------------------------------------------------------------------
def render_score_table(trace: Trace, lang: Lang, console: Console) -> None:
    """The seed's table: one row per indicator under its groups, subtotals, total, grade."""
    depth = depth_of(trace)
    title = trace.root.name
    if trace.provenance.unit:
        title = f"{trace.provenance.unit} — {title}"
    table = Table(title=terminal_text(title), show_lines=False, expand=False)
    for heading in level_titles(trace, depth, lang):
        table.add_column(heading, overflow="fold", max_width=28)
    table.add_column(ui("weight", lang), justify="right", no_wrap=True)
    table.add_column(ui("target", lang), overflow="fold", max_width=30)
    table.add_column(ui("actual", lang), overflow="fold", max_width=24)
    table.add_column(ui("score", lang), justify="right", no_wrap=True)
    for row in table_rows(trace, lang):
        node = row.node
        levels = [terminal_text(text) for text in row.levels]
        if row.kind == "indicator":
            table.add_row(
                *levels,
                weight_text(node),
                terminal_text(node.target),
                terminal_text(node.actual),
                score_text(node, lang),
            )
        else:
            places = trace.total_places if row.kind == "total" else node.places
            table.add_row(
                *levels, weight_text(node), "", "", _num(node.score, places), style="bold"
            )
    console.print(table)
    for text in counted_legend(trace, lang):
        console.print(terminal_text(text), style="dim")
    grade = trace.grade
    line = Text()
    line.append(f"{ui('total', lang)}: ", style="bold")
    line.append(_num(trace.total, trace.total_places), style="bold green")
    if graded(trace):
        line.append(f"  {ui('grade', lang)}: ", style="bold")
        line.append(_printable(grade_label(trace, lang)), style="bold green")
        closed = "]" if grade.max == trace.max else ")"
        line.append(f"  [{_num(grade.min)}, {_num(grade.max)}{closed}")
    console.print(line)
    for note in trace.root.notes:
        console.print(terminal_text(note_text(note.kind, dict(note.params), lang), style="yellow"))
    for text in gap_lines(trace, lang):  # a line each: a terminal's text holds no newline
        console.print(terminal_text(text))
    for text in cohort_lines(trace, lang):
        console.print(terminal_text(text))


def note_text(kind: str, params: dict[str, str], lang: Lang) -> str:
    """A trace note as a sentence."""
    return ui(f"note.{kind}", lang, **params)


# --- explanation ----------------------------------------------------------------------
def render_explain(trace: Trace, ids: Sequence[str], lang: Lang, console: Console) -> None:
    """Each indicator step by step, then each group's sum, then the total and grade."""
    wanted = set(ids)

    def visit(node: NodeTrace) -> None:
        for child in node.children:
            visit(child)
        if wanted and node.id not in wanted:
            return
        if node.kind == "indicator":
            _explain_leaf(node, lang, console)
        else:
            _explain_group(node, lang, console)

    visit(trace.root)
    if (not wanted or trace.root.id in wanted) and trace.bands:
        for text in gap_lines(trace, lang):
            console.print(terminal_text(text))
    # The cohort's values and the rank explain any row that reads them.
    for text in cohort_lines(trace, lang):
        console.print(terminal_text(text))


def _explain_leaf(node: NodeTrace, lang: Lang, console: Console) -> None:
    head = Text()
    head.append(_printable(node.id), style="bold")
    if node.name != node.id:
        head.append(_printable(f"  {node.name}"))
    head.append(f"  ({ui('weight', lang)} {_num(node.weight)})", style="dim")
    console.print(head)
    label_width = 10

    def label(key: str) -> str:
        text = ui(key, lang) if key else ""
        return text + " " * max(1, label_width - _display_width(text))

    if node.formula is not None:
        console.print(terminal_text(f"  {label('formula')}{node.formula}"))
    if node.inputs:
        parts = []
        for item in node.inputs:
            value = "—" if item.value is None else _value(item.value)
            shown = f"{item.name} = {value}"
            if item.text and item.text != value:
                shown += f" ({item.text})"
            if item.source not in ("facts", "", "weight"):
                shown += f" [{item.source}]"
            parts.append(shown)
        console.print(terminal_text(f"  {label('inputs')}" + "; ".join(parts)))
    for i, step in enumerate(node.steps):
        console.print(terminal_text(f"  {label('steps' if i == 0 else '')}{step}"))
    for rounding in node.roundings:
        mode = ROUNDING[rounding.mode].zh if lang == "zh" else ROUNDING[rounding.mode].en
        text = ui("rounded", lang, mode=mode, mode_zh=mode, places=rounding.places)
        console.print(
            terminal_text(
                f"  {label('')}{text}: {format_short(rounding.before)} → "
                f"{format_number(rounding.after, rounding.places)}"
            )
        )
    for note in node.notes:
        console.print(terminal_text(f"  {label('notes')}{note.text(lang)}", style="yellow"))
    if node.sources:
        where = "; ".join(f"{key} {at}" for key, at in node.sources)
        console.print(terminal_text(f"  {label('sources')}{where}", style="dim"))
    score = ui("excluded", lang) if node.score is None else _num(node.score, node.places)
    lost = "" if node.lost is None else f"  ({ui('lost', lang)} {_num(node.lost, node.places)})"
    text = f"  {label('score')}{score} / {_num(node.weight)}{lost}"
    console.print(terminal_text(text, style="bold"))
    console.print()


def _explain_group(node: NodeTrace, lang: Lang, console: Console) -> None:
    parts = [  # the rows added up: a row shown but not counted is not
        _num(child.score, child.places)
        for child in node.children
        if child.score is not None and not not_counted(child)
    ]
    name = ui("total", lang) if node.kind == "scheme" else node.name
    line = f"{name} = {' + '.join(parts) or '0'}"
    for note in node.notes:
        line += f"  [{note_text(note.kind, dict(note.params), lang)}]"
    for rounding in node.roundings:
        if rounding.before != rounding.after:
            after = format_number(rounding.after, rounding.places)
            line += f" = {format_short(rounding.before)} → {after}"
    line += f" = {_num(node.score, node.places)} / {_num(node.weight)}"
    console.print(terminal_text(line, style="bold"))


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return format_short(value)
    return str(value)


# --- diff -----------------------------------------------------------------------------
_MARKS = {"added": "+", "removed": "-", "renamed": "~", "moved": "~", "changed": "~"}


def render_diff(
    changes: Sequence[Change], what: WhatIf | None, lang: Lang, console: Console
) -> None:
    """Changes one per line (+ added, - removed, ~ changed), then the what-if table."""
    if not changes:
        console.print(terminal_text(ui("diff.none", lang)))
    colon = ui("colon", lang)
    for change in changes:
        mark = _MARKS[change.kind]
        style = {"+": "green", "-": "red"}.get(mark, "yellow")
        line = terminal_text(f"{mark} ", style=f"bold {style}")
        section = ui(f"section.{change.section}", lang)
        line.append(_printable(f"{ui(f'diff.{change.kind}', lang)} {section} {change.id}"))
        if change.kind in ("added", "removed"):
            detail = change.new if change.kind == "added" else change.old
            if detail:
                line.append(_printable(f"{colon}{detail}"), style="dim")
        else:
            key = f" {change.key}" if change.key and change.key != change.id else ""
            line.append(_printable(f"{key}{colon}{change.old} → {change.new}"))
        console.print(line)
    if what is None:
        return
    table = Table(title=ui("diff.title", lang))
    for column in ("id", "name", "old", "new", "change"):
        right = column in ("old", "new", "change")
        table.add_column(
            ui(f"column.{column}", lang), justify="right" if right else "left", overflow="fold"
        )
    for row in what.rows:
        delta = row.delta
        table.add_row(
            row.id,
            terminal_text(row.name),
            "—" if row.old is None else str(row.old),
            "—" if row.new is None else str(row.new),
            "" if delta is None else (f"+{delta}" if delta > 0 else str(delta)),
        )
    total_delta = what.new_total - what.old_total
    table.add_row(
        ui("total", lang),
        "",
        str(what.old_total),
        str(what.new_total),
        f"+{total_delta}" if total_delta > 0 else str(total_delta),
        style="bold",
    )
    table.add_row(ui("grade", lang), "", what.old_grade, what.new_grade, "", style="bold")
    console.print(table)


def render_movers(movers: Movers, lang: Lang, console: Console) -> None:
    """This year's units against last year's: ranks, the move, totals; then new and dropped."""
    table = Table(title=ui("movers.title", lang))
    old, new = ui("movers.old", lang), ui("movers.new_year", lang)
    headers = (
        (ui("league.unit", lang), "left"),
        (f"{ui('league.rank', lang)} {old}", "right"),
        (f"{ui('league.rank', lang)} {new}", "right"),
        (ui("league.movement", lang), "right"),
        (f"{ui('total', lang)} {old}", "right"),
        (f"{ui('total', lang)} {new}", "right"),
        (ui("column.change", lang), "right"),
    )
    for title, justify in headers:
        table.add_column(title, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in movers.rows:
        change = row.rank_change
        move = (
            "—"
            if change is None
            else f"▲{change}"
            if change > 0
            else (f"▼{-change}" if change < 0 else "=")
        )
        delta = row.delta
        table.add_row(
            terminal_text(row.unit),
            row.old_rank or "—",
            row.new_rank or "—",
            terminal_text(
                move,
                style="green" if move.startswith("▲") else ("red" if move.startswith("▼") else ""),
            ),
            "—" if row.old_total is None else str(row.old_total),
            "—" if row.new_total is None else str(row.new_total),
            "" if delta is None else (f"+{delta}" if delta > 0 else str(delta)),
        )
    console.print(table)
    joiner = "、" if lang == "zh" else ", "
    if movers.added:
        units = joiner.join(f"{m.unit} ({m.new_rank or '—'}, {m.new_total})" for m in movers.added)
        console.print(terminal_text(ui("movers.new", lang, units=units), style="green"))
    if movers.dropped:
        units = joiner.join(
            f"{m.unit} ({m.old_rank or '—'}, {m.old_total})" for m in movers.dropped
        )
        console.print(terminal_text(ui("movers.dropped", lang, units=units), style="yellow"))
    for year, unit, codes in movers.failed:
        shown = ui("movers.old" if year == "old" else "movers.new_year", lang)
        console.print(
            terminal_text(
                ui("movers.failed", lang, year=shown, unit=unit, codes=codes), style="red"
            )
        )


# --- audit ----------------------------------------------------------------------------
def render_audit(outcome: AuditReport, lang: Lang, console: Console) -> None:
    """One line per finding (where, published, expected, difference, reason), or all clear."""
    for finding in outcome.findings:
        where = f"{finding.file}:{finding.line}: " if finding.file and finding.line else ""
        line = ui(
            "audit.finding",
            lang,
            where=where,
            id=finding.id,
            published=finding.published,
            expected=finding.expected,
        )
        if finding.difference is not None:
            kind = "audit.table.within" if finding.within else "audit.difference"
            line += ui(kind, lang, difference=finding.difference)
        line += f" — {finding.reason_zh if lang == 'zh' else finding.reason}"
        console.print(terminal_text(line, style="yellow"))
    if not outcome.findings:
        # Say what was checked, and only that: a total or rows not published were not.
        parts = [ui("audit.rows", lang, checked=outcome.checked)]
        if outcome.total_published:
            parts.append(ui("audit.total", lang, total=outcome.total))
        if outcome.grade_published:
            parts.append(ui("audit.grade", lang, grade=outcome.grade))
        joined = ("、" if lang == "zh" else ", ").join(parts)
        console.print(terminal_text(ui("audit.ok", lang, parts=joined), style="green"))
    missing = [] if outcome.total_published else [ui("audit.the_total", lang)]
    if not outcome.grade_published:
        missing.append(ui("audit.the_grade", lang))
    if outcome.unpublished:
        shown = ", ".join(outcome.unpublished[:8]) + (
            ", ..." if len(outcome.unpublished) > 8 else ""
        )
        missing.append(ui("audit.the_rows", lang, count=len(outcome.unpublished), ids=shown))
    if missing:
        joined = ("；" if lang == "zh" else "; ").join(missing)
        console.print(terminal_text(ui("audit.unchecked", lang, what=joined), style="yellow"))


#: How a table audit's finding names what it is about (an id is shown as it is).
_WHAT: dict[str, Callable[[Lang], str]] = {
    "total": lambda lang: ui("total", lang).lower() if lang == "en" else ui("total", lang),
    "rank": lambda lang: ui("league.rank", lang).lower() if lang == "en" else "名次",
    "grade": lambda lang: ui("grade", lang).lower() if lang == "en" else ui("grade", lang),
}


def render_table_audit(outcome: TableAudit, lang: Lang, console: Console) -> None:
    """The counts of exact, within and off rows, the rank agreement, then each finding."""
    parts = [
        ui(
            "audit.table.rows",
            lang,
            units=len(outcome.rows),
            exact=outcome.count("exact"),
            within=outcome.count("within"),
            tolerance=outcome.tolerance,
            off=outcome.count("off"),
        )
    ]
    parts += [
        ui(f"audit.table.{status}", lang, count=outcome.count(status))
        for status in ("unscored", "unchecked")
        if outcome.count(status)
    ]
    console.print(terminal_text(("；" if lang == "zh" else "; ").join(parts)))
    ranks = outcome.ranks
    if ranks is not None:
        shown = ui(
            "audit.table.ranks",
            lang,
            agree=ranks.agree,
            compared=ranks.compared,
            shift=ranks.largest_shift,
        )
        console.print(terminal_text(shown))
    for finding in outcome.findings:
        where = f"{finding.file}:{finding.line}:{finding.column}: " if finding.line else ""
        line = ui(
            "audit.table.finding",
            lang,
            where=where,
            unit=finding.unit,
            what=_WHAT[finding.what](lang) if finding.what in _WHAT else finding.what,
            published=finding.published,
            expected=finding.expected,
        )
        if finding.difference is not None:
            kind = "within" if finding.status == "within" else "off"
            line += ui(f"audit.table.{kind}", lang, difference=finding.difference)
        line += f" — {finding.reason_zh if lang == 'zh' else finding.reason}"
        style = "yellow" if finding.status == "within" else "red"
        console.print(terminal_text(line, style=style))
    if outcome.consistent:
        console.print(terminal_text(ui("audit.table.ok", lang), style="green"))


# --- batch ----------------------------------------------------------------------------
@contextlib.contextmanager
def make_progress(console: Console, *, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal (units scored so far), or nothing."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn  # noqa: PLC0415

    with Progress(SpinnerColumn(), TextColumn("{task.completed} units"), console=console) as bar:
        task = bar.add_task("scoring", total=None)

        def advance(done: int) -> None:
            bar.update(task, completed=done)

        yield advance


def render_batch_summary(
    summary: dict[str, Any],
    failed: Sequence[Any],
    out: str,
    lang: Lang,
    console: Console,
    *,
    quiet: bool = False,
) -> None:
    """Counts, grades, mean and median, the indicators losing most; then every failed unit.

    *quiet* (``-q``): only the failed units' problems, each line under the same cut.
    """
    if quiet:
        _render_failed(failed, lang, console)
        return
    counts = ui("batch.counts", lang, out=out, scored=summary["scored"], failed=summary["failed"])
    console.print(terminal_text(counts, style="bold"))
    if summary["grades"]:  # none for a rank-only scheme
        names = summary.get("grades_en", {}) if lang == "en" else {}
        grades = ", ".join(
            f"{names.get(label, label)} {count}" for label, count in summary["grades"].items()
        )
        console.print(terminal_text(ui("batch.grades", lang, grades=grades)))
    if summary["mean_total"] is not None:
        mean = ui("batch.mean", lang, mean=summary["mean_total"], median=summary["median_total"])
        console.print(terminal_text(mean))
    if summary["most_points_lost"]:
        worst = "; ".join(f"{row['id']} {row['mean_lost']}" for row in summary["most_points_lost"])
        console.print(terminal_text(ui("batch.lost", lang, worst=worst)))
    if failed:
        console.print(terminal_text(ui("batch.failed", lang), style="bold red"))
        _render_failed(failed, lang, console)


def _render_failed(failed: Sequence[Any], lang: Lang, console: Console) -> None:
    """Each failed unit's first problems, one cut line each: ``[unit] file:line:col: ...``."""
    for unit in failed:
        for d in unit.errors[:5]:
            name = unit.unit[:MESSAGE_CHARS] + ("…" if len(unit.unit) > MESSAGE_CHARS else "")
            line = f"  [{name}] {d.format(lang)}"
            console.print(terminal_text(line, limit=_SUMMARY_LINE), soft_wrap=True)
