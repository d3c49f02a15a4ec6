"""Semantic checks of a scheme: the tree, the weights, the bands, the scales, the formulas.

Each check is a generator of :class:`~perfrules.errors.Diagnostic`; :func:`run_checks`
chains them all, so one run reports every problem. Checks that depend on an entry that
failed validation are skipped for that entry, so one typo does not cause a cascade of
follow-on errors.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Final, TypeVar

from perfrules._numbers import NumberFormatError, format_number, parse_number
from perfrules.errors import Diagnostic, ExpressionError, format_key_path
from perfrules.expressions import (
    BUILTIN_NAMES,
    FUNCTIONS,
    MAX_TRACE_CHARS,
    Expression,
    FormulaTable,
    Type,
    build_named_formula,
    check_identifier,
    compile_expression,
    real_calls,
)
from perfrules.model import Scheme, TargetTextError, derive_target
from perfrules.rules._loader import KeyPath, Sections, Source
from perfrules.rules._normalise import (
    check_normalise,
    expand_groups,
    normalised_formulas,
    normalised_values,
)
from perfrules.rules._stages import TOTAL, Stages, order_stages, score_names

_PARTS_SHOWN = 8


@dataclass
class CheckResult:
    """Everything the checks found, and the formulas they compiled on the way."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    expressions: dict[str, Expression] = field(default_factory=dict)
    #: Compiled conditions of ``[[grade_overrides]]``, by position.
    conditions: dict[int, Expression] = field(default_factory=dict)
    #: Compiled ``where`` conditions of cohort values (by name) and of the ranking (``""``).
    cohort_conditions: dict[str, Expression] = field(default_factory=dict)
    #: For each diagnostic about a formula, the character offset inside the formula text.
    offsets: dict[int, int] = field(default_factory=dict)
    #: The passes rows reading scores need (:mod:`perfrules.rules._stages`).
    stages: Stages = field(default_factory=Stages)
    #: The scheme the checks ran on, with each normalised group written out
    #: (:func:`~perfrules.rules._normalise.expand_groups`): what the engine scores.
    #: ``None`` when that is the scheme as written.
    expanded: Scheme | None = None

    @property
    def ok(self) -> bool:
        """No diagnostic of severity error."""
        return not any(d.severity == "error" for d in self.diagnostics)


def _num(value: Decimal | Fraction) -> str:
    return format_number(Fraction(value))


def _parts(entries: list[tuple[str, Decimal]]) -> str:
    shown = [f"{name} {_num(weight)}" for name, weight in entries[:_PARTS_SHOWN]]
    if len(entries) > _PARTS_SHOWN:
        shown.append(f"… +{len(entries) - _PARTS_SHOWN}")
    return ", ".join(shown)


def check_tree(scheme: Scheme, broken: set[KeyPath]) -> Iterator[Diagnostic]:
    """Ids, parents, cycles, empty groups, weights at every level."""
    groups, indicators = scheme.groups, scheme.indicators
    for node_id in groups.keys() & indicators.keys():
        yield Diagnostic(
            "PR104",
            ("indicators", node_id),
            {"id": node_id, "first": f"groups.{node_id}", "second": f"indicators.{node_id}"},
        )
    if not indicators and not any(p[0] == "indicators" for p in broken):
        yield Diagnostic("PR206", ())
    children: dict[str | None, list[tuple[str, str, Decimal]]] = {}
    shown_only: set[str | None] = set()
    for section, entries in (("groups", groups), ("indicators", indicators)):
        for node_id, node in entries.items():
            parent = node.parent
            if parent is not None and parent not in groups and ("groups", parent) in broken:
                # its parent is declared but was refused (reported): not a second error here
                broken.add(("parent", parent))
                continue
            if parent is not None and parent not in groups:
                suggestion = _close(parent, groups)
                yield Diagnostic(
                    "PR203",
                    (section, node_id, "parent"),
                    {"id": node_id, "parent": parent, "suggestion": suggestion},
                    "did_you_mean" if suggestion else None,
                )
                broken.add(("parent", parent))
                continue
            if node.counted:  # a row shown but not counted is not part of the sums
                children.setdefault(parent, []).append((section, node_id, node.weight))
            else:
                shown_only.add(parent)
            if node.weight < 0:
                yield Diagnostic(
                    "PR107",
                    (section, node_id, "weight"),
                    {
                        "key": format_key_path((section, node_id, "weight")),
                        "detail": "must not be negative",
                        "detail_zh": "不能为负数",
                    },
                )
            elif node.weight == 0 and not (parent is not None and groups[parent].weight == 0):
                # once, at the top of a weight-0 branch (its rows cannot score either)
                yield Diagnostic(
                    "PR223", (section, node_id, "weight"), {"id": node_id}, "counted_false"
                )
    yield from _cycles(scheme)
    for group_id, group in groups.items():
        kids = children.get(group_id, [])
        if not kids:
            if ("parent", group_id) in broken:
                continue
            if group_id not in shown_only:
                yield Diagnostic("PR205", ("groups", group_id), {"id": group_id})
            elif group.weight != 0 and group.counted:  # its rows are all shown, none counted
                yield Diagnostic(
                    "PR201",
                    ("groups", group_id, "weight"),
                    {"parent": group_id, "sum": "0", "weight": _num(group.weight), "parts": ""},
                )
            continue
        if ("parent", group_id) in broken or any(("indicators", k) in broken for _, k, _ in kids):
            continue
        # exact, whatever the digits (a Decimal sum keeps 28 of them)
        total = sum((Fraction(w) for _, _, w in kids), Fraction(0))
        if total != group.weight:
            yield Diagnostic(
                "PR201",
                ("groups", group_id, "weight"),
                {
                    "parent": group_id,
                    "sum": _num(total),
                    "weight": _num(group.weight),
                    "parts": _parts([(k, w) for _, k, w in kids]),
                    "rows": tuple((section, k, "weight") for section, k, _ in kids),
                },
            )
    top = children.get(None, [])
    fitted = scheme.scheme.fit is not None  # the rows may add up to another maximum
    if top and not fitted and ("parent", "") not in broken and ("scheme",) not in broken:
        total = sum((Fraction(w) for _, _, w in top), Fraction(0))
        if total != scheme.max:
            yield Diagnostic(
                "PR202",
                ("scheme", "max"),
                {
                    "sum": _num(total),
                    "max": _num(scheme.max),
                    "parts": _parts([(k, w) for _, k, w in top]),
                    "rows": tuple((section, k, "weight") for section, k, _ in top),
                },
            )


