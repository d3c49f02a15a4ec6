"""From formula text to a validated, typed, canonical syntax tree.

This is the security boundary. The text is checked before Python's parser sees it, the
tree is checked against an allow-list of node types (never a deny-list), every name is
resolved against declared inputs and named formulas, every call against perfrules' own
function table, and every node is type-checked. Only a tree that passed all of this is
ever evaluated, by either evaluator.

The canonical tree is made of ordinary ``ast`` nodes with three extra attributes:
``pr_offset`` (character offset in the text being compiled), ``pr_text`` (the
sub-expression as written) and ``pr_rec`` (index of the trace record, or -1). Number
literals hold exact ``Fraction`` values and lookup() specs hold parsed ``Interval``s.
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Final, cast

from perfrules.errors import ExpressionError
from perfrules.expressions._functions import (
    FUNCTIONS,
    Type,
    check_arguments,
    expected_arguments,
    parse_interval,
)
from perfrules.expressions._limits import (
    INPUT_SIZE_BITS,
    MAX_ARGS,
    MAX_BITS,
    MAX_BRACKETS,
    MAX_DEPTH,
    MAX_FORMULA_DEPTH,
    MAX_LENGTH,
    MAX_LITERAL_DIGITS,
    MAX_LITERAL_PLACES,
    MAX_NODES,
    MAX_STRING,
)

#: Names every indicator formula may use without declaring them.
BUILTIN_NAMES: Final[dict[str, Type]] = {"weight": "num"}

_BIDI_AND_INVISIBLE: Final = frozenset(
    [
        0x061C,  # Arabic letter mark
        0x200B,  # zero-width space, joiners and direction marks
        0x200C,
        0x200D,
        0x200E,
        0x200F,
        0x2060,  # word joiner
        0xFEFF,  # byte-order mark
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2066, 0x206A),  # bidi isolates
    ]
)
_CJK_PUNCTUATION: Final = {
    "\u3000": " ",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "，": ",",
    "。": ".",
    "、": ",",
    "×": "*",
    "÷": "/",
    "−": "-",
    "—": "-",
    "【": "[",
    "】": "]",
}

_CONSTRUCTS: Final[dict[type[ast.AST], tuple[str, str]]] = {
    ast.Attribute: ("attribute access (a.b)", "属性访问（a.b）"),
    ast.Subscript: ("subscripts (a[b])", "下标（a[b]）"),
    ast.Slice: ("slices", "切片"),
    ast.Lambda: ("lambda", "lambda 函数"),
    ast.ListComp: ("comprehensions", "推导式"),
    ast.SetComp: ("comprehensions", "推导式"),
    ast.DictComp: ("comprehensions", "推导式"),
    ast.GeneratorExp: ("generator expressions", "生成器表达式"),
    ast.JoinedStr: ("f-strings", "f 字符串"),
    ast.FormattedValue: ("f-strings", "f 字符串"),
    ast.NamedExpr: ("assignment (:=)", "赋值（:=）"),
    ast.Tuple: ("tuples", "元组"),
    ast.List: ("lists", "列表"),
    ast.Dict: ("dicts", "字典"),
    ast.Set: ("sets", "集合"),
    ast.Starred: ("* and ** arguments", "* 与 ** 参数"),
    ast.Await: ("await", "await"),
    ast.Yield: ("yield", "yield"),
    ast.YieldFrom: ("yield", "yield"),
}
_OPERATOR_NAMES: Final[dict[type[ast.AST], str]] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_BINOPS: Final[dict[type[ast.operator], str]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_CMPOPS: Final[dict[type[ast.cmpop], str]] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_TYPE_WORDS: Final[dict[str, tuple[str, str]]] = {
    "num": ("a number", "数值"),
    "bool": ("a condition", "条件"),
    "str": ("text", "文本"),
}
_SCRIPTS_THAT_CONFUSE: Final = ("LATIN", "CYRILLIC", "GREEK")
_LONE_EQUALS: Final = re.compile(r"(?<![=<>!])=(?!=)")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the trace needs to show one recorded sub-expression.

    Attributes:
        text: the sub-expression as written.
        template: how to show it with values, e.g. ``"{0} / {1}"``.
        children: for each template field, ``("rec", k)``, ``("name", id)`` or
            ``("const", text)``.
        formula: the named formula this record stands for, if any.
    """

    text: str
    template: str
    children: tuple[tuple[str, object], ...]
    formula: str | None = None


