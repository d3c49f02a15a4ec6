"""Auditing a published report: recompute every row and say why a published score differs.

A report file is a facts file with the published results added: in TOML or JSON a
``[published]`` table (``total``, ``grade``, ``[published.scores]`` by indicator id); in CSV or
XLSX a ``published`` column (``发布得分 published``) and rows with the ids ``total`` and ``grade``.

For each indicator whose published score is not what the scheme gives, the audit tries the
usual slips and names the likeliest: another rounding mode (truncation, rounding up, banker's
rounding) or another number of places, a ratio not capped at 100 %, a score above the weight.
It then checks that the published total is what the scheme's totals give for the published
rows (``CompiledScheme.total_for``: rows not counted left out, rows not applicable
renormalised, every level rounded) and that the grade is the band of the published total
(``CompiledScheme.grade_for``). The audit never adds, rounds or grades by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from perfrules._numbers import (
    ROUNDING,
    NumberFormatError,
    format_number,
    round_fraction,
    to_fraction,
)
from perfrules._outcomes import AuditFinding, AuditReport, Published
from perfrules.engine import CompiledScheme
from perfrules.errors import Diagnostic, ExpressionError, FactsError
from perfrules.expressions import compile_expression
from perfrules.facts import Facts, format_of, load_sheet_facts
from perfrules.rules import read_document
from perfrules.trace import NodeTrace

__all__ = ["AuditFinding", "AuditReport", "audit", "explain_row", "load_report", "rounding_slip"]

# Modes to try when a published value differs, likeliest first (truncation is common).
_MODES = ("half_up", "down", "up", "half_even")


#: How reports print a row that is not applicable.
_NOT_APPLICABLE_MARKS: Final = frozenset(
    {"/", "／", "—", "-", "－", "n/a", "na", "不适用", "不涉及"}
)


def _score(value: Any, where: tuple[str | None, int], key: str) -> Fraction | None:
    """A published row score: a number, or ``None`` for "not applicable" (/, 不适用)."""
    if isinstance(value, str) and value.strip().lower() in _NOT_APPLICABLE_MARKS:
        return None
    return _number(value, where, key)


def _number(value: Any, where: tuple[str | None, int], key: str) -> Fraction:
    try:
        return to_fraction(str(value) if isinstance(value, float) else value)  # float-ok: a cell
    except NumberFormatError:
        file, line = where
        raise FactsError(
            [
                Diagnostic(
                    "PR402",
                    ("published", key),
                    {"value": str(value), "expected": "a number", "expected_zh": "数字"},
                    file=file,
                    line=line,
                    column=1,
                )
            ]
        ) from None


def load_report(path: str | Path) -> tuple[Facts, Published]:
    """The facts and the published results of a report file (TOML, JSON, CSV or XLSX)."""
    file = Path(path)
    kind = format_of(file)
    if kind is not None and kind.sheet:
        return _sheet_report(file)
    diagnostics: list[Diagnostic] = []
    loaded = read_document(file, diagnostics)
    if loaded is None:
        raise FactsError(diagnostics)
    document, source_map, digest = loaded
    published_raw = _table(document, ("published",), source_map, str(file))
    scores_raw = _table(published_raw, ("published", "scores"), source_map, str(file))
    scores: dict[str, Fraction | None] = {}
    positions: dict[str, tuple[str | None, int]] = {}
    for ident, value in scores_raw.items():
        where = (str(file), source_map.position(("published", "scores", ident))[0])
        scores[ident] = _score(value, where, ident)
        positions[ident] = where
    total = None
    if "total" in published_raw:
        where = (str(file), source_map.position(("published", "total"))[0])
        total = _number(published_raw["total"], where, "total")
        positions["total"] = where
    grade = published_raw.get("grade")
    if grade is not None:
        positions["grade"] = (str(file), source_map.position(("published", "grade"))[0])
    facts = Facts(
        indicators=document.get("indicators", {}),
        shared=document.get("shared", {}),
        unit=str(document.get("unit", "")),
        file=str(file),
        source=source_map,
        sha256=digest,
    )
    if total is None and grade is None and not scores:
        line = source_map.position(("published",))[0] if "published" in document else 0
        raise FactsError([Diagnostic("PR412", ("published",), {}, file=str(file), line=line)])
    return facts, Published(total, None if grade is None else str(grade), scores, positions)


def _table(
    within: Mapping[str, Any], path: tuple[str, ...], source_map: Any, file: str
) -> Mapping[str, Any]:
    """The table at the end of *path* in *within* (empty when absent); ``PR402`` if not one.

    ``published`` and ``published.scores`` are tables of values by key: a text or a list
    written there is an error at its line, never read as something else (a list of pairs
    would have passed for a table).
    """
    value = within.get(path[-1], {})
    if isinstance(value, Mapping):
        return value
    raise FactsError(
        [
            Diagnostic(
                "PR402",
                path,
                {
                    "value": str(value)[:60],
                    "expected": f"a table ([{'.'.join(path)}])",
                    "expected_zh": f"表（[{'.'.join(path)}]）",
                },
                file=file,
                line=source_map.position(path)[0],
                column=1,
            )
        ]
    )


def _sheet_report(file: Path) -> tuple[Facts, Published]:
    facts = load_sheet_facts(file)
    scores: dict[str, Fraction | None] = {}
    positions: dict[str, tuple[str | None, int]] = {}
    total = None
    grade = None
    indicators: dict[str, dict[str, Any]] = {}
    source = facts.source
    for ident, values in facts.indicators.items():
        row = source.position(("indicators", ident))[0] if source is not None else 0
        where = (facts.file, row)
        kept = dict(values)
        published = kept.pop("published", None)
        if ident == "total":
            total = _number(published, where, "total") if published is not None else None
            positions["total"] = where
            continue
        if ident == "grade":
            grade = None if published is None else str(published)
            positions["grade"] = where
            continue
        if published is not None:
            scores[ident] = _score(published, where, ident)
            positions[ident] = where
        indicators[ident] = kept
    if total is None and grade is None and not scores:
        raise FactsError([Diagnostic("PR412", ("published",), {}, file=str(file))])
    clean = Facts(indicators, facts.shared, facts.unit, facts.file, facts.source, facts.sha256)
    return clean, Published(total, grade, scores, positions)


def rounding_slip(
    exact: Fraction, published: Fraction, declared: int, mode: str
) -> tuple[str, str] | None:
    """Another rounding mode or number of places that turns *exact* into *published*."""
    for places in (declared, *[p for p in range(5) if p != declared]):
        for other in _MODES:
            if (places, other) == (declared, mode):
                continue
            if round_fraction(exact, places, other) == published:
                en, zh = ROUNDING[other].audit_en, ROUNDING[other].audit_zh
                if places == declared:
                    want = ROUNDING[mode]
                    return (
                        f"{en} to {places} places instead of the declared {want.audit_en}",
                        f"按{zh}保留 {places} 位，而方案规定为{want.audit_zh}",
                    )
                return (
                    f"{en} to {places} places instead of {declared}",
                    f"按{zh}保留 {places} 位，而方案规定保留 {declared} 位",
                )
    return None


def explain_row(
    node: NodeTrace, published: Fraction, mode: str, formulas: Mapping[str, str]
) -> tuple[str, str]:
    """The likeliest reason a published row score differs from the scheme's."""
    exact = node.roundings[0].before if node.roundings else node.score
    if exact is None:
        return ("the indicator is not applicable", "该指标不适用")
    declared = node.places if node.places is not None else 2
    slip = rounding_slip(exact, published, declared, mode)
    if slip is not None:
        return slip
    for step in node.steps:
        capped = step.template.startswith(("min(", "ratio("))
        if not capped:
            continue
        ratio = None
        if step.template.startswith("ratio(") and len(step.args) == 2:
            actual, target = step.args
            if isinstance(actual, Fraction) and isinstance(target, Fraction) and target:
                ratio = actual / target
        else:
            ratio = next((a for a in step.args if isinstance(a, Fraction) and a > 1), None)
        if ratio is not None and ratio > 1:
            uncapped = exact * ratio
            for other in _MODES:
                if round_fraction(uncapped, declared, other) == published:
                    shown = format_number(round_fraction(ratio, 4, "half_up"))
                    return (
                        f"the ratio {shown} was not capped at 100%",
                        f"完成比例 {shown} 未按 100% 封顶",
                    )
    other_rule = _other_reading(node, published, declared, formulas)
    if other_rule is not None:
        return other_rule
    if published > node.weight:
        return (
            f"the published score is above the weight {format_number(node.weight)}",
            f"发布得分超过权重 {format_number(node.weight)}",
        )
    return (
        "the published score follows no declared rule",
        "发布得分不符合方案中的任何规则",
    )


