"""From a checked scheme to an evaluation plan: nodes in order, formulas attached, hashed.

The plan is what the generated scorer (``_kernel``) and the trace assembly read. Building
it runs no check: the scheme has passed them (``load_scheme`` or ``compile_scheme``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from perfrules._numbers import NumberFormatError, format_number, parse_number
from perfrules.expressions import BUILTIN_NAMES, Expression, Value
from perfrules.model import DEFAULT_MISSING_MARKERS, Policy, Scheme
from perfrules.model import CohortValue as CohortValueRule
from perfrules.rules import (
    CheckedScheme,
    Source,
    Stages,
    normalised_group,
    normalised_row,
    normalised_values,
)
from perfrules.trace import Grade, InputValue

__all__ = [
    "IMPUTED",
    "MISSING",
    "Leaf",
    "Node",
    "Plan",
    "build_plan",
    "content_hash",
    "find_fact",
    "imputation_of",
]

#: A fact that is not there.
MISSING: Final = object()
#: The key under which a unit's bound shared facts give the general path the values its
#: missing facts are imputed with (input name → :class:`~perfrules.trace.CohortValue`),
#: taken over its cohort (``Cohorts.bind``); no fact can have this name.
IMPUTED: Final = "\x00imputed"


@dataclass(frozen=True, slots=True)
class Leaf:
    """What the engine needs to score one indicator."""

    expression: Expression
    needs: tuple[str, ...]
    params: dict[str, Value]
    target_value: Fraction | None
    show: str | None
    missing: Policy
    na: Policy
    clamp: bool
    direction: str
    #: ``[inputs.NAME] impute`` of the inputs it reads that declare one.
    imputed: dict[str, Fraction] = field(default_factory=dict)
    #: The inputs it reads that are imputed from the other units (``cohort_mean``, ...):
    #: their values come with the unit's cohort (:func:`imputation_of`), not from the plan.
    pooled: frozenset[str] = frozenset()

    def default(self, name: str) -> tuple[Value, str] | None:
        """The value input *name* takes when no fact gives it, and where it comes from.

        A ``params`` value first, then the input's declared ``impute`` value (shown as
        ``imputed``), then (for ``target``) the number of the target text; ``None`` when
        there is none (the fact is missing). Every shape asks this.
        """
        value = self.params.get(name)
        if value is not None:
            return value, "params"
        imputed = self.imputed.get(name)
        if imputed is not None:
            return imputed, "imputed"
        if name == "target" and self.target_value is not None:
            return self.target_value, "target"
        return None


def imputation_of(scheme: Scheme) -> dict[str, tuple[str, str | None]]:
    """The inputs imputed from the other units: name → (``mean`` or ``median``, group fact).

    The group fact is ``None`` for ``cohort_mean`` and ``cohort_median`` (the whole cohort).
    """
    out: dict[str, tuple[str, str | None]] = {}
    for name, declared in scheme.inputs.items():
        impute = declared.impute
        if impute is None or isinstance(impute, Decimal | int):
            continue
        method, by = (impute, None) if isinstance(impute, str) else (impute.method, impute.by)
        out[name] = (method.partition("_")[2], by if method.startswith("group") else None)
    return out


def find_fact(
    name: str, own: Mapping[str, Any], shared: Mapping[str, Any], bound: Mapping[str, str]
) -> tuple[Any, str]:
    """The raw fact input *name* of an indicator reads, and where it was found.

    The one lookup order: the indicator's own facts (``facts``), then the unit's shared
    facts (``shared``; a cohort value or a score read by a later pass is bound among them
    and named by *bound*, :attr:`Plan.bound_sources`: ``cohort`` or ``score``). When
    neither has it the answer is ``(MISSING, "missing")`` and the caller takes
    :meth:`Leaf.default`. The generated scorer and the columnar reader follow the same
    order (their code says where).
    """
    raw = own.get(name, MISSING)
    if raw is not MISSING:
        return raw, "facts"
    raw = shared.get(name, MISSING)
    if raw is not MISSING:
        return raw, bound.get(name, "shared")
    return MISSING, "missing"


@dataclass(frozen=True, slots=True)
class Node:
    """One group or indicator of the plan.

    Attributes:
        index: position in ``Plan.nodes`` (pre-order).
        children: indices of the children, in rule-file order.
        leaf: the indicator part, ``None`` for groups.
    """

    index: int
    id: str
    name: str
    kind: str
    depth: int
    weight: Fraction
    places: int | None
    parent: int
    children: tuple[int, ...]
    target: str
    leaf: Leaf | None
    #: Decimal places to show the score with: its own rounding, else its children's.
    shown_places: int | None = None
    #: The keys whose place in the rule files explanations show: (label, key path).
    source_keys: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Looks those places up when first asked (scanning the files once for every node).
    places_in: SourcePlaces | None = None
    #: Every child as the report shows them; ``children`` are those added up (counted).
    shown: tuple[int, ...] = ()
    #: Added to the total: it and every group above it are counted.
    counted: bool = True
    #: Declared ``counted = false`` itself (its row says so).
    uncounted_here: bool = False
    #: How a group's children make its score: ``sum`` or ``geometric`` (``_totals``).
    aggregate: str = "sum"
    #: The weight as an input of the formula (an indicator whose formula reads ``weight``):
    #: one object per distinct weight, shared by every row and trace that shows it.
    weight_input: InputValue | None = None

    @property
    def sources(self) -> tuple[tuple[str, str], ...]:
        """Where the weight and the formula were written (``file:line``), for explanations."""
        if self.places_in is None:
            return ()
        return self.places_in.of(self.index, self.source_keys)


class SourcePlaces:
    """``file:line`` of the keys explanations cite, found when a trace first needs them.

    Positions come from scanning the rule files' text, which an untraced run never needs;
    the answers are kept per node (a race computes one twice, the same).
    """

    __slots__ = ("found", "source")

    def __init__(self, source: Source) -> None:
        """Look places up in *source*."""
        self.source = source
        self.found: dict[int, tuple[tuple[str, str], ...]] = {}

    def of(
        self, index: int, keys: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> tuple[tuple[str, str], ...]:
        """The places of node *index*'s *keys* (those that are located)."""
        places = self.found.get(index)
        if places is None:
            places = self.found[index] = _sources(self.source, list(keys))
        return places


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled scheme: nodes in pre-order (root first) and what evaluation needs."""

    scheme: Scheme
    nodes: tuple[Node, ...]
    post_order: tuple[int, ...]
    leaves: tuple[int, ...]
    by_id: dict[str, int]
    max: Fraction
    mode: str
    total_places: int | None
    bands: tuple[tuple[str, Fraction, Fraction, str], ...]
    files: tuple[tuple[str, str], ...]
    #: The indicators whose scores reach the total (not under a row shown but not counted).
    counted_leaves: tuple[int, ...] = ()
    #: ``[[grade_overrides]]``: (label, English label, compiled condition), in order.
    overrides: tuple[tuple[str, str, Expression], ...] = ()
    #: Position of each indicator (by node index) among the indicators.
    leaf_positions: dict[int, int] = field(default_factory=dict)
    #: Position of each group and of the root (by node index) among them, in node order.
    group_positions: dict[int, int] = field(default_factory=dict)
    #: The weights of the indicators at or below each node, added up (by node index).
    leaf_weights: dict[int, Fraction] = field(default_factory=dict)
    #: The bands as :class:`~perfrules.trace.Grade`, in order; none for a rank-only scheme
    #: (which :attr:`bands` holds as one band without a label).
    grades: tuple[Grade, ...] = ()
    #: Compiled ``where`` conditions of cohort values (by name) and of the ranking (``""``).
    cohort_conditions: dict[str, Expression] = field(default_factory=dict)
    #: Names of the cohort values (formulas read them like inputs).
    cohort_names: frozenset[str] = frozenset()
    #: Inputs imputed from the other units (:func:`imputation_of`).
    imputations: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: Every cohort value taken: ``[cohort.values]`` and those normalised inputs take.
    cohort_rules: dict[str, CohortValueRule] = field(default_factory=dict)
    #: The passes of rows reading scores (empty for most schemes; ``rules._stages``).
    stages: Stages = field(default_factory=Stages)
    #: Names bound among the shared facts, and what the trace calls their source:
    #: ``cohort`` for a cohort value, ``score`` for a group's or indicator's own score.
    bound_sources: dict[str, str] = field(default_factory=dict)
    #: The scheme as written, when :attr:`scheme` (what is scored) differs from it: a
    #: normalised group written out (:func:`~perfrules.rules._normalise.expand_groups`).
    written: Scheme | None = None
    #: Things derived from the plan once and reused (the trace JSON's fixed parts).
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def source_of(self, name: str) -> str:
        """What the trace calls the source of *name* read among the shared facts."""
        return self.bound_sources.get(name, "shared")

    @property
    def across_inputs(self) -> frozenset[str]:
        """The inputs read across units: cohort values' ``of`` and ``where`` names, ranking keys.

        A ranking key that names an indicator or the total is a score, not an input; the
        cohort's ``group_by`` is the cohort's key (:attr:`cohort_reads` adds it).
        """
        scheme = self.scheme
        names: set[str] = set()
        names.update(
            v.of
            for n, v in self.cohort_rules.items()
            if v.of is not None and self.stages.value_pass(n) is None  # not over scores
        )
        if scheme.ranking is not None:
            names.update(k.by for k in scheme.ranking.keys if k.by in scheme.inputs)
        for condition in self.cohort_conditions.values():
            names.update(condition.names)
        names.update(self.imputations)
        return frozenset(names)

    @property
    def shared_only(self) -> frozenset[str]:
        """Normalised inputs rescaled by values taken over the cohort (``PR429``).

        Each unit gives them as a shared fact, the one the cohort's values are taken over:
        an indicator's own fact for one of them is refused.
        """
        found = self.cache.get("shared_only")
        if found is None:
            found = self.cache["shared_only"] = frozenset(
                name
                for name, declared in self.scheme.inputs.items()
                if declared.normalise is not None and name in self.across_inputs
            )
        return found  # type: ignore[return-value]

    @property
    def cohort_reads(self) -> frozenset[str]:
        """The shared facts the cohort pass reads: :attr:`across_inputs` and ``group_by``."""
        cohort = self.scheme.cohort
        group = {cohort.group_by} if cohort is not None and cohort.group_by is not None else set()
        group.update(by for _, by in self.imputations.values() if by is not None)
        return self.across_inputs | group

    @property
    def override_inputs(self) -> frozenset[str]:
        """The names the grade overrides' conditions read."""
        return frozenset(name for _, _, condition in self.overrides for name in condition.names)

    @property
    def shared_inputs(self) -> frozenset[str]:
        """Every name a unit's shared facts can give that the scheme reads.

        The declared inputs, what any indicator needs, what the cohort pass reads and the
        grade overrides' conditions; a ``shared.NAME`` column outside it is read by nothing.
        """
        found = self.cache.get("shared_inputs")
        if found is None:
            names = {*self.scheme.inputs, *self.cohort_reads, *self.override_inputs}
            for index in self.leaves:
                leaf = self.nodes[index].leaf
                if leaf is not None:
                    names.update(leaf.needs)
            found = self.cache["shared_inputs"] = frozenset(names)
        return found  # type: ignore[return-value]

    def unknown_shared(self, names: Iterable[str]) -> dict[str, str]:
        """The *names* no part of the scheme reads as a shared fact (``PR421``).

        Each with the closest name it does read, or ``""``: usually a misspelt input.
        """
        known = self.shared_inputs
        unknown = {}
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(str(name), sorted(known), n=1)
                unknown[name] = close[0] if close else ""
        return unknown

    @property
    def has_cohort(self) -> bool:
        """Whether units are scored together (a ``[cohort]`` or a ``[ranking]``)."""
        return (
            self.scheme.cohort is not None
            or self.scheme.ranking is not None
            or bool(self.cohort_rules)
            or bool(self.imputations)
        )

    @property
    def sha256(self) -> str:
        """The scheme's content hash (:func:`content_hash`), computed when first asked."""
        found = self.cache.get("sha256")
        if found is None:
            found = self.cache["sha256"] = content_hash(self.scheme)
        return str(found)


