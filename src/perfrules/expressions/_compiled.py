"""The fast path: a Python code object built from a validated canonical tree.

Why a code object (see ``docs/explanation/evaluator.md``): once a tree has passed the
allow-list in ``_parse``, it contains only names, exact constants, arithmetic, comparisons,
conditionals and calls to perfrules' own functions. Compiling *that* tree with ``compile()``
lets CPython's bytecode interpreter do the walking, which is 10-30 times faster than walking
the tree in Python. The code object never sees a tree the validator has not accepted:

* every constant is replaced by a name bound to an exact value (``_k0``, ``_k1``, ...);
* every function call goes to ``_f_<name>``, bound to perfrules' implementation, so no
  builtin is reachable (``__builtins__`` is empty) and a fact cannot shadow a function;
* ``**`` always goes through the checked power; ``+ - * /`` are native only when the
  validator proved that no intermediate can outgrow the size limit, and checked otherwise.

Two code objects are built: a plain one, and a traced one in which every recorded
sub-expression is wrapped in ``_r(k, ...)`` to capture its value for the explanation.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from fractions import Fraction
from types import CodeType
from typing import Any, Final

from perfrules._numbers import is_terminating, to_decimal
from perfrules.expressions._functions import (
    DECIMAL_IMPLS,
    FUNCTIONS,
    Interval,
    checked_add,
    checked_div,
    checked_mul,
    checked_pow,
    checked_sub,
    decimal_pow,
)
from perfrules.expressions._limits import MAX_BITS
from perfrules.expressions._parse import Program

_CHECKED: Final[dict[type[ast.operator], str]] = {
    ast.Add: "_add",
    ast.Sub: "_sub",
    ast.Mult: "_mul",
    ast.Div: "_div",
    ast.Pow: "_pow",
}
_BASE_GLOBALS: Final[dict[str, object]] = {
    "__builtins__": {},
    "_add": checked_add,
    "_sub": checked_sub,
    "_mul": checked_mul,
    "_div": checked_div,
    "_pow": checked_pow,
    **{f"_f_{name}": function.impl for name, function in FUNCTIONS.items()},
}


class _Generator:
    def __init__(self, checked: bool, traced: bool) -> None:
        self.checked = checked
        self.traced = traced
        self.constants: dict[str, object] = {}

    def constant(self, value: object) -> ast.expr:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return ast.Name(name, ast.Load())

    def convert(self, node: ast.expr) -> ast.expr:
        out = self._convert(node)
        if self.traced:
            rec = getattr(node, "pr_rec", -1)
            if rec >= 0:
                out = _wrap(rec, out)
            for formula_rec in getattr(node, "pr_formula_recs", ()):
                out = _wrap(formula_rec, out)
        return out

    def _convert(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return ast.Constant(node.value)
            return self.constant(node.value)
        if isinstance(node, ast.Name):
            return ast.Name(node.id, ast.Load())
        if isinstance(node, ast.BinOp):
            left, right = self.convert(node.left), self.convert(node.right)
            if self.checked or isinstance(node.op, ast.Pow):
                return _call(_CHECKED[type(node.op)], [left, right])
            return ast.BinOp(left, node.op.__class__(), right)
        if isinstance(node, ast.UnaryOp):
            return ast.UnaryOp(node.op.__class__(), self.convert(node.operand))
        if isinstance(node, ast.BoolOp):
            return ast.BoolOp(node.op.__class__(), [self.convert(v) for v in node.values])
        if isinstance(node, ast.Compare):
            return ast.Compare(
                self.convert(node.left),
                [op.__class__() for op in node.ops],
                [self.convert(c) for c in node.comparators],
            )
        if isinstance(node, ast.IfExp):
            return ast.IfExp(
                self.convert(node.test), self.convert(node.body), self.convert(node.orelse)
            )
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)  # noqa: S101 - guaranteed by _parse
            return _call(f"_f_{node.func.id}", [self.convert(a) for a in node.args])
        msg = f"unexpected node {type(node).__name__} in a validated tree"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover


def _call(name: str, args: list[ast.expr]) -> ast.expr:
    return ast.Call(ast.Name(name, ast.Load()), args, [])


def _wrap(rec: int, node: ast.expr) -> ast.expr:
    return _call("_r", [ast.Constant(rec), node])


def _compile(program: Program, *, traced: bool) -> tuple[CodeType, dict[str, object]]:
    checked = program.max_size > MAX_BITS
    generator = _Generator(checked=checked, traced=traced)
    body = generator.convert(program.tree)
    tree = ast.fix_missing_locations(ast.Expression(body))
    code = compile(tree, "<perfrules formula>", "eval", dont_inherit=True)
    return code, {**_BASE_GLOBALS, **generator.constants}


Value = Fraction | bool
Records = list[tuple[int, Value]]


def _decimal_globals(globals_: dict[str, object]) -> dict[str, object] | None:
    """The same names bound for exact Decimal evaluation, or None when that is not possible."""
    out: dict[str, object] = {
        **globals_,
        "_pow": decimal_pow,
        **{f"_f_{name}": impl for name, impl in DECIMAL_IMPLS.items()},
    }
    for name, value in globals_.items():
        if name.startswith("_k"):
            if isinstance(value, Fraction):
                if not is_terminating(value):  # pragma: no cover - literals are decimals
                    return None
                out[name] = to_decimal(value)
            elif not isinstance(value, Interval | bool):  # pragma: no cover
                return None
    return out


class CompiledCode:
    """The code objects of one program and the globals they run with."""

    __slots__ = ("_traced", "checked", "code", "decimal_globals", "globals", "program")

    def __init__(self, program: Program) -> None:
        """Compile *program*; the traced variant is compiled on first use."""
        self.program = program
        self.code, self.globals = _compile(program, traced=False)
        self.checked = program.max_size > MAX_BITS
        # Exact Decimal evaluation (Inexact trapped by the caller) for unchecked programs.
        self.decimal_globals = None if self.checked else _decimal_globals(self.globals)
        self._traced: tuple[CodeType, dict[str, object]] | None = None

    def _traced_code(self) -> tuple[CodeType, dict[str, object]]:
        # Idempotent: two threads may both compile it; either result is the same.
        if self._traced is None:
            self._traced = _compile(self.program, traced=True)
        return self._traced

    def run(self, names: Mapping[str, Value]) -> Any:
        """Evaluate; raw exceptions propagate (the caller falls back to the reference)."""
        return eval(self.code, self.globals, names)

    def run_decimal(self, names: Mapping[str, object]) -> Any:
        """Evaluate on Decimals; the caller's context must trap Inexact. Raw exceptions escape."""
        return eval(self.code, self.decimal_globals, names)

    def run_traced(self, names: Mapping[str, Value]) -> tuple[Any, Records]:
        """Evaluate, recording ``(record index, value)`` for every recorded sub-expression."""
        records: Records = []
        append = records.append

        def _r(k: int, value: Value) -> Value:
            append((k, value))
            return value

        local: dict[str, object] = dict(names)
        local["_r"] = _r
        code, globals_ = self._traced_code()
        value = eval(code, globals_, local)
        return value, records
