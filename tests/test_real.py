"""Irrational values: ln, log10, exp, sqrt, geomean, fractional powers, correctly rounded.

The reference is Python's ``decimal`` at 300 significant digits, quantized in the mode: the
rounding perfrules decides from bounds must be the rounding of that much closer value.
"""

from __future__ import annotations

import decimal
import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules._numbers import round_fraction
from perfrules.errors import ExpressionError, RuleFileError
from perfrules.expressions import FUNCTIONS, compile_expression, safe_eval
from perfrules.expressions._real import (
    Approx,
    exp_bounds,
    ln_bounds,
    log10_bounds,
    sqrt_bounds,
)

MODES = {
    "half_up": decimal.ROUND_HALF_UP,
    "half_even": decimal.ROUND_HALF_EVEN,
    "down": decimal.ROUND_DOWN,
    "up": decimal.ROUND_UP,
}
_REF = decimal.Context(prec=300, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _dec(x: Fraction) -> Decimal:
    return _REF.divide(Decimal(x.numerator), Decimal(x.denominator))


def _rounded(value: Decimal, places: int, mode: str) -> Fraction:
    quantum = Decimal(1).scaleb(-places)
    context = decimal.Context(prec=400, rounding=MODES[mode])
    return Fraction(value.quantize(quantum, context=context))


def _whole_root(value: int, n: int) -> int | None:
    guess = int(
        _REF.power(Decimal(value), _REF.divide(Decimal(1), Decimal(n))).to_integral_value()
    )
    return next((r for r in (guess - 1, guess, guess + 1) if r >= 0 and r**n == value), None)


def _reference_root(value: Fraction, n: int) -> Decimal:
    """The n-th root of *value* at 300 digits, exact when it is rational."""
    num, den = _whole_root(value.numerator, n), _whole_root(value.denominator, n)
    if num is not None and den is not None:
        return _dec(Fraction(num, den))
    return _REF.power(_dec(value), _REF.divide(Decimal(1), Decimal(n)))


positive = st.fractions(min_value=Fraction(1, 10**6), max_value=Fraction(10**9)).filter(
    lambda x: x.denominator < 10**8
)
places = st.integers(min_value=0, max_value=8)
modes = st.sampled_from(sorted(MODES))


class TestExact:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("sqrt(4)", Fraction(2)),
            ("sqrt(9 / 4)", Fraction(3, 2)),
            ("sqrt(0)", Fraction(0)),
            ("exp(0)", Fraction(1)),
            ("ln(1)", Fraction(0)),
            ("log10(1000)", Fraction(3)),
            ("log10(0.01)", Fraction(-2)),
            ("log10(1)", Fraction(0)),
            ("8 ** (1 / 3)", Fraction(2)),
            ("27 ** (-1 / 3)", Fraction(1, 3)),
            ("(4 / 9) ** 0.5", Fraction(2, 3)),
            ("0 ** 0.5", Fraction(0)),
            ("geomean(4, 9)", Fraction(6)),
            ("geomean(2, 4, 8)", Fraction(4)),
            ("geomean(0, 5, 7)", Fraction(0)),
        ],
    )
    def test_exact_results_stay_exact(self, text, value):
        assert safe_eval(text) == value
        assert safe_eval(text, places=2) == round_fraction(value, 2)

    def test_a_bound_at_an_exact_zero_stays_zero(self):
        # ln(1) within a geometric mean's sum of logarithms: a step below 0 would be
        # 10**-(10**18), a number no computer finishes writing.
        assert ln_bounds(Fraction(1), Fraction(1), 30) == (0, 0)
        assert sqrt_bounds(Fraction(0), Fraction(0), 30) == (0, 0)
        assert safe_eval("geomean(0.5, 0.5, 1)", places=3) == Fraction(63, 100)

    @pytest.mark.parametrize("text", ["ln(2)", "sqrt(2)", "exp(1)", "log10(2)", "2 ** 0.5"])
    def test_an_irrational_value_without_a_rounding_is_refused(self, text):
        with pytest.raises(ExpressionError) as info:
            safe_eval(text)
        assert info.value.code == "PR324"

    def test_the_same_true_value_cancels_exactly(self):
        # Under "up", any bound straddling 0 or 1 would round away: the key decides it.
        assert safe_eval("ln(7) - ln(7)", places=2, mode="up") == 0
        assert safe_eval("ln(750) / ln(750)", places=2, mode="up") == 1
        assert safe_eval("1 if sqrt(2) == sqrt(2) else 0", places=0) == 1

    def test_an_identity_the_bounds_cannot_see_ends_in_a_located_error(self):
        with pytest.raises(ExpressionError) as info:
            safe_eval("ln(2) + ln(3) - ln(6)", places=2, mode="up")
        assert info.value.code == "PR325"

    def test_many_irrational_parts_stop_within_the_work_budget(self):
        # 60 logarithms would need 1,000 digits each (seconds): stopped at 120 digits.
        logs = " + ".join(f"ln({i})" for i in range(2, 62))
        with pytest.raises(ExpressionError) as info:
            safe_eval(f"floor(({logs}) * (10 ** 100) ** 9)", places=0)
        assert info.value.code == "PR325"
        assert info.value.params["digits"] == 120

    def test_comparisons_and_branches_on_irrational_values(self):
        assert safe_eval("1 if sqrt(2) > 1.414 else 0", places=0) == 1
        assert safe_eval("1 if sqrt(2) > 1.4143 else 0", places=0) == 0
        assert safe_eval("min(sqrt(2), 1.5)", places=3) == Fraction(1414, 1000)
        assert safe_eval('lookup(sqrt(2), "[0, 1.4142)", 1, "[1.4142, 2]", 2)', places=0) == 2
        assert safe_eval("floor(ln(10) * 1000)", places=0) == 2302
        assert safe_eval("abs(-sqrt(2))", places=4) == Fraction(14142, 10000)

    def test_a_value_near_a_rounding_boundary_takes_more_digits(self):
        # 0.5 + (a fraction of 10**-40): above the tie, found only with more than 40 digits.
        text = "0.5 + (sqrt(2) - floor(sqrt(2) * 10 ** 40) / 10 ** 40)"
        assert safe_eval(text, places=0, mode="half_even") == 1
        assert safe_eval(text, places=0, mode="down") == 0

        def decide(value):
            if isinstance(value, Approx):
                low = round_fraction(value.lo, 0, "half_even")
                return low if low == round_fraction(value.hi, 0, "half_even") else None
            return round_fraction(value, 0, "half_even")

        rounded, digits = compile_expression(text).settle({}, decide)
        assert rounded == 1
        assert digits > 40


