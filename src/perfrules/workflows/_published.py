"""Auditing a published table: recompute every unit's score and rank, and say why they differ.

A published table is a batch CSV (one row per unit: ``unit``, then the facts as ``perfrules
score`` reads them) with what the publication printed in ``published.*`` columns:
``published.total``, ``published.rank`` (``5``, ``=5``, ``5=`` or ``T5`` for a shared rank),
``published.grade`` and ``published.ID`` for a group's or an indicator's score.

Every unit is scored with the others (cohort values, ranking) as ``perfrules score`` would,
and each published number is compared with the recomputed one: equal (exact), within the
tolerance, or off. Each difference gets its likeliest cause, and only a cause the audit has
reproduced: another rounding of the total (mode or places, :func:`rounding_slip`), a row's
slip (:func:`explain_row`), a total that adds the published rows, an input rounded before
publication (a value that rounds to the published input and gives the published total, found
by search, on the unit itself or on the unit that set a cohort value it reads), or else that
no such value exists. A rank that differs is explained by another tie rule around an earlier
tie, or by ranking the published totals. The scheme's owners do every sum, rounding, grade
and rank (:meth:`CompiledScheme.evaluate_cohort`, ``total_for``, ``grade_for``, ``rank``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from perfrules._numbers import NumberFormatError, format_number, to_fraction
from perfrules._outcomes import RankAgreement, TableAudit, TableFinding, TableRow
from perfrules.engine import CohortValues, CompiledScheme
from perfrules.errors import Diagnostic, FactsError
from perfrules.facts import Facts
from perfrules.trace import Rank, Result
from perfrules.workflows._audit import explain_row, rounding_slip
from perfrules.workflows._batch import _unit_facts, _wide_rows, _with_positions

__all__ = [
    "RankAgreement",
    "TableAudit",
    "TableFinding",
    "TableRow",
    "audit_table",
    "rank_number",
]

PREFIX: Final = "published."
#: A published rank: ``5``, a shared ``=5`` / ``5=`` / ``T5`` / ``T-5``.
_RANK: Final = re.compile(r"^\s*(=|T-?)?\s*(\d+)\s*(=)?\s*$", re.IGNORECASE)
#: A published input whose rounding can be undone: a decimal, perhaps a percentage.
_DECIMAL: Final = re.compile(r"^\s*(\d+)(?:\.(\d+))?\s*(%?)\s*$")
#: Digits searched below a published input's last one (a grid of 10,000 values, bisected).
_DIGITS: Final = 4
_RULES: Final = ("competition", "dense", "ordinal")
_RULE_TEXT: Final = {
    "competition": ("competition ranking, which skips ranks after a tie (1, 2, 2, 4)",
                    "并列后跳过名次（1、2、2、4）"),
    "dense": ("dense ranking, which counts tied units once (1, 2, 2, 3)",
              "并列后名次连续（1、2、2、3）"),
    "ordinal": ("ordinal ranking, which breaks the tie (1, 2, 3, 4)",
                "并列者依次排名（1、2、3、4）"),
}  # fmt: skip


@dataclass(slots=True)
class _Unit:
    """One row of the table as read."""

    name: str
    line: int
    facts: Facts | FactsError
    data: dict[str, Any]
    #: The unit's numeric inputs: (path in the facts, text as published, column).
    cells: list[tuple[tuple[str, ...], str, int]]
    #: ``published.*`` cells by what they publish: (value, column).
    published: dict[str, tuple[Any, int]]


@dataclass(slots=True)
class _Context:
    compiled: CompiledScheme
    units: list[_Unit]
    results: list[Result | FactsError | None]
    file: str
    tolerance: Fraction
    #: The cohort values of the table as published (``None``: the scheme has none).
    base_values: CohortValues | None = None
    #: Cohort values with one input changed, by (unit, input, text).
    cohort_cache: dict[tuple[int, tuple[str, ...], str], CohortValues] = field(
        default_factory=dict
    )


def _bad(value: str, expected: tuple[str, str], where: tuple[str, int, int]) -> Diagnostic:
    return Diagnostic(
        "PR402",
        ("published",),
        {"value": value, "expected": expected[0], "expected_zh": expected[1]},
        file=where[0],
        line=where[1],
        column=where[2],
    )


def _read(path: Path, compiled: CompiledScheme) -> list[_Unit]:
    """The units of the table and their published cells (``PR419``/``PR402`` if unreadable)."""
    plan = compiled.plan
    units: list[_Unit] = []
    problems: list[Diagnostic] = []
    known = set(plan.by_id) | {"total", "rank", "grade"}
    header_checked = False
    for name, values, (file, line) in _wide_rows(path):
        if isinstance(values, FactsError):
            units.append(_Unit(name, line, values, {}, [], {}))
            continue
        if not header_checked:
            header_checked = True
            for column, key in enumerate(values, start=1):
                what = key.removeprefix(PREFIX)
                if key.startswith(PREFIX) and what not in known:
                    problems.append(
                        Diagnostic(
                            "PR419",
                            (),
                            {"column": key, "reason": "it names no group or indicator"},
                            file=file,
                            line=1,
                            column=column,
                        )
                    )
            if problems:
                raise FactsError(problems)
        published: dict[str, tuple[Any, int]] = {}
        facts_cells = dict(values)
        for column, (key, value) in enumerate(values.items(), start=1):
            if key.startswith(PREFIX):
                facts_cells[key] = ""  # kept in place: every other column keeps its number
                if value not in ("", None):
                    published[key.removeprefix(PREFIX)] = (value, column)
        data, columns = _unit_facts(facts_cells, compiled)
        data["unit"] = name
        cells = [
            (path_, str(value), column)
            for path_, column in columns.items()
            if (path_[0] == "shared" or len(path_) == 3) and "override" not in path_
            # the columns also place facts an empty cell leaves missing: no value to vary
            if (value := _at(data, path_)) is not None
        ]
        facts = _with_positions(data, columns, (file, line), name)
        units.append(_Unit(name, line, facts, data, cells, published))
    return units


def _at(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The cell at *path* of a unit's facts, ``None`` when the row leaves it empty."""
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _replaced(data: Mapping[str, Any], path: tuple[str, ...], text: str) -> dict[str, Any]:
    """A copy of *data* with the cell at *path* holding *text*."""
    copy: dict[str, Any] = dict(data)
    inner = copy
    for key in path[:-1]:
        inner[key] = dict(inner[key])
        inner = inner[key]
    inner[path[-1]] = text
    return copy


