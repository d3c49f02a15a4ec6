"""Real numbers that are not rational: exact when they can be, bounded when they cannot.

``ln``, ``log10``, ``exp``, ``sqrt``, a fractional power and a geometric mean of exact
numbers are, but for a few arguments (``sqrt(4)``, ``exp(0)``, ``ln(1)``, ``log10(1000)``),
irrational. Such a value is held as an :class:`Approx`: two exact rationals ``lo ≤ true ≤ hi``
and a *key* that names the true value (the function and its exact arguments), so that
``ln(x) - ln(x)`` is exactly 0 and ``ln(750) / ln(750)`` exactly 1.

The bounds come from Python's ``decimal`` module under explicit contexts, never from a
float: ``ln``, ``log10``, ``exp`` and ``sqrt`` of a ``Decimal`` are correctly rounded (to
nearest) at the context's precision, so the result stepped two units in the last place
down (``next_minus``) and up (``next_plus``) brackets the true value of the function at
that ``Decimal``. The argument, a rational that may not terminate, is first bracketed the
same way (divided with ``ROUND_FLOOR`` and ``ROUND_CEILING``), and every function here is
monotone, so the lower bound of ``f`` at the lower end of the argument and the upper bound
at its upper end bracket ``f`` of the exact argument. Nothing else is assumed.

How many digits are enough is decided by the caller (``_ziv``): it evaluates a formula at a
precision, asks whether the declared rounding of every value in the bracket is the same,
and if not evaluates again with more digits.
"""

from __future__ import annotations

import decimal
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from perfrules.errors import ExpressionError

__all__ = [
    "MAX_DIGITS",
    "MAX_WORK",
    "START_DIGITS",
    "Approx",
    "Undecided",
    "digits_of",
    "exact_root",
    "exp_bounds",
    "inexact",
    "ln_bounds",
    "log10_bounds",
    "sqrt_bounds",
]

#: The precision (significant digits) of the first attempt at deciding a rounding.
START_DIGITS: Final = 30
#: The most significant digits a value is computed to before the rounding is declared
#: undecidable (PR325): past this a value lies within 10**-1000 of a rounding boundary.
MAX_DIGITS: Final = 1000
#: exp() refuses arguments beyond ±EXP_LIMIT: e**700 is about 10**304.
EXP_LIMIT: Final = 700
#: The most work one value may take: irrational functions evaluated × significant digits.
#: The HDI takes about 7 × 30; a formula of 60 logarithms forced to 1,000 digits would
#: take seconds, so it stops (PR325) where 24 logarithms at 1,000 digits would.
MAX_WORK: Final = 24_000


class Undecided(Exception):  # noqa: N818 - a signal, not an error
    """The bounds at this precision cannot decide a comparison or a branch: add digits."""


@dataclass(frozen=True, slots=True)
class Approx:
    """An irrational value: ``lo < true < hi``, and a key naming the true value.

    Two values with the same key are the same real number (the same function of the same
    exact arguments), whatever their bounds.
    """

    lo: Fraction
    hi: Fraction
    key: object

    def midpoint(self) -> Fraction:
        """The middle of the bounds (what the trace shows, with its correct digits)."""
        return (self.lo + self.hi) / 2


def digits_of(value: Approx) -> int:
    """How many significant digits of :meth:`Approx.midpoint` are correct (at least 1)."""
    middle = abs(value.midpoint())
    width = value.hi - value.lo
    if not middle or not width:
        return 1
    # |error| <= width / 2; correct digits ~ log10(middle / width)
    ratio = middle / width
    return max(1, len(str(ratio.numerator // ratio.denominator)) - 1)


def inexact(expr: str) -> ExpressionError:
    """The error of a value with no exact form where an exact one is needed (PR324)."""
    return ExpressionError("PR324", {"expr": expr})


@functools.lru_cache(maxsize=64)
def _context(digits: int, rounding: str) -> decimal.Context:
    # Kept per precision and mode: only prec and rounding are read (flags may accumulate).
    return decimal.Context(
        prec=digits,
        rounding=rounding,
        Emax=decimal.MAX_EMAX,
        Emin=decimal.MIN_EMIN,
        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
    )


def _bracket(x: Fraction, digits: int) -> tuple[decimal.Decimal, decimal.Decimal]:
    """``Decimal`` bounds of the rational *x* at *digits* + 5 significant digits."""
    num, den = decimal.Decimal(x.numerator), decimal.Decimal(x.denominator)
    low = _context(digits + 5, decimal.ROUND_FLOOR).divide(num, den)
    high = _context(digits + 5, decimal.ROUND_CEILING).divide(num, den)
    return low, high


def _down(value: decimal.Decimal, context: decimal.Context) -> Fraction:
    # A correctly rounded 0 is exactly 0 (ln(1), sqrt(0)): with the exponent range
    # unbounded, nothing else rounds to 0, and a step below it would be 10**-(10**18).
    if not value:
        return Fraction(0)
    return Fraction(context.next_minus(context.next_minus(value)))


def _up(value: decimal.Decimal, context: decimal.Context) -> Fraction:
    if not value:
        return Fraction(0)
    return Fraction(context.next_plus(context.next_plus(value)))


def _monotone(name: str, low: Fraction, high: Fraction, digits: int) -> tuple[Fraction, Fraction]:
    """Bounds of the increasing function *name* over ``[low, high]`` (exact rationals)."""
    context = _context(digits, decimal.ROUND_HALF_EVEN)
    function = getattr(context, name)
    lower = _down(function(_bracket(low, digits)[0]), context)
    upper = _up(function(_bracket(high, digits)[1]), context)
    return lower, upper


def ln_bounds(low: Fraction, high: Fraction, digits: int) -> tuple[Fraction, Fraction]:
    """Bounds of ``ln`` over ``[low, high]`` (``low > 0``)."""
    return _monotone("ln", low, high, digits)


def log10_bounds(low: Fraction, high: Fraction, digits: int) -> tuple[Fraction, Fraction]:
    """Bounds of ``log10`` over ``[low, high]`` (``low > 0``)."""
    return _monotone("log10", low, high, digits)


def exp_bounds(low: Fraction, high: Fraction, digits: int) -> tuple[Fraction, Fraction]:
    """Bounds of ``exp`` over ``[low, high]``."""
    return _monotone("exp", low, high, digits)


def sqrt_bounds(low: Fraction, high: Fraction, digits: int) -> tuple[Fraction, Fraction]:
    """Bounds of the square root over ``[low, high]`` (``low >= 0``)."""
    lower, upper = _monotone("sqrt", max(low, Fraction(0)), high, digits)
    return max(lower, Fraction(0)), upper


def _integer_root(value: int, n: int) -> int | None:
    """The whole *n*-th root of ``value >= 0``, or ``None`` when it has none."""
    if value < 2:
        return value
    if n == 2:
        root = math.isqrt(value)
    else:
        # Newton's method on integers from an upper bound, exact.
        root = 1 << -(-value.bit_length() // n)
        while True:
            better = ((n - 1) * root + value // root ** (n - 1)) // n
            if better >= root:
                break
            root = better
    return root if root**n == value else None


def exact_root(value: Fraction, n: int) -> Fraction | None:
    """The *n*-th root of the rational ``value >= 0`` when it is rational, else ``None``."""
    num = _integer_root(value.numerator, n)
    if num is None:
        return None
    den = _integer_root(value.denominator, n)
    return None if den is None else Fraction(num, den)
