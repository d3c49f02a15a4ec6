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
from typing import Any

from perfrules._numbers import format_number, round_fraction
from perfrules.engine import CompiledScheme
from perfrules.trace import Result

__all__ = ["Summary", "mean_text"]


def mean_text(value: Fraction) -> str:
    """A mean or median as the summary shows it: exact to four places, half-up."""
    return format_number(round_fraction(value, 4, "half_up"))


class Summary:
    """Counts, grades, totals and lost points of a batch, added unit by unit or in chunks.

    Totals are kept as integers over ``10 ** places`` when the scheme rounds its total,
    else as exact fractions. A chunk's totals (an array) are kept as each distinct total and
    how many units have it: a total between 0 and 100 to two places takes one of 10,001
    values, so the memory stays the same however many units the batch has.
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
        #: The distinct totals of the chunks (int64 arrays, over the scale) and their counts.
        self._values: Any = None
        self._counts: Any = None
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
        elif getattr(getattr(totals, "dtype", None), "kind", "O") == "i":
            self._count_totals(totals)
        else:
            self._scaled.append(totals)  # integers past int64, or a list
        for ident, value in lost.items():
            self.lost[ident] = self.lost.get(ident, Fraction(0)) + value

    def _count_totals(self, totals: Any) -> None:
        """Merge an int64 array of totals into the distinct totals and their counts."""
        import numpy as np  # noqa: PLC0415 - arrays come only with the frame extra

        values, counts = np.unique(totals, return_counts=True)
        if self._values is not None:
            values, at = np.unique(np.concatenate((self._values, values)), return_inverse=True)
            merged = np.zeros(len(values), dtype=np.int64)
            np.add.at(merged, at, np.concatenate((self._counts, counts)))
            counts = merged
        self._values, self._counts = values, counts

    def _mean_and_median(self, count: int) -> tuple[Fraction, Fraction]:
        scale = self.scale
        if self._values is not None and scale is not None and not self._scaled + self._exact:
            return self._counted(count, scale)
        whole: list[int] = []
        if self._values is not None:
            for value, times in zip(self._values.tolist(), self._counts.tolist(), strict=True):
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

    def _counted(self, count: int, scale: int) -> tuple[Fraction, Fraction]:
        """The mean and median from the distinct totals and their counts alone."""
        values: list[int] = self._values.tolist()
        counts: list[int] = self._counts.tolist()
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
        return {
            "units": self.units,
            "scored": count,
            "failed": self.failed,
            "grades": {g.label: self.grades.get(g.label, 0) for g in plan.grades},
            "mean_total": None if mean is None else mean_text(mean),
            "median_total": None if median is None else mean_text(median),
            "most_points_lost": [
                {"id": ident, "mean_lost": mean_text(total / count)} for ident, total in ranked
            ]
            if count
            else [],
        }
