"""Deciding roundings of irrational values: evaluate with bounds, add digits until decided.

A formula that calls ``ln``, ``log10``, ``exp``, ``sqrt``, ``geomean`` or raises to a
fractional power has, in general, an irrational value, which no exact pair holds. What a
score needs is not the value but its declared rounding, and that is decided by bounds
(Ziv's strategy): evaluate the canonical tree with every value either exact (a
``Fraction``) or an :class:`~perfrules.expressions._real.Approx` (exact rational bounds
and a key naming the true value) at a precision; if the caller's *settle* gives the same
answer for every value within the bounds (the same rounding, the same clamping), that is
the answer for the true value; otherwise (or when a comparison or a branch cannot be
decided from the bounds) evaluate again with four times the digits, up to
``MAX_DIGITS``, then refuse with PR325 (a value within 10**-1000 of a rounding boundary:
in practice an identity such as ``ln(2) + ln(3) - ln(6)``, exactly 0, that the bounds do
not see).

Every function is its registry entry's ``approx`` form (``_functions.FUNCTIONS``); the
arithmetic here is interval arithmetic on exact rationals, with each bound rounded outward
to the precision so that numbers stay small.
"""

from __future__ import annotations

import ast
import decimal
import functools
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, Final, TypeVar

from perfrules.errors import ExpressionError
from perfrules.expressions._functions import (
    FUNCTIONS,
    RealValue,
    as_pair,
    check_size,
    ends,
    key_of,
    power_approx,
)
from perfrules.expressions._parse import Program, zero_division
from perfrules.expressions._real import MAX_DIGITS, MAX_WORK, START_DIGITS, Approx, Undecided

__all__ = ["REAL_FUNCTIONS", "decide_with", "is_real", "real_nodes", "settle", "walk"]

T = TypeVar("T")
#: The functions whose values are mostly irrational.
REAL_FUNCTIONS: Final = frozenset(name for name, f in FUNCTIONS.items() if f.real)


