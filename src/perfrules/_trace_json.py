"""Writing ``perfrules.trace/1``: the one serializer of a trace.

The compact text is written directly, fragment by fragment; numbers are written from their
integer pairs each time (nothing keyed on values: a unit's values are its own). Indented JSON
and ``Trace.to_dict()`` are derived from this text, so there is one definition of the
format. The key order and every byte are documented in ``docs/reference/trace-json.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from fractions import Fraction
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Final

from perfrules._messages import ui
from perfrules._numbers import (
    Memo,
    decimal_text,
    format_number,
    is_terminating,
    repeating_text,
)
from perfrules.expressions import Interval

if TYPE_CHECKING:
    from perfrules.trace import CohortTrace, Gap, Grade, NodeTrace, Note, Provenance, Trace

__all__ = [
    "FORMAT",
    "cohort_json",
    "document",
    "exact",
    "grade_json",
    "group_parts",
    "input_json",
    "leaf_json",
    "lost_json",
    "node_head",
    "node_json",
    "notes_json",
    "pair_json",
    "provenance_json",
    "provenance_parts",
    "rounding_json",
    "rounding_pair_json",
    "sources_json",
    "step_json",
    "string",
    "trace_json",
    "value_json",
]

#: Identifier and version of the JSON trace format.
FORMAT: Final = "perfrules.trace/1"

_quote: Callable[[str], str] = encode_basestring
_STRINGS: Final = Memo(_quote)  # the texts of a scheme: ids, names, formulas


def string(text: str) -> str:
    """A JSON string literal (UTF-8 kept), remembered for the texts a scheme repeats."""
    if len(text) < 200:
        quoted: str = _STRINGS[text]
        return quoted
    return _quote(text)


def _lost(weight: Fraction, score: Fraction, places: int | None) -> str:
    """``weight - score`` as JSON, on integers (Fraction subtraction costs microseconds)."""
    wn, wd, sn, sd = weight.numerator, weight.denominator, score.numerator, score.denominator
    return _number(wn * sd - sn * wd, wd * sd, places)


def _number(num: int, den: int, places: int | None) -> str:
    """``num/den`` as a JSON string: a number's text is digits, ``-`` and ``.`` (no escapes)."""
    return '"' + decimal_text(num, den, places) + '"'


def _dec(value: Fraction, places: int | None = None) -> str:
    return f'"{format_number(value, places)}"'  # as _number: nothing to escape


def value_json(value: object) -> str:
    """A value as JSON: a decimal string, true/false, null, or the text of an interval."""
    return _value(value)


def _value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if value.__class__ is Fraction:  # not isinstance: Fraction's ABC check is slow
        return _dec(value)
    if isinstance(value, Interval):
        return string(value.text)
    return string(str(value))


def exact(value: object) -> str | None:
    """``n/d`` for a value that does not terminate in decimals (the ``exact`` member)."""
    return _exact(value)


def _exact(value: object) -> str | None:
    if value.__class__ is Fraction and not is_terminating(value):
        return f"{value.numerator}/{value.denominator}"
    return None


def pair_json(num: int, den: int, places: int | None) -> str:
    """``num/den`` as a JSON decimal string (as :func:`value_json`), remembered per pair.

    The record holds numbers as integer pairs: written from them, no :class:`Fraction`.
    """
    return '"' + decimal_text(num, den, places) + '"'


def rounding_pair_json(places: int, mode: str, bn: int, bd: int, an: int, ad: int) -> str:
    """One entry of ``"roundings"`` from integer pairs (as :func:`rounding_json`)."""
    return _rounding(places, mode, bn, bd, an, ad)


def group_parts(head: str, applicable: str, sources: str) -> tuple[str, str, str]:
    """The fixed text around a fully counted group's score, lost points, roundings, children.

    Such a group is written ``parts[0] + score + ',"lost":' + lost + parts[1] + roundings
    + parts[2] + children + "]}"``: what :func:`node_json` writes with status ``scored``
    and no notes.
    """
    return (
        f'{head},"score":',
        f',"status":"scored"{applicable}{sources},"roundings":[',
        '],"notes":[],"children":[',
    )


def grade_json(grade: Grade) -> str:
    """A grade band as JSON (the unit's grade, or one of the scheme's bands)."""
    return _grade(grade)


def lost_json(wn: int, wd: int, sn: int, sd: int, places: int | None) -> str:
    """``weight - score`` as JSON from their integer pairs."""
    return _number(wn * sd - sn * wd, wd * sd, places)


