"""The scorer of a whole scheme as generated Python code, on exact integers.

:func:`build_kernel` writes, from the plan:

- one function per *shape* of indicator (same formula, inputs, defaults and rounding):
  read the facts (a text such as ``"80%"`` is read once per distinct text and remembered),
  run the formula's code inline (``expressions._codegen.inline_block``), check
  ``0 <= score <= weight`` in integers and round by ``divmod``; the score comes back as one
  integer over a power of ten the generator knows;
- ``_kernel(src, ind, shared, T=True)``: every indicator through its shape's function, a
  run of consecutive rows of one shape per call (``T=False``: nothing kept for a trace;
  ``T=True``: each row's record ``(own facts, value numerator, value denominator, each
  fact as given, then per number read: its numerator, denominator and a Decimal's text)``,
  so the explanation takes each number as the scorer read it instead of reading it again),
  then each subtotal (integer sums), the renormalisation when rows were excluded and the
  band, both as the totals (``_totals``) decide them, and the total's rounding.

Anything an indicator's function cannot score the plain way — a missing or unreadable
value, "not applicable", an override, a qualitative level, a score outside its weight, a
formula that fails — goes to ``_GEN`` (``_general.GeneralPath.score``), the one complete
implementation of an indicator's scoring, which reports problems with their positions.

The kernel returns a raw record — the unit's problems, what each indicator read, every
node's score, the subtotals before rounding, the renormalisation, the band, the grade
override — from which ``_record``/``_tree``/``_json`` build the result and, when read, the trace.

The source is made from the plan's numbers and the generator's own names only. Ids, input
names and everything else a rule file wrote are bound as constants (``_I0``, ``_N0``, ...);
``__builtins__`` is empty; the only callables reachable are the ones bound below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import FunctionType
from typing import Any, Final, cast

from perfrules._numbers import MAX_MAGNITUDE, ROUNDING
from perfrules.engine._plan import MISSING, Node, Plan
from perfrules.engine._totals import totals_of
from perfrules.expressions import BASE_GLOBALS, add_pairs, inline_block, never_above
from perfrules.facts import DECIMAL_PAIR, POWERS_OF_TEN, TEXT_PAIRS, number_pair

__all__ = ["Kernel", "build_kernel"]

#: Returned for a leaf whose facts are absent.
EMPTY: Final[dict[str, Any]] = {}
#: Most terms written as one ``a + b + ...`` chain (longer sums go through a flat tuple).
_MAX_CHAIN: Final = 64


@dataclass(frozen=True, slots=True)
class Shape:
    """How a node's value is held in the generated code.

    ``scale`` is the power of ten the value is an integer over (a rounded value), or
    ``None`` when the value is a pair with a denominator known only at run time.
    """

    num: str
    den: str
    scale: int | None


@dataclass(frozen=True, slots=True)
class Kernel:
    """A generated scorer: the function, its source, and what it needs bound."""

    function: Callable[..., tuple[Any, ...]]
    source: str


class _Pending:
    """Stands for a generated function until the source is compiled."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _pair_literal(value: Fraction | bool) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return f"({value.numerator}, {value.denominator})"


