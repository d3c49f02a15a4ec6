"""What changed between two schemes, and what it does to one unit's scores.

:func:`diff_schemes` compares two (resolved) schemes: indicators and groups added, removed,
renamed or moved; weight, formula, target, parameter and policy changes; bands, rounding,
named formulas, inputs, scales and metadata; grade overrides; ``[cohort]`` and its values;
``[ranking]``. :func:`what_if` scores one unit's facts under both and lists every score that
moves, and :func:`what_if_traces` gives that unit's two traces, to read side by side.
:func:`movers` sets this year's units against last year's: rank and total changes,
new and dropped units.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from perfrules._numbers import format_number
from perfrules._outcomes import Change, Mover, Movers, ScoreChange, WhatIf
from perfrules.engine import CompiledScheme
from perfrules.errors import Diagnostic, FactsError
from perfrules.facts import Facts
from perfrules.model import Scheme
from perfrules.trace import Trace
from perfrules.workflows._batch import _wide_rows, score_batch
from perfrules.workflows._published import rank_number

__all__ = [
    "Change",
    "Movers",
    "ScoreChange",
    "WhatIf",
    "diff_schemes",
    "is_results_file",
    "movers",
    "what_if",
    "what_if_traces",
]

_INDICATOR_KEYS = (
    "weight",
    "formula",
    "target",
    "target_text",
    "params",
    "missing",
    "na",
    "clamp",
    "places",
    "direction",
    "show",
    "counted",
)
_GROUP_KEYS = ("weight", "places", "counted", "aggregate", "normalise")
_INPUT_KEYS = ("type", "label", "scale", "impute", "normalise", "description")
_COHORT_VALUE_KEYS = ("label", "stat", "of", "where", "percentile", "order")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | Fraction):
        return format_number(Fraction(value))
    if isinstance(value, BaseModel):  # a table of a rule file: impute = { method, by }
        value = value.model_dump(exclude_none=True)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def _table(
    section: str, old: Mapping[str, Any], new: Mapping[str, Any], keys: tuple[str, ...] | None
) -> list[Change]:
    out: list[Change] = []
    for entry_id, entry in new.items():
        if entry_id not in old:
            out.append(Change("added", section, entry_id, None, None, _summary(entry)))
    for entry_id, entry in old.items():
        if entry_id not in new:
            out.append(Change("removed", section, entry_id, None, _summary(entry), None))
    for entry_id in old.keys() & new.keys():
        before, after = old[entry_id], new[entry_id]
        if keys is None:
            if before != after:
                out.append(
                    Change("changed", section, entry_id, None, _summary(before), _summary(after))
                )
            continue
        if getattr(before, "name", None) != getattr(after, "name", None):
            out.append(
                Change(
                    "renamed",
                    section,
                    entry_id,
                    "name",
                    before.name or entry_id,
                    after.name or entry_id,
                )
            )
        if getattr(before, "parent", None) != getattr(after, "parent", None):
            out.append(
                Change(
                    "moved", section, entry_id, "parent", before.parent or "", after.parent or ""
                )
            )
        for key in keys:
            a, b = getattr(before, key), getattr(after, key)
            if a != b:
                shown = _normalise_text if key == "normalise" else _text
                out.append(Change("changed", section, entry_id, key, shown(a), shown(b)))
    return out


def _summary(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    parts = []
    for key in ("name", "weight", "parent", "formula", "target", "label", "min", "max"):
        value = getattr(entry, key, None)
        if value not in (None, ""):
            parts.append(f"{key} = {_text(value)}")
    normalise = getattr(entry, "normalise", None)
    if normalise is not None:
        parts.append(_normalise_text(normalise))
    return "; ".join(parts)


def _normalise_text(normalise: Any) -> str:
    """An input's or a group's declared step: its method, then what is not default."""
    if normalise is None:
        return ""
    declared = normalise.model_dump(exclude_defaults=True)
    more = [f"{k} {_text(v)}" for k, v in declared.items() if k != "method"]
    return "normalise = " + ", ".join([normalise.method, *more])


def diff_schemes(old: Scheme, new: Scheme) -> list[Change]:
    """Every difference between *old* and *new*, in a stable order."""
    out: list[Change] = []
    for section in ("scheme", "rounding", "defaults"):
        before, after = getattr(old, section), getattr(new, section)
        for key in type(before).model_fields:
            a, b = getattr(before, key), getattr(after, key)
            if a != b:
                out.append(Change("changed", section, key, key, _text(a), _text(b)))
    old_bands = {b.label: b for b in old.bands}
    new_bands = {b.label: b for b in new.bands}
    out += _table("bands", old_bands, new_bands, ("min", "max", "label_en"))
    out += _table("formulas", old.formulas, new.formulas, None)
    out += _table("inputs", old.inputs, new.inputs, _INPUT_KEYS)
    out += _table("scales", old.scales, new.scales, None)
    out += _table("groups", old.groups, new.groups, _GROUP_KEYS)
    # An indicator without a formula takes the default: compare the formula it really uses.
    old_ind = {
        k: v.model_copy(update={"formula": v.formula or old.defaults.formula})
        for k, v in old.indicators.items()
    }
    new_ind = {
        k: v.model_copy(update={"formula": v.formula or new.defaults.formula})
        for k, v in new.indicators.items()
    }
    out += _table("indicators", old_ind, new_ind, _INDICATOR_KEYS)
    out += _table(
        "grade_overrides",
        {o.label: o for o in old.grade_overrides},
        {o.label: o for o in new.grade_overrides},
        ("when", "label_en"),
    )
    out += _cohort(old, new)
    out += _ranking(old, new)
    order = {"added": 0, "removed": 1, "renamed": 2, "moved": 3, "changed": 4}
    sections = [
        "scheme",
        "rounding",
        "defaults",
        "bands",
        "grade_overrides",
        "formulas",
        "inputs",
        "scales",
        "groups",
        "indicators",
        "cohort",
        "cohort.values",
        "ranking",
    ]
    return sorted(out, key=lambda c: (sections.index(c.section), order[c.kind], c.id, c.key or ""))


def _whole(section: str, before: Any, after: Any, text_of: Any) -> Change:
    """A section added or removed as a whole, summed up by *text_of*."""
    if before is None:
        return Change("added", section, section, None, None, text_of(after))
    return Change("removed", section, section, None, text_of(before), None)


def _cohort(old: Scheme, new: Scheme) -> list[Change]:
    """``[cohort]``: added or removed as a whole, else its keys and each value."""
    before, after = old.cohort, new.cohort
    if before is None and after is None:
        return []
    if before is None or after is None:
        return [_whole("cohort", before, after, _cohort_text)]
    out = [
        Change(
            "changed", "cohort", key, key, _text(getattr(before, key)), _text(getattr(after, key))
        )
        for key in ("group_by", "label")
        if getattr(before, key) != getattr(after, key)
    ]
    return out + _table("cohort.values", before.values, after.values, _COHORT_VALUE_KEYS)


def _cohort_text(cohort: Any) -> str:
    values = ", ".join(
        f"{name} = {value.stat} of {value.of or 'units'}" for name, value in cohort.values.items()
    )
    grouped = f"group_by = {cohort.group_by}; " if cohort.group_by else ""
    return f"{grouped}values: {values}"


def _ranking(old: Scheme, new: Scheme) -> list[Change]:
    """``[ranking]``: added or removed, else its keys in order, ties, condition and label."""
    before, after = old.ranking, new.ranking
    if before is None and after is None:
        return []
    if before is None or after is None:
        return [_whole("ranking", before, after, _ranking_text)]
    out = []
    keys_before = ", ".join(f"{k.by} {k.order}" for k in before.keys)
    keys_after = ", ".join(f"{k.by} {k.order}" for k in after.keys)
    if keys_before != keys_after:
        out.append(Change("changed", "ranking", "keys", "keys", keys_before, keys_after))
    for key in ("ties", "where", "label", "shared_mark", "min_available"):
        a, b = getattr(before, key), getattr(after, key)
        if a != b:
            out.append(Change("changed", "ranking", key, key, _text(a), _text(b)))
    return out


def _ranking_text(ranking: Any) -> str:
    keys = ", ".join(f"{k.by} {k.order}" for k in ranking.keys)
    return f"keys: {keys}; ties = {ranking.ties}"


def _restricted(facts: Facts, compiled: CompiledScheme) -> Facts:
    """The facts of the indicators *compiled* has (a what-if file may cover both schemes)."""
    known = {compiled.plan.nodes[i].id for i in compiled.plan.leaves}
    indicators = {k: v for k, v in facts.indicators.items() if k in known}
    return Facts(indicators, facts.shared, facts.unit, facts.file, facts.source, facts.sha256)


def what_if(old: CompiledScheme, new: CompiledScheme, facts: Facts | Mapping[str, Any]) -> WhatIf:
    """Score *facts* under both schemes; rows for every node whose score differs.

    The facts may cover the indicators of both schemes: each scheme reads its own.

    Raises:
        FactsError: the facts cannot be scored under one of the schemes.
    """
    if not isinstance(facts, Facts):
        facts = Facts.from_mapping(facts)
    before = old.evaluate(_restricted(facts, old), trace=False)
    after = new.evaluate(_restricted(facts, new), trace=False)
    names = {n.id: n.name for n in old.plan.nodes[1:]} | {n.id: n.name for n in new.plan.nodes[1:]}
    order = [n.id for n in new.plan.nodes[1:]] + [
        n.id for n in old.plan.nodes[1:] if n.id not in new.plan.by_id
    ]
    rows = []
    for node_id in order:
        a = before.scores.get(node_id)
        b = after.scores.get(node_id)
        if a != b:
            rows.append(ScoreChange(node_id, names[node_id], a, b))
    return WhatIf(tuple(rows), before.total, after.total, before.grade.label, after.grade.label)


def what_if_traces(
    old: CompiledScheme, new: CompiledScheme, facts: Facts | Mapping[str, Any]
) -> tuple[Trace, Trace]:
    """The traces of *facts* under the old scheme and the new, as :func:`what_if` scores them.

    Raises:
        FactsError: the facts cannot be scored under one of the schemes.
    """
    if not isinstance(facts, Facts):
        facts = Facts.from_mapping(facts)
    before = old.evaluate(_restricted(facts, old)).trace
    after = new.evaluate(_restricted(facts, new)).trace
    assert before is not None  # noqa: S101 - evaluate traces by default
    assert after is not None  # noqa: S101
    return before, after


#: One unit's year: (unit, total, grade, rank as shown, rank position).
_Line = tuple[str, Decimal | None, str | None, str | None, int | None]


def movers(
    old: CompiledScheme, new: CompiledScheme, last: str | Path, current: str | Path
) -> Movers:
    """This year's units (*current*, under *new*) against last year's (*last*, under *old*).

    Each file is either units to score (facts: a CSV with a unit column, a workbook, a
    folder) or results written by ``perfrules score --out results.csv`` (a ``total`` and an
    ``errors`` column), read as they are. Units are matched by name.

    Raises:
        FactsError: a file cannot be read, or a results file has a cell that is not a total
            or a rank.
    """
    before, failed_before = _year(old, Path(last))
    after, failed_after = _year(new, Path(current))
    known: dict[str, _Line] = {}
    for line in before:
        known.setdefault(line[0], line)  # the first unit of a name
    rows, added, seen = [], [], set()
    for unit, total, grade, shown, position in sorted(after, key=_order):
        if unit in seen:
            continue
        seen.add(unit)
        previous = known.get(unit)
        if previous is None:
            added.append(Mover(unit, None, total, None, shown, None, None, grade))
            continue
        _, old_total, old_grade, old_shown, old_position = previous
        change = None if old_position is None or position is None else old_position - position
        rows.append(Mover(unit, old_total, total, old_shown, shown, change, old_grade, grade))
    dropped = tuple(
        Mover(unit, total, None, shown, None, None, grade, None)
        for unit, total, grade, shown, _ in sorted(known.values(), key=_order)
        if unit not in seen
    )
    failed = tuple(("old", u, c) for u, c in failed_before) + tuple(
        ("new", u, c) for u, c in failed_after
    )
    return Movers(tuple(rows), tuple(added), dropped, failed)


def _order(line: _Line) -> tuple[bool, int, Decimal]:
    """Ranking order: ranked units by rank, then the others by total, highest first."""
    _, total, _, _, position = line
    return (position is None, position or 0, -(total if total is not None else Decimal(0)))


def _year(compiled: CompiledScheme, source: Path) -> tuple[list[_Line], list[tuple[str, str]]]:
    """One year's units as (unit, total, grade, rank shown, position), and those that failed."""
    if is_results_file(source):
        return _results(source)
    lines: list[_Line] = []
    failed: list[tuple[str, str]] = []
    for unit in score_batch(compiled, source).units:
        result = unit.result
        if result is None:
            failed.append((unit.unit, ", ".join(sorted({d.code for d in unit.errors}))))
            continue
        rank = result.rank
        lines.append(
            (
                unit.unit,
                result.total,
                result.grade.label,
                None if rank is None else rank.shown,
                None if rank is None else rank.position,
            )
        )
    return lines, failed


