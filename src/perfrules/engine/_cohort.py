"""Cohorts: values taken over all the units scored together, and their ranking.

Scoring a cohort takes two passes over its units. The first reads, for every unit, its
cohort (the ``group_by`` fact), whether each value's ``where`` holds and the fact the value
is taken over, then reduces them (:class:`Taking`): the lowest valid bid, a median, a count.
The second scores each unit with its cohort's values bound like shared facts. Ranking
(:func:`rank`) comes after, over the scored units. Everything is exact: values are
``Fraction``s and a percentile between two units is their exact linear interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from functools import partial
from typing import Any, Final, Protocol

from perfrules.errors import ExpressionError, FactsError
from perfrules.expressions import Expression, Value
from perfrules.model import CohortValue as CohortValueRule
from perfrules.model import Ranking
from perfrules.trace import CohortValue, Rank, RankKeyValue

__all__ = [
    "MAX_TIED_SHOWN",
    "NOT_APPLICABLE",
    "PER_UNIT",
    "CohortValues",
    "ImputedKey",
    "Problems",
    "Taking",
    "holds",
    "rank",
    "rank_positions",
    "rank_shared",
    "unit_name",
]

_MISSING: Final = object()
#: What a reader returns for a fact marked not applicable (the unit is not picked).
NOT_APPLICABLE: Final = object()
#: Stats whose value is each unit's own (its place among the cohort's values), found when
#: the unit is bound (:meth:`CohortValues.place`).
PER_UNIT: Final = frozenset({"rank", "percentrank"})
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


#: Where an imputed value was taken: (cohort key, input name, group or ``None`` for the
#: whole cohort).
ImputedKey = tuple[str | None, str, str | None]


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
        imputed: the values missing facts are imputed with (``[inputs.NAME] impute =
            "cohort_mean"``, ...), by (cohort key, input, group or ``None``).
        ordered: for a value each unit has its own of (rank, percentrank), the cohort's
            values in order, by (cohort key, name).
    """

    __slots__ = ("_index", "by_cohort", "imputed", "ordered", "problems", "units")

    def __init__(
        self,
        by_cohort: Mapping[str | None, tuple[CohortValue, ...]],
        units: int,
        problems: Mapping[int, FactsError] | None = None,
        imputed: Mapping[ImputedKey, CohortValue] | None = None,
        *,
        ordered: Mapping[tuple[str | None, str], tuple[Fraction, ...]] | None = None,
    ) -> None:
        """Values already taken."""
        self.by_cohort = dict(by_cohort)
        self.units = units
        self.problems = dict(problems or {})
        self.imputed = dict(imputed or {})
        self.ordered = dict(ordered or {})
        self._index: dict[tuple[str | None, str], tuple[int, dict[Fraction, tuple[int, int]]]] = {}

    def place(
        self, cohort: str | None, value: CohortValue, order: str, own: Fraction
    ) -> Fraction | None:
        """A unit's own *value* (rank or percentrank) for its fact *own*, in *cohort*.

        Ties share the average of their ranks (1, 2.5, 2.5, 4); percentrank is Excel's
        PERCENTRANK.INC: the share of the other units strictly below (above, for
        ``desc``), so tied units share the lowest, and a cohort of one unit gives 1.
        ``None`` when *own* is not among the values.
        """
        index = self._index.get((cohort, value.name))
        if index is None:  # built once per cohort value (a race builds it twice, alike)
            index = self._index[(cohort, value.name)] = _spans(
                self.ordered.get((cohort, value.name), ())
            )
        count, spans = index
        span = spans.get(own)
        if span is None:
            return None
        low, high = span
        before = low if order == "asc" else count - high
        if value.stat == "rank":
            return before + Fraction(high - low + 1, 2)
        return Fraction(1) if count == 1 else Fraction(before, count - 1)

    def but(
        self,
        *,
        by_cohort: Mapping[str | None, tuple[CohortValue, ...]] | None = None,
        problems: Mapping[int, FactsError] | None = None,
    ) -> CohortValues:
        """A copy with other values or problems, every other member kept (imputed, ordered)."""
        return CohortValues(
            self.by_cohort if by_cohort is None else by_cohort,
            self.units,
            self.problems if problems is None else problems,
            self.imputed,
            ordered=self.ordered,
        )

    def values(self, cohort: str | None) -> tuple[CohortValue, ...] | None:
        """The values of *cohort* (``None`` if no unit of that cohort was read)."""
        return self.by_cohort.get(cohort)

    def __repr__(self) -> str:
        """``CohortValues(cohorts=2, units=7)``."""
        return f"CohortValues(cohorts={len(self.by_cohort)}, units={self.units})"