class _Writer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.lines: list[str] = []
        self.depth = 1
        self.constants: dict[str, object] = {}
        self.names: dict[tuple[str, type, object], str] = {}
        self.functions: dict[tuple[object, ...], str] = {}
        self.helpers: list[str] = []
        self.hooks: Mapping[str, Callable[..., Any]] = {}
        self.leaf_table: list[tuple[object, ...]] = []
        self.shapes: dict[int, Shape] = {}
        self.mode = ROUNDING[plan.mode]
        self.totals = totals_of(plan)

    def emit(self, text: str) -> None:
        self.lines.extend("    " * self.depth + line for line in text.split("\n"))

    def constant(self, prefix: str, value: object) -> str:
        key = (prefix, type(value), value)
        name = self.names.get(key)
        if name is None:
            name = f"{prefix}{len(self.constants)}"
            self.constants[name] = value
            self.names[key] = name
        return name

    def round_code(self, target: str, num: str, den: str) -> str:
        return self.mode.code(target, num, den)

    # --- indicators --------------------------------------------------------------------
    def leaf(self, k: int, node: Node) -> tuple[object, ...]:
        """Indicator *k*'s row of the leaf table: its shape's function and its arguments."""
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        i = node.index
        scale = 10**node.places if node.places is not None else None
        self.shapes[i] = (
            Shape(f"n{i}", str(scale), scale)
            if scale is not None
            else Shape(f"n{i}", f"d{i}", None)
        )
        function: object
        if any(self.types.get(name) == "level" for name in leaf.needs):
            function = _Pending("_GROWS")  # qualitative levels: the general path only
        else:
            function = _Pending(self.shape_function(node))
        return (function, k, node.id, node.weight.numerator, node.weight.denominator, scale)

    def shape_function(self, node: Node) -> str:
        """The name of the function scoring indicators shaped like *node* the plain way.

        Indicators with the same formula, inputs, defaults and rounding share one function
        (their ids and weights are arguments), so a scheme of 2,000 similar rows compiles a
        handful of functions, not 2,000 copies of one.
        """
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        defaults = []
        for name in leaf.needs:
            found = leaf.default(name)
            defaults.append(None if found is None else found[0])
        kinds = tuple(self.types.get(name, "number") for name in leaf.needs)
        key = (
            leaf.expression.text,
            leaf.needs,
            kinds,
            tuple(defaults),
            node.places,
            self.fast_keys[node.index],
        )
        known = self.functions.get(key)
        if known is not None:
            return known
        name = f"_L{len(self.functions)}"
        self.functions[key] = name
        allowed = self.constant("_A", self.fast_keys[node.index])
        general = "L[k] = _GEN(C, k, o, shared, R, wn, wd, scale); continue"
        lines = [
            f"    if o.__class__ is not _DICT: {general}",
        ]
        operands: dict[str, tuple[str, ...]] = {"weight": ("num", "wn", "wd")}
        raws = [f"x{j}" for j in range(len(leaf.needs))]
        keys = [self.constant("_N", need) for need in leaf.needs]
        lines.extend(f"    {raw} = o.get({key}, _M)" for raw, key in zip(raws, keys, strict=True))
        # Only the facts read, or also others? Counting them is cheaper than a set compare.
        present = " + ".join(f"({raw} is not _M)" for raw in raws) or "0"
        lines.append(f"    if len(o) != {present} and not o.keys() <= {allowed}: {general}")
        numbers_read: list[int] = []  # the inputs read as numbers, in order
        for j, (need, kind, default) in enumerate(zip(leaf.needs, kinds, defaults, strict=True)):
            raw = raws[j]
            # plan.find_fact's order, inline: own facts, shared facts, the default below
            lines.append(f"    if {raw} is _M: {raw} = shared.get({keys[j]}, _M)")
            if kind == "bool":
                read = f"{raw} if {raw}.__class__ is _BOOL else None"
                operands[need] = ("bool", f"v{j}")
                if default is not None:
                    lines.append(f"    if {raw} is _M: v{j} = {_pair_literal(default)}")
                    lines.append(f"    else: v{j} = {read}")
                else:
                    lines.append(f"    v{j} = {read}")
                lines.append(f"    if v{j} is None: {general}")
                continue
            operands[need] = ("num", f"v{j}n", f"v{j}d")
            numbers_read.append(j)
            indent = "    "
            if default is not None:
                literal = _pair_literal(default)
                lines.append(f"    if {raw} is _M: v{j}n, v{j}d = {literal}; v{j}s = None")
                lines.append("    else:")
                indent = "        "
            lines.extend(indent + line for line in _read_number(raw, f"v{j}", general))
        body, result, constants = inline_block(
            leaf.expression.program, operands, depth=2, prefix=f"{len(self.functions)}_"
        )
        self.constants.update(constants)
        lines.append("    try:")
        lines.extend(body or ["        pass"])
        lines.append(f"        vn, vd = {result[1]}, {result[2]}")
        lines.append(f"    except _EXC:\n        {general}")
        # A score outside [0, weight] is the general path's to report; a formula that
        # cannot exceed its weight (``weight * min(x, 1)``) is checked for the sign alone.
        if never_above(leaf.expression.program.tree, "weight"):
            lines.append(f"    if vn < 0: {general}")
        else:
            lines.append(f"    if vn < 0 or vn * wd > wn * vd: {general}")
        # what the trace re-reads, one flat tuple: the own facts, the value, the facts as
        # given, and each number as read (its pair, a Decimal's text), so the explanation
        # reads none of them again (see _explain)
        facts = "".join(f", {r}" for r in raws)
        numbers = "".join(f", v{j}n, v{j}d, v{j}s" for j in numbers_read)
        lines.append(f"    if T: R[k] = (o, vn, vd{facts}{numbers})")
        if node.places is not None:
            rounding = self.round_code("q", f"vn * {10**node.places}", "vd")
            lines.extend("    " + line for line in rounding.split("\n"))
            lines.append("    L[k] = q")
        else:
            lines.append("    L[k] = vn, vd")
        # One call scores a run of rows of this shape (a call per row costs more than the row)
        self.helpers.append(
            f"def {name}(C, rows, ind, shared, R, L, T):\n"
            "    for k, i, wn, wd, scale in rows:\n"
            "        o = ind.get(i, _E)\n"
            + "\n".join("    " + line for line in "\n".join(lines).split("\n"))
        )
        return name

    # --- groups and the total ----------------------------------------------------------
    def group(self, node: Node) -> None:
        i = node.index
        kids = [self.shapes[c] for c in node.children]
        self.emit(f"# {node.kind} {i}")
        if node.aggregate == "geometric":  # not a sum: the totals decide it (_totals)
            pairs = "".join(
                f"None if {kid.num} is None else ({kid.num}, {kid.den}), " for kid in kids
            )
            self.emit(f"a{i}, b{i}, n{i}, c{i} = _GEO({i}, ({pairs}))")
            self.pre[i] = Shape(f"a{i}", f"b{i}", None)
            scale = 10 ** (node.places or 0)
            self.shapes[i] = Shape(f"n{i}", str(scale), scale)
            return
        if kids and all(kid.scale is not None for kid in kids):
            scale = max(kid.scale for kid in kids)  # type: ignore[type-var]
            factors = [scale // kid.scale for kid in kids]  # type: ignore[operator]
            scaled = [
                kid.num if factor == 1 else f"{kid.num} * {factor}"
                for kid, factor in zip(kids, factors, strict=True)
            ]
            # ``a + b + ...`` nests one level per term when compiled: a flat tuple summed
            # keeps a group of thousands of rows from exhausting the compiler's stack.
            terms = (
                " + ".join(scaled)
                if len(scaled) <= _MAX_CHAIN
                else f"_SUM(({''.join(t + ', ' for t in scaled)}))"
            )
            values = "".join(f"{kid.num}, " for kid in kids)
            # All children scored (the usual case): one integer sum; else skip the excluded.
            # ``W``: every indicator was scored, so every child with a row under it is (the
            # test is skipped); a group of rows shown only (``counted = false``) never is.
            every = "W or " if all(self.scored[c] for c in node.children) else ""
            self.emit(
                f"if {every}None not in ({values}): a{i} = {terms}; c{i} = True\n"
                f"else: a{i}, c{i} = _PARTIAL(({values}), {tuple(factors)})"
            )
            pre = Shape(f"a{i}", str(scale), scale)
        else:
            self.emit(f"c{i} = False\na{i}, b{i} = 0, 1")
            for kid in kids:
                self.emit(
                    f"if {kid.num} is not None: "
                    f"a{i}, b{i} = _ADD(a{i}, b{i}, {kid.num}, {kid.den}); c{i} = True"
                )
            pre = Shape(f"a{i}", f"b{i}", None)
        if node.aggregate == "reweight":  # rows left out: the others scaled up (_totals)
            values = "".join(f"{kid.num}, " for kid in kids)
            if pre.scale is not None:
                self.emit(f"b{i} = {pre.den}")
            self.emit(
                f"if c{i} and None in ({values}): "
                f"a{i}, b{i} = _REW({i}, a{i}, b{i}, ({values}), U)"
            )
            pre = Shape(f"a{i}", f"b{i}", None)
        self.pre[i] = pre
        if node.kind == "scheme":
            self.root(node, pre)
            return
        self.finish(i, node.places, pre)
        self.emit(f"if not c{i}: n{i} = None")

    def finish(self, i: int, places: int | None, pre: Shape) -> None:
        """Round the value *pre* of node *i* at *places* into ``n{i}`` (and ``d{i}``)."""
        if places is None:
            self.emit(f"n{i} = {pre.num}")
            if pre.scale is None:
                self.emit(f"d{i} = {pre.den}")
            self.shapes[i] = Shape(
                f"n{i}", pre.den if pre.scale is not None else f"d{i}", pre.scale
            )
            return
        scale = 10**places
        if pre.scale is not None and pre.scale <= scale:
            # Already an integer over a smaller power of ten: rounding changes nothing.
            self.emit(f"n{i} = {pre.num}")
            self.shapes[i] = Shape(f"n{i}", pre.den, pre.scale)
            return
        if pre.scale is not None:
            self.emit(self.round_code(f"n{i}", pre.num, str(pre.scale // scale)))
        else:
            self.emit(self.round_code(f"n{i}", f"{pre.num} * {scale}", pre.den))
        self.shapes[i] = Shape(f"n{i}", str(scale), scale)

    def root(self, node: Node, pre: Shape) -> None:
        self.emit("if not c0:\n    if U is None: U = _NEWUNIT(src)\n    _NOTHING(U)")
        # Renormalise when rows were excluded (or the totals always do: see Totals.always).
        self.emit(f"rn, rd = {pre.num}, {pre.den}")
        if self.totals.always:
            self.emit("rn, rd = _RENORM(rn, rd, U.excluded if U is not None else _ZERO)")
        else:
            self.emit("if U is not None and U.excluded: rn, rd = _RENORM(rn, rd, U.excluded)")
        self.finish(0, node.places, Shape("rn", "rd", None))

    def bands(self) -> None:
        self.emit("# band")
        total = self.shapes[0]
        self.emit(self.totals.band_source(total.num, total.den))

    def write(self, types: Mapping[str, str], fast_keys: dict[int, frozenset[str]]) -> str:
        plan = self.plan
        self.types = types
        self.fast_keys = fast_keys
        self.pre: dict[int, Shape] = {}
        ids = self.constant("_IDS", frozenset(plan.nodes[j].id for j in plan.leaves))
        self.emit(
            f"C = [src, None]\nR = [None] * {len(plan.leaves)}\n"
            f"if ind.__class__ is not _DICT or not ind.keys() <= {ids}:\n"
            "    C[1] = _NEWUNIT(src)\n    ind = _SHAPE(ind, C[1])\n"
            "if shared.__class__ is not _DICT:\n"
            "    if C[1] is None: C[1] = _NEWUNIT(src)\n    shared = _SHARED(shared, C[1])"
        )
        table = [self.leaf(k, plan.nodes[index]) for k, index in enumerate(plan.leaves)]
        self.leaf_table = table
        # Every indicator in one pass over a table (compiling a statement per indicator would
        # cost ~35 µs each), then into locals for the sums below.
        self.emit(
            f"L = [None] * {len(plan.leaves)}\n"
            "for f, rows in _RUNS: f(C, rows, ind, shared, R, L, T)"
        )
        names = [self.shapes[index].num for index in plan.leaves]
        self.emit(f"{', '.join(names)}, = L")
        for index in plan.leaves:
            shape = self.shapes[index]
            if shape.scale is None:
                self.emit(f"{shape.num}, {shape.den} = {shape.num}")
        # Whether every indicator was scored (an unrounded one failed is ``(None, 1)``).
        rounded = all(self.shapes[index].scale is not None for index in plan.leaves)
        self.emit("W = None not in L" if rounded else f"W = None not in ({', '.join(names)},)")
        self.emit("U = C[1]")
        # Which nodes have a score whenever every indicator has one: a row, or a group with
        # such a child (a group whose rows are all shown only has none to add up).
        self.scored: dict[int, bool] = {}
        for index in plan.post_order:
            node = plan.nodes[index]
            self.scored[index] = node.kind == "indicator" or any(
                self.scored[c] for c in node.children
            )
        for index in plan.post_order:
            node = plan.nodes[index]
            if node.kind != "indicator":
                self.group(node)
        self.bands()
        if plan.overrides:
            self.emit("if U is None: U = _NEWUNIT(src)\noverride = _OVERRIDE(shared, U)")
        else:
            self.emit("override = None")
        values = ", ".join(
            f"{self.shapes[n.index].num}, {self.shapes[n.index].den}" for n in plan.nodes
        )
        pres = ", ".join(
            f"{self.pre[n.index].num}, {self.pre[n.index].den}"
            for n in plan.nodes
            if n.kind != "indicator"
        )
        self.emit(f"return U, R, ({values},), ({pres},), (rn, rd), band, override")
        kernel = "def _kernel(src, ind, shared, T=True):\n" + "\n".join(self.lines) + "\n"
        general = (
            "def _GROWS(C, rows, ind, shared, R, L, T):\n"
            "    for k, i, wn, wd, scale in rows:\n"
            "        L[k] = _GEN(C, k, ind.get(i, _E), shared, R, wn, wd, scale)\n"
        )
        return "\n\n".join([*self.helpers, general, kernel])


def build_kernel(
    plan: Plan,
    types: Mapping[str, str],
    fast_keys: dict[int, frozenset[str]],
    hooks: dict[str, Callable[..., Any]],
) -> Kernel:
    """Generate and compile the scorer of *plan*.

    Args:
        plan: the compiled scheme.
        types: declared input types (``number``, ``bool``, ``level``) by name.
        fast_keys: for each indicator (by node index), the fact keys the inline path reads
            or ignores; any other key sends the indicator to the general path.
        hooks: the general path and helpers: ``_GEN``, ``_NEWUNIT``, ``_SHAPE``,
            ``_SHARED``, ``_NOTHING``, ``_RENORM``, ``_OVERRIDE``.
    """
    writer = _Writer(plan)
    writer.hooks = hooks
    source = writer.write(types, fast_keys)
    namespace: dict[str, object] = {
        **BASE_GLOBALS,
        "_E": EMPTY,
        "_M": MISSING,
        "_EXC": Exception,
        "_DICT": dict,
        "_BOOL": bool,
        "divmod": divmod,  # the rounding code of _numbers.ROUNDING uses it
        "_NUM": number_pair,
        "_TC": TEXT_PAIRS,
        "_DC": DECIMAL_PAIR,
        "_STR": str,
        "_S": str,
        "_INT": int,
        "len": len,
        "_P10": POWERS_OF_TEN,
        "_MAXN": MAX_MAGNITUDE,
        "_DEC": Decimal,
        "_ADD": _add,
        "_SUM": sum,
        "_PARTIAL": _partial,
        "_GEO": totals_of(plan).geometric_record,
        "_REW": totals_of(plan).reweight_record,
        "_ZERO": Fraction(0),
        **hooks,
        **writer.constants,
    }
    code = compile(source, "<perfrules scheme>", "exec", dont_inherit=True)
    exec(code, namespace)  # noqa: S102 - source generated from the plan's numbers, no builtins
    # Consecutive rows of one shape make a run, scored in the rule file's order (the general
    # path reports problems in that order).
    runs: list[tuple[Callable[..., Any], list[tuple[object, ...]]]] = []
    for row in writer.leaf_table:
        function = namespace[cast("_Pending", row[0]).name]
        if runs and runs[-1][0] is function:
            runs[-1][1].append(row[1:])
        else:
            runs.append((function, [row[1:]]))  # type: ignore[arg-type]
    namespace["_RUNS"] = tuple((function, tuple(rows)) for function, rows in runs)
    function = namespace["_kernel"]
    assert isinstance(function, FunctionType)  # noqa: S101
    return Kernel(function, source)


def _read_number(raw: str, target: str, general: str) -> list[str]:
    """Statements reading the number fact *raw* into ``{target}n, {target}d`` (or *general*).

    ``{target}s`` is a Decimal's text (kept for the trace's record), else ``None``.

    A Decimal is read inline from its text as facts/_values reads it (its digits over a
    power of ten); its rare forms (an exponent, NaN, more than 30 digits) and every other
    type go through the reading's functions.
    """
    return [
        f"if {raw}.__class__ is _DEC:",
        f"    {target}s = _S({raw})",
        f"    {target}w, _, {target}f = {target}s.partition('.')",
        f"    try: {target}n = _INT({target}w + {target}f); {target}d = _P10[len({target}f)]",
        f"    except _EXC: {target}n = _MAXN",
        f"    if not -_MAXN < {target}n < _MAXN:",
        f"        {target} = _DC({raw})",
        f"        if {target} is None: {general}",
        f"        {target}n, {target}d = {target}",
        "else:",
        f"    {target}s = None",
        f"    {target} = _TC[{raw}] if {raw}.__class__ is _STR else _NUM({raw})",
        f"    if {target} is None: {general}",
        f"    {target}n, {target}d = {target}",
    ]


def _partial(values: tuple[int | None, ...], factors: tuple[int, ...]) -> tuple[int, bool]:
    """The sum of the scored children (each over its own power of ten), and whether any was."""
    total = 0
    scored = False
    for value, factor in zip(values, factors, strict=True):
        if value is not None:
            total += value * factor
            scored = True
    return total, scored


def _add(an: int, ad: int, bn: int, bd: int) -> tuple[int, int]:
    return add_pairs((an, ad), (bn, bd))