#: Deepest nesting of groups (一级/二级/三级 is three).
MAX_GROUP_DEPTH: Final = 32


def _cycles(scheme: Scheme) -> Iterator[Diagnostic]:
    """Cycles among groups and groups nested too deeply, each group visited once."""
    groups = scheme.groups
    depth: dict[str, int] = {}  # groups whose chain to the top is known, with their depth
    for start in groups:
        path: list[str] = []
        on_path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in groups and node not in depth:
            if node in on_path:
                cycle = path[on_path[node] :]
                yield Diagnostic(
                    "PR204", ("groups", node, "parent"), {"cycle": " → ".join([*cycle, node])}
                )
                break
            on_path[node] = len(path)
            path.append(node)
            node = groups[node].parent
        above = depth.get(node, 0) if node is not None else 0
        for level, group_id in enumerate(reversed(path), start=1):
            depth[group_id] = above + level
            if above + level == MAX_GROUP_DEPTH + 1:
                yield Diagnostic(
                    "PR207",
                    ("groups", group_id, "parent"),
                    {"id": group_id, "depth": above + level, "limit": MAX_GROUP_DEPTH},
                )


def _close(name: str, candidates: Mapping[str, object]) -> str:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else ""


def check_bands(scheme: Scheme, broken: set[KeyPath]) -> Iterator[Diagnostic]:
    """Bands: distinct, non-empty, highest first, no gap, no overlap, cover [0, max].

    A scheme may declare none: a rank-only scheme (a league table) gives no grade.
    """
    bands = scheme.bands
    if not bands:
        return
    top_max = scheme.max
    labels: set[str] = set()
    for index, band in enumerate(bands):
        if band.label in labels:
            yield Diagnostic("PR216", ("bands", index, "label"), {"label": band.label})
        labels.add(band.label)
        if band.min > band.max or (band.min == band.max and band.max != top_max):
            yield Diagnostic(
                "PR214",
                ("bands", index, "min"),
                {"label": band.label, "min": _num(band.min), "max": _num(band.max)},
            )
    if ("bands",) in broken:
        return
    for index in range(1, len(bands)):
        if bands[index].min > bands[index - 1].min:
            yield Diagnostic("PR212", ("bands", index, "min"), {"label": bands[index].label})
            return
    for index in range(1, len(bands)):
        upper, lower = bands[index - 1], bands[index]
        if lower.max > upper.min:
            yield Diagnostic(
                "PR211",
                ("bands", index, "max"),
                {
                    "first": upper.label,
                    "second": lower.label,
                    "low": _num(upper.min),
                    "high": _num(min(lower.max, upper.max)),
                },
            )
        elif lower.max < upper.min:
            yield Diagnostic(
                "PR210",
                ("bands", index, "max"),
                {
                    "low": _num(lower.max),
                    "high": _num(upper.min),
                    "below": lower.label,
                    "above": upper.label,
                },
            )
    if bands[0].max != top_max:
        yield Diagnostic(
            "PR213",
            ("bands", 0, "max"),
            {
                "max": _num(top_max),
                "detail": f"the highest band ends at {_num(bands[0].max)}, not at {_num(top_max)}",
                "detail_zh": f"最高等级止于 {_num(bands[0].max)}，而非 {_num(top_max)}",
            },
        )
    if bands[-1].min != 0:
        yield Diagnostic(
            "PR213",
            ("bands", len(bands) - 1, "min"),
            {
                "max": _num(top_max),
                "detail": f"the lowest band starts at {_num(bands[-1].min)}, not at 0",
                "detail_zh": f"最低等级起于 {_num(bands[-1].min)}，而非 0",
            },
        )


