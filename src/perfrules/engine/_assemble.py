"""From the raw record of an evaluation to the result's parts and its trace.

The generated scorer returns plain tuples (see ``_kernel``); :class:`Evaluation` turns them
into the total, the grade, the scores and — only when someone reads it — the
:class:`~perfrules.trace.Trace`. Steps are re-derived from the recorded inputs by the
formula's traced function, and must end at the value the scorer recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from importlib import metadata
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

from perfrules._numbers import Memo, format_number, fraction, to_decimal
from perfrules._trace_json import (
    document,
    grade_json,
    input_json,
    leaf_json,
    lost_json,
    node_head,
    node_json,
    notes_json,
    rounding_json,
    sources_json,
    step_json,
    string,
    value_json,
)
from perfrules._trace_json import exact as exact_json
from perfrules.engine._grading import gap_for, grade_of
from perfrules.engine._kernel import MISSING
from perfrules.engine._plan import Node, Plan
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
        self._losses: list[tuple[int, int, int, str, int, int, int, int]] | None = None

    def cohort(self) -> CohortTrace | None:
        """The unit's cohort, its values and its rank (``None``: scored alone)."""
        if self.cohort_values is None:
            return None
        return CohortTrace(self.cohort_key, self.cohort_values, self.rank)

    # --- the result's parts --------------------------------------------------------------
    def total_exact(self) -> Fraction:
        """The total as an exact fraction."""
        values = self.out[2]
        return Fraction(values[0], values[1])

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
            [(row[3], row[0], row[1]) for row in self._loss_rows()],
            self.applicable(),
        )

    def _loss_rows(self) -> list[tuple[int, int, int, str, int, int, int, int]]:
        """Counted rows that lost points, once per evaluation, on the record's integers.

        Each is (lost numerator, lost denominator, node index, id, weight numerator, weight
        denominator, score numerator, score denominator); a row not counted or excluded
        loses nothing from the total.
        """
        rows = self._losses
        if rows is None:
            values = self.out[2]
            rows = []
            for i, ident, wn, wd in _gap_rows(self.plan):
                sn = values[2 * i]
                if sn is not None:
                    sd = values[2 * i + 1]
                    num = wn * sd - sn * wd
                    if num:
                        rows.append((num, wd * sd, i, ident, wn, wd, sn, sd))
            self._losses = rows
        return rows

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
        """The tree of nodes, from the record."""
        plan = self.plan
        records = self.out[1]
        built: dict[int, NodeTrace] = {}
        scores: dict[int, Fraction | None] = {}
        applicable: dict[int, Fraction] = {}
        for index in plan.post_order:
            node = plan.nodes[index]
            if node.kind == "indicator":
                record = records[plan.leaf_positions[index]]
                trace, applicable[index] = self._leaf(node, record)
            else:
                fast = self._group_fast(node, scores, applicable)
                if fast is None:
                    trace, applicable[index] = self._group(node, built, applicable)
                else:  # a group whose rows all counted
                    score, applicable[index], before = fast
                    trace = _node_trace(
                        node,
                        score,
                        "scored",
                        children=tuple([built[c] for c in node.shown]),
                        roundings=()
                        if before is None or score is None or node.places is None
                        else (RoundingStep(node.places, plan.mode, before, score),),
                        applicable=applicable[index],
                    )
            built[index] = trace
            scores[index] = trace.score
        return built[0]

    def provenance(self) -> Provenance:
        """What produced the result (the facts' hash is computed when asked for)."""
        facts = self.facts_source()
        shown: Facts | _Shown = facts
        if facts.file is not None and Path(facts.file).is_absolute():
            shown = _Shown(Path(facts.file).name, facts)  # no server path in a trace
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

        No tree is built: each node's parts come from the record (an indicator scored on
        the general path from its :class:`LeafRecord`), the parts that are the same for
        every unit (ids, names, weights, sources) are written once per scheme.
        """
        plan = self.plan
        records = self.out[1]
        heads = _heads(plan)
        memo = _memo(plan, "leaf_json")
        texts: dict[int, str] = {}
        scores: dict[int, Fraction | None] = {}
        applicable: dict[int, Fraction] = {}
        size = 0  # characters written for the indicators so far (the document is ~that)
        for index in plan.post_order:
            node = plan.nodes[index]
            head, sources = heads[index]
            if node.kind == "indicator":
                record = records[plan.leaf_positions[index]]
                key = _fast_key(node, record)
                if key is not None:
                    known = memo.get(key)
                    if known is not None:
                        texts[index], scores[index], applicable[index] = known
                        size = _within_budget(size, texts[index], node)
                        continue
                trace, weight = self._leaf(node, record)
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
                        )
                        for s in trace.steps
                    ),
                )
                children = ""
            else:
                children = ",".join(texts[c] for c in node.shown)
                fast = self._group_fast(node, scores, applicable)
                if fast is not None:  # a group whose rows all counted: no NodeTrace needed
                    score, weight, before = fast
                    roundings = (
                        ""
                        if before is None or node.places is None or score is None
                        else rounding_json(node.places, plan.mode, before, score)
                    )
                    scores[index] = score
                    applicable[index] = weight
                    texts[index] = node_json(
                        head=head,
                        weight=node.weight,
                        score=score,
                        places=node.shown_places,
                        status="scored",
                        applicable=weight,
                        sources=sources,
                        leaf="",
                        roundings=roundings,
                        notes="",
                        children=children,
                    )
                    continue
                trace, weight = self._group(node, _Scored(scores), applicable)
                leaf = ""
            scores[index] = trace.score
            applicable[index] = weight
            texts[index] = node_json(
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
                children=children,
            )
            if node.kind == "indicator":
                size = _within_budget(size, texts[index], node)
                if key is not None:
                    memo.remember(key, (texts[index], trace.score, weight))
        grade = self.grade()
        return document(
            total=self.total_exact(),
            total_places=plan.total_places,
            maximum=plan.max,
            grade=grade,
            bands=plan.grades,
            gap=self.gap(),
            losses=self._losses_json(),
            provenance=self.provenance(),
            root=texts[0],
            cohort=self.cohort(),
            grade_text=_grades_json(plan)[self.out[5]] if self.out[6] is None else None,
            bands_text=_bands_json(plan),
        )

    def _losses_json(self) -> str:
        """The entries of ``"losses"``: counted rows that lost points, the most first.

        On the record's integer pairs, over one common denominator; a row not counted loses
        nothing from the total.
        """
        rows = self._loss_rows()
        if not rows:
            return ""
        common = math.lcm(*set(map(_LOST_DENOMINATOR, rows)))
        rows = sorted(rows, key=lambda row: (-row[0] * (common // row[1]), row[3]))
        heads = _loss_heads(self.plan)
        nodes = self.plan.nodes
        return ",".join(
            f"{heads[i]}{lost_json(wn, wd, sn, sd, nodes[i].shown_places)}}}"
            for _, _, i, _, wn, wd, sn, sd in rows
        )

    def _group_fast(
        self, node: Node, scores: dict[int, Fraction | None], applicable: dict[int, Fraction]
    ) -> tuple[Fraction | None, Fraction, Fraction | None] | None:
        """Score, weight and unrounded sum of a group whose counted rows all counted fully.

        The sum is ``None`` when the group is not rounded. The answer is ``None`` for any
        other node (the scheme, a group with an excluded row below, a group shown but not
        counted): :meth:`_group` explains those.
        """
        if node.kind != "group" or node.uncounted_here or not node.children:
            return None
        plan = self.plan
        below = plan.leaf_weights
        for c in node.children:
            if scores[c] is None or (applicable[c] is not below[c] and applicable[c] != below[c]):
                return None
        score = self.score(node.index)
        before = None
        if node.places is not None and score is not None:
            position = plan.group_positions[node.index]
            pres = self.out[3]
            before = fraction(pres[2 * position], pres[2 * position + 1])
        return score, below[node.index], before

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
            if raw is MISSING:
                if name in leaf.params:
                    value = leaf.params[name]
                    inputs.append(InputValue(name, value, text_of(value), "params"))
                else:
                    value = leaf.target_value  # type: ignore[assignment]
                    inputs.append(InputValue(name, value, node.target, "target"))
                names[name] = value
                continue
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
        self, node: Node, built: Mapping[int, Any], applicable: dict[int, Fraction]
    ) -> tuple[NodeTrace, Fraction]:
        plan = self.plan
        scored = [c for c in node.children if built[c].score is not None]
        if len(scored) == len(node.children) and all(
            applicable[c] is plan.leaf_weights[c] or applicable[c] == plan.leaf_weights[c]
            for c in scored
        ):
            weight = plan.leaf_weights[node.index]  # nothing excluded below: known in advance
        else:
            weight = sum((applicable[c] for c in scored), _ZERO)
        children = tuple(built[c] for c in node.shown) if isinstance(built, dict) else ()
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
                capped = plan.scheme.scheme.fit == "cap"
                # rows renormalise against their own maximum when the total is capped
                scale_to = plan.leaf_weights[0] if capped else node.weight
                uncapped = before
                if weight != scale_to and weight:
                    uncapped = before * scale_to / weight
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
                if capped and uncapped > node.weight:
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


class _Scored(Mapping[int, Any]):
    """Scores by node index seen as nodes with a ``score`` (for :meth:`Evaluation._group`)."""

    __slots__ = ("_scores",)

    def __init__(self, scores: dict[int, Fraction | None]) -> None:
        self._scores = scores

    def __getitem__(self, index: int) -> Any:
        return _ScoreOnly(self._scores[index])

    def __iter__(self) -> Iterator[int]:
        return iter(self._scores)

    def __len__(self) -> int:
        return len(self._scores)


class _ScoreOnly(NamedTuple):
    score: Fraction | None


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
_LOST_DENOMINATOR: Final = itemgetter(1)


def _within_budget(size: int, text: str, node: Node) -> int:
    """*size* plus *text*; a trace that would outgrow the budget is refused (PR504)."""
    size += len(text)
    if size > MAX_TRACE_CHARS:
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
    return size


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
            raw if raw.__class__ is str else str(raw),
            leaf.needs[0] in own,
        )
    return (
        node.index,
        tuple([(raw.__class__, raw if raw.__class__ is str else str(raw)) for raw in raws]),
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


def _gap_rows(plan: Plan) -> tuple[tuple[int, str, int, int], ...]:
    """(index, id, weight numerator, weight denominator) of each counted indicator."""
    rows = cast("tuple[tuple[int, str, int, int], ...] | None", plan.cache.get("gap_rows"))
    if rows is None:
        rows = tuple(
            (i, plan.nodes[i].id, plan.nodes[i].weight.numerator, plan.nodes[i].weight.denominator)
            for i in plan.counted_leaves
        )
        plan.cache["gap_rows"] = rows
    return rows


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
