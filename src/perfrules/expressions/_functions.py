"""The functions formulas may call, and the checked arithmetic both evaluators share.

Every function is pure, takes exact numbers (``Fraction``) or booleans, and returns an
exact number. Argument problems raise :class:`~perfrules.errors.ExpressionError` without a
position; the evaluator that called the function adds the position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, Literal

from perfrules._numbers import NumberFormatError, format_short, parse_number
from perfrules.errors import ExpressionError
from perfrules.expressions._limits import MAX_BITS, MAX_EXPONENT

Type = Literal["num", "bool", "str"]

_ONE = Fraction(1)
_ZERO = Fraction(0)


def _check(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise ExpressionError("PR315", {"limit": MAX_BITS})
    return value


def checked_add(a: Fraction, b: Fraction) -> Fraction:
    """``a + b``, refusing results wider than ``MAX_BITS``."""
    return _check(a + b)


def checked_sub(a: Fraction, b: Fraction) -> Fraction:
    """``a - b``, refusing results wider than ``MAX_BITS``."""
    return _check(a - b)


def checked_mul(a: Fraction, b: Fraction) -> Fraction:
    """``a * b``, refusing results wider than ``MAX_BITS``."""
    return _check(a * b)


def checked_div(a: Fraction, b: Fraction) -> Fraction:
    """``a / b``; division by zero raises ``ZeroDivisionError`` for the caller to locate."""
    return _check(a / b)


def checked_pow(base: Fraction, exponent: Fraction) -> Fraction:
    """``base ** exponent`` for a whole exponent of at most ``MAX_EXPONENT``.

    The size of the result is predicted before anything is computed, so ``9 ** 100`` of a
    4,000-bit base is refused in microseconds instead of running for minutes.
    """
    if exponent.denominator != 1:
        raise ExpressionError(
            "PR314",
            {
                "detail": "needs a whole-number exponent (no exact result otherwise)",
                "detail_zh": "的指数必须是整数（否则没有精确结果）",
            },
        )
    power = exponent.numerator
    if abs(power) > MAX_EXPONENT:
        raise ExpressionError(
            "PR314",
            {
                "detail": f"exponent {power} is beyond ±{MAX_EXPONENT}",
                "detail_zh": f"的指数 {power} 超出 ±{MAX_EXPONENT}",
            },
        )
    if base == 0 and power < 0:
        raise ZeroDivisionError
    width = max(base.numerator.bit_length(), base.denominator.bit_length())
    if width * abs(power) > MAX_BITS + abs(power):
        raise ExpressionError("PR315", {"limit": MAX_BITS})
    return _check(base**power)


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
        if self.low is not None and (x < self.low or (x == self.low and not self.low_closed)):
            return False
        return not (
            self.high is not None and (x > self.high or (x == self.high and not self.high_closed))
        )


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


def _min(*args: Fraction) -> Fraction:
    return min(args)


def _max(*args: Fraction) -> Fraction:
    return max(args)


def _abs(x: Fraction) -> Fraction:
    return abs(x)


def _clamp(x: Fraction, low: Fraction, high: Fraction) -> Fraction:
    if low > high:
        raise ExpressionError(
            "PR317",
            {
                "name": "clamp",
                "detail": f"lower bound {format_short(low)} is above upper bound "
                f"{format_short(high)}",
                "detail_zh": f"下限 {format_short(low)} 大于上限 {format_short(high)}",
            },
        )
    return min(max(x, low), high)


def _floor(x: Fraction) -> Fraction:
    return Fraction(math.floor(x))  # float-ok: exact floor of a Fraction


def _ceil(x: Fraction) -> Fraction:
    return Fraction(math.ceil(x))  # float-ok: exact ceiling of a Fraction


def _ratio(actual: Fraction, target: Fraction) -> Fraction:
    return min(actual / target, _ONE)


def _reverse_ratio(actual: Fraction, target: Fraction) -> Fraction:
    if actual == 0:
        return _ONE
    return min(target / actual, _ONE)


def _steps(amount: Fraction, interval: Fraction) -> Fraction:
    if interval <= 0:
        raise ExpressionError(
            "PR317",
            {
                "name": "steps",
                "detail": "the interval must be above 0",
                "detail_zh": "区间长度必须大于 0",
            },
        )
    if amount <= 0:
        return _ZERO
    return Fraction(amount // interval)


def _lookup(x: Fraction, *rest: Any) -> Any:
    # Generic over Fraction and Decimal: intervals compare with both, points are returned.
    pairs = len(rest) // 2
    for i in range(pairs):
        if rest[2 * i].contains(x):
            return rest[2 * i + 1]
    if len(rest) % 2:
        return rest[-1]
    raise ExpressionError("PR318", {"value": format_short(Fraction(x))})


def _count(*flags: bool) -> Fraction:
    return Fraction(sum(1 for f in flags if f))


def _missing(*flags: bool) -> Fraction:
    return Fraction(sum(1 for f in flags if not f))


def _checklist(*rest: Any) -> Fraction:
    total = _ZERO
    for i in range(0, len(rest), 2):
        if rest[i]:
            total += rest[i + 1]
    return total


@dataclass(frozen=True, slots=True)
class Function:
    """A function formulas may call.

    Attributes:
        name: the name used in formulas.
        impl: the implementation (pure).
        shape: argument pattern; see :func:`check_arguments`.
        summary: one line for the reference docs and "unknown function" hints.
    """

    name: str
    impl: Callable[..., Fraction]
    shape: str
    summary: str


FUNCTIONS: Final[dict[str, Function]] = {
    f.name: f
    for f in (
        Function("min", _min, "num+", "smallest of its arguments"),
        Function("max", _max, "num+", "largest of its arguments"),
        Function("abs", _abs, "num", "absolute value"),
        Function("clamp", _clamp, "num num num", "clamp(x, low, high): x kept within [low, high]"),
        Function("floor", _floor, "num", "largest whole number not above x"),
        Function("ceil", _ceil, "num", "smallest whole number not below x"),
        Function(
            "ratio", _ratio, "num num", "ratio(actual, target) = min(actual / target, 1) (正向)"
        ),
        Function(
            "reverse_ratio",
            _reverse_ratio,
            "num num",
            "reverse_ratio(actual, target) = min(target / actual, 1); 1 when actual is 0 (反向)",
        ),
        Function(
            "steps",
            _steps,
            "num num",
            "steps(amount, interval): number of whole intervals in amount, 0 if amount <= 0",
        ),
        Function(
            "lookup",
            _lookup,
            "lookup",
            'lookup(x, "[a, b)", points, ..., default): points of the first interval holding x',
        ),
        Function("count", _count, "bool+", "how many of the conditions hold"),
        Function("missing", _missing, "bool+", "how many of the conditions do not hold"),
        Function(
            "checklist",
            _checklist,
            "checklist",
            "checklist(cond, points, ...): sum of the points whose condition holds",
        ),
    )
}


# --- the same functions on exact Decimals (the engine's fast path) ---------------------
# They run inside a decimal context that traps Inexact: any result that is not exact raises,
# and the caller evaluates again on Fractions. min, max, abs, clamp and lookup are generic.
_D_ONE = Decimal(1)
_D_ZERO = Decimal(0)


def _d_floor(x: Decimal) -> Decimal:
    return Decimal(math.floor(x))  # float-ok: exact floor of a Decimal


def _d_ceil(x: Decimal) -> Decimal:
    return Decimal(math.ceil(x))  # float-ok: exact ceiling of a Decimal


def _d_ratio(actual: Decimal, target: Decimal) -> Decimal:
    return min(actual / target, _D_ONE)


def _d_reverse_ratio(actual: Decimal, target: Decimal) -> Decimal:
    if actual == 0:
        return _D_ONE
    return min(target / actual, _D_ONE)


def _d_steps(amount: Decimal, interval: Decimal) -> Decimal:
    if interval <= 0:
        raise ArithmeticError("steps() interval")
    if amount <= 0:
        return _D_ZERO
    return Decimal(math.floor(amount / interval))  # float-ok: exact (Inexact is trapped)


def _d_count(*flags: bool) -> Decimal:
    return Decimal(sum(1 for f in flags if f))


def _d_missing(*flags: bool) -> Decimal:
    return Decimal(sum(1 for f in flags if not f))


def _d_checklist(*rest: object) -> Decimal:
    total = _D_ZERO
    for i in range(0, len(rest), 2):
        if rest[i]:
            total += rest[i + 1]  # type: ignore[operator]
    return total


def decimal_pow(base: Decimal, exponent: Decimal) -> Decimal:
    """``**`` on Decimals: whole exponents within the limit only, else ArithmeticError."""
    if exponent != exponent.to_integral_value() or abs(exponent) > MAX_EXPONENT:
        raise ArithmeticError("power")
    return base ** int(exponent)


DECIMAL_IMPLS: Final[dict[str, Callable[..., Decimal]]] = {
    "floor": _d_floor,
    "ceil": _d_ceil,
    "ratio": _d_ratio,
    "reverse_ratio": _d_reverse_ratio,
    "steps": _d_steps,
    "count": _d_count,
    "missing": _d_missing,
    "checklist": _d_checklist,
}


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
