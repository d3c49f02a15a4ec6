"""The raw record of an evaluation and the result's parts built from it.

The total, the grade, the scores, the loss order and the gap; no trace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from perfrules._numbers import exact_fraction, format_number, to_decimal
from perfrules._version import __version__
from perfrules.engine._grading import LossOrder, gap_of, grade_of, loss_order
from perfrules.engine._plan import Plan
from perfrules.engine._totals import totals_of
from perfrules.facts import Facts
from perfrules.trace import (
    CohortTrace,
    CohortValue,
    Gap,
    Grade,
    Rank,
    Unranked,
)

__all__ = ["VERSION", "RecordParts", "decimal_of"]

_ZERO: Final = Fraction(0)


VERSION: Final = __version__


def decimal_of(value: Fraction, places: int | None) -> Decimal:
    """*value* as a Decimal, with exactly *places* decimals when it has that many or fewer."""
    if places is not None and (value * 10**places).denominator == 1:
        return Decimal(format_number(value, places))
    return to_decimal(value)


class RecordParts:
    """The raw record of one evaluation, and the parts of its result built from it."""

    __slots__ = (
        "_losses",
        "cohort_key",
        "cohort_values",
        "facts",
        "imputed",
        "out",
        "plan",
        "rank",
        "unranked",
        "want_trace",
    )

    def __init__(
        self,
        plan: Plan,
        facts: Facts | Mapping[str, Any],
        out: tuple[Any, ...],
        want_trace: bool,
        cohort: tuple[str | None, tuple[CohortValue, ...]] | None = None,
    ) -> None:
        """Keep the record: ``out`` is what the generated scorer returned.

        *cohort* is the unit's cohort key and that cohort's values, when it was scored with
        its cohort; ``rank`` is set once every unit of the cohort is scored.
        """
        self.plan = plan
        self.facts = facts
        self.out = out
        self.want_trace = want_trace
        self.cohort_key: str | None = None
        #: Why the ranking left the unit out for want of data (``min_available``).
        self.unranked: Unranked | None = None
        #: The inputs imputed for it (set with its cohort, when the scheme imputes).
        self.imputed: tuple[str, ...] = ()
        self.cohort_values: tuple[CohortValue, ...] | None = None
        if cohort is not None:
            self.cohort_key, self.cohort_values = cohort
        self.rank: Rank | None = None
        self._losses: LossOrder | None = None

    def cohort(self) -> CohortTrace | None:
        """The unit's cohort, its values and its rank (``None``: scored alone)."""
        if self.cohort_values is None:
            return None
        return CohortTrace(
            self.cohort_key, self.cohort_values, self.rank, self.unranked, self.imputed
        )

    # --- the result's parts --------------------------------------------------------------
    def total_exact(self) -> Fraction:
        """The total as an exact fraction."""
        values = self.out[2]
        return exact_fraction(values[0], values[1])

    def total(self) -> Decimal:
        """The total with the scheme's places."""
        values = self.out[2]
        num, den = values[0], values[1]
        places = self.plan.total_places
        if places is not None and den == 10**places:
            return Decimal(num).scaleb(-places)
        return decimal_of(Fraction(num, den), places)

    def grade(self) -> Grade:
        """The band of the total, or the grade override that fired."""
        grade = grade_of(self.plan, self.out[5])
        override = self.out[6]
        if override is not None:
            label, label_en, _ = override
            return Grade(label, grade.min, grade.max, label_en)
        return grade

    def scores(self) -> Mapping[str, Decimal | None]:
        """Scores by id, as Decimals converted on first access."""
        return _Scores(self.plan, self.out[2])

    def score(self, index: int) -> Fraction | None:
        """The exact score of node *index* (``None`` when excluded)."""
        values = self.out[2]
        num = values[2 * index]
        return None if num is None else exact_fraction(num, values[2 * index + 1])

    def left_out(self) -> Fraction:
        """The weight of the counted indicators left out (not applicable), by the totals."""
        unit = self.out[0]
        if unit is None or not unit.excluded:
            return _ZERO
        values = self.out[2]
        return totals_of(self.plan).left_out(lambda i: values[2 * i] is not None)

    def gap(self) -> Gap | None:
        """The next band up and the fewest indicators to reach it (``None`` if overridden)."""
        if self.out[6] is not None or self.out[5] == 0:  # overridden, or in the top band
            return None
        values = self.out[2]
        return gap_of(
            self.plan,
            self.out[5],
            values[0],
            values[1],
            self._loss_order,
            self.left_out(),
            (self.out[2], self.out[3]),
        )

    def _loss_order(self) -> LossOrder:
        """Counted rows that lost points, the most first: once per evaluation, in integers.

        Each row is (lost numerator, lost denominator, node index, id, weight numerator,
        weight denominator, score numerator, score denominator); a row not counted or
        excluded loses nothing from the total. The trace's ``losses`` and the gap both read
        this one order.
        """
        order = self._losses
        if order is None:
            order = self._losses = loss_order(self.plan, self.out[2])
        return order

    def facts_source(self) -> Facts:
        """The facts as a :class:`Facts` (for provenance)."""
        if isinstance(self.facts, Facts):
            return self.facts
        return Facts.from_mapping(self.facts)


class _Scores(Mapping[str, Decimal | None]):
    """Scores by id as Decimals, converted on first access (batch jobs rarely read them all)."""

    __slots__ = ("_cache", "_plan", "_values")

    def __init__(self, plan: Plan, values: tuple[Any, ...]) -> None:
        self._plan = plan
        self._values = values
        self._cache: dict[str, Decimal | None] = {}

    def __getitem__(self, key: str) -> Decimal | None:
        if key in self._cache:
            return self._cache[key]
        index = self._plan.by_id[key]
        num = self._values[2 * index]
        node = self._plan.nodes[index]
        value = (
            None
            if num is None
            else decimal_of(Fraction(num, self._values[2 * index + 1]), node.shown_places)
        )
        self._cache[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return (node.id for node in self._plan.nodes[1:])

    def __len__(self) -> int:
        return len(self._plan.nodes) - 1

    def __repr__(self) -> str:
        return repr(dict(self))