def _spans(ordered: Sequence[Fraction]) -> tuple[int, dict[Fraction, tuple[int, int]]]:
    """Each distinct value of *ordered* (sorted) and the span ``[low, high)`` it fills.

    A unit's rank is then one look-up (equal Fractions hash alike), not two binary
    searches of exact comparisons.
    """
    spans: dict[Fraction, tuple[int, int]] = {}
    start = 0
    count = len(ordered)
    for at in range(1, count + 1):
        if at == count or ordered[at] != ordered[start]:
            spans[ordered[start]] = (start, at)
            start = at
    return count, spans


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


class Taking:
    """One cohort value being taken over units given one at a time (the first pass).

    Holds what its stat needs and no more: a count, the lowest or highest value and its
    unit, or a running sum, so a cohort of a million units costs a few numbers; only the
    median and the percentiles keep every (value, unit) to sort them at the end.
    """

    __slots__ = ("count", "entries", "first", "kept", "rule", "squares", "total", "unit")

    def __init__(self, rule: CohortValueRule) -> None:
        """Nothing taken yet."""
        self.rule = rule
        self.count = 0
        self.first: str | None = None  # the first unit (named when it is the only one)
        self.kept: Fraction | None = None  # min or max so far
        self.unit: str | None = None  # its unit (the first of equals)
        self.total = Fraction(0)
        self.squares = Fraction(0)
        self.entries: list[tuple[Fraction, str]] = []

    def add(self, value: Fraction, unit: str) -> None:
        """Take one unit's *value* (units in their order)."""
        self.count += 1
        if self.first is None:
            self.first = unit
        stat = self.rule.stat
        if stat == "min":
            if self.kept is None or value < self.kept:
                self.kept, self.unit = value, unit
        elif stat == "max":
            if self.kept is None or value > self.kept:
                self.kept, self.unit = value, unit
        elif stat in ("sum", "mean"):
            self.total += value
        elif stat == "variance":
            self.total += value
            self.squares += value * value
        elif stat != "count":  # median and percentile
            self.entries.append((value, unit))

    def ordered(self) -> tuple[Fraction, ...]:
        """The values taken, in order (what a unit's rank or percentrank is found in)."""
        return tuple(sorted((value for value, _ in self.entries), key=_exact_order))

    def result(self, name: str) -> CohortValue:
        """The value *name* over the units taken."""
        rule = self.rule
        count = self.count
        percentile = None if rule.percentile is None else Fraction(rule.percentile)
        value: Fraction | None = None
        unit: str | None = None
        stat = rule.stat
        if stat == "count":
            value = Fraction(count)
        elif count:
            if stat in ("min", "max"):
                value, unit = self.kept, self.unit
            elif stat == "sum":
                value = self.total
            elif stat == "mean":
                value = self.total / count
            elif stat == "variance":  # the sample's, exact: (Σx² − (Σx)²/n) / (n − 1)
                if count > 1:
                    value = (self.squares - self.total * self.total / count) / (count - 1)
            elif stat in PER_UNIT:  # each unit's own, when it is bound (place)
                pass
            else:  # median and percentile: linear between the two nearest ranks
                share = Fraction(50) if stat == "median" else (percentile or Fraction(0))
                ordered = sorted(self.entries, key=_in_order)
                position = (count - 1) * share / 100
                low = position.numerator // position.denominator  # exact floor
                if position == low:
                    value, unit = ordered[low]
                else:
                    below, above = ordered[low][0], ordered[low + 1][0]
                    value = below + (position - low) * (above - below)
            if count == 1:
                unit = self.first
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


