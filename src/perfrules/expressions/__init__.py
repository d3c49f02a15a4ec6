"""Safe, exact evaluation of scoring formulas.

A formula is one expression in a small Python-like language: numbers, names, ``+ - * /
**``, comparisons, ``and or not``, ``x if c else y`` and calls to a fixed set of functions
(``min``, ``max``, ``ratio``, ``lookup``, ... listed in ``docs/reference/functions.md``).
Arithmetic is exact (integer pairs inside, ``fractions.Fraction`` outside): ``6 * (7 / 48)``
is exactly ``7/8``.

Anything else — attributes, subscripts, lambdas, comprehensions, f-strings, unknown names
or functions, text past the limits of ``docs/reference/limits.md`` — is refused with an
:class:`~perfrules.errors.ExpressionError` carrying a stable code and a column. No other
exception type escapes.

>>> from perfrules.expressions import safe_eval
>>> safe_eval("6 * (7 / 48)")
Fraction(7, 8)
>>> safe_eval("weight * min(actual / target, 1)", {"weight": 6, "actual": 70, "target": 88})
Fraction(105, 22)
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Final, NamedTuple, TypeVar

from perfrules._numbers import (
    NumberFormatError,
    format_short,
    format_short_pair,
    fraction,
    round_fraction,
    to_fraction,
)
from perfrules.errors import ExpressionError
from perfrules.expressions._codegen import BASE_GLOBALS, PairCode, inline_block, never_above
from perfrules.expressions._functions import (
    FUNCTIONS,
    Function,
    Interval,
    Pair,
    Type,
    add_pairs,
    times,
    weighted_geomean,
)
from perfrules.expressions._limits import LIMITS, MAX_BITS, MAX_TRACE_CHARS
from perfrules.expressions._parse import (
    BUILTIN_NAMES,
    FormulaTable,
    NodeInfo,
    Program,
    build_formula,
    build_program,
    check_identifier,
    divisor_names,
)
from perfrules.expressions._real import Approx, digits_of
from perfrules.expressions._reference import evaluate_reference
from perfrules.expressions._ziv import decide_with, is_real, real_nodes, settle

__all__ = [
    "BASE_GLOBALS",
    "BUILTIN_NAMES",
    "FUNCTIONS",
    "LIMITS",
    "MAX_BITS",
    "MAX_TRACE_CHARS",
    "Approx",
    "Expression",
    "FormulaTable",
    "Function",
    "Interval",
    "NodeInfo",
    "Pair",
    "Step",
    "Type",
    "Value",
    "add_pairs",
    "approximation",
    "bind",
    "check_identifier",
    "compile_expression",
    "decide_with",
    "ends",
    "inline_block",
    "never_above",
    "operands",
    "real_calls",
    "safe_eval",
    "shown_value",
    "times",
    "weighted_geomean",
]

Value = Fraction | bool
T = TypeVar("T")

_NUMBER_REASONS: Final[dict[str, tuple[str, str]]] = {
    "float": (
        "binary floats are not exact; pass a string or Decimal",
        "二进制浮点数不精确，请传入字符串或 Decimal",
    ),
    "nonfinite": ("NaN and infinity are not numbers a score can use", "NaN 与无穷大不能用于计分"),
    "range": ("magnitude must stay below 10**30", "数值的绝对值须小于 10**30"),
    "digits": ("more than 30 significant digits", "有效数字超过 30 位"),
    "places": ("more than 30 decimal places", "小数位数超过 30 位"),
    "syntax": ("not a number", "不是数字"),
    "zero": ("denominator is 0", "分母为 0"),
    "type": ("not a number or condition", "既不是数字也不是条件"),
}


def shown_value(arg: object) -> str:
    """An operand as a step's text with values shows it (``0.795454…``, ``(-2)``, ``true``).

    *arg* is a number (a ``Fraction``, or a ``(numerator, denominator)`` pair as the traced
    function records it), a condition, an interval, the literal text of a constant, or
    ``None`` for a part that was not evaluated.
    """
    if arg is True or arg is False:
        return "true" if arg else "false"
    if arg.__class__ is Fraction:  # not isinstance: Fraction's ABC check is slow
        text = format_short(arg)
        return text if arg.numerator >= 0 else f"({text})"
    if arg.__class__ is tuple:
        num, den = arg
        text = format_short_pair(num, den)
        return text if num >= 0 else f"({text})"
    if isinstance(arg, Interval):
        return f'"{arg.text}"'
    if arg is None:
        return "…"
    return str(arg)


def operands(
    info: NodeInfo, values: Mapping[int, object], names: Mapping[str, object]
) -> list[object]:
    """The values of a recorded sub-expression's template fields, in order.

    *values* are the recorded values by node (as :class:`Step` holds them, or as pairs),
    *names* the inputs bound; a constant is its literal text, a part not evaluated ``None``.
    """
    return [
        values.get(ref)  # type: ignore[call-overload]
        if kind == "rec"
        else names.get(ref)  # type: ignore[call-overload]
        if kind == "name"
        else ref
        for kind, ref in info.children
    ]


class Step(NamedTuple):
    """One evaluated sub-expression, in evaluation order.

    Attributes:
        expr: the sub-expression as written (``actual / target``), or the name of a named
            formula.
        template: how it reads with values, e.g. ``"{0} / {1}"``.
        args: the value of each template field: a number, a condition, the literal text of
            a constant, or ``None`` for a part that was not evaluated (the other branch of
            an ``if``).
        value: its exact value; for an irrational value, a decimal close to it.
        formula: the named formula this step stands for, if any.
        approximate: for an irrational value, how many significant digits of ``value``
            are correct (0: the value is exact).
    """

    expr: str
    template: str
    args: tuple[object, ...]
    value: Value
    formula: str | None = None
    approximate: int = 0

    def with_values(self) -> str:
        """The sub-expression with its operands' values: ``70 / 88``."""
        return self.template.format(*map(shown_value, self.args))

    def __str__(self) -> str:
        """``actual / target = 70 / 88 = 0.795454…``."""
        value = self.value
        shown = ("true" if value else "false") if isinstance(value, bool) else format_short(value)
        if self.approximate:
            shown = "≈" + shown
        with_values = self.with_values()
        if with_values == self.expr:
            return f"{self.expr} = {shown}"
        return f"{self.expr} = {with_values} = {shown}"


