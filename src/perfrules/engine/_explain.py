"""A row's explanation, generated per formula shape like the scorer.

The first time a trace of a scheme is read, every shape of indicator the generated scorer
scores the plain way (its ``_L`` functions: the same formula, inputs, defaults and rounding)
gets two generated functions, made once per scheme:

- ``json(rec, sn, sd, row)``: the row's ``perfrules.trace/1`` text — fixed JSON text
  with slots; every number written from integer pairs; each input from the raw fact as
  read (a Decimal's text is its value's text when it has no trailing zeros);
- ``tree(rec, sn, sd, row)``: the row's :class:`~perfrules.trace.NodeTrace` with its
  inputs, steps and rounding.

Both take the row's record from the scorer (``_kernel``'s ``R[k]``: the row's own facts,
its value before rounding, the raw values it read, and each number as the scorer read it —
its integer pair and a Decimal's text — so no fact is read twice), re-run the formula
inline keeping every value the explanation shows in locals, and check that it ends at the
value the scorer recorded. Each value is written (or made a ``Fraction``) once; a value
that is one of its operands (``min``, ``max``) takes that operand's text; a rounded
score's ``Fraction`` comes from the plan's table (:func:`rounded_scores`: the scheme
fixes the set). Nothing is remembered between units. *row* is the indicator's fixed
parts (:func:`row_parts`); *sn*/*sd* its score.

The source is made from the validated formula's generated code and the generator's own
names; texts a rule file wrote are bound as constants (``_C0``, ...) or passed in *row*.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from json.encoder import encode_basestring
from math import ceil, gcd
from string import Formatter
from types import FunctionType
from typing import Any, Final, cast

from perfrules._numbers import MAX_MAGNITUDE, decimal_text, exact_fraction, shown_text, value_texts
from perfrules._trace_json import node_head, sources_json, string, value_json
from perfrules.engine._plan import MISSING, Node, Plan
from perfrules.expressions import BASE_GLOBALS, Step, inline_block, shown_value
from perfrules.facts import DECIMAL_PAIR, POWERS_OF_TEN, number_pair, text_of
from perfrules.trace import InputValue, NodeTrace, RoundingStep

__all__ = ["RowExplainer", "explainers"]

_quote: Callable[[str], str] = encode_basestring
_NEW: Final = tuple.__new__
_RECORD: Final = re.compile(r"^(?P<indent> *)_rec\(\((?P<k>\d+), (?P<args>.*)\)\)$")
#: A row's fixed parts (see row_parts); indexes into the tuple.
HEAD, SOURCES, TARGET, WEIGHT_IN, DEFAULTS, WN, WD, PLACES, WEIGHT_SHOWN, NODE, WEIGHT_INPUT = (
    range(11)
)
#: Then the node's own fields, as NodeTrace takes them: id, name, kind, depth, weight.
FIELDS = 11


@dataclass(frozen=True, slots=True)
class RowExplainer:
    """The generated explanation of one shape, and the fixed parts of each of its rows.

    Attributes:
        json: writes a row's text (see the module docstring).
        tree: builds a row's node.
        source: the generated source (for the curious and for tests).
    """

    json: Callable[..., str]
    tree: Callable[..., NodeTrace]
    source: str


def explainers(plan: Plan) -> dict[int, tuple[RowExplainer, tuple[Any, ...]]]:
    """Each indicator's explainer and fixed parts, by node index (made once per plan)."""
    found = plan.cache.get("explainers")
    if found is None:
        found = plan.cache.setdefault("explainers", _build(plan))
    return cast("dict[int, tuple[RowExplainer, tuple[Any, ...]]]", found)


def _build(plan: Plan) -> dict[int, tuple[RowExplainer, tuple[Any, ...]]]:
    types = {name: declared.type for name, declared in plan.scheme.inputs.items()}
    shapes: dict[tuple[object, ...], RowExplainer] = {}
    weights: dict[Fraction, tuple[Any, ...]] = {}
    out: dict[int, tuple[RowExplainer, tuple[Any, ...]]] = {}
    for index in plan.leaves:
        node = plan.nodes[index]
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        kinds = tuple(types.get(name, "number") for name in leaf.needs)
        if "level" in kinds:
            continue  # never scored the plain way
        defaults = tuple(leaf.default(name) for name in leaf.needs)
        key = (
            leaf.expression.text,
            leaf.needs,
            kinds,
            tuple(None if d is None else d[0] for d in defaults),
            node.places,
            leaf.show,
            node.target == "",
        )
        explainer = shapes.get(key)
        if explainer is None:
            explainer = shapes[key] = _Writer(plan, node, kinds).explainer()
        out[index] = (explainer, row_parts(node, weights))
    return out


