"""From the raw record of an evaluation to the result's parts and its trace.

The generated scorer returns plain tuples (see ``_kernel``); :class:`Evaluation` turns them
into the total, the grade, the scores and — only when someone reads it — the
:class:`~perfrules.trace.Trace`. Steps are re-derived from the recorded inputs by the
formula's traced function, and must end at the value the scorer recorded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any, Final, cast

from perfrules._numbers import Memo, format_number, fraction, to_decimal
from perfrules._trace_json import (
    document,
    grade_json,
    group_parts,
    input_json,
    leaf_json,
    lost_json,
    node_head,
    node_json,
    notes_json,
    pair_json,
    provenance_json,
    provenance_parts,
    recorded_steps_json,
    rounding_json,
    rounding_pair_json,
    sources_json,
    step_json,
    string,
    value_json,
)
from perfrules._trace_json import exact as exact_json
from perfrules.engine._grading import LossOrder, gap_for, gap_rows, grade_of, loss_order
from perfrules.engine._plan import MISSING, Node, Plan
from perfrules.engine._totals import totals_of
from perfrules.errors import Diagnostic, FactsError
from perfrules.expressions import Value
from perfrules.expressions._limits import MAX_TRACE_CHARS
from perfrules.facts import Facts
from perfrules.facts._values import number_pair, text_of
from perfrules.trace import (
    CohortTrace,
    CohortValue,
    Gap,
    Grade,
    InputValue,
    NodeTrace,
    Note,
    Provenance,
    Rank,
    RoundingStep,
    Trace,
)

__all__ = ["VERSION", "Evaluation", "LeafRecord", "decimal_of"]

_ZERO: Final = Fraction(0)


def _version() -> str:
    try:
        return metadata.version("perfrules")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


VERSION: Final = _version()


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


def decimal_of(value: Fraction, places: int | None) -> Decimal:
    """*value* as a Decimal, with exactly *places* decimals when it has that many or fewer."""
    if places is not None and (value * 10**places).denominator == 1:
        return Decimal(format_number(value, places))
    return to_decimal(value)


class Evaluation:
    """The raw record of one evaluation, and the parts of its result built from it."""

    __slots__ = (
        "_losses",
        "cohort_key",
        "cohort_values",
        "facts",
        "out",
        "plan",
        "rank",
        "want_trace",
    )

    def __init__(
        self,
        plan: Plan,
        facts: Facts | Mapping[str, Any],
        out: tuple[Any, ...],
        want_trace: bool,
        cohort: tuple[str | None, tuple[CohortValue, ...]] | None = None,
    ) -> None:
        """Keep the record: ``out`` is what the generated scorer returned.

        *cohort* is the unit's cohort key and that cohort's values, when it was scored with
        its cohort; ``rank`` is set once every unit of the cohort is scored.
        """
        self.plan = plan
        self.facts = facts
        self.out = out
        self.want_trace = want_trace
        self.cohort_key: str | None = None
        self.cohort_values: tuple[CohortValue, ...] | None = None
        if cohort is not None:
            self.cohort_key, self.cohort_values = cohort
        self.rank: Rank | None = None
        self._losses: LossOrder | None = None

    def cohort(self) -> CohortTrace | None:
        """The unit's cohort, its values and its rank (``None``: scored alone)."""
        if self.cohort_values is None:
            return None
        return CohortTrace(self.cohort_key, self.cohort_values, self.rank)

    # --- the result's parts --------------------------------------------------------------
    def total_exact(self) -> Fraction:
        """The total as an exact fraction."""
        values = self.out[2]
        return fraction(values[0], values[1])

    def total(self) -> Decimal:
        """The total with the scheme's places."""
        values = self.out[2]
        num, den = values[0], values[1]
        places = self.plan.total_places
        if places is not None and den == 10**places:
            return Decimal(num).scaleb(-places)
        return decimal_of(Fraction(num, den), places)

    def grade(self) -> Grade:
        """The band of the total, or the grade override that fired."""
        grade = grade_of(self.plan, self.out[5])
        override = self.out[6]
        if override is not None:
            label, label_en, _ = override
            return Grade(label, grade.min, grade.max, label_en)
        return grade

    def scores(self) -> Mapping[str, Decimal | None]:
        """Scores by id, as Decimals converted on first access."""
        return _Scores(self.plan, self.out[2])

    def score(self, index: int) -> Fraction | None:
        """The exact score of node *index* (``None`` when excluded)."""
        values = self.out[2]
        num = values[2 * index]
        return None if num is None else fraction(num, values[2 * index + 1])

    def applicable(self) -> Fraction:
        """The weight of the indicators not excluded."""
        unit = self.out[0]
        if unit is None or not unit.excluded:
            return self.plan.leaf_weights[0]
        return sum(
            (
                self.plan.nodes[i].weight
                for i in self.plan.counted_leaves
                if self.out[2][2 * i] is not None
            ),
            _ZERO,
        )

    def gap(self) -> Gap | None:
        """The next band up and the fewest indicators to reach it (``None`` if overridden)."""
        if self.out[6] is not None:
            return None
        return gap_for(
            self.plan,
            self.out[5],
            self.total_exact(),
            self._loss_order(),
            self.applicable(),
            (self.out[2], self.out[3]),
        )

    def _loss_order(self) -> LossOrder:
        """Counted rows that lost points, the most first: once per evaluation, in integers.

        Each row is (lost numerator, lost denominator, node index, id, weight numerator,
        weight denominator, score numerator, score denominator); a row not counted or
        excluded loses nothing from the total. The trace's ``losses`` and the gap both read
        this one order.
        """
        order = self._losses
        if order is None:
            order = self._losses = loss_order(self.plan, self.out[2])
        return order

    def facts_source(self) -> Facts:
        """The facts as a :class:`Facts` (for provenance)."""
        if isinstance(self.facts, Facts):
            return self.facts
        return Facts.from_mapping(self.facts)

    # --- the trace -----------------------------------------------------------------------
    def trace(self) -> Trace | None:
        """The explanation; its tree and JSON are built from the record when first read."""
        if not self.want_trace:
            return None
        plan = self.plan
        return Trace.lazy(
            self,
            total=self.total_exact(),
            maximum=plan.max,
            grade=self.grade(),
            bands=plan.grades,
            total_places=plan.total_places,
            rounding_mode=plan.mode,
            levels=tuple(plan.scheme.scheme.levels),
            cohort=self.cohort(),
        )

    def root(self) -> NodeTrace:
        """The tree of nodes, from the record (walked as :meth:`json` walks it)."""
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
                score = fraction(sn, sd)
                roundings: tuple[RoundingStep, ...] = ()
                if rounded is not None:
                    bn, bd = self._unrounded(index, rounded[1])
                    roundings = (RoundingStep(rounded[0], mode, fraction(bn, bd), score),)
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
        """The tree when :meth:`_plain`.

        Each row from the memo (or its steps), each group a scored node with every row
        counted.
        """
        plan = self.plan
        layout = _plain_layout(plan)
        assert layout is not None  # noqa: S101 - see _plain
        leaves, groups = layout
        records, values = self.out[1], self.out[2]
        memo = _memo(plan, "leaf_trace")
        built: list[Any] = [None] * len(plan.nodes)
        for index, position, node, name in leaves:
            record = records[position]
            key = _plain_key(index, node, name, record)
            known = memo.get(key)
            if known is None:
                known = self._leaf_built(node, record)
                memo.remember(key, known)
            built[index] = known[0]
        mode = plan.mode
        nodes = plan.nodes
        for index, _, shown, _, _, places, rounded in groups:
            node = nodes[index]
            score = fraction(values[2 * index], values[2 * index + 1])
            roundings: tuple[RoundingStep, ...] = ()
            if rounded is not None:
                bn, bd = self._unrounded(index, rounded[1])
                roundings = (RoundingStep(rounded[0], mode, fraction(bn, bd), score),)
            built[index] = _NEW(
                NodeTrace,
                (
                    node.id,
                    node.name,
                    node.kind,
                    node.depth,
                    node.weight,
                    score,
                    places,
                    "scored",
                    tuple([built[c] for c in shown]),
                    None,
                    (),
                    (),
                    roundings,
                    (),
                    node.target,
                    "",
                    plan.leaf_weights[index],
                    node.sources,
                ),
            )
        root: NodeTrace = built[0]
        return root

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
            grade_text=_grades_json(plan)[self.out[5]] if self.out[6] is None else None,
            bands_text=_bands_json(plan),
        )

    def _plain(self) -> bool:
        """Every indicator scored the plain way, every node counted, no grade override.

        The generated scorer makes a unit (``out[0]``) as soon as one indicator needs the
        general path; a plan whose rows do not weigh its maximum, or with a row shown but
        not counted, has notes to explain (:func:`_plain_layout` is ``None``).
        """
        return self.out[0] is None and self.out[6] is None and _plain_layout(self.plan) is not None

    def _plain_root_json(self) -> str:
        """The tree's text when :meth:`_plain`, no node object made.

        Each row from the memo (or its steps), each group from its fixed text and the
        record's integers.
        """
        plan = self.plan
        layout = _plain_layout(plan)
        assert layout is not None  # noqa: S101 - see _plain
        leaves, groups = layout
        records, values = self.out[1], self.out[2]
        memo = _memo(plan, "leaf_json")
        template, slots = _plain_template(plan)
        out = template[:]  # the document's fixed pieces, each node's slot to fill
        size = 0
        for index, position, node, name in leaves:
            record = records[position]
            key = _plain_key(index, node, name, record)
            known = memo.get(key)
            if known is None:
                known = self._leaf_json(node, record)
                memo.remember(key, known)
            text = out[slots[index]] = known[0]
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
        memo = _memo(plan, "leaf_json")
        count = len(plan.nodes)
        texts = [""] * count
        applicable: list[Fraction] = [_ZERO] * count
        full = [False] * count  # scored, with all of its weight applicable
        mode = plan.mode
        size = 0  # characters written for the indicators so far (the document is ~that)
        for index, node, position, group in _json_layout(plan):
            if group is None:  # an indicator
                record = records[position]
                key = _fast_key(node, record)
                known = None if key is None else memo.get(key)
                if known is None:
                    known = self._leaf_json(node, record)
                    if key is not None:
                        memo.remember(key, known)
                text, applicable[index], full[index] = known
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
                    s.expr, s.with_values(), value_json(s.value), exact_json(s.value), s.formula
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
        """The text of an indicator scored the plain way, from the record's integer pairs.

        What :meth:`_leaf_json` writes from the node :meth:`_leaf` builds, without building
        it: the steps come from the traced function's records (``Expression.recorded``),
        each value written from its pair (no ``Fraction`` or ``Step`` per value).
        """
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        own, raws, num, den = record
        names, inputs, actual = self._fast_inputs(node, own, raws)
        expression = leaf.expression
        value, records = expression.recorded(names)
        if (
            value.__class__ is not tuple or value[0] * den != num * value[1]
        ):  # pragma: no cover - one implementation, one value
            raise AssertionError(f"{node.id}: scored {num}/{den}, explained {value}")
        values = self.out[2]
        sn, sd = values[2 * node.index], values[2 * node.index + 1]
        places = node.shown_places
        target = node.target or next((i.text for i in inputs if i.name == "target"), "")
        head, sources = _heads(self.plan)[node.index]
        leaf_text = leaf_json(
            target,
            actual,
            expression.text,
            ",".join(
                [
                    input_json(i.name, value_json(i.value), i.text, i.source, i.level)
                    for i in inputs
                ]
            ),
            recorded_steps_json(expression.program.infos, records, names),
        )
        rounding = (
            ""
            if node.places is None
            else rounding_pair_json(node.places, self.plan.mode, value[0], value[1], sn, sd)
        )
        weight = node.weight
        return (
            f'{head},"score":{pair_json(sn, sd, places)},'
            f'"lost":{lost_json(weight.numerator, weight.denominator, sn, sd, places)},'
            f'"status":"scored"{sources}{leaf_text},"roundings":[{rounding}],'
            '"notes":[],"children":[]}'
        )

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
            self._loss_order(),
            self.applicable(),
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
        nodes = self.plan.nodes
        return ",".join(
            f"{heads[i]}{lost_json(wn, wd, sn, sd, nodes[i].shown_places)}}}"
            for _, _, i, _, wn, wd, sn, sd in rows
        )

    def _leaf(self, node: Node, record: Any) -> tuple[NodeTrace, Fraction]:
        key = _fast_key(node, record)
        if key is None:
            return self._leaf_built(node, record)
        memo = _memo(self.plan, "leaf_trace")
        known: tuple[NodeTrace, Fraction] | None = memo.get(key)
        if known is None:
            known = self._leaf_built(node, record)
            memo.remember(key, known)
        return known

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
            own, raws, num, den = record
            names, inputs, actual = self._fast_inputs(node, own, raws)
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
        if "weight" in leaf.expression.names:
            inputs.append(InputValue("weight", node.weight, format_number(node.weight), "weight"))
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
            source = (
                "facts"
                if name in own
                else "cohort"
                if name in self.plan.cohort_names
                else "shared"
            )
            if isinstance(raw, bool):
                value = raw
            else:
                pair = number_pair(raw)
                assert pair is not None  # noqa: S101 - the scorer read it the same way
                value = fraction(*pair)
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
            before = fraction(pres[2 * position], pres[2 * position + 1])
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
    """The plan's memo *name* of explained indicators (made once, not once per call)."""
    memo = cast("Memo | None", plan.cache.get(name))
    if memo is None:
        memo = cast("Memo", plan.cache.setdefault(name, Memo(_uncomputed, 4096)))
    return memo


