"""Cohorts: values taken over all the units scored together, and their ranking.

Scoring a cohort takes two passes over its units. The first reads, for every unit, its
cohort (the ``group_by`` fact), whether each value's ``where`` holds and the fact the value
is taken over, then reduces them (:func:`take`): the lowest valid bid, a median, a count.
The second scores each unit with its cohort's values bound like shared facts. Ranking
(:func:`rank`) comes after, over the scored units. Everything is exact: values are
``Fraction``s and a percentile between two units is their exact linear interpolation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Final, Protocol

from perfrules.errors import ExpressionError, FactsError
from perfrules.expressions import Expression, Value
from perfrules.model import CohortValue as CohortValueRule
from perfrules.model import Ranking
from perfrules.trace import CohortValue, Rank, RankKeyValue

__all__ = [
    "MAX_TIED_SHOWN",
    "NOT_APPLICABLE",
    "CohortValues",
    "Problems",
    "holds",
    "rank",
    "take",
    "unit_name",
]

_MISSING: Final = object()
#: What a reader returns for a fact marked not applicable (the unit is not picked).
NOT_APPLICABLE: Final = object()
#: Units a rank lists as tied with it; a longer tie gives the count (``tied_count``) instead,
#: so that ranking a million equal units stays linear in time and memory.
MAX_TIED_SHOWN: Final = 100


class Problems(Protocol):
    """Where a unit's problems go (the engine's per-call state)."""

    def problem(
        self,
        code: str,
        path: tuple[str | int, ...],
        params: Mapping[str, object],
        hint: str | None = None,
    ) -> None:
        """Record one problem."""


#: Reads one shared fact as the scheme declares it: its value, ``NOT_APPLICABLE``, or
#: ``None`` after recording why it cannot be read.
Reader = Callable[[str, Any, Any], "Value | object | None"]


class CohortValues:
    """The values of every cohort in a set of units (the first pass of cohort scoring).

    Pass it to :meth:`~perfrules.CompiledScheme.evaluate` as ``cohort=`` to score one unit
    of the set: this is how a stream of units, or a partition of a larger table, is scored
    with values taken over all of them.

    Attributes:
        by_cohort: the values by cohort key (``None`` when the scheme has one cohort).
        units: how many units were read.
        problems: units whose facts could not be read for the values (by position, from
            0); they are left out of every value.
    """

    __slots__ = ("by_cohort", "problems", "units")

    def __init__(
        self,
        by_cohort: Mapping[str | None, tuple[CohortValue, ...]],
        units: int,
        problems: Mapping[int, FactsError] | None = None,
    ) -> None:
        """Values already taken."""
        self.by_cohort = dict(by_cohort)
        self.units = units
        self.problems = dict(problems or {})

    def values(self, cohort: str | None) -> tuple[CohortValue, ...] | None:
        """The values of *cohort* (``None`` if no unit of that cohort was read)."""
        return self.by_cohort.get(cohort)

    def __repr__(self) -> str:
        """``CohortValues(cohorts=2, units=7)``."""
        return f"CohortValues(cohorts={len(self.by_cohort)}, units={self.units})"


def unit_name(facts: Any, position: int) -> str:
    """How a unit is named in explanations: its ``unit``, else ``#n`` (1-based)."""
    name = getattr(facts, "unit", None)
    if name is None and isinstance(facts, Mapping):
        name = facts.get("unit")
    return str(name) if name else f"#{position + 1}"


def holds(
    condition: Expression,
    shared: Mapping[str, Any],
    read: Reader,
    problems: Problems,
    where: str,
) -> bool | None:
    """Whether *condition* holds over the shared facts; ``None`` after recording a problem."""
    names: dict[str, Value] = {}
    for name in sorted(condition.names):
        raw = shared.get(name, _MISSING)
        if raw is _MISSING:
            problems.problem("PR401", ("shared", name), {"indicator": where, "fact": name})
            return None
        value = read(name, raw, problems)
        if value is None:
            return None
        if value is NOT_APPLICABLE:
            return False
        names[name] = value  # type: ignore[assignment]
    try:
        outcome = condition.evaluate(names)
    except ExpressionError as exc:
        problems.problem(exc.code, ("shared",), dict(exc.params), exc.hint)
        return None
    return outcome is True


