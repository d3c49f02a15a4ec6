"""The rule-file format, as pydantic models (format version 1).

These models validate what comes *in* (rule files); they hold data only, evaluate nothing
and read no files. Every key is documented in ``docs/reference/rule-files.md``, and the
JSON Schema editors use is exported from them (``perfrules schema``).

Numbers are exact: TOML floats arrive as ``Decimal`` and integers as ``int``; a string where
a number belongs ("6") and a binary float are both refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from perfrules._numbers import (
    MAX_MAGNITUDE,
    NumberFormatError,
    RoundingModeName,
    decimal_pair,
    format_number,
)

__all__ = [
    "DEFAULT_MISSING_MARKERS",
    "FORMAT_VERSION",
    "Band",
    "Cohort",
    "CohortValue",
    "Defaults",
    "FactTable",
    "FactsFile",
    "Group",
    "Impute",
    "ImputeMethod",
    "Indicator",
    "Input",
    "Normalise",
    "Number",
    "Places",
    "Policy",
    "PublishedResults",
    "RankKey",
    "Ranking",
    "ReportFile",
    "Rounding",
    "RuleFile",
    "Scale",
    "ScaleLevel",
    "Scheme",
    "SchemeInfo",
    "TargetTextError",
    "derive_target",
]

FORMAT_VERSION = 1


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PydanticCustomError(
            "perfrules_number", "expected a number, got {got}", {"got": repr(value)}
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise PydanticCustomError(
            "perfrules_number", "expected a finite number, got {got}", {"got": str(value)}
        )
    # The limits facts have (limits.md): below 10**30, at most 30 digits and 30 places.
    if isinstance(value, int):
        fits = abs(value) < MAX_MAGNITUDE
    else:
        try:
            decimal_pair(value)
        except NumberFormatError:
            fits = False
        else:
            fits = True
    if not fits:
        shown = str(value) if isinstance(value, Decimal) else f"a {value.bit_length()}-bit integer"
        raise PydanticCustomError(
            "perfrules_number_range",
            "expected a number below 10**30 with at most 30 digits, got {got}",
            {"got": shown[:40]},
        )
    return value


#: An exact number in a rule file (``6``, ``0.8``); never a string or a float.
Number = Annotated[
    Decimal,
    BeforeValidator(_number),
    WithJsonSchema({"type": "number"}),
]

#: Decimal places for a rounding point, or ``"none"`` for no rounding there.
Places = Annotated[
    int | Literal["none"],
    Field(description='Decimal places (0–10) kept at this level, or "none" for no rounding.'),
]

#: What to do when a fact is missing or an indicator is marked not applicable.
Policy = Literal["error", "zero", "exclude", "full"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SchemeInfo(_Model):
    """``[scheme]``: what the scheme is."""

    id: str = Field(min_length=1, description="Stable identifier, e.g. xinzhou-zfw-2021.")
    title: str = Field(min_length=1, description="Title shown on reports.")
    year: int | None = Field(default=None, description="The year the scheme scores.")
    version: str = Field(default="1.0.0", description="Version of this scheme (SemVer).")
    max: Number = Field(default=Decimal(100), description="Full marks of the total (usually 100).")
    fit: Literal["normalise", "cap"] | None = Field(
        default=None,
        description="When the counted rows' weights do not add up to max (a form whose rows "
        "total 110 and whose total is out of 100): normalise scales the sum to max "
        "(sum × max / weights), cap takes the sum but never more than max.",
    )
    levels: list[str] = Field(
        default_factory=list,
        description='Column titles of the tree levels, e.g. ["一级指标", "二级指标", "三级指标"].',
    )
    description: str = Field(default="", description="Free text: purpose, legal basis.")
    authority: str = Field(
        default="", description="Document the scheme follows, e.g. 财预〔2020〕10号."
    )


class Rounding(_Model):
    """``[rounding]``: where scores are rounded, to how many places, in which mode.

    A node's score is the aggregation of its children's (already rounded) scores, rounded
    at its own level. ``indicator = 2, total = 2`` is "round each row, then add" (the
    seed's convention); ``indicator = "none", total = 2`` is "add exactly, round once".
    """

    mode: RoundingModeName = Field(
        default="half_up",
        description="half_up = 四舍五入 (ties away from zero); half_even; down = 截尾; up = 进一.",
    )
    indicator: Places = 2
    group: Places = "none"
    total: Places = 2


class Band(_Model):
    """``[[bands]]``: one grade band; ``min`` inclusive, ``max`` exclusive.

    The top band includes the scheme's max. List bands from the highest to the lowest.
    """

    label: str = Field(min_length=1, description="Grade label, e.g. 优 or 良好.")
    min: Number = Field(description="Lowest total in the band (inclusive).")
    max: Number = Field(
        description="Upper end (exclusive; inclusive when it is the scheme's max)."
    )
    label_en: str = Field(default="", description="English label for English reports.")
    description: str = ""


class GradeOverride(_Model):
    """``[[grade_overrides]]``: a grade that replaces the band when a condition holds.

    OMB PART's "Results Not Demonstrated" is one: it overrides the band whatever the score
    when a program lacks agreed performance measures.
    """

    label: str = Field(min_length=1, description="The grade given when the condition holds.")
    label_en: str = ""
    when: str = Field(description="A condition over shared facts, e.g. not has_measures.")
    description: str = ""


#: How a missing fact is imputed from the units that give it: their mean or median, over
#: the unit's cohort or over its own group of units (``by``).
ImputeMethod = Literal["cohort_mean", "cohort_median", "group_mean", "group_median"]


class Impute(_Model):
    """``impute = { method = "group_mean", by = "region" }``: imputed from the other units."""

    method: ImputeMethod = Field(
        description="cohort_mean, cohort_median (over the unit's cohort), group_mean, "
        "group_median (over the units of its cohort with the same `by` fact)."
    )
    by: str | None = Field(
        default=None,
        description="For group_mean and group_median: the shared fact naming the unit's "
        "group, e.g. region.",
    )


#: How a normalised input is rescaled across the cohort (``[inputs.NAME] normalise``).
NormaliseMethod = Literal[
    "minmax", "zscore", "rank", "percentile", "distance_to_best", "distance_to_target"
]


class Normalise(_Model):
    """``normalise = { method = "minmax", goalposts = [20, 85] }``: an input rescaled.

    Formulas that read the input read its normalised value; the raw value stays shown.
    Every method and its exact formula: ``docs/reference/rule-files.md#normalise``.
    """

    method: NormaliseMethod = Field(
        description="minmax (over the cohort, or between goalposts), zscore, rank (average "
        "rank of ties, 1 = lowest), percentile (PERCENTRANK.INC: share of the other units "
        "below), distance_to_best (the value over the cohort's best), distance_to_target "
        "(the value over target)."
    )
    goalposts: list[Number] | None = Field(
        default=None,
        description="For minmax: fixed [low, high] instead of the cohort's min and max; a "
        "value outside them is taken as the goalpost it passes.",
    )
    target: Number | None = Field(default=None, description="For distance_to_target: the target.")
    direction: Literal["positive", "reverse"] = Field(
        default="positive",
        description="reverse: less is better (the lowest value normalises to the top).",
    )
    cap: list[Number] | None = Field(
        default=None,
        description="Winsorise first: [low, high] percentiles of the cohort (e.g. [5, 95]); a "
        "value beyond one is taken as that percentile.",
    )
    scale: Number = Field(
        default=Decimal(1), description="Multiplies the normalised value (100: 0–100)."
    )
    name: str = Field(
        default="",
        description="For a group: the name of the row that carries its normalised points "
        "(default: the group's name and ' (normalised)').",
    )


class Input(_Model):
    """``[inputs.NAME]``: a fact formulas may read."""

    type: Literal["number", "level", "bool"] = Field(
        default="number",
        description="number (80%, 4.8, 70/88), level (a label of a scale) or bool (a checklist "
        "item).",
    )
    label: str = Field(default="", description="What the fact is, e.g. 业绩值.")
    scale: str | None = Field(default=None, description="For type = level: the scale used.")
    impute: Number | ImputeMethod | Impute | None = Field(
        default=None,
        description="For type = number: the value a missing fact takes (absent, or written "
        "as a missing marker), marked as imputed wherever the input is shown: a number, "
        'or taken over the units that give the fact: "cohort_mean", "cohort_median", or '
        '{ method = "group_mean", by = "region" } (the mean of the unit\'s own group).',
    )
    normalise: Normalise | None = Field(
        default=None,
        description="For a shared number input: rescale it across the cohort (min-max, "
        "z-score, rank, percentile, distance to the best or to a target); formulas read the "
        "normalised value.",
    )
    description: str = ""


class ScaleLevel(_Model):
    """One level of a qualitative scale: a label and the share of the weight it earns."""

    label: str = Field(min_length=1)
    min: Number = Field(description="Lowest share of the weight (inclusive), 0–1.")
    max: Number = Field(description="Highest share of the weight, 0–1.")
    default: Number | None = Field(
        default=None, description="Share used when the facts give only the label."
    )


class Scale(_Model):
    """``[scales.NAME]``: qualitative levels (达成 / 部分达成 / 未达成) and their shares."""

    name: str = ""
    levels: list[ScaleLevel] = Field(min_length=1)


#: What sources write for a value they do not have; "n/a" stays "not applicable".
DEFAULT_MISSING_MARKERS: Final = ("-", "/", "—", "..")


class Defaults(_Model):
    """``[defaults]``: values every indicator takes unless it says otherwise."""

    formula: str | None = Field(default=None, description="Formula of indicators without one.")
    missing: Policy = Field(default="error", description="When a needed fact is missing.")
    na: Policy = Field(default="exclude", description="When an indicator is not applicable.")
    clamp: bool = Field(
        default=False, description="Clamp scores to [0, weight] instead of reporting an error."
    )
    direction: Literal["positive", "reverse", "none"] = "positive"
    missing_markers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MISSING_MARKERS),
        description='Texts a source writes for a missing value ("-", "/", "—", ".."): a '
        "fact given as one of them is missing (the missing policy applies), never an "
        'unreadable number. "N/A" and "n/a" mark "not applicable" unless listed here.',
    )


class Group(_Model):
    """``[groups.ID]``: a group of indicators (一级/二级指标)."""

    name: str = Field(default="", description="Display name; the id when empty.")
    parent: str | None = Field(
        default=None, description="Id of the parent group; none at the top."
    )
    weight: Number = Field(description="Points of the group; its children must add up to it.")
    places: Places | None = Field(default=None, description="Overrides rounding.group here.")
    counted: bool = Field(
        default=True,
        description="false: shown and scored, but not added to its parent or the total (a "
        "row a form prints beside the counted ones).",
    )
    aggregate: Literal["sum", "geometric", "reweight"] = Field(
        default="sum",
        description="How its children make its score: sum (added up), geometric (its "
        "weight times the weighted geometric mean of each child's share of its weight, the "
        "weights being the children's; 0 when one share is 0; must be rounded), or reweight "
        "(added up, and when some rows are left out — not applicable, or missing under "
        'missing = "exclude" — the sum of the others scaled up to the group\'s weight, so '
        "the group keeps its share of the total instead of the total being renormalised).",
    )
    normalise: Normalise | None = Field(
        default=None,
        description="Rescale the group's score across the cohort: minmax (over the cohort, "
        "or between goalposts in points), distance_to_best or distance_to_target. The group "
        "is then shown but not counted, and a row after it carries its weight times the "
        "normalised share (0 to 1).",
    )
    description: str = ""


_PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TargetTextError(ValueError):
    """A ``target_text`` that cannot be derived: the reason in English and Chinese."""

    def __init__(self, en: str, zh: str) -> None:
        """Keep both texts."""
        super().__init__(en)
        self.en, self.zh = en, zh


def derive_target(template: str, params: Mapping[str, object]) -> str:
    """The shown target that ``target_text`` derives from the indicator's ``params``.

    *template* starts with ``=``; each ``{name}`` is the parameter's value as written
    (``{name:%}`` as a percentage: 0.9 → 90%); ``{{`` and ``}}`` are braces.

    >>> derive_target("={target}项任务完成率达70%", {"target": 88})
    '88项任务完成率达70%'

    Raises:
        TargetTextError: no leading ``=``, a name that is not a number in ``params``, or a
            lone brace.
    """
    if not template.startswith("="):
        raise TargetTextError(
            "must start with '=' (a fixed text goes in target)",
            "应以“=”开头（固定文本请写在 target）",
        )

    def fill(match: re.Match[str]) -> str:
        text = match[0]
        if text in ("{{", "}}"):
            return text[0]
        if match[1] is None:
            raise TargetTextError(
                "a lone brace: write {{ or }} for a brace",
                "单独的花括号：花括号本身请写作 {{ 或 }}",
            )
        name, _, spec = match[1].strip().partition(":")
        value = params.get(name.strip())
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            known = ", ".join(sorted(params)) or "none"
            raise TargetTextError(
                f"'{{{name}}}' is not a number in params (params: {known})",
                f"“{{{name}}}”不是 params 中的数（params：{known}）",
            )
        if spec.strip() == "%":
            return format_number(Fraction(value) * 100) + "%"
        if spec.strip():
            raise TargetTextError(
                f"'{{{match[1]}}}': the only format is {{name:%}}",
                f"“{{{match[1]}}}”：格式只能写 {{name:%}}",
            )
        return format_number(Fraction(value))

    return _PLACEHOLDER.sub(fill, template[1:])


class Indicator(_Model):
    """``[indicators.ID]``: a scored indicator (三级指标)."""

    name: str = Field(default="", description="Display name; the id when empty.")
    parent: str | None = Field(default=None, description="Id of the group it belongs to.")
    weight: Number = Field(description="Full marks of the indicator.")
    target: str = Field(default="", description="Target as printed (目标值), e.g. ≥90%.")
    formula: str | None = Field(
        default=None, description="Expression or named formula; defaults.formula when omitted."
    )
    params: dict[str, Number | bool] = Field(
        default_factory=dict, description="Constants the formula reads, e.g. { target = 88 }."
    )
    # Left out of dumps (and so of the scheme's content hash): ``target`` holds what it derives.
    target_text: str | None = Field(
        default=None,
        exclude=True,
        description="The target shown, derived from params so text and number agree: "
        "'={target}项任务完成率达70%' (each {name} is a parameter; {name:%} a percentage). "
        "Replaces target.",
    )
    show: str | None = Field(
        default=None,
        description="Input shown as the actual value (业绩值); first input by default.",
    )
    missing: Policy | None = None
    na: Policy | None = None
    clamp: bool | None = None
    places: Places | None = Field(default=None, description="Overrides rounding.indicator here.")
    direction: Literal["positive", "reverse", "none"] | None = Field(
        default=None,
        description="Whether more of the actual value should never lower the score (positive), "
        "never raise it (reverse), or neither.",
    )
    counted: bool = Field(
        default=True,
        description="false: shown and scored, but not added to its group or the total (a "
        "row a form prints beside the counted ones, such as 预算执行率).",
    )
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _derived_target(cls, data: Any) -> Any:
        """``target`` is what ``target_text`` derives (the checks report one that cannot be)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("target_text"), str):
            return data
        params = data.get("params")
        try:
            shown = derive_target(
                data["target_text"], params if isinstance(params, Mapping) else {}
            )
        except TargetTextError:
            return data
        return {**data, "target": shown}