def _grade(grade: Grade) -> str:
    return (
        f'{{"label":{string(grade.label)},"label_en":{string(grade.label_en)},'
        f'"min":{_dec(grade.min)},"max":{_dec(grade.max)}}}'
    )


def _note(note: Note) -> str:
    params = json.dumps(dict(note.params), ensure_ascii=False, separators=(",", ":"))
    en = ui(f"note.{note.kind}", "en", **note.params)
    zh = ui(f"note.{note.kind}", "zh", **note.params)
    return f'{{"kind":{string(note.kind)},"params":{params},"en":{string(en)},"zh":{string(zh)}}}'


def input_json(name: str, value: str, text: str, source: str, level: str | None) -> str:
    """One entry of ``"inputs"``: *value* is already JSON (a string literal, true, null)."""
    tail = f',"level":{string(level)}}}' if level is not None else "}"
    # a fact's text is new for every unit: quoted, not remembered
    return (
        f'{string(name)}:{{"value":{value},"text":{_quote(text)},"source":{string(source)}{tail}'
    )


def step_json(
    expr: str,
    with_values: str,
    value: str,
    exact: str | None,
    formula: str | None,
    approximate: int = 0,
) -> str:
    """One entry of ``"steps"``: *value* is already JSON.

    *approximate*: for an irrational value, the correct significant digits of *value*.
    """
    # the text with values is new for every unit: quoted, not remembered
    exact_text = f',"exact":"{exact}"' if exact else ""
    formula_text = f',"formula":{string(formula)}' if formula else ""
    approximate_text = f',"approximate":{approximate}' if approximate else ""
    return (
        f'{{"expr":{string(expr)},"with":{_quote(with_values)},"value":{value}'
        f"{exact_text}{formula_text}{approximate_text}}}"
    )


def rounding_json(places: int, mode: str, before: Fraction, after: Fraction) -> str:
    """One entry of ``"roundings"``."""
    return _rounding(
        places, mode, before.numerator, before.denominator, after.numerator, after.denominator
    )


def _rounding(places: int, mode: str, bn: int, bd: int, an: int, ad: int) -> str:
    exact = repeating_text(bn, bd)
    return (
        f'{{"places":{places},"mode":{string(mode)},"before":{_number(bn, bd, None)},'
        f'"after":{_number(an, ad, places)}' + (f',"before_exact":"{exact}"}}' if exact else "}")
    )


def node_head(ident: str, name: str, kind: str, weight: Fraction) -> str:
    """The start of a node, the same for every unit: ``{"id":…,"name":…,"kind":…,"weight":…``."""
    return (
        f'{{"id":{string(ident)},"name":{string(name)},"kind":{string(kind)},'
        f'"weight":{_dec(weight)}'
    )


def sources_json(sources: tuple[tuple[str, str], ...]) -> str:
    """The ``"sources"`` member of a node (``""`` when there are none)."""
    if not sources:
        return ""
    listed = ",".join(f'{{"key":{string(k)},"at":{string(a)}}}' for k, a in sources)
    return f',"sources":[{listed}]'


def node_json(
    *,
    head: str,
    weight: Fraction,
    score: Fraction | None,
    places: int | None,
    status: str,
    applicable: Fraction | None,
    sources: str,
    leaf: str,
    roundings: str,
    notes: str,
    children: str,
) -> str:
    """One node.

    *head* comes from :func:`node_head`, *sources* from :func:`sources_json`, *leaf* is the
    indicator part (``,"target":…,"steps":[…]``) or ``""``.
    """
    if score is None:
        score_text = lost_text = "null"
    else:
        score_text = _dec(score, places)
        lost_text = _lost(weight, score, places)
    applicable_text = (
        f',"applicable_weight":{_dec(applicable)}'
        if applicable is not None and applicable is not weight and applicable != weight
        else ""
    )
    return (
        f'{head},"score":{score_text},"lost":{lost_text},'
        f'"status":{string(status)}{applicable_text}{sources}'
        f'{leaf},"roundings":[{roundings}],"notes":[{notes}],"children":[{children}]}}'
    )


def leaf_json(target: str, actual: str, formula: str | None, inputs: str, steps: str) -> str:
    """The indicator part of a node."""
    formula_text = "null" if formula is None else string(formula)
    return (
        f',"target":{string(target)},"actual":{string(actual)},'
        f'"formula":{formula_text},"inputs":{{{inputs}}},"steps":[{steps}]'
    )