# The readings of a row seen in real reports (domain.md §5), tried after the scheme's own
# named formulas: each as (name, formula, English, Chinese).
_COMMON_READINGS: Final = (
    ("rate as score", "weight * actual", "the rate taken as the score (weight × actual)",
     "以完成率直接计分（权重 × 业绩值）"),
    ("capped ratio", "weight * ratio(actual, target)",
     "the capped ratio (weight × min(actual/target, 1))",
     "按完成比例封顶计分（权重 × min(实际/目标, 1)）"),
    ("reverse ratio", "weight * reverse_ratio(actual, target)",
     "the reverse ratio (weight × min(target/actual, 1))",
     "按反向比例计分（权重 × min(目标/实际, 1)）"),
)  # fmt: skip


def _other_reading(
    node: NodeTrace, published: Fraction, places: int, formulas: Mapping[str, str]
) -> tuple[str, str] | None:
    """The scheme's other named formula, or a common reading, that gives the published row."""
    names: dict[str, Fraction | bool] = {"weight": node.weight}
    for item in node.inputs:
        if item.value is not None:
            names[item.name] = item.value
    scope = {k: "bool" if isinstance(v, bool) else "num" for k, v in names.items()}
    candidates = [
        (f"the scheme's formula '{name}'", f"方案中的公式“{name}”", text)
        for name, text in formulas.items()
        if node.formula not in (name, text)
    ]
    candidates += [(en, zh, text) for _, text, en, zh in _COMMON_READINGS]
    for en, zh, text in candidates:
        try:
            value = compile_expression(text, scope, formulas).evaluate(names)  # type: ignore[arg-type]
        except ExpressionError:
            continue  # needs a fact this row does not have, or fails on it
        if not isinstance(value, Fraction):
            continue
        if value == published or round_fraction(value, places, "half_up") == published:
            return (f"the published score follows {en}", f"发布得分符合{zh}")
    return None