#: How a cohort value is taken over the units of a cohort.
CohortStat = Literal[
    "min", "max", "mean", "median", "sum", "count", "percentile", "variance", "rank", "percentrank"
]


class CohortValue(_Model):
    """``[cohort.values.NAME]``: a value taken over every unit of the cohort.

    Formulas read it by its name like an input: ``weight * lowest_valid_bid / bid``.
    """

    label: str = Field(default="", description="What it is, e.g. 评标基准价.")
    stat: CohortStat = Field(
        description="min, max, mean, median, sum, count (units counted), percentile, "
        "variance (sample, n - 1), or for each unit its rank (average of ties, 1 = lowest) "
        "or percentrank (PERCENTRANK.INC) among the cohort's values."
    )
    of: str | None = Field(
        default=None,
        description="What it is taken over: a number input (a shared fact of each unit), or "
        "a score: total, or the id of a group or indicator (taken once every unit is scored "
        "that far); not needed for count.",
    )
    where: str | None = Field(
        default=None,
        description="Only the units for which this condition over shared facts holds, e.g. valid.",
    )
    percentile: Number | None = Field(
        default=None,
        description="For stat = percentile: 0 to 100 (linear between ranks, as Excel's "
        "PERCENTILE.INC).",
    )
    order: Literal["asc", "desc"] = Field(
        default="asc",
        description="For stat = rank or percentrank: asc ranks the lowest value 1 (and 0 %), "
        "desc the highest.",
    )
    description: str = ""


