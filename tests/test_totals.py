"""The totals (engine/_totals.py): one owner of bands, fit and the gap, in all its forms.

The band a total falls in is decided by the same edges in three forms — a Python function,
the source the generated scorer inlines, and an array form — and they must agree on every
total, including the edges and totals rounded above the maximum. The gap re-runs the totals
on the rows it would raise, so its promise holds where a sum of lost points did not.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.engine._totals import totals_of


def _scheme(bands: list[tuple[str, str, str]], *, extra: str = "") -> perfrules.CompiledScheme:
    band_text = "".join(
        f'[[bands]]\nlabel = "{label}"\nmin = {low}\nmax = {high}\n' for label, low, high in bands
    )
    text = (
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\n'
        f"{extra}"
        '[inputs]\nx = {}\n[indicators.a]\nweight = 10\nformula = "weight * x"\n' + band_text
    )
    return perfrules.compile_scheme(perfrules.loads_scheme(text, name="t.toml"))


EDGES = st.lists(
    st.decimals(min_value=0, max_value=10, places=3).map(Fraction),
    min_size=0,
    max_size=4,
    unique=True,
)


@settings(max_examples=200, deadline=None)
@given(
    cuts=EDGES,
    totals=st.lists(
        st.fractions(min_value=0, max_value=11, max_denominator=100), min_size=1, max_size=20
    ),
)
def test_the_three_forms_of_band_membership_agree(cuts, totals):
    edges = sorted({Fraction(0), Fraction(10), *(c for c in cuts if 0 < c < 10)}, reverse=True)
    bands = [
        (f"B{i}", _decimal(low), _decimal(high))
        for i, (high, low) in enumerate(itertools.pairwise(edges))
    ]
    compiled = _scheme(bands)
    totals_owner = totals_of(compiled.plan)
    source = totals_owner.band_source("tn", "td")
    for total in [*totals, *edges]:
        scalar = totals_owner.band_of(total.numerator, total.denominator)
        namespace: dict[str, object] = {"tn": total.numerator, "td": total.denominator}
        exec(compile(source, "<band>", "exec"), {"__builtins__": {}}, namespace)  # noqa: S102
        assert namespace["band"] == scalar, (total, source)
        # As the scorer writes it, over a denominator it knows: each edge times it folded.
        literal = totals_owner.band_source("tn", str(total.denominator))
        namespace = {"tn": total.numerator}
        exec(compile(literal, "<band>", "exec"), {"__builtins__": {}}, namespace)  # noqa: S102
        assert namespace["band"] == scalar, (total, literal)
        scale = total.denominator
        array = totals_owner.band_of_each(
            np.array([total.numerator]), scale, np.full(1, totals_owner.top), np.where
        )
        assert int(array[0]) == scalar
        low = edges[scalar + 1] if scalar + 1 < len(edges) else Fraction(0)
        high = edges[scalar]
        if total <= 10:  # inside [0, max]: the band's own ends say so
            assert low <= total
            assert total < high or total == high == 10
        else:  # rounded above the maximum: the top band
            assert scalar == 0
        assert compiled.grade_for(total).label == bands[scalar][0]


def _decimal(value: Fraction) -> str:
    return str(Decimal(value.numerator) / value.denominator)


def test_the_gap_under_a_capped_total_names_rows_that_reach_the_band():
    text = (
        '[scheme]\nid = "c"\ntitle = "c"\nmax = 10\nfit = "cap"\n[inputs]\nx = {}\n'
        '[indicators.a]\nweight = 1\nformula = "weight * x"\n'
        '[indicators.b]\nweight = 1\nformula = "weight * x"\n'
        '[[bands]]\nlabel = "pass"\nmin = 1.5\nmax = 10\n'
        '[[bands]]\nlabel = "fail"\nmin = 0\nmax = 1.5\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="c.toml"))
    result = compiled.evaluate({"a": {"x": "0"}, "b": {"x": "0"}})
    gap = result.trace.gap
    assert gap is not None
    assert [ident for ident, _ in gap.improve] == ["a", "b"]  # one row gives 1.00: short
    raised = compiled.evaluate(
        {ident: {"x": "1"} for ident in ("a", "b")},
    )
    assert raised.grade.label == "pass"
    assert compiled.gap(result) == gap


def test_the_gap_counts_the_totals_own_rounding():
    text = (
        '[scheme]\nid = "r"\ntitle = "r"\nmax = 11\n'
        '[rounding]\nmode = "half_up"\nindicator = 1\ntotal = 0\n[inputs]\nx = {}\n'
        '[indicators.a]\nweight = 1\nformula = "weight * x"\n'
        '[indicators.b]\nweight = 7\nformula = "weight * x"\n'
        '[indicators.c]\nweight = 3\nformula = "weight * x"\n'
        '[[bands]]\nlabel = "pass"\nmin = 10.5\nmax = 11\n'
        '[[bands]]\nlabel = "fail"\nmin = 0\nmax = 10.5\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="r.toml"))
    facts = {"a": {"x": "0"}, "b": {"x": "0"}, "c": {"x": "0.15"}}
    result = compiled.evaluate(facts)
    assert str(result.total) == "1"  # 0.45 → 0.5 → 1
    listed = [ident for ident, _ in result.trace.gap.improve]
    raised = {ident: {"x": "1"} if ident in listed else facts[ident] for ident in ("a", "b", "c")}
    assert compiled.evaluate(raised).grade.label == "pass"  # b and c alone give 10: short
    assert listed == ["b", "c", "a"]


def test_a_total_for_published_rows_leaves_out_rows_not_counted_and_renormalises():
    text = (
        '[scheme]\nid = "p"\ntitle = "p"\nmax = 10\n[inputs]\nx = {}\n'
        '[indicators.a]\nweight = 5\nformula = "weight * x"\n'
        '[indicators.b]\nweight = 5\nformula = "weight * x"\n'
        '[indicators.extra]\nweight = 3\nformula = "weight * x"\ncounted = false\n'
        '[[bands]]\nlabel = "all"\nmin = 0\nmax = 10\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="p.toml"))
    rows = {"a": Fraction(4), "b": Fraction(3), "extra": Fraction(3)}
    assert compiled.total_for(rows) == 7
    assert compiled.total_for({"a": Fraction(4), "b": None, "extra": Fraction(3)}) == 8
    assert compiled.total_for({"a": None, "b": None, "extra": Fraction(3)}) is None


def _three_rows(mode: str, band: str) -> perfrules.CompiledScheme:
    text = (
        '[scheme]\nid = "w"\ntitle = "w"\nmax = 7.5\n'
        f'[rounding]\nmode = "{mode}"\nindicator = 0\ntotal = 1\n[inputs]\nx = {{}}\n'
        + "".join(
            f'[indicators.{r}]\nweight = 2.5\nformula = "weight * x"\n' for r in ("a", "b", "c")
        )
        + f'[[bands]]\nlabel = "pass"\nmin = {band}\nmax = 7.5\n'
        f'[[bands]]\nlabel = "fail"\nmin = 0\nmax = {band}\n'
    )
    return perfrules.compile_scheme(perfrules.loads_scheme(text, name="w.toml"))


def test_full_marks_are_the_weight_rounded_to_the_rows_places():
    # Truncated, a row of 2.5 at 0 places scores 2 even at full marks: raising rows that
    # already score 2 adds nothing, so no row can reach 6.5 (three rows give 6.0).
    down = _three_rows("down", "6.5")
    result = down.evaluate({r: {"x": "0.9"} for r in ("a", "b", "c")})
    assert str(result.total) == "6.0"
    assert result.trace.gap.improve == ()
    assert result.trace.losses == [] or all(lost > 0 for _, lost in result.trace.losses)
    # Half-up, full marks are 3: one row raised from 2 to 3 reaches 7.
    half_up = _three_rows("half_up", "7")
    facts = {r: {"x": "0.7"} for r in ("a", "b", "c")}  # 1.75 → 2 each: 6.0
    result = half_up.evaluate(facts)
    assert str(result.total) == "6.0"
    listed = [ident for ident, _ in result.trace.gap.improve]
    assert len(listed) == 1
    raised = dict(facts, **{listed[0]: {"x": "1"}})
    assert half_up.evaluate(raised).grade.label == "pass"


@settings(max_examples=200, deadline=None)
@given(
    mode=st.sampled_from(["half_up", "half_even", "down", "up"]),
    places=st.sampled_from([None, 0, 1, 2]),
    capped=st.booleans(),
    total=st.fractions(min_value=-1, max_value=13, max_denominator=1000),
    factor=st.fractions(min_value=Fraction(1, 3), max_value=3, max_denominator=7),
)
# a sum below 0 rounded toward 0 by the default total places lands in the lowest band
@example(mode="down", places=None, capped=False, total=Fraction(-1, 34), factor=Fraction(1, 3))
def test_the_gap_s_band_of_a_sum_is_the_totals_own_band(mode, places, capped, total, factor):
    # the gap asks the band of a candidate sum by one generated function; it must be what
    # the totals make of that sum: scaled, capped, rounded in the scheme's mode, banded
    rounding = f'[rounding]\nmode = "{mode}"\n' + (
        f"total = {places}\n" if places is not None else ""
    )
    fit = 'fit = "cap"\n' if capped else ""
    compiled = _scheme(
        [("A", "8", "10"), ("B", "5.5", "8"), ("C", "0", "5.5")],
        extra=fit + rounding.replace("[rounding]", "[rounding]", 1),
    )
    totals = totals_of(compiled.plan)
    value = total * factor
    if totals.capped and value > compiled.plan.max:
        value = compiled.plan.max
    # the total's own places: without a `total` line the scheme's default (2), not none
    value = totals.rounded(value, compiled.plan.nodes[0].places)
    expected = totals.band_of(value.numerator, value.denominator)
    got = totals._band_of_sum(
        total.numerator, total.denominator, factor.numerator, factor.denominator
    )
    assert got == expected
