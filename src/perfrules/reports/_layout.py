"""The report's layout, shared by the text, Markdown and HTML renderings.

The seed's table has one column per tree level (一级/二级/三级指标), then weight, target,
actual and score. A group's name is printed on the first row under it only; a group with
more than one child gets a subtotal row; the total closes the table. :func:`table_rows` lays
this out once from a trace; each renderer only formats the cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from perfrules._messages import STATISTICS_ZH, ui
from perfrules._numbers import format_number
from perfrules.errors import Lang
from perfrules.trace import NodeTrace, Trace

_ZH_LEVELS = "一二三四五六七八九"


#: The look every HTML page of perfrules shares (a report, a league table, a sensitivity
#: chart): CJK fonts first, a readable column, the title and its line of facts. Each page
#: sets ``--ink`` and ``--muted`` in its ``:root``.
PAGE_CSS: Final = """\
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       system-ui, sans-serif; color: var(--ink); margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
.meta { color: var(--muted); margin-top: 0; }
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One table row.

    Attributes:
        kind: ``indicator``, ``subtotal`` or ``total``.
        levels: the text of each level column ("" where nothing is printed).
        node: the indicator or group of the row (the root for the total).
    """

    kind: str
    levels: tuple[str, ...]
    node: NodeTrace


def depth_of(trace: Trace) -> int:
    """How many level columns the table needs."""
    return max((leaf.depth for leaf in trace.root.leaves()), default=1)


def level_titles(trace: Trace, depth: int, lang: Lang) -> list[str]:
    """Titles of the level columns: the scheme's own (``levels``), else numbered.

    An English page shows the scheme's titles only when none is written in Chinese
    characters (``["Dimension", "Indicator"]``); ``一级指标`` becomes ``Level 1`` there.
    """
    return level_headings(trace.levels, depth, lang)


def level_headings(levels: Sequence[str], depth: int, lang: Lang) -> list[str]:
    """Titles of *depth* level columns from a scheme's ``levels`` (see :func:`level_titles`)."""
    own = lang == "zh" or not any(map(_in_chinese, levels))
    titles = list(levels)[:depth] if own else []
    while len(titles) < depth:
        n = len(titles) + 1
        titles.append(
            ui("level", lang, n=n, n_zh=_ZH_LEVELS[n - 1] if n <= len(_ZH_LEVELS) else n)
        )
    return titles


def _in_chinese(text: str) -> bool:
    """Whether *text* holds a Chinese character (a CJK unified ideograph)."""
    return any(
        "\u3400" <= ch <= "\u9fff"
        or "\uf900" <= ch <= "\ufaff"
        or "\U00020000" <= ch <= "\U0003134f"
        for ch in text
    )


def table_rows(trace: Trace, lang: Lang) -> list[Row]:
    """Every row of the report's table, in order."""
    depth = depth_of(trace)
    rows: list[Row] = []
    printed: dict[int, str] = {}

    def visit(node: NodeTrace, ancestors: list[NodeTrace]) -> None:
        if node.kind == "indicator":
            cells = [""] * depth
            for group in ancestors:
                level = group.depth - 1
                if level < depth - 1 and printed.get(level) != group.id:
                    cells[level] = group.name
                    printed[level] = group.id
                    for deeper in [k for k in printed if k > level]:
                        del printed[deeper]
            cells[min(node.depth, depth) - 1] = node.name
            rows.append(Row("indicator", tuple(cells), node))
            return
        below = [*ancestors, node] if node.kind == "group" else ancestors
        for child in node.children:
            visit(child, below)
        if node.kind == "group" and len(node.children) > 1:
            cells = [""] * depth
            word = ui("subtotal", lang)
            cells[node.depth - 1] = (
                f"{word}（{node.name}）" if lang == "zh" else f"{word} ({node.name})"
            )
            rows.append(Row("subtotal", tuple(cells), node))

    visit(trace.root, [])
    rows.append(Row("total", (ui("total", lang),) + ("",) * (depth - 1), trace.root))
    return rows


@dataclass(frozen=True, slots=True)
class LevelCell:
    """One cell of the level columns as a form prints it: merged down and across.

    Attributes:
        column: the first level column it covers (0-based).
        text: what it shows.
        rows: how many rows it is merged down over (a group's name over its rows).
        columns: how many level columns it spans (a row label to the last level column).
    """

    column: int
    text: str
    rows: int = 1
    columns: int = 1


def level_cells(trace: Trace, rows: list[Row]) -> list[list[LevelCell]]:
    """The level cells each row prints: a group's name once, merged down over its rows.

    A cell merged down from a row above is not repeated in the rows it covers; a row's own
    label (the indicator, the subtotal, the total) spans to the last level column.
    """
    depth = depth_of(trace)
    chains: dict[int, list[NodeTrace]] = {}

    def visit(node: NodeTrace, above: list[NodeTrace]) -> None:
        chains[id(node)] = above
        below = [*above, node] if node.kind == "group" else above
        for child in node.children:
            visit(child, below)

    visit(trace.root, [])
    owners: list[list[NodeTrace | None]] = []
    labels: list[tuple[int, str]] = []
    for row in rows:
        node = row.node
        if row.kind == "indicator":
            start, text = min(node.depth, depth) - 1, node.name
        elif row.kind == "subtotal":
            start = node.depth - 1
            text = row.levels[start]
        else:
            start, text = 0, row.levels[0]
        owner: list[NodeTrace | None] = [None] * depth
        for group in chains.get(id(node), []):
            if group.depth - 1 < start:
                owner[group.depth - 1] = group
        owners.append(owner)
        labels.append((start, text))
    cells: list[list[LevelCell]] = []
    for index, (start, text) in enumerate(labels):
        line = []
        for column in range(start):
            above: NodeTrace | None = owners[index][column]
            if above is not None and index > 0 and owners[index - 1][column] is above:
                continue  # merged down from the row above
            span = 1
            while (
                above is not None
                and index + span < len(owners)
                and owners[index + span][column] is above
            ):
                span += 1
            line.append(LevelCell(column, "" if above is None else above.name, span))
        line.append(LevelCell(start, text, 1, depth - start))
        cells.append(line)
    return cells


