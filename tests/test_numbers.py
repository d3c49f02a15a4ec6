"""Exact reading, rounding and writing of numbers."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfrules._numbers import (
    NumberFormatError,
    format_number,
    parse_number,
    round_fraction,
    to_fraction,
)


class TestParseNumber:
    @pytest.mark.parametrize(
        ("text", "value", "comparator", "unit"),
        [
            ("80%", Fraction(4, 5), None, ""),
            ("4.8", Fraction(24, 5), None, ""),
            ("70/88", Fraction(35, 44), None, ""),
            ("≥90%", Fraction(9, 10), ">=", ""),
            ("≤5%", Fraction(1, 20), "<=", ""),
            ("70项", Fraction(70), None, "项"),
            ("1,234.5万元", Fraction(24690, 20), None, "万元"),
            ("８５％", Fraction(17, 20), None, ""),
            ("−3", Fraction(-3), None, ""),
            ("5‰", Fraction(1, 200), None, ""),
        ],
    )
    def test_reads_what_policy_staff_write(self, text, value, comparator, unit):
        parsed = parse_number(text)
        assert parsed.value == value
        assert parsed.comparator == comparator
        assert parsed.unit == unit

    @pytest.mark.parametrize("text", ["", "abc", "显著提升", "1/0", "%"])
    def test_refuses_text_that_is_not_a_number(self, text):
        with pytest.raises(NumberFormatError):
            parse_number(text)

    def test_refuses_binary_floats(self):
        with pytest.raises(NumberFormatError) as info:
            to_fraction(0.1)
        assert info.value.reason == "float"

    @pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("1E+40")])
    def test_refuses_non_finite_and_huge_decimals(self, value):
        with pytest.raises(NumberFormatError):
            to_fraction(value)

    def test_refuses_bools(self):
        with pytest.raises(NumberFormatError):
            to_fraction(True)


class TestRounding:
    def test_exact_tie_rounds_half_up(self):
        # 6 * 7/48 is exactly 0.875; Decimal division-first would give 0.87.
        assert round_fraction(Fraction(6) * Fraction(7, 48), 2) == Fraction(88, 100)

    def test_design_vectors(self):
        assert round_fraction(5 * Fraction(853, 1000), 2) == Fraction(427, 100)
        assert round_fraction(6 * Fraction(70, 88), 2) == Fraction(477, 100)

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [("half_up", "4.27"), ("half_even", "4.26"), ("down", "4.26"), ("up", "4.27")],
    )
    def test_modes_on_a_tie(self, mode, expected):
        assert round_fraction(Fraction(4265, 1000), 2, mode) == Fraction(Decimal(expected))

    def test_negative_ties_round_away_from_zero_under_half_up(self):
        assert round_fraction(Fraction(-4265, 1000), 2) == Fraction(-427, 100)

    def test_unknown_mode_is_refused(self):
        with pytest.raises(ValueError, match="unknown rounding mode"):
            round_fraction(Fraction(1, 3), 2, "sideways")

    @given(
        st.fractions(min_value=-1000, max_value=1000, max_denominator=10**6),
        st.integers(0, 6),
        st.sampled_from(["half_up", "half_even", "down", "up"]),
    )
    def test_matches_decimal_quantize(self, value, places, mode):
        from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, localcontext

        modes = {
            "half_up": ROUND_HALF_UP,
            "half_even": ROUND_HALF_EVEN,
            "down": ROUND_DOWN,
            "up": ROUND_UP,
        }
        with localcontext() as ctx:
            ctx.prec = 200
            exact = Decimal(value.numerator) / Decimal(value.denominator)
            expected = exact.quantize(Decimal(1).scaleb(-places), rounding=modes[mode])
        assert round_fraction(value, places, mode) == Fraction(expected)


class TestFormat:
    def test_places_are_padded(self):
        assert format_number(Fraction(24, 5), 2) == "4.80"
        assert format_number(Fraction(89), 0) == "89"

    def test_unrounded_values_keep_their_digits(self):
        assert format_number(Fraction(105, 22), 2) == "4.772727272727272727272727273"
        assert format_number(Fraction(1, 8)) == "0.125"
        assert format_number(Fraction(-1, 2)) == "-0.5"


def test_the_quick_reading_of_plain_numbers_agrees_with_the_grammar():
    from fractions import Fraction

    from perfrules._numbers import NumberFormatError, parse_number
    from perfrules.facts._values import _text_pair

    texts = [
        "80%",
        "4.8",
        " 95.5 % ",
        "-3",
        "0",
        "1" * 30,
        "1" * 31,
        "0." + "0" * 29 + "1%",
        "0." + "0" * 31 + "1",
        "123456789012345678901234567890.5",
        "7%",
        "+2.50",
        "0." + "0" * 27 + "1%",
        "0." + "0" * 28 + "1%",
        "0." + "0" * 27 + "10%",
        "1" * 30 + ".5",
        "0" * 10 + "1" * 30,
        "-0.000%",
    ]
    for text in texts:
        try:
            expected = parse_number(text).value
        except NumberFormatError:
            expected = None
        pair = _text_pair(text)
        got = None if pair is None else Fraction(*pair)
        assert got == expected, text


@given(
    num=st.integers(-(10**45), 10**45).filter(bool),
    den=st.integers(1, 10**45),
)
def test_repeating_values_are_written_as_decimal_division_at_28_digits_would(num, den):
    from decimal import ROUND_HALF_EVEN, Context

    from perfrules._numbers import _format_number, is_terminating, to_decimal

    value = Fraction(num, den)
    if is_terminating(value):
        return
    expected = Context(prec=28, rounding=ROUND_HALF_EVEN).divide(
        Decimal(value.numerator), Decimal(value.denominator)
    )
    assert str(to_decimal(value)) == str(expected)
    assert _format_number(value) == format(expected, "f")


def test_an_application_decimal_context_does_not_change_a_trace():
    from decimal import ROUND_DOWN, localcontext

    from perfrules._numbers import _format_number, to_decimal

    with localcontext() as ctx:  # an application's own context, changed
        ctx.rounding = ROUND_DOWN
        ctx.prec = 5
        assert _format_number(Fraction(2, 3)) == "0.6666666666666666666666666667"
        assert str(to_decimal(Fraction(-35, 44))) == "-0.7954545454545454545454545455"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Fraction(35, 44), "0.795454…"),
        (Fraction(-1, 3), "-0.333333…"),
        (Fraction(7, 8), "0.875"),
        (Fraction(60000001, 3000000), "20…"),  # 20.0000003…: not "2…"
        (Fraction(1, 30000000), "0…"),  # too small for six places: not "…"
        (Fraction(-1, 30000000), "-0…"),
        (Fraction(1000001, 10**6), "1.000001"),
    ],
)
def test_the_short_form_cuts_at_six_places_and_keeps_the_whole_part(value, shown):
    from perfrules._numbers import format_short

    assert format_short(value) == shown


@given(num=st.integers(-(10**12), 10**12), den=st.integers(1, 10**9))
def test_the_short_form_is_the_value_or_the_value_cut_toward_zero(num, den):
    from perfrules._numbers import format_short

    value = Fraction(num, den)
    text = format_short(value)
    if not text.endswith("…"):
        assert Fraction(text) == value
        return
    body = text[:-1]
    cut = Fraction(abs(value.numerator) * 10**6 // value.denominator, 10**6)
    assert Fraction(body) == (cut if num >= 0 else -cut)
    assert cut != abs(value)  # "…" only when digits were cut
    assert not body.endswith(".")
    assert not ("." in body and body.endswith("0"))


@given(
    num=st.integers(-(10**40), 10**40),
    den=st.integers(1, 10**30),
    places=st.none() | st.integers(0, 6),
)
def test_numbers_are_written_the_same_from_a_pair_and_from_a_fraction(num, den, places):
    from perfrules._numbers import format_pair

    value = Fraction(num, den)
    text = format_pair(num, den, places)  # the pair as the record holds it: not reduced
    assert text == format_number(value, places)
    if places is not None and (value * 10**places).denominator == 1:
        with localcontext() as context:
            context.prec = 100
            exact = Decimal(value.numerator) / value.denominator
        assert text == format(exact, f".{places}f")


@given(
    num=st.integers(-(10**40), 10**40),
    den=st.integers(1, 10**40),
)
def test_the_writers_number_texts_are_the_memoised_ones(num, den):
    # The trace writer writes values each time (value_texts, shown_text, decimal_text) and
    # makes Fractions directly (exact_fraction); each must be what the general functions give.
    from perfrules._numbers import (
        _format_number,
        decimal_text,
        exact_fraction,
        repeating_text,
        shown_text,
        value_texts,
    )
    from perfrules.expressions import shown_value

    value = Fraction(num, den)
    made = exact_fraction(num, den)
    assert made == value
    assert (made.numerator, made.denominator) == (value.numerator, value.denominator)
    assert hash(made) == hash(value)
    text, exact = value_texts(num, den)
    assert text == _format_number(value)
    assert exact == repeating_text(num, den)
    assert shown_text(num, den, text, exact) == shown_value(value)
    for places in (0, 2, 6):
        assert decimal_text(num, den, places) == _format_number(value, places)
