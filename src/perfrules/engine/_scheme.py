"""A compiled scheme: the generated scorer, the general path of an indicator, the results.

A :class:`CompiledScheme` is immutable and holds no per-call state, so one instance can
score many units from many threads at once. ``evaluate`` runs the generated function
(``_kernel``); the indicators it cannot score inline come to :meth:`CompiledScheme._general`,
the one complete implementation of an indicator's scoring, which also reports every problem
with its position. The result keeps the raw record; ``_assemble`` builds the trace from it
when it is read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from perfrules._numbers import (
    NumberFormatError,
    format_number,
    normalise_text,
    round_fraction,
    to_fraction,
)
from perfrules.engine._assemble import Evaluation, LeafRecord
from perfrules.engine._cohort import (
    NOT_APPLICABLE,
    CohortValues,
    Problems,
    holds,
    rank,
    take,
    unit_name,
)
from perfrules.engine._grading import by_loss, gap_for
from perfrules.engine._kernel import EMPTY, build_kernel
from perfrules.engine._plan import MISSING, Node, Plan, find_fact
from perfrules.engine._totals import totals_of
from perfrules.errors import Diagnostic, ExpressionError, FactsError
from perfrules.expressions import Value
from perfrules.facts import Facts
from perfrules.facts._values import (
    is_na_word,
    marks_not_applicable,
    number_pair,
    text_of,
    to_bool,
)
from perfrules.model import Scheme
from perfrules.trace import CohortValue, Gap, Grade, InputValue, Note, Result

__all__ = ["CompiledScheme", "Unit"]

_RESERVED_FACTS: Final = frozenset({"override", "na", "note"})
_FACT_TABLE_KEYS: Final = frozenset({"value", "text", "level", "share", "note"})
_ZERO: Final = Fraction(0)


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
            file, line, column, excerpt = None, 0, 0, None
        else:
            file, line, column, excerpt = self.source.position(path)
        self.diagnostics.append(
            Diagnostic(
                code, path, params, hint, file=file, line=line, column=column, excerpt=excerpt
            )
        )


class _NotApplicable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


class CompiledScheme:
    """A scheme ready to score units: compile once, evaluate many times, from any thread."""

    def __init__(self, plan: Plan) -> None:
        """Generate the scorer of *plan* (use :func:`compile_scheme`)."""
        self.plan = plan
        self.scheme: Scheme = plan.scheme
        inputs = plan.scheme.inputs
        #: The declared type of every input (``number``, ``bool`` or ``level``) by name.
        self.types: Mapping[str, str] = {name: declared.type for name, declared in inputs.items()}
        self._scales = {
            name: plan.scheme.scales[declared.scale]
            for name, declared in inputs.items()
            if declared.type == "level" and declared.scale in plan.scheme.scales
        }
        self._indicator_ids = [plan.nodes[i].id for i in plan.leaves]
        self._allowed: dict[int, frozenset[str]] = {}
        for index in plan.leaves:
            leaf = plan.nodes[index].leaf
            assert leaf is not None  # noqa: S101
            self._allowed[index] = frozenset({*leaf.needs, *_RESERVED_FACTS, *self.types})
        fast_keys = {i: keys - {"na", "override"} for i, keys in self._allowed.items()}
        self.totals = totals_of(plan)
        self.kernel = build_kernel(
            plan,
            self.types,
            fast_keys,
            {
                "_GEN": self._general,
                "_NEWUNIT": Unit,
                "_SHAPE": self._shape,
                "_SHARED": self._shared,
                "_NOTHING": self._nothing,
                "_RENORM": self.totals.renormalise,
                "_OVERRIDE": self._override_grade,
            },
        )
        self._run = self.kernel.function
        # The cohort values some formula reads (a unit cannot be scored without them).
        self._cohort_reads = frozenset(
            name
            for i in plan.leaves
            for name in plan.nodes[i].leaf.needs  # type: ignore[union-attr]
            if name in plan.cohort_names
        )

    @property
    def id(self) -> str:
        """The scheme id."""
        return self.plan.scheme.scheme.id

    @property
    def sha256(self) -> str:
        """Content hash of the scheme (canonical JSON, independent of layout and comments)."""
        return self.plan.sha256

    def evaluate(
        self,
        facts: Facts | Mapping[str, Any],
        *,
        trace: bool = True,
        cohort: CohortValues | None = None,
    ) -> Result:
        """Score one unit.

        Args:
            facts: a :class:`Facts` (from :func:`load_facts`) or plain data: either
                ``{"indicators": {id: {name: value}}, "shared": {...}, "unit": "..."}`` or
                simply ``{id: {name: value}}``.
            trace: keep what the trace needs (it is built only when read); ``False`` makes
                ``result.trace`` ``None``.
            cohort: the values of the unit's cohort, from :meth:`cohort_values` over every
                unit scored together; required by a scheme that declares ``[cohort]``
                values (use :meth:`evaluate_cohort` to score and rank a whole cohort).

        Raises:
            FactsError: every problem with the facts at once (missing or malformed values,
                a formula that fails on them, a score outside its weight, a cohort value
                the unit cannot be scored without).
        """
        if isinstance(facts, Facts):
            source, indicators, shared = facts, facts.indicators, facts.shared
        elif "indicators" in facts or "shared" in facts:
            source, indicators, shared = (
                None,
                facts.get("indicators", EMPTY),
                facts.get("shared", EMPTY),
            )
        else:
            source, indicators, shared = None, facts, EMPTY
        binding = None
        if cohort is not None or self.plan.cohort_names:
            shared, binding = self._bind_cohort(source, indicators, shared, cohort)
        out = self._run(source, indicators, shared)
        unit = out[0]
        if unit is not None and unit.diagnostics:
            raise FactsError(unit.diagnostics)
        return Result.lazy(Evaluation(self.plan, facts, out, trace, binding))

    def cohort_values(self, units: Iterable[Facts | Mapping[str, Any]]) -> CohortValues:
        """The first pass of cohort scoring: every cohort's values over *units*.

        Reads each unit's cohort (``group_by``), whether it qualifies (``where``) and the
        fact each value is taken over; keeps only those, not the units. A unit whose facts
        cannot be read for this is left out of the values, and its problems are kept in
        ``problems`` by its position.
        """
        rules = self.scheme.cohort.values if self.scheme.cohort is not None else {}
        entries: dict[str | None, dict[str, list[tuple[Fraction, str]]]] = {}
        problems: dict[int, FactsError] = {}
        count = 0
        for position, facts in enumerate(units):
            count += 1
            source = facts if isinstance(facts, Facts) else None
            shared = _shared_of(facts)
            unit = Unit(source)
            key = self.cohort_key(shared, unit)
            name = unit_name(facts, position)
            taken: list[tuple[str, Fraction]] = []
            for value_name, rule in rules.items():
                condition = self.plan.cohort_conditions.get(value_name)
                if condition is not None:
                    picked = holds(
                        condition, shared, self.read_shared, unit, f"cohort.values.{value_name}"
                    )
                    if not picked:
                        continue
                if rule.of is None:  # count: the unit is counted
                    taken.append((value_name, Fraction(1)))
                    continue
                raw = shared.get(rule.of, MISSING)
                if raw is MISSING:
                    unit.problem(
                        "PR401",
                        ("shared", rule.of),
                        {"indicator": f"cohort.values.{value_name}", "fact": rule.of},
                    )
                    continue
                read = self.read_shared(rule.of, raw, unit)
                if isinstance(read, Fraction):
                    taken.append((value_name, read))
            if unit.diagnostics:
                problems[position] = FactsError(unit.diagnostics)
                entries.setdefault(key, {})
                continue
            into = entries.setdefault(key, {})
            for value_name, value in taken:
                into.setdefault(value_name, []).append((value, name))
        return CohortValues(
            {
                key: tuple(
                    take(value_name, rule, found.get(value_name, ()))
                    for value_name, rule in rules.items()
                )
                for key, found in entries.items()
            },
            count,
            problems,
        )

    def evaluate_cohort(
        self, units: Iterable[Facts | Mapping[str, Any]], *, trace: bool = True
    ) -> list[Result | FactsError]:
        """Score every unit of one or more cohorts together, then rank them.

        The cohort values are taken over *units* (:meth:`cohort_values`), each unit is
        scored with its cohort's values, and ``[ranking]`` ranks the scored units of each
        cohort (``result.rank``; explained in ``result.trace.cohort``). A unit whose facts
        fail comes back as its ``FactsError``, in its place; the others are scored.
        """
        listed = list(units)
        cohort = self.cohort_values(listed)
        results: list[Result | FactsError] = []
        for position, facts in enumerate(listed):
            failed = cohort.problems.get(position)
            if failed is not None:
                results.append(failed)
                continue
            try:
                results.append(self.evaluate(facts, trace=trace, cohort=cohort))
            except FactsError as exc:
                results.append(exc)
        if self.scheme.ranking is not None:
            self._rank(listed, results)
        return results

    def _rank(
        self, units: list[Facts | Mapping[str, Any]], results: list[Result | FactsError]
    ) -> None:
        ranking = self.scheme.ranking
        assert ranking is not None  # noqa: S101
        condition = self.plan.cohort_conditions.get("")
        rows: dict[str | None, list[tuple[int, str, tuple[Fraction | None, ...]]]] = {}
        for position, (facts, result) in enumerate(zip(units, results, strict=True)):
            if isinstance(result, FactsError):
                continue
            evaluation = result._source  # noqa: SLF001 - our own result
            assert isinstance(evaluation, Evaluation)  # noqa: S101
            shared = _shared_of(facts)
            probe = Unit(None)
            if condition is not None and not holds(
                condition, shared, self.read_shared, probe, "ranking"
            ):
                continue
            keys: list[Fraction | None] = []
            for key in ranking.keys:
                if key.by == "total":
                    keys.append(result.total_exact)
                elif key.by in self.plan.by_id:
                    keys.append(evaluation.score(self.plan.by_id[key.by]))
                else:
                    raw = shared.get(key.by, MISSING)
                    read = None if raw is MISSING else self.read_shared(key.by, raw, probe)
                    keys.append(read if isinstance(read, Fraction) else None)
            rows.setdefault(evaluation.cohort_key, []).append(
                (position, unit_name(facts, position), tuple(keys))
            )
        for group in rows.values():
            for position, placed in rank(ranking, group).items():
                ranked = results[position]._source  # type: ignore[union-attr]  # noqa: SLF001
                assert isinstance(ranked, Evaluation)  # noqa: S101
                ranked.rank = placed

    def cohort_key(self, shared: Mapping[str, Any], unit: Problems) -> str | None:
        """The unit's cohort: the text of its ``group_by`` fact (``None``: one cohort).

        *unit* collects the problem when the fact is missing (a :class:`Unit`).
        """
        group_by = self.scheme.cohort.group_by if self.scheme.cohort is not None else None
        if group_by is None:
            return None
        raw = shared.get(group_by, MISSING)
        if raw is MISSING or (isinstance(raw, str) and not raw.strip()):
            unit.problem("PR416", ("shared", group_by), {"fact": group_by})
            return None
        return normalise_text(text_of(raw)).strip()

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

    def _bind_cohort(
        self,
        source: Facts | None,
        indicators: Any,
        shared: Any,
        cohort: CohortValues | None,
    ) -> tuple[Any, tuple[str | None, tuple[CohortValue, ...]]]:
        """The shared facts with the unit's cohort values added, and the cohort it is in."""
        names = self.plan.cohort_names
        unit = Unit(source)
        if cohort is None:
            unit.problem("PR413", (), {"names": ", ".join(sorted(names))}, "score_together")
            raise FactsError(unit.diagnostics)
        if not isinstance(shared, Mapping):
            return shared, (None, ())  # the scorer reports it
        key = self.cohort_key(shared, unit)
        for name in sorted(names & shared.keys()):
            unit.problem("PR414", ("shared", name), {"fact": name})
        if isinstance(indicators, Mapping):
            for indicator_id, own in indicators.items():
                if isinstance(own, Mapping):
                    for name in sorted(names & own.keys()):
                        unit.problem("PR414", ("indicators", indicator_id, name), {"fact": name})
        values = cohort.values(key) if not unit.diagnostics else ()
        if values is None:
            values = ()
            for name in sorted(names):
                unit.problem("PR415", (), {"name": name, "cohort": key or ""})
        for value in values:
            if value.value is None and value.name in self._cohort_reads:
                unit.problem("PR415", (), {"name": value.name, "cohort": key or ""})
        if unit.diagnostics:
            raise FactsError(unit.diagnostics)
        bound = dict(shared)
        for value in values:
            if value.value is not None:
                bound[value.name] = value.value
        return bound, (key, values)

    def evaluate_many(
        self,
        units: Iterable[Facts | Mapping[str, Any]],
        *,
        trace: bool = False,
        workers: int = 1,
    ) -> Iterator[Result | FactsError]:
        """Score many units lazily; a unit whose facts fail yields its ``FactsError``.

        With ``workers`` > 1 the units are scored in that many processes (each compiles the
        scheme once); results come back in order, without traces.
        """
        if workers > 1:
            yield from _evaluate_in_processes(self, units, workers)
            return
        for facts in units:
            try:
                yield self.evaluate(facts, trace=trace)
            except FactsError as exc:
                yield exc

    def gap(self, result: Result) -> Gap | None:
        """The next band up for *result*, and the fewest indicators that would reach it.

        The same as ``result.trace.gap``, with or without a trace; ``None`` in the top band
        or when a grade override fired.
        """
        source = result._source  # noqa: SLF001 - our own result
        if isinstance(source, Evaluation):
            return source.gap()
        if result.trace is not None:
            return result.trace.gap
        # A result made of plain values: its grade is a band of this plan, unless a grade
        # override named it (then there is no gap to close). Its scores are taken as given.
        position = next(
            (n for n, grade in enumerate(self.plan.grades) if grade == result.grade), None
        )
        if position is None:
            return None
        plan = self.plan
        scores = {i: _exact(result.scores.get(plan.nodes[i].id)) for i in plan.leaves}
        values, pres, excluded = self.totals.record(scores)
        rows = []
        for i in plan.counted_leaves:
            node = plan.nodes[i]
            score = scores[i]
            if score is not None:
                lost = node.weight - score
                if lost:
                    rows.append((lost.numerator, lost.denominator, i, node.id))
        return gap_for(
            plan,
            position,
            result.total_exact,
            by_loss(plan, rows),
            self.totals.rows_weight - excluded,
            (values, pres),
        )

    def grade_for(self, total: Fraction) -> Grade:
        """The band a total of *total* falls in (what ``evaluate`` grades it), by the totals."""
        return self.plan.grades[self.totals.band_of(total.numerator, total.denominator)]

    def total_for(self, scores: Mapping[str, Fraction | None]) -> Fraction | None:
        """The total this scheme gives to indicators scoring *scores* (by id; rounded).

        An indicator absent or ``None`` is left out (renormalised as not applicable); rows
        not counted are not added; every level is rounded as declared. ``None`` when no
        counted row is scored. An audit checks a published total with it.
        """
        plan = self.plan
        by_index = {
            plan.by_id[ident]: value
            for ident, value in scores.items()
            if ident in plan.by_id and plan.nodes[plan.by_id[ident]].kind == "indicator"
        }
        values, _, _ = self.totals.record(by_index)
        num, den = values[0], values[1]
        return None if num is None else Fraction(num, den)

    def exact_score(self, result: Result, ident: str) -> Fraction | None:
        """The exact score of node *ident* (``None``: left out); the total for the scheme's id.

        ``result.scores`` holds Decimals with the declared places; an unrounded score with
        a repeating decimal is exact only here.
        """
        source = result._source  # noqa: SLF001 - our own result
        index = 0 if ident == self.id else self.plan.by_id[ident]
        if index == 0:
            return result.total_exact
        if isinstance(source, Evaluation):
            return source.score(index)
        return _exact(result.scores.get(ident))

    def losses(self, result: Result) -> dict[str, Fraction]:
        """Points each counted, scored indicator of *result* lost, by id.

        Rows not counted and rows left out lose nothing from the total and are not listed.
        """
        plan = self.plan
        out: dict[str, Fraction] = {}
        for i in plan.counted_leaves:
            node = plan.nodes[i]
            score = self.exact_score(result, node.id)
            if score is not None:
                out[node.id] = node.weight - score
        return out

    # --- helpers the generated scorer calls ----------------------------------------------
    def _shape(self, indicators: object, unit: Unit) -> dict[str, Any]:
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

    def _shared(self, shared: object, unit: Unit) -> dict[str, Any]:
        if not isinstance(shared, Mapping):
            unit.problem("PR410", ("shared",), {"got": type(shared).__name__})
            return {}
        return dict(shared)

    def _nothing(self, unit: Unit) -> None:
        """No indicator could be scored: say so, unless a failure already explains it."""
        if not unit.errors:
            unit.problem("PR502", (), {})

    def _override_grade(
        self, shared: Mapping[str, Any], unit: Unit
    ) -> tuple[str, str, str] | None:
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

    # --- the general path of one indicator -----------------------------------------------
    def _general(
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
        for name in own.keys() - self._allowed[node.index]:
            candidates = [*leaf.needs, *_RESERVED_FACTS]
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
        try:
            value = leaf.expression.evaluate(names)
        except ExpressionError as exc:
            unit.problem(exc.code, ("indicators", node.id), dict(exc.params), exc.hint)
            return LeafRecord("error", weight)
        assert isinstance(value, Fraction)  # noqa: S101 - formulas are type-checked as numbers
        status = "scored"
        if value < 0 or value > weight:
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
                        "score": format_number(value),
                        "weight": format_number(weight),
                    },
                    "cap_with_min",
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
        self._record_score(record, value, node.places)
        return record

    def _record_score(self, record: LeafRecord, value: Fraction, places: int | None) -> None:
        """Keep *value* as the score, rounded exactly (half-up etc. on Fractions) to *places*."""
        if places is None:
            record.score = value
        else:
            record.before = value
            record.score = round_fraction(value, places, self.plan.mode)

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
        if "weight" in leaf.expression.names:
            bound.append(InputValue("weight", node.weight, format_number(node.weight), "weight"))
        missing: str | None = None
        actual_text = ""
        for name in leaf.needs:
            raw, source = find_fact(name, own, shared, self.plan.cohort_names)
            if raw is MISSING:
                default = leaf.default(name)
                if default is not None:
                    value, origin = default
                    names[name] = value
                    text = node.target if origin == "target" else text_of(value)
                    bound.append(InputValue(name, value, text, origin))
                    continue
                missing = missing or name
                bound.append(InputValue(name, None, "", "missing"))
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
                        "value": text_of(raw),
                        "expected": "a number such as 80%, 4.8 or 70/88",
                        "expected_zh": "数字（如 80%、4.8、70/88）",
                        "suggestion": exc.suggestion,
                    },
                    "did_you_mean" if exc.suggestion else None,
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