def _in_order(entry: tuple[Fraction, str]) -> tuple[float, Fraction]:
    """A value's sort key: its nearest float, then (between equal floats) the exact value.

    Sorting a cohort's values by their floats is many times faster than comparing
    fractions, and never reorders them (:func:`_sort_key` says why); no value is a float.
    """
    value = entry[0]
    return _nearest(value), value


def rank(
    ranking: Ranking, rows: Sequence[tuple[int, str, tuple[Fraction | None, ...]]]
) -> dict[int, Rank]:
    """Rank the rows (position, unit, key values) of one cohort, in the order given.

    A missing key value (an excluded score, a fact not given) sorts after every value,
    whichever the order. Units equal on every key share a rank (competition: 1, 2, 2, 4;
    dense: 1, 2, 2, 3) or keep the order they were given in (ordinal).

    Linear after one sort, in time and memory, however many units tie: values are compared
    by their nearest float first and exactly only when the floats are equal, and a run of
    equal keys is found by comparing numerators and denominators (a ``Fraction`` is in
    lowest terms, so equal values have equal pairs).
    """
    count = len(rows)
    keys = ranking.keys
    # Each row's keys as exact integer pairs: equality without Fraction arithmetic.
    exact = [
        tuple(None if v is None else (v.numerator, v.denominator) for v in row[2]) for row in rows
    ]
    order = list(range(count))
    for k in reversed(range(len(keys))):  # stable sorts, last key first: lexicographic
        order.sort(
            key=partial(_sort_key, rows, k, keys[k].order == "desc"),
            reverse=keys[k].order == "desc",
        )
    ranks: dict[int, Rank] = {}
    ties = ranking.ties
    dense = 0
    run_start = 0
    while run_start < count:  # one run of equal keys at a time: contiguous once sorted
        first = order[run_start]
        mine = exact[first]
        run_end = run_start + 1
        while run_end < count and exact[order[run_end]] == mine:
            run_end += 1
        run = order[run_start:run_end]
        run_size = len(run)
        dense += 1
        names = tuple(rows[i][1] for i in run[: MAX_TIED_SHOWN + 1])
        shared_tied = names[:MAX_TIED_SHOWN]
        # Equal values on every key: the first unit's key values stand for the run's.
        shown_keys = tuple(
            RankKeyValue(key.by, key.order, value)
            for key, value in zip(keys, rows[first][2], strict=True)
        )
        # The first key on which the run's first unit differs from the unit just above
        # it (below it, for the first unit of all); inside a run, none.
        neighbour = run_start - 1 if run_start else 1
        decided_first = None
        if neighbour < count:
            theirs = exact[order[neighbour]]
            decided_first = next(
                (keys[k].by for k in range(len(keys)) if mine[k] != theirs[k]), None
            )
        tail: Rank | None = None  # past the names listed, every unit of a run ranks alike
        for offset, at in enumerate(run):
            index = run_start + offset
            shown = _position(ties, run_start, dense, index)
            if offset < len(names):  # among the first: every other one shown, up to the cap
                tied = (names[:offset] + names[offset + 1 :])[:MAX_TIED_SHOWN]
            elif tail is not None:  # one Rank for the rest of a long run (equal, not copied)
                ranks[rows[at][0]] = tail
                continue
            else:
                tied = shared_tied
            placed = Rank(
                shown,
                count,
                ties,
                shown_keys,
                tied,
                decided_first if offset == 0 else None,
                run_size - 1,
                ranking.shared_mark,
            )
            if offset >= len(names) and ties != "ordinal":
                tail = placed
            ranks[rows[at][0]] = placed
        run_start = run_end
    return ranks


