"""What the trace writers share, written once per plan.

The general path's record of a row (:class:`LeafRecord`) and the parts of a plan's trace
that do not change between units: heads, layouts, templates, the memos of explained rows.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Final, cast

from perfrules._numbers import Memo
from perfrules._trace_json import (
    grade_json,
    group_parts,
    node_head,
    pair_json,
    sources_json,
    string,
)
from perfrules.engine._plan import Node, Plan
from perfrules.errors import Diagnostic, FactsError
from perfrules.expressions import MAX_TRACE_CHARS, Value
from perfrules.facts import Facts
from perfrules.trace import (
    InputValue,
    NodeTrace,
    Note,
    RoundingStep,
)

__all__ = ["LeafRecord"]

_ZERO: Final = Fraction(0)


class LeafRecord:
    """What the general path found for one indicator, for the trace.

    Attributes:
        status: ``scored``, ``override``, ``full``, ``zero``, ``excluded`` or ``error``.
        score: the score after rounding (``None`` when excluded or failed).
        before: the value before rounding (``None`` when not rounded).
        names: the values bound, for the steps (``None`` when the formula did not run).
        inputs: the inputs as shown.
        notes: notes.
        actual: the actual value as given.
        applicable: the weight it counts with (0 when excluded).
    """

    __slots__ = ("actual", "applicable", "before", "inputs", "names", "notes", "score", "status")

    def __init__(self, status: str, applicable: Fraction) -> None:
        """An indicator with *status*, nothing else known yet."""
        self.status = status
        self.applicable = applicable
        self.score: Fraction | None = None
        self.before: Fraction | None = None
        self.names: dict[str, Value] | None = None
        self.inputs: tuple[InputValue, ...] = ()
        self.notes: tuple[Note, ...] = ()
        self.actual = ""


def _shown(facts: Facts) -> Facts | _Shown:
    """*facts* as a trace names them: a file by its name only (no server path in a trace)."""
    if facts.file is not None and Path(facts.file).is_absolute():
        return _Shown(Path(facts.file).name, facts)
    return facts


class _Shown:
    """A facts source shown under another name (its hash unchanged)."""

    __slots__ = ("_facts", "file")

    def __init__(self, file: str, facts: Facts) -> None:
        self.file = file
        self._facts = facts

    @property
    def digest(self) -> str:
        return self._facts.digest


def _memo(plan: Plan, name: str) -> Memo:
    """The plan's memo *name* of explained rows (made once, not once per call).

    A row's text is a function of the facts it read (:func:`_plain_key`): forms repeat the
    same few values ("80%"), and a row met again is not written again. With every value new
    (a real batch of measured values) it never hits; the benchmark's targets are measured
    with it off. (A row's node is built each time the tree is read: nothing is kept.)
    """
    memo = cast("Memo | None", plan.cache.get(name))
    if memo is None:
        memo = cast("Memo", plan.cache.setdefault(name, Memo(_uncomputed, 4096)))
    return memo


def _uncomputed(key: object) -> object:
    """The memos of explained indicators are filled by hand (``remember``), never computed."""
    raise KeyError(key)


_NOT_COUNTED: Final = Note("not_counted")
_GEOMETRIC: Final = Note("geometric")
#: Makes a named tuple from a tuple of its fields (no keyword handling: the hot path).
_NEW: Final = tuple.__new__


def _too_big(node: Node, text: str) -> None:
    """Refuse a trace that outgrew the budget at indicator *node* (PR504)."""
    raise FactsError(
        [
            Diagnostic(
                "PR504",
                ("indicators", node.id),
                {
                    "limit": f"{MAX_TRACE_CHARS // 2**20} Mi",
                    "indicator": node.id,
                    "size": f"{len(text):,}",
                },
            )
        ]
    )


def _node_trace(
    node: Node,
    score: Fraction | None,
    status: str,
    *,
    children: tuple[NodeTrace, ...] = (),
    formula: str | None = None,
    inputs: tuple[InputValue, ...] = (),
    steps: tuple[Any, ...] = (),
    roundings: tuple[RoundingStep, ...] = (),
    notes: tuple[Note, ...] = (),
    target: str | None = None,
    actual: str = "",
    applicable: Fraction | None = None,
) -> NodeTrace:
    """The :class:`NodeTrace` of *node*: its fixed parts from the plan, the rest as given."""
    return NodeTrace(
        node.id,
        node.name,
        node.kind,
        node.depth,
        node.weight,
        score,
        node.shown_places,
        status,
        children,
        formula,
        inputs,
        steps,
        roundings,
        notes,
        node.target if target is None else target,
        actual,
        applicable,
        node.sources,
    )


def _noted(node: Node, trace: NodeTrace) -> NodeTrace:
    """A row shown but not counted says so in its notes; a geometric group says how."""
    if node.aggregate == "geometric":
        trace = trace._replace(notes=(*trace.notes, _GEOMETRIC))
    if not node.uncounted_here:
        return trace
    return trace._replace(notes=(*trace.notes, _NOT_COUNTED))


def _plain_key(index: int, node: Node, name: str | None, record: Any) -> tuple[object, ...]:
    """:func:`_fast_key` of a row scored the plain way; *name*: the one fact it reads."""
    if name is None:
        key = _fast_key(node, record)
        assert key is not None  # noqa: S101 - a plain row's record is a tuple
        return key
    raw = record[3]  # one fact read: the same key, made without _fast_key's checks
    return (index, raw.__class__, _as_given(raw), name in record[0])


def _as_given(raw: object) -> object:
    """A fact as the memo keys tell it apart: its text (``0.5`` is not ``0.50``)."""
    return raw if raw.__class__ is str else str(raw)


def _fast_key(node: Node, record: Any) -> tuple[object, ...] | None:
    """What an indicator scored the plain way depends on, as a key; ``None`` otherwise.

    Its explanation (inputs, steps, rounding, score) is a function of the plan and of the
    facts it read, each taken with its type and its text as given (``0.5`` and ``0.50``
    read alike but show differently; ``1``, ``True`` and ``Decimal(1)`` are all kept apart)
    and whether it came from the indicator's own facts or the shared ones.
    """
    if record.__class__ is LeafRecord:
        return None
    leaf = node.leaf
    assert leaf is not None  # noqa: S101
    own, raws = record[0], record[3 : 3 + len(leaf.needs)]
    if len(raws) == 1:  # most rows read one fact: no generator, no inner tuples
        raw = raws[0]
        return (
            node.index,
            raw.__class__,
            _as_given(raw),
            leaf.needs[0] in own,
        )
    return (
        node.index,
        tuple([(raw.__class__, _as_given(raw)) for raw in raws]),
        tuple([name in own for name in leaf.needs]),
    )


def _grades_json(plan: Plan) -> tuple[str, ...]:
    """Each band's JSON, written once per plan."""
    texts = cast("tuple[str, ...] | None", plan.cache.get("grades_json"))
    if texts is None:
        texts = plan.cache["grades_json"] = tuple(grade_json(g) for g in plan.grades)
    return texts


def _bands_json(plan: Plan) -> str:
    """The entries of ``"bands"``, written once per plan."""
    return ",".join(_grades_json(plan))


def _gap_heads(plan: Plan) -> tuple[str, ...]:
    """``{"next":…,"min":…,"shortfall":`` of each band, written once per plan."""
    heads = cast("tuple[str, ...] | None", plan.cache.get("gap_heads"))
    if heads is None:
        heads = plan.cache["gap_heads"] = tuple(
            f'{{"next":{string(label)},"min":{_dec(low)},"shortfall":'
            for label, low, _, _ in plan.bands
        )
    return heads


def _loss_heads(plan: Plan) -> dict[int, tuple[str, int | None]]:
    """``{"id":…,"name":…,"lost":`` of each indicator and its places, once per plan."""
    heads = cast("dict[int, tuple[str, int | None]] | None", plan.cache.get("loss_heads"))
    if heads is None:
        heads = {
            i: (
                f'{{"id":{string(plan.nodes[i].id)},"name":{string(plan.nodes[i].name)},"lost":',
                plan.nodes[i].shown_places,
            )
            for i in plan.leaves
        }
        plan.cache["loss_heads"] = heads
    return heads


_Group = tuple[tuple[str, str, str], tuple[int, ...], int, int, Fraction, tuple[int, int] | None]


def _json_layout(plan: Plan) -> list[tuple[int, Node, int, _Group | None]]:
    """The nodes in post-order as the JSON writer walks them, made once per plan.

    Each is (index, node, position among the indicators, group part); the group part of a
    group is its fixed text (:func:`group_parts`), the children it adds up when it can be
    written the short way (none for the root and for a group shown but not counted), its
    weight as integers, the weight of its rows, and its rounding (places, position of the
    unrounded sum in the record) or ``None``.
    """
    layout = cast("list[tuple[int, Node, int, _Group | None]] | None", plan.cache.get("layout"))
    if layout is None:
        heads = _heads(plan)
        layout = []
        for index in plan.post_order:
            node = plan.nodes[index]
            if node.kind == "indicator":
                layout.append((index, node, plan.leaf_positions[index], None))
                continue
            head, sources = heads[index]
            below = plan.leaf_weights[index]
            shown_below = "" if below == node.weight else f',"applicable_weight":{_dec(below)}'
            # The short cut: a group that adds up its rows, and the root when its rows
            # weigh its maximum (no renormalisation to explain when all of them count).
            # A geometric group says how it aggregates: never the short cut.
            simple = (
                not node.uncounted_here and node.aggregate == "sum"
                if node.kind == "group"
                else below == node.weight
            )
            rounded = (
                None if node.places is None else (node.places, 2 * plan.group_positions[index])
            )
            group: _Group = (
                group_parts(head, shown_below, sources),
                node.children if simple else (),
                node.weight.numerator,
                node.weight.denominator,
                below,
                rounded,
            )
            layout.append((index, node, -1, group))
        plan.cache["layout"] = layout
    return layout


_Leaves = tuple[tuple[int, int, Node, str | None], ...]
_Rounded = tuple[int, int] | None
_Groups = tuple[
    tuple[int, tuple[str, str, str], tuple[int, ...], int, int, int | None, _Rounded], ...
]


def _plain_layout(plan: Plan) -> tuple[_Leaves, _Groups] | None:
    """The nodes as :meth:`Evaluation._plain_root_json` writes them, or ``None``.

    ``None`` for a plan with a row shown but not counted, or whose rows do not weigh its
    maximum. Indicators are (index, position among them, node, the one fact it reads or
    ``None``); groups, in post-order (the root last), are (index, fixed text, shown
    children, weight as integers, places shown, rounding as in :func:`_json_layout`).
    """
    found = plan.cache.get("plain_layout", False)
    if found is False:
        leaves = []
        groups = []
        for index, node, position, group in _json_layout(plan):
            if group is None:
                leaf = node.leaf
                assert leaf is not None  # noqa: S101
                leaves.append(
                    (index, position, node, leaf.needs[0] if len(leaf.needs) == 1 else None)
                )
                continue
            parts, counted, wn, wd, _, rounded = group
            if not counted or node.shown != node.children or node.aggregate != "sum":
                found = None
                break
            groups.append((index, parts, node.shown, wn, wd, node.shown_places, rounded))
        else:
            found = (tuple(leaves), tuple(groups))
        plan.cache["plain_layout"] = found
    return cast("tuple[_Leaves, _Groups] | None", found)


def _plain_template(plan: Plan) -> tuple[list[str], list[int]]:
    """The tree's text as a list in document order, and each node's place in it.

    The list holds the fixed pieces between nodes (``,`` between siblings, ``]}`` closing
    a group); a node's place is where its own text goes — an indicator's whole text, a
    group's text up to its children. Filled in and joined once, each node's text is
    copied once instead of once for every group above it.
    """
    found = cast("tuple[list[str], list[int]] | None", plan.cache.get("plain_template"))
    if found is None:
        template: list[str] = []
        slots = [0] * len(plan.nodes)
        fixed = False  # whether the last piece is fixed text (the next one joins it)
        stack: list[tuple[int, str]] = [(0, "")]  # a node, or ``(-1, text)``
        while stack:
            index, text = stack.pop()
            if index < 0:
                if fixed:
                    template[-1] += text
                else:
                    template.append(text)
                fixed = True
                continue
            slots[index] = len(template)
            template.append("")
            fixed = False
            node = plan.nodes[index]
            if node.kind != "indicator":
                stack.append((-1, "]}"))
                for k in range(len(node.shown) - 1, -1, -1):
                    stack.append((node.shown[k], ""))
                    if k:
                        stack.append((-1, ","))
        found = plan.cache["plain_template"] = (template, slots)
    return found


def _dec(value: Fraction) -> str:
    return pair_json(value.numerator, value.denominator, None)


def _heads(plan: Plan) -> dict[int, tuple[str, str]]:
    """Each node's JSON head and sources, written once per plan."""
    heads = cast("dict[int, tuple[str, str]] | None", plan.cache.get("json_heads"))
    if heads is None:
        heads = {
            node.index: (
                node_head(node.id, node.name, node.kind, node.weight),
                sources_json(node.sources),
            )
            for node in plan.nodes
        }
        plan.cache["json_heads"] = heads
    return heads