def _places(value: int | str | None) -> int | None:
    return value if isinstance(value, int) else None


_LATER: Final = ("cohort", "ranking")


def content_hash(scheme: Scheme) -> str:
    """sha256 of the scheme's canonical JSON (independent of comments and layout)."""
    # Sections added after format 1 was first published are left out when absent, so the
    # hash of a scheme without them is the one it always had.
    data = scheme.model_dump(
        mode="json", exclude={k for k in _LATER if getattr(scheme, k) is None}
    )
    for section in ("groups", "indicators"):
        for entry in data[section].values():
            if entry.get("counted") is True:  # the default, added later: not in old hashes
                del entry["counted"]
            if entry.get("aggregate") == "sum":  # likewise
                del entry["aggregate"]
            if section == "groups" and entry.get("normalise", 0) is None:  # likewise
                del entry["normalise"]
    if data["scheme"].get("fit") is None:  # likewise
        data["scheme"].pop("fit", None)
    if data["defaults"].get("missing_markers") == list(DEFAULT_MISSING_MARKERS):  # likewise
        data["defaults"].pop("missing_markers", None)
    for entry in data["inputs"].values():
        if entry.get("impute") is None:  # likewise
            entry.pop("impute", None)
        if entry.get("normalise") is None:  # likewise
            entry.pop("normalise", None)
        elif entry["normalise"].get("name") == "":  # likewise
            del entry["normalise"]["name"]
    for entry in (data.get("cohort") or {}).get("values", {}).values():
        if entry.get("order") == "asc":  # likewise
            del entry["order"]
    if data.get("ranking") and not data["ranking"].get("shared_mark"):  # likewise
        data["ranking"].pop("shared_mark", None)
    if data.get("ranking") and data["ranking"].get("min_available") is None:  # likewise
        data["ranking"].pop("min_available", None)
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def build_plan(checked: CheckedScheme) -> Plan:
    """Order the tree of a checked scheme and attach its compiled formulas."""
    scheme = checked.scheme
    expressions = checked.result.expressions
    conditions = checked.result.conditions
    cohort_conditions = checked.result.cohort_conditions
    defaults = scheme.defaults
    imputations = imputation_of(scheme)
    by_parent: dict[str | None, list[tuple[str, str]]] = {}
    for section, entries in (("groups", scheme.groups), ("indicators", scheme.indicators)):
        for node_id, entry in entries.items():
            by_parent.setdefault(entry.parent, []).append((section, node_id))
    source = checked.source
    places_in = SourcePlaces(source) if source is not None else None
    for kids in by_parent.values():
        if len({section for section, _ in kids}) > 1:  # groups and indicators side by side
            order = _document_order(kids, source)
            kids.sort(key=order.__getitem__)

    generated = normalised_values(scheme)
    # Equal weights are one object: a trace stores the same Fraction in every row of that
    # weight, and a unit's thousands of rows then touch one object, not thousands.
    fractions: dict[Fraction, Fraction] = {}
    weight_inputs: dict[Fraction, InputValue] = {}

    def shared(value: Fraction | Decimal | int) -> Fraction:
        made = Fraction(value)
        return fractions.setdefault(made, made)

    def weight_input(weight: Fraction) -> InputValue:
        found = weight_inputs.get(weight)
        if found is None:
            text = format_number(weight)
            found = weight_inputs[weight] = InputValue("weight", weight, text, "weight")
        return found

    nodes: list[dict[str, Any]] = []
    root: dict[str, Any] = {
        "index": 0,
        "id": scheme.scheme.id,
        "name": scheme.scheme.title,
        "kind": "scheme",
        "depth": 0,
        "weight": Fraction(scheme.max),
        "places": _places(scheme.rounding.total),
        "parent": -1,
        "children": [],
        "target": "",
        "leaf": None,
        "counted": True,
    }
    nodes.append(root)
    stack: list[tuple[str | None, int, int]] = [(None, 0, 0)]
    while stack:
        parent_id, parent_index, depth = stack.pop()
        pending = []
        for section, node_id in by_parent.get(parent_id, []):
            index = len(nodes)
            nodes[parent_index]["children"].append(index)
            if section == "groups":
                group = scheme.groups[node_id]
                nodes.append(
                    {
                        "source_keys": (("weight", ("groups", node_id, "weight")),),
                        "places_in": places_in,
                        "index": index,
                        "id": node_id,
                        "name": group.name or node_id,
                        "kind": "group",
                        "depth": depth + 1,
                        "weight": shared(group.weight),
                        "places": _places(
                            group.places if group.places is not None else scheme.rounding.group
                        ),
                        "parent": parent_index,
                        "children": [],
                        "target": "",
                        "leaf": None,
                        "counted": group.counted,
                        "aggregate": group.aggregate,
                    }
                )
                pending.append((node_id, index, depth + 1))
            else:
                indicator = scheme.indicators[node_id]
                expression = expressions[node_id]
                needs = tuple(sorted(expression.names - BUILTIN_NAMES.keys()))
                params: dict[str, Value] = {
                    k: v if isinstance(v, bool) else Fraction(v)
                    for k, v in indicator.params.items()
                }
                target_value = None
                if indicator.target:
                    try:
                        parsed = parse_number(indicator.target)
                        target_value = parsed.value
                    except NumberFormatError:
                        target_value = None
                show = indicator.show
                if show is None:
                    # "actual" if the formula reads it, else the first input it reads
                    first = [
                        n
                        for n in expression.program.ordered_names
                        if n in needs and n not in generated  # a normalised input, not its values
                    ]
                    show = "actual" if "actual" in needs else (first[0] if first else None)
                leaf = Leaf(
                    expression=expression,
                    needs=needs,
                    params=params,
                    target_value=target_value,
                    show=show,
                    missing=indicator.missing or defaults.missing,
                    na=indicator.na or defaults.na,
                    clamp=indicator.clamp if indicator.clamp is not None else defaults.clamp,
                    direction=indicator.direction or defaults.direction,
                    imputed={
                        name: Fraction(impute)
                        for name in needs
                        if name in scheme.inputs
                        and isinstance(impute := scheme.inputs[name].impute, Decimal | int)
                    },
                    pooled=frozenset(name for name in needs if name in imputations),
                )
                written = normalised_group(scheme, node_id)
                source_keys = (
                    (
                        ("weight", ("groups", written, "weight")),
                        ("normalise", ("groups", written, "normalise")),
                    )
                    if written is not None
                    else ()
                ) or (
                    ("weight", ("indicators", node_id, "weight")),
                    (
                        "formula",
                        ("indicators", node_id, "formula")
                        if indicator.formula is not None
                        else ("defaults", "formula"),
                    ),
                    *(
                        ("normalise", ("inputs", name, "normalise"))
                        if name in scheme.inputs
                        else ("formula", ("formulas", name))
                        for name in expression.formulas
                    ),
                )
                nodes.append(
                    {
                        "source_keys": source_keys,
                        "places_in": places_in,
                        "index": index,
                        "id": node_id,
                        "name": indicator.name or node_id,
                        "kind": "indicator",
                        "depth": depth + 1,
                        "weight": shared(indicator.weight),
                        "weight_input": weight_input(shared(indicator.weight))
                        if "weight" in expression.names
                        else None,
                        "places": _places(
                            indicator.places
                            if indicator.places is not None
                            else scheme.rounding.indicator
                        ),
                        "parent": parent_index,
                        "children": [],
                        "target": indicator.target,
                        "leaf": leaf,
                        "counted": indicator.counted,
                    }
                )
        # Depth-first, in rule-file order: push in reverse so the first child is expanded first.
        stack.extend(reversed(pending))
    # The stack above visits groups depth-first, but indices were assigned breadth-first per
    # parent; renumber into a true pre-order so renderers can print rows in order.
    frozen = _preorder(nodes)
    post = _post_order(frozen)
    leaves = tuple(n.index for n in frozen if n.kind == "indicator")
    counted_leaves = tuple(i for i in leaves if frozen[i].counted)
    groups = [n.index for n in frozen if n.kind != "indicator"]
    below: dict[int, Fraction] = {}
    for index in post:
        node = frozen[index]
        below[index] = (
            node.weight
            if node.kind == "indicator"
            else shared(sum((below[c] for c in node.children), Fraction(0)))
        )
    # The values a normalised input takes, when some formula reads the input: an input
    # declared but not read asks no unit for its fact.
    read = {name for i in leaves for name in frozen[i].leaf.needs}  # type: ignore[union-attr]
    cohort_rules = {
        **(scheme.cohort.values if scheme.cohort is not None else {}),
        **{name: value for name, value in generated.items() if name in read},
    }
    return Plan(
        scheme=scheme,
        nodes=frozen,
        post_order=post,
        leaves=leaves,
        by_id={n.id: n.index for n in frozen if n.kind != "scheme"},
        max=Fraction(scheme.max),
        mode=scheme.rounding.mode,
        total_places=_places(scheme.rounding.total),
        # A scheme without bands (rank-only) has one band without a label over [0, max], so
        # the totals and the scorer need no second path; its grades, shown, are none.
        bands=tuple((b.label, Fraction(b.min), Fraction(b.max), b.label_en) for b in scheme.bands)
        or (("", Fraction(0), Fraction(scheme.max), ""),),
        files=_shown_files(source),
        overrides=tuple(
            (o.label, o.label_en, (conditions or {})[i])
            for i, o in enumerate(scheme.grade_overrides)
            if i in (conditions or {})
        ),
        leaf_positions={index: k for k, index in enumerate(leaves)},
        counted_leaves=counted_leaves,
        group_positions={index: k for k, index in enumerate(groups)},
        leaf_weights=below,
        grades=tuple(
            Grade(b.label, Fraction(b.min), Fraction(b.max), b.label_en) for b in scheme.bands
        ),
        cohort_conditions=dict(cohort_conditions or {}),
        cohort_names=frozenset(cohort_rules),
        cohort_rules=cohort_rules,
        imputations=imputations,
        stages=checked.result.stages,
        written=checked.written,
        bound_sources={
            **dict.fromkeys(checked.result.stages.own, "score"),
            **dict.fromkeys(cohort_rules, "cohort"),
        },
    )