def _number(value: Any, where: tuple[str, int, int]) -> Fraction:
    try:
        return to_fraction(str(value))
    except NumberFormatError:
        raise FactsError([_bad(str(value), ("a number", "数字"), where)]) from None


def rank_number(text: str) -> tuple[int, bool] | None:
    """A rank as tables print it (``5``, ``=5``, ``5=``, ``T5``), or ``None``.

    Returns its number and whether it is marked as shared.
    """
    match = _RANK.match(text)
    if match is None or int(match[2]) < 1:
        return None
    return int(match[2]), bool(match[1] or match[3])


def _rank_of(value: Any, where: tuple[str, int, int]) -> tuple[int, bool]:
    """A published rank: its number and whether it is marked as shared."""
    found = rank_number(str(value))
    if found is None:
        raise FactsError([_bad(str(value), ("a rank (5, =5, 5= or T5)", "名次"), where)])
    return found


def audit_table(
    compiled: CompiledScheme, source: str | Path, *, tolerance: str | Decimal | int = 0
) -> TableAudit:
    """Recompute every row and rank of a published table and compare them.

    Args:
        compiled: the scheme the table was published under.
        source: the table (CSV, one row per unit, ``published.*`` columns).
        tolerance: the largest difference still taken as agreement, exactly (``"0.05"``).

    Raises:
        FactsError: the table cannot be read, a ``published.*`` column names nothing of the
            scheme, a published cell is not a number (or a rank), or nothing is published.
        ValueError: a negative tolerance or a binary float.
    """
    if isinstance(tolerance, float):
        msg = "give the tolerance as a string or Decimal, not a binary float"
        raise TypeError(msg)
    allowed = Fraction(tolerance)
    if allowed < 0:
        msg = f"the tolerance must not be negative: {tolerance}"
        raise ValueError(msg)
    path = Path(source)
    units = _read(path, compiled)
    if not any(u.published for u in units):
        raise FactsError([Diagnostic("PR412", ("published",), {}, file=str(path))])
    readable = [u.facts for u in units if not isinstance(u.facts, FactsError)]
    scored = iter(compiled.evaluate_cohort(readable, trace=True))
    results: list[Result | FactsError | None] = [
        u.facts if isinstance(u.facts, FactsError) else next(scored) for u in units
    ]
    base = compiled.cohort_values(readable) if compiled.plan.cohort_rules else None
    ctx = _Context(compiled, units, results, str(path), allowed, base)
    rows: list[TableRow] = []
    findings: list[TableFinding] = []
    published_ranks: dict[int, tuple[int, bool]] = {}
    for index, unit in enumerate(units):
        row, found = _audit_unit(ctx, index)
        rows.append(row)
        findings += found
        if "rank" in unit.published:
            value, column = unit.published["rank"]
            published_ranks[index] = _rank_of(value, (ctx.file, unit.line, column))
    agreement, rank_findings = _ranks(ctx, published_ranks)
    findings += rank_findings
    rows = [_with_rank(row, published_ranks.get(i), ctx.results[i]) for i, row in enumerate(rows)]
    order = {unit.name: i for i, unit in enumerate(units)}
    findings.sort(key=lambda f: (order.get(f.unit, 0), f.line, f.what != "total", f.what))
    return TableAudit(str(path), format_number(allowed), tuple(rows), tuple(findings), agreement)


