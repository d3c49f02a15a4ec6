"""The vocabulary of fact values: numbers, conditions, "not applicable", and their text.

One place decides how a fact value is read. :func:`number_pair` is the fast reading used
while scoring (cached, returns ``None`` for anything but a plain number); the engine's
general path reads everything else and reports what it cannot read.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from perfrules._numbers import (
    MAX_MAGNITUDE,
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
    "UNREAD",
    "is_na_word",
    "marks_not_applicable",
    "number_pair",
    "text_of",
    "to_bool",
]

NA_WORDS: Final = frozenset({"n/a", "na", "不适用", "不涉及", "无此项"})
TRUE_WORDS: Final = frozenset({"true", "yes", "y", "是", "有", "✓", "√", "1", "符合", "满足"})
FALSE_WORDS: Final = frozenset({"false", "no", "n", "否", "无", "×", "✗", "0", "不符合", "不满足"})

_CACHE_SIZE: Final = 4096
_TEXT_CACHE: dict[str, tuple[int, int] | None] = {}
_DECIMAL_CACHE: dict[str, tuple[int, int] | None] = {}
_UNSET: Final[Any] = object()
#: The text cache of :func:`number_pair`, read directly by the generated scorer:
#: ``TEXT_PAIRS.get(text, UNREAD)`` is the pair, ``None``, or ``UNREAD`` (call it).
TEXT_PAIRS: Final = _TEXT_CACHE
#: The same for Decimals, keyed by ``str(value)`` (``0.5`` and ``0.50`` are read alike but
#: shown as given).
DECIMAL_PAIRS: Final = _DECIMAL_CACHE
UNREAD: Final = _UNSET


def is_na_word(text: str) -> bool:
    """Whether *text* marks a value not applicable (``N/A``, ``不适用``, ...)."""
    return normalise_text(text).strip().lower() in NA_WORDS


def _remember(
    cache: dict[str, tuple[int, int] | None], key: str, value: tuple[int, int] | None
) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()  # a cache, not a store: starting again is cheap and bounded
    cache[key] = value


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


def number_pair(raw: object) -> tuple[int, int] | None:
    """A plain number fact as ``(numerator, denominator)``, or ``None``.

    ``None`` means "read it the long way": text that is not a number or says not
    applicable, a bool, a float, a table, a value out of range. Text and Decimals are
    cached (facts repeat the same few values, such as ``"80%"``).
    """
    kind = raw.__class__
    if kind is str:
        text: str = raw  # type: ignore[assignment]
        # .get, not "in" then [...]: another thread may clear the cache in between.
        cached = _TEXT_CACHE.get(text, _UNSET)
        if cached is not _UNSET:
            return cached  # type: ignore[no-any-return]
        pair = _text_pair(text)
        _remember(_TEXT_CACHE, text, pair)
        return pair
    if kind is Decimal:
        key = str(raw)
        cached = _DECIMAL_CACHE.get(key, _UNSET)
        if cached is not _UNSET:
            return cached  # type: ignore[no-any-return]
        try:
            pair = decimal_pair(raw)  # type: ignore[arg-type]
        except NumberFormatError:
            pair = None
        _remember(_DECIMAL_CACHE, key, pair)
        return pair
    if kind is int and -MAX_MAGNITUDE < raw < MAX_MAGNITUDE:  # type: ignore[operator]
        return raw, 1  # type: ignore[return-value]
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