def check_settings(scheme: Scheme) -> Iterator[Diagnostic]:
    """Rounding places, inputs and scales; a geometric group is rounded."""
    for group_id, group in scheme.groups.items():
        kept = group.places if group.places is not None else scheme.rounding.group
        if group.aggregate == "geometric" and kept == "none":
            yield Diagnostic("PR238", ("groups", group_id, "aggregate"), {"group": group_id})
    places = [
        (("rounding", "indicator"), scheme.rounding.indicator),
        (("rounding", "group"), scheme.rounding.group),
        (("rounding", "total"), scheme.rounding.total),
        *((("groups", k, "places"), g.places) for k, g in scheme.groups.items()),
        *((("indicators", k, "places"), i.places) for k, i in scheme.indicators.items()),
    ]
    for path, value in places:
        if isinstance(value, int) and not 0 <= value <= 10:
            yield Diagnostic(
                "PR107",
                path,
                {
                    "key": format_key_path(path),
                    "detail": f"places must be 0 to 10, not {value}",
                    "detail_zh": f"小数位数应为 0 到 10，而不是 {value}",
                },
            )
    for name, declared in scheme.inputs.items():
        yield from _check_name(("inputs", name), name)
        if name in scheme.formulas:
            yield Diagnostic(
                "PR104",
                ("inputs", name),
                {"id": name, "first": f"inputs.{name}", "second": f"formulas.{name}"},
            )
        if declared.type == "level" and (
            declared.scale is None or declared.scale not in scheme.scales
        ):
            yield Diagnostic(
                "PR220",
                ("inputs", name, "scale"),
                {"input": name, "scale": declared.scale or ""},
            )
    yield from _check_imputation(scheme)
    for name in scheme.formulas:
        yield from _check_name(("formulas", name), name)
    for scale_id, scale in scheme.scales.items():
        for index, level in enumerate(scale.levels):
            level_path: KeyPath = ("scales", scale_id, "levels", index)
            if not (0 <= level.min <= level.max <= 1):
                yield Diagnostic(
                    "PR221",
                    (*level_path, "min"),
                    {
                        "scale": scale_id,
                        "level": level.label,
                        "min": _num(level.min),
                        "max": _num(level.max),
                    },
                )
            elif level.default is not None and not level.min <= level.default <= level.max:
                yield Diagnostic(
                    "PR222",
                    (*level_path, "default"),
                    {
                        "scale": scale_id,
                        "level": level.label,
                        "default": _num(level.default),
                        "min": _num(level.min),
                        "max": _num(level.max),
                    },
                )
    for indicator_id, indicator in scheme.indicators.items():
        for name in indicator.params:
            yield from _check_name(("indicators", indicator_id, "params", name), name)


_TYPES_ZH: Final = {"level": "定性档次", "bool": "是否型"}


def _check_imputation(scheme: Scheme) -> Iterator[Diagnostic]:
    """``impute`` on number inputs only, a group method with its group, ``min_available``."""
    for name, declared in scheme.inputs.items():
        impute = declared.impute
        if impute is None:
            continue
        path: KeyPath = ("inputs", name, "impute")
        if declared.type != "number":
            yield Diagnostic(
                "PR245",
                path,
                {
                    "input": name,
                    "type": f"{declared.type} input",
                    "type_zh": _TYPES_ZH.get(declared.type, declared.type),
                },
            )
            continue
        if isinstance(impute, Decimal | int):
            continue
        method, by = (impute, None) if isinstance(impute, str) else (impute.method, impute.by)
        if method.startswith("group") and not by:
            example = f'impute = {{ method = "{method}", by = "region" }}'
            yield Diagnostic(
                "PR246",
                path,
                {
                    "input": name,
                    "detail": f"{method} needs the shared fact naming the group: {example}",
                    "detail_zh": f"{method} 需要指明分组所依据的共享事实：{example}",
                },
            )
        elif method.startswith("cohort") and by is not None:
            yield Diagnostic(
                "PR246",
                (*path, "by"),
                {
                    "input": name,
                    "detail": f"{method} is taken over the whole cohort: drop by, or use "
                    f"group_{method.partition('_')[2]}",
                    "detail_zh": f"{method} 取自整个群体：请删去 by，或改用 "
                    f"group_{method.partition('_')[2]}",
                },
            )
        elif by is not None and by == name:
            yield Diagnostic(
                "PR246",
                (*path, "by"),
                {
                    "input": name,
                    "detail": "the group cannot be named by the fact being imputed",
                    "detail_zh": "分组不能由被插补的事实本身确定",
                },
            )
    ranking = scheme.ranking
    if ranking is not None and ranking.min_available is not None:
        share = ranking.min_available
        if not 0 < share <= 1:
            yield Diagnostic("PR247", ("ranking", "min_available"), {"value": _num(share)})