def notes_json(notes: Iterable[Note]) -> str:
    """The ``"notes"`` entries."""
    return ",".join(_note(n) for n in notes)


def _node(node: NodeTrace) -> str:
    leaf = ""
    if node.kind == "indicator":
        inputs = ",".join(
            input_json(i.name, _value(i.value), i.text, i.source, i.level) for i in node.inputs
        )
        steps = ",".join(
            step_json(
                s.expr,
                s.with_values(),
                _value(s.value),
                _exact(s.value),
                s.formula,
                s.approximate,
            )
            for s in node.steps
        )
        leaf = leaf_json(node.target, node.actual, node.formula, inputs, steps)
    return node_json(
        head=node_head(node.id, node.name, node.kind, node.weight),
        weight=node.weight,
        score=node.score,
        places=node.places,
        status=node.status,
        applicable=node.applicable,
        sources=sources_json(node.sources),
        leaf=leaf,
        roundings=",".join(
            rounding_json(r.places, r.mode, r.before, r.after) for r in node.roundings
        ),
        notes=notes_json(node.notes),
        children=",".join(_node(c) for c in node.children),
    )


def _maybe(value: Fraction | None) -> str:
    return "null" if value is None else _dec(value)


def cohort_json(cohort: CohortTrace) -> str:
    """The ``cohort`` member: the cohort's key, its values, the unit's rank."""
    values = []
    for v in cohort.values:
        exact_text = None if v.value is None else _exact(v.value)
        values.append(
            f'{{"name":{string(v.name)},"label":{string(v.label)},"stat":{string(v.stat)},'
            f'"of":{"null" if v.of is None else string(v.of)},'
            f'"where":{"null" if v.where is None else string(v.where)},'
            f'"percentile":{_maybe(v.percentile)},"value":{_maybe(v.value)},'
            + ("" if exact_text is None else f'"exact":{string(exact_text)},')
            + f'"units":{v.units},"unit":{"null" if v.unit is None else string(v.unit)}}}'
        )
    rank = cohort.rank
    if rank is None:
        rank_text = "null"
    else:
        keys = ",".join(
            f'{{"by":{string(k.by)},"order":{string(k.order)},"value":{_maybe(k.value)}}}'
            for k in rank.keys
        )
        tied = ",".join(string(u) for u in rank.tied_with)
        decided = "null" if rank.decided_by is None else string(rank.decided_by)
        more = f',"tied_count":{rank.tied_count}' if rank.tied_count > len(rank.tied_with) else ""
        # Only a scheme that declares a shared mark has "shown": other traces keep their bytes.
        shown = f',"shown":{string(rank.shown)}' if rank.shared_mark else ""
        rank_text = (
            f'{{"position":{rank.position}{shown},"of":{rank.of},"ties":{string(rank.ties)},'
            f'"keys":[{keys}],"tied_with":[{tied}]{more},"decided_by":{decided}}}'
        )
    group = "null" if cohort.cohort is None else string(cohort.cohort)
    # Only a unit left unranked for want of data has "unranked": other traces keep their bytes.
    why = cohort.unranked
    unranked = (
        ""
        if why is None
        else f',"unranked":{{"given":{why.given},"of":{why.of},'
        f'"min_available":{_dec(why.min_available)},'
        f'"en":{string(why.text("en"))},"zh":{string(why.text("zh"))}}}'
    )
    # Only a unit with imputed inputs has "imputed" (likewise).
    imputed = (
        f',"imputed":[{",".join(string(n) for n in cohort.imputed)}]' if cohort.imputed else ""
    )
    return (
        f'{{"cohort":{group},"values":[{",".join(values)}],"rank":{rank_text}{unranked}{imputed}}}'
    )