def real_nodes(tree: ast.expr) -> list[ast.expr]:
    """The sub-expressions that may have irrational values: real calls, ``**`` not whole."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.func.id in REAL_FUNCTIONS:  # type: ignore[attr-defined]
            found.append(node)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub):
                exponent = exponent.operand
            whole = isinstance(exponent, ast.Constant) and isinstance(exponent.value, Fraction)
            if not (whole and exponent.value.denominator == 1):  # type: ignore[attr-defined]
                found.append(node)
    return found


def _calls(program: Program) -> int:
    """How many irrational parts *program* computes (a mean counts its arguments), once."""
    calls: int | None = getattr(program.tree, "pr_real_calls", None)
    if calls is None:
        calls = sum(
            len(node.args) if isinstance(node, ast.Call) else 2
            for node in real_nodes(program.tree)
        )
        program.tree.pr_real_calls = calls  # type: ignore[attr-defined]
    return calls


def is_real(program: Program) -> bool:
    """Whether *program* may have an irrational value (see :func:`real_nodes`)."""
    return bool(real_nodes(program.tree))


@functools.lru_cache(maxsize=64)
def _outward_context(digits: int, rounding: str) -> decimal.Context:
    return decimal.Context(
        prec=digits, rounding=rounding, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN
    )


def _outward(value: Fraction, digits: int, rounding: str) -> Fraction:
    context = _outward_context(digits, rounding)
    return Fraction(context.divide(decimal.Decimal(value.numerator), value.denominator))


def _approx(low: Fraction, high: Fraction, key: object, digits: int) -> RealValue:
    """Bounds rounded outward to *digits* + 10 significant digits (numbers stay small)."""
    if low == high:
        return low
    places = digits + 10
    return Approx(
        _outward(low, places, decimal.ROUND_FLOOR),
        _outward(high, places, decimal.ROUND_CEILING),
        key,
    )


def _exact(value: Fraction) -> Fraction:
    num, den = check_size(value.numerator, value.denominator)
    return Fraction(num, den)


class _Walker:
    def __init__(
        self,
        program: Program,
        names: Mapping[str, Fraction | bool],
        digits: int,
        record: dict[int, object] | None,
    ) -> None:
        self.program = program
        self.names = names
        self.digits = digits
        self.record = record

    def value(self, node: ast.expr) -> Any:
        try:
            out = self._value(node)
        except (Undecided, ExpressionError):
            raise
        except ZeroDivisionError:
            raise zero_division(node, self.program.text) from None
        if self.record is not None:
            rec = getattr(node, "pr_rec", -1)
            for k in ((rec,) if rec >= 0 else ()) + tuple(getattr(node, "pr_formula_recs", ())):
                self.record[k] = out
        return out

    def _placed(self, node: ast.expr, exc: ExpressionError) -> ExpressionError:
        return exc.placed(getattr(node, "pr_offset", 0), self.program.text)

    def _value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.names[node.id]
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(operand, Approx):
                return Approx(-operand.hi, -operand.lo, ("neg", operand.key))
            return -operand
        if isinstance(node, ast.BoolOp):
            want = isinstance(node.op, ast.Or)
            for item in node.values:
                if self.value(item) is want:
                    return want
            return not want
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.value(comparator)
                if not _compare(op, left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            branch = node.body if self.value(node.test) else node.orelse
            return self.value(branch)
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            args = [self.value(arg) for arg in node.args]
            function = FUNCTIONS[name]
            try:
                if not function.real and not any(isinstance(a, Approx) for a in args):
                    return Fraction(*function.impl(*[as_pair(a) for a in args]))
                if function.approx is None:  # pragma: no cover - conditions are never Approx
                    raise Undecided
                return _settled(function.approx(args, self.digits), self.digits)
            except ExpressionError as exc:
                raise self._placed(node, exc) from None
        msg = f"unexpected node {type(node).__name__}"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def _binop(self, node: ast.BinOp) -> RealValue:
        a = self.value(node.left)
        b = self.value(node.right)
        op = node.op
        try:
            if isinstance(op, ast.Pow):
                return _settled(power_approx(a, b, self.digits), self.digits)
            if not isinstance(a, Approx) and not isinstance(b, Approx):
                if isinstance(op, ast.Add):
                    return _exact(a + b)
                if isinstance(op, ast.Sub):
                    return _exact(a - b)
                if isinstance(op, ast.Mult):
                    return _exact(a * b)
                return _exact(a / b)
        except ExpressionError as exc:
            raise self._placed(node, exc) from None
        return self._interval(op, a, b)

    def _interval(self, op: ast.operator, a: RealValue, b: RealValue) -> RealValue:
        same = key_of(a) == key_of(b)
        (al, ah), (bl, bh) = ends(a), ends(b)
        if isinstance(op, ast.Add):
            low, high, symbol = al + bl, ah + bh, "+"
        elif isinstance(op, ast.Sub):
            if same:
                return Fraction(0)
            low, high, symbol = al - bh, ah - bl, "-"
        elif isinstance(op, ast.Mult):
            if a == 0 or b == 0:
                return Fraction(0)
            products = [al * bl, al * bh, ah * bl, ah * bh]
            low, high, symbol = min(products), max(products), "*"
        else:
            if b == 0:
                raise ZeroDivisionError
            if same:
                return Fraction(1)
            if bl <= 0 <= bh:
                raise Undecided
            quotients = [al / bl, al / bh, ah / bl, ah / bh]
            low, high, symbol = min(quotients), max(quotients), "/"
        return _approx(low, high, (symbol, key_of(a), key_of(b)), self.digits)


def _settled(value: RealValue, digits: int) -> RealValue:
    if isinstance(value, Approx):
        return _approx(value.lo, value.hi, value.key, digits)
    return value


def _compare(op: ast.cmpop, a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a == b) if isinstance(op, ast.Eq) else bool(a != b)
    if not isinstance(a, Approx) and not isinstance(b, Approx):
        return bool(_EXACT[type(op)](a, b))
    if key_of(a) == key_of(b):
        return isinstance(op, ast.Eq | ast.LtE | ast.GtE)
    (al, ah), (bl, bh) = ends(a), ends(b)
    if ah < bl:  # a < b for sure
        return isinstance(op, ast.Lt | ast.LtE | ast.NotEq)
    if bh < al:  # a > b for sure
        return isinstance(op, ast.Gt | ast.GtE | ast.NotEq)
    raise Undecided


_EXACT: Final[dict[type[ast.cmpop], Callable[[Fraction, Fraction], bool]]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


def _more(digits: int, calls: int) -> int | None:
    """The next precision, or ``None`` past ``MAX_DIGITS`` or the work budget."""
    if digits >= MAX_DIGITS:
        return None
    more = min(4 * digits, MAX_DIGITS)
    return None if more * max(calls, 1) > MAX_WORK else more


def decide_with(
    compute: Callable[[int], Any], decide: Callable[[Any], T | None], calls: int = 1
) -> tuple[T, int]:
    """What *decide* answers for ``compute(digits)``, with more digits until it answers.

    The loop of :func:`settle` for a value computed otherwise than by a formula (a
    geometric group of *calls* logarithms). Raises PR325 when nothing is decided at
    ``MAX_DIGITS`` or within ``MAX_WORK``.
    """
    digits = START_DIGITS
    while True:
        try:
            answer = decide(compute(digits))
        except Undecided:
            answer = None
        if answer is not None:
            return answer, digits
        more = _more(digits, calls)
        if more is None:
            raise ExpressionError("PR325", {"digits": digits})
        digits = more


def walk(
    program: Program,
    names: Mapping[str, Fraction | bool],
    digits: int,
    record: dict[int, object] | None = None,
) -> Any:
    """The value of *program* at *digits* significant digits (may raise ``Undecided``).

    *record*, when given, receives the value of every recorded sub-expression by its
    trace record index.
    """
    return _Walker(program, names, digits, record).value(program.tree)


def settle(
    program: Program,
    names: Mapping[str, Fraction | bool],
    decide: Callable[[Any], T | None],
    record: dict[int, object] | None = None,
) -> tuple[T, int]:
    """What *decide* answers for the value of *program*, decided for its true value.

    *decide* receives the value (a condition, an exact ``Fraction`` or an
    :class:`Approx`) and returns the answer when it holds for every value within the
    bounds (e.g. they round alike), ``None`` otherwise. Returns the answer and the
    precision (significant digits) it was decided at.

    Raises:
        ExpressionError: a placed problem of the formula, or PR325 when the answer is not
            decided at ``MAX_DIGITS``.
    """
    calls = _calls(program)
    digits = START_DIGITS
    while True:
        if record is not None:
            record.clear()
        try:
            answer = decide(walk(program, names, digits, record))
        except Undecided:
            answer = None
        if answer is not None:
            return answer, digits
        more = _more(digits, calls)
        if more is None:
            raise ExpressionError("PR325", {"digits": digits}, offset=0, text=program.text)
        digits = more
