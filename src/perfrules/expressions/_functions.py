"""The functions formulas may call: one registry, one implementation each.

Every function is pure, takes exact numbers (pairs of ints, see ``Pair``) or booleans, and
returns an exact number. Argument problems raise :class:`~perfrules.errors.ExpressionError`
without a position; the evaluator that called the function adds the position.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, Literal, Protocol

from perfrules._numbers import NumberFormatError, format_short, parse_number
from perfrules.errors import ExpressionError
from perfrules.expressions._limits import MAX_BITS, MAX_EXPONENT
from perfrules.expressions._real import (
    EXP_LIMIT,
    Approx,
    Undecided,
    exact_root,
    exp_bounds,
    inexact,
    ln_bounds,
    log10_bounds,
    sqrt_bounds,
)

Type = Literal["num", "bool", "str"]


def checked_pow(base: Fraction, exponent: Fraction) -> Fraction:
    """``base ** exponent`` on Fractions (the reference evaluator), through :func:`power`."""
    return _fraction(power(as_pair(base), as_pair(exponent)))


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open or closed interval written in a lookup() spec, e.g. ``(0, 10%]``."""

    low: Fraction | None
    high: Fraction | None
    low_closed: bool
    high_closed: bool
    text: str

    def contains(self, x: Fraction) -> bool:
        """Whether *x* lies in the interval."""
        return self.holds((x.numerator, x.denominator))

    def holds(self, x: tuple[int, int]) -> bool:
        """Whether the pair *x* (numerator, positive denominator) lies in the interval."""
        num, den = x
        low = self.low
        if low is not None:
            left, right = num * low.denominator, low.numerator * den
            if left < right or (left == right and not self.low_closed):
                return False
        high = self.high
        if high is None:
            return True
        left, right = num * high.denominator, high.numerator * den
        return left < right or (left == right and self.high_closed)


_INTERVAL_RE: Final = re.compile(r"^\s*([\[(])\s*([^,]*?)\s*,\s*([^,]*?)\s*([\])])\s*$")
_BOUND_RE: Final = re.compile(r"^\s*(>=|<=|≥|≤|>|<|==|=)?\s*(.+?)\s*$")


def _spec_number(text: str, spec: str) -> Fraction:
    try:
        parsed = parse_number(text)
    except NumberFormatError as exc:
        raise _bad_spec(spec) from exc
    if parsed.comparator is not None or parsed.unit:
        raise _bad_spec(spec)
    return parsed.value


def _bad_spec(spec: str) -> ExpressionError:
    return ExpressionError(
        "PR317",
        {
            "name": "lookup",
            "detail": f'"{spec}" is not an interval such as "[80%, 90%)", ">=90%" or "=0"',
            "detail_zh": f'“{spec}”不是区间写法，应类似 "[80%, 90%)"、">=90%" 或 "=0"',
        },
    )


def parse_interval(spec: str) -> Interval:
    """Read an interval spec: ``[a, b)``, ``(a, b]``, ``>=a``, ``<a``, ``=a`` (``%`` allowed).

    >>> parse_interval("(0, 10%]").contains(Fraction(1, 10))
    True
    """
    match = _INTERVAL_RE.match(spec)
    if match:
        low_text, high_text = match[2], match[3]
        low = None if low_text in ("", "-inf", "-∞") else _spec_number(low_text, spec)
        high = None if high_text in ("", "inf", "+inf", "∞") else _spec_number(high_text, spec)
        if low is not None and high is not None and low > high:
            raise _bad_spec(spec)
        return Interval(low, high, match[1] == "[", match[4] == "]", spec)
    bound = _BOUND_RE.match(spec)
    if bound is None or not bound[2]:
        raise _bad_spec(spec)
    op = {"≥": ">=", "≤": "<=", "==": "="}.get(bound[1] or "=", bound[1] or "=")
    value = _spec_number(bound[2], spec)
    if op == "=":
        return Interval(value, value, low_closed=True, high_closed=True, text=spec)
    if op in (">", ">="):
        return Interval(value, None, op == ">=", high_closed=False, text=spec)
    return Interval(None, value, low_closed=False, high_closed=op == "<=", text=spec)


# --- the implementations: one per function, on exact pairs ------------------------------
# A number is a pair of ints ``(numerator, denominator)`` with ``denominator > 0``, not
# necessarily in lowest terms; a condition is a bool. The generated scorer, the explanation,
# ``safe_eval`` and the reference evaluator all call these (the last through ``as_fraction``).
Pair = tuple[int, int]
_P_ONE: Final[Pair] = (1, 1)
_P_ZERO: Final[Pair] = (0, 1)