def document(
    *,
    total: Fraction,
    total_places: int | None,
    maximum: Fraction,
    grade: Grade,
    bands: Iterable[Grade],
    gap: Gap | str | None,
    losses: Iterable[tuple[str, str, Fraction, int | None]] | str,
    provenance: Provenance | str,
    root: str,
    cohort: CohortTrace | None = None,
    grade_text: str | None = None,
    bands_text: str | None = None,
) -> str:
    """The whole compact document; *losses* are (id, name, lost, places), largest first.

    *losses* may also be given already written (the entries of ``"losses"``), and the grade
    and the bands as their JSON (the same for every unit of a scheme). ``cohort`` is written
    only for a unit scored with its cohort (after ``losses``). *provenance* may be given
    already written (:func:`provenance_json`), and so may *gap*.
    """
    if gap is None:
        gap_text = "null"
    elif isinstance(gap, str):
        gap_text = gap
    else:
        improve = ",".join(f'{{"id":{string(i)},"lost":{_dec(lost)}}}' for i, lost in gap.improve)
        gap_text = (
            f'{{"next":{string(gap.label)},"min":{_dec(gap.min)},'
            f'"shortfall":{_dec(gap.shortfall)},"improve":[{improve}]}}'
        )
    loss_text = (
        losses
        if isinstance(losses, str)
        else ",".join(
            f'{{"id":{string(i)},"name":{string(n)},"lost":{_dec(lost, places)}}}'
            for i, n, lost, places in losses
        )
    )
    if bands_text is None:
        bands_text = ",".join(_grade(b) for b in bands)
    if grade_text is None:
        # A scheme without bands (rank-only) grades nothing, unless an override fired.
        grade_text = _grade(grade) if bands_text or grade.label else "null"
    if isinstance(provenance, str):
        provenance_text = provenance
    else:
        p = provenance
        head, middle = provenance_parts(
            p.perfrules, p.scheme_id, p.scheme_version, p.scheme_year, p.scheme_sha256, p.files
        )
        provenance_text = provenance_json(head, middle, p.unit, *p.facts)
    cohort_text = "" if cohort is None else f'"cohort":{cohort_json(cohort)},'
    return (
        f'{{"format":"{FORMAT}","total":{_dec(total, total_places)},'
        f'"max":{_dec(maximum)},"grade":{grade_text},'
        f'"bands":[{bands_text}],"gap":{gap_text},'
        f'"losses":[{loss_text}],'
        f"{cohort_text}"
        f'"provenance":{provenance_text},"root":{root}}}\n'
    )  # one f-string: the tree's text (most of the document) is copied once


def provenance_parts(
    version: str,
    scheme_id: str,
    scheme_version: str,
    year: int | None,
    sha256: str,
    files: tuple[tuple[str, str], ...],
) -> tuple[str, str]:
    """The fixed text of ``"provenance"`` before and after its ``unit`` (once per scheme)."""
    year_text = "null" if year is None else str(year)
    files_text = ",".join(f'{{"path":{string(f)},"sha256":{string(h)}}}' for f, h in files)
    middle = (
        f',"scheme":{{"id":{string(scheme_id)},"version":{string(scheme_version)},'
        f'"year":{year_text},"sha256":{string(sha256)}}},"files":[{files_text}],'
        '"facts":{"path":'
    )
    return f'{{"perfrules":{string(version)},"unit":', middle


def provenance_json(head: str, middle: str, unit: str, path: str | None, sha256: str) -> str:
    """``"provenance"`` from its fixed parts (:func:`provenance_parts`) and the unit's."""
    path_text = "null" if path is None else string(path)
    return f'{head}{string(unit)}{middle}{path_text},"sha256":{string(sha256)}}}}}'


def _counted_leaves(root: NodeTrace) -> Iterable[NodeTrace]:
    """The indicators whose scores reach the total (no ``not_counted`` on or above them)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if any(note.kind == "not_counted" for note in node.notes):
            continue
        if node.kind == "indicator":
            yield node
        stack.extend(reversed(node.children))


def losses_of(root: NodeTrace) -> list[tuple[NodeTrace, Fraction]]:
    """The counted rows of a tree that lost points, the most first, ties by id.

    What the trace JSON's ``"losses"`` lists (the engine writes the same from its record);
    a row shown but not counted loses nothing from the total.
    """
    leaves = [
        (node, node.weight - node.score)
        for node in _counted_leaves(root)
        if node.score is not None
    ]
    return sorted(
        ((node, lost) for node, lost in leaves if lost > 0),
        key=lambda item: (-item[1], item[0].id),
    )


def trace_json(trace: Trace) -> str:
    """The compact ``perfrules.trace/1`` text of *trace*, with a final newline."""
    losses = losses_of(trace.root)
    return document(
        total=trace.total,
        total_places=trace.total_places,
        maximum=trace.max,
        grade=trace.grade,
        bands=trace.bands,
        gap=trace.gap,
        losses=[(n.id, n.name, lost, n.places) for n, lost in losses],
        provenance=trace.provenance,
        root=_node(trace.root),
        cohort=trace.cohort,
    )