class TestCorrectRounding:
    @settings(max_examples=150, deadline=None)
    @given(x=positive, places=places, mode=modes)
    def test_ln_log10_sqrt(self, x, places, mode):
        names = {"x": x}
        assert safe_eval("ln(x)", names, places=places, mode=mode) == _rounded(
            _REF.ln(_dec(x)), places, mode
        )
        assert safe_eval("log10(x)", names, places=places, mode=mode) == _rounded(
            _REF.log10(_dec(x)), places, mode
        )
        assert safe_eval("sqrt(x)", names, places=places, mode=mode) == _rounded(
            _REF.sqrt(_dec(x)), places, mode
        )

    @settings(max_examples=100, deadline=None)
    @given(
        x=st.fractions(min_value=-50, max_value=50).filter(lambda v: v.denominator < 10**6),
        places=places,
        mode=modes,
    )
    def test_exp(self, x, places, mode):
        got = safe_eval("exp(x)", {"x": x}, places=places, mode=mode)
        assert got == _rounded(_REF.exp(_dec(x)), places, mode)

    @settings(max_examples=100, deadline=None)
    @given(
        x=positive,
        p=st.integers(min_value=-7, max_value=7),
        q=st.integers(min_value=2, max_value=9),
        places=places,
        mode=modes,
    )
    def test_fractional_power(self, x, p, q, places, mode):
        x = min(x, Fraction(10**4))
        got = safe_eval(f"x ** ({p} / {q})", {"x": x}, places=places, mode=mode)
        exponent = Fraction(p, q)  # in lowest terms: 3/3 is a whole power
        root = _reference_root(x, exponent.denominator)
        whole = exponent.numerator
        reference = (
            _REF.power(root, whole) if whole >= 0 else _REF.divide(1, _REF.power(root, -whole))
        )
        assert got == _rounded(reference, places, mode)

    @settings(max_examples=100, deadline=None)
    @given(
        xs=st.lists(
            st.fractions(min_value=Fraction(1, 1000), max_value=1000).filter(
                lambda v: v.denominator < 10**4
            ),
            min_size=1,
            max_size=4,
        ),
        places=places,
        mode=modes,
    )
    def test_geomean(self, xs, places, mode):
        names = {f"x{i}": x for i, x in enumerate(xs)}
        text = "geomean(" + ", ".join(names) + ")"
        product = Fraction(1)
        for x in xs:
            product *= x
        reference = _reference_root(product, len(xs))
        assert safe_eval(text, names, places=places, mode=mode) == _rounded(
            reference, places, mode
        )

    @settings(max_examples=100, deadline=None)
    @given(gni=st.integers(min_value=100, max_value=200_000), mode=modes)
    def test_a_compound_formula(self, gni, mode):
        text = "(ln(min(gni, 75000)) - ln(100)) / (ln(75000) - ln(100))"
        got = safe_eval(text, {"gni": gni}, places=3, mode=mode)
        low, high = _REF.ln(Decimal(100)), _REF.ln(Decimal(75000))
        reference = (_REF.ln(Decimal(min(gni, 75000))) - low) / (high - low)
        assert got == _rounded(reference, 3, mode)

    @settings(max_examples=100, deadline=None)
    @given(a=positive, b=positive, places=places)
    def test_monotone(self, a, b, places):
        low, high = min(a, b), max(a, b)
        for text in ("ln(x)", "sqrt(x)", "log10(x)", "geomean(x, 2)", "x ** (2 / 3)"):
            below = safe_eval(text, {"x": low}, places=places)
            above = safe_eval(text, {"x": high}, places=places)
            assert below <= above, text

    @settings(max_examples=100, deadline=None)
    @given(x=positive, digits=st.integers(min_value=5, max_value=60))
    def test_bounds_hold_the_true_value(self, x, digits):
        true = {
            "ln": _REF.ln(_dec(x)),
            "log10": _REF.log10(_dec(x)),
            "sqrt": _REF.sqrt(_dec(x)),
            "exp": _REF.exp(_dec(min(x, Fraction(600)))),
        }
        bounds = {
            "ln": ln_bounds(x, x, digits),
            "log10": log10_bounds(x, x, digits),
            "sqrt": sqrt_bounds(x, x, digits),
            "exp": exp_bounds(min(x, Fraction(600)), min(x, Fraction(600)), digits),
        }
        for name, (low, high) in bounds.items():
            assert low <= Fraction(true[name]) <= high, name
            assert high - low <= abs(Fraction(true[name])) / 10 ** (digits - 3) + Fraction(
                1, 10 ** (digits + 200)
            ), name


