"""Formulas as generated Python functions on exact integer pairs.

Why generated code (see ``docs/explanation/evaluator.md``): once a tree has passed the
allow-list in ``_parse``, it holds only input names, exact constants, arithmetic,
comparisons, conditionals and calls to the functions of ``_functions.FUNCTIONS``. Such a
tree becomes a short Python function in which every number is two ints, a numerator and a
positive denominator, so ``6 * (7 / 48)`` is ``42 / 48`` without a ``Fraction`` being built
and CPython runs the arithmetic in C.

The source of the function is made only from the validated tree, never from rule-file text:

* inputs are parameters named ``v0n, v0d, v1, ...`` by position, whatever the rule file
  calls them; the caller passes values in :attr:`PairCode.params` order;
* constants are decimal integer literals the generator writes itself; interval specs of
  ``lookup()`` are objects bound to ``_K0, _K1, ...``;
* calls go to ``_F_<name>`` bound to the registry's implementation, and ``__builtins__`` is
  empty, so nothing else is reachable;
* ``+ - * /`` run natively only when the validator proved that no intermediate can outgrow
  the size limit (``Program.max_size``); otherwise each result passes ``_chk``, which
  reduces it and refuses it past ``MAX_BITS``; ``**`` always goes through the checked power.

Two functions are built per program: a plain one, and a traced one taking ``_rec`` (a list's
``append``) that records ``(record index, numerator, denominator)`` or ``(record index,
bool)`` for every sub-expression the explanation shows, in evaluation order.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from types import FunctionType
from typing import Any, Final

from perfrules.expressions._functions import FUNCTIONS, Interval, check_size, power
from perfrules.expressions._functions import times as _times
from perfrules.expressions._limits import MAX_BITS
from perfrules.expressions._parse import Program

_COMPARE: Final[dict[type[ast.cmpop], str]] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_BASE_GLOBALS: Final[dict[str, object]] = {
    "__builtins__": {},
    "_ZDE": ZeroDivisionError,
    "_pow": power,
    "_chk": check_size,
    **{f"_F_{name}": function.impl for name, function in FUNCTIONS.items()},
}

# An operand: ("num", numerator code, denominator code), ("bool", code) or ("obj", code).
Operand = tuple[str, ...]


def _int(value: int) -> str:
    return f"({value})" if value < 0 else str(value)


class _Generator:
    def __init__(
        self,
        params: dict[str, Operand],
        *,
        traced: bool,
        checked: bool,
        depth: int = 1,
        prefix: str = "",
    ) -> None:
        self.params = params
        self.traced = traced
        self.checked = checked
        self.lines: list[str] = []
        self.depth = depth
        self.count = 0
        self.prefix = prefix
        self.constants: dict[str, object] = {}

    def emit(self, line: str) -> None:
        self.lines.extend("    " * self.depth + part for part in line.split("\n"))

    def temp(self) -> str:
        self.count += 1
        return f"t{self.prefix}{self.count}"

    def node(self, node: ast.expr) -> Operand:
        out = self._node(node)
        if self.traced:
            rec = getattr(node, "pr_rec", -1)
            for k in ((rec,) if rec >= 0 else ()) + tuple(getattr(node, "pr_formula_recs", ())):
                if out[0] == "num":
                    self.emit(f"_rec(({k}, {out[1]}, {out[2]}))")
                else:
                    self.emit(f"_rec(({k}, {out[1]}))")
        return out

    def _node(self, node: ast.expr) -> Operand:
        if isinstance(node, ast.Constant):
            return self._constant(node.value)
        if isinstance(node, ast.Name):
            return self.params[node.id]
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.node(node.operand)
            t = self.temp()
            if isinstance(node.op, ast.Not):
                self.emit(f"{t} = not {operand[1]}")
                return ("bool", t)
            sign = "-" if isinstance(node.op, ast.USub) else ""
            self.emit(f"{t}n = {sign}{operand[1]}")
            return ("num", f"{t}n", operand[2])
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self._ifexp(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        msg = f"unexpected node {type(node).__name__} in a validated tree"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def _constant(self, value: object) -> Operand:
        if isinstance(value, bool):
            return ("bool", "True" if value else "False")
        if isinstance(value, Interval):
            name = f"_K{self.prefix}{len(self.constants)}"
            self.constants[name] = value
            return ("obj", name)
        numerator, denominator = value.numerator, value.denominator  # type: ignore[attr-defined]
        return ("num", _int(numerator), _int(denominator))

    def _binop(self, node: ast.BinOp) -> Operand:
        a = self.node(node.left)
        b = self.node(node.right)
        t = self.temp()
        an, ad, bn, bd = a[1], a[2], b[1], b[2]
        op = node.op
        if isinstance(op, ast.Pow):
            self.emit(f"{t}n, {t}d = _pow(({an}, {ad}), ({bn}, {bd}))")
            return ("num", f"{t}n", f"{t}d")
        if isinstance(op, ast.Add | ast.Sub):
            sign = "+" if isinstance(op, ast.Add) else "-"
            if ad == bd:
                self.emit(f"{t}n = {an} {sign} {bn}\n{t}d = {ad}")
            else:
                self.emit(
                    f"{t}n = {_times(an, bd)} {sign} {_times(bn, ad)}\n{t}d = {_times(ad, bd)}"
                )
        elif isinstance(op, ast.Mult):
            self.emit(f"{t}n = {_times(an, bn)}\n{t}d = {_times(ad, bd)}")
        else:  # Div
            literal = bn.lstrip("(-").rstrip(")").isdigit()
            if not literal:
                self.emit(f"if {bn} == 0: raise _ZDE")
            elif int(bn.strip("()")) == 0:
                self.emit("raise _ZDE")
            self.emit(f"{t}n = {_times(an, bd)}\n{t}d = {_times(ad, bn)}")
            if not literal or bn.startswith("("):
                self.emit(f"if {t}d < 0: {t}n, {t}d = -{t}n, -{t}d")
        if self.checked:
            self.emit(f"{t}n, {t}d = _chk({t}n, {t}d)")
        return ("num", f"{t}n", f"{t}d")

    def _boolop(self, node: ast.BoolOp) -> Operand:
        t = self.temp()
        first = self.node(node.values[0])
        self.emit(f"{t} = {first[1]}")
        guard = f"if {t}:" if isinstance(node.op, ast.And) else f"if not {t}:"
        for value in node.values[1:]:
            self.emit(guard)
            self.depth += 1
            operand = self.node(value)
            self.emit(f"{t} = {operand[1]}")
            self.depth -= 1
        return ("bool", t)

    @staticmethod
    def _test(a: Operand, symbol: str, b: Operand) -> str:
        if a[0] == "num":
            return f"{_times(a[1], b[2])} {symbol} {_times(b[1], a[2])}"
        return f"{a[1]} {symbol} {b[1]}"

    def _compare(self, node: ast.Compare) -> Operand:
        t = self.temp()
        left = self.node(node.left)
        right = self.node(node.comparators[0])
        self.emit(f"{t} = {self._test(left, _COMPARE[type(node.ops[0])], right)}")
        for op, comparator in zip(node.ops[1:], node.comparators[1:], strict=True):
            self.emit(f"if {t}:")
            self.depth += 1
            left, right = right, self.node(comparator)
            self.emit(f"{t} = {self._test(left, _COMPARE[type(op)], right)}")
            self.depth -= 1
        return ("bool", t)

    def _ifexp(self, node: ast.IfExp) -> Operand:
        test = self.node(node.test)
        t = self.temp()
        kind = ""
        for header, branch in ((f"if {test[1]}:", node.body), ("else:", node.orelse)):
            self.emit(header)
            self.depth += 1
            operand = self.node(branch)
            kind = operand[0]
            if kind == "num":
                self.emit(f"{t}n = {operand[1]}\n{t}d = {operand[2]}")
            else:
                self.emit(f"{t} = {operand[1]}")
            self.depth -= 1
        return ("num", f"{t}n", f"{t}d") if kind == "num" else ("bool", t)

    def _call(self, node: ast.Call) -> Operand:
        name = node.func.id  # type: ignore[attr-defined]  # a Name, guaranteed by _parse
        operands = [self.node(arg) for arg in node.args]
        t = self.temp()
        inline = FUNCTIONS[name].inline
        if inline is not None and all(o[0] == "num" for o in operands):
            num, den = inline(self.emit, t, [(o[1], o[2]) for o in operands])
            return ("num", num, den)
        args = [f"({o[1]}, {o[2]})" if o[0] == "num" else o[1] for o in operands]
        self.emit(f"{t}n, {t}d = _F_{name}({', '.join(args)})")
        return ("num", f"{t}n", f"{t}d")


def inline_block(
    program: Program,
    operands: dict[str, Operand],
    *,
    depth: int,
    prefix: str,
    traced: bool = False,
) -> tuple[list[str], Operand, dict[str, object]]:
    """*program* as statements to paste into other generated code.

    Args:
        program: the validated program.
        operands: the code of each input (``("num", num, den)`` or ``("bool", code)``).
        depth: indentation level of the statements.
        prefix: keeps temporaries and constants apart from other blocks.
        traced: also write ``_rec((k, num, den))`` or ``_rec((k, bool))`` after each
            sub-expression the explanation shows (as the traced function does).

    Returns:
        The lines, the operand holding the result, and the constants to bind.
    """
    generator = _Generator(
        operands,
        traced=traced,
        checked=program.max_size > MAX_BITS,
        depth=depth,
        prefix=prefix,
    )
    result = generator.node(program.tree)
    return generator.lines, result, generator.constants


BASE_GLOBALS: Final = _BASE_GLOBALS


def never_above(tree: ast.expr, name: str) -> bool:
    """Whether the formula *tree* is at most the input *name* (not negative) on any input.

    Proved from the shape alone, for the usual ways of capping a score at its weight:
    ``name * E`` with ``E`` at most 1 (``min(x, 1)``, a constant up to 1, ...), ``min(...,
    name)``, and conditionals whose every branch is so. ``False`` means only "not proved".
    A negative value is not ruled out (``name * min(x, 1)`` is negative for ``x < 0``).
    """
    if isinstance(tree, ast.Name):
        return tree.id == name
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Mult):
        left, right = tree.left, tree.right
        return (_is_name(left, name) and _at_most_one(right)) or (
            _is_name(right, name) and _at_most_one(left)
        )
    if isinstance(tree, ast.IfExp):
        return never_above(tree.body, name) and never_above(tree.orelse, name)
    if _is_call(tree, "min"):
        return any(never_above(arg, name) for arg in tree.args)  # type: ignore[attr-defined]
    if _is_call(tree, "max"):
        return all(never_above(arg, name) for arg in tree.args)  # type: ignore[attr-defined]
    return False


def _at_most_one(tree: ast.expr) -> bool:
    """Whether *tree*'s value is at most 1 on any input (proved from its shape)."""
    if isinstance(tree, ast.Constant):
        value = tree.value
        return not isinstance(value, bool | Interval) and value <= 1  # type: ignore[operator]
    if isinstance(tree, ast.IfExp):
        return _at_most_one(tree.body) and _at_most_one(tree.orelse)
    if _is_call(tree, "min"):
        return any(_at_most_one(arg) for arg in tree.args)  # type: ignore[attr-defined]
    if _is_call(tree, "max"):
        return all(_at_most_one(arg) for arg in tree.args)  # type: ignore[attr-defined]
    return False


