"""Rank stability laid out: a terminal table, and an HTML page with each unit's interval.

Everything printed comes from the workflow's result (``perfrules.workflows.sensitivity``):
ranks, medians, the 5–95 % intervals and the weight that moves each unit most. Nothing is
computed here; the page only places the numbers (an inline SVG, no script, works offline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from html import escape
from typing import Any, Final, Protocol

from rich.console import Console
from rich.table import Table

from perfrules.errors import Lang

__all__ = ["render_sensitivity", "render_sensitivity_html", "sensitivity_progress"]

#: Units drawn in the chart (the table below it lists them all).
CHART_UNITS: Final = 500
_ROW: Final = 18
_LABEL: Final = 160
_PLOT: Final = 560


class _Unit(Protocol):
    @property
    def unit(self) -> str: ...
    @property
    def rank(self) -> int | None: ...
    @property
    def median(self) -> int | None: ...
    @property
    def low(self) -> int | None: ...
    @property
    def high(self) -> int | None: ...
    @property
    def mover(self) -> str | None: ...
    @property
    def shift(self) -> int: ...


class _Setting(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


class _Result(Protocol):
    """What the renderers read of ``perfrules.workflows.Sensitivity``."""

    @property
    def title(self) -> str: ...
    @property
    def scheme_id(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def samples(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def ranking(self) -> str: ...
    @property
    def weights(self) -> Sequence[_Setting]: ...
    @property
    def units(self) -> Sequence[_Unit]: ...
    @property
    def failed(self) -> Sequence[tuple[str, str]]: ...
    def names(self) -> dict[str, str]: ...
    def choice_texts(self) -> list[str]: ...


_WORDS: Final = {
    "unit": ("Unit", "单位"),
    "rank": ("Rank", "名次"),
    "median": ("Median", "中位名次"),
    "interval": ("5–95 %", "5–95 %区间"),
    "mover": ("Moved most by", "影响最大的权重"),
    "shift": ("by", "移动"),
    "samples": ("samples", "次抽样"),
    "seed": ("seed", "种子"),
    "ranking": ("ranking", "排名"),
    "failed": ("not scored", "未能计分"),
    "none": ("—", "—"),
    "title": ("Rank stability", "排名稳定性"),
    "chart": (
        (
            "Each line is a unit's 5–95 % rank interval; the dot is its median, the ring its "
            "rank under the declared weights."
        ),
        "每条线为该单位 5–95 % 的名次区间；实心点为中位名次，空心圈为原权重下的名次。",
    ),
    "first": ("The chart shows the first {n} units.", "图中显示前 {n} 个单位。"),
}


def _w(key: str, lang: Lang) -> str:
    en, zh = _WORDS[key]
    return zh if lang == "zh" else en


def _num(value: int | None) -> str:
    return "—" if value is None else str(value)


def _interval(unit: _Unit) -> str:
    return "—" if unit.low is None else f"{unit.low}–{unit.high}"


def _ordered(units: Sequence[_Unit]) -> list[_Unit]:
    """Ranked units by their rank (then as given), the others after them."""
    at = {id(u): i for i, u in enumerate(units)}
    return sorted(units, key=lambda u: (u.rank is None, u.rank or 0, at[id(u)]))


def _mover(unit: _Unit, names: dict[str, str]) -> str:
    if unit.mover is None:
        return "—"
    return f"{names.get(unit.mover, unit.mover)} ({unit.mover}) ±{unit.shift}"


def render_sensitivity(result: _Result, lang: Lang, console: Console) -> None:
    """Every unit's rank, median rank, 5–95 % interval and strongest weight, as a table."""
    names = result.names()
    console.print(
        f"{result.title}: {_w('title', lang)} — {result.samples} {_w('samples', lang)}, "
        f"{_w('seed', lang)} {result.seed}, {_w('ranking', lang)}: {result.ranking}",
        markup=False,
        highlight=False,
    )
    table = Table(show_edge=False, pad_edge=False)
    table.add_column(_w("unit", lang))
    table.add_column(_w("rank", lang), justify="right")
    table.add_column(_w("median", lang), justify="right")
    table.add_column(_w("interval", lang), justify="right")
    table.add_column(_w("mover", lang))
    for unit in _ordered(result.units):
        table.add_row(
            unit.unit, _num(unit.rank), _num(unit.median), _interval(unit), _mover(unit, names)
        )
    for text in result.choice_texts():
        console.print(text, markup=False, highlight=False)
    console.print(table)
    for name, codes in result.failed:
        console.print(f"{_w('failed', lang)}: {name} ({codes})", markup=False, highlight=False)


