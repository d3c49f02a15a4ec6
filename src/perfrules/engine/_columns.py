"""The columnar shape of the kernel: a whole table of units scored as integer arrays.

The plan is the same one the scalar scorer is generated from; here each value of every unit
is a pair of numpy arrays, numerators and denominators, and each step of a formula is one
array operation. The arithmetic is exact: arrays hold ``int64`` while a bound computed from
the operands proves that the next operation cannot overflow, and Python integers (``object``
arrays) from the first operation where it cannot. Rounding uses the rounding registry's own
functions, which work elementwise.

A row is *regular* when every input is read as a plain number or condition, no formula
divides by zero, every score lies inside [0, weight] (or is clamped into it, under
``clamp``, as the general path clamps it) and no indicator is excluded. Only regular rows
are scored here; the caller scores the others one by one with
:meth:`CompiledScheme.evaluate`, which explains every problem. A scheme this module cannot
score as arrays (levels, powers, unrounded rows, grade overrides) says so in
:func:`columnar_plan`, and every row takes the scalar path.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from perfrules._numbers import ROUNDING
from perfrules.engine._plan import Plan
from perfrules.engine._totals import totals_of
from perfrules.expressions import FUNCTIONS, MAX_BITS, Interval

__all__ = ["Arrays", "ColumnarPlan", "columnar_plan", "ranked_runs", "score_arrays"]

Ints = npt.NDArray[Any]
Bools = npt.NDArray[np.bool_]
#: An input: ("num", numerators, denominators), ("bool", flags) or ("coded", codes, input).
Operand = tuple[Any, ...]

# Below this bound a product or sum of int64 values cannot overflow.
_SAFE: Final = 2**62
#: Scores' bounds carried from their inputs are used below this; above, measured.
_CARRIED: Final = 2**40
#: The functions with an array form (the others send every row to the scalar path).
_VECTOR_FUNCTIONS: Final = frozenset(n for n, f in FUNCTIONS.items() if f.array is not None)


@dataclass(frozen=True, slots=True)
class ColumnarPlan:
    """Whether a plan can be scored as arrays, and why not when it cannot."""

    plan: Plan
    reason: str | None

    @property
    def vectorised(self) -> bool:
        """Every regular row can be scored as arrays."""
        return self.reason is None


def columnar_plan(plan: Plan, types: Mapping[str, str]) -> ColumnarPlan:
    """Check once per scheme what the array scorer supports."""

    def why_not() -> str | None:
        if plan.overrides:
            return "grade overrides"
        if plan.total_places is None:
            return "an unrounded total"
        for node in plan.nodes:
            if node.aggregate == "geometric":
                return f"group {node.id} aggregates geometrically"
        for index in plan.leaves:
            node = plan.nodes[index]
            leaf = node.leaf
            assert leaf is not None  # noqa: S101
            if node.places is None:
                return f"indicator {node.id} is not rounded"
            if any(types.get(name) == "level" for name in leaf.needs):
                return f"indicator {node.id} reads a level"
            program = leaf.expression.program
            if program.max_size > MAX_BITS:
                return f"indicator {node.id} needs checked arithmetic"
            for item in ast.walk(program.tree):
                if isinstance(item, ast.BinOp) and isinstance(item.op, ast.Pow):
                    return f"indicator {node.id} uses **"
                if isinstance(item, ast.Call) and item.func.id not in _VECTOR_FUNCTIONS:  # type: ignore[attr-defined]
                    return f"indicator {node.id} calls {item.func.id}()"  # type: ignore[attr-defined]
        return None

    return ColumnarPlan(plan, why_not())


@dataclass
class Arrays:
    """The outcome of :func:`score_arrays` for *n* rows.

    Attributes:
        regular: rows scored here; the others must go through the scalar scorer.
        scores: each indicator's and group's rounded score (by node index) as integers over
            ``10 ** places`` (``scales``), valid on regular rows.
        scales: the power of ten each node's integers are over.
        total: the total as integers over ``10 ** total_places``.
        band: the position of the band of each regular row.
    """

    regular: Bools
    scores: dict[int, Ints]
    scales: dict[int, int]
    total: Ints
    band: Ints


Value = Ints | int


@dataclass(slots=True)
class Num:
    """A number on every row, with bounds on its parts.

    Numerators and denominators are arrays, or one Python ``int`` for a constant; the bounds
    on their magnitude are carried through every operation, so overflow is ruled out
    without looking at the values again.
    """

    n: Value
    d: Value
    bn: int
    bd: int

    @classmethod
    def of(cls, num: Value, den: Value) -> Num:
        """From values, bounds measured once."""
        if isinstance(num, np.ndarray) and num.ndim == 0:
            num = int(num)
        if isinstance(den, np.ndarray) and den.ndim == 0:
            den = int(den)
        return cls(num, den, _measure(num), _measure(den))

    def rows(self, n: int) -> tuple[Ints, Ints]:
        """Numerators and denominators as arrays of *n* rows."""
        return _full(self.n, n), _full(self.d, n)


def _full(value: Value, n: int) -> Ints:
    if isinstance(value, np.ndarray):
        return value if value.shape == (n,) else np.broadcast_to(value, (n,))
    return np.full(n, value, dtype=np.int64 if abs(value) < _SAFE else object)


def _measure(value: Value) -> int:
    if isinstance(value, int):
        return abs(value)
    if value.size == 0:
        return 0
    if value.dtype == object:
        return max((abs(v) for v in value.tolist()), default=0)
    return max(int(value.max()), -int(value.min()))


def _bound(values: Ints) -> int:
    return _measure(values)


def _wide(*arrays: Ints) -> list[Ints]:
    return [a.astype(object) if a.dtype != object else a for a in arrays]


def _times(x: Value, y: Value, bound: int) -> Value:
    """``x * y`` elementwise: skips a factor 1, goes to Python integers past the int64 bound."""
    if isinstance(x, int) and x == 1:
        return y
    if isinstance(y, int) and y == 1:
        return x
    if bound >= _SAFE:
        x, y = _widened(x), _widened(y)
    return x * y


def _widened(value: Value) -> Value:
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value.astype(object)
    return value


def _fits(*bounds: int) -> bool:
    total = 0
    for bound in bounds:
        total += bound
    return total < _SAFE


class _Vector:
    """Evaluates one validated tree over arrays; rows failing where active become irregular."""

    def __init__(self, inputs: Mapping[str, Any], n: int) -> None:
        self.inputs = inputs
        self.n = n
        self.bad = np.zeros(n, dtype=np.bool_)

    # --- numbers ------------------------------------------------------------------------
    @staticmethod
    def const(value: Fraction) -> Num:
        """A constant: Python integers, broadcast by every operation."""
        return Num(value.numerator, value.denominator, abs(value.numerator), value.denominator)

    @staticmethod
    def mul(a: Num, b: Num) -> Num:
        bn, bd = a.bn * b.bn, a.bd * b.bd
        return _reduced(Num(_times(a.n, b.n, bn), _times(a.d, b.d, bd), bn, bd))

    @staticmethod
    def add(a: Num, b: Num, sign: int) -> Num:
        if a.d is b.d or (isinstance(a.d, int) and isinstance(b.d, int) and a.d == b.d):
            bound = a.bn + b.bn
            an, bn_ = (a.n, b.n) if bound < _SAFE else (_widened(a.n), _widened(b.n))
            return Num(an + bn_ if sign > 0 else an - bn_, a.d, bound, a.bd)
        left_bound, right_bound = a.bn * b.bd, b.bn * a.bd
        bound = left_bound + right_bound
        left = _times(a.n, b.d, bound)
        right = _times(b.n, a.d, bound)
        num = left + right if sign > 0 else left - right
        bd = a.bd * b.bd
        return _reduced(Num(num, _times(a.d, b.d, bd), bound, bd))

    def div(self, a: Num, b: Num, active: Bools) -> Num:
        divisor = b.n
        if isinstance(divisor, int):
            if divisor == 0:
                self.bad |= active
                divisor = 1
            sign = -1 if divisor < 0 else 1
            num = _times(a.n, b.d * sign, a.bn * b.bd)
            den = _times(a.d, divisor * sign, a.bd * b.bn)
            return _reduced(Num(num, den, a.bn * b.bd, a.bd * max(b.bn, 1)))
        zero = divisor == 0
        if zero.any():
            self.bad |= active & zero
            divisor = np.where(zero, 1, divisor)
        num = _times(a.n, b.d, a.bn * b.bd)
        den = _times(a.d, divisor, a.bd * max(b.bn, 1))
        negative = np.asarray(divisor < 0)
        if negative.any():
            num, den = np.where(negative, -num, num), np.where(negative, -den, den)
        return _reduced(Num(num, den, a.bn * b.bd, a.bd * max(b.bn, 1)))

    @staticmethod
    def less(a: Num, b: Num) -> Bools:
        bound = max(a.bn * b.bd, b.bn * a.bd)
        left = _times(a.n, b.d, bound)
        right = _times(b.n, a.d, bound)
        return np.asarray(left < right, dtype=np.bool_)

    def compare(self, a: Any, op: ast.cmpop, b: Any) -> Bools:
        if not isinstance(a, Num):
            flags = {ast.Eq: a[1] == b[1], ast.NotEq: a[1] != b[1]}.get(type(op))
            if flags is None:  # pragma: no cover - the validator refuses ordering of bools
                msg = "ordering of conditions"
                raise AssertionError(msg)
            return np.asarray(flags, dtype=np.bool_)
        lt, gt = self.less(a, b), self.less(b, a)
        return {
            ast.Lt: lt,
            ast.Gt: gt,
            ast.LtE: ~gt,
            ast.GtE: ~lt,
            ast.Eq: ~lt & ~gt,
            ast.NotEq: lt | gt,
        }[type(op)]

    @staticmethod
    def pick(flags: Bools, a: Any, b: Any) -> Any:
        if not isinstance(a, Num):
            return ("bool", np.where(flags, a[1], b[1]))
        values: list[Value] = [a.n, a.d, b.n, b.d]
        if any(isinstance(v, np.ndarray) and v.dtype == object for v in values) or any(
            isinstance(v, int) and abs(v) >= _SAFE for v in values
        ):
            values = [_widened(v) for v in values]
        an, ad, bn, bd = values
        if isinstance(ad, int) and isinstance(bd, int) and ad != bd:
            # Two denominators alike on every row (a column of six places and a constant):
            # both over their least common multiple, so the result keeps one denominator.
            common = ad * bd // math.gcd(ad, bd)
            left, right = a.bn * (common // ad), b.bn * (common // bd)
            if max(left, right, common) < _SAFE:
                an, bn = _times(an, common // ad, left), _times(bn, common // bd, right)
                return Num(np.where(flags, an, bn), common, max(left, right), common)
        if isinstance(ad, int) and isinstance(bd, int) and ad == bd:
            den: Value = ad
        else:
            den = np.where(flags, ad, bd)
        return Num(np.where(flags, an, bn), den, max(a.bn, b.bn), max(a.bd, b.bd))

    def extreme(self, a: Num, b: Num, *, smaller: bool) -> Num:
        """The smaller (or larger) of *a* and *b*: the one ``pick(less(...))`` chooses.

        Over one denominator each (a column of one number of places and a constant, say),
        both over their least common multiple: the numerators' least (greatest) is the
        value, one array operation.
        """
        ad, bd = a.d, b.d
        if isinstance(ad, int) and isinstance(bd, int) and ad > 0 and bd > 0:
            common = ad * bd // math.gcd(ad, bd)
            left, right = a.bn * (common // ad), b.bn * (common // bd)
            an, bn = a.n, b.n
            arrays = [v for v in (an, bn) if isinstance(v, np.ndarray)]
            if max(left, right, common) < _SAFE and all(v.dtype != object for v in arrays):
                an, bn = _times(an, common // ad, left), _times(bn, common // bd, right)
                if not arrays:  # two constants
                    chosen: Value = min(an, bn) if smaller else max(an, bn)
                else:
                    chosen = (np.minimum if smaller else np.maximum)(an, bn)
                return Num(chosen, common, max(left, right), common)
        flags = self.less(b, a) if smaller else self.less(a, b)
        return self.pick(flags, b, a)  # type: ignore[no-any-return]

    # --- the tree -----------------------------------------------------------------------
    def node(self, node: ast.expr, active: Bools) -> Any:
        """The value of *node* on every row (a :class:`Num`, or ``("bool", flags)``)."""
        if isinstance(node, ast.Constant):
            constant: Any = node.value
            if isinstance(constant, bool):
                return ("bool", np.full(self.n, constant, dtype=np.bool_))
            if isinstance(constant, Interval):
                return ("obj", constant)
            return self.const(Fraction(constant))
        if isinstance(node, ast.Name):
            return self.inputs[node.id]
        if isinstance(node, ast.UnaryOp):
            operand = self.node(node.operand, active)
            if isinstance(node.op, ast.Not):
                return ("bool", ~operand[1])
            if isinstance(node.op, ast.USub):
                return Num(-operand.n, operand.d, operand.bn, operand.bd)
            return operand
        if isinstance(node, ast.BinOp):
            a = self.node(node.left, active)
            b = self.node(node.right, active)
            if isinstance(node.op, ast.Add):
                return self.add(a, b, 1)
            if isinstance(node.op, ast.Sub):
                return self.add(a, b, -1)
            if isinstance(node.op, ast.Mult):
                return self.mul(a, b)
            return self.div(a, b, active)  # Div (Pow is refused by columnar_plan)
        if isinstance(node, ast.BoolOp):
            flags = self._flags(self.node(node.values[0], active))
            is_and = isinstance(node.op, ast.And)
            for value in node.values[1:]:
                going = active & (flags if is_and else ~flags)
                more = self._flags(self.node(value, going))
                flags = np.where(going, more, flags)
            return ("bool", flags)
        if isinstance(node, ast.Compare):
            left = self.node(node.left, active)
            flags = np.ones(self.n, dtype=np.bool_)
            going = active
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.node(comparator, going)
                flags = flags & self.compare(left, op, right)
                going = going & flags
                left = right
            return ("bool", flags)
        if isinstance(node, ast.IfExp):
            test = self._flags(self.node(node.test, active))
            body = self.node(node.body, active & test)
            orelse = self.node(node.orelse, active & ~test)
            return self.pick(test, body, orelse)
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            args = [self.node(arg, active) for arg in node.args]
            return self.call(name, args, active)
        msg = f"unexpected node {type(node).__name__}"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def _flags(self, value: Any) -> Bools:
        flags = np.asarray(value[1], dtype=np.bool_)
        return flags if flags.shape == (self.n,) else np.broadcast_to(flags, (self.n,))

    def call(self, name: str, args: list[Any], active: Bools) -> Any:
        """A function of the language on every row: its array form in the registry."""
        form = FUNCTIONS[name].array
        assert form is not None  # noqa: S101 - refused by columnar_plan
        return form(self, args, active)

    # --- the operations array forms are written with (expressions.ArrayOps) ---------------
    def refuse(self, flags: Bools) -> None:
        """Rows where *flags* hold go to the scalar path."""
        self.bad |= flags

    def flags(self, value: Any) -> Bools:
        """The flags of a condition on every row."""
        return self._flags(value)

    @staticmethod
    def negative(x: Num) -> Bools:
        """Rows where *x* is below 0."""
        return np.asarray(np.asarray(x.n) < 0, dtype=np.bool_)

    @staticmethod
    def zero(x: Num) -> Bools:
        """Rows where *x* is 0."""
        return np.asarray(np.asarray(x.n) == 0, dtype=np.bool_)

    @staticmethod
    def negate(x: Num) -> Num:
        """``-x``."""
        return Num(-x.n, x.d, x.bn, x.bd)

    @staticmethod
    def whole(num: Value, den: Value, bound: int) -> Num:
        """``num // den`` as a whole number."""
        return Num(num // den, 1, bound, 1)

    @staticmethod
    def parts(x: Num) -> tuple[Value, Value, int, int]:
        """Numerators, denominators and their bounds."""
        return x.n, x.d, x.bn, x.bd

    def count(self, flags: list[Bools]) -> Num:
        """How many of *flags* hold on each row."""
        total = np.zeros(self.n, dtype=np.int64)
        for flag in flags:
            total += flag
        return Num(total, 1, len(flags), 1)

    def holds(self, interval: Interval, x: Num) -> Bools:
        """Rows where *x* lies in *interval*."""
        return self._holds(interval, x)

    def no(self) -> Bools:
        """False on every row."""
        return np.zeros(self.n, dtype=np.bool_)

    def _holds(self, interval: Interval, x: Num) -> Bools:
        """``Interval.holds`` elementwise."""
        flags = np.ones(self.n, dtype=np.bool_)
        if interval.low is not None:
            low = self.const(interval.low)
            # out when x < low, or x == low and the low end is open
            flags &= ~self.less(x, low) if interval.low_closed else self.less(low, x)
        if interval.high is not None:
            high = self.const(interval.high)
            flags &= ~self.less(high, x) if interval.high_closed else self.less(x, high)
        return flags


def _reduced(value: Num) -> Num:
    """Keep int64 pairs small: divide out common factors once they grow past 2**31."""
    if value.bn < 2**31 and value.bd < 2**31:
        return value
    num, den = value.n, value.d
    if not (isinstance(num, np.ndarray) and isinstance(den, np.ndarray)):
        return value
    if object in (num.dtype, den.dtype) or num.shape != den.shape:
        return value
    common = np.gcd(num, den)
    common[common == 0] = 1
    num, den = num // common, den // common
    return Num(num, den, _measure(num), _measure(den))


def _to_whole(num: Ints, den: Ints | int, mode: str, bound: int | None = None) -> Ints:
    """``num / den`` (both >= 0) rounded to a whole number, elementwise.

    One denominator for every row (an ``int``) rounds with one floor division
    (``RoundingMode.over``) where ``2 * num + den`` fits int64 (*bound* on ``num``, or
    measured); the others with ``divmod``.
    """
    rounding = ROUNDING[mode]
    if isinstance(den, int) and num.dtype != object:
        if bound is None:
            bound = _bound(num)
        if 2 * bound + den < 2**63:
            return np.asarray(rounding.over(num, den))  # type: ignore[arg-type]
    magnitude = rounding.magnitude
    if num.dtype == object or (isinstance(den, np.ndarray) and den.dtype == object):
        # numpy has no divmod for Python integers: the same function, one element at a time
        return np.asarray(np.frompyfunc(magnitude, 2, 1)(num, den), dtype=object)
    return np.asarray(magnitude(num, den))  # type: ignore[arg-type]


def _one_coding(operands: Mapping[str, Operand]) -> Ints | None:
    """The codes every operand of an indicator is read through, if they share one."""
    codes = None
    for operand in operands.values():
        if operand[0] != "coded" or (codes is not None and operand[1] is not codes):
            return None
        codes = operand[1]
    return codes


def _decoded(operand: Operand) -> Operand:
    """An operand on every row (a coded one taken through its codes)."""
    if operand[0] != "coded":
        return operand
    codes, inner = operand[1], operand[2]
    if inner[0] == "bool":
        return ("bool", inner[1][codes])
    den = inner[2]
    return ("num", inner[1][codes], den if np.ndim(den) == 0 else den[codes])


def _inside(value: Num, weight: Num) -> bool:
    """Every row's *value* lies in [0, weight]: the least and greatest numerators say so.

    For a value over one denominator (``int``) as int64; otherwise, or when some row is
    outside, ``False`` (the rows are then looked at one by one).
    """
    num, den = value.n, value.d
    high, under = weight.n, weight.d
    if not (isinstance(den, int) and den > 0 and isinstance(num, np.ndarray)):
        return False
    if not (isinstance(high, int) and isinstance(under, int)):
        return False
    if num.dtype == object or not num.size:
        return False
    least, most = int(num.min()), int(num.max())
    # value <= weight: num / den <= w.n / w.d, so num * w.d <= w.n * den
    return least >= 0 and most * under <= high * den


def _leaf_scores(
    plan: Plan, index: int, inputs: Mapping[str, Operand], active: Bools, n: int
) -> tuple[Ints, Bools, int]:
    """An indicator's rounded scores on *n* rows, and the rows that cannot be scored here.

    With them a bound on the scores' magnitude, on every row (those refused too).
    """
    node = plan.nodes[index]
    leaf = node.leaf
    assert leaf is not None  # noqa: S101
    assert node.places is not None  # noqa: S101
    weight = _Vector.const(node.weight)
    operands = {
        name: Num.of(operand[1], operand[2]) if operand[0] == "num" else operand
        for name, operand in inputs.items()
    }
    operands["weight"] = weight
    vector = _Vector(operands, n)
    value = vector.node(leaf.expression.program.tree, active)
    bad = vector.bad
    # A score outside [0, weight] is clamped into it under ``clamp`` (as the general path
    # clamps it, before rounding); without, the row is refused one by one (PR501).
    if not _inside(value, weight):
        below = np.asarray(value.n < 0)
        above = vector.less(weight, value)
        if leaf.clamp:
            zero = vector.const(Fraction(0))
            value = vector.pick(below, zero, vector.pick(above, weight, value))
        else:
            bad = bad | below | above
    # Rows that are not regular are rounded too (their values are never used): a
    # denominator is never 0 here, since division put 1 where it found a 0.
    scale = 10**node.places
    if isinstance(value.d, int) and value.bn * scale < _SAFE:
        # One denominator for every row (a column of one number of places): one division
        # of ``num × scale / den``, the common factor of scale and den taken out first
        # (six places rounded to two: ``num / 10**4``, no multiplication).
        common = math.gcd(scale, value.d)
        num = _full(_times(value.n, scale // common, value.bn * scale), n)
        bound = -(-value.bn * scale // value.d) + 1  # rounding moves a value less than 1
        return _to_whole(num, value.d // common, plan.mode, value.bn * scale), bad, bound
    num, den = value.rows(n)
    if value.bn * scale >= _SAFE:
        num, den = _wide(num, den)
    return _to_whole(num * scale, den, plan.mode), bad, value.bn * scale + 1


def score_arrays(
    columnar: ColumnarPlan,
    inputs: Mapping[int, Mapping[str, Operand]],
    regular: Bools,
    out: Mapping[int, Ints] | None = None,
) -> Arrays:
    """Score the regular rows of a table as arrays.

    Args:
        columnar: a plan that :func:`columnar_plan` accepted.
        inputs: for each indicator (by node index), the operand of every input it reads,
            already resolved from its own column, the shared column, a cohort value or a
            default (rows where none could be read are not regular). An operand is
            ``("num", numerators, denominators)``, ``("bool", flags)``, or
            ``("coded", codes, operand)``: a column of a few distinct values, the operand
            holding each value once and *codes* each row's (an indicator whose operands
            all share the codes is scored once a value).
        regular: the rows whose every cell was read plainly; narrowed here to the rows whose
            formulas succeed and whose scores lie in [0, weight].
        out: by node index, an int64 array of *n* rows (any strides: the low words of a
            decimal column) to hold that node's scores, where they fit int64; the node's
            ``scores`` are then that array.
    """
    plan = columnar.plan
    totals = totals_of(plan)
    mode = plan.mode
    n = regular.shape[0]
    regular = regular.copy()
    scores: dict[int, Ints] = {}
    scales: dict[int, int] = {}
    bounds: dict[int, int] = {}  # on each node's scores, carried rather than measured
    for index in plan.leaves:
        given = inputs[index]
        codes = _one_coding(given)
        if codes is None:
            rows = {name: _decoded(operand) for name, operand in given.items()}
            whole, bad, bounds[index] = _leaf_scores(plan, index, rows, regular, n)
        else:
            # Every operand a column's few distinct values: each value scored once, then
            # taken by every row that holds it (a value scores alike on any row).
            each = {name: operand[2] for name, operand in given.items()}
            m = len(next(iter(each.values()))[1])
            ones = np.ones(m, dtype=np.bool_)
            few, few_bad, bounds[index] = _leaf_scores(plan, index, each, ones, m)
            # A row's flag taken only where some value is refused.
            whole = few[codes]
            bad = few_bad[codes] if few_bad.any() else few_bad[:0]
        if bad.any():
            regular &= ~bad
        scores[index] = _placed(whole, out, index)
        scales[index] = plan.nodes[index].places or 0
    for index in plan.post_order:
        node = plan.nodes[index]
        if node.kind == "indicator":
            continue
        kids = node.children
        top = max(scales[c] for c in kids) if kids else 0
        total: Ints | None = None  # the first part taken as it is (a single one not copied)
        summed = 0  # a bound on the total so far: the sum of its parts' bounds
        for child in kids:
            factor = 10 ** (top - scales[child])
            part = scores[child]
            if bounds[child] >= _CARRIED and part.dtype != object:
                # A bound carried from a wide input (a huge value on a refused row, say)
                # may be far above the scores: measured instead, as int64 may still hold it.
                bounds[child] = _bound(part)
            grown = bounds[child] * factor
            if total is None:
                if not _fits(grown) and part.dtype != object:
                    (part,) = _wide(part)
                total = part if factor == 1 else part * factor
                owned = total is not scores[child]  # else copied before it is added to
                summed = grown
                continue
            if total.dtype != object and (part.dtype == object or not _fits(grown, summed)):
                part, total = _wide(part, total)  # past int64: Python integers from here on
                owned = True
            elif not owned:
                total, owned = total.copy(), True
            summed += grown
            total += part if factor == 1 else part * factor
        if total is None:
            total = np.zeros(n, dtype=np.int64)
        value_num: Ints = total
        value_den: Ints | int = 10**top
        scale_now: int | None = top
        if node.kind == "scheme" and totals.always:
            # No row of a regular unit is excluded: the totals' fit on every row at once.
            widest = max(totals.plan.max.numerator, totals.plan.max.denominator)
            factor = totals.scale_to / totals.rows_weight
            grows = factor.numerator * factor.denominator * widest * widest
            if not _fits((_bound(total) + 10**top) * grows):
                (total,) = _wide(total)
            value_num, value_den = totals.finish_each(total, 10**top, np.where)
            scale_now = None
        places = node.places
        if places is None:
            scores[index], scales[index], bounds[index] = value_num, top, summed
            continue
        if scale_now is not None and scale_now <= places:
            grow = 10 ** (places - scale_now)
            scores[index] = value_num if grow == 1 else value_num * grow
            bounds[index] = summed * grow
        elif scale_now is not None:
            cut = 10 ** (scale_now - places)
            scores[index] = _to_whole(value_num, cut, mode, summed)
            bounds[index] = summed // cut + 1
        else:
            wide = value_num
            if wide.dtype != object and not _fits(_bound(wide) * 10**places):
                (wide,) = _wide(wide)
            scores[index] = _to_whole(wide * 10**places, value_den, mode)
            bounds[index] = _bound(scores[index])
        scales[index] = places
        scores[index] = _placed(scores[index], out, index)
    total_scale = 10 ** scales[0]
    total = scores[0]
    band = _bands(plan, total, total_scale)
    return Arrays(regular, scores, scales, total, band)


def _placed(values: Ints, out: Mapping[int, Ints] | None, index: int) -> Ints:
    """*values* in the array *out* holds for node *index*, where there is one and they fit."""
    target = None if out is None else out.get(index)
    if target is None or values.dtype == object:
        return values
    np.copyto(target, values)
    return target


def _bands(plan: Plan, total: Ints, scale: int) -> Ints:
    """The band of each total (an integer over *scale*), as the totals decide it."""
    totals = totals_of(plan)
    n = total.shape[0]
    largest = max(
        (
            max(abs(b.numerator), b.denominator)
            for _, low, high, _ in plan.bands
            for b in (low, high)
        ),
        default=1,
    )
    fits = total.dtype != object and _fits(_bound(total) * largest, largest * scale)
    wide = total if fits else total.astype(object)
    start = np.full(n, totals.top, dtype=np.int64)
    return np.asarray(totals.band_of_each(wide, scale, start, np.where), dtype=np.int64)


def equal_places(positions: Any, cohorts: Any, *, shares: bool) -> Ints:
    """The rows whose place (*positions*) another row of their cohort has, as flags.

    The half of ``_cohort.rank_shared`` that looks at arrays: when the tie rule *shares*
    a place among equal units, a place held twice in a cohort is a shared rank.
    """
    place = np.asarray(positions)
    cohort = np.asarray(cohorts)
    count = place.shape[0]
    shared = np.zeros(count, dtype=np.bool_)
    if not shares or count < 2:
        return shared
    order = np.lexsort((place, cohort))
    in_order, cohort_order = place[order], cohort[order]
    same = (in_order[1:] == in_order[:-1]) & (cohort_order[1:] == cohort_order[:-1])
    flags = np.zeros(count, dtype=np.bool_)
    flags[1:] |= same
    flags[:-1] |= same
    shared[order] = flags
    return shared


def ranked_runs(
    keys: Sequence[Any], missing: Sequence[Any], descending: Sequence[bool], cohorts: Any
) -> tuple[Ints, Ints, Ints]:
    """Where each row falls when a ranking sorts the rows, as arrays.

    The sorting half of the ranking's array form (``_cohort.rank_positions`` applies the
    tie rule): *keys* are integer arrays whose order is the exact values', *missing* flags
    the missing ones (sorted after every value, whichever the order), *descending* says
    which keys sort highest first, *cohorts* numbers each row's cohort. Sorts are stable,
    last key first, the cohort last of all, so rows equal on every key keep the order given.

    Returns, for each row in the order given: the sorted place its run of equal keys
    begins at, how many runs its cohort has up to that run (itself included), and its own
    sorted place, all counted from the start of its cohort.
    """
    cohort = np.asarray(cohorts)
    count = cohort.shape[0]
    flags = [np.asarray(m, dtype=np.bool_) for m in missing]
    values = []
    for given, flag, desc in zip(keys, flags, descending, strict=True):
        value = np.where(flag, 0, np.asarray(given))  # a missing value's integer is not read
        if desc:
            np.negative(value, out=value)
        values.append(value)
    order = np.arange(count)
    for value, flag in zip(reversed(values), reversed(flags), strict=True):
        order = order[np.argsort(value[order], kind="stable")]
        if flag.any():
            order = order[np.argsort(flag[order], kind="stable")]
    if count and (cohort != cohort[0]).any():
        order = order[np.argsort(cohort[order], kind="stable")]
    # A few arrays as long as the rows at a time (a million rows are ranked at once): each
    # is let go, or computed in place, as soon as the next step has what it needs.
    ordered = cohort[order]
    firsts = np.ones(count, dtype=np.bool_)  # a cohort's first place
    firsts[1:] = ordered[1:] != ordered[:-1]
    del ordered
    starts = firsts.copy()  # a run's first place: a new cohort, or any key differs
    for value, flag in zip(values, flags, strict=True):
        ordered = value[order]
        starts[1:] |= ordered[1:] != ordered[:-1]
        ordered = flag[order]
        starts[1:] |= ordered[1:] != ordered[:-1]
        del ordered
    del values
    places = np.arange(count)
    if not count:
        return places, places, places
    cohort_start = np.where(firsts, places, 0)
    np.maximum.accumulate(cohort_start, out=cohort_start)
    found = np.empty((3, count), dtype=np.int64)  # back from sorted places to the rows
    run_start = np.where(starts, places, 0)
    np.maximum.accumulate(run_start, out=run_start)
    run_start -= cohort_start
    found[0, order] = run_start
    del run_start
    dense: Ints = np.cumsum(starts)
    np.subtract(dense, dense[cohort_start] - 1, out=dense)
    found[1, order] = dense
    del dense
    places -= cohort_start
    found[2, order] = places
    return found[0], found[1], found[2]