def _uncomputed(key: object) -> object:
    """The memos of explained indicators are filled by hand (``remember``), never computed."""
    raise KeyError(key)


_NOT_COUNTED: Final = Note("not_counted")
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
    """A row shown but not counted says so in its notes."""
    if not node.uncounted_here:
        return trace
    return trace._replace(notes=(*trace.notes, _NOT_COUNTED))


def _plain_key(index: int, node: Node, name: str | None, record: Any) -> tuple[object, ...]:
    """:func:`_fast_key` of a row scored the plain way; *name*: the one fact it reads."""
    if name is None:
        key = _fast_key(node, record)
        assert key is not None  # noqa: S101 - a plain row's record is a tuple
        return key
    raw = record[1][0]  # one fact read: the same key, made without _fast_key's checks
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
    own, raws, _, _ = record
    leaf = node.leaf
    assert leaf is not None  # noqa: S101
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


def _loss_heads(plan: Plan) -> dict[int, str]:
    """``{"id":…,"name":…,"lost":`` of each indicator, written once per plan."""
    heads = cast("dict[int, str] | None", plan.cache.get("loss_heads"))
    if heads is None:
        heads = {
            i: f'{{"id":{string(plan.nodes[i].id)},"name":{string(plan.nodes[i].name)},"lost":'
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
            simple = not node.uncounted_here if node.kind == "group" else below == node.weight
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
            if not counted or node.shown != node.children:
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


class _Scores(Mapping[str, Decimal | None]):
    """Scores by id as Decimals, converted on first access (batch jobs rarely read them all)."""

    __slots__ = ("_cache", "_plan", "_values")

    def __init__(self, plan: Plan, values: tuple[Any, ...]) -> None:
        self._plan = plan
        self._values = values
        self._cache: dict[str, Decimal | None] = {}

    def __getitem__(self, key: str) -> Decimal | None:
        if key in self._cache:
            return self._cache[key]
        index = self._plan.by_id[key]
        num = self._values[2 * index]
        node = self._plan.nodes[index]
        value = (
            None
            if num is None
            else decimal_of(Fraction(num, self._values[2 * index + 1]), node.shown_places)
        )
        self._cache[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return (node.id for node in self._plan.nodes[1:])

    def __len__(self) -> int:
        return len(self._plan.nodes) - 1

    def __repr__(self) -> str:
        return repr(dict(self))