def _check_name(path: KeyPath, name: str) -> Iterator[Diagnostic]:
    problem = check_identifier(name) if name.isidentifier() else "PR319"
    if problem is None and (name in FUNCTIONS or name in BUILTIN_NAMES):
        problem = "PR319"
    if problem is not None:
        yield Diagnostic(problem, path, {"name": name}, "rename")


def scope_of(scheme: Scheme) -> dict[str, Type]:
    """Names a formula of *scheme* may read, with their types."""
    scope: dict[str, Type] = dict(BUILTIN_NAMES)
    for indicator in scheme.indicators.values():
        for name, value in indicator.params.items():
            scope[name] = "bool" if isinstance(value, bool) else "num"
    for name, declared in scheme.inputs.items():
        scope[name] = "bool" if declared.type == "bool" else "num"
    if scheme.cohort is not None:
        for name in scheme.cohort.values:
            scope[name] = "num"
    for name in score_names(scheme):  # a group's or indicator's score (stages)
        scope[name] = "num"
    return scope


def check_formulas(
    scheme: Scheme, result: CheckResult, orphans: Mapping[str, str] | None = None
) -> None:
    """Compile every named and indicator formula; record diagnostics with their offsets.

    *orphans* are formulas of indicators that failed validation: they are still checked, so
    a misspelt key and a wrong name in the same indicator are both reported.
    """
    # A normalised input: formulas read the formula it stands for (rules/_normalise.py),
    # over the cohort values it takes; conditions read the fact as given.
    normalised = normalised_formulas(scheme)
    scope: dict[str, Type] = scope_of(scheme)
    scope.update(dict.fromkeys(normalised_values(scheme), "num"))
    plain = FormulaTable(scheme.formulas)
    table = (
        FormulaTable({**scheme.formulas, **normalised}, shadows=frozenset(normalised))
        if normalised
        else plain
    )
    for indicator_id, orphan in (orphans or {}).items():
        try:
            compile_expression(orphan, scope, table)
        except ExpressionError as exc:
            if exc.code != "PR323":
                _formula_error(result, ("indicators", indicator_id, "formula"), exc)
    for name in scheme.formulas:
        program = build_named_formula(name, scope, table)
        if isinstance(program, ExpressionError):
            _formula_error(result, ("formulas", name), program)
    for index, override in enumerate(scheme.grade_overrides):
        condition = _condition(
            override.when, ("grade_overrides", index, "when"), scope, plain, result
        )
        if condition is not None:
            result.conditions[index] = condition
    default_text = scheme.defaults.formula
    default_failed = False
    if default_text is not None:
        try:
            compile_expression(default_text, scope, table)
        except ExpressionError as exc:
            default_failed = True
            if exc.code != "PR323":
                _formula_error(result, ("defaults", "formula"), exc)
    # One Expression per distinct text: indicators sharing a formula share its compiled code.
    compiled: dict[str, Expression | ExpressionError] = {}
    for indicator_id, indicator in scheme.indicators.items():
        text = indicator.formula if indicator.formula is not None else default_text
        path = ("indicators", indicator_id, "formula")
        if text is None:
            result.diagnostics.append(
                Diagnostic(
                    "PR103",
                    ("indicators", indicator_id),
                    {"table": format_key_path(("indicators", indicator_id)), "key": "formula"},
                )
            )
            continue
        if indicator.formula is None and default_failed:
            continue
        if text not in compiled:
            try:
                compiled[text] = compile_expression(text, scope, table)
            except ExpressionError as exc:
                compiled[text] = exc
        expression = compiled[text]
        if isinstance(expression, ExpressionError):
            failure = expression
            if failure.code != "PR323":
                _formula_error(
                    result,
                    path if indicator.formula is not None else ("defaults", "formula"),
                    failure,
                )
            continue
        if expression.type != "num":
            _formula_error(
                result,
                path,
                ExpressionError("PR321", {"got": "a condition", "got_zh": "条件"}, offset=0),
            )
            continue
        result.expressions[indicator_id] = expression
        places = indicator.places if indicator.places is not None else scheme.rounding.indicator
        if expression.real and places == "none":
            result.diagnostics.append(
                Diagnostic(
                    "PR237",
                    path if indicator.formula is not None else ("indicators", indicator_id),
                    {"indicator": indicator_id, "calls": ", ".join(real_calls(expression))},
                )
            )
        if (
            indicator.show is not None
            and indicator.show not in expression.names | indicator.params.keys()
        ):
            result.diagnostics.append(
                Diagnostic(
                    "PR107",
                    ("indicators", indicator_id, "show"),
                    {
                        "key": format_key_path(("indicators", indicator_id, "show")),
                        "detail": f"'{indicator.show}' is not read by the formula",
                        "detail_zh": f"公式没有用到“{indicator.show}”",
                    },
                )
            )


