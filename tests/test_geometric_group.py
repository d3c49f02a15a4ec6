"""Groups that aggregate geometrically: W × Π (score ÷ weight) ** (weight ÷ Σ weights)."""

from __future__ import annotations

import decimal
import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.errors import RuleFileError
from perfrules.testing import unit_violations

RULES = """
[scheme]
id = "geo"
title = "Geometric"
max = 100

[rounding]
indicator = 2
group = 2
total = 2

[[bands]]
label = "A"
min = 60
max = 100

[[bands]]
label = "B"
min = 0
max = 60

[inputs.actual]

[groups.g]
weight = 60
aggregate = "geometric"

[indicators.x]
parent = "g"
weight = 20
formula = "weight * actual"

[indicators.y]
parent = "g"
weight = 40
formula = "weight * actual"
na = "exclude"

[indicators.z]
weight = 40
formula = "weight * actual"
"""
_REF = decimal.Context(prec=300)


@pytest.fixture(scope="module")
def compiled():
    return perfrules.compile_scheme(perfrules.loads_scheme(RULES, name="geo.toml"))


def _facts(x: str, y: str, z: str) -> dict:
    return {
        "indicators": {
            "x": {"actual": x},
            "y": {"na": "N/A"} if y == "N/A" else {"actual": y},
            "z": {"actual": z},
        }
    }


def _reference(x: Fraction, y: Fraction) -> Fraction:
    """60 × x^(1/3) × y^(2/3) at 300 digits, half-up to 2 places."""
    dx = _REF.divide(Decimal(x.numerator), Decimal(x.denominator))
    dy = _REF.divide(Decimal(y.numerator), Decimal(y.denominator))
    third = _REF.divide(Decimal(1), Decimal(3))
    value = _REF.multiply(
        Decimal(60),
        _REF.multiply(_REF.power(dx, third), _REF.power(dy, _REF.multiply(2, third))),
    )
    return Fraction(value.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))


def test_an_exact_mean_stays_exact(compiled):
    # shares 1/8 and 1 (x 2.50 of 20, y 40 of 40): 60 × (1/8)^(1/3) × 1 = 30 exactly
    result = compiled.evaluate(_facts("12.5%", "100%", "50%"))
    assert result.scores["g"] == Decimal("30.00")
    assert result.total == Decimal("50.00")


def test_a_zero_share_makes_the_group_zero(compiled):
    result = compiled.evaluate(_facts("0", "90%", "50%"))
    assert result.scores["g"] == Decimal("0.00")


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(min_value=1, max_value=100),
    y=st.integers(min_value=1, max_value=100),
)
def test_correctly_rounded_against_a_300_digit_reference(compiled, x, y):
    result = compiled.evaluate(_facts(f"{x}%", f"{y}%", "50%"))
    # the rows are rounded first (2 places), then the group from the rounded rows
    sx = round(Fraction(20 * x, 100), 2) / 20
    sy = round(Fraction(40 * y, 100), 2) / 40
    assert Fraction(result.scores["g"]) == _reference(sx, sy)
    # the aggregation invariant recomputes the group by the totals; rows are uncapped
    assert unit_violations(compiled, _facts(f"{x}%", f"{y}%", "50%"), monotonic=False) == []


def test_a_row_left_out_leaves_out_its_weight(compiled):
    # y not applicable: the group is 20 × 0.3 = 6 of its applicable 20, then renormalised
    result = compiled.evaluate(_facts("30%", "N/A", "50%"))
    assert result.scores["g"] == Decimal("6.00")
    assert result.total == Decimal("43.33")  # (6 + 20) / 60 × 100


def test_the_trace_says_how_and_rounds_the_true_value(compiled):
    result = compiled.evaluate(_facts("30%", "70%", "50%"))
    group = json.loads(result.trace.to_json())["root"]["children"][0]
    assert [n["kind"] for n in group["notes"]] == ["geometric"]
    (rounding,) = group["roundings"]
    assert rounding["before"].startswith("31.66579252742445965758")
    assert rounding["after"] == "31.67"


def test_the_gap_raises_rows_until_the_band_is_reached(compiled):
    result = compiled.evaluate(_facts("30%", "40%", "40%"))
    gap = result.trace.gap
    assert gap is not None
    raised = {"x": "100%", "y": "100%", "z": "100%"}
    facts = _facts("30%", "40%", "40%")
    for ident, _ in gap.improve:
        facts["indicators"][ident] = {"actual": raised[ident]}
    assert compiled.evaluate(facts).grade.label == gap.label


def test_every_shape_gives_the_same_digits(compiled):
    pa = pytest.importorskip("pyarrow")
    rows = [("30%", "70%"), ("12.5%", "100%"), ("1%", "99%"), ("0", "50%")]
    table = pa.table(
        {
            "unit": [f"u{i}" for i in range(len(rows))],
            "x.actual": [r[0] for r in rows],
            "y.actual": [r[1] for r in rows],
            "z.actual": ["50%"] * len(rows),
        }
    )
    out = perfrules.score_table(compiled, table).to_pylist()
    for (x, y), row in zip(rows, out, strict=True):
        alone = compiled.evaluate(_facts(x, y, "50%"))
        assert Decimal(str(row["total"])) == alone.total
        assert Decimal(str(row["x"])) == alone.scores["x"]


def test_a_geometric_group_must_be_rounded():
    text = RULES.replace('aggregate = "geometric"', 'aggregate = "geometric"\nplaces = "none"')
    text = text.replace("group = 2", 'group = "none"')
    with pytest.raises(RuleFileError) as info:
        perfrules.loads_scheme(text, name="geo.toml")
    assert [d.code for d in info.value.diagnostics] == ["PR238"]