def _with_rank(
    row: TableRow, published: tuple[int, bool] | None, result: Result | FactsError | None
) -> TableRow:
    rank = result.rank if isinstance(result, Result) else None
    return TableRow(
        row.unit,
        row.line,
        row.status,
        row.published_total,
        row.total,
        row.difference,
        None if published is None else ("=" if published[1] else "") + str(published[0]),
        None if rank is None else rank.position,
        None if published is None or rank is None else published[0] == rank.position,
    )


def _status(difference: Fraction, tolerance: Fraction) -> str:
    if difference == 0:
        return "exact"
    return "within" if abs(difference) <= tolerance else "off"


def _audit_unit(ctx: _Context, index: int) -> tuple[TableRow, list[TableFinding]]:
    """The unit's row (exact, within, off) and a finding for each value that differs."""
    unit, result = ctx.units[index], ctx.results[index]
    published_total = unit.published.get("total")
    shown_total = None if published_total is None else str(published_total[0]).strip()
    if not isinstance(result, Result):
        problem = result.diagnostics[0] if isinstance(result, FactsError) else None
        finding = TableFinding(
            unit.name,
            "total",
            "unscored",
            shown_total or "",
            "—",
            None,
            "unscored",
            f"its facts cannot be scored: {problem.code if problem else ''}",
            f"其事实无法计分：{problem.code if problem else ''}",
            ctx.file,
            unit.line,
            0,
        )
        return TableRow(unit.name, unit.line, "unscored", shown_total, None, None), [finding]
    trace = result.trace
    assert trace is not None  # noqa: S101
    plan = ctx.compiled.plan
    findings: list[TableFinding] = []
    statuses: list[str] = []
    nodes = {node.id: node for node in trace.root.walk() if node is not trace.root}
    published_rows: dict[str, Fraction | None] = {}
    for what, (value, column) in unit.published.items():
        if what in ("total", "rank", "grade"):
            continue
        number = _number(value, (ctx.file, unit.line, column))
        published_rows[what] = number
        node = nodes[what]
        if node.score is None:
            statuses.append("off")
            findings.append(
                TableFinding(unit.name, what, "off", str(value).strip(), "excluded", None,
                             "not_applicable", "the facts mark it not applicable",
                             "事实将其标为不适用", ctx.file, unit.line, column)
            )  # fmt: skip
            continue
        status = _status(number - node.score, ctx.tolerance)
        statuses.append(status)
        if status != "exact":
            en, zh = explain_row(node, number, plan.mode, ctx.compiled.scheme.formulas)
            findings.append(
                TableFinding(unit.name, what, status, str(value).strip(),
                             format_number(node.score, node.places),
                             format_number(number - node.score), "row", en, zh, ctx.file,
                             unit.line, column)
            )  # fmt: skip
    difference = None
    if published_total is not None:
        value, column = published_total
        number = _number(value, (ctx.file, unit.line, column))
        recomputed = result.total_exact
        status = _status(number - recomputed, ctx.tolerance)
        statuses.append(status)
        difference = format_number(number - recomputed)
        if status != "exact":
            cause, en, zh = _total_cause(ctx, index, number, published_rows, shown_total or "")
            findings.append(
                TableFinding(unit.name, "total", status, shown_total or "", str(result.total),
                             difference, cause, en, zh, ctx.file, unit.line, column)
            )  # fmt: skip
    if "grade" in unit.published:
        value, column = unit.published["grade"]
        findings += _grade(ctx, index, str(value).strip(), column, published_total)
    status = "unchecked" if not statuses else max(statuses, key=_WORST.index)
    if any(f.what == "grade" for f in findings):
        status = "off"
    row = TableRow(unit.name, unit.line, status, shown_total, str(result.total), difference)
    return row, findings