def _is_name(tree: ast.expr, name: str) -> bool:
    return isinstance(tree, ast.Name) and tree.id == name


def _is_call(tree: ast.expr, function: str) -> bool:
    return (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and tree.func.id == function
        and not tree.keywords
    )


class PairCode:
    """The generated functions of one program, and the order of their parameters.

    Attributes:
        params: ``(name, type)`` of each input, in the order the functions take them; a
            number is passed as two arguments (numerator, denominator), a condition as one.
        function: ``f(*args)`` → ``(numerator, denominator)`` or a bool.
        source: the generated source of ``function`` (for the curious and for tests).
    """

    __slots__ = ("_traced", "checked", "function", "params", "program", "source")

    def __init__(self, program: Program) -> None:
        """Generate and compile the plain function; the traced one on first use."""
        self.program = program
        self.params: tuple[tuple[str, str], ...] = tuple(sorted(program.name_types))
        self.checked = program.max_size > MAX_BITS
        self.source, self.function = self._build(traced=False)
        self._traced: Callable[..., Any] | None = None

    @property
    def traced(self) -> Callable[..., Any]:
        """``f(_rec, *args)``: as :attr:`function`, recording every shown sub-expression."""
        # Idempotent: two threads may both build it; either result is the same.
        if self._traced is None:
            self._traced = self._build(traced=True)[1]
        return self._traced

    def _build(self, *, traced: bool) -> tuple[str, Callable[..., Any]]:
        operands: dict[str, Operand] = {}
        signature: list[str] = ["_rec"] if traced else []
        for i, (name, kind) in enumerate(self.params):
            if kind == "num":
                operands[name] = ("num", f"v{i}n", f"v{i}d")
                signature += [f"v{i}n", f"v{i}d"]
            else:
                operands[name] = ("bool", f"v{i}")
                signature.append(f"v{i}")
        generator = _Generator(operands, traced=traced, checked=self.checked)
        result = generator.node(self.program.tree)
        if result[0] == "num":
            generator.emit(f"return {result[1]}, {result[2]}")
        else:
            generator.emit(f"return {result[1]}")
        source = f"def _formula({', '.join(signature)}):\n" + "\n".join(generator.lines) + "\n"
        namespace: dict[str, object] = {**_BASE_GLOBALS, **generator.constants}
        code = compile(source, "<perfrules formula>", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 - source generated from a validated tree, no builtins
        function = namespace["_formula"]
        assert isinstance(function, FunctionType)  # noqa: S101
        return source, function
