"""Invariants every scheme and every scored unit must satisfy (used by ``perfrules.testing``).

This module does not import hypothesis: the checks work on one scheme and one unit's facts,
and the strategies in ``perfrules.testing`` feed them many.

Static invariants (:func:`check_scheme`): weights add up at every level; grade bands are
ordered, gap-free, overlap-free and cover [0, max]; no value is rounded twice (rounded to
more places first, then to fewer).

Per-unit invariants (:func:`unit_violations`): valid facts score; 0 ≤ score ≤ weight at every
node; each node equals the declared aggregation of its children under the declared rounding;
the grade matches the total (rows declared ``counted = false`` are shown, not added); the same
inputs give the same JSON bytes; the engine agrees with
an independent computation (the reference evaluator, ``Decimal.quantize`` rounding); the
fast path agrees with the traced one; raising a positive indicator's actual value never
lowers its score (and never raises a reverse indicator's); double rounding changes nothing.

Cohort invariants (:func:`cohort_violations`): every cohort value equals its definition
recomputed from the units' facts (the condition read by the reference evaluator); ranks
follow the keys (a unit is ranked below exactly the units better than it on the keys, ties
only where every key is equal, ordinal ranks a permutation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from perfrules._messages import STATISTICS_ZH, Lang, ui
from perfrules._numbers import ROUNDING, format_number, to_fraction
from perfrules.engine import CohortValues, CompiledScheme, compile_scheme, imputed_name
from perfrules.errors import (
    Diagnostic,
    ExpressionError,
    FactsError,
    PerfrulesError,
    RuleFileError,
)
from perfrules.expressions import safe_eval
from perfrules.facts import Facts
from perfrules.model import Scheme
from perfrules.rules import TOTAL, load_scheme
from perfrules.trace import NodeTrace, Result

__all__ = [
    "InvariantError",
    "Violation",
    "as_compiled",
    "assert_invariants",
    "check_scheme",
    "cohort_violations",
    "facts_toml",
    "unit_violations",
]

_WEIGHT_CODES: Final = frozenset({"PR201", "PR202"})
_BAND_CODES: Final = frozenset({"PR210", "PR211", "PR212", "PR213", "PR214", "PR216"})


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant.

    Attributes:
        invariant: ``weights``, ``bands``, ``scheme``, ``scores``, ``bounds``, ``aggregation``,
            ``grade``, ``determinism``, ``exactness``, ``fast_path``, ``monotonic``,
            ``double_rounding``, ``cohort``, ``imputation`` or ``ranking`` (the same word in
            every language: the name the documentation lists it under).
        node: the id of the node concerned, if any.
        message: what is wrong, in plain words (English).
        key: the text of the message in perfrules' message table (``invariant.bounds``), or
            ``None`` for a violation made with an English message alone.
        params: the values the text names (numbers, ids, diagnostics).
    """

    invariant: str
    node: str | None
    message: str
    key: str | None = field(default=None, compare=False)
    params: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, invariant: str, node: str | None, key: str, **params: object) -> Violation:
        """The violation whose message is the table's text *key* filled with *params*."""
        return cls(invariant, node, _say(key, params, "en"), key, params)

    def message_in(self, lang: Lang) -> str:
        """The message in *lang* (in English for a violation without a *key*)."""
        return self.message if self.key is None else _say(self.key, self.params, lang)

    def text(self, lang: Lang = "en") -> str:
        """``[bounds] a: 得分 7.2 超出 [0, 6]``: the invariant, the node and the message."""
        where = f" {self.node}:" if self.node else ""
        return f"[{self.invariant}]{where} {self.message_in(lang)}"

    def __str__(self) -> str:
        """``[bounds] a: score 7.2 is outside [0, 6]``."""
        return self.text("en")