_WORST: Final = ("exact", "within", "off")


def _grade(
    ctx: _Context, index: int, published: str, column: int, total: tuple[Any, int] | None
) -> list[TableFinding]:
    unit, result = ctx.units[index], ctx.results[index]
    assert isinstance(result, Result)  # noqa: S101
    trace = result.trace
    assert trace is not None  # noqa: S101
    basis = result.total_exact if total is None else _number(total[0], (ctx.file, 0, 0))
    overridden = any(note.kind == "grade_override" for note in trace.root.notes)
    band = result.grade if overridden else ctx.compiled.grade_for(basis)
    if band.label == published:
        return []
    return [
        TableFinding(unit.name, "grade", "off", published, band.label, None, "grade",
                     f"a total of {format_number(basis)} falls in the band {band.label}",
                     f"总分 {format_number(basis)} 对应的等级为“{band.label}”", ctx.file,
                     unit.line, column)
    ]  # fmt: skip


def _total_cause(
    ctx: _Context,
    index: int,
    published: Fraction,
    rows: Mapping[str, Fraction | None],
    shown: str,
) -> tuple[str, str, str]:
    """Why a published total differs: (cause, English, Chinese), likeliest first."""
    result = ctx.results[index]
    assert isinstance(result, Result)  # noqa: S101
    trace = result.trace
    assert trace is not None  # noqa: S101
    root = trace.root
    exact = root.roundings[0].before if root.roundings else result.total_exact
    places = trace.total_places if trace.total_places is not None else 2
    slip = rounding_slip(exact, published, places, ctx.compiled.plan.mode)
    if slip is not None:
        return ("total_rounding", *slip)
    plan = ctx.compiled.plan
    leaves = {plan.nodes[i].id for i in plan.leaves}
    given = {k: v for k, v in rows.items() if k in leaves}
    if given and len(given) == len(leaves) and ctx.compiled.total_for(given) == published:
        return (
            "published_rows",
            "the total adds the published rows, which differ from the recomputed ones",
            "总分按公布的各行得分汇总，而各行得分与重算结果不同",
        )
    found = _rounded_input(ctx, index, published, shown)
    if found is not None:
        return ("input_rounded", *found)
    return (
        "inputs_cannot_give",
        f"its inputs cannot give {shown}: no value that rounds to a published input gives it",
        f"其输入值得不出 {shown}：任何舍入后等于公布输入值的取值都得不出该总分",
    )


def _interval(text: str) -> tuple[Fraction, Fraction, int, bool] | None:
    """A published decimal input: (its value, half its last digit, places, a percentage)."""
    match = _DECIMAL.match(text)
    if match is None:
        return None
    places = len(match[2] or "")
    scale = 100 if match[3] else 1
    value = Fraction(int(match[1] + (match[2] or "")), 10**places * scale)
    return value, Fraction(1, 2 * 10**places * scale), places, bool(match[3])


