"""Results and traces: what a score is, and why.

A :class:`Result` carries the total, the grade and a :class:`Trace`. The trace is a tree of
:class:`NodeTrace`, one per group and indicator, each with the formula as written, the
inputs bound, every intermediate step, every rounding (before → after) and notes (missing
facts, not applicable, manual overrides, clamping). The parts are named tuples (immutable,
cheap to build when a trace is read); nothing here computes a score.

``Trace.to_json()`` writes the documented ``perfrules.trace/1`` format
(``docs/reference/trace-json.md``): stable key order, numbers as decimal strings, identical
bytes for identical inputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final, NamedTuple, Protocol

from perfrules._messages import ui
from perfrules._numbers import format_number
from perfrules._trace_json import FORMAT, losses_of, trace_json
from perfrules.expressions import Step, Value

__all__ = [
    "FORMAT",
    "CohortTrace",
    "CohortValue",
    "Gap",
    "Grade",
    "InputValue",
    "NodeTrace",
    "Note",
    "Provenance",
    "Rank",
    "RankKeyValue",
    "Result",
    "RoundingStep",
    "Step",
    "Trace",
    "TraceSource",
    "Unranked",
]


class InputValue(NamedTuple):
    """One input bound for an indicator.

    Attributes:
        name: the name the formula reads.
        value: the exact value bound (``None`` when missing or not applicable).
        text: the value as given (``"80%"``, ``"部分达成"``).
        source: where it came from: ``facts``, ``shared``, ``params`` or ``target``.
        level: for a qualitative input, the level label.
    """

    name: str
    value: Value | None
    text: str
    source: str
    level: str | None = None


class RoundingStep(NamedTuple):
    """A declared rounding: ``before`` → ``after`` at ``places`` in ``mode``."""

    places: int
    mode: str
    before: Fraction
    after: Fraction


class Note(NamedTuple):
    """Something worth knowing about a node: ``kind`` plus message parameters.

    Kinds: ``missing_zero``, ``missing_full``, ``missing_exclude``, ``na_exclude``,
    ``na_full``, ``na_zero``, ``override``, ``clamped``, ``level``, ``renormalised``.
    """

    kind: str
    params: Mapping[str, str] = MappingProxyType({})

    def text(self, lang: str = "en") -> str:
        """The note as a sentence in *lang*."""
        return ui(f"note.{self.kind}", "zh" if lang == "zh" else "en", **self.params)


class NodeTrace(NamedTuple):
    """One group or indicator in the trace.

    Attributes:
        id: the id in the rule file.
        name: the display name.
        kind: ``scheme`` (the root), ``group`` or ``indicator``.
        depth: 0 for the root, 1 for top-level nodes, ...
        weight: full marks.
        score: the score after rounding, ``None`` when excluded as not applicable.
        places: decimal places the score is shown with (its rounding, else its children's);
            ``None`` when it is not rounded.
        status: ``scored``, ``override``, ``full``, ``zero`` or ``excluded``.
        children: the child nodes, in rule-file order.
        formula: the formula as written (indicators).
        inputs: the inputs bound (indicators).
        steps: every intermediate value, in evaluation order (indicators).
        roundings: every rounding applied to this node's score.
        notes: notes.
        target: the target as printed (目标值).
        actual: the actual value as given (业绩值).
        applicable: weight of the parts not excluded (equals ``weight`` when none is).
        sources: where the weight and formula were written: ``(("weight", "file:line"), ...)``.
    """

    id: str
    name: str
    kind: str
    depth: int
    weight: Fraction
    score: Fraction | None
    places: int | None
    status: str
    children: tuple[NodeTrace, ...] = ()
    formula: str | None = None
    inputs: tuple[InputValue, ...] = ()
    steps: tuple[Step, ...] = ()
    roundings: tuple[RoundingStep, ...] = ()
    notes: tuple[Note, ...] = ()
    target: str = ""
    actual: str = ""
    applicable: Fraction | None = None
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def lost(self) -> Fraction | None:
        """Points lost: weight minus score (``None`` when excluded)."""
        return None if self.score is None else self.weight - self.score

    def walk(self) -> Iterator[NodeTrace]:
        """This node and all below it, in pre-order."""
        nodes = [self]
        _below(self, nodes.append, 0)
        return iter(nodes)

    def leaves(self) -> Iterator[NodeTrace]:
        """The indicators below (or at) this node, in order."""
        return (node for node in self.walk() if node.kind == "indicator")

    def find(self, node_id: str) -> NodeTrace | None:
        """The node with *node_id*, or ``None``."""
        return next((node for node in self.walk() if node.id == node_id), None)


#: How deep :func:`_below` recurses before walking the rest with a stack of its own.
_DEEPEST: Final = 64


def _below(node: NodeTrace, append: Any, depth: int) -> None:
    """Append the nodes below *node* in pre-order (a group of rows: one loop, no stack)."""
    for child in node[8]:  # node.children, without the attribute lookup
        append(child)
        if child[8]:
            if depth < _DEEPEST:
                _below(child, append, depth + 1)
                continue
            stack = list(child[8][::-1])  # a tree deeper than any scheme: no recursion
            while stack:
                below = stack.pop()
                append(below)
                if below[8]:
                    stack.extend(below[8][::-1])


class Grade(NamedTuple):
    """A grade band: ``label`` for totals in [min, max) (max included for the top band)."""

    label: str
    min: Fraction
    max: Fraction
    label_en: str = ""


class Gap(NamedTuple):
    """How far the total is from the next band up, and the fewest rows that would close it.

    Attributes:
        label: the next band's label.
        min: its lower bound.
        shortfall: points missing.
        improve: the smallest set of indicators whose lost points cover the shortfall (the
            biggest losses first), as ``(id, points lost)``; empty when none suffices.
    """

    label: str
    min: Fraction
    shortfall: Fraction
    improve: tuple[tuple[str, Fraction], ...] = ()


class CohortValue(NamedTuple):
    """A value taken over the units of a cohort (``[cohort.values.NAME]``).

    Attributes:
        name: the name formulas read it by.
        label: what it is (评标基准价).
        stat: min, max, mean, median, sum, count or percentile.
        of: the input it was taken over (``None`` for count).
        value: the exact value (``None`` when no unit qualified).
        units: how many units it was taken over.
        unit: the unit that gave it (min, max, a median or percentile that falls on one
            unit); ``None`` when it combines several.
        where: the condition that picked the units, as written (``None``: all of them).
        percentile: for stat = percentile, which one.
    """

    name: str
    label: str
    stat: str
    of: str | None
    value: Fraction | None
    units: int
    unit: str | None = None
    where: str | None = None
    percentile: Fraction | None = None


class RankKeyValue(NamedTuple):
    """One ranking key of a unit: what it orders by, which way, and the unit's value."""

    by: str
    order: str
    value: Fraction | None


class Rank(NamedTuple):
    """A unit's place in its cohort's ranking.

    Attributes:
        position: 1 for the first.
        of: how many units were ranked in the cohort.
        ties: the tie rule: competition, dense or ordinal.
        keys: the unit's value of each key, in order.
        tied_with: the units equal to it on every key (at most the first 100 of them).
        decided_by: the key that set it apart from the unit ranked just above (or just
            below when it is first); ``None`` when it ties with them on every key.
        tied_count: how many units are equal to it on every key (more than ``tied_with``
            lists when over 100 tie).
        shared_mark: ``[ranking] shared_mark``, written before a shared rank (:attr:`shown`).
    """

    position: int
    of: int
    ties: str
    keys: tuple[RankKeyValue, ...]
    tied_with: tuple[str, ...] = ()
    decided_by: str | None = None
    tied_count: int = 0
    shared_mark: str = ""

    @property
    def shared(self) -> bool:
        """Other units hold the same rank (a tie under competition or dense ranking)."""
        return self.tied_count > 0 and self.ties != "ordinal"

    @property
    def shown(self) -> str:
        """The rank as the table prints it: ``=5`` for a shared rank with the mark ``=``."""
        mark = self.shared_mark if self.shared else ""
        return f"{mark}{self.position}"


class Unranked(NamedTuple):
    """Why a scored unit is not ranked: too little of its data given (``min_available``).

    Attributes:
        given: its indicators whose every fact was given (not missing, not imputed).
        of: its indicators that read facts (those marked not applicable left out).
        min_available: the share ``[ranking] min_available`` requires.
    """

    given: int
    of: int
    min_available: Fraction

    def text(self, lang: str = "en") -> str:
        """The reason as a sentence in *lang*."""
        share = format_number(self.min_available * 100) + "%"
        return ui(
            "unranked", "zh" if lang == "zh" else "en", given=self.given, of=self.of, share=share
        )


class CohortTrace(NamedTuple):
    """The cohort a unit was scored in: its values, and the unit's rank.

    Attributes:
        cohort: the cohort's key (the ``group_by`` fact's value), ``None`` for one cohort.
        values: the cohort values the unit's formulas could read (and the values its
            missing facts were imputed with, named ``impute.NAME``).
        rank: the unit's rank, ``None`` when the scheme ranks nothing or not this unit.
        unranked: why the ranking left it out for want of data, if it did.
        imputed: the inputs it did not give that were imputed (when the scheme imputes).
    """

    cohort: str | None
    values: tuple[CohortValue, ...]
    rank: Rank | None = None
    unranked: Unranked | None = None
    imputed: tuple[str, ...] = ()


class FactsSource(Protocol):
    """Where a unit's facts came from: a file path (or None) and a sha256, computed lazily."""

    @property
    def file(self) -> str | None:
        """The facts file, or None for facts passed as data."""

    @property
    def digest(self) -> str:
        """sha256 of the file's bytes, or of the data's canonical JSON."""


#: How the facts' form keeps the reasons for a deviation (偏差原因) given for an indicator:
#: ``reason.ID`` (the department's template has a column for them).
REASON_PREFIX: Final = "reason."


@dataclass(frozen=True, slots=True)
class Provenance:
    """What produced a result: library version, scheme, files and facts, with hashes.

    The facts hash is computed when first asked for (``facts``), not while scoring.
    """

    perfrules: str
    scheme_id: str
    scheme_version: str
    scheme_year: int | None
    scheme_sha256: str
    files: tuple[tuple[str, str], ...]
    source: FactsSource
    unit: str = ""
    #: The facts' ``[form]``: who filled the form in, reviewed it, a telephone, a date
    #: (for the signature block of reports; not part of the trace JSON).
    form: tuple[tuple[str, str], ...] = ()

    @property
    def facts(self) -> tuple[str | None, str]:
        """The facts file (or None) and its sha256."""
        return self.source.file, self.source.digest

    def reason(self, ident: str) -> str:
        """The reasons for a deviation (偏差原因) the facts give for indicator *ident*, or ""."""
        key = REASON_PREFIX + ident
        return next((text for name, text in self.form if name == key), "")


_PENDING: Final = object()


class TraceSource(Protocol):
    """Where a lazily built :class:`Trace` takes its parts from (the engine's raw record)."""

    def root(self) -> NodeTrace:
        """The tree of nodes."""

    def gap(self) -> Gap | None:
        """The next band up and the fewest indicators to reach it."""

    def provenance(self) -> Provenance:
        """What produced the result."""

    def json(self) -> str:
        """The compact ``perfrules.trace/1`` text, written from the record."""


class Trace:
    """The explanation of one unit's score.

    A trace from :meth:`~perfrules.CompiledScheme.evaluate` builds its tree of nodes (and each
    indicator's steps) the first time ``root`` is read, and writes its JSON straight from the
    evaluation's record without building them.

    Attributes:
        root: the tree of nodes.
        total: the total (exact).
        max: the scheme's maximum.
        grade: the band of the total (or the grade override that fired).
        bands: every band of the scheme.
        gap: the next band up and the fewest indicators to reach it (``None`` at the top or
            when a grade override fired).
        provenance: what produced the result.
        total_places: places of the total, ``None`` when not rounded.
        rounding_mode: the scheme's rounding mode.
        levels: the scheme's names of its levels (一级, 二级, ...).
        cohort: the cohort the unit was scored in, its values and the unit's rank (``None``
            for a scheme that declares no cohort values and no ranking).
    """

    __slots__ = (
        "_gap",
        "_provenance",
        "_root",
        "_source",
        "bands",
        "cohort",
        "grade",
        "levels",
        "max",
        "rounding_mode",
        "total",
        "total_places",
    )

    def __init__(
        self,
        root: NodeTrace,
        total: Fraction,
        max: Fraction,  # noqa: A002 - the format's own word
        grade: Grade,
        bands: tuple[Grade, ...],
        gap: Gap | None,
        provenance: Provenance,
        total_places: int | None = None,
        rounding_mode: str = "half_up",
        levels: tuple[str, ...] = (),
        cohort: CohortTrace | None = None,
    ) -> None:
        """A trace from parts already built."""
        self._source: TraceSource | None = None
        self._root: Any = root
        self._gap: Any = gap
        self._provenance: Any = provenance
        self.total = total
        self.max = max
        self.grade = grade
        self.bands = bands
        self.total_places = total_places
        self.rounding_mode = rounding_mode
        self.levels = levels
        self.cohort = cohort

    @classmethod
    def lazy(
        cls,
        source: TraceSource,
        *,
        total: Fraction,
        maximum: Fraction,
        grade: Grade,
        bands: tuple[Grade, ...],
        total_places: int | None,
        rounding_mode: str,
        levels: tuple[str, ...],
        cohort: CohortTrace | None = None,
    ) -> Trace:
        """A trace whose tree, gap and provenance are built from *source* when first read."""
        self = cls.__new__(cls)
        self._source = source
        self._root = self._gap = self._provenance = _PENDING
        self.total = total
        self.max = maximum
        self.grade = grade
        self.bands = bands
        self.total_places = total_places
        self.rounding_mode = rounding_mode
        self.levels = levels
        self.cohort = cohort
        return self

    @property
    def root(self) -> NodeTrace:
        """The tree of nodes (built when first read)."""
        if self._root is _PENDING:
            self._root = self._source.root()  # type: ignore[union-attr]
        value: NodeTrace = self._root
        return value

    @property
    def gap(self) -> Gap | None:
        """The next band up and the fewest indicators that reach it."""
        if self._gap is _PENDING:
            self._gap = self._source.gap()  # type: ignore[union-attr]
        value: Gap | None = self._gap
        return value

    @property
    def losses(self) -> list[tuple[NodeTrace, Fraction]]:
        """The counted rows that lost points, the most first (ties by id), with the points.

        The rows of the JSON's ``"losses"``: a row shown but not counted is not among them.
        """
        return losses_of(self.root)

    @property
    def provenance(self) -> Provenance:
        """What produced the result."""
        if self._provenance is _PENDING:
            self._provenance = self._source.provenance()  # type: ignore[union-attr]
        value: Provenance = self._provenance
        return value

    def to_dict(self) -> dict[str, Any]:
        """The ``perfrules.trace/1`` document as plain data (numbers as decimal strings)."""
        data: dict[str, Any] = json.loads(self.to_json())
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        """The ``perfrules.trace/1`` JSON text (UTF-8 characters kept, stable key order).

        Compact by default (and fast: written directly); ``indent=2`` for people.
        """
        if indent is None:
            return self._source.json() if self._source is not None else trace_json(self)
        text = json.dumps(
            self.to_dict(), ensure_ascii=False, indent=indent, separators=(",", ": ")
        )
        return text + "\n"

    def __repr__(self) -> str:
        """``Trace(total=Fraction(357, 4), grade='良好')``."""
        return f"Trace(total={self.total!r}, grade={self.grade.label!r})"


class ResultSource(Protocol):
    """Where a lazily built :class:`Result` takes its parts from (the engine's raw record)."""

    def total(self) -> Decimal:
        """The total with the scheme's places."""

    def grade(self) -> Grade:
        """The band of the total (or the grade override that fired)."""

    def scores(self) -> Mapping[str, Decimal | None]:
        """Scores by id."""

    def trace(self) -> Trace | None:
        """The explanation, assembled now; ``None`` when it was not asked for."""

    def total_exact(self) -> Fraction:
        """The total as an exact fraction."""

    def cohort(self) -> CohortTrace | None:
        """The unit's cohort values and rank."""


class Result:
    """The outcome of scoring one unit.

    A result from :meth:`~perfrules.CompiledScheme.evaluate` keeps the raw record of the
    evaluation and builds each attribute the first time it is read (the trace above all).

    Attributes:
        total: the total, exact (a ``Decimal`` with the scheme's places).
        grade: the band the total falls in.
        scores: score of every group and indicator by id (``None`` when excluded).
        trace: the full explanation (``None`` when evaluated with ``trace=False``).
        total_exact: the total as an exact fraction.
        cohort: the cohort the unit was scored in, its values and its rank (``None`` unless
            it was scored with its cohort).
        rank: its rank (``None`` unless the scheme ranks it).
    """

    __slots__ = ("_cohort", "_grade", "_scores", "_source", "_total", "_total_exact", "_trace")

    def __init__(
        self,
        total: Decimal,
        grade: Grade,
        scores: Mapping[str, Decimal | None],
        trace: Trace | None,
        total_exact: Fraction,
        cohort: CohortTrace | None = None,
    ) -> None:
        """A result from values already known."""
        self._source: ResultSource | None = None
        self._total: Any = total
        self._grade: Any = grade
        self._scores: Any = scores
        self._trace: Any = trace
        self._total_exact: Any = total_exact
        self._cohort: Any = cohort

    @classmethod
    def lazy(cls, source: ResultSource) -> Result:
        """A result whose parts are built from *source* when first read."""
        self = cls.__new__(cls)
        self._source = source
        self._total = self._grade = self._scores = self._trace = self._total_exact = _PENDING
        self._cohort = _PENDING
        return self

    @property
    def total(self) -> Decimal:
        """The total, exact (a ``Decimal`` with the scheme's places)."""
        if self._total is _PENDING:
            self._total = self._source.total()  # type: ignore[union-attr]
        value: Decimal = self._total
        return value

    @property
    def grade(self) -> Grade:
        """The band the total falls in."""
        if self._grade is _PENDING:
            self._grade = self._source.grade()  # type: ignore[union-attr]
        value: Grade = self._grade
        return value

    @property
    def scores(self) -> Mapping[str, Decimal | None]:
        """Score of every group and indicator by id (``None`` when excluded)."""
        if self._scores is _PENDING:
            self._scores = self._source.scores()  # type: ignore[union-attr]
        value: Mapping[str, Decimal | None] = self._scores
        return value

    @property
    def trace(self) -> Trace | None:
        """The full explanation (``None`` when evaluated with ``trace=False``)."""
        if self._trace is _PENDING:
            self._trace = self._source.trace()  # type: ignore[union-attr]
        value: Trace | None = self._trace
        return value

    @property
    def total_exact(self) -> Fraction:
        """The total as an exact fraction."""
        if self._total_exact is _PENDING:
            self._total_exact = self._source.total_exact()  # type: ignore[union-attr]
        value: Fraction = self._total_exact
        return value

    @property
    def cohort(self) -> CohortTrace | None:
        """The cohort it was scored in, that cohort's values and its rank."""
        if self._cohort is _PENDING:
            self._cohort = self._source.cohort()  # type: ignore[union-attr]
        value: CohortTrace | None = self._cohort
        return value

    @property
    def rank(self) -> Rank | None:
        """Its rank in its cohort (``None`` unless the scheme ranks it)."""
        cohort = self.cohort
        return None if cohort is None else cohort.rank

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as plain values (without the trace), e.g. to return from a worker process."""
        return (
            Result,
            (self.total, self.grade, dict(self.scores), None, self.total_exact, self.cohort),
        )

    def __repr__(self) -> str:
        """``Result(total=Decimal('89.25'), grade='良好')``."""
        return f"Result(total={self.total!r}, grade={self.grade.label!r})"
