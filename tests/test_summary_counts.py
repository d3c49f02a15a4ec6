"""A streamed batch's summary keeps each distinct total once: the same mean and median."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.workflows._summary import Summary, mean_text

SEED = Path(__file__).resolve().parent.parent / "rules" / "examples" / "xinzhou-zfw-2021"


@given(
    chunks=st.lists(st.lists(st.integers(0, 60), min_size=0, max_size=30), min_size=1, max_size=6)
)
@settings(max_examples=200, deadline=None)
def test_the_mean_and_median_of_counted_totals_are_those_of_every_total(chunks):
    # The totals are kept as distinct values and counts, not one integer a unit: the
    # summary must still be the exact mean and median of every unit's total.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    summary = Summary(compiled)
    every: list[int] = []
    for chunk in chunks:
        totals = [value * 37 for value in chunk]
        summary.add_counted({"差": len(chunk)}, Counter(totals), {})
        every.extend(totals)
    got = summary.to_dict()
    if not every:
        assert got["mean_total"] is None
        return
    every.sort()
    n = len(every)
    mean = Fraction(sum(every), n * 100)
    median = Fraction(every[(n - 1) // 2] + every[n // 2], 200)
    assert got["mean_total"] == mean_text(mean)
    assert got["median_total"] == mean_text(median)
    assert len(summary._counted) == len(set(every))  # kept as counts, not one a unit