def _decimal_text(value: Fraction, percent: bool) -> str:
    """A terminating *value* as the decimal text it would be published as."""
    return format_number(value * 100) + "%" if percent else format_number(value)


def _rounded_input(
    ctx: _Context, index: int, published: Fraction, shown: str
) -> tuple[str, str] | None:
    """A value that rounds to a published input and gives the published total, if any.

    The unit's own inputs are tried first, then the input of each unit that set a cohort
    value the unit reads (the best unit's rounded value moves everyone's score).
    """
    unit, result = ctx.units[index], ctx.results[index]
    assert isinstance(result, Result)  # noqa: S101
    candidates: list[tuple[int, tuple[str, ...], str, str]] = [
        (index, path, text, "") for path, text, _ in unit.cells
    ]
    cohort = result.cohort
    by_name = {u.name: i for i, u in enumerate(ctx.units)}
    for taken in cohort.values if cohort is not None else ():
        source = by_name.get(taken.unit or "")
        if source is None or source == index or taken.of is None:
            continue
        candidates += [
            (source, path, text, taken.label or taken.name)
            for path, text, _ in ctx.units[source].cells
            if path[-1] == taken.of
        ]
    for source, path, text, sets in candidates:
        read = _interval(text)
        if read is None:
            continue
        value, half, _, percent = read
        lowest = value - half

        def at(candidate: Fraction, source: int = source, path: tuple[str, ...] = path,
               percent: bool = percent) -> Fraction | None:  # fmt: skip
            if candidate < 0:
                return None
            return _total_with(ctx, index, source, path, _decimal_text(candidate, percent))

        step = half * 2 / 10**_DIGITS

        def on_grid(
            i: int,
            lowest: Fraction = lowest,
            step: Fraction = step,
            at: Callable[[Fraction], Fraction | None] = at,
        ) -> Fraction | None:
            return at(lowest + i * step)

        hit = _find(on_grid, 10**_DIGITS, published)
        if hit is None:
            continue
        witness = _decimal_text(_shortest(lowest, half, hit, at, published), percent)
        name = path[-1] if path[0] == "shared" else ".".join(path[1:])
        if source == index:
            return (
                (
                    f"an input rounded before publication: {name} = {witness} "
                    f"(published as {text.strip()}) gives {shown}"
                ),
                (
                    f"输入值在公布前经过舍入：{name} = {witness}（公布为 {text.strip()}）"
                    f"可得出 {shown}"
                ),
            )
        other = ctx.units[source].name
        return (
            (
                f"an input of {other} rounded before publication: its {name} sets {sets}, "
                f"and {witness} (published as {text.strip()}) gives {shown}"
            ),
            (
                f"{other} 的输入值在公布前经过舍入：其 {name} 决定{sets}，"
                f"取 {witness}（公布为 {text.strip()}）可得出 {shown}"
            ),
        )
    return None


def _shortest(
    lowest: Fraction,
    half: Fraction,
    hit: int,
    at: Callable[[Fraction], Fraction | None],
    published: Fraction,
) -> Fraction:
    """The value with the fewest digits near grid point *hit* that still gives *published*."""
    found = lowest + hit * half * 2 / 10**_DIGITS
    for digits in range(1, _DIGITS):
        step = half * 2 / 10**digits
        below: Fraction = lowest + (found - lowest) // step * step
        for candidate in (below, below + step):
            if lowest <= candidate < lowest + 2 * half and at(candidate) == published:
                return candidate
    return found


def _total_with(
    ctx: _Context, index: int, source: int, path: tuple[str, ...], text: str
) -> Fraction | None:
    """Unit *index*'s total when unit *source*'s input at *path* reads *text*.

    The cohort values are taken again only when the input is one they are taken over
    (remembered per changed input); otherwise the table's own values are used.
    """
    compiled = ctx.compiled
    changed = _replaced(ctx.units[source].data, path, text)
    mine = changed if source == index else ctx.units[index].facts
    assert not isinstance(mine, FactsError)  # noqa: S101
    try:
        if not compiled.plan.cohort_rules:
            if source != index:
                return None
            return compiled.evaluate(changed, trace=False).total_exact
        values = ctx.base_values
        if path[0] == "shared" and path[-1] in compiled.plan.cohort_reads:
            key = (source, path, text)
            values = ctx.cohort_cache.get(key)
            if values is None:
                facts: list[Facts | Mapping[str, Any]] = [
                    changed if i == source else u.facts
                    for i, u in enumerate(ctx.units)
                    if not isinstance(u.facts, FactsError)
                ]
                values = ctx.cohort_cache[key] = compiled.cohort_values(facts)
            if values.problems:
                return None
        return compiled.evaluate(mine, trace=False, cohort=values).total_exact
    except FactsError:
        return None


