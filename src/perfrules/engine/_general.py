"""The general path of an indicator: every fact read, every problem reported where it is.

The generated scorer (``_kernel``) scores an indicator inline when its facts are plain;
anything else — a missing or unreadable value, "not applicable", an override, a qualitative
level, a score outside its weight, a formula that fails — comes here, to
:meth:`GeneralPath.score`, the one complete implementation of an indicator's scoring. It
records what it found (:class:`~perfrules.engine._assemble.LeafRecord`) for the trace and
reports each problem on the unit (:class:`Unit`) at its place in the facts.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Final

from perfrules._messages import TOP_TABLE
from perfrules._numbers import (
    NumberFormatError,
    format_number,
    format_short,
    normalise_text,
    to_fraction,
)
from perfrules.engine._assemble import LeafRecord
from perfrules.engine._cohort import NOT_APPLICABLE, Problems
from perfrules.engine._kernel import EMPTY
from perfrules.engine._plan import IMPUTED, MISSING, Node, Plan, find_fact
from perfrules.engine._totals import Totals
from perfrules.errors import Diagnostic, ExpressionError
from perfrules.expressions import Approx, Value, approximation, ends, real_calls
from perfrules.facts import (
    TOP_KEYS,
    Facts,
    is_na_word,
    marks_not_applicable,
    number_pair,
    text_of,
    to_bool,
)
from perfrules.trace import CohortValue, InputValue, Note

__all__ = ["RESERVED_FACTS", "GeneralPath", "Unit"]

#: The keys plain facts may have at their top, as a set.
_TOP_KEYS: Final = frozenset(TOP_KEYS)
#: Keys an indicator's facts may hold besides its inputs.
RESERVED_FACTS: Final = frozenset({"override", "na", "note"})
_FACT_TABLE_KEYS: Final = frozenset({"value", "text", "level", "share", "note"})
#: Distinct fact texts :meth:`GeneralPath.marks_missing` remembers (memory stays bounded).
_MARKS_KEPT: Final = 65_536
_ZERO: Final = Fraction(0)


#: Why a number was refused, when the text is not merely misspelt: the hint that says so.
_WHY_NOT_A_NUMBER: Final = {
    "range": "number_range",
    "digits": "number_digits",
    "places": "number_places",
    "zero": "number_zero",
    "nonfinite": "number_nonfinite",
    "type": "number_type",
}
#: The most characters of a refused value a message repeats (a body may hold 1 MiB of digits).
_SHOWN: Final = 60


def _abridged(text: str) -> str:
    """*text*, or its start and how long it is when it is longer than a message should be."""
    if len(text) <= _SHOWN:
        return text
    return f"{text[: _SHOWN // 2]}… ({len(text):,} characters)"


class Unit:
    """Per-call state of the general path: problems found, weight excluded."""

    __slots__ = ("diagnostics", "errors", "excluded", "source")

    def __init__(self, source: Facts | None) -> None:
        """Start with no problem and nothing excluded."""
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.excluded = _ZERO
        self.errors = 0

    def problem(
        self,
        code: str,
        path: tuple[str | int, ...],
        params: Mapping[str, object],
        hint: str | None = None,
    ) -> None:
        """Record a problem, placed in the facts file when there is one."""
        if self.source is None:
            file, line, column, excerpt, shown = None, 0, 0, None, 0
        else:
            file, line, column, excerpt = self.source.position(path)
            shown = self.source.excerpt_column(line, column)
        self.diagnostics.append(
            Diagnostic(
                code,
                path,
                params,
                hint,
                file=file,
                line=line,
                column=column,
                excerpt=excerpt,
                excerpt_column=shown,
            )
        )


class _NotApplicable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


class GeneralPath:
    """The general path of one plan's indicators, and the helpers the scorer calls.

    Immutable after construction: per-call state lives in the :class:`Unit` and the
    record the scorer passes in.
    """

    def __init__(self, plan: Plan, types: Mapping[str, str], totals: Totals) -> None:
        """Prepare the general path of *plan* (its declared input *types*, its *totals*)."""
        self.plan = plan
        self.types = types
        self.totals = totals
        inputs = plan.scheme.inputs
        self._scales = {
            name: plan.scheme.scales[declared.scale]
            for name, declared in inputs.items()
            if declared.type == "level" and declared.scale in plan.scheme.scales
        }
        self._indicator_ids = [plan.nodes[i].id for i in plan.leaves]
        #: Texts that mark a missing value ([defaults] missing_markers), as compared.
        self._markers = frozenset(
            normalise_text(m).strip().lower() for m in plan.scheme.defaults.missing_markers
        )
        #: Texts already asked of :meth:`marks_missing`, and the answer.
        self._marks: dict[str, bool] = {}
        #: For each indicator (by node index), the fact keys it may have.
        self.allowed: dict[int, frozenset[str]] = {}
        for index in plan.leaves:
            leaf = plan.nodes[index].leaf
            assert leaf is not None  # noqa: S101
            self.allowed[index] = frozenset({*leaf.needs, *RESERVED_FACTS, *types})

    def marks_missing(self, raw: Any) -> bool:
        """Whether a fact is written as a missing marker (``[defaults] missing_markers``).

        Each distinct text is folded once (up to ``_MARKS_KEPT`` of them remembered): the
        cohort pass and the data gaps ask it of every fact of every unit.
        """
        if type(raw) is not str:
            return isinstance(raw, str) and self._folds_to_marker(raw)
        known = self._marks.get(raw)
        if known is None:
            known = self._folds_to_marker(raw)
            if len(self._marks) < _MARKS_KEPT:
                self._marks[raw] = known
        return known

    def _folds_to_marker(self, raw: str) -> bool:
        return normalise_text(raw).strip().lower() in self._markers

    def read_shared(self, name: str, raw: Any, unit: Problems) -> Value | object | None:
        """A shared fact as declared: its value, ``NOT_APPLICABLE``, or ``None``.

        *unit* collects the problem when *raw* cannot be read (a :class:`Unit`).
        """
        converted = self._convert(name, raw, ("shared", name), unit)
        if converted is None:
            return None
        if isinstance(converted, _NotApplicable):
            return NOT_APPLICABLE
        return converted[0]

    def shape(self, indicators: object, unit: Unit) -> dict[str, Any]:
        """The usable part of ``indicators``; reports ids that are not indicators."""
        if not isinstance(indicators, Mapping):
            unit.problem("PR410", ("indicators",), {"got": type(indicators).__name__})
            return {}
        for indicator_id in indicators:
            index = self.plan.by_id.get(indicator_id)
            if index is None or self.plan.nodes[index].kind != "indicator":
                suggestion = difflib.get_close_matches(str(indicator_id), self._indicator_ids, n=1)
                unit.problem(
                    "PR403",
                    ("indicators", indicator_id),
                    {"indicator": indicator_id, "suggestion": suggestion[0] if suggestion else ""},
                    "did_you_mean" if suggestion else None,
                )
        return dict(indicators)

    def unknown_shared(self, source: Facts | None, shared: Mapping[str, Any]) -> list[Diagnostic]:
        """``PR421`` for each shared fact that nothing in the scheme reads.

        A misspelt shared fact (``gpd`` for ``gdp``) would leave the one meant missing, to
        be imputed or scored by a ``missing`` policy: the batch refuses such a column, and
        one unit's facts are refused alike.
        """
        unit = Unit(source)
        for name, close in self.plan.unknown_shared(shared).items():
            unit.problem(
                "PR421",
                ("shared", name),
                {"name": name, "suggestion": close},
                "did_you_mean" if close else None,
            )
        return unit.diagnostics

    def top_keys(self, facts: object) -> Sequence[Diagnostic]:
        """The keys of plain facts that a facts file would refuse at its top (PR101).

        ``{"indicators": ..., "sharde": ...}`` is not silently scored without its shared
        facts (imputed, or under a ``missing`` policy, in their place). Usually none, found
        without allocating anything.
        """
        if facts.__class__ is not dict and (
            isinstance(facts, Facts) or not isinstance(facts, Mapping)
        ):
            return ()
        if "indicators" not in facts and "shared" not in facts:
            return ()  # {id: {name: value}}: every key is an indicator's (shape() checks them)
        if facts.keys() <= _TOP_KEYS:
            return ()
        unit = Unit(None)
        for key in facts:
            if key in _TOP_KEYS:
                continue
            suggestion = difflib.get_close_matches(str(key), TOP_KEYS, n=1)
            unit.problem(
                "PR101",
                (str(key),),
                {
                    "key": key,
                    "table": TOP_TABLE,
                    "suggestion": suggestion[0] if suggestion else "",
                },
                "did_you_mean" if suggestion else None,
            )
        return unit.diagnostics

    def shared(self, shared: object, unit: Unit) -> dict[str, Any]:
        if not isinstance(shared, Mapping):
            unit.problem("PR410", ("shared",), {"got": type(shared).__name__})
            return {}
        return dict(shared)

    def nothing(self, unit: Unit) -> None:
        """No indicator could be scored: say so, unless a failure already explains it."""
        if not unit.errors:
            unit.problem("PR502", (), {})

    def override_grade(self, shared: Mapping[str, Any], unit: Unit) -> tuple[str, str, str] | None:
        """The first ``[[grade_overrides]]`` whose condition holds for the shared facts."""
        for label, label_en, condition in self.plan.overrides:
            names: dict[str, Value] = {}
            for name in sorted(condition.names):
                raw = shared.get(name, MISSING)
                if raw is MISSING:
                    unit.problem("PR401", ("shared", name), {"indicator": label, "fact": name})
                    return None
                converted = self._convert(name, raw, ("shared", name), unit)
                if converted is None or isinstance(converted, _NotApplicable):
                    return None
                names[name] = converted[0]
            try:
                holds = condition.evaluate(names)
            except ExpressionError as exc:
                unit.problem(exc.code, ("shared",), dict(exc.params), exc.hint)
                return None
            if holds is True:
                return label, label_en, condition.text
        return None

    def score(
        self,
        call: list[Any],
        k: int,
        own: Any,
        shared: Mapping[str, Any],
        records: list[Any],
        weight_num: int,
        weight_den: int,
        scale: int | None,
    ) -> int | tuple[int | None, int] | None:
        """Score indicator *k* in full and record it.

        Args:
            call: the generated scorer's per-call state: ``[facts, Unit or None]``; the unit
                is made here on first need.
            k: the indicator's position.
            own: its facts (``EMPTY`` when absent).
            shared: the shared facts.
            records: the raw record, one entry per indicator.
            weight_num: the numerator of its weight (the plan has it; kept for the call).
            weight_den: the denominator of its weight.
            scale: the power of ten its rounded score is held over, ``None`` when it is not
                rounded.

        Returns:
            The rounded score as an integer over *scale*, or as a pair without a scale;
            ``None`` (or ``(None, 1)``) when excluded or failed.
        """
        del weight_num, weight_den
        unit = call[1]
        if unit is None:
            unit = call[1] = Unit(call[0])
        num, den = self._general_pair(k, own, shared, unit, records)
        if scale is None:
            return num, den
        return None if num is None else num * (scale // den)

    def _general_pair(
        self, k: int, own: Any, shared: Mapping[str, Any], unit: Unit, records: list[Any]
    ) -> tuple[int | None, int]:
        node = self.plan.nodes[self.plan.leaves[k]]
        if own is not EMPTY:
            own = self._own_shape(node, own, unit)
        record = self._score_leaf(node, own, shared, unit)
        records[k] = record
        if record.status == "error":
            unit.errors += 1
        if record.score is None:
            if record.status == "excluded" and node.counted:  # not counted: takes nothing
                unit.excluded += node.weight
            return None, 1
        return record.score.numerator, record.score.denominator

    def _own_shape(self, node: Node, own: Any, unit: Unit) -> Mapping[str, Any]:
        if not isinstance(own, Mapping):
            unit.problem("PR410", ("indicators", node.id), {"got": type(own).__name__})
            return EMPTY
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        for name in own.keys() - self.allowed[node.index]:
            candidates = [*leaf.needs, *RESERVED_FACTS]
            suggestion = difflib.get_close_matches(str(name), candidates, n=1)
            unit.problem(
                "PR404",
                ("indicators", node.id, name),
                {
                    "fact": name,
                    "indicator": node.id,
                    "suggestion": suggestion[0] if suggestion else "",
                },
                "did_you_mean" if suggestion else None,
            )
        return own

    def _score_leaf(
        self, node: Node, own: Mapping[str, Any], shared: Mapping[str, Any], unit: Unit
    ) -> LeafRecord:
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        weight = node.weight
        bound = self._bind(node, own, shared, unit)
        if bound is None:
            return LeafRecord("error", weight)
        if isinstance(bound, _NotApplicable):
            return self._policy_score(node, leaf.na, "na", unit, reason=bound.reason)
        names, inputs, notes, missing, actual_text = bound
        if missing is not None:
            if missing == "":  # a malformed value, already reported
                return LeafRecord("error", weight)
            if leaf.missing == "error":
                unit.problem(
                    "PR401",
                    ("indicators", node.id, missing),
                    {"indicator": node.id, "fact": missing},
                )
                return LeafRecord("error", weight)
            record = self._policy_score(node, leaf.missing, "missing", unit, fact=missing)
            record.inputs = tuple(inputs)
            return record
        settled: tuple[Fraction, Fraction | None] | None = None
        try:
            if leaf.expression.real and node.places is not None:
                settled = self._settle(node, names, notes)
                value = settled[0]
            else:
                value = leaf.expression.evaluate(names)  # type: ignore[assignment]
        except ExpressionError as exc:
            unit.problem(exc.code, *_failure(node, exc, inputs, leaf.expression.text))
            return LeafRecord("error", weight)
        assert isinstance(value, Fraction)  # noqa: S101 - formulas are type-checked as numbers
        status = "scored"
        if settled is not None and settled[1] is None:
            unit.problem(
                "PR501",
                ("indicators", node.id),
                {
                    "indicator": node.id,
                    "score": "≈" + format_short(value),
                    "weight": format_number(weight),
                },
                "cap_with_min",
            )
            return LeafRecord("error", weight)
        if settled is not None:
            pass  # clamped (and noted) by _settle
        elif value < 0 or value > weight:
            if leaf.clamp:
                notes.append(
                    Note(
                        "clamped", {"value": format_number(value), "weight": format_number(weight)}
                    )
                )
                value = min(max(value, _ZERO), weight)
            else:
                unit.problem(
                    "PR501",
                    ("indicators", node.id),
                    {
                        "indicator": node.id,
                        "score": format_short(value),  # 31.666666…, not 28 digits
                        "weight": format_number(weight),
                    },
                    "floor_with_max" if value < 0 else "cap_with_min",
                )
                return LeafRecord("error", weight)
        override = self._override(node, own, unit)
        if override is not None:
            computed = value
            value, reason = override
            status = "override"
            notes.append(
                Note(
                    "override",
                    {
                        "score": format_number(value),
                        "computed": format_number(computed),
                        "reason": reason,
                    },
                )
            )
        record = LeafRecord(status, weight)
        record.names = names
        record.inputs = tuple(inputs)
        record.notes = tuple(notes)
        record.actual = actual_text
        if settled is not None and settled[1] is not None and override is None:
            record.before, record.score = settled
        else:
            self._record_score(record, value, node.places)
        return record

    def _settle(
        self, node: Node, names: Mapping[str, Value], notes: list[Note]
    ) -> tuple[Fraction, Fraction | None]:
        """A formula whose value may be irrational, scored: clamped and rounded, decided.

        The formula is computed with bounds to as many digits as it takes for every value
        within them to meet the same fate — the same rounding, the same clamping, or out of
        range alike — which is then the fate of the true value. Returns the value before
        rounding (a close decimal when irrational) and the rounded score (``None``: out of
        [0, weight] without ``clamp``); notes the clamping and the approximation.
        """
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        weight, places = node.weight, node.places
        assert places is not None  # noqa: S101

        def fate(x: Fraction) -> tuple[str, Fraction | None]:
            if _ZERO <= x <= weight:
                return "scored", self.totals.rounded(x, places)
            if leaf.clamp:
                return "clamped", self.totals.rounded(min(max(x, _ZERO), weight), places)
            return "error", None

        def decide(value: Any) -> tuple[str, Fraction | None, Any] | None:
            low, high = ends(value)
            first = fate(low)
            return (*first, value) if first == fate(high) else None

        (kind, score, value), digits = leaf.expression.settle(names, decide)
        approximate = isinstance(value, Approx)
        shown = approximation(value) if approximate else value
        if approximate:
            notes.append(
                Note(
                    "approximate",
                    {"values": ", ".join(real_calls(leaf.expression)), "digits": str(digits)},
                )
            )
        if kind == "clamped":
            notes.append(
                Note(
                    "clamped",
                    {
                        "value": ("≈" if approximate else "") + format_number(shown),
                        "weight": format_number(weight),
                    },
                )
            )
        if kind == "clamped":
            shown = min(max(shown, _ZERO), weight)
        return shown, score

    def _record_score(self, record: LeafRecord, value: Fraction, places: int | None) -> None:
        """Keep *value* as the score, rounded exactly (half-up etc. on Fractions) to *places*."""
        if places is None:
            record.score = value
        else:
            record.before = value
            record.score = self.totals.rounded(value, places)

    def _bind(
        self, node: Node, own: Mapping[str, Any], shared: Mapping[str, Any], unit: Unit
    ) -> (
        tuple[dict[str, Value], list[InputValue], list[Note], str | None, str]
        | _NotApplicable
        | None
    ):
        """Bind a leaf's inputs: the binding, N/A, or None when a value is malformed.

        A missing fact is returned as the name in the binding's ``missing`` slot.
        """
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        if "na" in own and marks_not_applicable(own["na"]):
            mark = own["na"]
            reason = mark if isinstance(mark, str) and to_bool(mark) is None else ""
            return _NotApplicable(reason)
        names: dict[str, Value] = {"weight": node.weight}
        bound: list[InputValue] = []
        notes: list[Note] = []
        if node.weight_input is not None:
            bound.append(node.weight_input)
        missing: str | None = None
        actual_text = ""
        for name in leaf.needs:
            raw, source = find_fact(name, own, shared, self.plan.bound_sources)
            marked = ""
            if self.marks_missing(raw):
                marked, raw = raw, MISSING  # "-", "..": missing, as the policy says
            if raw is MISSING:
                default = leaf.default(name)
                if default is None and name in leaf.pooled:
                    taken = shared.get(IMPUTED, EMPTY).get(name)
                    if taken is not None:
                        default = taken.value, "imputed"
                        notes.append(Note("imputed", _imputed_note(name, taken)))
                if default is not None:
                    value, origin = default
                    names[name] = value
                    text = node.target if origin == "target" else text_of(value)
                    bound.append(InputValue(name, value, text, origin))
                    continue
                missing = missing or name
                bound.append(InputValue(name, None, marked, "missing"))
                continue
            if self.types.get(name, "number") == "number":
                pair = number_pair(raw)
                if pair is not None:
                    value = Fraction(*pair)
                    names[name] = value
                    text = raw if isinstance(raw, str) else text_of(raw)
                    bound.append(InputValue(name, value, text, source))
                    if name == leaf.show:
                        actual_text = text
                    continue
            path = ("indicators", node.id, name) if source == "facts" else ("shared", name)
            converted = self._convert(name, raw, path, unit)
            if converted is None:
                missing = missing or ""
                continue
            if isinstance(converted, _NotApplicable):
                return converted
            value, text, level = converted
            names[name] = value
            bound.append(InputValue(name, value, text, source, level))
            if level is not None:
                notes.append(
                    Note("level", {"fact": name, "level": level, "share": text_of(value)})
                )
            if name == leaf.show:
                actual_text = text
        return names, bound, notes, missing, actual_text

    def _convert(
        self, name: str, raw: Any, path: tuple[str | int, ...], unit: Problems
    ) -> tuple[Value, str, str | None] | _NotApplicable | None:
        text_override: str | None = None
        level_share: Any = None
        if isinstance(raw, Mapping):
            extra = [k for k in raw if k not in _FACT_TABLE_KEYS]
            if extra:
                unit.problem(
                    "PR404",
                    (*path, extra[0]),
                    {"fact": extra[0], "indicator": path[1] if len(path) > 1 else ""},
                )
                return None
            text_override = raw.get("text")
            level_share = raw.get("share")
            raw = raw.get("level", raw.get("value", MISSING))
            if raw is MISSING:
                unit.problem("PR103", path, {"table": ".".join(map(str, path)), "key": "value"})
                return None
        kind = self.types.get(name, "number")
        shown = text_override if isinstance(text_override, str) else text_of(raw)
        if isinstance(raw, str) and is_na_word(raw):
            return _NotApplicable("")
        if kind == "bool":
            flag = to_bool(raw)
            if flag is None:
                unit.problem(
                    "PR402",
                    path,
                    {
                        "value": text_of(raw),
                        "expected": "true or false (是/否)",
                        "expected_zh": "是/否（true/false）",
                    },
                )
                return None
            return flag, shown, None
        if kind == "level":
            return self._level(name, raw, level_share, shown, path, unit)
        if isinstance(raw, float):
            unit.problem("PR409", path, {"value": repr(raw)}, "decimal_string")
            return None
        try:
            value = to_fraction(raw, strict=True)
        except NumberFormatError as exc:
            if exc.reason == "float":
                unit.problem("PR409", path, {"value": text_of(raw)}, "decimal_string")
            else:
                unit.problem(
                    "PR402",
                    path,
                    {
                        "value": _abridged(text_of(raw)),
                        "expected": "a number such as 80%, 4.8 or 70/88",
                        "expected_zh": "数字（如 80%、4.8、70/88）",
                        "suggestion": exc.suggestion,
                        "got": type(raw).__name__,
                    },
                    "did_you_mean" if exc.suggestion else _WHY_NOT_A_NUMBER.get(exc.reason),
                )
            return None
        return value, shown, None

    def _level(
        self,
        name: str,
        raw: Any,
        share: Any,
        shown: str,
        path: tuple[str | int, ...],
        unit: Problems,
    ) -> tuple[Value, str, str | None] | None:
        scale = self._scales[name]
        label = normalise_text(str(raw)).strip() if isinstance(raw, str) else None
        level = next((lv for lv in scale.levels if lv.label == label), None)
        if level is None:
            unit.problem(
                "PR405",
                path,
                {
                    "value": text_of(raw),
                    "scale": self.plan.scheme.inputs[name].scale,
                    "levels": "、".join(lv.label for lv in scale.levels),
                },
            )
            return None
        low, high = Fraction(level.min), Fraction(level.max)
        if share is None:
            if level.default is None:
                unit.problem(
                    "PR401",
                    (*path, "share"),
                    {"indicator": path[1] if len(path) > 1 else "", "fact": f"{name}.share"},
                )
                return None
            return Fraction(level.default), shown, level.label
        try:
            value = to_fraction(share, strict=True)
        except NumberFormatError:
            unit.problem(
                "PR402",
                (*path, "share"),
                {
                    "value": text_of(share),
                    "expected": "a share such as 70%",
                    "expected_zh": "比例（如 70%）",
                },
            )
            return None
        upper_ok = value < high or value == high == 1
        if not (low <= value and upper_ok):
            unit.problem(
                "PR406",
                (*path, "share"),
                {
                    "share": text_of(share),
                    "level": level.label,
                    "min": format_number(low),
                    "max": format_number(high),
                },
            )
            return None
        return value, shown, level.label

    def _override(
        self, node: Node, own: Mapping[str, Any], unit: Unit
    ) -> tuple[Fraction, str] | None:
        if "override" not in own:
            return None
        raw = own["override"]
        path = ("indicators", node.id, "override")
        if not isinstance(raw, Mapping) or "score" not in raw:
            unit.problem("PR103", path, {"table": "override", "key": "score"})
            return None
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            unit.problem("PR407", path, {"indicator": node.id}, "add_reason")
            return None
        try:
            score = to_fraction(raw["score"], strict=True)
        except NumberFormatError:
            unit.problem(
                "PR402",
                (*path, "score"),
                {"value": text_of(raw["score"]), "expected": "a number", "expected_zh": "数字"},
            )
            return None
        if not 0 <= score <= node.weight:
            unit.problem(
                "PR408",
                (*path, "score"),
                {
                    "indicator": node.id,
                    "score": format_number(score),
                    "weight": format_number(node.weight),
                },
            )
            return None
        return score, reason.strip()

    def _policy_score(
        self, node: Node, policy: str, cause: str, unit: Unit, *, reason: str = "", fact: str = ""
    ) -> LeafRecord:
        suffix = f": {reason}" if reason else ""
        if policy == "error":
            if cause == "na":
                unit.problem("PR411", ("indicators", node.id, "na"), {"indicator": node.id})
            return LeafRecord("error", node.weight)
        note = (Note(f"{cause}_{policy}", {"fact": fact, "reason": suffix}),)
        if policy == "exclude":
            record = LeafRecord("excluded", _ZERO)
            record.notes = note
            return record
        record = LeafRecord(policy, node.weight)
        record.notes = note
        self._record_score(record, node.weight if policy == "full" else _ZERO, node.places)
        return record


def _imputed_note(name: str, taken: CohortValue) -> dict[str, str]:
    """The parameters of an ``imputed`` note: which value, how taken, over how many units."""
    group = taken.where
    return {
        "fact": name,
        "value": text_of(taken.value),
        "stat": taken.stat,
        "stat_zh": "中位数" if taken.stat == "median" else "均值",
        "units": str(taken.units),
        "over": f"group {group}" if group else "cohort",
        "over_zh": f"分组 {group} " if group else "本群体",
    }


def _failure(
    node: Node, exc: ExpressionError, inputs: Iterable[InputValue], formula: str
) -> tuple[tuple[str, ...], dict[str, object], str | None]:
    """Where a formula that failed on a unit's facts is placed, its message's fields, its hint.

    A division by a fact that is 0 (``actual / target`` with ``target = 0``) is placed at
    that fact, the indicator's own or a shared one, where it is to be corrected, with a
    hint naming the formula that divides by it. A division by the rule file's ``params``
    default (PR241) is placed at the indicator's facts, the hint saying where the 0 came
    from; any other failure (a formula's own arithmetic) at the indicator's facts.
    """
    at: tuple[str, ...] = ("indicators", node.id)
    params, hint = dict(exc.params), exc.hint
    divisor = exc.params.get("expr") if exc.code == "PR316" else None
    source = next((bound.source for bound in inputs if bound.name == divisor), None)
    if source == "facts":
        at, hint = ("indicators", node.id, str(divisor)), "divides_by_fact"
    elif source == "shared":
        at, hint = ("shared", str(divisor)), "divides_by_fact"
    elif source == "params":
        hint = "divides_by_param"
        params["param"] = str(divisor)
    if hint in ("divides_by_fact", "divides_by_param"):
        params.update(indicator=node.id, formula=formula)
    return at, params, hint