def _condition(
    text: str, path: KeyPath, scope: Mapping[str, Type], table: FormulaTable, result: CheckResult
) -> Expression | None:
    """A condition over facts (a grade override's or a cohort's), or ``None`` if it fails."""
    try:
        condition = compile_expression(text, scope, table)
    except ExpressionError as exc:
        if exc.code != "PR323":
            _formula_error(result, path, exc)
        return None
    if condition.type != "bool" or "weight" in condition.names:
        got = ("a number", "数值") if condition.type != "bool" else ("weight", "weight")
        _formula_error(
            result,
            path,
            ExpressionError(
                "PR307",
                {
                    "detail": f"{path[0]} needs a condition over facts, got {got[0]}",
                    "detail_zh": f"{path[0]} 应为关于事实的条件，实际为{got[1]}",
                },
                offset=0,
            ),
        )
        return None
    return condition


def check_cohort(scheme: Scheme, result: CheckResult) -> None:
    """``[cohort]`` and ``[ranking]``: names, what values are taken over, keys, conditions."""
    cohort, ranking = scheme.cohort, scheme.ranking
    if cohort is None and ranking is None:
        return
    numbers = sorted(n for n, i in scheme.inputs.items() if i.type == "number")
    # Conditions read facts only: not cohort values, which are taken over the units they pick.
    scope = {k: v for k, v in scope_of(scheme).items() if cohort is None or k not in cohort.values}
    table = FormulaTable(scheme.formulas)
    params = {n for i in scheme.indicators.values() for n in i.params}
    scores = [TOTAL, *scheme.groups, *scheme.indicators]  # a value over scores (stages)
    for name, value in (cohort.values if cohort is not None else {}).items():
        path: KeyPath = ("cohort", "values", name)
        result.diagnostics.extend(_check_name(path, name))
        for section, taken in (("inputs", scheme.inputs), ("formulas", scheme.formulas)):
            if name in taken:
                result.diagnostics.append(
                    Diagnostic(
                        "PR104",
                        path,
                        {
                            "id": name,
                            "first": f"{section}.{name}",
                            "second": f"cohort.values.{name}",
                        },
                    )
                )
        if name in params:
            result.diagnostics.append(
                Diagnostic(
                    "PR104",
                    path,
                    {"id": name, "first": "params", "second": f"cohort.values.{name}"},
                )
            )
        if value.stat == "count":
            if value.of is not None:
                result.diagnostics.append(
                    _cohort_detail(
                        name,
                        (*path, "of"),
                        "count counts units: drop of",
                        "count 统计对象个数，无需 of",
                    )
                )
        elif value.of is None:
            result.diagnostics.append(
                Diagnostic("PR103", path, {"table": f"cohort.values.{name}", "key": "of"})
            )
        elif value.of not in numbers and value.of not in scores:
            suggestion = _close(value.of, dict.fromkeys([*numbers, *scores]))
            result.diagnostics.append(
                Diagnostic(
                    "PR230",
                    (*path, "of"),
                    {"name": name, "of": value.of, "suggestion": suggestion},
                    "did_you_mean" if suggestion else None,
                )
            )
        if value.stat == "percentile":
            if value.percentile is None:
                result.diagnostics.append(
                    Diagnostic(
                        "PR103", path, {"table": f"cohort.values.{name}", "key": "percentile"}
                    )
                )
            elif not 0 <= value.percentile <= 100:
                result.diagnostics.append(
                    _cohort_detail(
                        name,
                        (*path, "percentile"),
                        f"percentile must be 0 to 100, not {_num(value.percentile)}",
                        f"百分位应为 0 到 100，而不是 {_num(value.percentile)}",
                    )
                )
        elif value.percentile is not None:
            result.diagnostics.append(
                _cohort_detail(
                    name,
                    (*path, "percentile"),
                    f'percentile only goes with stat = "percentile", not "{value.stat}"',
                    f'只有 stat = "percentile" 才用 percentile，而不是 "{value.stat}"',
                )
            )
        if value.stat in ("rank", "percentrank") and value.where is not None:
            result.diagnostics.append(
                _cohort_detail(
                    name,
                    (*path, "where"),
                    f"{value.stat} places every unit among all the cohort's values: drop where",
                    f"{value.stat} 在群体全部值中确定每个对象的位置：请去掉 where",
                )
            )
        elif value.stat in ("rank", "percentrank") and value.of in scores:
            result.diagnostics.append(
                _cohort_detail(
                    name,
                    (*path, "of"),
                    f"{value.stat} places each unit by a number input it gives, not by a score",
                    f"{value.stat} 按各对象给出的数值型输入项确定位置，不能取自得分",
                )
            )
        elif value.stat not in ("rank", "percentrank") and value.order != "asc":
            result.diagnostics.append(
                _cohort_detail(
                    name,
                    (*path, "order"),
                    f'order only goes with stat = "rank" or "percentrank", not "{value.stat}"',
                    f'只有 stat = "rank" 或 "percentrank" 才用 order，而不是 "{value.stat}"',
                )
            )
        if value.where is not None:
            condition = _condition(value.where, (*path, "where"), scope, table, result)
            if condition is not None:
                result.cohort_conditions[name] = condition
    if ranking is None:
        return
    groups_and_indicators = {**scheme.groups, **scheme.indicators}
    for index, key in enumerate(ranking.keys):
        path = ("ranking", "keys", index, "by")
        kinds = [
            kind
            for kind, names in (
                (("the total", "总分"), {"total"}),
                (("a group or indicator", "分组或指标"), groups_and_indicators),
                (("a number input", "数值型输入项"), numbers),
            )
            if key.by in names
        ]
        if not kinds:
            candidates = dict.fromkeys(["total", *groups_and_indicators, *numbers])
            suggestion = _close(key.by, candidates)
            result.diagnostics.append(
                Diagnostic(
                    "PR232",
                    path,
                    {"by": key.by, "suggestion": suggestion},
                    "did_you_mean" if suggestion else None,
                )
            )
        elif len(kinds) > 1:
            result.diagnostics.append(
                Diagnostic(
                    "PR233",
                    path,
                    {
                        "id": key.by,
                        "first": kinds[0][0],
                        "first_zh": kinds[0][1],
                        "second": kinds[1][0],
                        "second_zh": kinds[1][1],
                    },
                    "rename",
                )
            )
    if ranking.where is not None:
        condition = _condition(ranking.where, ("ranking", "where"), scope, table, result)
        if condition is not None:
            result.cohort_conditions[""] = condition