@dataclass(frozen=True, slots=True)
class Program:
    """A validated expression, ready for either evaluator.

    Attributes:
        text: the expression as written.
        tree: the canonical tree (see the module docstring).
        type: the result type.
        names: the inputs it reads (named formulas expanded).
        formulas: the named formulas it uses, directly or not.
        infos: one entry per trace record, indexed by ``pr_rec``.
        max_size: static bound on numerator plus denominator bits of any intermediate.
    """

    text: str
    tree: ast.expr
    type: Type
    names: frozenset[str]
    formulas: tuple[str, ...]
    infos: tuple[NodeInfo, ...]
    max_size: int
    ordered_names: tuple[str, ...] = ()
    #: ``(name, type)`` of every input, in order of first appearance.
    name_types: tuple[tuple[str, Type], ...] = ()


@dataclass
class FormulaTable:
    """Named formulas and the programs already built from them (shared while compiling)."""

    texts: Mapping[str, str]
    programs: dict[str, Program | ExpressionError] = field(default_factory=dict)
    #: Inputs that a formula of the same name stands for (a normalised input): reading
    #: the name expands the formula, inside which the name is the input itself.
    shadows: frozenset[str] = frozenset()


def _error(
    code: str, offset: int, text: str, hint: str | None = None, **params: object
) -> ExpressionError:
    return ExpressionError(code, params, offset=offset, hint=hint, text=text)


def check_text(text: str) -> None:
    """Refuse text the parser should never see: too long, hostile or look-alike characters."""
    if not isinstance(text, str):
        raise ExpressionError(
            "PR301",
            {"detail": "a formula must be text", "detail_zh": "公式必须是文本"},
            offset=0,
            text="",
        )
    if len(text) > MAX_LENGTH:
        raise _error("PR310", MAX_LENGTH, text, length=len(text), limit=MAX_LENGTH)
    if not text.strip():
        raise _error("PR322", 0, text)
    depth = 0
    quote: str | None = None
    for i, ch in enumerate(text):
        code = ord(ch)
        if (code < 0x20 and ch not in "\t\n\r") or 0x7F <= code < 0xA0:
            raise _error("PR308", i, text, char=repr(ch), codepoint=f"{code:04X}")
        if code in _BIDI_AND_INVISIBLE:
            raise _error("PR308", i, text, char=repr(ch), codepoint=f"{code:04X}")
        if 0xFF01 <= code <= 0xFF5E or ch in _CJK_PUNCTUATION:
            ascii_char = chr(code - 0xFEE0) if 0xFF01 <= code <= 0xFF5E else _CJK_PUNCTUATION[ch]
            raise _error(
                "PR308", i, text, "ascii_char", char=ch, codepoint=f"{code:04X}", ascii=ascii_char
            )
        if quote is not None:
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
            if depth > MAX_BRACKETS:
                raise _error("PR311", i, text, limit=MAX_BRACKETS)
        elif ch in ")]}":
            depth -= 1