class Cohort(_Model):
    """``[cohort]``: the units scored together, and the values taken over them."""

    group_by: str | None = Field(
        default=None,
        description="A shared fact that splits the units into cohorts, e.g. lot (标段); one "
        "cohort when omitted.",
    )
    label: str = Field(default="", description="What a cohort is called, e.g. 标段.")
    values: dict[str, CohortValue] = Field(default_factory=dict)


class RankKey(_Model):
    """One key of ``[ranking]``: what to order by, and which way."""

    by: str = Field(
        description="total, the id of a group or indicator (its score) or a number input "
        "(a shared fact, e.g. bid)."
    )
    order: Literal["desc", "asc"] = Field(
        default="desc", description="desc: highest first; asc: lowest first."
    )


class Ranking(_Model):
    """``[ranking]``: rank the units of each cohort after scoring them."""

    keys: list[RankKey] = Field(
        min_length=1,
        description="Order keys, the first deciding, the next breaking its ties, ...",
    )
    ties: Literal["competition", "dense", "ordinal"] = Field(
        default="competition",
        description="Units equal on every key: competition 1, 2, 2, 4; dense 1, 2, 2, 3; "
        "ordinal 1, 2, 3, 4 in the order the units were given.",
    )
    where: str | None = Field(
        default=None, description="Only the units for which this condition holds are ranked."
    )
    label: str = Field(default="", description="Column title, e.g. 排名.")
    min_available: Number | None = Field(
        default=None,
        description="Share (0-1) of a unit's indicators whose facts must all be given, not "
        "missing or imputed; a unit below it is scored but not ranked, with the reason.",
    )
    shared_mark: str = Field(
        default="",
        max_length=3,
        pattern=r"^[^0-9\s]*$",
        description="Written before a rank that units share, as league tables print it: "
        "'=' shows =5 for every unit tied at 5 (competition and dense ties). Empty: 5.",
    )