def _lt(a: Pair, b: Pair) -> bool:
    return a[0] * b[1] < b[0] * a[1]


def _fraction(value: Pair) -> Fraction:
    return Fraction(value[0], value[1])


def _min(*args: Pair) -> Pair:
    best = args[0]
    for item in args[1:]:
        if _lt(item, best):
            best = item
    return best


def _max(*args: Pair) -> Pair:
    best = args[0]
    for item in args[1:]:
        if _lt(best, item):
            best = item
    return best


def _abs(x: Pair) -> Pair:
    return (-x[0], x[1]) if x[0] < 0 else x


def _clamp(x: Pair, low: Pair, high: Pair) -> Pair:
    if _lt(high, low):
        low_text, high_text = format_short(_fraction(low)), format_short(_fraction(high))
        raise ExpressionError(
            "PR317",
            {
                "name": "clamp",
                "detail": f"lower bound {low_text} is above upper bound {high_text}",
                "detail_zh": f"下限 {low_text} 大于上限 {high_text}",
            },
        )
    if _lt(x, low):
        x = low
    return high if _lt(high, x) else x


def _floor(x: Pair) -> Pair:
    return (x[0] // x[1], 1)


def _ceil(x: Pair) -> Pair:
    return (-(-x[0] // x[1]), 1)


def _divide(a: Pair, b: Pair) -> Pair:
    if b[0] == 0:
        raise ZeroDivisionError
    num, den = a[0] * b[1], a[1] * b[0]
    return (-num, -den) if den < 0 else (num, den)


def _ratio(actual: Pair, target: Pair) -> Pair:
    share = _divide(actual, target)
    return _P_ONE if share[0] > share[1] else share


def _reverse_ratio(actual: Pair, target: Pair) -> Pair:
    if actual[0] == 0:
        return _P_ONE
    share = _divide(target, actual)
    return _P_ONE if share[0] > share[1] else share


def _steps(amount: Pair, interval: Pair) -> Pair:
    if interval[0] <= 0:
        raise ExpressionError(
            "PR317",
            {
                "name": "steps",
                "detail": "the interval must be above 0",
                "detail_zh": "区间长度必须大于 0",
            },
        )
    if amount[0] <= 0:
        return _P_ZERO
    return ((amount[0] * interval[1]) // (amount[1] * interval[0]), 1)


def _lookup(x: Pair, *rest: Any) -> Pair:
    pairs = len(rest) // 2
    for i in range(pairs):
        if rest[2 * i].holds(x):
            result: Pair = rest[2 * i + 1]
            return result
    if len(rest) % 2:
        default: Pair = rest[-1]
        return default
    raise ExpressionError("PR318", {"value": format_short(_fraction(x))})


def _count(*flags: bool) -> Pair:
    return (sum(1 for f in flags if f), 1)


def _missing(*flags: bool) -> Pair:
    return (sum(1 for f in flags if not f), 1)


def add_pairs(a: Pair, b: Pair) -> Pair:
    """``a + b`` over the least common denominator."""
    if a[1] == b[1]:
        return (a[0] + b[0], a[1])
    common = math.lcm(a[1], b[1])
    return (a[0] * (common // a[1]) + b[0] * (common // b[1]), common)


def _checklist(*rest: Any) -> Pair:
    total = _P_ZERO
    for i in range(0, len(rest), 2):
        if rest[i]:
            total = add_pairs(total, rest[i + 1])
    return total


def check_size(num: int, den: int) -> Pair:
    """``num / den`` in lowest terms, refusing either part wider than ``MAX_BITS``."""
    common = math.gcd(num, den)
    if common > 1:
        num //= common
        den //= common
    if num.bit_length() > MAX_BITS or den.bit_length() > MAX_BITS:
        raise ExpressionError("PR315", {"limit": MAX_BITS})
    return num, den


def power(base: Pair, exponent: Pair) -> Pair:
    """``base ** exponent`` for a whole exponent of at most ``MAX_EXPONENT``.

    The size of the result is predicted before anything is computed, so ``9 ** 100`` of a
    4,000-bit base is refused in microseconds instead of running for minutes.
    """
    num, den = check_size(*exponent)
    if den != 1:
        return _fractional_power(base, num, den)
    if abs(num) > MAX_EXPONENT:
        raise ExpressionError(
            "PR314",
            {
                "detail": f"exponent {num} is beyond ±{MAX_EXPONENT}",
                "detail_zh": f"的指数 {num} 超出 ±{MAX_EXPONENT}",
            },
        )
    b_num, b_den = check_size(*base)
    if b_num == 0 and num < 0:
        raise ZeroDivisionError
    width = max(b_num.bit_length(), b_den.bit_length())
    if width * abs(num) > MAX_BITS + abs(num):
        raise ExpressionError("PR315", {"limit": MAX_BITS})
    if num < 0:
        b_num, b_den, num = b_den, b_num, -num
        if b_den < 0:
            b_num, b_den = -b_num, -b_den
    return check_size(b_num**num, b_den**num)


# --- functions whose values are mostly irrational -----------------------------------------
# Their exact form (``impl``) gives the value when it is rational (sqrt(4) = 2, exp(0) = 1,
# ln(1) = 0, log10(1000) = 3, 8 ** (1/3) = 2) and otherwise raises PR324: a value with no
# exact form. Their bounded form (``approx``) gives the value as an :class:`Approx` at a
# precision, for the evaluator that decides roundings (``_ziv``).
RealValue = Fraction | Approx


def _refuse(name: str, en: str, zh: str) -> ExpressionError:
    return ExpressionError("PR317", {"name": name, "detail": en, "detail_zh": zh})


def _shown(x: Pair) -> str:
    return format_short(_fraction(x))


def _positive(name: str, x: Pair) -> None:
    if x[0] <= 0:
        raise _refuse(name, "needs a number above 0", "须大于 0")


def _ln(x: Pair) -> Pair:
    _positive("ln", x)
    if x[0] == x[1]:
        return _P_ZERO
    raise inexact(f"ln({_shown(x)})")


def _power_of_ten(value: int) -> int | None:
    text = str(value)
    if text[0] == "1" and text.count("0") == len(text) - 1:
        return len(text) - 1
    return None


def _log10(x: Pair) -> Pair:
    _positive("log10", x)
    value = _fraction(x)
    if value.denominator == 1:
        k = _power_of_ten(value.numerator)
        if k is not None:
            return (k, 1)
    elif value.numerator == 1:
        k = _power_of_ten(value.denominator)
        if k is not None:
            return (-k, 1)
    raise inexact(f"log10({_shown(x)})")


def _exp_limit(value: Fraction) -> None:
    if abs(value) > EXP_LIMIT:
        raise _refuse(
            "exp",
            f"the exponent must lie within ±{EXP_LIMIT}",
            f"指数须在 ±{EXP_LIMIT} 之内",
        )


def _exp(x: Pair) -> Pair:
    _exp_limit(_fraction(x))
    if x[0] == 0:
        return _P_ONE
    raise inexact(f"exp({_shown(x)})")


def _sqrt(x: Pair) -> Pair:
    if x[0] < 0:
        raise _refuse("sqrt", "needs a number of at least 0", "须不小于 0")
    root = exact_root(_fraction(x), 2)
    if root is None:
        raise inexact(f"sqrt({_shown(x)})")
    return (root.numerator, root.denominator)


def _geomean_checked(args: tuple[Pair, ...]) -> Fraction | None:
    """The product of *args*, or ``None`` when one of them is 0 (the mean is then 0)."""
    product = Fraction(1)
    zero = False
    for x in args:
        if x[0] < 0:
            raise _refuse("geomean", "needs numbers of at least 0", "各数须不小于 0")
        zero = zero or x[0] == 0
        product *= _fraction(x)
    return None if zero else product


def _geomean(*args: Pair) -> Pair:
    product = _geomean_checked(args)
    if product is None:
        return _P_ZERO
    check_size(product.numerator, product.denominator)
    root = exact_root(product, len(args))
    if root is None:
        raise inexact(f"geomean({', '.join(_shown(x) for x in args)})")
    return (root.numerator, root.denominator)


def _fractional_power(base: Pair, num: int, den: int) -> Pair:
    """``base ** (num / den)`` (``den > 1``): exact when the root is rational, else PR324."""
    if abs(num) > MAX_EXPONENT or den > MAX_EXPONENT:
        raise ExpressionError(
            "PR314",
            {
                "detail": f"exponent {num}/{den} is beyond ±{MAX_EXPONENT} or /{MAX_EXPONENT}",
                "detail_zh": f"的指数 {num}/{den} 超出 ±{MAX_EXPONENT} 或 /{MAX_EXPONENT}",
            },
        )
    value = _fraction(check_size(*base))
    if value < 0:
        raise ExpressionError(
            "PR314",
            {
                "detail": "of a negative number needs a whole-number exponent",
                "detail_zh": "的底数为负时指数必须是整数",
            },
        )
    if value == 0:
        if num < 0:
            raise ZeroDivisionError
        return _P_ZERO
    root = exact_root(value, den)
    if root is None:
        raise inexact(f"{format_short(value)} ** ({num}/{den})")
    return power((root.numerator, root.denominator), (num, 1))


# --- the bounded forms -------------------------------------------------------------------
def key_of(value: RealValue) -> object:
    """What names the true value: the number itself, or an :class:`Approx`'s key."""
    return value.key if isinstance(value, Approx) else value


def ends(value: RealValue) -> tuple[Fraction, Fraction]:
    """The lower and upper bound of a value (an exact one is both)."""
    if isinstance(value, Approx):
        return value.lo, value.hi
    return value, value


def _made(name: str, args: list[Any], lo: Fraction, hi: Fraction) -> RealValue:
    if lo == hi:
        return lo
    return Approx(lo, hi, (name, *map(key_of, args)))


#: The bounded form of a function: (arguments, significant digits) → its value.
ApproxForm = Callable[[list[Any], int], RealValue]


def _all_exact(args: list[Any]) -> bool:
    return not any(isinstance(a, Approx) for a in args)


def _exact_call(impl: Callable[..., Pair], args: list[Any]) -> Fraction:
    return _fraction(impl(*[as_pair(a) for a in args]))


def _increasing(name: str) -> ApproxForm:
    """A function non-decreasing in every number argument: its ends at the ends."""

    def form(args: list[Any], digits: int) -> RealValue:
        del digits
        impl = FUNCTIONS[name].impl
        if _all_exact(args):
            return _exact_call(impl, args)
        low = _exact_call(impl, [ends(a)[0] if isinstance(a, Approx) else a for a in args])
        high = _exact_call(impl, [ends(a)[1] if isinstance(a, Approx) else a for a in args])
        return _made(name, args, low, high)

    return form


def _corners(name: str) -> ApproxForm:
    """A function monotone in each argument where each has one sign: ends at the corners.

    ``abs``, ``ratio``, ``reverse_ratio`` and ``steps`` are (each a quotient or a sign
    away from monotone); an approximate argument whose bounds straddle 0 is undecided.
    """

    def form(args: list[Any], digits: int) -> RealValue:
        del digits
        impl = FUNCTIONS[name].impl
        if _all_exact(args):
            return _exact_call(impl, args)
        choices: list[list[Fraction]] = []
        for a in args:
            low, high = ends(a)
            if low <= 0 <= high and low != high:
                raise Undecided
            choices.append([low, high] if low != high else [low])
        values = [_exact_call(impl, list(corner)) for corner in itertools.product(*choices)]
        return _made(name, args, min(values), max(values))

    return form


def _lookup_approx(args: list[Any], digits: int) -> RealValue:
    del digits
    x, rest = args[0], args[1:]
    if not isinstance(x, Approx):
        return _exact_call(_lookup, args)
    low, high = x.lo, x.hi
    for i in range(len(rest) // 2):
        interval: Interval = rest[2 * i]
        inside_low, inside_high = interval.holds(as_pair(low)), interval.holds(as_pair(high))
        if inside_low and inside_high:  # an interval is convex: it holds all of [low, high]
            return rest[2 * i + 1]  # type: ignore[no-any-return]
        if inside_low or inside_high or _straddles(interval, low, high):
            raise Undecided
    if len(rest) % 2:
        return rest[-1]  # type: ignore[no-any-return]
    raise ExpressionError("PR318", {"value": format_short(x.midpoint())})


def _straddles(interval: Interval, low: Fraction, high: Fraction) -> bool:
    """Whether *interval* lies strictly inside ``(low, high)`` (so holds a part of it)."""
    if interval.low is None or interval.high is None:
        return False  # then it holds low or high, or nothing of [low, high]
    return low < interval.low and interval.high < high


def _ln_approx(args: list[Any], digits: int) -> RealValue:
    return _log_approx("ln", _ln, ln_bounds, args, digits)


def _log10_approx(args: list[Any], digits: int) -> RealValue:
    return _log_approx("log10", _log10, log10_bounds, args, digits)


def _log_approx(
    name: str,
    impl: Callable[[Pair], Pair],
    bounds: Callable[[Fraction, Fraction, int], tuple[Fraction, Fraction]],
    args: list[Any],
    digits: int,
) -> RealValue:
    x = args[0]
    if not isinstance(x, Approx):
        try:
            return _fraction(impl(as_pair(x)))
        except ExpressionError as exc:
            if exc.code != "PR324":
                raise
    low, high = ends(x)
    if low <= 0:
        if high <= 0:
            raise _refuse(name, "needs a number above 0", "须大于 0")
        raise Undecided
    return Approx(*bounds(low, high, digits), (name, key_of(x)))


def _exp_approx(args: list[Any], digits: int) -> RealValue:
    x = args[0]
    if not isinstance(x, Approx):
        return _exp_of(x, x, digits, x)
    return _exp_of(x.lo, x.hi, digits, x.key)


def _exp_of(low: Fraction, high: Fraction, digits: int, key: object) -> RealValue:
    _exp_limit(low)
    _exp_limit(high)
    if low == high == 0:
        return Fraction(1)
    return Approx(*exp_bounds(low, high, digits), ("exp", key))


def _sqrt_approx(args: list[Any], digits: int) -> RealValue:
    x = args[0]
    if not isinstance(x, Approx):
        try:
            return _fraction(_sqrt(as_pair(x)))
        except ExpressionError as exc:
            if exc.code != "PR324":
                raise
    low, high = ends(x)
    if low < 0:
        if high < 0:
            raise _refuse("sqrt", "needs a number of at least 0", "须不小于 0")
        raise Undecided
    return Approx(*sqrt_bounds(low, high, digits), ("sqrt", key_of(x)))


def _positive_ends(name: str, x: RealValue) -> tuple[Fraction, Fraction]:
    """The bounds of an argument that must be above 0 (for a logarithm inside)."""
    low, high = ends(x)
    if low <= 0:
        if high <= 0:
            raise _refuse(name, "needs numbers of at least 0", "各数须不小于 0")
        raise Undecided
    return low, high


def _geomean_approx(args: list[Any], digits: int) -> RealValue:
    if _all_exact(args):
        try:
            return _fraction(_geomean(*[as_pair(a) for a in args]))
        except ExpressionError as exc:
            if exc.code != "PR324":
                raise
    total_low, total_high = Fraction(0), Fraction(0)
    for a in args:
        low, high = _positive_ends("geomean", a)
        logs = ln_bounds(low, high, digits + 5)
        total_low, total_high = total_low + logs[0], total_high + logs[1]
    n = len(args)
    return Approx(
        *exp_bounds(total_low / n, total_high / n, digits),
        ("geomean", *map(key_of, args)),
    )


def weighted_geomean(values: list[Fraction], weights: list[Fraction], digits: int) -> RealValue:
    """``Π values[i] ** (weights[i] / Σ weights)`` of exact values ≥ 0 and weights > 0.

    0 when a value is 0; exact when every value is the same, or when the weights are equal
    and the product has a rational root; otherwise bounds at *digits*.
    """
    if any(v == 0 for v in values):
        return Fraction(0)
    if all(v == values[0] for v in values):
        return values[0]
    if all(w == weights[0] for w in weights):
        product = Fraction(1)
        for v in values:
            product *= v
        check_size(product.numerator, product.denominator)
        root = exact_root(product, len(values))
        if root is not None:
            return root
    total = sum(weights, Fraction(0))
    low, high = Fraction(0), Fraction(0)
    for value, weight in zip(values, weights, strict=True):
        logs = ln_bounds(value, value, digits + 5)
        share = weight / total
        low, high = low + share * logs[0], high + share * logs[1]
    return Approx(*exp_bounds(low, high, digits), ("wgeomean", *values, "/", *weights))


def power_approx(base: RealValue, exponent: RealValue, digits: int) -> RealValue:
    """``base ** exponent`` of values that may be approximations (the bounded ``**``)."""
    if not isinstance(base, Approx) and not isinstance(exponent, Approx):
        try:
            return _fraction(power(as_pair(base), as_pair(exponent)))
        except ExpressionError as exc:
            if exc.code != "PR324":
                raise
    key = ("**", key_of(base), key_of(exponent))
    if not isinstance(exponent, Approx) and exponent.denominator == 1:
        low, high = ends(base)  # a whole power is monotone where the base has one sign
        if low <= 0 <= high:
            raise Undecided
        values = [_fraction(power(as_pair(x), as_pair(exponent))) for x in (low, high)]
        return Approx(min(values), max(values), key)
    low, high = ends(base)
    if low <= 0:
        if high < 0:
            raise ExpressionError(
                "PR314",
                {
                    "detail": "of a negative number needs a whole-number exponent",
                    "detail_zh": "的底数为负时指数必须是整数",
                },
            )
        raise Undecided
    logs = ln_bounds(low, high, digits + 5)
    e_low, e_high = ends(exponent)
    products = [x * y for x in logs for y in (e_low, e_high)]
    low, high = min(products), max(products)
    _exp_limit(low)
    _exp_limit(high)
    return Approx(*exp_bounds(low, high, digits), key)


#: How the static size bound of a call follows from its arguments' bounds (in bits).
SizeRule = Literal["max", "sum", "count"]
#: Writes a call inline: (emit a line, target variable prefix, (num, den) code of each
#: argument) → (num, den) code of the result.
Inline = Callable[[Callable[[str], None], str, list[tuple[str, str]]], tuple[str, str]]


def times(x: str, y: str) -> str:
    """``x * y`` as generated code, without multiplying by a literal 1."""
    if x == "1":
        return y
    if y == "1":
        return x
    return f"{x} * {y}"


def _inline_extreme(*, smaller: bool) -> Inline:
    """``min``/``max`` written inline, exactly as :func:`_min`/:func:`_max` choose."""

    def write(
        emit: Callable[[str], None], target: str, args: list[tuple[str, str]]
    ) -> tuple[str, str]:
        num, den = f"{target}n", f"{target}d"
        emit(f"{num}, {den} = {args[0][0]}, {args[0][1]}")
        for arg_num, arg_den in args[1:]:
            # _lt(item, best) for min, _lt(best, item) for max; min(x, 1): x_d < x_n
            test = (
                f"{times(arg_num, den)} < {times(num, arg_den)}"
                if smaller
                else f"{times(num, arg_den)} < {times(arg_num, den)}"
            )
            emit(f"if {test}: {num}, {den} = {arg_num}, {arg_den}")
        return num, den

    return write


class ArrayOps(Protocol):
    """What an array form of a function is written with: the columnar scorer's operations.

    A number is the scorer's array of pairs, a condition ``("bool", flags)``; each operation
    works on every row at once. ``active`` marks the rows where the call is evaluated (a
    row refused there takes the scalar path, which explains why).
    """

    def const(self, value: Fraction) -> Any:
        """A constant on every row."""

    def less(self, a: Any, b: Any) -> Any:
        """``a < b`` on every row (flags)."""

    def pick(self, flags: Any, a: Any, b: Any) -> Any:
        """``a`` where *flags*, else ``b``."""

    def extreme(self, a: Any, b: Any, *, smaller: bool) -> Any:
        """``pick(less(b, a), b, a)`` (*smaller*) or ``pick(less(a, b), b, a)``."""

    def div(self, a: Any, b: Any, active: Any) -> Any:
        """``a / b``; rows dividing by 0 where *active* are refused."""

    def add(self, a: Any, b: Any, sign: int) -> Any:
        """``a + b`` (``sign`` 1) or ``a - b`` (``sign`` -1)."""

    def refuse(self, flags: Any) -> None:
        """Send the rows where *flags* holds to the scalar path."""

    def flags(self, value: Any) -> Any:
        """The flags of a condition, on every row."""

    def negative(self, x: Any) -> Any:
        """Rows where *x* is below 0 (flags)."""

    def zero(self, x: Any) -> Any:
        """Rows where *x* is 0 (flags)."""

    def negate(self, x: Any) -> Any:
        """``-x``."""

    def whole(self, num: Any, den: Any, bound: int) -> Any:
        """``num // den`` as a number with denominator 1 (*bound* on its magnitude)."""

    def parts(self, x: Any) -> tuple[Any, Any, int, int]:
        """Numerators, denominators and their bounds."""

    def count(self, flags: list[Any]) -> Any:
        """How many of *flags* hold on each row, as a number."""

    def holds(self, interval: Interval, x: Any) -> Any:
        """Rows where *x* lies in *interval* (flags)."""

    def no(self) -> Any:
        """Flags false on every row."""


#: The array form of a function: (operations, arguments, active rows) → its value.
ArrayForm = Callable[[ArrayOps, list[Any], Any], Any]


def _extreme_array(*, smaller: bool) -> ArrayForm:
    """``min``/``max`` on every row, choosing exactly as :func:`_min`/:func:`_max`."""

    def form(ops: ArrayOps, args: list[Any], active: Any) -> Any:
        del active
        best = args[0]
        for item in args[1:]:
            best = ops.extreme(best, item, smaller=smaller)
        return best

    return form


def _abs_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    del active
    return ops.pick(ops.negative(args[0]), ops.negate(args[0]), args[0])


def _clamp_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    x, low, high = args
    ops.refuse(active & ops.less(high, low))  # PR317 on the scalar path
    x = ops.pick(ops.less(x, low), low, x)
    return ops.pick(ops.less(high, x), high, x)


def _floor_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    del active
    num, den, bound, _ = ops.parts(args[0])
    return ops.whole(num, den, bound + 1)


def _ceil_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    del active
    num, den, bound, _ = ops.parts(args[0])
    return ops.negate(ops.whole(-num, den, bound + 1))


def _ratio_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    one = ops.const(Fraction(1))
    share = ops.div(args[0], args[1], active)
    return ops.pick(ops.less(one, share), one, share)


def _reverse_ratio_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    actual, target = args
    one = ops.const(Fraction(1))
    nothing = ops.zero(actual)
    share = ops.div(target, actual, active & ~nothing)
    share = ops.pick(ops.less(one, share), one, share)
    return ops.pick(nothing, one, share)


def _steps_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    amount, interval = args
    zero = ops.const(Fraction(0))
    ops.refuse(active & ~ops.less(zero, interval))  # PR317 on the scalar path
    safe = ops.pick(ops.less(zero, interval), interval, ops.const(Fraction(1)))
    share = ops.div(amount, safe, ops.no())
    num, den, bound, _ = ops.parts(share)
    whole = ops.whole(num, den, bound + 1)
    return ops.pick(ops.less(zero, amount), whole, zero)


def _lookup_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    x, rest = args[0], args[1:]
    result = ops.const(Fraction(0))
    found = ops.no()
    for i in range(len(rest) // 2):
        hit = ~found & ops.holds(rest[2 * i][1], x)
        result = ops.pick(hit, rest[2 * i + 1], result)
        found = found | hit
    if len(rest) % 2:
        return ops.pick(found, result, rest[-1])
    ops.refuse(active & ~found)  # PR318 on the scalar path
    return result


def _count_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    del active
    return ops.count([ops.flags(flag) for flag in args])


def _missing_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    del active
    return ops.count([~ops.flags(flag) for flag in args])


def _checklist_array(ops: ArrayOps, args: list[Any], active: Any) -> Any:
    del active
    ticked = ops.const(Fraction(0))
    for i in range(0, len(args), 2):
        ticked = ops.pick(ops.flags(args[i]), ops.add(ticked, args[i + 1], 1), ticked)
    return ticked


@dataclass(frozen=True, slots=True)
class Function:
    """A function formulas may call: the one place that defines it.

    Attributes:
        name: the name used in formulas.
        impl: the implementation, on exact pairs (see the module docstring).
        shape: argument pattern and types; see :func:`check_arguments`.
        summary: one line for the reference docs and "unknown function" hints.
        size: how the static bound on the result's size follows from the arguments':
            ``max`` (the result is one of them or smaller), ``sum`` (a quotient or a sum of
            them), ``count`` (a small count).
        returns: the result type (always a number today).
        inline: how generated code writes the call without calling :attr:`impl` (for the
            hottest functions; a test checks that both give the same pairs).
        array: the call on every row of a table at once (:class:`ArrayOps`), ``None`` for
            a function the columnar scorer leaves to the scalar path; the differential
            tests hold it equal to :attr:`impl` on every row.
        approx: the call on values that may be approximations (:class:`Approx`, bounds
            at a precision), for the evaluator that decides roundings of irrational values
            (``_ziv``); a property test holds it equal to :attr:`impl` on exact values.
        real: the value is mostly irrational (``ln``, ``sqrt``, ...): :attr:`impl` gives it
            only when it is rational and raises PR324 otherwise.
        divides_by: the argument (its index) it divides by, which must not be 0
            (``ratio(actual, target)``: 1); ``None`` when it never divides by one.
    """

    name: str
    impl: Callable[..., Pair]
    shape: str
    summary: str
    size: SizeRule = "max"
    returns: Type = "num"
    inline: Inline | None = None
    array: ArrayForm | None = None
    approx: ApproxForm | None = None
    real: bool = False
    divides_by: int | None = None

    def size_bound(self, sizes: list[int]) -> int:
        """Bits of the result, from the bits of each argument."""
        if self.size == "sum":
            return sum(sizes) + 2
        if self.size == "count":
            return 2 * len(sizes).bit_length() + 2
        return max(sizes, default=0)


FUNCTIONS: Final[dict[str, Function]] = {
    f.name: f
    for f in (
        Function(
            "min",
            _min,
            "num+",
            "smallest of its arguments",
            inline=_inline_extreme(smaller=True),
            array=_extreme_array(smaller=True),
            approx=_increasing("min"),
        ),
        Function(
            "max",
            _max,
            "num+",
            "largest of its arguments",
            inline=_inline_extreme(smaller=False),
            array=_extreme_array(smaller=False),
            approx=_increasing("max"),
        ),
        Function("abs", _abs, "num", "absolute value", array=_abs_array, approx=_corners("abs")),
        Function(
            "clamp",
            _clamp,
            "num num num",
            "clamp(x, low, high): x kept within [low, high]",
            array=_clamp_array,
            approx=_increasing("clamp"),
        ),
        Function(
            "floor",
            _floor,
            "num",
            "largest whole number not above x",
            array=_floor_array,
            approx=_increasing("floor"),
        ),
        Function(
            "ceil",
            _ceil,
            "num",
            "smallest whole number not below x",
            array=_ceil_array,
            approx=_increasing("ceil"),
        ),
        Function(
            "ratio",
            _ratio,
            "num num",
            "ratio(actual, target) = min(actual / target, 1) (正向)",
            "sum",
            array=_ratio_array,
            approx=_corners("ratio"),
            divides_by=1,
        ),
        Function(
            "reverse_ratio",
            _reverse_ratio,
            "num num",
            "reverse_ratio(actual, target) = min(target / actual, 1); 1 when actual is 0 (反向)",
            "sum",
            array=_reverse_ratio_array,
            approx=_corners("reverse_ratio"),
        ),
        Function(
            "steps",
            _steps,
            "num num",
            "steps(amount, interval): number of whole intervals in amount, 0 if amount <= 0",
            "sum",
            array=_steps_array,
            approx=_corners("steps"),
        ),
        Function(
            "lookup",
            _lookup,
            "lookup",
            'lookup(x, "[a, b)", points, ..., default): points of the first interval holding x',
            array=_lookup_array,
            approx=_lookup_approx,
        ),
        Function(
            "count",
            _count,
            "bool+",
            "how many of the conditions hold",
            "count",
            array=_count_array,
        ),
        Function(
            "missing",
            _missing,
            "bool+",
            "how many of the conditions do not hold",
            "count",
            array=_missing_array,
        ),
        Function(
            "checklist",
            _checklist,
            "checklist",
            "checklist(cond, points, ...): sum of the points whose condition holds",
            "sum",
            array=_checklist_array,
            approx=_increasing("checklist"),
        ),
        Function(
            "ln",
            _ln,
            "num",
            "natural logarithm of x > 0 (correctly rounded where the value is rounded)",
            approx=_ln_approx,
            real=True,
        ),
        Function(
            "log10",
            _log10,
            "num",
            "logarithm to base 10 of x > 0 (correctly rounded where the value is rounded)",
            approx=_log10_approx,
            real=True,
        ),
        Function(
            "exp",
            _exp,
            "num",
            "e to the power x, |x| <= 700 (correctly rounded where the value is rounded)",
            approx=_exp_approx,
            real=True,
        ),
        Function(
            "sqrt",
            _sqrt,
            "num",
            "square root of x >= 0 (correctly rounded where the value is rounded)",
            approx=_sqrt_approx,
            real=True,
        ),
        Function(
            "geomean",
            _geomean,
            "num+",
            "geometric mean of numbers >= 0: (a * b * ...) ** (1 / n), 0 if one is 0",
            approx=_geomean_approx,
            real=True,
        ),
    )
}


def as_pair(value: Any) -> Any:
    """A Fraction as a pair; conditions and intervals unchanged."""
    if isinstance(value, Fraction):
        return (value.numerator, value.denominator)
    return value


def as_fraction(impl: Callable[..., Pair]) -> Callable[..., Fraction]:
    """*impl* called with and returning Fractions (for the reference evaluator)."""

    def call(*args: Any) -> Fraction:
        return _fraction(impl(*[as_pair(a) for a in args]))

    call.__name__ = getattr(impl, "__name__", "function")
    return call


def expected_arguments(shape: str) -> str:
    """Human description of an argument pattern, for arity messages."""
    if shape.endswith("+"):
        return "1 or more"
    if shape == "lookup":
        return "x, then pairs of interval and points, then an optional default"
    if shape == "checklist":
        return "pairs of condition and points"
    return str(len(shape.split()))


def check_arguments(shape: str, types: list[Type]) -> str | None:
    """Check argument *types* against *shape*; return a problem description or ``None``."""
    if shape.endswith("+"):
        each = shape[:-1]
        if not types:
            return "arity"
        return next((f"{i}:{each}" for i, t in enumerate(types) if t != each), None)
    if shape == "lookup":
        if len(types) < 3:
            return "arity"
        if types[0] != "num":
            return "0:num"
        rest = types[1:]
        has_default = len(rest) % 2 == 1
        for i, t in enumerate(rest):
            is_default = has_default and i == len(rest) - 1
            want: Type = "str" if i % 2 == 0 and not is_default else "num"
            if t != want:
                return f"{i + 1}:{want}"
        return None
    if shape == "checklist":
        if not types or len(types) % 2:
            return "arity"
        for i, t in enumerate(types):
            expected = "bool" if i % 2 == 0 else "num"
            if t != expected:
                return f"{i}:{expected}"
        return None
    wanted = shape.split()
    if len(types) != len(wanted):
        return "arity"
    return next(
        (f"{i}:{w}" for i, (t, w) in enumerate(zip(types, wanted, strict=True)) if t != w), None
    )