def _cohort_detail(name: str, path: KeyPath, detail: str, detail_zh: str) -> Diagnostic:
    return Diagnostic("PR231", path, {"name": name, "detail": detail, "detail_zh": detail_zh})


def _formula_error(result: CheckResult, path: KeyPath, exc: ExpressionError) -> None:
    diagnostic = exc.to_diagnostic(path)
    result.offsets[id(diagnostic)] = max(exc.offset, 0)
    result.diagnostics.append(diagnostic)


#: A number written in a text (after NFKC: full-width digits are ASCII): 88, 1,000, 0.9, 90%.
_DIGIT: Final = re.compile(r"[0-9０-９]")
_NUMBER_IN_TEXT: Final = re.compile(r"(?<![0-9.])([0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?)[ \t]*(%)?")


def numbers_in(text: str) -> list[tuple[str, Decimal]]:
    """The numbers written in *text*, as written and as values (``90%`` is 0.9 and 90).

    Full-width digits count (NFKC). A percentage gives both its value and its number, so
    a parameter of 0.9 or of 90 agrees with the text ``90%``. Values are exact decimals,
    compared exactly with the parameters (integers and decimals as written).
    """
    if _DIGIT.search(text) is None:
        return []
    found: list[tuple[str, Decimal]] = []
    folded = text if text.isascii() else unicodedata.normalize("NFKC", text)
    for match in _NUMBER_IN_TEXT.finditer(folded):
        number = Decimal(match[1].replace(",", ""))
        written = match[0].strip()
        found.append((written, number))
        if match[2]:
            found.append((written, number.scaleb(-2)))
    return found


def check_target_texts(scheme: Scheme, result: CheckResult) -> Iterator[Diagnostic]:
    """The shown target and the numbers the formula reads agree.

    A ``target_text`` that cannot be derived is an error (PR107). A shown target that
    contains numbers, none of which is a parameter the formula reads (``target = "100项任务
    完成率达80%。"`` while ``params = { target = 88 }``), is a warning (PR236): the text
    and the score have parted. A target whose number has a decimal comma (``≥0,95``) is an
    error (PR239): it is no number at all, where it used to be read as 95.
    """
    for indicator_id, indicator in scheme.indicators.items():
        if indicator.target_text is not None:
            try:
                derive_target(indicator.target_text, indicator.params)
            except TargetTextError as exc:
                path = ("indicators", indicator_id, "target_text")
                yield Diagnostic(
                    "PR107",
                    path,
                    {"key": format_key_path(path), "detail": exc.en, "detail_zh": exc.zh},
                )
                continue
        key = "target_text" if indicator.target_text is not None else "target"
        if indicator.target:
            try:
                parse_number(indicator.target)
            except NumberFormatError as exc:
                if exc.suggestion:  # a decimal comma: read as no number, never as 95
                    yield Diagnostic(
                        "PR239",
                        ("indicators", indicator_id, key),
                        {
                            "id": indicator_id,
                            "text": indicator.target,
                            "suggestion": exc.suggestion,
                        },
                        "did_you_mean",
                    )
                    continue
        expression = result.expressions.get(indicator_id)
        if expression is None or not indicator.target:
            continue
        read = {
            name: value
            for name, value in indicator.params.items()
            if name in expression.names and not isinstance(value, bool)
        }
        written = numbers_in(indicator.target) if read else []
        if not written or any(v == p for _, v in written for p in read.values()):
            continue
        name, value = next(iter(read.items()))
        shown = list(dict.fromkeys(text for text, _ in written))
        yield Diagnostic(
            "PR236",
            ("indicators", indicator_id, key),
            {
                "id": indicator_id,
                "text": indicator.target,
                "numbers": ", ".join(shown),
                "param": name,
                "value": format_number(Fraction(value)),
            },
            "target_text",
        )