def _find(total_at: Callable[[int], Fraction | None], count: int, target: Fraction) -> int | None:
    """A point of the grid 0..count-1 whose total is *target*.

    Every point of a small grid; bisection of a larger one (a total moves one way as one
    input does, so a witness is found when there is one).
    """
    if count <= 10:
        return next((i for i in range(count) if total_at(i) == target), None)
    low, high = 0, count - 1
    first, last = total_at(low), total_at(high)
    if first is None or last is None:
        return None
    if target in (first, last):
        return low if first == target else high
    rising = first < last
    if not (first < target < last if rising else last < target < first):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        value = total_at(middle)
        if value is None:
            return None
        if value == target:
            return middle
        if (value < target) == rising:
            low = middle
        else:
            high = middle
    return None


def _ranks(
    ctx: _Context, published: Mapping[int, tuple[int, bool]]
) -> tuple[RankAgreement | None, list[TableFinding]]:
    """How many published ranks agree, and why each other one differs."""
    if not published:
        return None, []
    compiled = ctx.compiled
    findings: list[TableFinding] = []
    agree = compared = 0
    largest = 0
    rows = _rank_rows(ctx, published_totals=False)
    by_rule = {rule: compiled.rank(rows, ties=rule) for rule in _RULES}
    by_published = {
        rule: compiled.rank(_rank_rows(ctx, published_totals=True), ties=rule) for rule in _RULES
    }
    scheme_rule = compiled.scheme.ranking.ties if compiled.scheme.ranking else "competition"
    for index, (position, _) in published.items():
        unit, result = ctx.units[index], ctx.results[index]
        column = ctx.units[index].published["rank"][1]
        shown = str(unit.published["rank"][0]).strip()
        rank = result.rank if isinstance(result, Result) else None
        if rank is None:
            if not isinstance(result, Result):
                reason = ("its facts cannot be scored", "其事实无法计分")
            elif compiled.scheme.ranking is None:
                reason = ("the scheme declares no ranking", "方案未规定排名")
            else:
                reason = ("the scheme does not rank it (its ranking's condition leaves it out)",
                          "方案不对其排名（排名条件将其排除）")  # fmt: skip
            findings.append(
                TableFinding(unit.name, "rank", "off", shown, "—", None, "unranked", *reason,
                             ctx.file, unit.line, column)
            )  # fmt: skip
            continue
        compared += 1
        shift = position - rank.position
        largest = max(largest, abs(shift))
        if shift == 0:
            agree += 1
            marked = published[index][1]
            if marked and not rank.shared:
                findings.append(
                    TableFinding(unit.name, "rank", "off", shown, rank.shown, None,
                                 "shared_mark", "published as a shared rank, but no other unit "
                                 "has its place", "公布为并列名次，但没有其他对象与其名次相同",
                                 ctx.file, unit.line, column)
                )  # fmt: skip
            continue
        cause, en, zh = _rank_cause(ctx, index, position, by_rule, by_published, scheme_rule)
        findings.append(
            TableFinding(unit.name, "rank", "off", shown, rank.shown,
                         f"{shift:+d}", cause, en, zh, ctx.file, unit.line, column)
        )  # fmt: skip
    return RankAgreement(compared, agree, largest), findings


