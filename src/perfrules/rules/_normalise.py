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

import unicodedata
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Final

from perfrules._numbers import format_number
from perfrules.errors import Diagnostic
from perfrules.model import Cohort, CohortValue, Indicator, Normalise, Scheme
from perfrules.rules._stages import score_names

__all__ = [
    "GROUP_METHODS",
    "check_normalise",
    "expand_groups",
    "normalised_formulas",
    "normalised_group",
    "normalised_row",
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


def _labels(written_in: str) -> Mapping[str, str]:
    """The generated values' label parts, in the language *written_in* is written in.

    A text with Chinese (or other wide) characters gets the Chinese parts, any other the
    English ones: the scheme's title for an input's values, the group's name for a group's.
    """
    wide = any(unicodedata.east_asian_width(c) in ("W", "F") for c in written_in)
    return _ZH if wide else _EN


_EN: Final = {
    "why": "normalise {name}: {method}",
    "cap": ", cap at P{share}",
    "min": ", lowest",
    "max": ", highest",
    "best": ", best",
    "mean": ", mean",
    "variance": ", variance",
    "row": "{group} (normalised)",
}
_ZH: Final = {
    "why": "{name} 按 {method} 标准化",
    "cap": "，截尾于 P{share}",
    "min": "，最小值",
    "max": "，最大值",
    "best": "，最优值",
    "mean": "，均值",
    "variance": "，方差",
    "row": "{group}（标准化）",
}


def normalised_values(scheme: Scheme) -> dict[str, CohortValue]:
    """The cohort values the declared normalisations take, by generated name."""
    out: dict[str, CohortValue] = {}
    words = _labels(scheme.scheme.title)
    for name, rule in _normalised(scheme):
        method, cap = rule.method, rule.cap
        why = words["why"].format(name=name, method=method)
        if cap is not None and len(cap) == 2:
            for end, share in (("cap_low", cap[0]), ("cap_high", cap[1])):
                label = why + words["cap"].format(share=_num(share))
                out[f"{name}{_SEP}{end}"] = _value("percentile", name, label, percentile=share)
        if method == "minmax" and rule.goalposts is None and cap is None:
            out[f"{name}{_SEP}min"] = _value("min", name, why + words["min"])
            out[f"{name}{_SEP}max"] = _value("max", name, why + words["max"])
        elif method == "zscore":
            out[f"{name}{_SEP}mean"] = _value("mean", name, why + words["mean"])
            out[f"{name}{_SEP}variance"] = _value("variance", name, why + words["variance"])
        elif method == "distance_to_best" and cap is None:
            end = "min" if rule.direction == "reverse" else "max"
            out[f"{name}{_SEP}{end}"] = _value(end, name, why + words["best"])
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
    name: str, rule: Normalise, values: Mapping[str, Fraction | None]
) -> tuple[str, str] | None:
    """Why a cohort's *values* cannot normalise *name* by *rule* (English, Chinese), or ``None``.

    *name* is a normalised input or group. Min-max over a cohort whose values are all
    equal, a z-score of fewer than two units or of equal values, and the distance to a
    best of 0 have no result: the
    unit fails with this reason rather than getting a number nobody declared. A value not
    taken yet (over scores, in a later pass) decides nothing.
    """
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
    ends = ("cap_low", "cap_high") if rule.cap is not None else ("min", "max")
    if rule.method == "distance_to_best" and rule.direction != "reverse":
        best = values.get(f"{name}{_SEP}{ends[1]}")
        if best == 0:
            return (
                "the best value is 0: there is nothing to rescale by",
                "最优值为 0：没有可据以换算的基数",
            )
        return None
    if rule.method != "minmax" or rule.goalposts is not None:
        return None
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


