"""The ``perfrules.trace/1`` text of an evaluation, written node by node from its record.

Fixed text is written once per plan, numbers from the record's integer pairs; no tree is
built for the rows scored the plain way.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Final, cast

from perfrules._numbers import decimal_text
from perfrules._trace_json import (
    document,
    input_json,
    leaf_json,
    lost_json,
    node_json,
    notes_json,
    pair_json,
    provenance_json,
    provenance_parts,
    rounding_json,
    rounding_pair_json,
    step_json,
    string,
    value_json,
)
from perfrules._trace_json import exact as exact_json
from perfrules.engine._explain import explainers
from perfrules.engine._grading import gap_rows
from perfrules.engine._layout import (
    _bands_json,
    _gap_heads,
    _grades_json,
    _heads,
    _json_layout,
    _loss_heads,
    _memo,
    _plain_key,
    _plain_layout,
    _plain_template,
    _shown,
    _too_big,
)
from perfrules.engine._plan import Node
from perfrules.engine._record import VERSION
from perfrules.engine._tree import TreeParts
from perfrules.expressions import MAX_TRACE_CHARS

__all__ = ["JsonParts"]

_ZERO: Final = Fraction(0)


class JsonParts(TreeParts):
    """The trace JSON of an evaluation, written from its record without building the tree."""

    __slots__ = ()

    def json(self) -> str:
        """The compact ``perfrules.trace/1`` text, written node by node from the record.

        No tree is built: each node's text comes from the record's integer pairs and the
        fixed text of its kind written once per scheme (:func:`_json_layout`); an indicator
        scored the plain way is written once per distinct set of inputs (memo), one scored
        on the general path from its :class:`LeafRecord`.
        """
        plan = self.plan
        root = self._plain_root_json() if self._plain() else self._root_json()
        grade = self.grade()
        return document(
            total=self.total_exact(),
            total_places=plan.total_places,
            maximum=plan.max,
            grade=grade,
            bands=plan.grades,
            gap=self._gap_json(),
            losses=self._losses_json(),
            provenance=self._provenance_json(),
            root=root,
            cohort=self.cohort(),
            grade_text=(_grades_json(plan)[self.out[5]] if plan.grades else "null")
            if self.out[6] is None
            else None,
            bands_text=_bands_json(plan),
        )

    def _plain_root_json(self) -> str:
        """The tree's text when :meth:`_plain`, no node object made.

        Each row by its shape's generated writer (or from the memo of rows met before), each
        group from its fixed text and the record's integers.
        """
        plan = self.plan
        layout = _plain_layout(plan)
        assert layout is not None  # noqa: S101 - see _plain
        leaves, groups = layout
        records, values = self.out[1], self.out[2]
        template, slots = _plain_template(plan)
        out = template[:]  # the document's fixed pieces, each node's slot to fill
        size = 0
        rows = explainers(plan)
        memo = _memo(plan, "leaf_json")
        for index, position, node, name in leaves:
            record = records[position]
            key = _plain_key(index, node, name, record)
            text = memo.get(key)
            if text is None:
                explainer, row = rows[index]
                i = 2 * index
                text = explainer.json(record, values[i], values[i + 1], row)
                memo.remember(key, text)
            out[slots[index]] = text
            size += len(text)
            if size > MAX_TRACE_CHARS:
                _too_big(node, text)
        mode = plan.mode
        for index, parts, _, wn, wd, places, rounded in groups:
            sn, sd = values[2 * index], values[2 * index + 1]
            if rounded is None:
                rounding = ""
            else:
                bn, bd = self._unrounded(index, rounded[1])
                rounding = rounding_pair_json(rounded[0], mode, bn, bd, sn, sd)
            out[slots[index]] = (
                f'{parts[0]}{pair_json(sn, sd, places)},"lost":'
                f"{lost_json(wn, wd, sn, sd, places)}{parts[1]}{rounding}{parts[2]}"
            )
        return "".join(out)  # each node's text copied once, not once per level above it

    def _root_json(self) -> str:
        """The tree's text, node by node (any unit)."""
        plan = self.plan
        records, values = self.out[1], self.out[2]
        count = len(plan.nodes)
        texts = [""] * count
        applicable: list[Fraction] = [_ZERO] * count
        full = [False] * count  # scored, with all of its weight applicable
        mode = plan.mode
        size = 0  # characters written for the indicators so far (the document is ~that)
        for index, node, position, group in _json_layout(plan):
            if group is None:  # an indicator
                text, applicable[index], full[index] = self._leaf_json(node, records[position])
                texts[index] = text
                size += len(text)
                if size > MAX_TRACE_CHARS:
                    _too_big(node, text)
                continue
            parts, counted, wn, wd, below, rounded = group
            if self._counted_fully(index, counted, full):
                sn, sd = values[2 * index], values[2 * index + 1]
                places = node.shown_places
                if rounded is None:
                    rounding = ""
                else:
                    bn, bd = self._unrounded(index, rounded[1])
                    rounding = rounding_pair_json(rounded[0], mode, bn, bd, sn, sd)
                texts[index] = "".join(
                    (
                        parts[0],
                        pair_json(sn, sd, places),
                        ',"lost":',
                        lost_json(wn, wd, sn, sd, places),
                        parts[1],
                        rounding,
                        parts[2],
                        ",".join([texts[c] for c in node.shown]),
                        "]}",
                    )
                )
                applicable[index] = below
                full[index] = True
                continue
            trace, weight = self._group(node, (), applicable)
            applicable[index] = weight
            full[index] = trace.score is not None and (weight is below or weight == below)
            texts[index] = node_json(
                head=_heads(plan)[index][0],
                weight=node.weight,
                score=trace.score,
                places=node.shown_places,
                status=trace.status,
                applicable=trace.applicable,
                sources=_heads(plan)[index][1],
                leaf="",
                roundings=",".join(
                    rounding_json(r.places, r.mode, r.before, r.after) for r in trace.roundings
                ),
                notes=notes_json(trace.notes),
                children=",".join([texts[c] for c in node.shown]),
            )
        return texts[0]

    def _provenance_json(self) -> str:
        """``"provenance"``, as :meth:`provenance` gives it, without building it."""
        plan = self.plan
        parts = cast("tuple[str, str] | None", plan.cache.get("provenance_parts"))
        if parts is None:
            scheme = plan.scheme.scheme
            parts = plan.cache["provenance_parts"] = provenance_parts(
                VERSION, scheme.id, scheme.version, scheme.year, plan.sha256, plan.files
            )
        facts = self.facts_source()
        shown = _shown(facts)
        return provenance_json(parts[0], parts[1], facts.unit, shown.file, shown.digest)

    def _leaf_json(self, node: Node, record: Any) -> tuple[str, Fraction, bool]:
        """An indicator's text, the weight it counts with, and whether that is all of it."""
        if record.__class__ is tuple and not node.uncounted_here:
            return self._plain_leaf_json(node, record), node.weight, True
        return self._traced_leaf_json(node, record)

    def _traced_leaf_json(self, node: Node, record: Any) -> tuple[str, Fraction, bool]:
        """:meth:`_leaf_json` written from the indicator's node (any indicator)."""
        trace, weight = self._leaf(node, record)
        head, sources = _heads(self.plan)[node.index]
        leaf = leaf_json(
            trace.target,
            trace.actual,
            trace.formula,
            ",".join(
                input_json(i.name, value_json(i.value), i.text, i.source, i.level)
                for i in trace.inputs
            ),
            ",".join(
                step_json(
                    s.expr,
                    s.with_values(),
                    value_json(s.value),
                    exact_json(s.value),
                    s.formula,
                    s.approximate,
                )
                for s in trace.steps
            ),
        )
        text = node_json(
            head=head,
            weight=node.weight,
            score=trace.score,
            places=node.shown_places,
            status=trace.status,
            applicable=trace.applicable,
            sources=sources,
            leaf=leaf,
            roundings=",".join(
                rounding_json(r.places, r.mode, r.before, r.after) for r in trace.roundings
            ),
            notes=notes_json(trace.notes),
            children="",
        )
        below = self.plan.leaf_weights[node.index]
        return text, weight, trace.score is not None and (weight is below or weight == below)

    def _plain_leaf_json(self, node: Node, record: Any) -> str:
        """The text of an indicator scored the plain way, by its shape's generated writer.

        What :meth:`_traced_leaf_json` writes from the node :meth:`_leaf` builds, without
        building it: fixed text with slots, every number written from the record's integer
        pairs, each input from the raw fact as read (``_explain``).
        """
        explainer, row = explainers(self.plan)[node.index]
        values = self.out[2]
        i = 2 * node.index
        return explainer.json(record, values[i], values[i + 1], row)

    def _gap_json(self) -> str:
        """``"gap"``, as :meth:`gap` gives it, from the record's integers."""
        if self.out[6] is not None:
            return "null"
        values = self.out[2]
        found = gap_rows(
            self.plan,
            self.out[5],
            values[0],
            values[1],
            self._loss_order(),  # its losses are written too: keyed once
            self.left_out(),
            (values, self.out[3]),
        )
        if found is None:
            return "null"
        band, sn, sd, rows, fn, fd = found
        improve = ",".join(
            [
                f'{{"id":{string(row[3])},"lost":{pair_json(row[0] * fn, row[1] * fd, None)}}}'
                for row in rows
            ]
        )
        return f'{_gap_heads(self.plan)[band]}{pair_json(sn, sd, None)},"improve":[{improve}]}}'

    def _losses_json(self) -> str:
        """The entries of ``"losses"``: counted rows that lost points, the most first.

        On the record's integer pairs, over one common denominator; a row not counted loses
        nothing from the total.
        """
        rows = self._loss_order().rows
        if not rows:
            return ""
        heads = _loss_heads(self.plan)
        entries = []
        for row in rows:  # (lost numerator, lost denominator, node index, ...)
            head, places = heads[row[2]]
            entries.append(f'{head}"{decimal_text(row[0], row[1], places)}"}}')
        return ",".join(entries)