def audit(
    compiled: CompiledScheme,
    facts: Facts,
    published: Published,
    *,
    tolerance: Fraction | Decimal | int | str = 0,
) -> AuditReport:
    """Recompute the report and compare every published value with the scheme's.

    A row or total that differs by at most *tolerance* (exact) is still a finding, with its
    likeliest slip, but marked ``within`` and does not make the report inconsistent.

    Raises:
        FactsError: the report's facts cannot be scored.
        ValueError: a negative tolerance.
    """
    allowed = Fraction(tolerance)
    if allowed < 0:
        msg = f"the tolerance must not be negative: {tolerance}"
        raise ValueError(msg)
    result = compiled.evaluate(facts)
    trace = result.trace
    assert trace is not None  # noqa: S101
    mode = compiled.plan.mode
    findings: list[AuditFinding] = []
    plan = compiled.plan
    # A row is a group or an indicator: the root is not a row, even when a row has its id.
    nodes = {node.id: node for node in trace.root.walk() if node is not trace.root}
    for ident, value in published.scores.items():
        node = nodes.get(ident)
        file, line = published.positions.get(ident, (None, 0))
        shown = "not applicable" if value is None else format_number(value)
        if node is None:
            findings.append(
                AuditFinding(
                    ident,
                    shown,
                    "—",
                    None,
                    "no such indicator in the scheme",
                    "方案中没有该指标",
                    file,
                    line,
                )
            )
            continue
        if node.score == value:
            continue
        expected = "excluded" if node.score is None else format_number(node.score, node.places)
        if value is None or node.score is None:
            en, zh = (
                (
                    "published as not applicable, but the facts score it",
                    "公布为不适用，但按事实应计分",
                )
                if value is None
                else ("the facts mark it not applicable", "事实将其标为不适用")
            )
            findings.append(AuditFinding(ident, shown, expected, None, en, zh, file, line))
            continue
        difference = format_number(value - node.score)
        en, zh = explain_row(node, value, mode, compiled.scheme.formulas)
        within = abs(value - node.score) <= allowed
        findings.append(
            AuditFinding(ident, shown, expected, difference, en, zh, file, line, within)
        )
    if published.total is not None:
        file, line = published.positions.get("total", (None, 0))
        leaves = {plan.nodes[i].id for i in plan.leaves}
        rows = {k: v for k, v in published.scores.items() if k in leaves}
        if rows and len(rows) == len(leaves) and any(v is not None for v in rows.values()):
            # What the scheme's own totals give for the published rows: rows not counted
            # are not added, rows published as not applicable are renormalised, and every
            # level is rounded as declared.
            given = compiled.total_for(rows)
            if given is not None and given != published.total:
                findings.append(
                    AuditFinding(
                        "total",
                        format_number(published.total),
                        format_number(given, trace.total_places),
                        format_number(published.total - given),
                        "the published total is not what the scheme gives for the published rows",
                        "发布的总分与按方案汇总各行发布得分的结果不同",
                        file,
                        line,
                        abs(published.total - given) <= allowed,
                    )
                )
        if published.total != result.total_exact and not any(f.id == "total" for f in findings):
            findings.append(
                AuditFinding(
                    "total",
                    format_number(published.total),
                    str(result.total),
                    format_number(published.total - result.total_exact),
                    "the published total differs from the recomputed total",
                    "发布的总分与重新计算的总分不同",
                    file,
                    line,
                    abs(published.total - result.total_exact) <= allowed,
                )
            )
    if published.grade is not None:
        file, line = published.positions.get("grade", (None, 0))
        basis = published.total if published.total is not None else result.total_exact
        # A grade override that fired replaces the band, whatever the total (the engine's
        # grade says so); otherwise the grade is the band of the published total.
        overridden = any(note.kind == "grade_override" for note in trace.root.notes)
        band = result.grade if overridden else compiled.grade_for(basis)
        if band.label != published.grade:
            findings.append(
                AuditFinding(
                    "grade",
                    published.grade,
                    band.label,
                    None,
                    f"a total of {format_number(basis)} falls in the band {band.label}",
                    f"总分 {format_number(basis)} 对应的等级为“{band.label}”",
                    file,
                    line,
                )
            )
    unpublished = tuple(
        plan.nodes[i].id for i in plan.leaves if plan.nodes[i].id not in published.scores
    )
    return AuditReport(
        len(published.scores),
        tuple(findings),
        str(result.total),
        result.grade.label,
        unpublished=unpublished,
        total_published=published.total is not None,
        grade_published=published.grade is not None,
        tolerance=format_number(allowed),
    )
