"""Facts are read by one strict grammar: what it cannot read is a located error, not a guess."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import perfrules
from conftest import SEED
from perfrules._numbers import NumberFormatError, parse_fact
from perfrules.errors import FactsError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("80%", Fraction(4, 5)),
        ("4.8", Fraction(24, 5)),
        ("70/88", Fraction(35, 44)),
        ("1,234.5", Fraction(2469, 2)),
        ("70项", Fraction(70)),
        ("12.5万元", Fraction(25, 2)),
        ("≥90%", Fraction(9, 10)),
        ("１２％", Fraction(3, 25)),
        ("12.5‰", Fraction(1, 80)),
    ],
)
def test_the_grammar_reads_what_people_write(text, value):
    assert parse_fact(text) == value


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("0,93", "0.93"),
        ("93,5%", "93.5%"),
        ("2*3", ""),
        ("0x10", ""),
        ("½", "1/2"),
        ("1,23", "1.23"),
    ],
)
def test_what_it_cannot_read_is_refused_with_a_suggestion(text, suggestion):
    with pytest.raises(NumberFormatError) as info:
        parse_fact(text)
    assert info.value.suggestion == suggestion


def test_a_misread_fact_is_a_located_error_with_a_hint(seed_compiled, tmp_path):
    facts = (SEED / "facts.toml").read_text(encoding="utf-8")
    path = tmp_path / "facts.toml"
    path.write_text(facts.replace('"93%"', '"0,93"', 1), encoding="utf-8")
    with pytest.raises(FactsError) as info:
        seed_compiled.evaluate(perfrules.load_facts(path))
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "PR402"
    assert diagnostic.line > 0
    assert "0.93" in diagnostic.hint_text("en")


@pytest.mark.parametrize("word", ["否", "no", "false", "0", ""])
def test_na_false_words_keep_the_indicator(seed_compiled, word):
    facts = perfrules.load_facts(SEED / "facts.toml")
    data = {"indicators": {k: dict(v) for k, v in facts.indicators.items()}}
    data["indicators"]["群众满意度"]["na"] = word
    assert str(seed_compiled.evaluate(data).total) == "89.25"


def test_na_with_a_reason_excludes_the_indicator(seed_compiled):
    facts = perfrules.load_facts(SEED / "facts.toml")
    data = {"indicators": {k: dict(v) for k, v in facts.indicators.items()}}
    data["indicators"]["群众满意度"]["na"] = "本年度未开展满意度调查"
    result = seed_compiled.evaluate(data)
    assert result.scores["群众满意度"] is None
    assert str(result.total) == "89.05"  # (89.25 - 4.65) of 95 applicable points, x 100/95


@given(
    st.decimals(allow_nan=True, allow_infinity=True)
    | st.builds(
        lambda digits, exponent, sign: Decimal((sign, tuple(digits), exponent)),
        st.lists(st.integers(0, 9), min_size=1, max_size=40),
        st.integers(-40, 40),
        st.integers(0, 1),
    )
)
@example(Decimal("1" + "0" * 30))  # 31 characters, too large
@example(Decimal("-" + "9" * 30))  # 31 characters, the largest magnitude allowed
@example(Decimal("1." + "0" * 29))  # 31 characters, 30 digits
@example(Decimal("0." + "0" * 29 + "1"))  # 30 places
@example(Decimal("NaN"))
def test_a_decimal_fact_is_read_as_the_general_grammar_reads_it(value):
    # The scorer reads a Decimal straight from its digits (its pair is not reduced: no gcd,
    # no Fraction); it must refuse and accept exactly what decimal_pair does, and give the
    # same value.
    from perfrules._numbers import decimal_pair
    from perfrules.facts._values import number_pair

    try:
        expected = Fraction(*decimal_pair(value))
    except NumberFormatError:
        expected = None
    pair = number_pair(value)
    assert (None if pair is None else Fraction(*pair)) == expected
    if pair is not None:
        assert pair[1] > 0