class Scheme(_Model):
    """A whole scheme: the contents of one rule file (after ``extends`` is resolved)."""

    scheme: SchemeInfo
    rounding: Rounding = Field(default_factory=Rounding)
    defaults: Defaults = Field(default_factory=Defaults)
    bands: list[Band] = Field(
        default_factory=list,
        description="Grade bands, highest first. None for a rank-only scheme (a league "
        "table): its results then have a rank and no grade.",
    )
    grade_overrides: list[GradeOverride] = Field(
        default_factory=list, description="Grades that replace the band when a condition holds."
    )
    inputs: dict[str, Input] = Field(default_factory=dict)
    formulas: dict[str, str] = Field(default_factory=dict)
    scales: dict[str, Scale] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(default_factory=dict)
    indicators: dict[str, Indicator] = Field(default_factory=dict)
    cohort: Cohort | None = Field(
        default=None, description="Values taken over all units scored together."
    )
    ranking: Ranking | None = Field(default=None, description="How units are ranked.")

    # Where the scheme was read from (set by the loader; None for schemes built in code).
    _source: Any = PrivateAttr(default=None)
    # The result of the checks, kept by load_scheme so that compiling does not repeat them.
    _checked: Any = PrivateAttr(default=None)

    @property
    def id(self) -> str:
        """The scheme's id."""
        return self.scheme.id

    @property
    def max(self) -> Decimal:
        """Full marks of the total."""
        return self.scheme.max


