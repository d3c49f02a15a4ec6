"""The vocabulary of fact values: numbers, conditions, "not applicable", and their text.

One place decides how a fact value is read. :func:`number_pair` is the fast reading used
while scoring (cached, returns ``None`` for anything but a plain number); the engine's
general path reads everything else and reports what it cannot read.
"""

from __future__ import annotations

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
    "DECIMAL_PAIRS",
    "FALSE_WORDS",
    "NA_WORDS",
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


def _text_pair(text: str) -> tuple[int, int] | None:
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        try:
            num, den = decimal_pair(Decimal(plain[1]))
        except NumberFormatError:
            return None
        if plain[2]:
            den *= 100
        # The general reading's limits (parse_number): refuse what it refuses.
        if den >= MAX_MAGNITUDE or abs(num) >= MAX_MAGNITUDE * den:
            return None
        return num, den
    if is_na_word(text):
        return None
    try:
        value = parse_fact(text)
    except NumberFormatError:
        return None
    return value.numerator, value.denominator


def _decimal_text_pair(text: str) -> tuple[int, int] | None:
    dec = Decimal(text)
    if len(text) <= 31 and "E" not in text:
        # Written in at most 31 characters without an exponent: at most 30 digits and 30
        # places, so only the magnitude (and NaN, Infinity) can fail decimal_pair's limits.
        if not dec.is_finite() or dec.adjusted() >= 30:
            return None
        return dec.as_integer_ratio()
    try:
        return decimal_pair(dec)
    except NumberFormatError:
        return None


#: Plain number facts by text, and Decimals by their text (``0.5`` and ``0.50`` are read
#: alike but shown as given); read directly by the generated scorer: ``TEXT_PAIRS[text]``.
TEXT_PAIRS: Final = Memo(_text_pair, 4096)
DECIMAL_PAIRS: Final = Memo(_decimal_text_pair, 4096)


_MAX_DENOMINATOR: Final = MAX_MAGNITUDE**2


def number_pair(raw: object) -> tuple[int, int] | None:
    """A plain number fact as ``(numerator, denominator)``, or ``None``.

    ``None`` means "read it the long way": text that is not a number or says not
    applicable, a bool, a float, a table, a value out of range. A ``Fraction`` is a cohort
    value the engine computed, taken as it is. Text and Decimals are
    remembered (facts repeat the same few values, such as ``"80%"``).
    """
    kind = raw.__class__
    if kind is str:
        pair: tuple[int, int] | None = TEXT_PAIRS[raw]
        return pair
    if kind is Decimal:
        decimal_pair_: tuple[int, int] | None = DECIMAL_PAIRS[str(raw)]
        return decimal_pair_
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
