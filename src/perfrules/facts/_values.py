"""The vocabulary of fact values: numbers, conditions, "not applicable", and their text.

One place decides how a fact value is read. :func:`number_pair` is the fast reading used
while scoring (cached, returns ``None`` for anything but a plain number); the engine's
general path reads everything else and reports what it cannot read.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Final

from perfrules._numbers import (
    MAX_MAGNITUDE,
    Memo,
    NumberFormatError,
    decimal_pair,
    format_number,
    normalise_text,
    parse_fact,
)

__all__ = [
    "DECIMAL_PAIR",
    "FALSE_WORDS",
    "NA_WORDS",
    "POWERS_OF_TEN",
    "TEXT_PAIRS",
    "TRUE_WORDS",
    "float_fact",
    "is_na_word",
    "marks_not_applicable",
    "number_pair",
    "text_of",
    "to_bool",
]


def float_fact(value: float) -> Decimal | None:  # float-ok: a spreadsheet or frame cell
    """A binary float cell as the decimal a person typed and sees: its shortest text.

    ``0.9`` is read as 9/10 (not 0.900000000000000022), ``5e-05`` as 0.00005, exactly, at
    any magnitude; NaN is an empty cell (``None``); infinity stays infinite and is refused
    as a number where it is read.
    """
    if value != value:  # noqa: PLR0124 - NaN
        return None
    return Decimal(repr(value))


NA_WORDS: Final = frozenset({"n/a", "na", "不适用", "不涉及", "无此项"})
TRUE_WORDS: Final = frozenset({"true", "yes", "y", "是", "有", "✓", "√", "1", "符合", "满足"})
FALSE_WORDS: Final = frozenset({"false", "no", "n", "否", "无", "×", "✗", "0", "不符合", "不满足"})


def is_na_word(text: str) -> bool:
    """Whether *text* marks a value not applicable (``N/A``, ``不适用``, ...)."""
    return normalise_text(text).strip().lower() in NA_WORDS


# The common case, read without the general grammar: 80%, 4.8, 95.5 %.
_PLAIN: Final = re.compile(r"\s*([+-]?\d{1,30}(?:\.\d{1,30})?)\s*(%?)\s*")
#: 10**n for the places a fact may have (at most 30); the generated scorer reads a
#: Decimal's digits over these as :func:`_decimal_pair` does.
POWERS_OF_TEN: Final = tuple(10**n for n in range(31))


def _digits_pair(digits: str) -> tuple[int, int]:
    """``[+-]digits[.digits]`` as (its digits as one integer, 10**places): no Decimal made.

    Raises ``ValueError`` for anything else (an exponent, ``NaN``) and ``IndexError`` for
    more than 30 places.
    """
    point = digits.find(".")
    if point < 0:
        return int(digits), 1
    return int(digits[:point] + digits[point + 1 :]), POWERS_OF_TEN[len(digits) - point - 1]


def _text_pair(text: str) -> tuple[int, int] | None:
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        num, den = _digits_pair(plain[1])
        if not -MAX_MAGNITUDE < num < MAX_MAGNITUDE:  # more than 30 significant digits
            return None
        if plain[2]:
            den *= 100
            if den >= MAX_MAGNITUDE:  # the general reading's limit is on the lowest terms
                common = math.gcd(num, den)
                num, den = num // common, den // common
                if den >= MAX_MAGNITUDE:
                    return None
        return num, den
    if is_na_word(text):
        return None
    try:
        value = parse_fact(text)
    except NumberFormatError:
        return None
    return value.numerator, value.denominator


def _decimal_pair(value: Decimal) -> tuple[int, int] | None:
    """A Decimal fact as (its digits, 10**places), as :func:`decimal_pair` accepts it.

    Written from its text (the digits as stored, no second parse, no gcd): at most 30
    significant digits and 30 places, so a magnitude below 10**30. Anything the plain text
    does not show (an exponent, NaN, infinity) goes to :func:`decimal_pair`.
    """
    try:
        num, den = _digits_pair(str(value))
    except (ValueError, IndexError):
        try:
            return decimal_pair(value)
        except NumberFormatError:
            return None
    if -MAX_MAGNITUDE < num < MAX_MAGNITUDE:
        return num, den
    return None


#: Plain number facts by text (facts repeat the same few texts, such as ``"80%"``); read
#: directly by the generated scorer: ``TEXT_PAIRS[text]``.
TEXT_PAIRS: Final = Memo(_text_pair, 4096)
#: A Decimal fact's pair (the generated scorer calls it directly).
DECIMAL_PAIR: Final = _decimal_pair


_MAX_DENOMINATOR: Final = MAX_MAGNITUDE**2


def number_pair(raw: object) -> tuple[int, int] | None:
    """A plain number fact as ``(numerator, denominator)``, or ``None``.

    ``None`` means "read it the long way": text that is not a number or says not
    applicable, a bool, a float, a table, a value out of range. A ``Fraction`` is a cohort
    value the engine computed, taken as it is. The pair is not necessarily in lowest terms:
    a Decimal or a text is read as its digits over a power of ten (``0.50`` is 50/100),
    without a ``Fraction``. Texts are remembered (facts repeat the same few, ``"80%"``).
    """
    kind = raw.__class__
    if kind is str:
        pair: tuple[int, int] | None = TEXT_PAIRS[raw]
        return pair
    if kind is Decimal:
        return _decimal_pair(raw)  # type: ignore[arg-type]
    if kind is int and -MAX_MAGNITUDE < raw < MAX_MAGNITUDE:  # type: ignore[operator]
        return raw, 1  # type: ignore[return-value]
    if kind is Fraction:  # a cohort value, such as a mean: same magnitude, longer denominator
        num, den = raw.numerator, raw.denominator  # type: ignore[attr-defined]
        if -MAX_MAGNITUDE * den < num < MAX_MAGNITUDE * den and den < _MAX_DENOMINATOR:
            return num, den
    return None


def marks_not_applicable(mark: object) -> bool:
    """Whether an indicator's ``na`` says "not applicable".

    ``true``, 是/yes, or a reason ("本项目不以经济效益为目标") do; ``false``, 否/no, ``0``
    and an empty text do not (``na = "否"`` means "it is applicable", not the opposite).
    """
    if isinstance(mark, bool):
        return mark
    if isinstance(mark, str):
        return bool(mark.strip()) and to_bool(mark) is not False
    return False


def to_bool(raw: object) -> bool | None:
    """A condition fact: a bool, or one of the documented words; ``None`` otherwise."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = normalise_text(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def text_of(value: object) -> str:
    """How a value is shown in a trace (``true``, ``0.8``, the text as given)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return format_number(value)
    return str(value)