class Expression:
    """A validated, compiled expression; immutable and safe to share between threads.

    Build one with :func:`compile_expression`. ``evaluate`` runs the generated function on
    exact pairs; ``explain`` also returns every intermediate :class:`Step`;
    ``evaluate_reference`` uses the independent simpleeval-based evaluator.
    """

    __slots__ = ("code", "program", "real")

    def __init__(self, program: Program) -> None:
        """Compile a validated :class:`Program` (use :func:`compile_expression`)."""
        self.program = program
        self.code = PairCode(program)
        #: Whether the value may be irrational (``ln``, ``sqrt``, ``**``, ...): then
        #: :meth:`evaluate` gives it only when it is rational, :meth:`settle` always.
        self.real = is_real(program)

    @property
    def text(self) -> str:
        """The expression as written."""
        return self.program.text

    @property
    def type(self) -> Type:
        """``"num"`` or ``"bool"``."""
        return self.program.type

    @property
    def names(self) -> frozenset[str]:
        """The inputs the expression reads (named formulas expanded)."""
        return self.program.names

    @property
    def formulas(self) -> tuple[str, ...]:
        """The named formulas it uses."""
        return self.program.formulas

    @property
    def divisors(self) -> frozenset[str]:
        """The names it divides by as they are (``target`` in ``actual / target``)."""
        return divisor_names(self.program)

    def trace_chars(self) -> int:
        """A bound on the characters its steps take in the JSON trace, whatever the inputs.

        Each step writes its text, its text with values, its value and its exact value; no
        number is wider than the static size bound (at most ``MAX_BITS`` bits each for the
        numerator and the denominator), so no number takes more than ``digits`` characters.
        Texts count twice (JSON may escape them). Measured traces stay far below it.
        """
        bits = min(self.program.max_size, 2 * MAX_BITS)
        digits = bits * 30103 // 100000 + 40  # log10(2); sign, point, 28 places, "/", "…"
        return sum(
            2 * (len(info.text) + len(info.template) + len(info.formula or ""))
            + (len(info.children) + 2) * digits
            + 64
            for info in self.program.infos
        )

    def __repr__(self) -> str:
        """``Expression('weight * actual')``."""
        return f"Expression({self.program.text!r})"

    def arguments(self, names: Mapping[str, Value]) -> list[object]:
        """The generated function's arguments for *names* (Fractions and bools)."""
        args: list[object] = []
        for name, kind in self.code.params:
            value = names[name]
            if kind == "num":
                args += [value.numerator, value.denominator]
            else:
                args.append(value)
        return args

    def evaluate(self, names: Mapping[str, Value]) -> Value:
        """Evaluate with *names* already bound to ``Fraction`` or ``bool`` values.

        Raises:
            ExpressionError: placed at the failing sub-expression.
        """
        try:
            result = self.code.function(*self.arguments(names))
        except Exception:  # noqa: BLE001 - any failure is re-run to be placed and translated
            return self.evaluate_reference(names)
        return result if isinstance(result, bool) else Fraction(*result)

    def settle(
        self, names: Mapping[str, Value], decide: Callable[[Fraction | Approx], T | None]
    ) -> tuple[T, int]:
        """What *decide* answers for the true value, which may be irrational.

        The formula is evaluated with bounds at increasing precision until *decide*
        answers (not ``None``) for the bounds, an answer that then holds for the true
        value: a rounding, a clamping. Returns the answer and the significant digits it
        took. An exact value is given to *decide* as a ``Fraction``.

        Raises:
            ExpressionError: placed at the failing sub-expression; PR325 when nothing is
                decided at 1,000 significant digits.
        """
        return settle(self.program, names, decide)

    def rounded(self, names: Mapping[str, Value], places: int, mode: str = "half_up") -> Fraction:
        """The value rounded to *places* in *mode*: the correctly rounded true value."""

        def decide(value: Fraction | Approx) -> Fraction | None:
            if isinstance(value, Approx):
                low = round_fraction(value.lo, places, mode)
                return low if low == round_fraction(value.hi, places, mode) else None
            return round_fraction(value, places, mode)

        return self.settle(names, decide)[0]

    def explain(self, names: Mapping[str, Value]) -> tuple[Value, tuple[Step, ...]]:
        """Evaluate and return the value with every intermediate step.

        For a value with no exact form, the steps show each irrational value to the digits
        of the first precision that decides every comparison (``≈``, with the count of
        correct digits in :attr:`Step.approximate`); the value returned is then a decimal
        close to the true one.
        """
        if self.real:
            try:
                self.recorded(names)
            except ExpressionError as exc:
                if exc.code != "PR324":
                    raise
                return self._explain_approximate(names)
        result, records = self.recorded(names)
        value = result if isinstance(result, bool) else fraction(*result)
        return value, self._steps(names, records)

    def recorded(
        self, names: Mapping[str, Value]
    ) -> tuple[tuple[int, int] | bool, list[tuple[int, int, int] | tuple[int, bool]]]:
        """The value and every intermediate one as the traced function records them.

        Numbers stay ``(numerator, denominator)`` pairs, not reduced: what :meth:`explain`
        makes into :class:`Step` objects, for a writer that needs only their text. Each
        record is ``(node, numerator, denominator)`` or ``(node, condition)``; the template
        of node ``k`` is ``self.program.infos[k]``.
        """
        records: list[tuple[int, int, int] | tuple[int, bool]] = []
        try:
            result = self.code.traced(records.append, *self.arguments(names))
        except Exception:
            self.evaluate_reference(names)
            raise  # pragma: no cover - the reference raises a placed error first
        return result, records

    def _steps(
        self, names: Mapping[str, Value], records: list[tuple[int, int, int] | tuple[int, bool]]
    ) -> tuple[Step, ...]:
        infos = self.program.infos
        exact: list[tuple[int, Value]] = [
            (record[0], fraction(record[1], record[2]))
            if len(record) == 3
            else (record[0], record[1])
            for record in records
        ]
        values = dict(exact)
        steps = []
        for k, value in exact:
            info: NodeInfo = infos[k]
            args = tuple(operands(info, values, names))
            steps.append(Step(info.text, info.template, args, value, info.formula))
        return tuple(steps)

    def _explain_approximate(self, names: Mapping[str, Value]) -> tuple[Value, tuple[Step, ...]]:
        record: dict[int, object] = {}
        value, _ = settle(self.program, names, lambda v: v, record)
        infos = self.program.infos
        shown: dict[int, object] = {
            k: approximation(v) if isinstance(v, Approx) else v for k, v in record.items()
        }
        steps = []
        for k, raw in record.items():  # in evaluation order
            info: NodeInfo = infos[k]
            args = tuple(operands(info, shown, names))
            digits = min(digits_of(raw), SHOWN_DIGITS) if isinstance(raw, Approx) else 0
            steps.append(
                Step(info.text, info.template, args, shown[k], info.formula, digits)  # type: ignore[arg-type]
            )
        result = approximation(value) if isinstance(value, Approx) else value
        return result, tuple(steps)

    def evaluate_reference(self, names: Mapping[str, Value]) -> Value:
        """Evaluate with the reference (simpleeval) evaluator."""
        result: Value = evaluate_reference(self.program, names)
        return result

    def run_unchecked(self, names: Mapping[str, Value]) -> Value:
        """The generated function without fallback: raw exceptions escape (for tests)."""
        result = self.code.function(*self.arguments(names))
        return result if isinstance(result, bool) else Fraction(*result)


