"""The trace tree of an evaluation, built from its raw record when first read.

Nodes are :class:`~perfrules.trace.NodeTrace` objects; steps are re-derived by the
formula's traced function and must end at the value the scorer recorded.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from fractions import Fraction
from math import gcd
from types import FunctionType
from typing import Any, Final, cast

from perfrules._numbers import exact_fraction, format_number
from perfrules.engine._explain import _fraction, explainers, score_line, scores_namespace
from perfrules.engine._layout import (
    LeafRecord,
    _json_layout,
    _node_trace,
    _noted,
    _plain_layout,
    _shown,
)
from perfrules.engine._plan import MISSING, Node, Plan
from perfrules.engine._record import VERSION, RecordParts
from perfrules.engine._totals import totals_of
from perfrules.expressions import Value
from perfrules.facts import number_pair, text_of
from perfrules.trace import (
    InputValue,
    NodeTrace,
    Note,
    Provenance,
    RoundingStep,
)

__all__ = ["TreeParts"]

_ZERO: Final = Fraction(0)


def _plain_builder(plan: Plan) -> Callable[[tuple[Any, ...]], NodeTrace]:
    """The tree of a plain record, built by one function generated per plan.

    ``_root(out)`` calls each indicator's generated node builder (``_explain``) with its
    record and fixed parts, a line per row (no loop unpacking them), then makes each group
    (in post-order, the root last) as a scored node with every row counted: a line per
    group, its fixed fields bound once as constants, its children taken by position, its
    score taken from the plan's rounded scores (``_explain.rounded_scores``) or made
    inline, as is a rounding's value before; each node is a local of its own, not an item
    of a list. Nothing is remembered between units.
    """
    found = plan.cache.get("plain_tree")
    if found is None:
        found = plan.cache.setdefault("plain_tree", _generate_plain(plan))
    return cast("Callable[[tuple[Any, ...]], NodeTrace]", found)


def _generate_plain(plan: Plan) -> Callable[[tuple[Any, ...]], NodeTrace]:
    layout = _plain_layout(plan)
    assert layout is not None  # noqa: S101 - asked for only when plain
    rows = explainers(plan)
    namespace: dict[str, object] = {
        "__builtins__": {},
        "_GCD": gcd,
        "_NEWO": object.__new__,
        "_FRACTION": Fraction,
        "_NEW": tuple.__new__,
        "_NODE": NodeTrace,
        "_ROUNDING": RoundingStep,
        "_MODE": plan.mode,
        **scores_namespace(plan),
    }
    names: dict[int, str] = {}  # id of a bound object -> its name

    def bind(value: object) -> str:
        name = names.get(id(value))
        if name is None:
            name = names[id(value)] = f"_K{len(names)}"
            namespace[name] = value
        return name

    lines = [
        "R = out[1]",
        "V = out[2]",
        "P = out[3]",
    ]
    for index, position, _, _ in layout[0]:  # a line per row: its shape's builder, its parts
        explainer, row = rows[index]
        lines.append(
            f"b{index} = {bind(explainer.tree)}"
            f"(R[{position}], V[{2 * index}], V[{2 * index + 1}], {bind(row)})"
        )
    for index, _, shown, _, _, places, rounded in layout[1]:
        node = plan.nodes[index]
        lines.append(f"sn = V[{2 * index}]; sd = V[{2 * index + 1}]")
        made = score_line(plan, "s_", "sn", "sd").split("\n")
        if len(shown) == 1:  # a group of one row scores as it does: share its Fraction
            child = shown[0]
            lines.append(f"if sn == V[{2 * child}] and sd == V[{2 * child + 1}]: s_ = b{child}[5]")
            lines.append("else:")
            lines += ["    " + line for line in made]
        else:
            lines += made
        roundings = "()"
        if rounded is not None:
            at = rounded[1]
            # the unrounded sum; the root's is the renormalised one
            lines.append("bn, bd = out[4]" if index == 0 else f"bn = P[{at}]; bd = P[{at + 1}]")
            # a sum of rows at its places is its own rounding: the same value
            lines.append("if bn * sd == sn * bd: e_ = s_")
            lines.append("else: " + _fraction("e_", "bn", "bd"))
            roundings = f"(_NEW(_ROUNDING, ({rounded[0]}, _MODE, e_, s_)),)"
        children = "(" + "".join(f"b{child}, " for child in shown) + ")"
        fields = ", ".join(
            [
                bind(node.id),
                bind(node.name),
                bind(node.kind),
                str(node.depth),
                bind(node.weight),
                "s_",
                str(places),
                "'scored'",
                children,
                "None",
                "()",
                "()",
                roundings,
                "()",
                bind(node.target),
                "''",
                bind(plan.leaf_weights[index]),
                bind(node.sources),
            ]
        )
        lines.append(f"b{index} = _NEW(_NODE, ({fields}))")
    lines.append("return b0")
    source = "def _root(out):\n" + "".join(f"    {line}\n" for line in lines)
    code = compile(source, "<perfrules tree>", "exec", dont_inherit=True)
    exec(code, namespace)  # noqa: S102 - the generator's own code; rule-file values are bound
    built = namespace["_root"]
    assert isinstance(built, FunctionType)  # noqa: S101
    return cast("Callable[[tuple[Any, ...]], NodeTrace]", built)


class TreeParts(RecordParts):
    """The trace tree of an evaluation, built from its record when first read."""

    __slots__ = ()

    # --- the trace -----------------------------------------------------------------------
    def _plain(self) -> bool:
        """Every indicator scored the plain way, every node counted, no grade override.

        The generated scorer makes a unit (``out[0]``) as soon as one indicator needs the
        general path; a plan whose rows do not weigh its maximum, or with a row shown but
        not counted, has notes to explain (:func:`_plain_layout` is ``None``).
        """
        return self.out[0] is None and self.out[6] is None and _plain_layout(self.plan) is not None

    def root(self) -> NodeTrace:
        """The tree of nodes, from the record (walked as :meth:`json` walks it).

        Built with the garbage collector paused, as it was when asked: a tree holds no
        cycle, so a collection during the build finds nothing, and with thousands of rows
        the build would set off dozens of them and move its nodes, all alive, to the
        oldest generation, whose full collections visit the whole heap (at 2,000
        indicators, a full collection every unit or so: four times the build's own time).
        """
        if not gc.isenabled():
            return self._root()
        gc.disable()
        try:
            return self._root()
        finally:
            gc.enable()

    def _root(self) -> NodeTrace:
        if self._plain():
            return self._plain_root()
        plan = self.plan
        records, values = self.out[1], self.out[2]
        count = len(plan.nodes)
        built: list[Any] = [None] * count
        applicable: list[Fraction] = [_ZERO] * count
        full = [False] * count  # scored, with all of its weight applicable
        mode = plan.mode
        for index, node, position, group in _json_layout(plan):
            if group is None:  # an indicator
                trace, weight = self._leaf(node, records[position])
                built[index] = trace
                applicable[index] = weight
                full[index] = trace.score is not None and (
                    weight is node.weight or weight == node.weight
                )
                continue
            _, counted, _, _, below, rounded = group
            if self._counted_fully(index, counted, full):
                sn, sd = values[2 * index], values[2 * index + 1]
                score = exact_fraction(sn, sd)
                roundings: tuple[RoundingStep, ...] = ()
                if rounded is not None:
                    bn, bd = self._unrounded(index, rounded[1])
                    roundings = (RoundingStep(rounded[0], mode, exact_fraction(bn, bd), score),)
                built[index] = _node_trace(
                    node,
                    score,
                    "scored",
                    children=tuple([built[c] for c in node.shown]),
                    roundings=roundings,
                    applicable=node.weight if index == 0 else below,
                )
                applicable[index] = below
                full[index] = True
                continue
            trace, weight = self._group(node, tuple([built[c] for c in node.shown]), applicable)
            built[index] = trace
            applicable[index] = weight
            full[index] = trace.score is not None and (weight is below or weight == below)
        root: NodeTrace = built[0]
        return root

    def _counted_fully(self, index: int, counted: tuple[int, ...], full: list[bool]) -> bool:
        """Whether group *index* takes the short cut.

        It does when it adds up *counted* (none when it cannot), each of them scored with
        all of its weight, and no grade override fired (the root would note it).
        """
        return (
            bool(counted)
            and False not in [full[c] for c in counted]
            and (index != 0 or self.out[6] is None)
        )

    def _unrounded(self, index: int, offset: int) -> tuple[int, int]:
        """Group *index*'s sum before its rounding; the root's is the renormalised sum."""
        if index == 0:
            num, den = self.out[4]
            return num, den
        pres = self.out[3]
        return pres[offset], pres[offset + 1]

    def _plain_root(self) -> NodeTrace:
        """The tree when :meth:`_plain`, by the plan's generated builder (:func:`_plain_builder`).

        Each row built by its shape's generated function (nothing remembered between
        units: real input rarely repeats a row), each group a scored node with every row
        counted.
        """
        return _plain_builder(self.plan)(self.out)

    def provenance(self) -> Provenance:
        """What produced the result (the facts' hash is computed when asked for)."""
        facts = self.facts_source()
        shown = _shown(facts)
        scheme = self.plan.scheme.scheme
        return Provenance(
            perfrules=VERSION,
            scheme_id=scheme.id,
            scheme_version=scheme.version,
            scheme_year=scheme.year,
            scheme_sha256=self.plan.sha256,
            files=self.plan.files,
            source=shown,
            unit=facts.unit,
            form=tuple(facts.form.items()),
        )

    def _leaf(self, node: Node, record: Any) -> tuple[NodeTrace, Fraction]:
        if record.__class__ is tuple:  # scored the plain way: its generated explanation
            return _noted(node, self._plain_leaf_trace(node, record)), node.weight
        return self._leaf_built(node, record)

    def _plain_leaf_trace(self, node: Node, record: Any) -> NodeTrace:
        """The node of an indicator scored the plain way, by its shape's generated builder.

        What :meth:`_leaf_built` makes from the formula's traced function, from the
        record's integer pairs (``_explain``).
        """
        explainer, row = explainers(self.plan)[node.index]
        values = self.out[2]
        i = 2 * node.index
        return explainer.tree(record, values[i], values[i + 1], row)

    def _leaf_built(self, node: Node, record: Any) -> tuple[NodeTrace, Fraction]:
        trace, weight = self._leaf_parts(node, record)
        return _noted(node, trace), weight

    def _leaf_parts(self, node: Node, record: Any) -> tuple[NodeTrace, Fraction]:
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        score = self.score(node.index)
        steps: tuple[Any, ...] = ()
        roundings: tuple[RoundingStep, ...] = ()
        if isinstance(record, LeafRecord):
            status, inputs, notes, actual = (
                record.status,
                record.inputs,
                record.notes,
                record.actual,
            )
            applicable = record.applicable
            if record.names is not None:
                _, steps = leaf.expression.explain(record.names)
            if record.score is not None and node.places is not None:
                before = record.before if record.before is not None else record.score
                roundings = (RoundingStep(node.places, self.plan.mode, before, record.score),)
        else:
            own, num, den = record[0], record[1], record[2]  # the kernel's record
            names, inputs, actual = self._fast_inputs(node, own, record[3 : 3 + len(leaf.needs)])
            value, steps = leaf.expression.explain(names)
            if (
                value.__class__ is not Fraction or value.numerator * den != num * value.denominator
            ):  # pragma: no cover - one implementation, one value
                raise AssertionError(f"{node.id}: scored {num}/{den}, explained {value}")
            status, notes, applicable = "scored", (), node.weight
            if node.places is not None and score is not None:
                roundings = (RoundingStep(node.places, self.plan.mode, value, score),)
        target = node.target or next((i.text for i in inputs if i.name == "target"), "")
        trace = _node_trace(
            node,
            score,
            status,
            formula=leaf.expression.text,
            inputs=inputs,
            steps=steps,
            roundings=roundings,
            notes=notes,
            target=target,
            actual=actual,
            applicable=applicable,
        )
        return trace, applicable

    def _fast_inputs(
        self, node: Node, own: Mapping[str, Any], raws: tuple[Any, ...]
    ) -> tuple[dict[str, Value], tuple[InputValue, ...], str]:
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        names: dict[str, Value] = {"weight": node.weight}
        inputs: list[InputValue] = []
        if node.weight_input is not None:
            inputs.append(node.weight_input)
        actual = ""
        for name, raw in zip(leaf.needs, raws, strict=True):
            if raw is MISSING:  # the scorer took the default
                default = leaf.default(name)
                assert default is not None  # noqa: S101 - the scorer found it
                value, origin = default
                text = node.target if origin == "target" else text_of(value)
                inputs.append(InputValue(name, value, text, origin))
                names[name] = value
                continue
            # where find_fact found it (the scorer read own facts first)
            source = "facts" if name in own else self.plan.source_of(name)
            if isinstance(raw, bool):
                value = raw
            else:
                pair = number_pair(raw)
                assert pair is not None  # noqa: S101 - the scorer read it the same way
                value = exact_fraction(*pair)
            text = raw if isinstance(raw, str) else text_of(raw)
            names[name] = value
            inputs.append(InputValue(name, value, text, source))
            if name == leaf.show:
                actual = text
        return names, tuple(inputs), actual

    def _group(
        self, node: Node, children: tuple[NodeTrace, ...], applicable: list[Fraction]
    ) -> tuple[NodeTrace, Fraction]:
        """A group's node (or the root's) on the general path.

        For rows excluded below it, rows shown but not counted, the total's
        renormalisation, its cap and a grade override. *children* are its shown
        children's nodes (empty when only its text is wanted).
        """
        plan = self.plan
        values = self.out[2]
        scored = [c for c in node.children if values[2 * c] is not None]
        if len(scored) == len(node.children) and all(
            applicable[c] is plan.leaf_weights[c] or applicable[c] == plan.leaf_weights[c]
            for c in scored
        ):
            weight = plan.leaf_weights[node.index]  # nothing excluded below: known in advance
        else:
            weight = sum((applicable[c] for c in scored), _ZERO)
        notes: tuple[Note, ...] = ()
        roundings: tuple[RoundingStep, ...] = ()
        if not scored:
            score = None
            status = "excluded"
            weight = _ZERO
        else:
            status = "scored"
            score = self.score(node.index) if node.kind != "scheme" else self.total_exact()
            position = plan.group_positions[node.index]
            pres = self.out[3]
            before = exact_fraction(pres[2 * position], pres[2 * position + 1])
            if node.aggregate == "reweight" and len(scored) < len(node.children):
                flags = [values[2 * c] is not None for c in node.children]
                _, kept, every = totals_of(plan).reweighted(node.index, before, flags)
                notes = (
                    Note(
                        "reweighted",
                        {
                            "sum": format_number(before * kept / every),
                            "applicable": format_number(kept),
                            "weight": format_number(every),
                        },
                    ),
                )
                weight += every - kept  # the rows left out, taken back by the others
            if node.kind == "scheme":
                renormalised = Fraction(*self.out[4])
                totals = totals_of(plan)
                uncapped, scale_to, scaled = totals.explain(before, weight)
                if scaled:
                    notes = (
                        Note(
                            "renormalised",
                            {
                                "sum": format_number(before),
                                "applicable": format_number(weight),
                                "max": format_number(scale_to),
                            },
                        ),
                    )
                if totals.capped and uncapped > node.weight:
                    notes = (
                        *notes,
                        Note(
                            "total_capped",
                            {"sum": format_number(uncapped), "max": format_number(node.weight)},
                        ),
                    )
                weight = node.weight
                before = renormalised
            if node.places is not None and score is not None:
                roundings = (RoundingStep(node.places, plan.mode, before, score),)
        if node.kind == "scheme" and self.out[6] is not None:
            label, _, when = self.out[6]
            notes = (*notes, Note("grade_override", {"label": label, "when": when}))
        trace = _node_trace(
            node,
            score,
            status,
            children=children,
            roundings=roundings,
            notes=notes,
            target=node.target,
            applicable=weight,
        )
        trace = _noted(node, trace)
        return trace, weight
