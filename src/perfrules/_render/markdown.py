"""Markdown rendering of a trace: the report's table, pasteable into a document."""

from __future__ import annotations

from perfrules._messages import ui
from perfrules._numbers import format_number
from perfrules.errors import Lang
from perfrules.trace import NodeTrace, Trace

_ZH_LEVELS = "一二三四五六七八九"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _num(value: object, places: int | None = None) -> str:
    from fractions import Fraction  # noqa: PLC0415

    return "—" if not isinstance(value, Fraction) else format_number(value, places)


def render_markdown(trace: Trace, lang: Lang) -> str:
    """The table (levels, weight, target, actual, score), subtotals, total, grade, gap, losses."""
    leaves = list(trace.root.leaves())
    depth = max((leaf.depth for leaf in leaves), default=1)
    titles = list(trace.levels)[:depth] if lang == "zh" and trace.levels else []
    while len(titles) < depth:
        n = len(titles) + 1
        titles.append(ui("level", lang, n=n, n_zh=_ZH_LEVELS[n - 1] if n <= 9 else str(n)))
    header = [
        *titles,
        ui("weight", lang),
        ui("target", lang),
        ui("actual", lang),
        ui("score", lang),
    ]
    lines = [f"## {_cell(trace.root.name)}", ""]
    if trace.provenance.unit:
        lines += [
            f"{ui('unit', lang)}：{_cell(trace.provenance.unit)}"
            if lang == "zh"
            else f"{ui('unit', lang)}: {_cell(trace.provenance.unit)}",
            "",
        ]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * (depth + 3) + "---:|"]
    printed: dict[int, str] = {}

    def visit(node: NodeTrace, ancestors: list[NodeTrace]) -> None:
        if node.kind == "indicator":
            cells = [""] * depth
            for group in ancestors:
                level = group.depth - 1
                if level < depth - 1 and printed.get(level) != group.id:
                    cells[level] = _cell(group.name)
                    printed[level] = group.id
                    for deeper in [k for k in printed if k > level]:
                        del printed[deeper]
            cells[min(node.depth, depth) - 1] = _cell(node.name)
            score = ui("excluded", lang) if node.score is None else _num(node.score, node.places)
            lines.append(
                "| "
                + " | ".join(
                    [*cells, _num(node.weight), _cell(node.target), _cell(node.actual), score]
                )
                + " |"
            )
            return
        below = [*ancestors, node] if node.kind == "group" else ancestors
        for child in node.children:
            visit(child, below)
        if node.kind == "group" and len(node.children) > 1:
            cells = [""] * depth
            word = ui("subtotal", lang)
            cells[node.depth - 1] = (
                f"**{word}（{_cell(node.name)}）**"
                if lang == "zh"
                else f"**{word} ({_cell(node.name)})**"
            )
            lines.append(
                "| "
                + " | ".join(
                    [*cells, _num(node.weight), "", "", f"**{_num(node.score, node.places)}**"]
                )
                + " |"
            )

    visit(trace.root, [])
    total_cells = [f"**{ui('total', lang)}**"] + [""] * (depth - 1)
    lines.append(
        "| "
        + " | ".join(
            [*total_cells, _num(trace.max), "", "", f"**{_num(trace.total, trace.total_places)}**"]
        )
        + " |"
    )
    grade = trace.grade
    label = f"{grade.label} ({grade.label_en})" if lang == "en" and grade.label_en else grade.label
    total = _num(trace.total, trace.total_places)
    lines += ["", f"**{ui('total', lang)}**: {total}　**{ui('grade', lang)}**: {label}"]
    if trace.gap is None:
        lines.append(f"{ui('top_band', lang)}")
    else:
        gap = trace.gap
        lines.append(
            ui(
                "gap",
                lang,
                gap=format_number(gap.shortfall),
                label=gap.label,
                min=format_number(gap.min),
            )
        )
        if gap.improve:
            items = ("、" if lang == "zh" else ", ").join(
                f"{ident} (+{format_number(lost)})" for ident, lost in gap.improve
            )
            lines.append(ui("improve", lang, items=items))
    losses = sorted((n for n in leaves if n.lost), key=lambda n: (-(n.lost or 0), n.id))[:5]
    if losses:
        lines += [
            "",
            f"{ui('lost', lang)}:" if lang == "en" else f"{ui('lost', lang)}（前 5 项）：",
        ]
        lines += [f"- {_cell(n.name)} ({n.id}): {_num(n.lost, n.places)}" for n in losses]
    return "\n".join(lines) + "\n"