class _Offsets:
    """Map ``ast`` positions (line, UTF-8 byte column) to character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.ascii = text.isascii()
        self.encoded: list[bytes] | None = None

    def of(self, node: ast.AST) -> int:
        lineno = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        return self._char(lineno, col)

    def _char(self, lineno: int, col: int) -> int:
        index = max(0, min(lineno - 1, len(self.lines) - 1))
        if self.ascii:
            return self.starts[index] + col
        if self.encoded is None:
            self.encoded = [line.encode() for line in self.lines]
        prefix = self.encoded[index][:col].decode("utf-8", errors="ignore")
        return self.starts[index] + len(prefix)

    def segment(self, node: ast.AST) -> str:
        """The text of *node*, from the offsets computed once.

        ``ast.get_source_segment`` re-splits the whole text on every call, which made
        checking long formulas quadratic.
        """
        end_line = getattr(node, "end_lineno", None)
        end_col = getattr(node, "end_col_offset", None)
        if end_line is None or end_col is None:
            return ""
        return self.text[self.of(node) : self._char(end_line, end_col)]


def parse_tree(text: str) -> ast.Expression:
    """Parse *text* as exactly one expression (checks the text first)."""
    check_text(text)
    try:
        with warnings.catch_warnings():
            # "1if x else 2" or "\\d" only warn in Python; a formula must be unambiguous.
            warnings.simplefilter("error")
            tree = ast.parse(text, mode="eval")
    except Warning as exc:
        raise _error("PR301", 0, text, detail=str(exc), detail_zh=_syntax_zh(str(exc))) from None
    except SyntaxError as exc:
        offsets = _Offsets(text)
        lineno = exc.lineno or 1
        index = max(0, min(lineno - 1, len(offsets.lines) - 1))
        detail = exc.msg
        detail_zh = _syntax_zh(exc.msg)
        if not exc.offset:  # Python reports an unexpected end of the text at offset 0
            offset = len(text.rstrip())
            detail, detail_zh = "the formula ends too early", "公式不完整，意外结束"
        else:
            offset = min(offsets.starts[index] + exc.offset - 1, len(text))
        hint = None
        if "%" in text:
            hint = "percent"
        elif _LONE_EQUALS.search(text):
            hint = "eq_not_assign"
        raise _error("PR301", offset, text, hint, detail=detail, detail_zh=detail_zh) from None
    except (RecursionError, MemoryError):
        raise _error("PR311", 0, text, limit=MAX_DEPTH) from None
    except ValueError as exc:  # e.g. source contains null bytes (already refused above)
        raise _error("PR301", 0, text, detail=str(exc), detail_zh=str(exc)) from None
    _check_shape(tree, text)
    return tree


def _syntax_zh(message: str) -> str:
    table = {
        "invalid syntax": "语法无效",
        "unexpected EOF while parsing": "公式意外结束",
        "'(' was never closed": "“(”没有闭合",
        "unmatched ')'": "多余的“)”",
        "invalid decimal literal": "数字写法无效",
        "unterminated string literal": "字符串没有结束引号",
    }
    for en, zh in table.items():
        if message.startswith(en):
            return zh + f"（{message}）"
    return message


def _check_shape(tree: ast.Expression, text: str) -> None:
    """Depth and size limits, by an iterative walk (no recursion before this passes)."""
    offsets = _Offsets(text)
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        # Operators, contexts and the name of a called function are not parts of their own.
        if isinstance(node, ast.expr) and not getattr(node, "pr_callee", False):
            count += 1
            if depth > MAX_DEPTH:
                raise _error("PR311", offsets.of(node), text, limit=MAX_DEPTH)
            if count > MAX_NODES:
                raise _error(
                    "PR312", offsets.of(node), text, count=f">{MAX_NODES}", limit=MAX_NODES
                )
            depth += 1
        if isinstance(node, ast.Call):
            node.func.pr_callee = True  # type: ignore[attr-defined]
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))


def _type_word(t: Type, lang: int) -> str:
    return _TYPE_WORDS[t][lang]


def _type_error(node_offset: int, text: str, what: str, want: Type, got: Type) -> ExpressionError:
    return _error(
        "PR307",
        node_offset,
        text,
        detail=f"{what} needs {_type_word(want, 0)}, got {_type_word(got, 0)}",
        detail_zh=f"{what} 需要{_type_word(want, 1)}，实际是{_type_word(got, 1)}",
    )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _literal_number(segment: str, offset: int, text: str) -> Fraction:
    literal = _short(segment)
    cleaned = segment.replace("_", "")
    lowered = cleaned.lower()
    if lowered.startswith(("0x", "0o", "0b")) or lowered.endswith("j"):
        raise _error(
            "PR313",
            offset,
            text,
            literal=literal,
            detail="only decimal numbers are allowed",
            detail_zh="只允许十进制数",
        )
    try:
        dec = Decimal(cleaned)
    except InvalidOperation:
        raise _error(
            "PR313", offset, text, literal=literal, detail="unreadable", detail_zh="无法识别"
        ) from None
    _, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - a literal is finite
    significant = len(str(int("".join(map(str, digits)) or "0")))
    if significant > MAX_LITERAL_DIGITS or dec.adjusted() >= MAX_LITERAL_DIGITS:
        raise _error(
            "PR313",
            offset,
            text,
            literal=literal,
            detail=f"more than {MAX_LITERAL_DIGITS} digits",
            detail_zh=f"超过 {MAX_LITERAL_DIGITS} 位数字",
        )
    if -exponent > MAX_LITERAL_PLACES and dec != 0:
        raise _error(
            "PR313",
            offset,
            text,
            literal=literal,
            detail=f"more than {MAX_LITERAL_PLACES} decimal places",
            detail_zh=f"小数位数超过 {MAX_LITERAL_PLACES} 位",
        )
    return Fraction(dec)


def _size(value: Fraction) -> int:
    return value.numerator.bit_length() + value.denominator.bit_length()


def check_identifier(name: str) -> str | None:
    """Return a problem code for a name that must not be used, else ``None``."""
    if name.startswith("_"):
        return "PR319"
    if unicodedata.normalize("NFKC", name) != name:
        return "PR309"
    scripts = set()
    for ch in name:
        if ch.isascii():
            if ch.isalpha():
                scripts.add("LATIN")
            continue
        uname = unicodedata.name(ch, "")
        for script in _SCRIPTS_THAT_CONFUSE:
            if uname.startswith(script):
                scripts.add(script)
    if len(scripts) > 1:
        return "PR309"
    return None


class _Builder:
    """One pass over a parsed tree: resolve, type-check, annotate, expand named formulas."""

    def __init__(
        self,
        text: str,
        scope: Mapping[str, Type],
        table: FormulaTable,
        stack: tuple[str, ...],
    ) -> None:
        self.text = text
        self.scope = scope
        self.table = table
        self.stack = stack
        self.offsets = _Offsets(text)
        self.infos: list[NodeInfo] = []
        self.names: dict[str, None] = {}  # ordered by first appearance
        self.formulas: list[str] = []
        self.max_size = 0
        self.count = 0

    def err(
        self, code: str, node: ast.AST, hint: str | None = None, **params: object
    ) -> ExpressionError:
        return _error(code, self.offsets.of(node), self.text, hint, **params)

    def annotate(self, new: ast.expr, old: ast.AST) -> ast.expr:
        new.pr_offset = self.offsets.of(old)  # type: ignore[attr-defined]
        new.pr_text = self.offsets.segment(old)  # type: ignore[attr-defined]
        new.pr_rec = -1  # type: ignore[attr-defined]
        ast.copy_location(new, old)
        self.count += 1
        if self.count > MAX_NODES:
            raise self.err("PR312", old, count=f">{MAX_NODES}", limit=MAX_NODES)
        return new

    def record(self, node: ast.expr, template: str, children: list[ast.expr]) -> None:
        refs = tuple(_child_ref(child) for child in children)
        node.pr_rec = len(self.infos)  # type: ignore[attr-defined]
        self.infos.append(NodeInfo(node.pr_text, template, refs))  # type: ignore[attr-defined]

    def size(self, value: int) -> int:
        self.max_size = max(self.max_size, value)
        return value

    def build(self, node: ast.AST) -> tuple[ast.expr, Type, int]:
        """Return the canonical node, its type and a bound on its size in bits."""
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self._ifexp(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        en, zh = _CONSTRUCTS.get(type(node), (type(node).__name__, type(node).__name__))
        raise self.err("PR306", node, construct=en, construct_zh=zh)

    def _constant(self, node: ast.Constant) -> tuple[ast.expr, Type, int]:
        value = node.value
        if isinstance(value, bool):
            return self.annotate(ast.Constant(value), node), "bool", 0
        if isinstance(value, int | float | complex):
            offset = self.offsets.of(node)
            number = _literal_number(self.offsets.segment(node), offset, self.text)
            new = self.annotate(exact_constant(number), node)
            return new, "num", self.size(_size(number))
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise self.err(
                    "PR313",
                    node,
                    literal=repr(value[:20]) + "…",
                    detail=f"text longer than {MAX_STRING} characters",
                    detail_zh=f"文本超过 {MAX_STRING} 个字符",
                )
            return self.annotate(ast.Constant(value), node), "str", 0
        name = "None" if value is None else type(value).__name__
        raise self.err("PR306", node, construct=name, construct_zh=name)

    def _name(self, node: ast.Name) -> tuple[ast.expr, Type, int]:
        name = node.id
        written = self.offsets.segment(node)
        # Python folds identifiers to NFKC: "𝐰eight" parses as "weight". Refuse the disguise.
        problem = "PR309" if written and written != name else check_identifier(name)
        if written and written != name:
            name = written
        if problem is not None:
            raise self.err(problem, node, name=name)
        if name in self.table.shadows and name not in self.stack:
            return self._expand(node, name)
        if name in self.scope:
            self.names.setdefault(name)
            new = self.annotate(ast.Name(name, ast.Load()), node)
            return new, self.scope[name], self.size(INPUT_SIZE_BITS)
        if name in self.table.texts:
            return self._expand(node, name)
        if name in FUNCTIONS:
            raise self.err(
                "PR306", node, construct=f"{name} without (...)", construct_zh=f"未加括号的 {name}"
            )
        known = [*self.scope, *self.table.texts]
        raise self.err(
            "PR302", node, _suggest(name, known), name=name, suggestion=_best(name, known)
        )

    def _expand(self, node: ast.Name, name: str) -> tuple[ast.expr, Type, int]:
        if name in self.stack:
            cycle = " → ".join([*self.stack[self.stack.index(name) :], name])
            raise self.err("PR305", node, cycle=cycle)
        if len(self.stack) >= MAX_FORMULA_DEPTH:
            raise self.err("PR311", node, limit=MAX_FORMULA_DEPTH)
        program = build_formula(name, self.scope, self.table, self.stack)
        if isinstance(program, ExpressionError):
            if program.code == "PR305":
                raise self.err("PR305", node, cycle=program.params.get("cycle", name))
            raise self.err("PR323", node, name=name)
        offset = self.offsets.of(node)
        base = len(self.infos)
        body = _copy_tree(program.tree)
        for sub in ast.walk(body):
            sub.pr_offset = offset  # type: ignore[attr-defined]
            rec = getattr(sub, "pr_rec", -1)
            if rec >= 0:
                sub.pr_rec = rec + base  # type: ignore[attr-defined]
            inner = getattr(sub, "pr_formula_recs", ())
            if inner:
                sub.pr_formula_recs = tuple(k + base for k in inner)  # type: ignore[attr-defined]
        for info in program.infos:
            children = tuple(
                ("rec", int(ref) + base) if kind == "rec" else (kind, ref)  # type: ignore[call-overload]
                for kind, ref in info.children
            )
            self.infos.append(NodeInfo(info.text, info.template, children, info.formula))
        self.count += sum(1 for _ in ast.walk(body))
        if self.count > MAX_NODES:
            raise self.err("PR312", node, count=f">{MAX_NODES}", limit=MAX_NODES)
        for used in program.ordered_names:
            self.names.setdefault(used)
        self.formulas.extend(f for f in (name, *program.formulas) if f not in self.formulas)
        self.size(program.max_size)
        # One more record stands for the reference itself: "rate = weight * actual = 4.8".
        child = _child_ref(body)
        recs = getattr(body, "pr_formula_recs", ())
        body.pr_formula_recs = (*recs, len(self.infos))  # type: ignore[attr-defined]
        shown = program.text.replace("{", "{{").replace("}", "}}")
        self.infos.append(NodeInfo(name, shown, (child,), formula=name))
        return body, program.type, program.max_size

    def _unary(self, node: ast.UnaryOp) -> tuple[ast.expr, Type, int]:
        if isinstance(node.op, ast.Not):
            operand, t, _ = self.build(node.operand)
            if t != "bool":
                raise _type_error(self.offsets.of(node), self.text, "not", "bool", t)
            new = self.annotate(ast.UnaryOp(ast.Not(), operand), node)
            self.record(new, "not {0}", [operand])
            return new, "bool", 0
        if isinstance(node.op, ast.USub | ast.UAdd):
            operand, t, size = self.build(node.operand)
            if t != "num":
                raise _type_error(self.offsets.of(node), self.text, "-", "num", t)
            new = self.annotate(ast.UnaryOp(node.op.__class__(), operand), node)
            if not isinstance(operand, ast.Constant):
                self.record(
                    new, ("-" if isinstance(node.op, ast.USub) else "+") + "{0}", [operand]
                )
            return new, "num", size
        op = _OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)
        raise self.err("PR306", node, construct=f"operator {op}", construct_zh=f"运算符 {op}")

    def _binop(self, node: ast.BinOp) -> tuple[ast.expr, Type, int]:
        symbol = _BINOPS.get(type(node.op))
        if symbol is None:
            op = _OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)
            hint = "percent" if isinstance(node.op, ast.Mod) else None
            raise self.err(
                "PR306", node, hint, construct=f"operator {op}", construct_zh=f"运算符 {op}"
            )
        left, lt, lsize = self.build(node.left)
        right, rt, rsize = self.build(node.right)
        for t in (lt, rt):
            if t != "num":
                raise _type_error(self.offsets.of(node), self.text, f"'{symbol}'", "num", t)
        new = self.annotate(ast.BinOp(left, node.op.__class__(), right), node)
        self.record(new, "{0} " + symbol + " {1}", [left, right])
        size = 2 * MAX_BITS if symbol == "**" else lsize + rsize + 2
        return new, "num", self.size(size)

    def _boolop(self, node: ast.BoolOp) -> tuple[ast.expr, Type, int]:
        word = "and" if isinstance(node.op, ast.And) else "or"
        values = []
        for value in node.values:
            built, t, _ = self.build(value)
            if t != "bool":
                raise _type_error(self.offsets.of(value), self.text, word, "bool", t)
            values.append(built)
        new = self.annotate(ast.BoolOp(node.op.__class__(), values), node)
        template = f" {word} ".join("{" + str(i) + "}" for i in range(len(values)))
        self.record(new, template, values)
        return new, "bool", 0

    def _compare(self, node: ast.Compare) -> tuple[ast.expr, Type, int]:
        left, lt, _ = self.build(node.left)
        operands = [left]
        types = [lt]
        symbols = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            symbol = _CMPOPS.get(type(op))
            if symbol is None:
                name = _OPERATOR_NAMES.get(type(op), type(op).__name__)
                raise self.err(
                    "PR306", node, construct=f"operator {name}", construct_zh=f"运算符 {name}"
                )
            built, t, _ = self.build(comparator)
            operands.append(built)
            types.append(t)
            symbols.append(symbol)
        for i, symbol in enumerate(symbols):
            a, b = types[i], types[i + 1]
            if symbol in ("==", "!="):
                if a != b or a == "str":
                    raise _type_error(self.offsets.of(node), self.text, f"'{symbol}'", a, b)
            elif a != "num" or b != "num":
                raise _type_error(
                    self.offsets.of(node), self.text, f"'{symbol}'", "num", b if a == "num" else a
                )
        new = self.annotate(
            ast.Compare(operands[0], [op.__class__() for op in node.ops], operands[1:]),
            node,
        )
        template = "{0}" + "".join(f" {s} {{{i + 1}}}" for i, s in enumerate(symbols))
        self.record(new, template, operands)
        return new, "bool", 0

    def _ifexp(self, node: ast.IfExp) -> tuple[ast.expr, Type, int]:
        test, tt, _ = self.build(node.test)
        if tt != "bool":
            raise _type_error(self.offsets.of(node.test), self.text, "if", "bool", tt)
        body, bt, bsize = self.build(node.body)
        orelse, ot, osize = self.build(node.orelse)
        if bt != ot or bt == "str":
            raise _type_error(self.offsets.of(node.orelse), self.text, "else", bt, ot)
        new = self.annotate(ast.IfExp(test, body, orelse), node)
        self.record(new, "{1} if {0} else {2}", [test, body, orelse])
        return new, bt, max(bsize, osize)

    def _call(self, node: ast.Call) -> tuple[ast.expr, Type, int]:
        if not isinstance(node.func, ast.Name):
            en, zh = _CONSTRUCTS.get(type(node.func), ("calling this", "这种调用"))
            raise self.err("PR306", node.func, construct=en, construct_zh=zh)
        name = node.func.id
        function = FUNCTIONS.get(name)
        if function is None:
            raise self.err(
                "PR303",
                node.func,
                _suggest(name, FUNCTIONS),
                name=name,
                suggestion=_best(name, FUNCTIONS),
            )
        if node.keywords:
            raise self.err(
                "PR306",
                node.keywords[0].value,
                construct="keyword arguments",
                construct_zh="关键字参数",
            )
        if len(node.args) > MAX_ARGS:
            raise self.err("PR312", node, count=len(node.args), limit=MAX_ARGS)
        args: list[ast.expr] = []
        types: list[Type] = []
        sizes: list[int] = []
        for arg in node.args:
            built, t, size = self.build(arg)
            args.append(built)
            types.append(t)
            sizes.append(size)
        problem = check_arguments(function.shape, types)
        if problem == "arity":
            raise self.err(
                "PR304",
                node,
                name=name,
                expected=expected_arguments(function.shape),
                got=len(args),
            )
        if problem is not None:
            index, want = problem.split(":")
            arg_node = node.args[int(index)]
            raise _type_error(
                self.offsets.of(arg_node),
                self.text,
                f"{name}() argument {int(index) + 1}",
                cast("Type", want),
                types[int(index)],
            )
        for i, t in enumerate(types):
            if t == "str":
                source = node.args[i]
                if not isinstance(args[i], ast.Constant):
                    raise self.err(
                        "PR306", source, construct="computed text", construct_zh="计算出的文本"
                    )
                try:
                    interval = parse_interval(args[i].value)  # type: ignore[attr-defined]
                except ExpressionError as exc:
                    raise exc.placed(self.offsets.of(source), self.text) from None
                replacement = exact_constant(interval)
                for attribute in ("pr_offset", "pr_text", "pr_rec"):
                    setattr(replacement, attribute, getattr(args[i], attribute))
                ast.copy_location(replacement, args[i])
                args[i] = replacement
        new = self.annotate(ast.Call(ast.Name(name, ast.Load()), args, []), node)
        template = name + "(" + ", ".join("{" + str(i) + "}" for i in range(len(args))) + ")"
        self.record(new, template, args)
        return new, function.returns, self.size(function.size_bound(sizes))


def _copy_tree(tree: ast.expr) -> ast.expr:
    """A copy of a canonical tree whose nodes can be annotated anew (values are shared).

    ``copy.deepcopy`` also copied every exact value and walked attributes generically; this
    copies nodes only, without recursion, ~20 times faster for the trees of long formulas.
    """
    root = copy.copy(tree)
    stack: list[ast.AST] = [root]
    while stack:
        node = stack.pop()
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                child = copy.copy(value)
                setattr(node, name, child)
                stack.append(child)
            elif isinstance(value, list):
                children = [copy.copy(v) if isinstance(v, ast.AST) else v for v in value]
                setattr(node, name, children)
                stack.extend(c for c in children if isinstance(c, ast.AST))
    return root


def exact_constant(value: object) -> ast.Constant:
    """An ``ast.Constant`` holding an exact value (Fraction, Interval) for the evaluators."""
    node = ast.Constant(None)
    node.value = value  # type: ignore[assignment]  # our trees carry exact values
    return node


def _child_ref(node: ast.expr) -> tuple[str, object]:
    formula_recs = getattr(node, "pr_formula_recs", ())
    if formula_recs:
        return ("rec", formula_recs[-1])
    rec = getattr(node, "pr_rec", -1)
    if rec >= 0:
        return ("rec", rec)
    if isinstance(node, ast.Name):
        return ("name", node.id)
    return ("const", getattr(node, "pr_text", ""))


def _suggest(name: str, known: Mapping[str, object] | list[str]) -> str | None:
    return "did_you_mean" if _best(name, known) else None


def _best(name: str, known: Mapping[str, object] | list[str]) -> str:
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else ""


def build_formula(
    name: str, scope: Mapping[str, Type], table: FormulaTable, stack: tuple[str, ...] = ()
) -> Program | ExpressionError:
    """The program of named formula *name* (cached in *table*), or the error it has."""
    cached = table.programs.get(name)
    if cached is not None:
        return cached
    try:
        program = build_program(table.texts[name], scope, table, (*stack, name))
    except ExpressionError as exc:
        if exc.code == "PR305" and stack:
            return exc  # a cycle is reported where it starts, not cached as this formula's error
        table.programs[name] = exc
        return exc
    table.programs[name] = program
    return program


def build_program(
    text: str,
    scope: Mapping[str, Type],
    table: FormulaTable | None = None,
    stack: tuple[str, ...] = (),
) -> Program:
    """Validate *text* in *scope* (input name → type) with the named formulas in *table*.

    Raises:
        ExpressionError: the first problem found, placed at its character offset.
    """
    tree = parse_tree(text)
    builder = _Builder(text, scope, table or FormulaTable({}), stack)
    body, result_type, _ = builder.build(tree.body)
    if result_type == "str":
        raise _error("PR321", 0, text, got="text", got_zh="文本")
    return Program(
        text=text,
        tree=body,
        type=result_type,
        names=frozenset(builder.names),
        ordered_names=tuple(builder.names),
        name_types=tuple((name, scope[name]) for name in builder.names),
        formulas=tuple(builder.formulas),
        infos=tuple(builder.infos),
        max_size=builder.max_size,
    )


def divisor_of(node: ast.AST) -> ast.expr | None:
    """What *node* divides by; ``None`` when it divides by nothing.

    A division's right side, a power's base (``0 ** -1``), or the argument a function
    divides by (``ratio(a, 0)``: :attr:`Function.divides_by`).
    """
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Pow)):
        return node.left if isinstance(node.op, ast.Pow) else node.right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = FUNCTIONS.get(node.func.id)
        at = function.divides_by if function is not None else None
        if at is not None and at < len(node.args):
            return node.args[at]
    return None


def divisor_names(program: Program) -> frozenset[str]:
    """The names *program* always divides by as they are (named formulas expanded).

    ``target`` in ``actual / target`` or ``ratio(actual, target)``, wherever the formula
    is sure to compute it: a division in a branch of ``… if … else …`` or after the first
    operand of ``and`` / ``or`` may never be made (``x / k if k != 0 else 1`` guards it),
    so it is left out. A power's base is left out too: it divides only under a negative
    exponent.
    """
    found: set[str] = set()
    pending: list[ast.AST] = [program.tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.IfExp):
            pending.append(node.test)  # the branches depend on it
            continue
        if isinstance(node, ast.BoolOp):
            pending.append(node.values[0])  # the others may never be computed
            continue
        divisor = divisor_of(node)
        power = isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)
        if isinstance(divisor, ast.Name) and not power:
            found.add(divisor.id)
        pending.extend(ast.iter_child_nodes(node))
    return frozenset(found)


def zero_division(node: ast.AST, text: str) -> ExpressionError:
    """``PR316`` for a division by zero in *node*, naming the divisor as written.

    The divisor is :func:`divisor_of` *node* (the node itself for another); the error is
    placed at *node* in the formula *text*.
    """
    divisor = divisor_of(node) or node
    return ExpressionError(
        "PR316",
        {"expr": getattr(divisor, "pr_text", "?")},
        offset=getattr(node, "pr_offset", 0),
        text=text,
    )