def _shown_name(source: Source, name: str) -> str:
    """A rule file as a trace names it: as given when relative, else relative to the main one.

    A trace travels (it is stored, sent to browsers): it must not carry a server's absolute
    paths. The sha256 of each file identifies it; the name is for people.
    """
    main = source.main
    if main is None or not Path(main).is_absolute() or not Path(name).is_absolute():
        return name
    return os.path.relpath(name, Path(main).parent)


def _shown_files(source: Source | None) -> tuple[tuple[str, str], ...]:
    """The rule files for provenance, each named by :func:`_shown_name`."""
    if source is None:
        return ()
    return tuple((_shown_name(source, name), digest) for name, digest in source.files)


def _sources(
    source: Source | None, keys: list[tuple[str, tuple[str, ...]]]
) -> tuple[tuple[str, str], ...]:
    """``file:line`` of each key, the file named as provenance names it."""
    if source is None:
        return ()
    out = []
    for label, path in keys:
        file = source.file_of(path)
        source_map = source.maps.get(file) if file else None
        if file is None or source_map is None:
            continue
        line, _ = source_map.position(path)
        shown = _shown_name(source, file)
        out.append((label, f"{shown}:{line}" if line else shown))
    return tuple(out)


def _document_order(
    kids: list[tuple[str, str]], source: Source | None
) -> dict[tuple[str, str], tuple[int, int]]:
    """Siblings that mix groups and indicators keep the order they have in the rule file.

    Within [groups] or within [indicators] the order read is already the file's; only a mix
    needs the lines (the one place compiling scans a file's positions). Without a source (a
    scheme built in code) or across several files, groups come first, then indicators.
    """
    order: dict[tuple[str, str], tuple[int, int]] = {}
    if source is not None and len(source.files) > 1:
        source = None  # lines of different files do not compare: keep the merged order
    for index, (section, node_id) in enumerate(kids):
        line = 0
        if source is not None:
            file = source.file_of((section, node_id))
            source_map = source.maps.get(file) if file else None
            if source_map is not None:
                line = source_map.position((section, node_id))[0]
        rank = 0 if section == "groups" else 1
        order[(section, node_id)] = (line, rank * 1_000_000 + index)
    for section, node_id in kids:  # a normalised group's row comes right after the group
        if section == "groups" and ("indicators", normalised_row(node_id)) in order:
            row = ("indicators", normalised_row(node_id))
            order[row] = (order[(section, node_id)][0], order[row][1])
    return order


