"""Normalisation as a declared step: ``[inputs.NAME] normalise = { method = ... }``.

The one owner of what a normalised input means. Each declared step desugars into what
every shape already runs: cohort values over the shared fact (``NAME__min``, ``NAME__max``,
``NAME__mean``, ``NAME__variance``, ``NAME__cap_low``/``NAME__cap_high`` percentiles, each
unit's ``NAME__rank`` or ``NAME__percentile``), taken in the cohort pass, and one formula
per input that formulas reading ``NAME`` read in its place (the raw fact stays the input
shown). So ``evaluate_cohort``, ``score_table``, the streamed batch and Dask all normalise
alike, exactly: a z-score's standard deviation is ``sqrt(NAME__variance)``, computed to the
digits the row's rounding needs like every irrational value.

Methods (``x`` the unit's value, after ``cap`` when given; ``reverse`` swaps the ends):

========================  ============================  ==============================
method                    positive                      reverse
========================  ============================  ==============================
minmax (observed)         (x - min) / (max - min)       (max - x) / (max - min)
minmax (goalposts lo,hi)  (clamp(x,lo,hi) - lo)/(hi-lo) (hi - clamp(x,lo,hi))/(hi-lo)
zscore                    (x - mean) / sqrt(variance)   (mean - x) / sqrt(variance)
rank                      average rank, 1 = lowest      average rank, 1 = highest
percentile                PERCENTRANK.INC (below)       PERCENTRANK.INC (above)
distance_to_best          x / max                       min / x
distance_to_target        x / target                    target / x
========================  ============================  ==============================

then times ``scale``. The variance is the sample's (n - 1), as Excel's STDEV.S and COINr.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Final

from perfrules._numbers import format_number
from perfrules.errors import Diagnostic
from perfrules.model import CohortValue, Input, Normalise, Scheme

__all__ = [
    "check_normalise",
    "normalised_formulas",
    "normalised_values",
    "spread_problem",
]

#: The generated cohort values' suffixes, by what they are.
_SEP: Final = "__"


def _num(value: Decimal | Fraction) -> str:
    return format_number(Fraction(value))


def _normalised(scheme: Scheme) -> Iterator[tuple[str, Normalise]]:
    for name, declared in scheme.inputs.items():
        if declared.normalise is not None and declared.type == "number":
            yield name, declared.normalise


def _value(stat: str, of: str, label: str, **more: object) -> CohortValue:
    return CohortValue(stat=stat, of=of, label=label, **more)  # type: ignore[arg-type]


def normalised_values(scheme: Scheme) -> dict[str, CohortValue]:
    """The cohort values the declared normalisations take, by generated name."""
    out: dict[str, CohortValue] = {}
    for name, rule in _normalised(scheme):
        method, cap = rule.method, rule.cap
        why = f"normalise {name}: {method}"
        if cap is not None and len(cap) == 2:
            for end, share in (("cap_low", cap[0]), ("cap_high", cap[1])):
                out[f"{name}{_SEP}{end}"] = _value(
                    "percentile", name, f"{why}, cap at P{_num(share)}", percentile=share
                )
        if method == "minmax" and rule.goalposts is None and cap is None:
            out[f"{name}{_SEP}min"] = _value("min", name, f"{why}, lowest")
            out[f"{name}{_SEP}max"] = _value("max", name, f"{why}, highest")
        elif method == "zscore":
            out[f"{name}{_SEP}mean"] = _value("mean", name, f"{why}, mean")
            out[f"{name}{_SEP}variance"] = _value("variance", name, f"{why}, variance")
        elif method == "distance_to_best" and cap is None:
            end = "min" if rule.direction == "reverse" else "max"
            out[f"{name}{_SEP}{end}"] = _value(end, name, f"{why}, best")
        elif method in ("rank", "percentile"):
            stat = "rank" if method == "rank" else "percentrank"
            order = "desc" if rule.direction == "reverse" else "asc"
            out[f"{name}{_SEP}{method}"] = _value(stat, name, why, order=order)
    return out


def normalised_formulas(scheme: Scheme) -> dict[str, str]:
    """The formula each normalised input stands for, by input name.

    A formula that reads the input expands it (like a named formula); inside, the name is
    the raw fact.
    """
    out: dict[str, str] = {}
    for name, rule in _normalised(scheme):
        text = _formula(name, rule)
        if text is not None:
            out[name] = text
    return out


def _formula(name: str, rule: Normalise) -> str | None:
    reverse = rule.direction == "reverse"
    x = name
    low = high = ""
    if rule.cap is not None:
        if len(rule.cap) != 2:
            return None
        low, high = f"{name}{_SEP}cap_low", f"{name}{_SEP}cap_high"
        x = f"clamp({name}, {low}, {high})"
    method = rule.method
    if method == "minmax":
        if rule.goalposts is not None:
            if len(rule.goalposts) != 2:
                return None
            low, high = _num(rule.goalposts[0]), _num(rule.goalposts[1])
            x = f"clamp({x}, {low}, {high})"
        elif rule.cap is None:
            low, high = f"{name}{_SEP}min", f"{name}{_SEP}max"
        text = (
            f"({high} - {x}) / ({high} - {low})"
            if reverse
            else f"({x} - {low}) / ({high} - {low})"
        )
    elif method == "zscore":
        mean, variance = f"{name}{_SEP}mean", f"{name}{_SEP}variance"
        text = (
            f"({mean} - {x}) / sqrt({variance})"
            if reverse
            else f"({x} - {mean}) / sqrt({variance})"
        )
    elif method in ("rank", "percentile"):
        text = f"{name}{_SEP}{method}"
    elif method == "distance_to_best":
        if rule.cap is None:
            low, high = f"{name}{_SEP}min", f"{name}{_SEP}max"
        text = f"{low} / {x}" if reverse else f"{x} / {high}"
    else:  # distance_to_target
        if rule.target is None:
            return None
        target = _num(rule.target)
        text = f"{target} / {x}" if reverse else f"{x} / {target}"
    if rule.scale != 1:
        text = f"{_num(rule.scale)} * ({text})"
    return text


def spread_problem(
    name: str, declared: Input, values: Mapping[str, Fraction | None]
) -> tuple[str, str] | None:
    """Why a cohort's *values* cannot normalise input *name* (English, Chinese), or ``None``.

    Min-max over a cohort whose values are all equal, and a z-score of fewer than two
    units or of equal values, have no result: the unit fails with this reason rather
    than getting a number nobody declared.
    """
    rule = declared.normalise
    if rule is None:
        return None
    if rule.method == "zscore":
        variance = values.get(f"{name}{_SEP}variance")
        if variance is None:
            return (
                "a z-score needs the values of at least two units",
                "标准化（z 分数）至少需要两个对象的值",
            )
        if variance == 0:
            mean = values.get(f"{name}{_SEP}mean")
            shown = "?" if mean is None else format_number(mean)
            return (
                f"every unit gives {shown}: the standard deviation is 0",
                f"各对象的值均为 {shown}：标准差为 0",
            )
        return None
    if rule.method != "minmax" or rule.goalposts is not None:
        return None
    ends = ("cap_low", "cap_high") if rule.cap is not None else ("min", "max")
    low, high = (values.get(f"{name}{_SEP}{end}") for end in ends)
    if low is not None and low == high:
        return (
            f"every unit gives {format_number(low)} (lowest = highest): min-max has no range",
            f"各对象的值均为 {format_number(low)}（最小值 = 最大值）：最小-最大标准化没有区间",
        )
    return None


def _problem(name: str, key: str, detail: str, detail_zh: str) -> Diagnostic:
    return Diagnostic(
        "PR260",
        ("inputs", name, "normalise", key) if key else ("inputs", name, "normalise"),
        {"name": name, "detail": detail, "detail_zh": detail_zh},
    )


def check_normalise(scheme: Scheme) -> Iterator[Diagnostic]:
    """Every mistake in the declared normalisations (``PR260``, ``PR104``), all at once."""
    params = {n for i in scheme.indicators.values() for n in i.params}
    taken = {
        **{n: f"inputs.{n}" for n in scheme.inputs},
        **{n: f"formulas.{n}" for n in scheme.formulas},
        **dict.fromkeys(params, "params"),
        **{
            n: f"cohort.values.{n}"
            for n in (scheme.cohort.values if scheme.cohort is not None else {})
        },
    }
    generated = normalised_values(scheme)
    for value_name, value in generated.items():
        if value_name in taken:
            yield Diagnostic(
                "PR104",
                ("inputs", value.of or "", "normalise"),
                {"id": value_name, "first": taken[value_name], "second": f"inputs.{value.of}"},
            )
    for name, declared in scheme.inputs.items():
        rule = declared.normalise
        if rule is None:
            continue
        if declared.type != "number":
            yield _problem(
                name,
                "",
                f"only a number input can be, not a {declared.type} input",
                f"只有数值型输入项可以标准化，而它是 {declared.type} 型",
            )
            continue
        if name in params:
            yield _problem(
                name,
                "",
                "it is an indicator's parameter, not a fact each unit gives",
                "它是指标的参数，而不是各对象给出的事实",
            )
        method = rule.method
        if rule.goalposts is not None:
            if method != "minmax":
                yield _problem(
                    name,
                    "goalposts",
                    f'goalposts only go with method = "minmax", not "{method}"',
                    f'只有 method = "minmax" 才用 goalposts，而不是 "{method}"',
                )
            elif len(rule.goalposts) != 2 or rule.goalposts[0] >= rule.goalposts[1]:
                shown = ", ".join(_num(g) for g in rule.goalposts)
                yield _problem(
                    name,
                    "goalposts",
                    f"goalposts are two increasing numbers [low, high], not [{shown}]",
                    f"goalposts 应为两个递增的数 [低, 高]，而不是 [{shown}]",
                )
            elif rule.cap is not None:
                yield _problem(
                    name,
                    "cap",
                    "fixed goalposts already cap the values: drop cap",
                    "固定的 goalposts 已经限定了取值范围：请去掉 cap",
                )
        if method == "distance_to_target":
            if rule.target is None:
                yield _problem(
                    name,
                    "",
                    'method = "distance_to_target" needs target = ...',
                    'method = "distance_to_target" 需要 target = ...',
                )
            elif rule.target == 0:
                yield _problem(name, "target", "the target cannot be 0", "target 不能为 0")
        elif rule.target is not None:
            yield _problem(
                name,
                "target",
                f'target only goes with method = "distance_to_target", not "{method}"',
                f'只有 method = "distance_to_target" 才用 target，而不是 "{method}"',
            )
        if rule.cap is not None:
            cap = rule.cap
            if len(cap) != 2 or not 0 <= cap[0] < cap[1] <= 100:
                shown = ", ".join(_num(c) for c in cap)
                yield _problem(
                    name,
                    "cap",
                    f"cap is two increasing percentiles from 0 to 100 [low, high], not [{shown}]",
                    f"cap 应为 0 到 100 之间两个递增的百分位 [低, 高]，而不是 [{shown}]",
                )
            elif method in ("zscore", "rank", "percentile"):
                yield _problem(
                    name,
                    "cap",
                    "cap goes with minmax, distance_to_best or distance_to_target, "
                    f'not "{method}"',
                    "cap 只能与 minmax、distance_to_best 或 distance_to_target 同用，"
                    f'而不是 "{method}"',
                )
        if rule.scale <= 0:
            yield _problem(
                name,
                "scale",
                f"scale must be above 0, not {_num(rule.scale)}",
                f"scale 应大于 0，而不是 {_num(rule.scale)}",
            )