def _position(ties: str, run_start: Any, dense: Any, index: Any) -> Any:
    """The rank shown at sorted place *index* (from 0) in a run of equal keys.

    *run_start* is where the run begins and *dense* how many runs there are up to it
    (itself included). Competition ranks a run by its first place (1, 2, 2, 4), dense by
    its count (1, 2, 2, 3), ordinal by each place (1, 2, 3, 4). Written with operators
    numpy arrays share with integers, so :func:`rank_positions` applies it elementwise.
    """
    if ties == "competition":
        return run_start + 1
    if ties == "dense":
        return dense
    return index + 1


def rank_positions(
    ranking: Ranking, keys: Sequence[Any], missing: Sequence[Any], cohorts: Any
) -> Any:
    """The positions :func:`rank` gives, for rows whose key values are integer arrays.

    The array form of the same rule, for a shape that ranks the same units again and again
    (``perfrules sensitivity``). *keys* hold, per ranking key, one numpy integer array
    (``int64``, or Python integers in an ``object`` array) whose order and equalities are
    those of the exact values — a score as an integer over its power of ten, say; *missing*
    flags the rows whose value is missing (their integer is not read); *cohorts* numbers
    each row's cohort (each is ranked on its own, as :meth:`Cohorts.rank` ranks them). Rows
    are given in the order :func:`rank` would be given them; the answer is a numpy array of
    positions, one per row.

    Integers compare exactly, so the order is :func:`rank`'s: each key ascending or
    descending, a missing value after every value whichever the order, equal keys in the
    order given, and the same tie rule (:func:`_position`). The sorting itself is the
    columnar module's (``_columns.ranked_runs``); ``tests/test_cohort_ranks.py`` holds
    both forms equal.
    """
    from perfrules.engine._columns import ranked_runs  # noqa: PLC0415 - the frame extra

    descending = [key.order == "desc" for key in ranking.keys]
    run_start, dense, index = ranked_runs(keys, missing, descending, cohorts)
    return _position(ranking.ties, run_start, dense, index)


def rank_shared(ranking: Ranking, positions: Any, cohorts: Any) -> Any:
    """Which of :func:`rank_positions`'s *positions* are shared, as :attr:`Rank.shared` says.

    A rank is shared when another unit of its cohort (*cohorts*, one integer per row) is
    equal to it on every key, and the tie rule gives equal units one position (competition,
    dense; never ordinal). Under those rules a position is the run's alone, so equal keys
    are equal positions in one cohort: the rows whose (cohort, position) another row has.
    A numpy array of flags, one per row; ``tests/test_cohort_ranks.py`` holds it equal to
    the ranks :func:`rank` gives.
    """
    from perfrules.engine._columns import equal_places  # noqa: PLC0415 - the frame extra

    return equal_places(positions, cohorts, shares=ranking.ties != "ordinal")


#: How a missing key value sorts: after every value, ascending or (sorted in reverse)
#: descending.
_MISSING_ASCENDING: Final = (1, 0.0, 0)
_MISSING_DESCENDING: Final = (0, 0.0, 0)


def _sort_key(
    rows: Sequence[tuple[int, str, tuple[Fraction | None, ...]]], k: int, desc: bool, at: int
) -> tuple[int, float, Fraction | int]:
    """The order of row *at* on key *k*: its nearest float, then its exact value.

    Rounding to the nearest float never reverses an order (when ``a < b``, the nearest
    float of ``a`` is at most that of ``b``), so floats decide when they differ and the
    exact values only when they are equal. No score is a float: this is only a sort key.
    """
    value = rows[at][2][k]
    if value is None:
        return _MISSING_DESCENDING if desc else _MISSING_ASCENDING
    return (1 if desc else 0, _nearest(value), value)


def _exact_order(value: Fraction) -> tuple[float, Fraction]:
    """Sorts exact values fast: by the nearest float, then (when equal) exactly."""
    return (_nearest(value), value)


def _nearest(value: Fraction) -> float:  # float-ok: a sort key; equal floats compare exactly
    try:
        return float(value)  # float-ok: a sort key, ties broken by the exact value
    except OverflowError:
        return math.inf if value > 0 else -math.inf