#: How many of a plan's rounded scores :func:`rounded_scores` makes at most (0 to 10.00 at
#: two places): every row of a usual scheme and its groups of up to 10 points, few enough
#: to stay in cache.
SCORES: Final = 1001
#: The name the generated builders read the table by (:func:`scores_namespace`).
_SCORES: Final = "_SCORES"


def rounded_scores(plan: Plan) -> tuple[int, tuple[Fraction, ...]]:
    """The Fractions of the plan's rounded scores, made once: ``(denominator, table)``.

    A score rounded to ``p`` places is ``n / 10**p`` for a whole ``n`` from 0 to its
    weight × ``10**p``: a finite set fixed by the scheme, whatever the input (a row of
    weight 5 at two places has 501 possible scores; a report's own numbers change which,
    not how many). The plain trace tree takes a score's Fraction from ``table[n]`` when
    its denominator is the plan's (the places of most of its indicators) and ``n`` is
    within the table, so rows share a few objects instead of each making one (and its
    reduced numerator and denominator); any other score is made as before. Not a memo:
    nothing is stored from the input, and what a unit costs does not depend on the units
    before it. (The general path's rows share theirs through
    :func:`~perfrules._numbers.fraction`, a bounded memo.)
    """
    found = plan.cache.get("rounded_scores")
    if found is None:
        places = [plan.nodes[index].places for index in plan.leaves]
        counted = {p: places.count(p) for p in set(places) if p is not None}
        den = 10 ** max(counted, key=lambda p: (counted[p], p)) if counted else 1
        top = max((ceil(node.weight * den) for node in plan.nodes[1:]), default=0)
        size = min(SCORES, top + 1)
        table = tuple(exact_fraction(n, den) for n in range(size))
        found = plan.cache.setdefault("rounded_scores", (den, table))
    return cast("tuple[int, tuple[Fraction, ...]]", found)


def scores_namespace(plan: Plan) -> dict[str, object]:
    """What a generated builder's namespace binds for :func:`score_line`."""
    return {_SCORES: rounded_scores(plan)[1]}


def score_line(plan: Plan, target: str, num: str, den: str) -> str:
    """Code making the score *num* / *den* as *target*: from the plan's table when it holds it.

    The table is :func:`rounded_scores`' (bound by :func:`scores_namespace`);
    ``_fraction`` makes the rest. One line, or two (an ``if`` and its ``else``).
    """
    common, fractions = rounded_scores(plan)
    if not fractions:
        return _fraction(target, num, den)
    return (
        f"if {den} == {common} and -1 < {num} < {len(fractions)}: "
        f"{target} = {_SCORES}[{num}]\n"
        f"else: {_fraction(target, num, den)}"
    )


def row_parts(node: Node, weights: dict[Fraction, tuple[Any, ...]]) -> tuple[Any, ...]:
    """What an indicator's explanation takes from the plan, the same for every unit.

    The parts made of the weight are made once per weight (*weights*, per plan; its input
    is the plan's, :attr:`Node.weight_input`): every row of a weight shares them, so a
    unit's rows touch one object each, not one a row.
    """
    leaf = node.leaf
    assert leaf is not None  # noqa: S101
    weight = node.weight
    own = weights.get(weight)
    if own is None:
        text = value_json(weight)[1:-1]
        own = weights[weight] = (
            f'"weight":{{"value":"{text}","text":"{text}","source":"weight"}}',
            shown_value(weight),
        )
    weight_in = node.weight_input
    weight_json = "" if weight_in is None else own[0]
    defaults: list[tuple[Any, ...] | None] = []
    for name in leaf.needs:
        found = leaf.default(name)
        if found is None:
            defaults.append(None)
            continue
        value, origin = found
        text = node.target if origin == "target" else text_of(value)
        entry = (
            f'{string(name)}:{{"value":{value_json(value)},"text":{_quote(text)},'
            f'"source":{string(origin)}}}'
        )
        pair: object = value if isinstance(value, bool) else (value.numerator, value.denominator)
        texts = (
            ("true" if value else "false", "")
            if isinstance(value, bool)
            else (value_texts(value.numerator, value.denominator))
        )
        made = InputValue(name, value, text, origin)
        defaults.append((entry, pair, made, value, texts, shown_value(value)))
    return (
        node_head(node.id, node.name, node.kind, weight),
        sources_json(node.sources),
        string(node.target) if node.target else None,
        weight_json,
        tuple(defaults),
        weight.numerator,
        weight.denominator,
        node.shown_places,
        own[1],
        node,
        weight_in,
        node.id,
        node.name,
        node.kind,
        node.depth,
        weight,
        node.shown_places,
        node.target,
        node.sources,
    )