def _exact(value: Decimal | None) -> Fraction | None:
    return None if value is None else Fraction(value)


_WORKER: dict[str, CompiledScheme] = {}


def _init_worker(scheme: Scheme) -> None:
    from perfrules.engine import compile_scheme  # noqa: PLC0415 - in the worker process

    _WORKER["compiled"] = compile_scheme(scheme)


#: Units per task sent to a worker process, and tasks in flight per worker: enough to keep
#: every worker busy, few enough that memory holds a few thousand units whatever the input.
_CHUNK: Final = 512
_IN_FLIGHT: Final = 2


def _score_chunk_in_worker(chunk: list[Any]) -> list[Any]:
    """Score a chunk; each unit's raw values (or its diagnostics), small to send back."""
    compiled: CompiledScheme = _WORKER["compiled"]
    records: list[Any] = []
    for facts in chunk:
        try:
            result = compiled.evaluate(facts, trace=False)
        except FactsError as exc:
            records.append(list(exc.diagnostics))
            continue
        out = result._source.out  # type: ignore[union-attr]  # noqa: SLF001 - our own result
        unit = out[0]
        excluded = unit.excluded if unit is not None else _ZERO
        records.append((out[2], out[3], out[4], out[5], out[6], excluded))
    return records


def _evaluate_in_processes(
    compiled: CompiledScheme, units: Iterable[Facts | Mapping[str, Any]], workers: int
) -> Iterator[Result | FactsError]:
    """Chunks of units scored in *workers* processes, a bounded number in flight, in order."""
    from collections import deque  # noqa: PLC0415 - only for this option
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    from itertools import islice  # noqa: PLC0415

    plan = compiled.plan
    source = iter(units)
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(compiled.scheme,)
    ) as pool:
        pending: deque[tuple[list[Any], Any]] = deque()

        def submit() -> None:
            chunk = list(islice(source, _CHUNK))
            if chunk:
                pending.append((chunk, pool.submit(_score_chunk_in_worker, chunk)))

        for _ in range(_IN_FLIGHT * workers):
            submit()
        while pending:
            chunk, future = pending.popleft()
            records = future.result()
            submit()
            for facts, record in zip(chunk, records, strict=True):
                if isinstance(record, list):
                    yield FactsError(record)
                    continue
                values, pres, renormalised, band, override, excluded = record
                unit = None
                if excluded:
                    unit = Unit(None)
                    unit.excluded = excluded
                out = (unit, None, values, pres, renormalised, band, override)
                yield Result.lazy(Evaluation(plan, facts, out, want_trace=False))


def _shared_of(facts: Facts | Mapping[str, Any]) -> Mapping[str, Any]:
    """A unit's shared facts, as :meth:`CompiledScheme.evaluate` reads them."""
    if isinstance(facts, Facts):
        shared: Any = facts.shared
    elif isinstance(facts, Mapping) and ("indicators" in facts or "shared" in facts):
        shared = facts.get("shared", EMPTY)
    else:
        shared = EMPTY
    return shared if isinstance(shared, Mapping) else EMPTY
