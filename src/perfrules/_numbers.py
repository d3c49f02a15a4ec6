"""Exact numbers: reading them, rounding them, writing them.

Scores are computed on :class:`fractions.Fraction` so that the value before each declared
rounding is the exact mathematical value (``6 * (7/48)`` is exactly ``0.875`` and rounds
half-up to ``0.88``). Rounding happens only here, only where a scheme declares it.

No binary float is ever accepted: a float is refused with a message that says how to give
the number instead.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, Final, Literal

RoundingModeName = Literal["half_up", "half_even", "down", "up"]

#: Largest magnitude accepted for a number read from a rule file or facts (exclusive).
MAX_MAGNITUDE: Final = 10**30
#: Most significant digits accepted in one number.
MAX_DIGITS: Final = 30
#: Most decimal places accepted in one number.
MAX_PLACES: Final = 30

_ZERO = Fraction(0)


class Memo(dict[Any, Any]):
    """A bounded memo of a pure function: ``memo[key]`` computes ``compute(key)`` once.

    Looking a key up is a plain dictionary lookup; a miss calls *compute*. When *size*
    entries are held the memo starts again (a cache, not a store: cheap and bounded); a
    size of 0 stores nothing (the benchmark measures with every memo off this way).
    Safe to share between threads: the worst a race does is compute a value twice.
    """

    __slots__ = ("compute", "size")

    def __init__(self, compute: Callable[[Any], Any], size: int = 8192) -> None:
        """Remember *compute*'s results, at most *size* at a time."""
        super().__init__()
        self.compute = compute
        self.size = size

    def __missing__(self, key: Any) -> Any:
        """Compute, remember and return the value of *key*."""
        value = self.compute(key)
        if len(self) >= self.size:  # as remember(), without a second call per miss
            self.clear()
            if not self.size:
                return value
        self[key] = value
        return value

    def remember(self, key: Any, value: Any) -> None:
        """Keep *value* for *key* (for values computed elsewhere)."""
        if len(self) >= self.size:
            self.clear()
            if not self.size:
                return
        self[key] = value


class NumberFormatError(ValueError):
    """A value could not be read as an exact number; ``reason`` is a stable key."""

    def __init__(self, reason: str, detail: str = "", suggestion: str = "") -> None:
        """Keep the reason key, a detail, and the number the text probably meant.

        Reasons: ``float``, ``syntax``, ``range``, ``digits``, ``places``, ``zero``, ``type``,
        ``nonfinite``; the suggestion is ``0.93`` for ``0,93``, or empty.
        """
        self.reason = reason
        self.detail = detail
        self.suggestion = suggestion
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """A number read from text such as ``≥90%`` or ``70项``.

    Attributes:
        value: the exact value (``90%`` is ``9/10``).
        comparator: ``>=``, ``<=``, ``>``, ``<``, ``=`` when the text carried one.
        unit: trailing text after the number (``项``, ``次``, ``万元``), or ``""``.
        percent: whether the text was a percentage.
    """

    value: Fraction
    comparator: str | None = None
    unit: str = ""
    percent: bool = False


_COMPARATORS: Final = {
    "≥": ">=",
    ">=": ">=",
    "＞": ">",
    ">": ">",
    "≤": "<=",
    "<=": "<=",
    "＜": "<",
    "<": "<",
    "=": "=",
    "＝": "=",
    "﹦": "=",
    "==": "=",
}

_NUMBER_RE: Final = re.compile(
    r"""^\s*
    (?P<cmp>≥|≤|>=|<=|==|=|>|<)?\s*
    (?P<num>[+-]?(?:\d[\d,_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    (?:\s*/\s*(?P<den>\d[\d,_]*(?:\.\d*)?))?
    \s*(?P<pct>%|‰|百分比|个百分点)?
    \s*(?P<unit>[^\d\s%‰.,/+\-=<>≥≤].*?)?\s*$""",
    re.VERBOSE,
)


