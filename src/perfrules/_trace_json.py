"""Writing ``perfrules.trace/1``: the one serializer of a trace.

The compact text is written directly, fragment by fragment (numbers are formatted once per
distinct value by ``_numbers``; a trace repeats the same few: weights, rates, 0, 1). Indented JSON
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
from perfrules._numbers import format_number, is_terminating
from perfrules.expressions import Step
from perfrules.expressions._functions import Interval

if TYPE_CHECKING:
    from perfrules.trace import Grade, NodeTrace, Note, Trace

__all__ = ["FORMAT", "trace_json"]

#: Identifier and version of the JSON trace format.
FORMAT: Final = "perfrules.trace/1"

_CACHE_SIZE: Final = 8192
_STRINGS: dict[str, str] = {}
_quote: Callable[[str], str] = encode_basestring


def string(text: str) -> str:
    """A JSON string literal (UTF-8 kept), remembered for the texts a scheme repeats."""
    quoted = _STRINGS.get(text)
    if quoted is None:
        quoted = _quote(text)
        if len(text) < 200:
            if len(_STRINGS) >= _CACHE_SIZE:
                _STRINGS.clear()  # a cache, not a store: starting again is cheap and bounded
            _STRINGS[text] = quoted
    return quoted


def _dec(value: Fraction, places: int | None = None) -> str:
    return string(format_number(value, places))


def _value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, Fraction):
        return _dec(value)
    if isinstance(value, Interval):
        return string(value.text)
    return string(str(value))


def _exact(value: object) -> str | None:
    if isinstance(value, Fraction) and not is_terminating(value):
        return f"{value.numerator}/{value.denominator}"
    return None


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


def _steps(steps: Iterable[Step]) -> str:
    out = []
    for s in steps:
        text = (
            f'{{"expr":{string(s.expr)},"with":{string(s.with_values())},"value":{_value(s.value)}'
        )
        exact = _exact(s.value)
        if exact:
            text += f',"exact":"{exact}"'
        if s.formula:
            text += f',"formula":{string(s.formula)}'
        out.append(text + "}")
    return ",".join(out)


def _node(node: NodeTrace) -> str:
    score = node.score
    lost = None if score is None else node.weight - score
    head = (
        f'{{"id":{string(node.id)},"name":{string(node.name)},"kind":{string(node.kind)},'
        f'"weight":{_dec(node.weight)},'
        f'"score":{"null" if score is None else _dec(score, node.places)},'
        f'"lost":{"null" if lost is None else _dec(lost, node.places)},'
        f'"status":{string(node.status)}'
    )
    parts = [head]
    if node.applicable is not None and node.applicable != node.weight:
        parts.append(f',"applicable_weight":{_dec(node.applicable)}')
    if node.sources:
        sources = ",".join(f'{{"key":{string(k)},"at":{string(a)}}}' for k, a in node.sources)
        parts.append(f',"sources":[{sources}]')
    if node.kind == "indicator":
        inputs = ",".join(
            f'{string(i.name)}:{{"value":{_value(i.value)},"text":{string(i.text)},'
            f'"source":{string(i.source)}'
            + (f',"level":{string(i.level)}}}' if i.level is not None else "}")
            for i in node.inputs
        )
        formula = "null" if node.formula is None else string(node.formula)
        parts.append(
            f',"target":{string(node.target)},"actual":{string(node.actual)},'
            f'"formula":{formula},"inputs":{{{inputs}}},"steps":[{_steps(node.steps)}]'
        )
    roundings = []
    for r in node.roundings:
        text = (
            f'{{"places":{r.places},"mode":{string(r.mode)},"before":{_dec(r.before)},'
            f'"after":{_dec(r.after, r.places)}'
        )
        exact = _exact(r.before)
        roundings.append(text + (f',"before_exact":"{exact}"}}' if exact else "}"))
    parts.append(f',"roundings":[{",".join(roundings)}]')
    parts.append(f',"notes":[{",".join(_note(n) for n in node.notes)}]')
    parts.append(f',"children":[{",".join(_node(c) for c in node.children)}]}}')
    return "".join(parts)


def trace_json(trace: Trace) -> str:
    """The compact ``perfrules.trace/1`` text of *trace*, with a final newline."""
    leaves = [
        (node, node.weight - node.score) for node in trace.root.leaves() if node.score is not None
    ]
    losses = sorted(
        ((node, lost) for node, lost in leaves if lost), key=lambda item: (-item[1], item[0].id)
    )
    gap = trace.gap
    if gap is None:
        gap_text = "null"
    else:
        improve = ",".join(f'{{"id":{string(i)},"lost":{_dec(lost)}}}' for i, lost in gap.improve)
        gap_text = (
            f'{{"next":{string(gap.label)},"min":{_dec(gap.min)},'
            f'"shortfall":{_dec(gap.shortfall)},"improve":[{improve}]}}'
        )
    loss_text = ",".join(
        f'{{"id":{string(n.id)},"name":{string(n.name)},"lost":{_dec(lost, n.places)}}}'
        for n, lost in losses
    )
    p = trace.provenance
    year = "null" if p.scheme_year is None else str(p.scheme_year)
    files = ",".join(f'{{"path":{string(f)},"sha256":{string(h)}}}' for f, h in p.files)
    facts_path, facts_hash = p.facts
    facts = "null" if facts_path is None else string(facts_path)
    provenance = (
        f'{{"perfrules":{string(p.perfrules)},"unit":{string(p.unit)},'
        f'"scheme":{{"id":{string(p.scheme_id)},"version":{string(p.scheme_version)},'
        f'"year":{year},"sha256":{string(p.scheme_sha256)}}},"files":[{files}],'
        f'"facts":{{"path":{facts},"sha256":{string(facts_hash)}}}}}'
    )
    return (
        f'{{"format":"{FORMAT}","total":{_dec(trace.total, trace.total_places)},'
        f'"max":{_dec(trace.max)},"grade":{_grade(trace.grade)},'
        f'"bands":[{",".join(_grade(b) for b in trace.bands)}],"gap":{gap_text},'
        f'"losses":[{loss_text}],"provenance":{provenance},"root":{_node(trace.root)}}}\n'
    )