def is_results_file(source: Path) -> bool:
    """A results CSV of ``perfrules score`` (its header has ``total`` and ``errors``)."""
    if source.suffix.lower() != ".csv" or not source.is_file():
        return False
    with source.open(encoding="utf-8-sig", errors="replace") as stream:
        line = stream.readline(1 << 20)  # one endless line is not read whole
    header = {cell.strip() for row in csv.reader([line]) for cell in row}
    return {"unit", "total", "errors"} <= header


def _results(source: Path) -> tuple[list[_Line], list[tuple[str, str]]]:
    lines: list[_Line] = []
    failed: list[tuple[str, str]] = []
    problems: list[Diagnostic] = []
    for unit, values, (file, line) in _wide_rows(source):
        if isinstance(values, FactsError):
            problems += values.diagnostics
            continue
        columns = list(values)
        total_text = (values.get("total") or "").strip()
        if not total_text:
            failed.append((unit, (values.get("errors") or "").strip()[:80]))
            continue
        try:
            total = Decimal(total_text)
        except ArithmeticError:
            total = None
        if total is None or not total.is_finite():
            problems.append(_cell(total_text, "a total", "总分", file, line, columns, "total"))
            continue
        rank_text = (values.get("rank") or "").strip().removeprefix("'")
        shown, position = None, None
        if rank_text:
            found = rank_number(rank_text)
            if found is None:
                problems.append(_cell(rank_text, "a rank", "名次", file, line, columns, "rank"))
                continue
            shown, position = rank_text, found[0]
        lines.append((unit, total, (values.get("grade") or "").strip() or None, shown, position))
    if problems:
        raise FactsError(problems)
    return lines, failed


def _cell(
    value: str, en: str, zh: str, file: str, line: int, columns: list[str], column: str
) -> Diagnostic:
    return Diagnostic(
        "PR402",
        (column,),
        {"value": value, "expected": en, "expected_zh": zh},
        file=file,
        line=line,
        column=columns.index(column) + 1,
    )