#: Commas that separate thousands (1,234,567.5): any other comma in a number is a decimal
#: comma (0,95) or a list (1,2,3), neither of which is read by dropping it.
_GROUPED: Final = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def normalise_text(text: str) -> str:
    """Fold fullwidth digits and signs (from Chinese input methods) to ASCII."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("−", "-").replace("－", "-").replace("﹣", "-")


def _decimal_text_to_fraction(text: str) -> Fraction:
    cleaned = text.replace(",", "").replace("_", "")
    try:
        dec = Decimal(cleaned)
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise NumberFormatError("syntax", text) from exc
    return decimal_to_fraction(dec)


def decimal_pair(dec: Decimal) -> tuple[int, int]:
    """A finite, in-range Decimal as ``(numerator, denominator)`` in lowest terms."""
    if not dec.is_finite():
        raise NumberFormatError("nonfinite", str(dec))
    if dec.adjusted() >= 30:
        raise NumberFormatError("range", str(dec))
    _, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite decimals have int exponents
    if len(digits) > MAX_DIGITS:  # a Decimal's digits never start with a zero
        raise NumberFormatError("digits", str(dec))
    if exponent < -MAX_PLACES and dec:
        raise NumberFormatError("places", str(dec))
    return dec.as_integer_ratio()


def decimal_to_fraction(dec: Decimal) -> Fraction:
    """An exact Fraction for a finite, in-range Decimal."""
    return Fraction(*decimal_pair(dec))


def to_fraction(value: object, *, strict: bool = False) -> Fraction:
    """Convert an int, Decimal, Fraction or numeric string to an exact Fraction.

    Other integers (``numpy.int64``, any :class:`numbers.Integral`) are read as ``int``.

    Text is read by the strict grammar of facts (:func:`parse_fact`) with ``strict=True``,
    else like a target text (:func:`parse_number`).

    Raises:
        NumberFormatError: for floats (reason ``float``), bools and other types (``type``),
            unreadable text (``syntax``) and out-of-range values (``range``, ``digits``).
    """
    if isinstance(value, bool):
        raise NumberFormatError("type", repr(value))
    if isinstance(value, Fraction):
        _check_range(value, str(value))
        return value
    if isinstance(value, int):
        _check_range(Fraction(value), str(value))
        return Fraction(value)
    if isinstance(value, Decimal):
        return decimal_to_fraction(value)
    if isinstance(value, float):
        raise NumberFormatError("float", repr(value))
    if isinstance(value, str):
        return parse_fact(value) if strict else parse_number(value).value
    if isinstance(value, numbers.Integral):  # numpy's integers (a DataFrame's row): exact
        return to_fraction(operator.index(value))
    raise NumberFormatError("type", type(value).__name__)


def _check_range(value: Fraction, text: str) -> None:
    if abs(value.numerator) >= MAX_MAGNITUDE * value.denominator:
        raise NumberFormatError("range", text)
    if value.denominator >= MAX_MAGNITUDE:
        raise NumberFormatError("digits", text)


def parse_number(text: str) -> ParsedNumber:
    """Read a number as policy staff write it.

    Accepts ``80%``, ``4.8``, ``70/88``, ``≥90%``, ``70项``, ``1,234.5万元``, fullwidth digits.
    A comma must separate thousands: ``0,95`` is refused (suggesting ``0.95``), never 95.

    >>> parse_number("≥90%")
    ParsedNumber(value=Fraction(9, 10), comparator='>=', unit='', percent=True)
    >>> parse_number("70/88").value
    Fraction(35, 44)
    """
    folded = normalise_text(text)
    match = _NUMBER_RE.match(folded)
    if match is None:
        raise NumberFormatError("syntax", text)
    for part in ("num", "den"):
        written = match[part]
        if written is not None and "," in written and not _GROUPED.fullmatch(written):
            # 0,95 is a decimal comma, never 95: refused, with the likely number
            single = written.count(",") == 1 and "." not in written
            suggestion = (
                folded[: match.start(part)] + written.replace(",", ".") + folded[match.end(part) :]
                if single
                else ""
            )
            raise NumberFormatError("syntax", text, suggestion=suggestion.strip())
    value = _decimal_text_to_fraction(match["num"])
    if match["den"] is not None:
        den = _decimal_text_to_fraction(match["den"])
        if den == 0:
            raise NumberFormatError("zero", text)
        value /= den
    pct = match["pct"]
    if pct in ("%", "百分比", "个百分点"):
        value /= 100
    elif pct == "‰":
        value /= 1000
    _check_range(value, text)
    cmp = match["cmp"]
    return ParsedNumber(
        value=value,
        comparator=_COMPARATORS[cmp] if cmp else None,
        unit=(match["unit"] or "").strip(),
        percent=pct is not None,
    )


_POWERS: Final = tuple(10**n for n in range(31))


def _half_up(num: int, den: int) -> int:
    quotient, remainder = divmod(num, den)
    return quotient + (2 * remainder >= den)


def _half_even(num: int, den: int) -> int:
    quotient, remainder = divmod(num, den)
    twice = 2 * remainder
    # & and | rather than and/or: the same code rounds numpy arrays elementwise.
    return quotient + ((twice > den) | ((twice == den) & (quotient % 2 == 1)))


def _down(num: int, den: int) -> int:
    return num // den


def _up(num: int, den: int) -> int:
    return -(-num // den)


# The same four over one denominator shared by every element of a numpy array: a single
# floor division each (numpy divides an array by one integer several times faster than
# ``divmod``). ``2 * num + den`` must fit the array's integers (the caller's bound).
def _half_up_over(num: int, den: int) -> int:
    doubled = 2 * num  # a new array: the operations after it write in place
    doubled += den
    doubled //= 2 * den
    return doubled


def _half_even_over(num: int, den: int) -> int:
    doubled = 2 * num
    doubled += den
    quotient = doubled // (2 * den)
    # A tie (num / den ends in exactly .5) rounded up to an odd number goes back down.
    return quotient - ((quotient * (2 * den) == doubled) & (quotient % 2 == 1))


def _up_over(num: int, den: int) -> int:
    return (num + den - 1) // den


@dataclass(frozen=True, slots=True)
class RoundingMode:
    """One way of rounding, the only definition of it that perfrules has.

    Attributes:
        name: the key written in rule files (``rounding.mode``).
        en: how English output names it.
        zh: how Chinese output names it.
        audit_en: how an audit explains a published value rounded this way.
        audit_zh: the same in Chinese.
        decimal: the matching :mod:`decimal` rounding constant (for hand-written checks).
        magnitude: ``f(num, den)`` for ``num >= 0 < den``: the whole number ``num / den``
            rounds to. Negative values round their magnitude (ties away from zero). Written
            without branches, so it rounds numpy integer arrays elementwise too (the
            columnar scorer uses it).
        over: the same function where *den* is one integer shared by every element of an
            array: one floor division (or two operations more), for arrays whose
            ``2 * num + den`` fits their integers.
    """

    name: str
    en: str
    zh: str
    audit_en: str
    audit_zh: str
    decimal: str
    magnitude: Callable[[int, int], int]
    over: Callable[[int, int], int]

    def quotient(self, num: int, den: int) -> int:
        """``num / den`` (``den > 0``) rounded to a whole number in this mode."""
        if num < 0:
            return -self.magnitude(-num, den)
        return self.magnitude(num, den)

    def code(self, target: str, num: str, den: str) -> str:
        """Python statements setting *target* to ``num / den`` rounded (``num >= 0``).

        The generated scorer inlines these instead of calling :attr:`magnitude`; a test
        checks that both agree.
        """
        num, den = f"({num})", f"({den})"
        if self.name == "half_up":  # floor(num / den + 1/2), one division
            return f"{target} = (2 * {num} + {den}) // (2 * {den})"
        if self.name == "half_even":
            return (
                f"{target}, _r = divmod({num}, {den})\n"
                f"if 2 * _r > {den} or (2 * _r == {den} and {target} % 2 == 1): {target} += 1"
            )
        if self.name == "down":
            return f"{target} = {num} // {den}"
        return f"{target} = -(-{num} // {den})"


#: Every rounding mode, by the name rule files use; the first is the default.
ROUNDING: Final[dict[str, RoundingMode]] = {
    mode.name: mode
    for mode in (
        RoundingMode(
            "half_up",
            "half-up",
            "四舍五入",
            "rounded half-up",
            "四舍五入",
            "ROUND_HALF_UP",
            _half_up,
            _half_up_over,
        ),
        RoundingMode(
            "half_even",
            "half-even",
            "四舍六入五成双",
            "rounded half-even",
            "四舍六入五成双",
            "ROUND_HALF_EVEN",
            _half_even,
            _half_even_over,
        ),
        RoundingMode(
            "down", "down", "截尾", "truncated", "截尾（舍去）", "ROUND_DOWN", _down, _down
        ),
        RoundingMode("up", "up", "进一", "rounded up", "进一", "ROUND_UP", _up, _up_over),
    )
}
ROUNDING_MODES: Final[tuple[str, ...]] = tuple(ROUNDING)


# The grammar of a number in facts (docs/reference/rule-files.md, "Numbers in facts"):
#   [≥ ≤ > < =] [+-] digits [. digits] [% | ‰]    80%  4.8  -3  12.5‰  ≥90% (a target)
#   1,234,567.5                       thousands separated by commas, in groups of three
#   a/b                               70/88 (each side plain digits)
#   any of these followed by a unit   70项  12.5万元  (letters, no digits or operators)
_FACT_NUMBER: Final = re.compile(
    r"""\s*
    (?:≥|≤|>=|<=|==|=|>|<)?\s*
    (?P<num>[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)
    (?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?
    \s*(?P<pct>%|‰)?
    \s*(?P<unit>[^\W\d_][^\W\d]*)?\s*""",
    re.VERBOSE,
)
_DECIMAL_COMMA: Final = re.compile(r"^\s*([+-]?\d+),(\d+)\s*(%|‰)?\s*$")
#: A currency sign before an amount (¥ is also what ￥ folds to): the number without it.
_CURRENCY: Final = re.compile(r"^\s*(?:[¥$€£]|RMB|CNY|USD|US\$)\s*(.+?)\s*$", re.IGNORECASE)


def parse_fact(text: str) -> Fraction:
    """Read a number a unit's facts give, by the strict grammar above.

    Unlike :func:`parse_number` (for the target texts of rule files, which may hold any
    words), anything outside the grammar is refused rather than read in part:
    ``0,93`` (a decimal comma), ``2*3``, ``0x10``, ``½``. ``NumberFormatError.suggestion``
    proposes the likely number when there is one (``0.93``).

    >>> parse_fact("85.3%")
    Fraction(853, 1000)
    """
    folded = normalise_text(text)
    if "⁄" in folded:  # a vulgar fraction (½) folds to 1⁄2: say it as 1/2
        raise NumberFormatError("syntax", text, suggestion=folded.replace("⁄", "/"))
    match = _FACT_NUMBER.fullmatch(folded)
    if match is None:
        comma = _DECIMAL_COMMA.match(folded)
        suggestion = f"{comma[1]}.{comma[2]}{comma[3] or ''}" if comma else ""
        currency = _CURRENCY.match(folded)
        if currency is not None and _FACT_NUMBER.fullmatch(currency[1]):
            suggestion = currency[1]  # ￥5,000 is 5,000: the amount without its sign
        raise NumberFormatError("syntax", text, suggestion=suggestion)
    value = _decimal_text_to_fraction(match["num"])
    if match["den"] is not None:
        den = _decimal_text_to_fraction(match["den"])
        if den == 0:
            raise NumberFormatError("zero", text)
        value /= den
    if match["pct"] == "%":
        value /= 100
    elif match["pct"] == "‰":
        value /= 1000
    _check_range(value, text)
    return value


def round_fraction(value: Fraction, places: int, mode: str = "half_up") -> Fraction:
    """Round *value* to *places* decimal places, exactly, in *mode*.

    ``half_up`` is 四舍五入 (ties away from zero), ``half_even`` banker's rounding,
    ``down`` truncation toward zero, ``up`` away from zero.

    >>> round_fraction(Fraction(7, 8), 2)
    Fraction(22, 25)
    >>> round_fraction(Fraction(4265, 1000), 2)
    Fraction(427, 100)
    """
    if not 0 <= places < len(_POWERS):
        raise ValueError(f"places must be 0 to {len(_POWERS) - 1}, not {places}")
    rounding = ROUNDING.get(mode)
    if rounding is None:
        raise ValueError(f"unknown rounding mode {mode!r}")
    scale = _POWERS[places]
    if scale % value.denominator == 0:  # already at (or below) this many places
        return value
    quotient = rounding.quotient(value.numerator * scale, value.denominator)
    return Fraction(quotient, scale) if quotient else _ZERO


_NEW_OBJECT: Final = object.__new__
_FROM_COPRIME: Final = getattr(Fraction, "_from_coprime_ints", None)  # Python 3.12+


def exact_fraction(num: int, den: int) -> Fraction:
    """``Fraction(num, den)`` for ints with ``den > 0``, without its constructor's checks.

    Reduced by one gcd and made directly (``Fraction(num, den)`` costs about four times as
    much in Python code); equal to, and hashing as, ``Fraction(num, den)``.
    """
    common = math.gcd(num, den)
    if common != 1:
        num //= common
        den //= common
    if _FROM_COPRIME is not None:  # pragma: no cover - Python 3.12+
        made: Fraction = _FROM_COPRIME(num, den)
        return made
    value: Any = _NEW_OBJECT(Fraction)
    value._numerator = num  # noqa: SLF001 - the fields Fraction's own methods set
    value._denominator = den  # noqa: SLF001
    shared: Fraction = value
    return shared


_FRACTIONS: Final = Memo(lambda key: exact_fraction(*key))


def fraction(num: int, den: int) -> Fraction:
    """``Fraction(num, den)`` (``den > 0``), shared per pair: traces repeat a few values.

    Fractions are immutable, so sharing one object is safe.
    """
    key = (num, den)
    value: Fraction | None = _FRACTIONS.get(key)
    if value is None:  # made here: a miss through the memo costs two more calls
        value = exact_fraction(num, den)
        _FRACTIONS.remember(key, value)
    return value


def exact_sum(values: list[Fraction]) -> Fraction:
    """The exact sum, over a common denominator: one normalisation instead of one per term.

    >>> exact_sum([Fraction(48, 10), Fraction(477, 100), Fraction(1, 3)])
    Fraction(29803, 3000)
    """
    if not values:
        return _ZERO
    dens = [v.denominator for v in values]
    common = math.lcm(*dens)
    total = 0
    for value, den in zip(values, dens, strict=True):
        total += value.numerator * (common // den)
    return Fraction(total, common)


def is_terminating(value: Fraction) -> bool:
    """Whether *value* has a finite decimal expansion."""
    return _terminating_places(value.denominator) is not None


def to_decimal(value: Fraction) -> Decimal:
    """The exact Decimal of a terminating *value*; otherwise 28 significant digits."""
    if is_terminating(value):
        with localcontext() as ctx:
            ctx.prec = 1000
            return Decimal(value.numerator) / Decimal(value.denominator)
    sign, q, places = _significant(value.numerator, value.denominator)
    return Decimal((sign, tuple(map(int, str(q))), -places))


def from_decimal(value: Decimal) -> Fraction:
    """The value a Decimal written by :func:`to_decimal` stands for.

    A terminating value is exact as it is. A repeating one was cut to 28 significant
    digits: it is read back as the simplest fraction (denominator below 10**13) that
    :func:`to_decimal` writes as those very digits, when there is one (``0.3333…`` is 1/3);
    else as the digits themselves.
    """
    exact = Fraction(value)
    if len(value.as_tuple().digits) < _CUT_DIGITS or not value.is_finite():
        return exact
    candidate = exact.limit_denominator(10**13)
    if candidate != exact and to_decimal(candidate) == value:
        return candidate
    return exact


_CUT_DIGITS: Final = 28


def _significant(num: int, den: int, digits: int = 28) -> tuple[int, int, int]:
    """*num*/*den* (not 0) to *digits* significant digits, half-even: (sign, q, places).

    The value is ``(-1)**sign * q / 10**places`` with *q* of exactly *digits* digits: what
    ``Decimal(num) / Decimal(den)`` gives at precision *digits*, computed on integers, so an
    application that changed its own decimal context cannot change a score or a trace.
    """
    n = abs(num)
    if n >= den:
        exponent = len(str(n // den)) - 1  # 10**exponent <= n/den < 10**(exponent + 1)
    else:
        shift = len(str(den)) - len(str(n))
        if n * 10**shift < den:
            shift += 1
        exponent = -shift
    places = digits - 1 - exponent
    if places >= 0:
        divisor = den
        q, r = divmod(n * 10**places, divisor)
    else:
        divisor = den * 10**-places
        q, r = divmod(n, divisor)
    if 2 * r > divisor or (2 * r == divisor and q % 2):
        q += 1
    if q == 10**digits:  # 9.99…95 rounds up to the next power of ten
        q //= 10
        places -= 1
    return (1 if num < 0 else 0), q, places


def _significant_text(num: int, den: int) -> str:
    """:func:`_significant` written as ``format(decimal, "f")`` writes it."""
    sign, q, places = _significant(num, den)
    text = str(q)
    minus = "-" if sign else ""
    if places <= 0:
        return minus + text + "0" * -places
    whole = text[:-places] if places < len(text) else ""
    return f"{minus}{whole or '0'}.{text[-places:].rjust(places, '0')}"


def _terminating_places(den: int) -> int | None:
    """The decimal places of ``n/den`` in lowest terms, or ``None`` when it repeats."""
    places: int | None = _PLACES[den]  # denominators repeat: 100, 125000, 3, ...
    return places


_FIVES: Final = {5**n: n for n in range(1, 64)}  # den -> n for den = 5**n
_MANY_FIVES: Final = 5**63


def _places_of(den: int) -> int | None:
    twos = (den & -den).bit_length() - 1
    den >>= twos
    if den == 1:
        return twos
    fives = _FIVES.get(den)
    if fives is None:
        if den < _MANY_FIVES:  # not a power of five
            return None
        fives = 0
        while den % 5 == 0:
            den //= 5
            fives += 1
        if den != 1:
            return None
    return max(twos, fives)


def _pair_digits(num: int, den: int, places: int) -> str:
    """``num/den`` (with at most *places* decimals) written with exactly *places* decimals."""
    scaled = abs(num) * (_POWERS[places] if places < 31 else 10**places) // den
    sign = "-" if num < 0 else ""
    text = str(scaled)
    if places == 0:
        return sign + text
    text = text.rjust(places + 1, "0")
    return f"{sign}{text[:-places]}.{text[-places:]}"


def _format_pair(num: int, den: int, places: int | None) -> str:
    """:func:`format_number` of ``num/den`` (any sign, ``den > 0``, not necessarily reduced).

    On integers: no :class:`Fraction` is made (a trace formats every value it shows).
    """
    if places is not None and places >= 0:
        if places < 31 and den == _POWERS[places]:  # a rounded value: its digits as they are
            text = str(num)
            if not places:
                return text
            sign = ""
            if num < 0:
                sign = "-"
                text = text[1:]
            if len(text) <= places:
                text = text.rjust(places + 1, "0")
            return f"{sign}{text[:-places]}.{text[-places:]}"
        if num * 10**places % den == 0:
            return _pair_digits(num, den, places)
    common = math.gcd(num, den)
    if common != 1:
        num //= common
        den //= common
    exact = _terminating_places(den)
    if exact is not None:
        return _pair_digits(num, den, exact)
    return _significant_text(num, den)


def _format_short_pair(num: int, den: int, digits: int) -> str:
    """:func:`format_short` of ``num/den`` in lowest terms, on integers."""
    exact = _terminating_places(den)
    if exact is not None and exact <= digits:
        return _pair_digits(num, den, exact)
    # Truncated toward zero to *digits* decimals, trailing zeros dropped: 0.795454…,
    # 20.0000003 as 20…, a tiny value as 0… (or -0…): the exact value is shown elsewhere.
    truncated = _pair_digits(abs(num) * 10**digits // den, 10**digits, digits)
    whole, _, part = truncated.partition(".")
    part = part.rstrip("0")
    sign = "-" if num < 0 else ""
    return f"{sign}{whole}.{part}…" if part else f"{sign}{whole}…"


_PLACES: Final = Memo(_places_of)
_FORMATTED: Final = Memo(lambda key: _format_pair(key[0], key[1], key[2]))
_SHORT: Final = Memo(lambda key: _format_short_pair(key[0], key[1], 6))


def format_number(value: Fraction, places: int | None = None) -> str:
    """Write *value* as a decimal string (remembered per value: traces repeat a few).

    With *places*, a value already rounded to that many decimals is written with exactly
    that many (``4.80``); any other value, and any value without *places*, is written
    exactly when it terminates and with 28 significant digits when it repeats.

    >>> format_number(Fraction(24, 5), 2)
    '4.80'
    >>> format_number(Fraction(35, 44))
    '0.7954545454545454545454545455'
    """
    text: str = _FORMATTED[(value.numerator, value.denominator, places)]
    return text


def format_pair(num: int, den: int, places: int | None = None) -> str:
    """:func:`format_number` of ``num/den`` (``den > 0``), from the integers, remembered."""
    text: str = _FORMATTED[(num, den, places)]
    return text


def _format_number(value: Fraction, places: int | None = None) -> str:
    return _format_pair(value.numerator, value.denominator, places)


def format_short(value: Fraction, digits: int = 6) -> str:
    """A short display form: exact when it has few decimals, else ``0.795454…``."""
    if digits == 6:
        text: str = _SHORT[(value.numerator, value.denominator)]
        return text
    return _format_short(value, digits)


def repeating_text(num: int, den: int) -> str:
    """``n/d`` in lowest terms when ``num/den`` has no finite decimal expansion, else ``""``.

    What a trace adds as ``exact`` next to a value written with 28 significant digits.
    """
    common = math.gcd(num, den)
    if _terminating_places(den // common) is not None:
        return ""
    return f"{num // common}/{den // common}"


def decimal_text(num: int, den: int, places: int | None = None) -> str:
    """:func:`format_pair` computed each time (for values that do not repeat, as fresh facts)."""
    return _format_pair(num, den, places)


def value_texts(num: int, den: int) -> tuple[str, str]:
    """``num/den`` (``den > 0``) as a trace writes a value: its text and its exact form.

    The text is :func:`format_number`'s; the exact form is :func:`repeating_text`'s (``""``
    when the value terminates). One gcd for both, nothing remembered.
    """
    common = math.gcd(num, den)
    if common != 1:
        num //= common
        den //= common
    if den == 1:
        return str(num), ""
    places = _places_of(den)
    if places is not None:
        return _pair_digits(num, den, places), ""
    return _significant_text(num, den), f"{num}/{den}"


def shown_text(num: int, den: int, text: str, exact: str) -> str:
    """How a step's text with values shows ``num/den``: :func:`format_short`, ``(-x)``.

    *text* and *exact* are the value's :func:`value_texts`: a value that terminates within
    six places is shown as its text.
    """
    if not exact:
        point = text.find(".")
        if point < 0 or len(text) - point <= 7:
            return text if num >= 0 else f"({text})"
    common = math.gcd(num, den)
    shown = _format_short_pair(num // common, den // common, 6)
    return shown if num >= 0 else f"({shown})"


def format_short_pair(num: int, den: int) -> str:
    """:func:`format_short` of ``num/den`` (``den > 0``, not necessarily reduced)."""
    common = math.gcd(num, den)
    text: str = _SHORT[(num // common, den // common)]
    return text


def _format_short(value: Fraction, digits: int) -> str:
    return _format_short_pair(value.numerator, value.denominator, digits)
