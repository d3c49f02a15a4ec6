"""The reference evaluator: simpleeval walking the validated canonical tree.

This is the only module that imports simpleeval. It is slower than the compiled fast path
and used for three things: to place runtime errors (division by zero, a lookup() miss) at
their sub-expression, to cross-check the fast path in the differential tests, and as an
independent second implementation anyone can select.

simpleeval is configured with perfrules' own operator and function tables only (never its
defaults, which include ``rand``), no attribute access, and a fresh instance per call (an
instance stores the current expression, so it must not be shared between threads).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Final

from simpleeval import InvalidExpression, NameNotDefined, SimpleEval

from perfrules.errors import ExpressionError
from perfrules.expressions._functions import FUNCTIONS, as_fraction, checked_pow
from perfrules.expressions._limits import MAX_BITS
from perfrules.expressions._parse import Program, zero_division


def _check(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise ExpressionError("PR315", {"limit": MAX_BITS})
    return value


# The reference's own arithmetic: Fractions, every result checked against the size limit.
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


_OPERATORS: Final[dict[type[ast.AST], Any]] = {
    ast.Add: checked_add,
    ast.Sub: checked_sub,
    ast.Mult: checked_mul,
    ast.Div: checked_div,
    ast.Pow: checked_pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FUNCTIONS: Final[dict[str, Any]] = {name: as_fraction(f.impl) for name, f in FUNCTIONS.items()}
_ALLOWED_NODES: Final = (
    ast.Name,
    ast.Constant,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
)


class _Evaluator(SimpleEval):  # type: ignore[misc]  # simpleeval is untyped
    def __init__(self, program: Program, names: Mapping[str, Any]) -> None:
        super().__init__(operators=_OPERATORS, functions=_FUNCTIONS, names=dict(names))
        self.program = program
        # Prune simpleeval's node table to the allow-list (defence in depth).
        table: dict[type[ast.AST], Any] = getattr(self, "nodes", {})
        self.nodes = {k: v for k, v in table.items() if k in _ALLOWED_NODES}

    def _eval(self, node: ast.AST) -> Any:
        try:
            return super()._eval(node)
        except ExpressionError as exc:
            raise exc.placed(getattr(node, "pr_offset", 0), self.program.text) from None
        except ZeroDivisionError:
            raise zero_division(node, self.program.text) from None
        except NameNotDefined as exc:
            raise ExpressionError(
                "PR302",
                {"name": getattr(node, "id", "?")},
                offset=getattr(node, "pr_offset", 0),
                text=self.program.text,
            ) from exc
        except InvalidExpression as exc:  # pragma: no cover - the validator refuses these first
            raise ExpressionError(
                "PR306",
                {"construct": type(node).__name__, "construct_zh": type(node).__name__},
                offset=getattr(node, "pr_offset", 0),
                text=self.program.text,
            ) from exc

    def _eval_boolop(self, node: ast.BoolOp) -> bool:
        # simpleeval returns the last operand; ours are bools already, keep it explicit.
        if isinstance(node.op, ast.And):
            return all(self._eval(v) for v in node.values)
        return any(self._eval(v) for v in node.values)


def evaluate_reference(program: Program, names: Mapping[str, Fraction | bool]) -> Any:
    """Evaluate *program* with simpleeval; every failure is a placed ``ExpressionError``."""
    evaluator = _Evaluator(program, names)
    try:
        return evaluator.eval(program.text, previously_parsed=program.tree)
    except RecursionError:  # pragma: no cover - depth is bounded by the validator
        raise ExpressionError("PR311", {"limit": "?"}, offset=0, text=program.text) from None
