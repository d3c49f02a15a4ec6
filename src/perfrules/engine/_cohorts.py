"""A compiled scheme's cohorts: the values a unit is scored with, and the ranking keys.

Every shape that scores units together — ``evaluate_cohort``, ``score_table``, the streamed
batch, Dask — asks :class:`Cohorts` for a unit's cohort, its values, whether the ranking
takes it and with which keys, so they rank alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from perfrules._messages import among
from perfrules._numbers import normalise_text
from perfrules.engine._cohort import (
    PER_UNIT,
    CohortValues,
    ImputedKey,
    Problems,
    Taking,
    holds,
    rank,
    rank_positions,
    rank_shared,
    unit_name,
)
from perfrules.engine._general import GeneralPath, Unit
from perfrules.engine._kernel import EMPTY
from perfrules.engine._plan import IMPUTED, MISSING, Plan
from perfrules.errors import FactsError
from perfrules.facts import Facts, text_of
from perfrules.model import CohortValue as CohortValueRule
from perfrules.model import Normalise
from perfrules.rules import normalised_group, normalised_row, spread_problem
from perfrules.trace import CohortValue, Rank

__all__ = ["Cohorts", "imputed_name", "shared_of"]


def imputed_name(name: str) -> str:
    """How the trace names the value input *name* is imputed with: ``impute.NAME``."""
    return f"impute.{name}"


#: A ranked unit: (position, unit name, key values, cohort key).
Ranked = tuple[int, str, tuple[Fraction | None, ...], str | None]


class Cohorts:
    """The cohort rules of one plan."""

    def __init__(self, plan: Plan, general: GeneralPath) -> None:
        """The cohorts of *plan*, reading shared facts through *general*."""
        self.plan = plan
        self.scheme = plan.scheme
        self.read_shared = general.read_shared
        self.marks_missing = general.marks_missing
        self.shape = general.shape
        self.top_keys = general.top_keys
        self._groups: dict[str, str | None] = {}  # group texts as folded (:meth:`group`)
        # The cohort values some formula reads (a unit cannot be scored without them).
        self._cohort_reads = frozenset(
            name
            for i in plan.leaves
            for name in plan.nodes[i].leaf.needs  # type: ignore[union-attr]
            if name in plan.cohort_names
        )
        # The normalised inputs some formula reads, and the normalised groups.
        self._normalised: tuple[tuple[str, Normalise], ...] = (
            *(
                (name, declared.normalise)
                for name, declared in self.scheme.inputs.items()
                if declared.normalise is not None
                and any(
                    name in plan.nodes[i].leaf.needs  # type: ignore[union-attr]
                    for i in plan.leaves
                )
            ),
            *(
                (group_id, group.normalise)
                for group_id, group in self.scheme.groups.items()
                if group.normalise is not None
                and normalised_group(self.scheme, normalised_row(group_id)) == group_id
            ),
        )

    def values(self, units: Iterable[Facts | Mapping[str, Any]]) -> CohortValues:
        """The first pass of cohort scoring: every cohort's values over *units*.

        Reads each unit's cohort (``group_by``), whether it qualifies (``where``) and the
        fact each value is taken over; keeps only those, not the units. A unit whose facts
        cannot be read for this is left out of the values, and its problems are kept in
        ``problems`` by its position.
        """
        rules = {  # the values over facts; those over scores come after a pass (_stages)
            name: rule
            for name, rule in self.plan.cohort_rules.items()
            if self.plan.stages.value_pass(name) is None
        }
        # Each cohort's values being taken, unit by unit (a few numbers each, not the units).
        entries: dict[str | None, dict[str, Taking]] = {}
        imputations = self.plan.imputations
        # Inputs imputed when missing, from the cohort or with a given number.
        imputing = {n for n, i in self.scheme.inputs.items() if i.impute is not None}
        pooled: dict[ImputedKey, Taking] = {}
        problems: dict[int, FactsError] = {}
        count = 0
        read_shared = _Remembered(self.read_shared)
        for position, facts in enumerate(units):
            count += 1
            source = facts if isinstance(facts, Facts) else None
            shared = shared_of(facts)
            unit = Unit(source)
            if not isinstance(facts, Facts | Mapping):  # None, a list: not a unit, say so alone
                self.shape(facts, unit)
                problems[position] = FactsError(unit.diagnostics)
                continue
            # a misspelt "shared": the unit is left out, not taken without its shared facts
            unit.diagnostics.extend(self.top_keys(facts))
            key = self.key(shared, unit)
            name = unit_name(facts, position)
            taken: list[tuple[str, Fraction]] = []
            for value_name, rule in rules.items():
                condition = self.plan.cohort_conditions.get(value_name)
                if condition is not None:
                    picked = holds(
                        condition, shared, read_shared, unit, f"cohort.values.{value_name}"
                    )
                    if not picked:
                        continue
                if rule.of is None:  # count: the unit is counted
                    taken.append((value_name, Fraction(1)))
                    continue
                raw = shared.get(rule.of, MISSING)
                if rule.of in imputing and (raw is MISSING or self.marks_missing(raw)):
                    continue  # a fact the unit will be imputed: not observed, not taken
                if raw is MISSING or self.marks_missing(raw):  # a marker: missing, as absent
                    if not any(d.path == ("shared", rule.of) for d in unit.diagnostics):
                        unit.problem(  # once a fact, however many values take it
                            "PR401",
                            ("shared", rule.of),
                            {"indicator": self._taker(value_name), "fact": rule.of},
                        )
                    continue
                read = read_shared(rule.of, raw, unit)
                if isinstance(read, Fraction):
                    taken.append((value_name, read))
            given = self._given(shared, read_shared, unit)
            into = entries.get(key)
            if into is None:
                into = entries[key] = {n: Taking(rule) for n, rule in rules.items()}
            if unit.diagnostics:
                problems[position] = FactsError(unit.diagnostics)
                continue
            for value_name, value in taken:
                into[value_name].add(value, name)
            for input_name, value in given:
                stat, by = imputations[input_name]
                places: list[str | None] = [None]
                if by is not None:
                    group = self.group(shared, by)
                    if group is not None:
                        places.append(group)
                for group in places:
                    at = (key, input_name, group)
                    taking = pooled.get(at)
                    if taking is None:
                        rule = CohortValueRule(stat=stat, of=input_name)  # type: ignore[arg-type]
                        taking = pooled[at] = Taking(rule)
                    taking.add(value, name)
        return CohortValues(
            {
                key: tuple(taking.result(value_name) for value_name, taking in found.items())
                for key, found in entries.items()
            },
            count,
            problems,
            {at: self._imputed(at, taking) for at, taking in pooled.items()},
            ordered={
                (key, value_name): taking.ordered()
                for key, found in entries.items()
                for value_name, taking in found.items()
                if taking.rule.stat in PER_UNIT
            },
        )

    def _given(
        self, shared: Mapping[str, Any], read: Callable[[str, Any, Any], Any], unit: Unit
    ) -> list[tuple[str, Fraction]]:
        """The facts this unit gives of the inputs imputed from the others (for their values).

        A fact not given, written as a missing marker or marked not applicable is not
        taken; one that cannot be read is the unit's problem (it is then left out).
        """
        given: list[tuple[str, Fraction]] = []
        for input_name in self.plan.imputations:
            raw = shared.get(input_name, MISSING)
            if raw is MISSING or self.marks_missing(raw):
                continue
            value = read(input_name, raw, unit)
            if isinstance(value, Fraction):
                given.append((input_name, value))
        return given

    def _imputed(self, at: ImputedKey, taking: Taking) -> CohortValue:
        """The value taken at *at*, named ``impute.NAME``; a group's says which group."""
        _, input_name, group = at
        value = taking.result(imputed_name(input_name))
        if group is None:
            return value
        by = self.plan.imputations[input_name][1]
        quoted = '"' + group.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return value._replace(where=f"{by} == {quoted}")

    def group(self, shared: Mapping[str, Any], by: str) -> str | None:
        """The unit's group for a group mean: the text of its *by* fact (``None``: none)."""
        raw = shared.get(by, MISSING)
        if raw is MISSING or self.marks_missing(raw):
            return None
        if type(raw) is str:  # a few distinct group names: each folded once
            known = self._groups.get(raw, MISSING)
            if known is MISSING:
                known = normalise_text(raw).strip() or None
                if len(self._groups) < _REMEMBERED:
                    self._groups[raw] = known
            return known  # type: ignore[return-value]
        return normalise_text(text_of(raw)).strip() or None

    def imputations_of(
        self, shared: Mapping[str, Any], key: str | None, cohort: CohortValues
    ) -> dict[str, CohortValue]:
        """The values the unit's missing facts are imputed with, by input name.

        The mean (or median) of the unit's group when its group has one; else of its
        cohort; an input no unit of the cohort gives has none (the ``missing`` policy
        applies).
        """
        out: dict[str, CohortValue] = {}
        for input_name, (_, by) in self.plan.imputations.items():
            found = None
            if by is not None:
                group = self.group(shared, by)
                if group is not None:
                    found = cohort.imputed.get((key, input_name, group))
            if found is None or found.value is None:
                found = cohort.imputed.get((key, input_name, None))
            if found is not None and found.value is not None:
                out[input_name] = found
        return out

    def _taker(self, value_name: str) -> str:
        """What a problem names as taking a fact: a cohort value, or a normalise step.

        The values a normalised input generates (``NAME__min``) are named by its step.
        """
        cohort = self.scheme.cohort
        if cohort is not None and value_name in cohort.values:
            return f"cohort.values.{value_name}"
        rule = self.plan.cohort_rules.get(value_name)
        if rule is not None and rule.of in self.scheme.inputs:
            return f"inputs.{rule.of}.normalise"
        return f"cohort.values.{value_name}"

    def key(self, shared: Mapping[str, Any], unit: Problems) -> str | None:
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

    def bind(
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
            wanted = names | {imputed_name(n) for n in self.plan.imputations}
            unit.problem("PR413", (), {"names": ", ".join(sorted(wanted))}, "score_together")
            raise FactsError(unit.diagnostics)
        if not isinstance(shared, Mapping):
            return shared, (None, ())  # the scorer reports it
        key = self.key(shared, unit)
        for name in sorted(names & shared.keys()):
            unit.problem("PR414", ("shared", name), {"fact": name})
        if isinstance(indicators, Mapping):
            for indicator_id, own in indicators.items():
                if isinstance(own, Mapping):
                    for name in sorted(names & own.keys()):
                        unit.problem("PR414", ("indicators", indicator_id, name), {"fact": name})
                    for name in sorted(self.plan.shared_only & own.keys()):
                        unit.problem("PR429", ("indicators", indicator_id, name), {"fact": name})
        values = cohort.values(key) if not unit.diagnostics else ()
        if values is None:
            values = ()
            for name in sorted(names):
                unit.problem("PR415", (), {"name": name, **among(key)})
        values = tuple(self._own(value, key, shared, cohort, unit) for value in values)
        if not unit.diagnostics:
            self._spreads(values, key, unit)
        for value in values if not unit.diagnostics else ():
            if value.value is None and value.name in self._cohort_reads:
                unit.problem("PR415", (), {"name": value.name, **among(key)})
        if unit.diagnostics:
            raise FactsError(unit.diagnostics)
        bound = dict(shared)
        for value in values:
            if value.value is not None:
                bound[value.name] = value.value
        if self.plan.imputations:
            imputed = self.imputations_of(shared, key, cohort)
            bound[IMPUTED] = imputed
            values = (*values, *imputed.values())
        return bound, (key, values)

    def _own(
        self,
        value: CohortValue,
        key: str | None,
        shared: Mapping[str, Any],
        cohort: CohortValues,
        unit: Unit,
    ) -> CohortValue:
        """*value* as this unit has it: its own place (rank, percentrank) among the values."""
        if value.stat not in PER_UNIT or value.of is None or not value.units:
            return value
        if value.name not in self._cohort_reads:
            return value
        raw = shared.get(value.of, MISSING)
        own = None if raw is MISSING else self.read_shared(value.of, raw, unit)
        if not isinstance(own, Fraction):
            if raw is MISSING:
                unit.problem(
                    "PR401",
                    ("shared", value.of),
                    {"indicator": f"cohort.values.{value.name}", "fact": value.of},
                )
            return value
        rule = self.plan.cohort_rules[value.name]
        return value._replace(value=cohort.place(key, value, rule.order, own))

    def _spreads(self, values: tuple[CohortValue, ...], key: str | None, unit: Unit) -> None:
        """A normalised input or group whose cohort has no spread to normalise by: ``PR428``."""
        inputs = self.scheme.inputs
        taken = {value.name: value.value for value in values}
        for name, rule in self._normalised:
            problem = spread_problem(name, rule, taken)
            if problem is not None:
                unit.problem(
                    "PR428",
                    ("shared", name) if name in inputs else (),
                    {
                        "name": name,
                        "method": rule.method,
                        **among(key),
                        "detail": problem[0],
                        "detail_zh": problem[1],
                    },
                )

    def rank_keys(
        self, shared: Mapping[str, Any], score: Callable[[int], Fraction | None]
    ) -> tuple[Fraction | None, ...] | None:
        """The ranking keys of a scored unit, or ``None`` when the ranking leaves it out.

        *shared* are its shared facts; *score* gives its exact score of a node (0: the
        total). A key is the total, a node's score, or a shared fact read as declared; a
        value that cannot be read is ``None`` (ranked last).
        """
        ranking = self.scheme.ranking
        assert ranking is not None  # noqa: S101
        probe = Unit(None)
        condition = self.plan.cohort_conditions.get("")
        if condition is not None and not holds(
            condition, shared, self.read_shared, probe, "ranking"
        ):
            return None
        keys: list[Fraction | None] = []
        for key in ranking.keys:
            if key.by == "total":
                keys.append(score(0))
            elif key.by in self.plan.by_id:
                keys.append(score(self.plan.by_id[key.by]))
            else:
                raw = shared.get(key.by, MISSING)
                read = None if raw is MISSING else self.read_shared(key.by, raw, probe)
                keys.append(read if isinstance(read, Fraction) else None)
        return tuple(keys)

    def rank(self, rows: Iterable[Ranked], ties: str | None = None) -> dict[int, Rank]:
        """The rank of every row (by position), each cohort ranked on its own.

        *ties* ranks equal units by another tie rule than the scheme's (an audit asks
        what a published table's rule was).
        """
        ranking = self.scheme.ranking
        if ranking is None:
            return {}
        if ties is not None and ties != ranking.ties:
            ranking = ranking.model_copy(update={"ties": ties})
        groups: dict[str | None, list[tuple[int, str, tuple[Fraction | None, ...]]]] = {}
        for position, unit, keys, cohort_key in rows:
            groups.setdefault(cohort_key, []).append((position, unit, keys))
        ranks: dict[int, Rank] = {}
        for members in groups.values():
            ranks.update(rank(ranking, members))
        return ranks

    def rank_positions(self, keys: Sequence[Any], missing: Sequence[Any], cohorts: Any) -> Any:
        """:meth:`rank`'s positions for rows whose key values are integer arrays.

        As :func:`~perfrules.engine._cohort.rank_positions` takes them, *cohorts* one
        integer per row naming its cohort (each cohort is ranked on its own).
        """
        ranking = self.scheme.ranking
        assert ranking is not None  # noqa: S101 - asked only of a scheme that ranks
        return rank_positions(ranking, keys, missing, cohorts)

    def rank_shared(self, positions: Any, cohorts: Any) -> Any:
        """Which of :meth:`rank_positions`'s *positions* are shared with another unit.

        As :func:`~perfrules.engine._cohort.rank_shared` says (``Rank.shared``).
        """
        ranking = self.scheme.ranking
        assert ranking is not None  # noqa: S101 - asked only of a scheme that ranks
        return rank_shared(ranking, positions, cohorts)


class _Remembered:
    """A reader of shared facts that remembers what each text read as.

    The first pass reads the same few facts of every unit, and units often give the same
    text (a cohort of bids on one lot, a million tied units): each distinct text of a fact
    is parsed once. Only values read without a problem are remembered (a problem is
    recorded for each unit that has it), and at most ``_REMEMBERED`` of them, so memory
    stays bounded whatever the units say.
    """

    __slots__ = ("known", "read")

    def __init__(self, read: Callable[[str, Any, Any], Any]) -> None:
        self.read = read
        self.known: dict[tuple[str, str], Any] = {}

    def __call__(self, name: str, raw: Any, unit: Any) -> Any:
        if type(raw) is not str:  # a number or a table: read as given
            return self.read(name, raw, unit)
        key = (name, raw)
        found = self.known.get(key)
        if found is not None:
            return found
        value = self.read(name, raw, unit)
        if value is not None and len(self.known) < _REMEMBERED:
            self.known[key] = value
        return value


#: Distinct texts of shared facts remembered by the first pass of cohort scoring.
_REMEMBERED = 65_536


def shared_of(facts: Facts | Mapping[str, Any]) -> Mapping[str, Any]:
    """A unit's shared facts, as :meth:`CompiledScheme.evaluate` reads them."""
    if isinstance(facts, Facts):
        shared: Any = facts.shared
    elif isinstance(facts, Mapping) and ("indicators" in facts or "shared" in facts):
        shared = facts.get("shared", EMPTY)
    else:
        shared = EMPTY
    return shared if isinstance(shared, Mapping) else EMPTY