@contextmanager
def sensitivity_progress(
    console: Console, *, enabled: bool
) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of the weight sets scored (done of total), or nothing."""
    if not enabled:
        yield None
        return
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("weights", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


_CSS: Final = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", system-ui,
       sans-serif; color: #1f2933; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } .meta, .aside { color: #616e7c; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin-top: 1rem; }
th, td { border: 1px solid #d9e2ec; padding: .3rem .5rem; text-align: left; }
th { background: #f0f4f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font-size: 11px; fill: #1f2933; }
@media print { body { margin: 0; max-width: none; } tr { break-inside: avoid; } }
"""


def _chart(units: Sequence[_Unit], lang: Lang) -> str:
    drawn = [u for u in units if u.low is not None][:CHART_UNITS]
    if not drawn:
        return ""
    worst = max(max(u.high or 1, u.rank or 1) for u in drawn)
    span = max(worst - 1, 1)

    def x(rank: int) -> float:
        return _LABEL + 10 + (rank - 1) * _PLOT / span

    height = _ROW * (len(drawn) + 1) + 10
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LABEL + _PLOT + 40}" '
            f'height="{height}" role="img" aria-label="{escape(_w("chart", lang))}">'
        ),
        f'<text x="{x(1):.1f}" y="12">1</text>',
        f'<text x="{x(worst):.1f}" y="12" text-anchor="end">{worst}</text>',
    ]
    for i, unit in enumerate(drawn):
        y = _ROW * (i + 1) + 10
        low, high, median = unit.low or 1, unit.high or 1, unit.median or 1
        title = f"{unit.unit}: {_interval(unit)} ({_w('median', lang)} {median})"
        parts += [
            f"<g><title>{escape(title)}</title>",
            f'<text x="{_LABEL}" y="{y + 4}" text-anchor="end">{escape(unit.unit[:30])}</text>',
            (
                f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y}" y2="{y}" '
                'stroke="#3e7cb1" stroke-width="4" stroke-linecap="round"/>'
            ),
            f'<circle cx="{x(median):.1f}" cy="{y}" r="4" fill="#1f2933"/>',
        ]
        if unit.rank is not None:
            parts.append(
                f'<circle cx="{x(unit.rank):.1f}" cy="{y}" r="6" fill="none" stroke="#b42318"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def render_sensitivity_html(result: _Result, lang: Lang) -> str:
    """A self-contained page: the settings, the chart of intervals, the table of units."""
    names = result.names()
    units = _ordered(result.units)
    settings = "".join(
        f"<li>{escape(d['name'])} ({escape(d['id'])}): {escape(d['weight'])} → "
        f"{escape(d['low'])}–{escape(d['high'])}</li>"
        for d in (w.to_dict() for w in result.weights)
    ) + "".join(f"<li>{escape(text)}</li>" for text in result.choice_texts())
    rows = "".join(
        f"<tr><td>{escape(u.unit)}</td><td class=num>{_num(u.rank)}</td>"
        f"<td class=num>{_num(u.median)}</td><td class=num>{_interval(u)}</td>"
        f"<td>{escape(_mover(u, names))}</td></tr>"
        for u in units
    )
    heads = "".join(
        f"<th>{escape(_w(k, lang))}</th>" for k in ("unit", "rank", "median", "interval", "mover")
    )
    drawn = sum(1 for u in units if u.low is not None)
    more = (
        f"<p class=aside>{escape(_w('first', lang).format(n=CHART_UNITS))}</p>"
        if drawn > CHART_UNITS
        else ""
    )
    failed = "".join(f"<li>{escape(unit)} ({escape(codes)})</li>" for unit, codes in result.failed)
    failed_list = f"<p>{escape(_w('failed', lang))}</p><ul>{failed}</ul>" if failed else ""
    title = f"{result.title}: {_w('title', lang)}"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p class=meta>{escape(result.scheme_id)} · sha256 {escape(result.sha256[:12])} · "
        f"{result.samples} {escape(_w('samples', lang))} · {escape(_w('seed', lang))} "
        f"{result.seed} · {escape(_w('ranking', lang))}: {escape(result.ranking)}</p>"
        f"<ul>{settings}</ul>"
        f"<p class=aside>{escape(_w('chart', lang))}</p>{_chart(units, lang)}{more}"
        f"<table><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>"
        f"{failed_list}</body></html>\n"
    )