def _rule_problems(rule: Normalise) -> Iterator[tuple[str, str, str]]:
    """What is wrong with one declared step whatever it rescales: ``(key, en, zh)``."""
    method = rule.method
    if rule.goalposts is not None:
        if method != "minmax":
            yield (
                "goalposts",
                f'goalposts only go with method = "minmax", not "{method}"',
                f'只有 method = "minmax" 才用 goalposts，而不是 "{method}"',
            )
        elif len(rule.goalposts) != 2 or rule.goalposts[0] >= rule.goalposts[1]:
            shown = ", ".join(_num(g) for g in rule.goalposts)
            yield (
                "goalposts",
                f"goalposts are two increasing numbers [low, high], not [{shown}]",
                f"goalposts 应为两个递增的数 [低, 高]，而不是 [{shown}]",
            )
        elif rule.cap is not None:
            yield (
                "cap",
                "fixed goalposts already cap the values: drop cap",
                "固定的 goalposts 已经限定了取值范围：请去掉 cap",
            )
    if method == "distance_to_target":
        if rule.target is None:
            yield (
                "",
                'method = "distance_to_target" needs target = ...',
                'method = "distance_to_target" 需要 target = ...',
            )
        elif rule.target == 0:
            yield "target", "the target cannot be 0", "target 不能为 0"
    elif rule.target is not None:
        yield (
            "target",
            f'target only goes with method = "distance_to_target", not "{method}"',
            f'只有 method = "distance_to_target" 才用 target，而不是 "{method}"',
        )
    if rule.cap is not None:
        cap = rule.cap
        if len(cap) != 2 or not 0 <= cap[0] < cap[1] <= 100:
            shown = ", ".join(_num(c) for c in cap)
            yield (
                "cap",
                f"cap is two increasing percentiles from 0 to 100 [low, high], not [{shown}]",
                f"cap 应为 0 到 100 之间两个递增的百分位 [低, 高]，而不是 [{shown}]",
            )
        elif method in ("zscore", "rank", "percentile"):
            yield (
                "cap",
                f'cap goes with minmax, distance_to_best or distance_to_target, not "{method}"',
                (
                    "cap 只能与 minmax、distance_to_best 或 distance_to_target 同用，"
                    f'而不是 "{method}"'
                ),
            )
    if rule.scale <= 0:
        yield (
            "scale",
            f"scale must be above 0, not {_num(rule.scale)}",
            f"scale 应大于 0，而不是 {_num(rule.scale)}",
        )


#: The methods that keep a group's points within its weight (a share from 0 to 1).
GROUP_METHODS: Final = ("minmax", "distance_to_best", "distance_to_target")


def _group_problems(
    scheme: Scheme, group_id: str, rule: Normalise
) -> Iterator[tuple[str, str, str]]:
    """What is wrong with a group's declared step: an input's rules, and a group's own."""
    if group_id not in score_names(scheme):
        yield (
            "",
            (
                "its row reads the group's score by the group's id, so the id must be a name "
                "(letters, digits and _, not starting with a digit) that is not also an "
                "input's, a named formula's, a parameter's or a cohort value's: rename the group"
            ),
            (
                "标准化行按分组的 id 读取其得分，因此 id 须为名称"
                "（字母、数字和 _，不以数字开头），且不与输入项、命名公式、参数或群体值重名："
                "请重命名该分组"
            ),
        )
    weight = scheme.groups[group_id].weight
    if rule.method not in GROUP_METHODS:
        yield (
            "method",
            (
                "a group's points stay within its weight: use minmax, distance_to_best or "
                f'distance_to_target, or give "{rule.method}" to the inputs inside'
            ),
            (
                "分组的得分不能超过其分值：请用 minmax、distance_to_best 或 distance_to_target，"
                f"或将 “{rule.method}” 用于组内的输入项"
            ),
        )
    if rule.direction == "reverse":
        yield (
            "direction",
            (
                "a group's score is points, more is better: drop direction (reverse the rows "
                "inside instead)"
            ),
            "分组的得分越高越好：请去掉 direction（改为在组内指标中反向）",
        )
    if rule.scale != 1:
        yield (
            "scale",
            "a group's normalised points are its weight times the share: drop scale",
            "分组标准化后的得分为其分值乘以比例：请去掉 scale",
        )
    if rule.target is not None and rule.target < 0:
        yield (
            "target",
            f"the target is in the group's points: above 0, not {_num(rule.target)}",
            f"target 以分组的分数计：应大于 0，而不是 {_num(rule.target)}",
        )
    goalposts = rule.goalposts
    if (
        goalposts is not None
        and len(goalposts) == 2
        and goalposts[0] < goalposts[1]  # else the input's rule below says so
        and (goalposts[0] < 0 or goalposts[1] > weight)
    ):
        shown = ", ".join(_num(g) for g in goalposts)
        yield (
            "goalposts",
            (
                f"goalposts are in the group's points, from 0 to its weight {_num(weight)}, "
                f"not [{shown}]"
            ),
            f"goalposts 以分组的分数计，应在 0 到其分值 {_num(weight)} 之间，而不是 [{shown}]",
        )
    for key, en, zh in _rule_problems(rule):
        if key != "scale":
            yield key, en, zh


def check_normalise(scheme: Scheme) -> Iterator[Diagnostic]:
    """Every mistake in the declared normalisations (``PR260``, ``PR261``, ``PR104``)."""
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
        if rule.name:
            yield _problem(
                name,
                "name",
                "name only goes with a group's normalise (the row it adds)",
                "name 只用于分组的标准化（它所增加的行）",
            )
        for key, en, zh in _rule_problems(rule):
            yield _problem(name, key, en, zh)
    yield from _check_groups(scheme, taken)