def check_constant_divisors(scheme: Scheme, result: CheckResult) -> Iterator[Diagnostic]:
    """A formula that divides by a value of 0 the rule file gives it.

    ``params = { k = 0 }`` under ``actual / k`` (or a weight of 0 under ``x / weight``)
    fails every unit the same way: an error (PR240), where scoring would tell each unit
    that its facts divide by zero, which no facts can mend. A ``params`` value of a
    declared input is the default of a fact a unit may give: 0 fails only the units that
    do not, a warning (PR241).
    """
    for indicator_id, indicator in scheme.indicators.items():
        expression = result.expressions.get(indicator_id)
        if expression is None:
            continue
        for name in sorted(expression.divisors):
            value = indicator.params.get(name)
            path: KeyPath = ("indicators", indicator_id, "params", name)
            if name == "weight" and value is None:
                value, path = indicator.weight, ("indicators", indicator_id, "weight")
            if value is None or isinstance(value, bool) or value != 0:
                continue
            yield Diagnostic(
                "PR241" if name in scheme.inputs else "PR240",
                path,
                {"id": indicator_id, "name": name, "formula": expression.text},
                "divisor_zero",
            )


def run_checks(sections: Sections) -> CheckResult:
    """All semantic checks of a validated (possibly partial) scheme.

    A normalised group is checked as written, then written out (a row and cohort values
    over its score) and the rest is checked on that: a mistake found in what was written
    out is reported at the group's ``normalise``.
    """
    scheme, origin = expand_groups(sections.scheme)
    result = CheckResult(expanded=scheme if origin else None)
    broken = set(sections.broken)
    result.diagnostics.extend(check_tree(scheme, broken))
    result.diagnostics.extend(check_bands(scheme, broken))
    result.diagnostics.extend(check_settings(scheme))
    result.diagnostics.extend(check_levels(scheme))
    result.diagnostics.extend(check_normalise(scheme))
    check_formulas(scheme, result, sections.orphan_formulas)
    # A name whose declaration is itself broken (reported there) is not also "unknown".
    declared = {p[1] for p in sections.broken if len(p) == 2 and p[0] in ("inputs", "formulas")}
    declared |= {p[2] for p in sections.broken if len(p) == 3 and p[:2] == ("cohort", "values")}
    result.diagnostics = [
        d
        for d in result.diagnostics
        if not (d.code == "PR302" and d.params.get("name") in declared)
    ]
    check_cohort(scheme, result)
    # Over the formulas that compiled, so a circle is reported beside other mistakes.
    result.stages, circles = order_stages(scheme, result.expressions)
    result.diagnostics.extend(circles)
    result.diagnostics.extend(check_target_texts(scheme, result))
    result.diagnostics.extend(check_constant_divisors(scheme, result))
    result.diagnostics.extend(check_trace_size(scheme, result))
    if origin:
        result.diagnostics = [_written_out(d, origin) for d in result.diagnostics]
    return result


def _written_out(diagnostic: Diagnostic, origin: Mapping[str, str]) -> Diagnostic:
    """A diagnostic about a row or value a group's normalise wrote out, at that key."""
    path = diagnostic.path
    made = (
        path[1]
        if len(path) > 1 and path[0] == "indicators"
        else path[2]
        if len(path) > 2 and path[:2] == ("cohort", "values")
        else None
    )
    if not isinstance(made, str) or made not in origin:
        return diagnostic
    return replace(diagnostic, path=("groups", origin[made], "normalise"))


def trace_bound(scheme: Scheme, expressions: Mapping[str, Expression]) -> tuple[int, str, int]:
    """A bound on the characters of one unit's trace from the scheme itself, whatever the facts.

    Returns the bound, the row that can write the most and its share. For every row: what its
    formula's steps can take at most (each number no wider than the formula's static size
    bound, see :meth:`Expression.trace_chars`) and its own texts; for every group its texts.
    Facts add their own texts, counted as the trace is written (PR504).
    """
    total = 4096 + sum(2 * (len(k) + len(g.name or "")) + 512 for k, g in scheme.groups.items())
    worst, worst_size = "", -1
    steps: dict[int, int] = {}  # indicators sharing a formula share its Expression
    for indicator_id, expression in expressions.items():
        indicator = scheme.indicators[indicator_id]
        chars = steps.get(id(expression))
        if chars is None:
            chars = steps[id(expression)] = expression.trace_chars()
        size = (
            chars
            + 2 * (len(indicator_id) + len(indicator.name or "") + len(indicator.target or ""))
            + 2 * len(expression.text)
            + 128 * len(expression.names)
            + 1024
        )
        total += size
        if size > worst_size:
            worst, worst_size = indicator_id, size
    return total, worst, worst_size