class TestBoundedForms:
    @settings(max_examples=100, deadline=None)
    @given(
        a=st.fractions(min_value=-100, max_value=100),
        b=st.fractions(min_value=Fraction(1, 100), max_value=100),
        c=st.fractions(min_value=-100, max_value=100),
    )
    def test_equal_to_the_exact_form_on_exact_values(self, a, b, c):
        """Each function's bounded form, given exact numbers, is its exact form."""
        low, high = min(a, c), max(a, c)
        calls = {
            "min": [a, b, c],
            "max": [a, b, c],
            "abs": [a],
            "clamp": [a, low, high],
            "floor": [a],
            "ceil": [a],
            "ratio": [a, b],
            "reverse_ratio": [b, a],
            "steps": [a, b],
            "checklist": [True, a, False, b],
        }
        for name, args in calls.items():
            function = FUNCTIONS[name]
            expected = Fraction(
                *function.impl(
                    *[(x.numerator, x.denominator) if isinstance(x, Fraction) else x for x in args]
                )
            )
            assert function.approx is not None
            assert function.approx(args, 30) == expected, name

    def test_bounded_forms_hold_the_value_of_an_approximation(self):
        root2 = Approx(Fraction(14142, 10000), Fraction(14143, 10000), "root2")
        assert FUNCTIONS["floor"].approx([root2], 30) == 1
        ratio = FUNCTIONS["ratio"].approx([root2, Fraction(2)], 30)
        assert isinstance(ratio, Approx)
        assert ratio.lo <= Fraction(7071, 10000) <= ratio.hi