def _check_groups(scheme: Scheme, taken: Mapping[str, str]) -> Iterator[Diagnostic]:
    nodes = {**{g: f"groups.{g}" for g in scheme.groups}, **taken}
    for group_id, group in scheme.groups.items():
        rule = group.normalise
        if rule is None:
            continue
        for key, en, zh in _group_problems(scheme, group_id, rule):
            yield Diagnostic(
                "PR261",
                ("groups", group_id, "normalise", *((key,) if key else ())),
                {"name": group_id, "detail": en, "detail_zh": zh},
            )
        if _expanded(scheme, group_id):
            continue
        for name in (
            normalised_row(group_id),
            *_group_values(group_id, rule, group.name or group_id),
        ):
            first = nodes.get(name)
            if first is None and name in scheme.indicators:
                first = f"indicators.{name}"
            if first is not None:
                yield Diagnostic(
                    "PR104",
                    ("groups", group_id, "normalise"),
                    {"id": name, "first": first, "second": f"groups.{group_id}.normalise"},
                )


def normalised_row(group_id: str) -> str:
    """The id of the row that carries a normalised group's points."""
    return f"{group_id}{_SEP}normalised"


def normalised_group(scheme: Scheme, row_id: str) -> str | None:
    """The group whose normalised points row *row_id* carries, when it is such a row."""
    if not row_id.endswith(f"{_SEP}normalised"):
        return None
    group_id = row_id.removesuffix(f"{_SEP}normalised")
    group = scheme.groups.get(group_id)
    if group is None or group.normalise is None or not _expanded(scheme, group_id):
        return None
    return group_id


def _expanded(scheme: Scheme, group_id: str) -> bool:
    """Whether *scheme* already has the row of normalised group *group_id* (made by us)."""
    row = scheme.indicators.get(normalised_row(group_id))
    return row is not None and not scheme.groups[group_id].counted


def _group_values(group_id: str, rule: Normalise, name: str) -> dict[str, CohortValue]:
    """The cohort values over a group's score that its normalisation takes.

    *name* is the group's name: the labels are written in its language.
    """
    words = _labels(name)
    why = words["why"].format(name=group_id, method=rule.method)
    out: dict[str, CohortValue] = {}
    cap = rule.cap
    if cap is not None and len(cap) == 2:
        for end, share in (("cap_low", cap[0]), ("cap_high", cap[1])):
            label = why + words["cap"].format(share=_num(share))
            out[f"{group_id}{_SEP}{end}"] = _value("percentile", group_id, label, percentile=share)
    if rule.method == "minmax" and rule.goalposts is None and cap is None:
        out[f"{group_id}{_SEP}min"] = _value("min", group_id, why + words["min"])
        out[f"{group_id}{_SEP}max"] = _value("max", group_id, why + words["max"])
    elif rule.method == "distance_to_best" and cap is None:
        out[f"{group_id}{_SEP}max"] = _value("max", group_id, why + words["best"])
    return out


def _row_name(group: str) -> str:
    """The name of a normalised group's row when the rule file gives none.

    In the language the group's name is written in: ``经济（标准化）``, ``Economy (normalised)``.
    """
    return _labels(group)["row"].format(group=group)


def expand_groups(scheme: Scheme) -> tuple[Scheme, dict[str, str]]:
    """*scheme* with each normalised group's step written out, and what each part came from.

    A group with a valid ``normalise`` becomes a group shown but not counted, followed by a
    counted row ``GROUP__normalised`` of the group's weight and parent whose formula is the
    weight times the normalised share of the group's score, reading cohort values over
    that score (``GROUP__min``, ``GROUP__max``, ...). Stages then order the passes, and
    every shape scores and explains it as any row reading a score.

    Returns:
        The expanded scheme (*scheme* itself when nothing is normalised) and, for each
        generated row and cohort value, the group it came from.
    """
    origin: dict[str, str] = {}
    groups = dict(scheme.groups)
    rows = dict(scheme.indicators)
    values = dict(scheme.cohort.values) if scheme.cohort is not None else {}
    for group_id, group in scheme.groups.items():
        rule = group.normalise
        if (
            rule is None
            or _expanded(scheme, group_id)
            or any(_group_problems(scheme, group_id, rule))
        ):
            continue
        row = normalised_row(group_id)
        made = _group_values(group_id, rule, group.name or group_id)
        if row in rows or row in groups or any(n in values for n in made):
            continue  # reported as a clash (PR104)
        share = _formula(group_id, rule)
        if share is None:  # pragma: no cover - every valid rule has a formula
            continue
        if rule.method == "distance_to_target":
            share = f"min({share}, 1)"  # beyond the target: the group's full weight
        rows[row] = Indicator(
            name=rule.name or _row_name(group.name or group_id),
            parent=group.parent,
            weight=group.weight,
            formula=f"weight * ({share})",
            places=group.places,
            counted=group.counted,
        )
        groups[group_id] = group.model_copy(update={"counted": False})
        values.update(made)
        origin[row] = group_id
        origin.update(dict.fromkeys(made, group_id))
    if not origin:
        return scheme, origin
    cohort = (
        scheme.cohort.model_copy(update={"values": values})
        if scheme.cohort is not None
        else Cohort(values=values)
    )
    expanded = scheme.model_copy(update={"groups": groups, "indicators": rows, "cohort": cohort})
    return expanded, origin