def check_trace_size(scheme: Scheme, result: CheckResult) -> Iterator[Diagnostic]:
    """Refuse a scheme whose trace could pass ``MAX_TRACE_CHARS`` whatever the facts (PR235).

    Shipped schemes are three orders of magnitude below it; a 4,000-bit value reused by
    hundreds of rows is not.
    """
    total, worst, worst_size = trace_bound(scheme, result.expressions)
    if total > MAX_TRACE_CHARS:
        formula = scheme.indicators[worst].formula is not None
        yield Diagnostic(
            "PR235",
            ("indicators", worst, "formula") if formula else ("indicators", worst),
            {
                "size": f"{total:,}",
                "limit": f"{MAX_TRACE_CHARS // 2**20} Mi",
                "indicator": worst,
                "one": f"{worst_size:,}",
            },
        )


def check_levels(scheme: Scheme) -> Iterator[Diagnostic]:
    """``levels`` names each level of the tree: say so when it names more or fewer."""
    if not scheme.scheme.levels or not scheme.indicators:
        return
    groups = scheme.groups
    depth: dict[str, int] = {}
    for start in groups:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in groups and node not in depth and node not in path:
            path.append(node)
            node = groups[node].parent
        above = depth.get(node, 0) if node is not None else 0
        for level, group_id in enumerate(reversed(path), start=1):
            depth[group_id] = above + level
    deepest = max(
        (depth.get(i.parent, 0) if i.parent is not None else 0) + 1
        for i in scheme.indicators.values()
    )
    named = len(scheme.scheme.levels)
    if named != deepest:
        yield Diagnostic(
            "PR227",
            ("scheme", "levels"),
            {"named": named, "depth": deepest},
        )


def place_all(result: CheckResult, source: Source | None) -> list[Diagnostic]:
    """Place every diagnostic of *result* in its file (formulas at their column)."""
    if source is None:
        return list(result.diagnostics)
    return [
        source.place(_where_edited(d, source), result.offsets.get(id(d)))
        for d in result.diagnostics
    ]


def _where_edited(diagnostic: Diagnostic, source: Source) -> Diagnostic:
    """A problem a later file of a chain caused, at what that file wrote.

    Next year's file changes a row's weight and the group's sum breaks: the group's weight
    is in last year's file, which the author is not editing, so the problem is shown at the
    row weight written in the latest file after it; when no such file changed one but one
    removed a row of that group, at the removal, with a hint to mend the sum there. A
    group removed while rows are still under it (``PR203``), or left without rows by
    removals (``PR205``), is shown at the removal too. Else where the problem is.
    """
    main = source.main
    here = source.file_of(diagnostic.path)
    if main is None or here == main:
        return diagnostic
    order = {name: k for k, (name, _) in enumerate(source.files)}
    after = order.get(here or "", -1)

    def latest(found: Iterable[tuple[str | None, _T]]) -> _T | None:
        """Of (file, thing) pairs, the thing of the latest file read after *here*."""
        later = [(order.get(f or "", -1), k, t) for k, (f, t) in enumerate(found)]
        later = [item for item in later if item[0] > after]
        return max(later, key=lambda item: (item[0], -item[1]))[2] if later else None

    code, params = diagnostic.code, diagnostic.params
    rows = params.get("rows")
    if code in ("PR201", "PR202") and isinstance(rows, tuple):
        edited = latest((source.origin.get(row), row) for row in rows)
        if edited is not None:
            return replace(diagnostic, path=edited)
        under = params.get("parent") if code == "PR201" else None
        removal = latest(
            (r.file, (entry_id, r))
            for (section, entry_id), r in source.removed.items()
            if section in _ROWS and r.parent == under
        )
        if removal is not None:
            entry_id, where = removal
            hint = "removed_row" if code == "PR201" else "removed_top_row"
            named = {**params, "removed": entry_id}
            return replace(diagnostic, path=where.path, params=named, hint=hint, file=where.file)
    if code == "PR203":
        gone = source.removed.get(("groups", str(params.get("parent"))))
        if gone is not None and latest([(gone.file, gone)]) is not None:
            return replace(diagnostic, path=gone.path, hint="removed_parent", file=gone.file)
    if code == "PR205" and len(diagnostic.path) == 2:
        group = diagnostic.path[1]
        emptied = latest(
            (r.file, r)
            for (section, _), r in source.removed.items()
            if section in _ROWS and r.parent == group
        )
        if emptied is not None:
            where = emptied
            return replace(diagnostic, path=where.path, hint="removed_last_rows", file=where.file)
    return diagnostic


#: The sections whose entries are rows of the tree (a removal there changes a sum).
_ROWS: Final = ("indicators", "groups")
_T = TypeVar("_T")