class RuleFile(Scheme):
    """A rule file as written: a scheme, possibly extending another and removing entries.

    Used for the editor schema (``perfrules schema``); the loader resolves ``extends``.
    """

    extends: str | None = Field(
        default=None, description="Path of the scheme this one extends (next year's file)."
    )
    remove: dict[Literal["inputs", "formulas", "scales", "groups", "indicators"], list[str]] = (
        Field(
            default_factory=dict,
            description='Entries of the extended scheme to drop: { indicators = ["id"] }.',
        )
    )


class FactTable(_Model):
    """A fact with details: ``{ value = 70, text = "70项任务完成率达70%" }``."""

    value: Number | str | bool | None = None
    text: str | None = Field(default=None, description="The value as printed in the report.")
    level: str | None = Field(default=None, description="For a qualitative input: the level.")
    share: Number | str | None = Field(
        default=None, description="A share inside the level's band."
    )
    note: str | None = None


class Override(_Model):
    """``override = { score = 9, reason = "..." }``: a score set by hand, with its reason."""

    score: Number | str
    reason: str = Field(min_length=1)


FactValue = Annotated[
    Number | str | bool | FactTable,
    Field(description='A number (4.8), a text ("80%", "≥90%", "70/88", "N/A"), a level, a bool.'),
]