def not_counted(node: NodeTrace) -> bool:
    """The row is shown and scored but not added up (``counted = false``, as its note says)."""
    return any(note.kind == "not_counted" for note in node.notes)


def weight_text(node: NodeTrace) -> str:
    """A row's weight as the table prints it: in parentheses when the row is not counted.

    A weight column that adds up to more than the maximum then says why.
    """
    text = format_number(node.weight)
    return f"({text})" if not_counted(node) else text


def counted_legend(trace: Trace, lang: Lang) -> list[str]:
    """The line that explains weights in parentheses, when the table has any."""
    if not any(not_counted(node) for node in trace.root.walk()):
        return []
    return [ui("legend.not_counted", lang)]


def score_text(node: NodeTrace, lang: Lang) -> str:
    """A node's score as shown in the table ("not applicable" when excluded)."""
    if node.score is None:
        return ui("excluded", lang)
    return format_number(node.score, node.places)


def graded(trace: Trace) -> bool:
    """Whether the report shows a grade: the scheme has bands, or a grade override fired.

    A rank-only scheme (a league table) declares no bands; its reports show ranks only.
    """
    return bool(trace.bands) or bool(trace.grade.label)


def grade_label(trace: Trace, lang: Lang) -> str:
    """The grade's label (with the English label in English output)."""
    grade = trace.grade
    return f"{grade.label} ({grade.label_en})" if lang == "en" and grade.label_en else grade.label


def gap_lines(trace: Trace, lang: Lang) -> list[str]:
    """The shortfall to the next band and the fewest indicators that would reach it.

    Each a sentence of its own (a page may run them together: :func:`gap_text`).
    """
    gap = trace.gap
    if not trace.bands:
        return []  # rank-only: no band to be in or to reach
    if gap is None:
        return [ui("top_band", lang)]
    label = gap.label
    if lang == "en":
        english = next((b.label_en for b in trace.bands if b.label == gap.label), "")
        label = f"{label} ({english})" if english else label
    places = trace.total_places  # points on the total, written as the total is
    shortfall = format_number(gap.shortfall, places)
    lines = [ui("gap", lang, gap=shortfall, label=label, min=format_number(gap.min))]
    if gap.improve:
        items = ("、" if lang == "zh" else ", ").join(
            f"{ident} (+{format_number(lost, places)})" for ident, lost in gap.improve
        )
        lines.append(ui("improve", lang, items=items))
    return lines


def gap_text(trace: Trace, lang: Lang) -> str:
    """:func:`gap_lines` as one paragraph (Chinese sentences run on without a space)."""
    return ("" if lang == "zh" else " ").join(gap_lines(trace, lang))


def cohort_lines(trace: Trace, lang: Lang) -> list[str]:
    """The cohort's values the unit was scored with, and its rank (nothing without one)."""
    cohort = trace.cohort
    if cohort is None:
        return []
    lines = []
    if cohort.cohort is not None:
        lines.append(ui("cohort.of", lang, cohort=cohort.cohort))
    for value in cohort.values:
        stat = value.stat
        stat_zh = STATISTICS_ZH.get(stat, stat)
        if value.percentile is not None:
            stat = f"{format_number(value.percentile)}th percentile"
            stat_zh = f"第 {format_number(value.percentile)} 百分位数"
        lines.append(
            ui(
                "cohort.value",
                lang,
                label=value.label or value.name,
                value="—" if value.value is None else format_number(value.value),
                stat=stat,
                stat_zh=stat_zh,
                of=value.of or ("units" if lang == "en" else "对象"),
                units=value.units,
                where="" if value.where is None else ui("cohort.where", lang, where=value.where),
                source="" if value.unit is None else ui("cohort.source", lang, unit=value.unit),
            )
        )
    if cohort.unranked is not None:
        lines.append(cohort.unranked.text(lang))
    rank = cohort.rank
    if rank is None:
        return lines
    keys = ", ".join(
        f"{k.by} {k.order} = {'—' if k.value is None else format_number(k.value)}"
        for k in rank.keys
    )
    units = ("、" if lang == "zh" else ", ").join(rank.tied_with)
    if rank.tied_count > len(rank.tied_with):
        units += ui("cohort.more", lang, n=rank.tied_count - len(rank.tied_with))
    tied = ui("cohort.tied", lang, units=units) if rank.tied_with else ""
    lines.append(
        ui(
            "cohort.rank",
            lang,
            position=rank.shown,
            of=rank.of,
            keys=keys,
            ties=rank.ties,
            tied=tied,
        )
    )
    return lines