def _rank_rows(
    ctx: _Context, *, published_totals: bool
) -> list[tuple[int, str, tuple[Fraction | None, ...], str | None]]:
    """What the ranking orders: each ranked unit's keys (the published total for ``total``)."""
    rows = []
    for index, (unit, result) in enumerate(zip(ctx.units, ctx.results, strict=True)):
        rank = result.rank if isinstance(result, Result) else None
        if rank is None or not isinstance(result, Result):
            continue
        keys = []
        for key in rank.keys:
            value = key.value
            if published_totals and key.by in unit.published and key.by != "rank":
                cell, column = unit.published[key.by]
                value = _number(cell, (ctx.file, unit.line, column))
            keys.append(value)
        cohort = result.cohort
        rows.append((index, unit.name, tuple(keys), None if cohort is None else cohort.cohort))
    return rows


def _rank_cause(
    ctx: _Context,
    index: int,
    position: int,
    by_rule: Mapping[str, Mapping[int, Rank]],
    by_published: Mapping[str, Mapping[int, Rank]],
    scheme_rule: str,
) -> tuple[str, str, str]:
    """Why a published rank differs: another tie rule, or the published totals."""
    for rule in _RULES:
        other = by_rule[rule].get(index)
        if rule != scheme_rule and other is not None and other.position == position:
            tie = _nearest_tie(ctx, index, by_rule[scheme_rule])
            en, zh = _RULE_TEXT[rule]
            if tie is None:
                return ("tie_rule", f"the table uses {en}", f"公布表采用{zh}")
            names, at = tie
            own = index in names
            listed = ", ".join(ctx.units[i].name for i in sorted(names)[:3])
            listed_zh = "、".join(ctx.units[i].name for i in sorted(names)[:3])
            more = len(names) - 3
            if more > 0:
                listed += f" and {more} more"
                listed_zh += f" 等 {len(names)} 个"
            if own:
                return (
                    "tie_rule",
                    f"a tie of {listed} at rank {at}, which the table ranks by {en}",
                    f"{listed_zh} 并列第 {at} 名，公布表采用{zh}",
                )
            return (
                "earlier_tie",
                (
                    f"a rank shifted by an earlier tie: {listed} share rank {at}, and the table "
                    f"uses {en}"
                ),
                f"名次受前面的并列影响：{listed_zh} 并列第 {at} 名，公布表采用{zh}",
            )
    for rule in (scheme_rule, *[r for r in _RULES if r != scheme_rule]):
        other = by_published[rule].get(index)
        if other is not None and other.position == position:
            differ = [
                u.name
                for u, r in zip(ctx.units, ctx.results, strict=True)
                if isinstance(r, Result)
                and "total" in u.published
                and _number(u.published["total"][0], (ctx.file, u.line, 0)) != r.total_exact
            ]
            listed = ", ".join(differ[:3]) + (" ..." if len(differ) > 3 else "")
            rule_en = "" if rule == scheme_rule else f", by {_RULE_TEXT[rule][0]}"
            rule_zh = "" if rule == scheme_rule else f"，并采用{_RULE_TEXT[rule][1]}"
            return (
                "published_totals",
                (
                    f"ranked by the published totals, which differ from the recomputed ones "
                    f"({listed}){rule_en}"
                ),
                f"按公布的总分排名，而其总分与重算结果不同（{listed}）{rule_zh}",
            )
    return (
        "rank_unexplained",
        "the published rank follows neither the recomputed nor the published totals",
        "公布的名次既不符合重算的总分，也不符合公布的总分",
    )


def _nearest_tie(
    ctx: _Context, index: int, ranks: Mapping[int, Rank]
) -> tuple[set[int], int] | None:
    """The units of the tie nearest above (or around) unit *index*, and their rank."""
    mine = ranks[index]
    by_name = {u.name: i for i, u in enumerate(ctx.units)}
    best: tuple[set[int], int] | None = None
    for other, rank in ranks.items():
        if not rank.tied_with or rank.position > mine.position:
            continue
        same_cohort = _cohort_key(ctx.results[other]) == _cohort_key(ctx.results[index])
        if not same_cohort:
            continue
        members = {other} | {by_name[n] for n in rank.tied_with if n in by_name}
        at = min(ranks[m].position for m in members if m in ranks)
        if best is None or at > best[1]:
            best = (members, at)
    return best


def _cohort_key(result: Result | FactsError | None) -> str | None:
    cohort = result.cohort if isinstance(result, Result) else None
    return None if cohort is None else cohort.cohort