class IndicatorFacts(BaseModel):
    """``[indicators.ID]``: the facts of one indicator (input name → value)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    na: str | bool | None = Field(default=None, description="Not applicable (with the reason).")
    override: Override | None = None
    note: str | None = None

    __pydantic_extra__: dict[str, FactValue]


class FormInfo(_Model):
    """``[form]``: the signature block of the filed report (填表人, 审核人, 联系电话, 日期)."""

    filled_by: str = Field(default="", description="填表人: who filled the form in.")
    reviewed_by: str = Field(default="", description="审核人: who reviewed it.")
    phone: str = Field(default="", description="联系电话: a telephone number.")
    date: str = Field(default="", description="填报日期: the date of filing (today if empty).")


class FactsFile(_Model):
    """A facts file: one unit's facts."""

    unit: str = Field(default="", description="The unit (department, project) scored.")
    form: FormInfo | None = Field(
        default=None, description="Who filled the form in and when (for reports)."
    )
    year: int | None = None
    note: str | None = None
    shared: dict[str, FactValue] = Field(
        default_factory=dict, description="Facts every indicator may read."
    )
    indicators: dict[str, IndicatorFacts] = Field(
        default_factory=dict, description="Facts by indicator id."
    )


class PublishedResults(_Model):
    """``[published]``: what a report printed, to audit against the scheme."""

    total: Number | str | None = Field(default=None, description="The published total.")
    grade: str | None = Field(default=None, description="The published grade label.")
    scores: dict[str, Number | str] = Field(
        default_factory=dict, description="Published scores by indicator id."
    )


class ReportFile(FactsFile):
    """A report to audit: a facts file plus ``[published]``."""

    published: PublishedResults = Field(default_factory=PublishedResults)