def _preorder(raw: list[dict[str, Any]]) -> tuple[Node, ...]:
    order: list[int] = []
    stack = [0]
    while stack:
        index = stack.pop()
        order.append(index)
        stack.extend(reversed(raw[index]["children"]))
    new_index = {old: new for new, old in enumerate(order)}
    # counted all the way up: itself and every group above it
    reaching: dict[int, bool] = {}
    for old in order:  # parents before children
        parent = raw[old]["parent"]
        reaching[old] = raw[old]["counted"] and (parent < 0 or reaching[parent])
    shown: dict[int, int | None] = {}
    for old in reversed(order):  # children before parents
        entry = raw[old]
        if entry["places"] is not None or not entry["children"]:
            shown[old] = entry["places"]
        else:
            kids = [shown[c] for c in entry["children"]]
            shown[old] = None if None in kids else max(k for k in kids if k is not None)
    nodes = []
    for old in order:
        entry = dict(raw[old])
        entry["index"] = new_index[old]
        entry["parent"] = new_index.get(entry["parent"], -1)
        entry["shown"] = tuple(new_index[c] for c in entry["children"])
        entry["children"] = tuple(new_index[c] for c in entry["children"] if raw[c]["counted"])
        entry["shown_places"] = shown[old]
        entry["uncounted_here"] = not entry.pop("counted")
        entry["counted"] = reaching[old]
        nodes.append(Node(**entry))
    return tuple(nodes)


def _post_order(nodes: tuple[Node, ...]) -> tuple[int, ...]:
    out: list[int] = []
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        index, expanded = stack.pop()
        if expanded:
            out.append(index)
            continue
        stack.append((index, True))
        stack.extend((c, False) for c in reversed(nodes[index].shown))
    return tuple(out)