def _say(key: str, params: Mapping[str, object], lang: Lang) -> str:
    """The text *key* in *lang*, each value said in that language too.

    A diagnostic is its code and message (a tuple of them, the first five joined by ``; ``),
    ``None`` is "none", a number is written as perfrules writes numbers, a cohort
    statistic (``stat``) is named in Chinese as the reports name it.
    """
    said: dict[str, object] = {}
    for name, value in params.items():
        if isinstance(value, Diagnostic):
            said[name] = f"{value.code} {value.message(lang)}"
        elif isinstance(value, tuple) and all(isinstance(d, Diagnostic) for d in value):
            said[name] = "; ".join(f"{d.code} {d.message(lang)}" for d in value[:5])
        elif value is None:
            said[name] = ui("case.none", lang)
        elif isinstance(value, Fraction):
            said[name] = format_number(value)
        elif name == "stat" and lang == "zh":
            said[name] = STATISTICS_ZH.get(str(value), value)
        else:
            said[name] = value
    return ui(key, lang, **said)


class InvariantError(PerfrulesError, AssertionError):
    """A scheme or a unit broke invariants; ``facts`` is the counterexample (if any).

    ``str()`` is the text in English; :meth:`text` says it in another language (the
    counterexample stays a facts file).
    """

    def __init__(
        self,
        violations: Iterable[Violation],
        facts: Mapping[str, Any] | None = None,
        *,
        units: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Keep the violations and the facts (or the cohort's units); the text shows both.

        The facts are shown as a facts file, the units as a case's ``[[case.units]]``.
        """
        self.violations = tuple(violations)
        self.facts = facts
        self.units = units
        super().__init__(self.text("en"))

    @property
    def counterexample(self) -> str | None:
        """The counterexample as TOML: the facts file, else the units' ``[[case.units]]``."""
        if self.facts is not None:
            return facts_toml(self.facts)
        if self.units is not None:
            return "\n".join(self._units_lines())
        return None

    def _units_lines(self) -> list[str]:
        lines = []
        for unit in self.units or ():
            lines += ["[[case.units]]", facts_toml(unit, prefix="case.units.")]
        return lines

    def text(self, lang: Lang = "en") -> str:
        """Each violation and the counterexample, in *lang* (``str()`` is ``text("en")``)."""
        lines = [v.text(lang) for v in self.violations]
        if self.facts is not None:
            lines += ["", ui("invariant.counterexample_facts", lang), facts_toml(self.facts)]
        if self.units is not None:
            lines += ["", ui("invariant.counterexample_units", lang), *self._units_lines()]
        return "\n".join(lines)

    def to_dict(self, lang: Lang = "en") -> dict[str, object]:
        """What ``perfrules test --properties --format json`` says of the failure.

        ``message``: the whole text in English; ``failures``: each violation in English;
        ``messages``: the same in *lang*; ``counterexample``: :attr:`counterexample`.
        """
        return {
            "message": str(self),
            "failures": [v.text("en") for v in self.violations],
            "messages": [v.text(lang) for v in self.violations],
            "counterexample": self.counterexample,
        }


def as_compiled(scheme: Scheme | CompiledScheme | str | Path) -> CompiledScheme:
    """A compiled scheme from a path, a scheme or a compiled scheme."""
    if isinstance(scheme, CompiledScheme):
        return scheme
    if isinstance(scheme, str | Path):
        scheme = load_scheme(scheme)
    try:
        return compile_scheme(scheme)
    except RuleFileError as exc:
        raise InvariantError(_static(exc.diagnostics)) from None


def _static(diagnostics: Iterable[Any]) -> list[Violation]:
    out = []
    for d in diagnostics:
        if d.severity != "error":
            continue
        kind = (
            "weights"
            if d.code in _WEIGHT_CODES
            else "bands"
            if d.code in _BAND_CODES
            else "scheme"
        )
        where = f"{d.file}:{d.line}: " if d.file and d.line else ""
        out.append(Violation.of(kind, None, "invariant.diagnostic", where=where, problem=d))
    return out


def check_scheme(scheme: Scheme | CompiledScheme | str | Path) -> list[Violation]:
    """The static invariants of a scheme: weights, bands, double rounding.

    Args:
        scheme: the scheme, compiled or not, or a rule file or pack id to load.

    Returns:
        Every broken invariant (empty when all hold); a rule file with errors gives
        them as ``scheme`` violations.
    """
    if isinstance(scheme, str | Path):
        from perfrules.rules import check_path  # noqa: PLC0415 - only for paths

        loaded, result, diagnostics = check_path(scheme)
        if loaded is None or result is None or not result.ok:
            return _static(diagnostics)
        scheme = loaded
    if not isinstance(scheme, CompiledScheme):
        try:
            scheme = compile_scheme(scheme)
        except RuleFileError as exc:
            return _static(exc.diagnostics)
    out: list[Violation] = []
    nodes = scheme.plan.nodes
    for node in nodes:
        places = node.places
        if places is None:
            continue
        out.extend(
            Violation.of(
                "double_rounding",
                node.id,
                "invariant.rounded_twice",
                child=child.id,
                child_places=child.places,
                parent=node.id,
                places=places,
            )
            for child in (nodes[c] for c in node.children)
            if child.places is not None and child.places > places
        )
    return out


def _rounded(value: Fraction, places: int | None, mode: str) -> Fraction:
    if places is None:
        return value
    with localcontext() as ctx:
        ctx.prec = 300
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return Fraction(
            exact.quantize(Decimal(1).scaleb(-places), rounding=ROUNDING[mode].decimal)
        )


#: A name in a formula's text.
_NAME: Final = re.compile(r"[^\W\d]\w*")


def _cohort_failure(compiled: CompiledScheme, diagnostic: Diagnostic) -> bool:
    """Whether *diagnostic* says the unit's cohort, not its facts, leaves it without a score.

    A cohort with no spread to normalise by (``PR428``), or a division by a value taken
    over the cohort that is 0 there (``PR316`` whose divisor reads cohort values only, as
    ``100 * raw / best`` when every unit's ``raw`` is 0): every unit of that cohort fails
    alike, whatever its own facts.
    """
    if diagnostic.code == "PR428":
        return True
    if diagnostic.code != "PR316":
        return False
    names = set(_NAME.findall(str(diagnostic.params.get("expr", ""))))
    return bool(names) and names <= compiled.plan.cohort_names


def unit_violations(
    scheme: Scheme | CompiledScheme | str | Path,
    facts: Mapping[str, Any] | Facts,
    *,
    monotonic: bool = True,
    cohort: CohortValues | None = None,
    retake: Callable[[Mapping[str, Any]], CohortValues] | None = None,
) -> list[Violation]:
    """Every per-unit invariant that *facts* break under *scheme* (empty when all hold).

    *cohort* is the unit's cohort values, for a scheme that declares them (the values stay
    fixed while the unit's own facts are varied, unless *retake* is given).

    Args:
        scheme: the scheme, compiled or not, or a rule file or pack id to load.
        facts: one unit's facts, valid for the scheme.
        monotonic: also check that a better actual value never lowers a score.
        cohort: the unit's cohort values (see above).
        retake: the cohort values with the unit's facts changed to the argument's, for a
            scheme whose values are taken over scores: they move with the unit's own
            score, so holding them fixed while its facts vary would test a cohort that
            cannot be (``100 × raw / best`` above 100).

    Returns:
        Every broken invariant (scores within their weights, totals that add up, the
        grade of the total, determinism, exactness, the fast path equal to the general
        one, monotony); empty when all hold.
    """
    compiled = as_compiled(scheme)
    try:
        result = compiled.evaluate(facts, cohort=cohort)
    except FactsError as exc:
        if all(_cohort_failure(compiled, d) for d in exc.diagnostics):
            return []  # the cohort, not the unit's facts, has no answer: the rule's own
        return [
            Violation.of("scores", None, "invariant.not_scored", problems=tuple(exc.diagnostics))
        ]
    trace = result.trace
    assert trace is not None  # noqa: S101
    mode = compiled.plan.mode
    out: list[Violation] = []
    out += _bounds_and_aggregation(trace.root, compiled, mode)
    out += _grade(compiled, result)
    again = compiled.evaluate(facts, cohort=cohort)
    if again.trace is None or again.trace.to_json() != trace.to_json():
        out.append(Violation.of("determinism", None, "invariant.determinism"))
    out += _exactness(trace.root, compiled, mode)
    fast = compiled.evaluate(facts, trace=False, cohort=cohort)
    if fast.total_exact != result.total_exact or fast.grade != result.grade:
        out.append(
            Violation.of(
                "fast_path", None, "invariant.fast_path", fast=fast.total, traced=result.total
            )
        )
    out += _double_rounding(trace.root, compiled, mode)
    if monotonic:
        out += _monotonic(compiled, facts, trace.root, cohort, retake)
    return out


def _bounds_and_aggregation(
    root: NodeTrace, compiled: CompiledScheme, mode: str
) -> list[Violation]:
    out = []
    # the root's places are the total's (a row may have the scheme's id)
    places_of = {n.id: n.places for n in compiled.plan.nodes[1:]}
    for node in root.walk():
        if node.score is None:
            continue
        score = node.score
        places = compiled.plan.total_places if node is root else places_of.get(node.id)
        # full marks are the weight rounded to the row's places (2.5 to 0 places: 3)
        if not 0 <= score <= compiled.totals.rounded(node.weight, places):
            out.append(
                Violation.of(
                    "bounds", node.id, "invariant.bounds", score=score, weight=node.weight
                )
            )
        if node.children:
            total = Fraction(0)
            applicable = Fraction(0)
            for child in node.children:
                if any(note.kind == "not_counted" for note in child.notes):
                    continue  # shown, not added
                if child.score is not None:
                    total += child.score
                    applicable += (
                        child.applicable if child.applicable is not None else child.weight
                    )
            if node.kind == "scheme":  # fit and renormalisation, as the totals decide
                total = compiled.totals.finish(total, applicable)
            expected = _rounded(total, places, mode)
            if any(note.kind == "geometric" for note in node.notes):
                index = compiled.plan.by_id[node.id]
                kids = [
                    (child.score, child.weight)
                    for child in node.children
                    if child.score is not None
                    and not any(note.kind == "not_counted" for note in child.notes)
                ]
                expected = compiled.totals.geometric(index, kids)[1]
            if any(note.kind == "reweighted" for note in node.notes):
                counted = [
                    child
                    for child in node.children
                    if not any(note.kind == "not_counted" for note in child.notes)
                ]
                kept = sum((c.weight for c in counted if c.score is not None), Fraction(0))
                every = sum((c.weight for c in counted), Fraction(0))
                taken = sum((c.score for c in counted if c.score is not None), Fraction(0))
                expected = _rounded(taken * every / kept, places, mode)
            if expected != score:
                out.append(
                    Violation.of(
                        "aggregation",
                        node.id,
                        "invariant.aggregation",
                        score=score,
                        expected=expected,
                    )
                )
    return out


def _grade(compiled: CompiledScheme, result: Result) -> list[Violation]:
    trace = result.trace
    assert trace is not None  # noqa: S101
    if any(note.kind == "grade_override" for note in trace.root.notes):
        return []  # a declared override replaces the band on purpose
    total = result.total_exact
    band = compiled.grade_for(total)
    if band.label != result.grade.label:
        return [
            Violation.of(
                "grade",
                None,
                "invariant.grade",
                total=total,
                grade=result.grade.label,
                band=band.label,
            )
        ]
    return []


def _exactness(root: NodeTrace, compiled: CompiledScheme, mode: str) -> list[Violation]:
    out = []
    nodes = {n.id: n for n in compiled.plan.nodes}
    for node in root.leaves():
        if node.status != "scored" or node.score is None:
            continue
        leaf = nodes[node.id].leaf
        assert leaf is not None  # noqa: S101
        names: dict[str, Fraction | bool] = {
            i.name: i.value for i in node.inputs if i.value is not None
        }
        names["weight"] = node.weight
        places = nodes[node.id].places
        clamped = any(n.kind == "clamped" for n in node.notes)
        try:
            value = leaf.expression.evaluate_reference(names)
        except ExpressionError as exc:
            if exc.code != "PR324" or places is None:
                raise
            # Irrational (ln, sqrt, ...): its rounding decided from bounds, which
            # tests/test_real.py holds to a 300-digit reference in every mode.
            value = leaf.expression.rounded(names, places, mode)
        if isinstance(value, bool):  # pragma: no cover - indicator formulas give numbers
            continue
        if clamped:
            value = min(max(value, Fraction(0)), node.weight)
        expected = _rounded(value, places, mode)
        if expected != node.score:
            out.append(
                Violation.of(
                    "exactness",
                    node.id,
                    "invariant.exactness",
                    score=node.score,
                    expected=expected,
                )
            )
    return out


def _double_rounding(root: NodeTrace, compiled: CompiledScheme, mode: str) -> list[Violation]:
    out = []
    places_of = {n.id: n.places for n in compiled.plan.nodes[1:]}  # rows (not the root)
    for node in root.walk():
        places = compiled.plan.total_places if node is root else places_of.get(node.id)
        if places is None or not node.children or node.score is None:
            continue
        finer = [c for c in node.children if (places_of.get(c.id) or 0) > places and c.roundings]
        if not finer:
            continue
        once = sum(
            (
                (c.roundings[0].before if c in finer else c.score) or Fraction(0)
                for c in node.children
            ),
            Fraction(0),
        )
        direct = _rounded(once, places, mode)
        if direct != node.score:
            out.append(
                Violation.of(
                    "double_rounding",
                    node.id,
                    "invariant.double_rounding",
                    score=node.score,
                    direct=direct,
                )
            )
    return out


def _monotonic(
    compiled: CompiledScheme,
    facts: Mapping[str, Any] | Facts,
    root: NodeTrace,
    cohort: CohortValues | None = None,
    retake: Callable[[Mapping[str, Any]], CohortValues] | None = None,
) -> list[Violation]:
    out = []
    data = _plain(facts)
    for index in compiled.plan.leaves:
        node = compiled.plan.nodes[index]
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        if leaf.direction not in ("positive", "reverse") or leaf.show is None:
            continue
        own = data["indicators"].get(node.id)
        if not isinstance(own, dict) or leaf.show not in own:
            continue
        try:
            value = to_fraction(_value_of(own[leaf.show]))
        except (ValueError, TypeError):
            continue
        before = root.find(node.id)
        if before is None or before.score is None or before.status != "scored":
            continue
        step = max(abs(value) / 10, Fraction(1, 100))
        raised = json.loads(json.dumps(data, default=str))
        raised["indicators"][node.id][leaf.show] = format_number(value + step)
        try:
            values = cohort if retake is None else retake(raised)
            after = compiled.evaluate(raised, trace=False, cohort=values).scores.get(node.id)
        except FactsError as exc:
            out.append(
                Violation.of(
                    "monotonic",
                    node.id,
                    "invariant.monotonic_fails",
                    fact=leaf.show,
                    before=value,
                    after=value + step,
                    problems=tuple(exc.diagnostics),
                )
            )
            continue
        if after is None:
            continue
        new = Fraction(after)
        worse = new < before.score if leaf.direction == "positive" else new > before.score
        if worse:
            out.append(
                Violation.of(
                    "monotonic",
                    node.id,
                    f"invariant.monotonic_{leaf.direction}",
                    fact=leaf.show,
                    before=value,
                    after=value + step,
                    old=before.score,
                    new=new,
                )
            )
    return out


def cohort_violations(
    scheme: Scheme | CompiledScheme | str | Path,
    units: Sequence[Mapping[str, Any]],
    results: Sequence[Result | FactsError] | None = None,
) -> list[Violation]:
    """Every cohort invariant *units* (scored together) break; empty when all hold.

    *results* are ``evaluate_cohort(units)`` when already computed. The values are recomputed
    from the facts here, without the engine's reductions; each unit's ``unit`` names it.
    Meant for valid facts: every unit gives its cohort and the facts values are taken over.
    """
    compiled = as_compiled(scheme)
    if results is None:
        results = compiled.evaluate_cohort(units)
    out: list[Violation] = []
    rules = compiled.plan.cohort_rules  # [cohort.values] and those normalising inputs take
    names = [_unit_of(u, n) for n, u in enumerate(units)]
    by_cohort: dict[str | None, list[int]] = {}
    for position, result in enumerate(results):
        if not isinstance(result, FactsError) and result.cohort is not None:
            by_cohort.setdefault(result.cohort.cohort, []).append(position)
    for cohort_key, members in by_cohort.items():
        first = results[members[0]]
        assert not isinstance(first, FactsError)  # noqa: S101
        assert first.cohort is not None  # noqa: S101
        got = {v.name: v for v in first.cohort.values}
        picked_from = [p for p in range(len(units)) if _key_of(compiled, units[p]) == cohort_key]
        for name, rule in rules.items():
            over_scores = compiled.plan.stages.value_pass(name) is not None
            if over_scores and any(isinstance(results[p], FactsError) for p in picked_from):
                continue  # a unit failing a later pass may have counted in an earlier one
            values: list[Fraction] = []
            for p in picked_from:
                shared = _plain(units[p])["shared"]
                if rule.where is not None and not _holds(rule.where, shared):
                    continue
                if rule.of is None:
                    values.append(Fraction(1))
                elif over_scores:  # each unit's own score, as the engine computed it
                    score = _score_of(compiled, results[p], rule.of)
                    if score is not None:
                        values.append(score)
                elif rule.of in shared:
                    values.append(to_fraction(_value_of(shared[rule.of]), strict=True))
            if rule.stat in ("rank", "percentrank"):  # each unit's own
                out += _places_violations(name, rule, values, members, units, results)
                continue
            want = _statistic(rule.stat, values, rule.percentile)
            value = got[name].value if name in got else None
            if value != want or (name in got and got[name].units != len(values)):
                out.append(
                    Violation.of(
                        "cohort",
                        name,
                        "invariant.cohort_value",
                        cohort=cohort_key or "-",
                        stat=rule.stat,
                        count=len(values),
                        want=want,
                        got=value,
                    )
                )
    out += _imputation_violations(compiled, units, results, by_cohort)
    out += _rank_violations(compiled, units, results, names)
    return out


def _score_of(compiled: CompiledScheme, result: Result | FactsError, of: str) -> Fraction | None:
    """A scored unit's exact total (``of = "total"``) or score of a group or indicator."""
    assert not isinstance(result, FactsError)  # noqa: S101 - failures are left out above
    return result.total_exact if of == TOTAL else compiled.exact_score(result, of)


def _imputation_violations(
    compiled: CompiledScheme,
    units: Sequence[Mapping[str, Any]],
    results: Sequence[Result | FactsError],
    by_cohort: Mapping[str | None, list[int]],
) -> list[Violation]:
    """Each imputed value a scored unit lists is the mean or median recomputed here.

    Over the units of its cohort that give the fact (a readable number, not a marker),
    those of its own group when the group gives it, else all of them.
    """
    out: list[Violation] = []
    markers = {m.strip().lower() for m in compiled.scheme.defaults.missing_markers}
    for name, (stat, by) in compiled.plan.imputations.items():
        for cohort_key, members in by_cohort.items():
            picked = [p for p in range(len(units)) if _key_of(compiled, units[p]) == cohort_key]
            given: list[tuple[Fraction, str | None]] = []
            for p in picked:
                shared = _plain(units[p])["shared"]
                value = _given_number(shared.get(name), markers)
                if value is not None:
                    group = shared.get(by) if by is not None else None
                    given.append((value, None if group is None else str(group).strip()))
            for position in members:
                result = results[position]
                assert not isinstance(result, FactsError)  # noqa: S101
                assert result.cohort is not None  # noqa: S101
                shared = _plain(units[position])["shared"]
                mine = None if by is None or shared.get(by) is None else str(shared[by]).strip()
                group = [v for v, g in given if mine and g == mine]
                want = _statistic(stat, group or [v for v, _ in given], None)
                got = next(
                    (v.value for v in result.cohort.values if v.name == imputed_name(name)), None
                )
                if got != want:
                    out.append(
                        Violation.of(
                            "imputation",
                            name,
                            "invariant.imputation",
                            unit=_unit_of(units[position], position),
                            stat=stat,
                            fact=name,
                            want=want,
                            got=got,
                        )
                    )
    return out


def _given_number(raw: Any, markers: set[str]) -> Fraction | None:
    """A shared fact as a number, or ``None`` when absent, a marker or not a number."""
    if raw is None:
        return None
    raw = _value_of(raw)
    if isinstance(raw, str) and raw.strip().lower() in markers:
        return None
    try:
        return to_fraction(raw, strict=True)
    except (ValueError, TypeError, ArithmeticError):
        return None


def _places_violations(
    name: str,
    rule: Any,
    values: list[Fraction],
    members: list[int],
    units: Sequence[Mapping[str, Any]],
    results: Sequence[Result | FactsError],
) -> list[Violation]:
    """Each unit's own rank or percentrank, counted again from the cohort's values."""
    out = []
    for position in members:
        raw = _plain(units[position])["shared"].get(rule.of)
        result = results[position]
        if raw is None or isinstance(result, FactsError) or result.cohort is None:
            continue
        own = to_fraction(_value_of(raw), strict=True)
        below = sum(1 for v in values if v < own)
        above = sum(1 for v in values if v > own)
        equal = len(values) - below - above
        before = below if rule.order == "asc" else above
        if rule.stat == "rank":  # the average of the ranks the equal values span
            want = sum((Fraction(r) for r in range(before + 1, before + equal + 1)), Fraction(0))
            want /= equal
        else:
            want = Fraction(1) if len(values) == 1 else Fraction(before, len(values) - 1)
        got = next((v.value for v in result.cohort.values if v.name == name), None)
        if got != want:
            out.append(
                Violation.of(
                    "cohort",
                    name,
                    "invariant.place",
                    unit=_unit_of(units[position], position),
                    stat=rule.stat,
                    value=own,
                    count=len(values),
                    want=want,
                    got=got,
                )
            )
    return out


def _unit_of(facts: Mapping[str, Any], position: int) -> str:
    name = facts.get("unit") if isinstance(facts, Mapping) else None
    return str(name) if name else f"#{position + 1}"


def _key_of(compiled: CompiledScheme, facts: Mapping[str, Any]) -> str | None:
    cohort = compiled.scheme.cohort
    if cohort is None or cohort.group_by is None:
        return None
    raw = _plain(facts)["shared"].get(cohort.group_by)
    return None if raw is None else str(raw).strip()


def _holds(condition: str, shared: Mapping[str, Any]) -> bool:
    names: dict[str, Any] = {}
    for name, raw in shared.items():
        value = _value_of(raw)
        if isinstance(value, bool):
            names[name] = value
        else:
            try:
                names[name] = to_fraction(value, strict=True)
            except (ValueError, TypeError):
                continue
    return safe_eval(condition, names) is True


def _statistic(stat: str, values: list[Fraction], percentile: Any) -> Fraction | None:
    if stat == "count":
        return Fraction(len(values))
    if not values:
        return None
    ordered = sorted(values)
    if stat == "min":
        return ordered[0]
    if stat == "max":
        return ordered[-1]
    if stat == "sum":
        return sum(values, Fraction(0))
    if stat == "mean":
        return sum(values, Fraction(0)) / len(values)
    if stat == "variance":  # the sample's, from the deviations (the engine sums squares)
        if len(values) < 2:
            return None
        mean = sum(values, Fraction(0)) / len(values)
        return sum(((v - mean) ** 2 for v in values), Fraction(0)) / (len(values) - 1)
    share = Fraction(50) if stat == "median" else Fraction(percentile)
    # PERCENTILE.INC: rank (n - 1) × p, linear between the two values around it
    rank_ = (len(ordered) - 1) * share / 100
    low = rank_.numerator // rank_.denominator
    if low + 1 >= len(ordered):
        return ordered[low]
    return ordered[low] + (rank_ - low) * (ordered[low + 1] - ordered[low])


def _rank_violations(
    compiled: CompiledScheme,
    units: Sequence[Mapping[str, Any]],
    results: Sequence[Result | FactsError],
    names: list[str],
) -> list[Violation]:
    ranking = compiled.scheme.ranking
    if ranking is None:
        return []
    out: list[Violation] = []
    groups: dict[str | None, list[tuple[int, tuple[Any, ...]]]] = {}
    for position, result in enumerate(results):
        if isinstance(result, FactsError) or result.rank is None:
            continue
        shared = _plain(units[position])["shared"]
        parts: list[Any] = []
        for rank_key in ranking.keys:
            if rank_key.by == "total":
                value: Fraction | None = result.total_exact
            elif rank_key.by in compiled.plan.by_id:
                score = result.scores.get(rank_key.by)
                value = None if score is None else Fraction(score)
            else:
                raw = shared.get(rank_key.by)
                value = None if raw is None else to_fraction(_value_of(raw), strict=True)
            # smaller is better: missing last, desc negated
            parts.append(
                (1, 0) if value is None else (0, -value if rank_key.order == "desc" else value)
            )
        cohort = result.cohort.cohort if result.cohort is not None else None
        groups.setdefault(cohort, []).append((position, tuple(parts)))
    ranks = {p: r.rank for p, r in enumerate(results) if not isinstance(r, FactsError) and r.rank}
    for members in groups.values():
        positions = []
        for position, key in members:
            rank = ranks[position]
            better = [k for _, k in members if k < key]
            equal = {names[p] for p, k in members if k == key and p != position}
            expected = {
                "competition": 1 + len(better),
                "dense": 1 + len(set(better)),
            }.get(ranking.ties)
            if expected is not None and rank.position != expected:
                out.append(
                    Violation.of(
                        "ranking",
                        names[position],
                        "invariant.rank",
                        position=rank.position,
                        better=len(better),
                        ties=ranking.ties,
                        expected=expected,
                    )
                )
            if ranking.ties == "ordinal":
                above = [p for p, k in members if k < key]
                below = [p for p, k in members if k > key]
                mine = rank.position
                if any(ranks[p].position > mine for p in above) or any(
                    ranks[p].position < mine for p in below
                ):
                    out.append(Violation.of("ranking", names[position], "invariant.ordinal"))
            listed = set(rank.tied_with)
            shortened = rank.tied_count > len(rank.tied_with)
            if (listed != equal and not shortened) or (
                shortened and (not listed <= equal or rank.tied_count != len(equal))
            ):
                out.append(
                    Violation.of(
                        "ranking",
                        names[position],
                        "invariant.tied",
                        listed=str(sorted(rank.tied_with)),
                        equal=str(sorted(equal)),
                    )
                )
            if rank.of != len(members):
                out.append(
                    Violation.of(
                        "ranking",
                        names[position],
                        "invariant.ranked_of",
                        of=rank.of,
                        count=len(members),
                    )
                )
            positions.append(rank.position)
        if ranking.ties == "ordinal" and sorted(positions) != list(range(1, len(members) + 1)):
            out.append(
                Violation.of(
                    "ranking",
                    None,
                    "invariant.ordinal_ranks",
                    positions=str(sorted(positions)),
                    count=len(members),
                )
            )
    return out


def _value_of(raw: Any) -> Any:
    return raw.get("value") if isinstance(raw, dict) else raw


def _plain(facts: Mapping[str, Any] | Facts) -> dict[str, Any]:
    if isinstance(facts, Facts):
        return {
            "indicators": dict(facts.indicators),
            "shared": dict(facts.shared),
            "unit": facts.unit,
        }
    if "indicators" in facts or "shared" in facts:
        return {
            "indicators": dict(facts.get("indicators", {})),
            "shared": dict(facts.get("shared", {})),
        }
    return {"indicators": dict(facts), "shared": {}}


def assert_invariants(
    scheme: Scheme | CompiledScheme | str | Path, facts: Mapping[str, Any] | Facts
) -> None:
    """Raise :class:`InvariantError` (an ``AssertionError``) if *facts* break any invariant.

    The invariants of :func:`unit_violations`, for a test of one unit's facts.

    Raises:
        InvariantError: the violations, with *facts* as a facts file.
    """
    violations = unit_violations(scheme, facts)
    if violations:
        raise InvariantError(violations, _plain(facts))


def _toml_key(key: str) -> str:
    if key and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in key):
        return key
    return json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, Fraction):
        return json.dumps(format_number(value))
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    return json.dumps(str(value), ensure_ascii=False)


def facts_toml(facts: Mapping[str, Any], *, prefix: str = "") -> str:
    """A facts file (TOML) for *facts*, ready to paste into a case.

    *prefix* puts the tables under another (``case.units.`` after a ``[[case.units]]``).
    """
    data = _plain(facts) if not isinstance(facts, dict) or "indicators" not in facts else facts
    lines = []
    unit = facts.get("unit") if isinstance(facts, Mapping) else None
    if unit:
        lines += [f"unit = {_toml_value(unit)}", ""]
    shared = data.get("shared") or {}
    if shared:
        lines.append(f"[{prefix}shared]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in shared.items()]
        lines.append("")
    for indicator, values in (data.get("indicators") or {}).items():
        lines.append(f"[{prefix}indicators.{_toml_key(indicator)}]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)