class _Writer:
    """The source of one shape's two functions."""

    def __init__(self, plan: Plan, node: Node, kinds: tuple[str, ...]) -> None:
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        self.plan = plan
        self.node = node
        self.leaf = leaf
        self.kinds = kinds
        self.constants: dict[str, object] = {}

    def constant(self, value: object) -> str:
        name = f"_C{len(self.constants)}"
        self.constants[name] = value
        return name

    def text(self, *parts: str | tuple[str]) -> str:
        """The code of one f-string of *parts*: texts, and code as ``(expression,)``.

        Consecutive texts are bound as one constant (they may hold what a rule file wrote);
        an expression is a name or an index, without quotes (an f-string's rule).
        """
        pieces: list[str] = []
        run: list[str] = []
        for part in (*parts, ("",)):
            if isinstance(part, str):
                run.append(part)
                continue
            if run and "".join(run):
                pieces.append("{" + self.constant("".join(run)) + "}")
            run = []
            if part[0]:
                pieces.append("{" + part[0] + "}")
        return "f'" + "".join(pieces) + "'" if pieces else "''"

    # --- reading the facts, as the scorer read them ------------------------------------
    def read(self, *, tree: bool) -> list[str]:
        """Each input's pair (or condition), its JSON entry or InputValue, its shown text.

        For input ``j``: ``v{j}n, v{j}d`` (``v{j}`` for a condition), ``t{j}`` its text as
        given, ``i{j}`` its entry; for the JSON ``e{j}, z{j}`` its value's text and exact
        form and ``s{j}`` how a step shows it; for the tree ``f{j}`` its Fraction.
        """
        leaf = self.leaf
        lines = [f"{self.record_names()} = rec"]
        for j, (name, kind) in enumerate(zip(leaf.needs, self.kinds, strict=True)):
            key = self.constant(name)
            source = f'("facts" if {key} in own else "{self.plan.source_of(name)}")'
            body: list[str] = [f"src = {source}"]
            if kind == "bool":
                body += [f"v{j} = x{j}", f"t{j} = 'true' if x{j} else 'false'", f"s{j} = t{j}"]
                entry: list[str | tuple[str]] = [
                    string(name) + ':{"value":',
                    (f"t{j}",),
                    ',"text":"',
                    (f"t{j}",),
                ]
                made = f"_NEW(_INPUT, ({key}, x{j}, t{j}, src, None))"
                quoted = f"t{j}"
            else:
                # the number as the scorer read it (its pair, over a power of ten for a
                # Decimal, and a Decimal's text): from the record (v{j}n, v{j}d, t{j}),
                # not read again
                if tree:
                    body += [
                        f"if t{j} is None:",
                        f"    t{j} = x{j} if x{j}.__class__ is _STR else _TEXT_OF(x{j})",
                        _fraction(f"f{j}", f"v{j}n", f"v{j}d"),
                    ]
                else:  # the value's text: a Decimal's own when it has no trailing zeros
                    body += [
                        f"if t{j} is not None:",
                        f"    q{j} = t{j}",
                        (
                            f"    if t{j}[-1] == '0' and ('.' in t{j} or t{j} == '-0')"
                            f" or 'E' in t{j}:"
                        ),
                        f"        e{j}, z{j} = _TEXTS(v{j}n, v{j}d)",
                        f"    else: e{j} = t{j}; z{j} = ''",
                        "else:",
                        f"    t{j} = x{j} if x{j}.__class__ is _STR else _TEXT_OF(x{j})",
                        f"    q{j} = _Q(t{j})[1:-1]",
                        f"    e{j}, z{j} = _TEXTS(v{j}n, v{j}d)",
                    ]
                if not tree:
                    body.append(f"s{j} = _SHOWN(v{j}n, v{j}d, e{j}, z{j})")
                entry = [string(name) + ':{"value":"', (f"e{j}",), '","text":"', (f"q{j}",)]
                made = f"_NEW(_INPUT, ({key}, f{j}, t{j}, src, None))"
                quoted = f"q{j}"
            if tree:
                body.append(f"i{j} = {made}")
            else:
                body.append(f"i{j} = " + self.text(*entry, '","source":"', ("src",), '"}'))
            if leaf.show == name:
                body.append(f"actual = t{j}" if tree else f"actual = {quoted}")
            if leaf.default(name) is None:
                lines += body
                continue
            # the default the scorer took: its parts made once per plan (row_parts)
            lines.append(f"if x{j} is _M:")
            lines.append(f"    d{j} = row[{DEFAULTS}][{j}]")
            if kind == "bool":
                lines += [f"    v{j} = d{j}[1]", f"    t{j} = s{j} = d{j}[2].text"]
            else:
                lines += [f"    v{j}n, v{j}d = d{j}[1]", f"    t{j} = d{j}[2].text"]
                lines.append(
                    f"    f{j} = d{j}[3]" if tree else f"    (e{j}, z{j}), s{j} = d{j}[4], d{j}[5]"
                )
            lines.append(f"    i{j} = d{j}[2]" if tree else f"    i{j} = d{j}[0]")
            lines.append("else:")
            lines += ["    " + line for line in body]
        return lines

    def record_names(self) -> str:
        """The names the row's record is unpacked into, in its order (``_kernel``'s).

        The own facts, the value, each fact as given (``x{j}``), then each number as read:
        its pair and a Decimal's text (``v{j}n, v{j}d, t{j}``). An input that took its
        default has its parts from the plan instead (:meth:`read`).
        """
        names = ["own", "vn", "vd", *(f"x{j}" for j in range(len(self.leaf.needs)))]
        for j, kind in enumerate(self.kinds):
            if kind != "bool":
                names += [f"v{j}n", f"v{j}d", f"t{j}"]
        return ", ".join(names)

    # --- the formula, its values kept --------------------------------------------------
    def formula(self) -> tuple[list[str], list[tuple[int, str, tuple[str, ...]]], tuple[str, ...]]:
        """The formula's code with each record kept in locals.

        Returns the lines, the records in evaluation order as (record, indent, operand
        code), and the result's operand code.
        """
        leaf = self.leaf
        operands: dict[str, tuple[str, ...]] = {"weight": ("num", "wn", "wd")}
        for j, (name, kind) in enumerate(zip(leaf.needs, self.kinds, strict=True)):
            operands[name] = ("bool", f"v{j}") if kind == "bool" else ("num", f"v{j}n", f"v{j}d")
        body, result, constants = inline_block(
            leaf.expression.program, operands, depth=0, prefix="_", traced=True
        )
        self.constants.update(constants)
        lines: list[str] = []
        records: list[tuple[int, str, tuple[str, ...]]] = []
        for line in body:
            match = _RECORD.match(line)
            if match is None:
                lines.append(line)
                continue
            k = int(match["k"])
            args = tuple(match["args"].split(", "))
            records.append((k, match["indent"], args))
            if len(args) == 2:
                lines.append(f"{match['indent']}r{k}n, r{k}d = {args[0]}, {args[1]}")
            else:
                lines.append(f"{match['indent']}r{k} = {args[0]}")
        # a record inside a branch not taken stays None (shown "…", not a step)
        inside = [
            f"r{k}n = r{k}d = None" if len(args) == 2 else f"r{k} = None"
            for k, indent, args in records
            if indent
        ]
        return inside + lines, records, result

    def explainer(self) -> RowExplainer:
        json_source = self.function("_json", tree=False)
        tree_source = self.function("_tree", tree=True)
        source = json_source + "\n" + tree_source
        namespace: dict[str, object] = {
            **BASE_GLOBALS,
            "_M": MISSING,
            "_EXC": Exception,
            "_DEC": Decimal,
            "_STR": str,
            "_S": str,
            "_INT": int,
            "_P10": POWERS_OF_TEN,
            "_MAXN": MAX_MAGNITUDE,
            "_DC": DECIMAL_PAIR,
            "_NUM": number_pair,
            "_TEXT_OF": text_of,
            "_Q": _quote,
            "_TEXTS": value_texts,
            "_SHOWN": shown_text,
            "_SHOWN_V": shown_value,
            "_DTEXT": decimal_text,
            "_F": exact_fraction,
            "_NEWO": object.__new__,
            "_GCD": gcd,
            "_FRACTION": Fraction,
            "_NEW": _NEW,
            "_TUPLE": tuple,
            "len": len,
            "_INPUT": InputValue,
            "_STEP": Step,
            "_NODE": NodeTrace,
            "_ROUNDING": RoundingStep,
            "_FAIL": _mismatch,
            **scores_namespace(self.plan),
            **self.constants,
        }
        code = compile(source, "<perfrules explanation>", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 - generated from the validated formula, no builtins
        json_function = namespace["_json"]
        tree_function = namespace["_tree"]
        assert isinstance(json_function, FunctionType)  # noqa: S101
        assert isinstance(tree_function, FunctionType)  # noqa: S101
        return RowExplainer(json_function, tree_function, source)

    def function(self, name: str, *, tree: bool) -> str:
        """The source of the JSON writer (``tree=False``) or of the node builder."""
        lines = [
            f"wn = row[{WN}]",
            f"wd = row[{WD}]",
            "actual = ''",
            *self.read(tree=tree),
        ]
        body, records, result = self.formula()
        lines += body
        lines.append(f"rn, rd = {result[1]}, {result[2]}")
        # the scorer's own pairs through the same code give its very pair: two compares
        # (another pair of the same value is still the same value)
        lines.append(
            "if (rn != vn or rd != vd) and rn * vd != vn * rd: _FAIL(row, rn, rd, vn, vd)"
        )
        lines += self.values(records, tree=tree)
        # the steps, in the order evaluated: those inside a branch only when it was taken
        conditional = any(indent for _, indent, _ in records)
        if conditional:
            lines.append("steps = []")
        shown: set[int] = set()
        for k, indent, args in records:
            statements = self.step(k, args, records, lines, shown, tree=tree)
            if not conditional:
                lines += statements
            elif not indent:
                lines += [*statements, f"steps.append(j{k})"]
            else:
                lines.append(f"if r{k}{'n' if len(args) == 2 else ''} is not None:")
                lines += ["    " + line for line in [*statements, f"steps.append(j{k})"]]
        if tree:
            steps = (
                "_TUPLE(steps)"
                if conditional
                else "(" + "".join(f"j{k}, " for k, _, _ in records) + ")"
            )
        elif conditional:
            lines.append("steps = ','.join(steps)")
            steps = "steps"
        else:
            steps = (
                "''"
                if not records
                else self.text(*_between([(f"j{k}",) for k, _, _ in records], ","))
            )
            lines.append(f"steps = {steps}")
            steps = "steps"
        before = next(
            (k for k, indent, args in records if not indent and args == result[1:]), None
        )
        lines += self.tree_tail(before, steps) if tree else self.json_tail(before)
        indented = "\n".join("    " + line for line in lines)
        return f"def {name}(rec, sn, sd, row):\n{indented}\n"

    def values(self, records: list[tuple[int, str, tuple[str, ...]]], *, tree: bool) -> list[str]:
        """Each record's text and exact form (JSON: ``p{k}, y{k}``) or Fraction (``g{k}``).

        Made once; a record holding the very pair of an earlier record, or of one of its
        operands (what ``min`` and ``max`` give), takes that one's.
        """
        lines: list[str] = []
        held: dict[tuple[str, ...], int] = {}  # operand code -> the top-level record holding it
        needs = {need: j for j, need in enumerate(self.leaf.needs)}
        for k, indent, args in records:
            if len(args) != 2:
                code = [] if tree else [f"p{k} = 'true' if r{k} else 'false'"]
            elif not indent and args in held:
                j = held[args]
                code = [f"g{k} = g{j}"] if tree else [f"p{k} = p{j}; y{k} = y{j}"]
            else:
                if not indent:
                    held[args] = k
                candidates = []
                for kind, ref in self.leaf.expression.program.infos[k].children:
                    if kind == "rec" and any(
                        r == ref and not i and len(a) == 2 for r, i, a in records
                    ):
                        candidates.append((f"r{ref}n", f"r{ref}d", f"p{ref}, y{ref}", f"g{ref}"))
                    elif kind == "name" and ref in needs and self.kinds[needs[ref]] != "bool":
                        j = needs[ref]
                        candidates.append((f"v{j}n", f"v{j}d", f"e{j}, z{j}", f"f{j}"))
                made = (
                    _fraction(f"g{k}", f"r{k}n", f"r{k}d")
                    if tree
                    else f"p{k}, y{k} = _TEXTS(r{k}n, r{k}d)"
                )
                code = []
                # the same objects (JSON: the same texts); the tree shares any equal pair's
                # Fraction (``1 * x`` is another int object, the same value)
                same = "==" if tree else "is"
                for number, (cn, cd, texts, value) in enumerate(candidates):
                    code.append(
                        f"{'elif' if number else 'if'} r{k}n {same} {cn} and r{k}d {same} {cd}:"
                    )
                    code.append(f"    g{k} = {value}" if tree else f"    p{k}, y{k} = {texts}")
                code += ["else:", f"    {made}"] if candidates else [made]
            if not indent:
                lines += code
                continue
            number = len(args) == 2
            lines.append(f"if r{k}{'n' if number else ''} is not None:")
            lines += ["    " + line for line in code] or ["    pass"]
            lines += ["else:", f"    g{k} = None" if tree else f"    p{k} = None"]
        return lines

    def step(
        self,
        k: int,
        args: tuple[str, ...],
        records: list[tuple[int, str, tuple[str, ...]]],
        lines: list[str],
        shown: set[int],
        *,
        tree: bool,
    ) -> list[str]:
        """Statements making record *k*'s step as ``j{k}`` (its shown operands into *lines*)."""
        info = self.leaf.expression.program.infos[k]
        number = len(args) == 2
        needs = {need: j for j, need in enumerate(self.leaf.needs)}
        used = {int(f) for _, f, _, _ in Formatter().parse(info.template) if f is not None}
        fields: list[str | tuple[str]] = []
        for position, (kind, ref) in enumerate(info.children):
            numeric = kind == "rec" and any(r == ref and len(a) == 2 for r, _, a in records)
            if not tree and position not in used:
                fields.append("")
            elif kind == "rec" and tree:
                fields.append((f"g{ref}" if numeric else f"r{ref}",))
            elif kind == "rec":
                if ref not in shown:
                    shown.add(cast("int", ref))
                    lines.append(
                        f"h{ref} = '…' if p{ref} is None"
                        + (
                            f" else _SHOWN(r{ref}n, r{ref}d, p{ref}, y{ref})"
                            if numeric
                            else f" else p{ref}"
                        )
                    )
                fields.append((f"h{ref}",))
            elif kind == "name" and ref == "weight":
                fields.append((f"row[{FIELDS + 4}]",) if tree else (f"row[{WEIGHT_SHOWN}]",))
            elif kind == "name" and ref in needs:
                j = needs[ref]
                bool_input = self.kinds[j] == "bool"
                fields.append(((f"v{j}" if bool_input else f"f{j}") if tree else f"s{j}",))
            elif kind == "name":
                fields.append(("None",) if tree else "…")
            elif tree:  # a constant: its literal text
                fields.append((self.constant(ref),))
            else:
                fields.append(_quote(str(ref))[1:-1])
        if tree:
            value = f"g{k}" if number else f"r{k}"
            formula = "None" if info.formula is None else self.constant(info.formula)
            made = "".join(f"{f[0]}, " for f in fields if isinstance(f, tuple))
            step = (
                f"j{k} = _NEW(_STEP, ({self.constant(info.text)}, "
                f"{self.constant(info.template)}, ({made}), {value}, {formula}, 0))"
            )
            return [step]
        with_parts: list[str | tuple[str]] = []
        for literal, field, _, _ in Formatter().parse(info.template):
            if literal:
                with_parts.append(_quote(literal)[1:-1])
            if field is not None:
                with_parts.append(fields[int(field)])
        tail = "}" if info.formula is None else f',"formula":{_quote(info.formula)}}}'
        head = '{"expr":' + _quote(info.text) + ',"with":"'
        if not number:
            return [f"j{k} = " + self.text(head, *with_parts, '","value":', (f"p{k}",), tail)]
        return [
            f"xe{k} = ',\"exact\":\"' + y{k} + '\"' if y{k} else ''",
            f"j{k} = "
            + self.text(head, *with_parts, '","value":"', (f"p{k}",), '"', (f"xe{k}",), tail),
        ]

    def tree_tail(self, before: int | None, steps: str) -> list[str]:
        """The node of the row."""
        leaf = self.leaf
        places = self.node.places
        lines = score_line(self.plan, "score", "sn", "sd").split("\n")
        if places is not None:
            value = "_F(rn, rd)" if before is None else f"g{before}"
            mode = self.constant(self.plan.mode)
            lines.append(f"roundings = (_NEW(_ROUNDING, ({places}, {mode}, {value}, score)),)")
        else:
            lines.append("roundings = ()")
        inputs = ([f"row[{WEIGHT_INPUT}]"] if "weight" in leaf.expression.names else []) + [
            f"i{j}" for j in range(len(leaf.needs))
        ]
        target = f"row[{FIELDS + 6}]"
        if "target" in leaf.needs:
            target = f"({target} or t{leaf.needs.index('target')})"
        f = [f"row[{FIELDS + i}]" for i in range(8)]
        lines.append(
            f"return _NEW(_NODE, ({f[0]}, {f[1]}, {f[2]}, {f[3]}, {f[4]}, score, {f[5]}, "
            f"'scored', (), {self.constant(leaf.expression.text)}, "
            f"({''.join(i + ', ' for i in inputs)}), {steps}, roundings, (), {target}, "
            f"actual, {f[4]}, {f[7]}))"
        )
        return lines

    def json_tail(self, before: int | None) -> list[str]:
        """The text of the row."""
        leaf = self.leaf
        places = self.node.places
        lines = [
            f"places = row[{PLACES}]",
            "st = _DTEXT(sn, sd, places)",
            "lt = _DTEXT(wn * sd - sn * wd, wd * sd, places)",
        ]
        rounding: list[str | tuple[str]] = []
        if places is not None:
            lines.append(
                "bt, be = _TEXTS(rn, rd)" if before is None else f"bt, be = p{before}, y{before}"
            )
            lines.append("bx = ',\"before_exact\":\"' + be + '\"' if be else ''")
            mode = string(self.plan.mode)
            rounding = [
                f'{{"places":{places},"mode":{mode},"before":"',
                ("bt",),
                '","after":"',
                ("st",),
                '"',
                ("bx",),
                "}",
            ]
        if "target" in leaf.needs:
            j = leaf.needs.index("target")
            lines.append(f"tg = row[{TARGET}] or '\"' + _Q(t{j})[1:-1] + '\"'")
        else:
            lines.append(f"tg = row[{TARGET}] or '\"\"'")
        inputs: list[tuple[str]] = [(f"i{j}",) for j in range(len(leaf.needs))]
        if "weight" in leaf.expression.names:
            inputs.insert(0, (f"row[{WEIGHT_IN}]",))
        text = self.text(
            (f"row[{HEAD}]",),
            ',"score":"',
            ("st",),
            '","lost":"',
            ("lt",),
            '","status":"scored"',
            (f"row[{SOURCES}]",),
            ',"target":',
            ("tg",),
            ',"actual":"',
            ("actual",),
            '","formula":' + string(leaf.expression.text) + ',"inputs":{',
            *_between(inputs, ","),
            '},"steps":[',
            ("steps",),
            '],"roundings":[',
            *rounding,
            '],"notes":[],"children":[]}',
        )
        lines.append(f"return {text}")
        return lines


def _fraction(target: str, num: str, den: str) -> str:
    """One line making the Fraction *num* / *den* (``den > 0``) as *target*.

    What :func:`~perfrules._numbers.exact_fraction` does, inline: one gcd, no call, and
    the pair's own ints kept when it is in lowest terms.
    """
    return (
        f"c_ = _GCD({num}, {den}); {target} = _NEWO(_FRACTION); "
        f"{target}._numerator = {num} if c_ == 1 else {num} // c_; "
        f"{target}._denominator = {den} if c_ == 1 else {den} // c_"
    )


def _between(parts: list[tuple[str]], separator: str) -> list[str | tuple[str]]:
    """*parts* with *separator* between them."""
    out: list[str | tuple[str]] = []
    for number, part in enumerate(parts):
        if number:
            out.append(separator)
        out.append(part)
    return out


def _mismatch(row: tuple[Any, ...], rn: int, rd: int, vn: int, vd: int) -> None:
    node = row[NODE]  # pragma: no cover - one implementation, one value
    raise AssertionError(f"{node.id}: scored {vn}/{vd}, explained {rn}/{rd}")  # pragma: no cover