RULES = """
[scheme]
id = "income"
title = "Income index"
max = 1
[rounding]
indicator = 3
total = 3
[[bands]]
label = "all"
min = 0
max = 1
[inputs.gni]
[indicators.income]
weight = 1
formula = "ln(min(gni, 75000) / 100) / ln(750)"
"""


class TestInTheEngine:
    def test_scored_correctly_rounded_and_explained(self):
        compiled = perfrules.compile_scheme(perfrules.loads_scheme(RULES, name="income.toml"))
        result = compiled.evaluate(perfrules.loads_facts("[shared]\ngni = 12345\n"))
        assert result.total == Decimal("0.727")
        trace = json.loads(result.trace.to_json())
        leaf = trace["root"]["children"][0]
        assert [n["kind"] for n in leaf["notes"]] == ["approximate"]
        assert int(leaf["notes"][0]["params"]["digits"]) >= 30
        steps = {s["expr"]: s for s in leaf["steps"]}
        assert steps["ln(750)"]["value"].startswith("6.62007320653035612461475535")
        assert steps["ln(750)"]["approximate"] >= 28
        assert "approximate" not in steps["min(gni, 75000)"]

    def test_exact_units_take_the_fast_path(self):
        compiled = perfrules.compile_scheme(perfrules.loads_scheme(RULES, name="income.toml"))
        assert compiled.evaluate(perfrules.loads_facts("[shared]\ngni = 100\n")).total == 0
        assert compiled.evaluate(perfrules.loads_facts("[shared]\ngni = 80000\n")).total == 1

    def test_out_of_range_and_clamped(self):
        compiled = perfrules.compile_scheme(perfrules.loads_scheme(RULES, name="income.toml"))
        with pytest.raises(perfrules.errors.FactsError) as info:
            compiled.evaluate(perfrules.loads_facts("[shared]\ngni = 50\n"))
        assert [d.code for d in info.value.diagnostics] == ["PR501"]
        assert "≈-0.104703" in str(info.value)
        clamped = perfrules.compile_scheme(
            perfrules.loads_scheme(RULES + "clamp = true\n", name="income.toml")
        )
        result = clamped.evaluate(perfrules.loads_facts("[shared]\ngni = 50\n"))
        assert result.total == 0
        kinds = [
            n["kind"] for n in json.loads(result.trace.to_json())["root"]["children"][0]["notes"]
        ]
        assert kinds == ["approximate", "clamped"]

    def test_an_unrounded_irrational_row_is_refused_at_load(self):
        with pytest.raises(RuleFileError) as info:
            perfrules.loads_scheme(
                RULES.replace("indicator = 3", 'indicator = "none"'), name="income.toml"
            )
        assert [d.code for d in info.value.diagnostics] == ["PR237"]
        assert info.value.diagnostics[0].line == 16

    def test_every_shape_gives_the_same_digits(self):
        pa = pytest.importorskip("pyarrow")
        compiled = perfrules.compile_scheme(perfrules.loads_scheme(RULES, name="income.toml"))
        gnis = ["100", "150", "999", "12345", "74999", "75000", "90000"]
        table = perfrules.score_table(compiled, pa.table({"shared.gni": gnis})).to_pylist()
        for gni, row in zip(gnis, table, strict=True):
            alone = compiled.evaluate(perfrules.loads_facts(f"[shared]\ngni = {gni}\n"))
            assert Decimal(str(row["total"])) == alone.total, gni
