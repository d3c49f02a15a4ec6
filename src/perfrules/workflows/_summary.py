"""The summary of a batch, one definition for every shape of batch.

The in-memory batch, the streamed CSV/Parquet batch and JSON Lines all add what they scored
to one :class:`Summary`: units, failures, grades, every total exactly (the mean and median
are exact), and the points each counted row lost (rows not counted lose nothing from the
total, as the engine's ``CompiledScheme.losses`` says).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Final

from perfrules._numbers import format_number, round_fraction
from perfrules.engine import CompiledScheme
from perfrules.trace import Result

__all__ = ["Summary", "mean_text"]

#: An int64 numpy array (numpy is loaded by whoever gives one: an in-memory batch never does).
Ints = Any
#: The most totals counted by one counter each (8 MiB): a batch's totals spanning more
#: (a scheme whose total keeps many places) are counted by distinct value instead.
_MOST_COUNTERS: Final = 1 << 20


def mean_text(value: Fraction) -> str:
    """A mean or median as the summary shows it: exact to four places, half-up."""
    return format_number(round_fraction(value, 4, "half_up"))


class Summary:
    """Counts, grades, totals and lost points of a batch, added unit by unit or in chunks.

    Totals are kept as integers over ``10 ** places`` when the scheme rounds its total,
    else as exact fractions. A streamed batch gives each chunk's totals as an array
    (:meth:`add_totals`), which is counted, not kept: a total between 0 and 100 to two
    places takes one of 10,001 values, so the memory stays the same however many units the
    batch has.
    """

    def __init__(self, compiled: CompiledScheme) -> None:
        """An empty summary for *compiled*."""
        self.compiled = compiled
        self.units = 0
        self.failed = 0
        self.grades: Counter[str] = Counter()
        self.lost: dict[str, Fraction] = {}
        self._scaled: list[Any] = []  # arrays or lists of integers over the total's scale
        self._exact: list[Fraction] = []
        #: Units by total (over the scale): ``_counters[k]`` have the total ``_low + k``;
        #: totals outside the counters' span by value in ``_counted`` (:meth:`add_totals`).
        self._counters: Ints | None = None
        self._low = 0
        self._counted: Counter[int] = Counter()
        places = compiled.plan.total_places
        self.scale = None if places is None else 10**places

    @property
    def scored(self) -> int:
        """Units that scored."""
        return self.units - self.failed

    def add(self, result: Result) -> None:
        """One unit that scored."""
        self.units += 1
        self.grades[result.grade.label] += 1
        total = result.total_exact
        if self.scale is not None and (total * self.scale).denominator == 1:
            self._scaled.append([int(total * self.scale)])
        else:
            self._exact.append(total)
        for ident, lost in self.compiled.losses(result).items():
            self.lost[ident] = self.lost.get(ident, Fraction(0)) + lost

    def add_failure(self, count: int = 1) -> None:
        """Units whose facts failed."""
        self.units += count
        self.failed += count

    def add_chunk(
        self,
        grades: Mapping[str, int],
        totals: Any,
        lost: Mapping[str, Fraction],
    ) -> None:
        """The scored units of a chunk: their grades, totals and lost points.

        *totals* are integers over :attr:`scale` (an array), or exact fractions when the
        scheme does not round its total.
        """
        count = sum(grades.values())
        self.units += count
        self.grades.update(grades)
        if self.scale is None:
            self._exact.extend(totals)
        else:
            self._scaled.append(totals)
        for ident, value in lost.items():
            self.lost[ident] = self.lost.get(ident, Fraction(0)) + value

    def add_totals(
        self, grades: Mapping[str, int], totals: Ints, lost: Mapping[str, Fraction]
    ) -> None:
        """A chunk's scored units: grades, each unit's total, lost points.

        *totals* are int64 integers over :attr:`scale` (the scheme rounds its total). They
        are counted, not kept: each possible total between the least and the greatest seen
        has a counter (:data:`_MOST_COUNTERS` at most), a total outside that span each
        distinct value its own.
        """
        self.units += sum(grades.values())
        self.grades.update(grades)
        self._count_totals(totals)
        for ident, value in lost.items():
            self.lost[ident] = self.lost.get(ident, Fraction(0)) + value

    def _count_totals(self, totals: Ints) -> None:
        import numpy as np  # noqa: PLC0415 - only a streamed batch counts arrays

        if not len(totals):
            return
        least, most = int(totals.min()), int(totals.max())
        counters, low = self._counters, self._low
        if counters is not None:
            least, most = min(least, low), max(most, low + len(counters) - 1)
        if most - least >= _MOST_COUNTERS:
            values, counts = np.unique(totals, return_counts=True)
            self._counted.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))
            return
        if counters is None or least < low or most >= low + len(counters):
            grown = np.zeros(most - least + 1, dtype=np.int64)
            if counters is not None:
                grown[low - least : low - least + len(counters)] = counters
            counters, low = grown, least
            self._counters, self._low = counters, low
        counters += np.bincount(totals - low, minlength=len(counters))

    def _distinct_totals(self) -> dict[int, int]:
        """Each distinct total counted so far (over the scale) and its units."""
        found = dict(self._counted)
        if self._counters is not None:
            at = self._counters.nonzero()[0]
            values, counts = (at + self._low).tolist(), self._counters[at].tolist()
            for value, times in zip(values, counts, strict=True):
                found[value] = found.get(value, 0) + times
        return found

    def _mean_and_median(self, count: int) -> tuple[Fraction, Fraction]:
        scale = self.scale
        if scale is not None and not self._scaled and not self._exact:
            return self._from_counts(count, scale)
        whole: list[int] = []
        for value, times in self._distinct_totals().items():
            whole.extend([value] * times)
        for part in self._scaled:
            whole.extend(part.tolist() if hasattr(part, "tolist") else part)
        if not self._exact and scale is not None:  # integers only: no Fraction per unit
            whole.sort()
            middle = whole[(count - 1) // 2] + whole[count // 2]
            return Fraction(sum(whole), count * scale), Fraction(middle, 2 * scale)
        totals = sorted(self._exact + [Fraction(v, scale or 1) for v in whole])
        median = (totals[(count - 1) // 2] + totals[count // 2]) / 2
        return sum(totals, Fraction(0)) / count, median

    def _from_counts(self, count: int, scale: int) -> tuple[Fraction, Fraction]:
        """The mean and median from the distinct totals and their counts alone."""
        counted = self._distinct_totals()
        values = sorted(counted)
        counts = [counted[value] for value in values]
        whole = sum(value * times for value, times in zip(values, counts, strict=True))
        ends = list(itertools.accumulate(counts))  # units up to and with each value
        low = values[bisect.bisect_right(ends, (count - 1) // 2)]
        high = values[bisect.bisect_right(ends, count // 2)]
        return Fraction(whole, count * scale), Fraction(low + high, 2 * scale)

    def to_dict(self) -> dict[str, Any]:
        """The summary as the CLI prints it and JSON carries it."""
        plan = self.compiled.plan
        count = self.scored
        mean = median = None
        if count:
            mean, median = self._mean_and_median(count)
        ranked = sorted(self.lost.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        # Every grade a unit can get: the bands', then the overrides' (OMB PART's "Results
        # Not Demonstrated"), each with its units, and the English of those that have one.
        grades = {g.label: self.grades.get(g.label, 0) for g in plan.grades}
        english = {g.label: g.label_en for g in plan.grades if g.label_en}
        for label, label_en, _ in plan.overrides:
            grades.setdefault(label, self.grades.get(label, 0))
            if label_en:
                english.setdefault(label, label_en)
        return {
            "units": self.units,
            "scored": count,
            "failed": self.failed,
            "grades": grades,
            "grades_en": english,
            "mean_total": None if mean is None else mean_text(mean),
            "median_total": None if median is None else mean_text(median),
            "most_points_lost": [
                {"id": ident, "mean_lost": mean_text(total / count)} for ident, total in ranked
            ]
            if count
            else [],
        }