#: The most significant digits the trace shows of an irrational value.
SHOWN_DIGITS: Final = 40


def approximation(value: Approx) -> Fraction:
    """An irrational value as the trace shows it: a decimal of its correct digits (<= 40)."""
    digits = min(digits_of(value), SHOWN_DIGITS)
    middle = value.midpoint()
    context = decimal.Context(prec=digits + 1, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
    return Fraction(context.divide(decimal.Decimal(middle.numerator), middle.denominator))


def ends(value: Fraction | Approx) -> tuple[Fraction, Fraction]:
    """The lower and upper bound of a value (an exact value is both)."""
    if isinstance(value, Approx):
        return value.lo, value.hi
    return value, value


def real_calls(expression: Expression) -> list[str]:
    """The sub-expressions of *expression* whose values may be irrational, as written."""
    tree = expression.program.tree
    known: list[str] | None = getattr(tree, "pr_real_texts", None)
    if known is not None:
        return known
    found: list[str] = []
    for node in real_nodes(tree):
        text = getattr(node, "pr_text", "")
        if text and text not in found:
            found.append(text)
    tree.pr_real_texts = found  # type: ignore[attr-defined]
    return found


def number_error(name: str, exc: NumberFormatError) -> ExpressionError:
    """The error for a bound value that is not an exact number."""
    en, zh = _NUMBER_REASONS.get(exc.reason, (exc.reason, exc.reason))
    hint = "decimal_string" if exc.reason == "float" else None
    return ExpressionError(
        "PR320", {"name": name, "detail": en, "detail_zh": zh}, offset=0, hint=hint
    )


def bind(names: Mapping[str, object] | None) -> dict[str, Value]:
    """Check and convert host values: numbers become exact ``Fraction``, bools stay bools.

    Raises:
        ExpressionError: a name that may not be used (``PR319``, ``PR309``) or a value that
            is not an exact number (``PR320``: floats, NaN, infinity, other objects).
    """
    bound: dict[str, Value] = {}
    for name, value in (names or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ExpressionError("PR319", {"name": str(name)}, offset=0, hint="rename")
        problem = check_identifier(name)
        if problem is None and (name in FUNCTIONS):
            problem = "PR319"
        if problem is not None:
            raise ExpressionError(problem, {"name": name}, offset=0, hint="rename")
        if isinstance(value, bool):
            bound[name] = value
            continue
        try:
            bound[name] = to_fraction(value)
        except NumberFormatError as exc:
            raise number_error(name, exc) from None
    return bound


def compile_expression(
    text: str,
    names: Mapping[str, Type] | None = None,
    formulas: Mapping[str, str] | FormulaTable | None = None,
) -> Expression:
    """Validate and compile *text*.

    Args:
        text: the expression.
        names: the inputs it may read, each ``"num"`` or ``"bool"``.
        formulas: named formulas it may use by name (they are expanded in place).

    Raises:
        ExpressionError: the first problem, with its code and column.
    """
    table = formulas if isinstance(formulas, FormulaTable) else FormulaTable(dict(formulas or {}))
    return Expression(build_program(text, dict(names or {}), table))


def safe_eval(
    text: str,
    names: Mapping[str, object] | None = None,
    formulas: Mapping[str, str] | None = None,
    *,
    places: int | None = None,
    mode: str = "half_up",
) -> Value:
    """Evaluate *text* exactly with *names*; refuse anything unsafe.

    Numbers may be given as ``int``, ``Decimal``, ``Fraction`` or strings such as
    ``"4.8"``, ``"80%"`` or ``"70/88"``; binary floats are refused (they are not exact).

    Args:
        text: one expression of the formula language (``docs/reference/functions.md``):
            numbers, names, arithmetic, comparisons, ``and``/``or``/``not``, ``x if c else
            y`` and the listed functions; nothing that reaches Python objects.
        names: the values of the names *text* reads.
        formulas: named formulas *text* may call by name, as a rule file's ``[formulas]``.
        places: round the value to this many decimal places: the correctly rounded true
            value, also when it is irrational (``safe_eval("ln(2)", places=5)`` is
            ``Fraction(69315, 100000)``); without, an irrational value is refused (PR324).
        mode: the rounding mode with *places*: ``half_up``, ``half_even``, ``down``, ``up``.

    Returns:
        The exact value, a ``Fraction`` for a number and a ``bool`` for a condition.

    Raises:
        ExpressionError: and nothing else, whatever *text* is: a syntax error or an unknown
            name at its column, a construct or function that is not allowed, a limit of
            size or cost exceeded, a division by zero.

    Examples:
        >>> names = {"weight": 6, "actual": "70", "target": 88}
        >>> perfrules.safe_eval("weight * min(actual / target, 1)", names)
        Fraction(105, 22)
        >>> perfrules.safe_eval("__import__('os')")
        Traceback (most recent call last):
        ...
        perfrules.errors.ExpressionError: ...
    """
    bound = bind(names)
    scope: dict[str, Type] = {
        k: "bool" if isinstance(v, bool) else "num" for k, v in bound.items()
    }
    expression = compile_expression(text, scope, formulas)
    if places is None or expression.type != "num":
        return expression.evaluate(bound)
    return expression.rounded(bound, places, mode)


# Re-exported for the scheme compiler.
build_named_formula = build_formula