def take(name: str, rule: CohortValueRule, entries: Sequence[tuple[Fraction, str]]) -> CohortValue:
    """Reduce *entries* (value, unit), in the units' order, to the cohort value *name*."""
    count = len(entries)
    percentile = None if rule.percentile is None else Fraction(rule.percentile)
    value: Fraction | None = None
    unit: str | None = None
    stat = rule.stat
    if stat == "count":
        value = Fraction(count)
    elif entries:
        if stat == "min":
            value, unit = min(entries, key=_first)
        elif stat == "max":
            value, unit = max(entries, key=_first)
        elif stat == "sum":
            value = sum((v for v, _ in entries), Fraction(0))
        elif stat == "mean":
            value = sum((v for v, _ in entries), Fraction(0)) / count
        else:  # median and percentile: linear between the two nearest ranks
            share = Fraction(50) if stat == "median" else (percentile or Fraction(0))
            ordered = sorted(entries, key=_first)
            position = (count - 1) * share / 100
            low = position.numerator // position.denominator  # exact floor
            if position == low:
                value, unit = ordered[low]
            else:
                below, above = ordered[low][0], ordered[low + 1][0]
                value = below + (position - low) * (above - below)
        if count == 1:
            unit = entries[0][1]
    return CohortValue(
        name=name,
        label=rule.label,
        stat=stat,
        of=rule.of,
        value=value,
        units=count,
        unit=unit,
        where=rule.where,
        percentile=percentile,
    )


def _first(entry: tuple[Fraction, str]) -> Fraction:
    return entry[0]


def rank(
    ranking: Ranking, rows: Sequence[tuple[int, str, tuple[Fraction | None, ...]]]
) -> dict[int, Rank]:
    """Rank the rows (position, unit, key values) of one cohort, in the order given.

    A missing key value (an excluded score, a fact not given) sorts after every value,
    whichever the order. Units equal on every key share a rank (competition: 1, 2, 2, 4;
    dense: 1, 2, 2, 3) or keep the order they were given in (ordinal).
    """
    orders = [key.order for key in ranking.keys]

    def sort_key(row: tuple[int, str, tuple[Fraction | None, ...]]) -> tuple[Any, ...]:
        return tuple(
            (1, 0) if v is None else (0, -v if order == "desc" else v)
            for v, order in zip(row[2], orders, strict=True)
        )

    ordered = sorted(rows, key=sort_key)
    keyed = [sort_key(row) for row in ordered]
    ranks: dict[int, Rank] = {}
    position = dense = 0
    run_start = 0
    run_names: tuple[str, ...] = ()
    for index, row in enumerate(ordered):
        if index == 0 or keyed[index] != keyed[index - 1]:
            position = index + 1
            dense += 1
            # A run of equal keys is contiguous once sorted: find its end once (linear in all)
            run_start = run_end = index
            while run_end + 1 < len(ordered) and keyed[run_end + 1] == keyed[index]:
                run_end += 1
            run_size = run_end - run_start + 1
            shown_end = min(run_end + 1, run_start + MAX_TIED_SHOWN + 1)
            run_names = tuple(r[1] for r in ordered[run_start:shown_end])
            shared_tied = run_names[:MAX_TIED_SHOWN]
        shown = {"competition": position, "dense": dense, "ordinal": index + 1}[ranking.ties]
        offset = index - run_start
        if offset < len(run_names):  # among the first: every other one shown, up to the cap
            tied = (run_names[:offset] + run_names[offset + 1 :])[:MAX_TIED_SHOWN]
        else:  # the same shared tuple for the rest of a long run (memory stays linear)
            tied = shared_tied
        neighbour = index - 1 if index else 1
        decided_by = None
        if neighbour < len(ordered):
            decided_by = next(
                (
                    ranking.keys[k].by
                    for k, (mine, theirs) in enumerate(
                        zip(keyed[index], keyed[neighbour], strict=True)
                    )
                    if mine != theirs
                ),
                None,
            )
        ranks[row[0]] = Rank(
            position=shown,
            of=len(ordered),
            ties=ranking.ties,
            keys=tuple(
                RankKeyValue(key.by, key.order, value)
                for key, value in zip(ranking.keys, row[2], strict=True)
            ),
            tied_with=tied,
            decided_by=decided_by,
            tied_count=run_size - 1,
            shared_mark=ranking.shared_mark,
        )
    return ranks
