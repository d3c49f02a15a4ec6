"""Scoring: a compiled scheme × one unit's facts → a Result with its Trace. No I/O here.

A :class:`CompiledScheme` is immutable and holds no per-call state, so one instance can
score many units from many threads at once.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Protocol, TypeGuard

from perfrules._compile import Leaf, Node, Plan, build_plan, check_scheme
from perfrules._loader import Sections, read_document
from perfrules._numbers import (
    NumberFormatError,
    exact_sum,
    format_number,
    is_terminating,
    normalise_text,
    parse_number,
    round_fraction,
    to_decimal,
    to_fraction,
)
from perfrules.errors import Diagnostic, ExpressionError, FactsError, RuleFileError
from perfrules.expressions import Step, Value
from perfrules.model import Scheme
from perfrules.trace import (
    Gap,
    Grade,
    InputValue,
    NodeTrace,
    Note,
    Provenance,
    Result,
    RoundingStep,
    Trace,
)

__all__ = ["CompiledScheme", "Facts", "compile_scheme", "load_facts"]

_NA_WORDS: Final = frozenset({"n/a", "na", "不适用", "不涉及", "无此项"})
_TRUE_WORDS: Final = frozenset({"true", "yes", "y", "是", "有", "✓", "√", "1", "符合", "满足"})
_FALSE_WORDS: Final = frozenset(
    {"false", "no", "n", "否", "无", "×", "✗", "0", "不符合", "不满足"}
)
_RESERVED_FACTS: Final = frozenset({"override", "na", "note"})
_FACT_TABLE_KEYS: Final = frozenset({"value", "text", "level", "share", "note"})


def _version() -> str:
    try:
        return metadata.version("perfrules")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


VERSION: Final = _version()


class Locator(Protocol):
    """Where values of a facts file are: a TOML source map or a spreadsheet's cells."""

    def position(self, path: Sequence[str | int]) -> tuple[int, int]:
        """Line (or row) and column of *path*, or of its nearest located ancestor."""

    def line_text(self, line: int) -> str | None:
        """The text of a line (or row), for display."""


@dataclass(frozen=True)
class Facts:
    """One unit's facts: per-indicator values, shared values, and where they were read from.

    Build one with :func:`load_facts` or :meth:`from_mapping`.
    """

    indicators: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    shared: Mapping[str, Any] = field(default_factory=dict)
    unit: str = ""
    file: str | None = None
    source: Locator | None = None
    sha256: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, unit: str = "") -> Facts:
        """Facts from plain data.

        Either ``{"indicators": {id: {name: value}}, "shared": {...}, "unit": "..."}``, or
        simply ``{id: {name: value}}``.
        """
        if "indicators" in data or "shared" in data:
            indicators = data.get("indicators", {})
            shared = data.get("shared", {})
            unit = str(data.get("unit", unit))
        else:
            indicators, shared = data, {}
        return cls(indicators=indicators, shared=shared, unit=unit)

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the facts: of the file's bytes, or of the data's canonical JSON."""
        if self.sha256:
            return self.sha256
        canonical = json.dumps(
            {"indicators": self.indicators, "shared": self.shared, "unit": self.unit},
            ensure_ascii=False,
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def position(self, path: tuple[str | int, ...]) -> tuple[str | None, int, int, str | None]:
        """File, line, column and source line of a key path in the facts file."""
        if self.source is None:
            return self.file, 0, 0, None
        line, column = self.source.position(path)
        return self.file, line, column, self.source.line_text(line)


def load_facts(path: str | Path) -> Facts:
    """Read a facts file (TOML or JSON).

    The file has optional ``unit`` and ``year`` keys, an optional ``[shared]`` table of
    facts every indicator can read, and ``[indicators.ID]`` tables.

    Raises:
        FactsError: the file cannot be read or is not a table of that shape.
    """
    diagnostics: list[Diagnostic] = []
    loaded = read_document(path, diagnostics)
    if loaded is None:
        raise FactsError(diagnostics)
    document, source_map, digest = loaded
    name = str(path)
    for key, value in document.items():
        if key in ("unit", "year", "note"):
            continue
        if key in ("indicators", "shared"):
            if not isinstance(value, Mapping):
                line, column = source_map.position((key,))
                diagnostics.append(
                    Diagnostic(
                        "PR410",
                        (key,),
                        {"got": type(value).__name__},
                        file=name,
                        line=line,
                        column=column,
                    )
                )
            continue
        line, column = source_map.position((key,))
        suggestion = difflib.get_close_matches(key, ["unit", "year", "shared", "indicators"], n=1)
        diagnostics.append(
            Diagnostic(
                "PR101",
                (key,),
                {"key": key, "table": "(top)", "suggestion": suggestion[0] if suggestion else ""},
                "did_you_mean" if suggestion else None,
                file=name,
                line=line,
                column=column,
                excerpt=source_map.line_text(line),
            )
        )
    if diagnostics:
        raise FactsError(diagnostics)
    return Facts(
        indicators=document.get("indicators", {}),
        shared=document.get("shared", {}),
        unit=str(document.get("unit", "")),
        file=name,
        source=source_map,
        sha256=digest,
    )


class _Missing:
    pass


class _NotApplicable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


_MISSING: Final = _Missing()
_NOTHING: Final[frozenset[str]] = frozenset()
_DECIMAL_ZERO: Final = Decimal(0)
# Exact Decimal arithmetic: anything that would have to round raises instead.
_EXACT: Final = Context(
    prec=80, Emax=10**6, Emin=-(10**6), traps=[Inexact, DivisionByZero, InvalidOperation, Overflow]
)
_ROUNDING: Final = Context(prec=200, traps=[InvalidOperation, Overflow])
_DECIMAL_MODES: Final = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
}


@dataclass(frozen=True, slots=True)
class _FastLeaf:
    index: int
    id: str
    weight: Decimal | None
    needs: tuple[str, ...]
    kinds: tuple[str, ...]
    params: dict[str, Decimal | bool]
    target: Decimal | None
    leaf: Leaf
    places: int | None


@functools.lru_cache(maxsize=4096)
def _decimal_text(text: str) -> Decimal | None:
    value = _number_text(text)
    if isinstance(value, Fraction) and is_terminating(value):
        return to_decimal(value)
    return None


def _decimal_fact(raw: object) -> Decimal | None:
    """A plain number fact as an exact Decimal, or None to take the full path."""
    if isinstance(raw, str):
        return _decimal_text(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite() or raw.adjusted() >= 30:
            return None
        _, digits, exponent = raw.as_tuple()
        if len(digits) > 30 or not isinstance(exponent, int) or exponent < -30:
            return None
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) < 10**30:
        return Decimal(raw)
    return None


_EMPTY: Final[Mapping[str, Any]] = {}
_NA_MARK: Final = _NotApplicable("")
_FAST_TYPES: Final = frozenset({str, Decimal, int})


@functools.lru_cache(maxsize=4096)
def _number_text(text: str) -> Fraction | _NotApplicable | None:
    """A number written as text, cached: facts repeat the same few strings ("80%")."""
    if normalise_text(text).strip().lower() in _NA_WORDS:
        return _NA_MARK
    try:
        return parse_number(text).value
    except NumberFormatError:
        return None


def _fast_number(raw: str | Decimal | int) -> Fraction | _NotApplicable | None:
    """The common case of a plain number fact; ``None`` sends it down the slow path."""
    if isinstance(raw, str):
        return _number_text(raw)
    try:
        return to_fraction(raw)
    except NumberFormatError:
        return None


@dataclass
class _Unit:
    """Per-call state while scoring one unit."""

    facts: Facts
    trace: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def problem(
        self,
        code: str,
        path: tuple[str | int, ...],
        params: Mapping[str, object],
        hint: str | None = None,
    ) -> None:
        file, line, column, excerpt = self.facts.position(path)
        self.diagnostics.append(
            Diagnostic(
                code, path, params, hint, file=file, line=line, column=column, excerpt=excerpt
            )
        )


@dataclass
class _Score:
    score: Fraction | None
    status: str
    applicable: Fraction
    inputs: tuple[InputValue, ...] = ()
    steps: tuple[Step, ...] = ()
    roundings: tuple[RoundingStep, ...] = ()
    notes: tuple[Note, ...] = ()
    actual: str = ""


class CompiledScheme:
    """A scheme ready to score units: compile once, evaluate many times, from any thread."""

    def __init__(self, plan: Plan) -> None:
        """Wrap a plan (use :func:`compile_scheme`)."""
        self.plan = plan
        self.scheme: Scheme = plan.scheme
        inputs = plan.scheme.inputs
        self._types = {name: declared.type for name, declared in inputs.items()}
        self._scales = {
            name: plan.scheme.scales[declared.scale]
            for name, declared in inputs.items()
            if declared.type == "level" and declared.scale in plan.scheme.scales
        }
        self._indicator_ids = [plan.nodes[i].id for i in plan.leaves]
        self._allowed: dict[int, frozenset[str]] = {}
        for index in plan.leaves:
            leaf = plan.nodes[index].leaf
            assert leaf is not None  # noqa: S101
            self._allowed[index] = frozenset(leaf.needs) | _RESERVED_FACTS | self._types.keys()
        self._prepare_fast_path()
        self._weight_inputs = {
            index: InputValue(
                "weight",
                plan.nodes[index].weight,
                format_number(plan.nodes[index].weight),
                "weight",
            )
            for index in plan.leaves
        }

    @property
    def id(self) -> str:
        """The scheme id."""
        return self.plan.scheme.scheme.id

    @property
    def sha256(self) -> str:
        """Content hash of the scheme (canonical JSON, independent of layout and comments)."""
        return self.plan.sha256

    def evaluate(self, facts: Facts | Mapping[str, Any], *, trace: bool = True) -> Result:
        """Score one unit.

        Args:
            facts: a :class:`Facts` (from :func:`load_facts`) or plain data.
            trace: build the full explanation (set False for fast batch scoring).

        Raises:
            FactsError: every problem with the facts at once (missing or malformed values,
                a formula that fails on them, a score outside its weight).
        """
        if not isinstance(facts, Facts):
            facts = Facts.from_mapping(facts)
        if not trace:
            fast = self._evaluate_decimal(facts)
            if fast is not None:
                return fast
        unit = _Unit(facts, trace)
        self._check_facts_shape(unit)
        plan = self.plan
        scores: dict[int, _Score] = {}
        for index in plan.leaves:
            scores[index] = self._score_leaf(plan.nodes[index], unit)
        for index in plan.post_order:
            node = plan.nodes[index]
            if node.kind != "indicator":
                scores[index] = self._aggregate(node, scores, unit)
        override = self._override_grade(unit) if plan.overrides else None
        if unit.diagnostics:
            raise FactsError(unit.diagnostics)
        return self._result(scores, facts, trace, override)

    def _override_grade(self, unit: _Unit) -> tuple[str, str, str] | None:
        """The first ``[[grade_overrides]]`` whose condition holds for the shared facts."""
        for label, label_en, condition in self.plan.overrides:
            names: dict[str, Value] = {}
            for name in sorted(condition.names):
                raw = unit.facts.shared.get(name, _MISSING)
                if raw is _MISSING:
                    unit.problem("PR401", ("shared", name), {"indicator": label, "fact": name})
                    return None
                converted = self._convert(name, raw, ("shared", name), unit)
                if converted is None or isinstance(converted, _NotApplicable):
                    return None
                names[name] = converted[0]
            try:
                holds = condition.evaluate(names)
            except ExpressionError as exc:
                unit.problem(exc.code, ("shared",), dict(exc.params), exc.hint)
                return None
            if holds is True:
                return label, label_en, condition.text
        return None

    def evaluate_many(
        self,
        units: Iterable[Facts | Mapping[str, Any]],
        *,
        trace: bool = False,
        workers: int = 1,
    ) -> Iterator[Result | FactsError]:
        """Score many units lazily; a unit whose facts fail yields its ``FactsError``.

        With ``workers`` > 1 the units are scored in that many processes (each compiles the
        scheme once); results come back in order, without traces.
        """
        if workers > 1:
            yield from _evaluate_in_processes(self.scheme, units, workers)
            return
        for facts in units:
            try:
                yield self.evaluate(facts, trace=trace)
            except FactsError as exc:
                yield exc

    # --- the fast path: exact Decimals ----------------------------------------------
    def _prepare_fast_path(self) -> None:
        plan = self.plan
        self._quantum = {p: Decimal(1).scaleb(-p) for p in range(11)}
        self._decimal_mode = _DECIMAL_MODES[plan.mode]
        self._fast_leaves: list[_FastLeaf] | None = []
        for index in plan.leaves:
            node = plan.nodes[index]
            leaf = node.leaf
            assert leaf is not None  # noqa: S101
            params: dict[str, Decimal | bool] = {}
            for name, value in leaf.params.items():
                if isinstance(value, bool):
                    params[name] = value
                elif is_terminating(value):
                    params[name] = to_decimal(value)
            target = leaf.target_value
            if not leaf.expression.decimal_ready:
                self._fast_leaves = None
                return
            self._fast_leaves.append(
                _FastLeaf(
                    index=index,
                    id=node.id,
                    weight=to_decimal(node.weight) if is_terminating(node.weight) else None,
                    needs=leaf.needs,
                    kinds=tuple(self._types.get(n, "number") for n in leaf.needs),
                    params=params,
                    target=to_decimal(target)
                    if target is not None and is_terminating(target)
                    else None,
                    leaf=leaf,
                    places=node.places,
                )
            )
        self._decimal_bands = [
            (Decimal(f"{low}") if low.denominator == 1 else to_decimal(low), grade)
            for (label, low, high, en) in plan.bands
            if is_terminating(low)
            for grade in [Grade(label, low, high, en)]
        ]
        if len(self._decimal_bands) != len(plan.bands):  # pragma: no cover - bands are decimals
            self._fast_leaves = None

    def _evaluate_decimal(self, facts: Facts) -> Result | None:
        """Score with exact Decimals; ``None`` means "take the full path".

        Only the plain case is handled here: every fact a plain number (or bool), no
        missing or not-applicable facts, no overrides, every score inside its weight. Any
        other case, and any operation whose result is not exact (``70 / 88``), goes to the
        Fraction path, which also reports every problem with its position.
        """
        leaves = self._fast_leaves
        if leaves is None or self.plan.overrides:
            return None
        indicators = facts.indicators
        shared = facts.shared
        if type(indicators) is not dict or type(shared) is not dict:
            return None
        by_id = self.plan.by_id
        for indicator_id, values in indicators.items():
            index = by_id.get(indicator_id)
            if (
                index is None
                or type(values) is not dict
                or values.keys() - self._allowed.get(index, _NOTHING)
            ):
                return None
            if "na" in values or "override" in values:
                return None
        scores: dict[int, Decimal] = {}
        with localcontext(_EXACT):
            for fast in leaves:
                own = indicators.get(fast.id, _EMPTY)
                names: dict[str, object] = {"weight": fast.weight}
                for name, kind in zip(fast.needs, fast.kinds, strict=True):
                    raw = own.get(name, _MISSING)
                    if raw is _MISSING:
                        raw = shared.get(name, _MISSING)
                    if raw is _MISSING:
                        if name in fast.params:
                            names[name] = fast.params[name]
                            continue
                        if name == "target" and fast.target is not None:
                            names[name] = fast.target
                            continue
                        return None
                    if kind == "number":
                        value = _decimal_fact(raw)
                        if value is None:
                            return None
                        names[name] = value
                    elif kind == "bool" and type(raw) is bool:
                        names[name] = raw
                    else:
                        return None
                try:
                    score = fast.leaf.expression.run_decimal(names)
                except Exception:  # noqa: BLE001 - not exact (or failing): evaluate on Fractions
                    score = self._exact_leaf(fast, names)
                    if score is None:
                        return None
                if fast.weight is None or not 0 <= score <= fast.weight:
                    return None
                if fast.places is not None:
                    score = score.quantize(
                        self._quantum[fast.places], rounding=self._decimal_mode, context=_ROUNDING
                    )
                scores[fast.index] = score
            try:
                for index in self.plan.post_order:
                    node = self.plan.nodes[index]
                    if node.kind == "indicator":
                        continue
                    total = sum((scores[c] for c in node.children), _DECIMAL_ZERO)
                    if node.places is not None:
                        total = total.quantize(
                            self._quantum[node.places],
                            rounding=self._decimal_mode,
                            context=_ROUNDING,
                        )
                    scores[index] = total
            except ArithmeticError:  # pragma: no cover - sums of bounded decimals are exact
                return None
        total = scores[0]
        grade = next((g for low, g in self._decimal_bands if total >= low), None)
        if grade is None:  # pragma: no cover - bands cover [0, max]
            return None
        nodes = self.plan.nodes
        return Result(
            total=total,
            grade=grade,
            scores={nodes[i].id: scores[i] for i in range(1, len(nodes))},
            trace=None,
            total_exact=Fraction(total),
        )

    def _exact_leaf(self, fast: _FastLeaf, names: dict[str, object]) -> Decimal | None:
        """One indicator whose Decimal evaluation was not exact, evaluated on Fractions."""
        exact: dict[str, Value] = {}
        for key, item in names.items():
            exact[key] = item if isinstance(item, bool) else Fraction(item)  # type: ignore[call-overload]
        try:
            value = fast.leaf.expression.evaluate(exact)
        except ExpressionError:
            return None
        if not isinstance(value, Fraction):  # pragma: no cover - formulas are numbers
            return None
        if fast.places is not None:
            value = round_fraction(value, fast.places, self.plan.mode)
        elif not is_terminating(value):
            return None
        with localcontext(_ROUNDING):
            return to_decimal(value)

    # --- facts -----------------------------------------------------------------------
    def _check_facts_shape(self, unit: _Unit) -> None:
        facts = unit.facts
        if not isinstance(facts.indicators, Mapping):
            unit.problem("PR410", ("indicators",), {"got": type(facts.indicators).__name__})
            return
        for indicator_id, values in facts.indicators.items():
            index = self.plan.by_id.get(indicator_id)
            if index is None or self.plan.nodes[index].kind != "indicator":
                suggestion = difflib.get_close_matches(str(indicator_id), self._indicator_ids, n=1)
                unit.problem(
                    "PR403",
                    ("indicators", indicator_id),
                    {"indicator": indicator_id, "suggestion": suggestion[0] if suggestion else ""},
                    "did_you_mean" if suggestion else None,
                )
                continue
            if not isinstance(values, Mapping):
                unit.problem("PR410", ("indicators", indicator_id), {"got": type(values).__name__})
                continue
            leaf = self.plan.nodes[index].leaf
            assert leaf is not None  # noqa: S101
            unknown = values.keys() - self._allowed[index]
            for name in unknown:
                candidates = [*leaf.needs, *_RESERVED_FACTS]
                suggestion = difflib.get_close_matches(str(name), candidates, n=1)
                unit.problem(
                    "PR404",
                    ("indicators", indicator_id, name),
                    {
                        "fact": name,
                        "indicator": indicator_id,
                        "suggestion": suggestion[0] if suggestion else "",
                    },
                    "did_you_mean" if suggestion else None,
                )

    def _bind(
        self, node: Node, leaf: Leaf, unit: _Unit
    ) -> (
        tuple[dict[str, Value], list[InputValue], list[Note], str | None, str]
        | _NotApplicable
        | None
    ):
        """Bind a leaf's inputs: the binding, N/A, or None when a value is malformed.

        A missing fact is returned as the name in the binding's ``missing`` slot. The
        inputs and notes for the trace are only built when the unit is traced.
        """
        own = unit.facts.indicators.get(node.id)
        if not _is_mapping(own):
            own = _EMPTY
        elif "na" in own and own["na"] not in (False, None):
            reason = own["na"] if isinstance(own["na"], str) else ""
            return _NotApplicable(reason)
        shared = unit.facts.shared
        trace = unit.trace
        names: dict[str, Value] = {"weight": node.weight}
        bound: list[InputValue] = []
        notes: list[Note] = []
        if trace and "weight" in leaf.expression.names:
            bound.append(self._weight_inputs[node.index])
        missing: str | None = None
        actual_text = ""
        for name in leaf.needs:
            raw = own.get(name, _MISSING)
            source = "facts"
            if raw is _MISSING:
                raw = shared.get(name, _MISSING)
                source = "shared"
            if raw is _MISSING:
                if name in leaf.params:
                    value = leaf.params[name]
                    names[name] = value
                    if trace:
                        bound.append(InputValue(name, value, _text(value), "params"))
                    continue
                if name == "target" and leaf.target_value is not None:
                    names[name] = leaf.target_value
                    if trace:
                        bound.append(InputValue(name, leaf.target_value, node.target, "target"))
                    continue
                missing = missing or name
                if trace:
                    bound.append(InputValue(name, None, "", "missing"))
                continue
            if self._types.get(name, "number") == "number" and type(raw) in _FAST_TYPES:
                fast = _fast_number(raw)
                if fast is not None:
                    if fast is _NA_MARK:
                        return _NotApplicable("")
                    names[name] = fast  # type: ignore[assignment]
                    if trace:
                        text = raw if isinstance(raw, str) else _text(raw)
                        bound.append(InputValue(name, fast, text, source))  # type: ignore[arg-type]
                        if name == leaf.show:
                            actual_text = text
                    continue
            path = ("indicators", node.id, name) if source == "facts" else ("shared", name)
            converted = self._convert(name, raw, path, unit)
            if converted is None:
                missing = missing or ""
                continue
            if isinstance(converted, _NotApplicable):
                return converted
            value, text, level = converted
            names[name] = value
            if trace:
                bound.append(InputValue(name, value, text, source, level))
                if level is not None:
                    notes.append(
                        Note("level", {"fact": name, "level": level, "share": _text(value)})
                    )
            if name == leaf.show:
                actual_text = text
        return names, bound, notes, missing, actual_text

    def _convert(
        self, name: str, raw: Any, path: tuple[str | int, ...], unit: _Unit
    ) -> tuple[Value, str, str | None] | _NotApplicable | None:
        text_override: str | None = None
        level_share: Any = None
        if isinstance(raw, Mapping):
            extra = [k for k in raw if k not in _FACT_TABLE_KEYS]
            if extra:
                unit.problem(
                    "PR404",
                    (*path, extra[0]),
                    {"fact": extra[0], "indicator": path[1] if len(path) > 1 else ""},
                )
                return None
            text_override = raw.get("text")
            level_share = raw.get("share")
            raw = raw.get("level", raw.get("value", _MISSING))
            if raw is _MISSING:
                unit.problem("PR103", path, {"table": ".".join(map(str, path)), "key": "value"})
                return None
        kind = self._types.get(name, "number")
        shown = text_override if isinstance(text_override, str) else _text(raw)
        if isinstance(raw, str) and normalise_text(raw).strip().lower() in _NA_WORDS:
            return _NotApplicable("")
        if kind == "bool":
            flag = _to_bool(raw)
            if flag is None:
                unit.problem(
                    "PR402",
                    path,
                    {
                        "value": _text(raw),
                        "expected": "true or false (是/否)",
                        "expected_zh": "是/否（true/false）",
                    },
                )
                return None
            return flag, shown, None
        if kind == "level":
            return self._level(name, raw, level_share, shown, path, unit)
        if isinstance(raw, float):
            unit.problem("PR409", path, {"value": repr(raw)}, "decimal_string")
            return None
        try:
            value = to_fraction(raw)
        except NumberFormatError as exc:
            if exc.reason == "float":
                unit.problem("PR409", path, {"value": _text(raw)}, "decimal_string")
            else:
                unit.problem(
                    "PR402",
                    path,
                    {
                        "value": _text(raw),
                        "expected": "a number such as 80%, 4.8 or 70/88",
                        "expected_zh": "数字（如 80%、4.8、70/88）",
                    },
                )
            return None
        return value, shown, None

    def _level(
        self, name: str, raw: Any, share: Any, shown: str, path: tuple[str | int, ...], unit: _Unit
    ) -> tuple[Value, str, str | None] | None:
        scale = self._scales[name]
        label = normalise_text(str(raw)).strip() if isinstance(raw, str) else None
        level = next((lv for lv in scale.levels if lv.label == label), None)
        if level is None:
            unit.problem(
                "PR405",
                path,
                {
                    "value": _text(raw),
                    "scale": self.plan.scheme.inputs[name].scale,
                    "levels": "、".join(lv.label for lv in scale.levels),
                },
            )
            return None
        low, high = Fraction(level.min), Fraction(level.max)
        if share is None:
            if level.default is None:
                unit.problem(
                    "PR401",
                    (*path, "share"),
                    {"indicator": path[1] if len(path) > 1 else "", "fact": f"{name}.share"},
                )
                return None
            return Fraction(level.default), shown, level.label
        try:
            value = to_fraction(share)
        except NumberFormatError:
            unit.problem(
                "PR402",
                (*path, "share"),
                {
                    "value": _text(share),
                    "expected": "a share such as 70%",
                    "expected_zh": "比例（如 70%）",
                },
            )
            return None
        upper_ok = value < high or value == high == 1
        if not (low <= value and upper_ok):
            unit.problem(
                "PR406",
                (*path, "share"),
                {
                    "share": _text(share),
                    "level": level.label,
                    "min": format_number(low),
                    "max": format_number(high),
                },
            )
            return None
        return value, shown, level.label

    # --- scoring ---------------------------------------------------------------------
    def _score_leaf(self, node: Node, unit: _Unit) -> _Score:
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        weight = node.weight
        bound = self._bind(node, leaf, unit)
        if bound is None:
            return _Score(None, "error", weight)
        if isinstance(bound, _NotApplicable):
            return self._policy_score(node, leaf.na, "na", unit, reason=bound.reason)
        names, inputs, notes, missing, actual_text = bound
        if missing is not None:
            if missing == "":  # a malformed value, already reported
                return _Score(None, "error", weight)
            if leaf.missing == "error":
                unit.problem(
                    "PR401",
                    ("indicators", node.id, missing),
                    {"indicator": node.id, "fact": missing},
                )
                return _Score(None, "error", weight)
            result = self._policy_score(node, leaf.missing, "missing", unit, fact=missing)
            result.inputs = tuple(inputs)
            return result
        steps: tuple[Step, ...] = ()
        try:
            if unit.trace:
                value, steps = leaf.expression.explain(names)
            else:
                value = leaf.expression.evaluate(names)
        except ExpressionError as exc:
            params = dict(exc.params)
            unit.problem(exc.code, ("indicators", node.id), params, exc.hint)
            return _Score(None, "error", weight)
        assert isinstance(value, Fraction)  # noqa: S101 - formulas are type-checked as numbers
        status = "scored"
        note_list = notes
        # 0 <= value <= weight, in integers (Fraction comparisons cost a microsecond each)
        num = value.numerator
        if num < 0 or num * weight.denominator > weight.numerator * value.denominator:
            if leaf.clamp:
                note_list.append(
                    Note(
                        "clamped", {"value": format_number(value), "weight": format_number(weight)}
                    )
                )
                value = min(max(value, Fraction(0)), weight)
            else:
                unit.problem(
                    "PR501",
                    ("indicators", node.id),
                    {
                        "indicator": node.id,
                        "score": format_number(value),
                        "weight": format_number(weight),
                    },
                    "cap_with_min",
                )
                return _Score(None, "error", weight)
        override = self._override(node, value, unit)
        if override is not None:
            computed = value
            value, reason = override
            status = "override"
            note_list.append(
                Note(
                    "override",
                    {
                        "score": format_number(value),
                        "computed": format_number(computed),
                        "reason": reason,
                    },
                )
            )
        rounded, roundings = self._rounded(value, node.places, unit.trace)
        return _Score(
            rounded,
            status,
            weight,
            tuple(inputs),
            steps,
            roundings,
            tuple(note_list),
            actual_text,
        )

    def _override(
        self, node: Node, computed: Fraction, unit: _Unit
    ) -> tuple[Fraction, str] | None:
        own = unit.facts.indicators.get(node.id)
        if not _is_mapping(own) or "override" not in own:
            return None
        raw = own["override"]
        path = ("indicators", node.id, "override")
        if not isinstance(raw, Mapping) or "score" not in raw:
            unit.problem("PR103", path, {"table": "override", "key": "score"})
            return None
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            unit.problem("PR407", path, {"indicator": node.id}, "add_reason")
            return None
        try:
            score = to_fraction(raw["score"])
        except NumberFormatError:
            unit.problem(
                "PR402",
                (*path, "score"),
                {"value": _text(raw["score"]), "expected": "a number", "expected_zh": "数字"},
            )
            return None
        if not 0 <= score <= node.weight:
            unit.problem(
                "PR408",
                (*path, "score"),
                {
                    "indicator": node.id,
                    "score": format_number(score),
                    "weight": format_number(node.weight),
                },
            )
            return None
        del computed
        return score, reason.strip()

    def _policy_score(
        self, node: Node, policy: str, cause: str, unit: _Unit, *, reason: str = "", fact: str = ""
    ) -> _Score:
        weight = node.weight
        suffix = f": {reason}" if reason else ""
        if policy == "error":
            if cause == "na":
                unit.problem("PR411", ("indicators", node.id, "na"), {"indicator": node.id})
            return _Score(None, "error", weight)
        note_params = {"fact": fact, "reason": suffix}
        if policy == "exclude":
            return _Score(
                None, "excluded", Fraction(0), notes=(Note(f"{cause}_exclude", note_params),)
            )
        value = weight if policy == "full" else Fraction(0)
        rounded, roundings = self._rounded(value, node.places, unit.trace)
        return _Score(
            rounded,
            policy,
            weight,
            roundings=roundings,
            notes=(Note(f"{cause}_{policy}", note_params),),
        )

    def _rounded(
        self, value: Fraction, places: int | None, trace: bool
    ) -> tuple[Fraction, tuple[RoundingStep, ...]]:
        if places is None:
            return value, ()
        rounded = round_fraction(value, places, self.plan.mode)
        if not trace:
            return rounded, ()
        return rounded, (RoundingStep(places, self.plan.mode, value, rounded),)

    def _aggregate(self, node: Node, scores: dict[int, _Score], unit: _Unit) -> _Score:
        parts = [scores[child] for child in node.children]
        scored = [part for part in parts if part.score is not None]
        if len(scored) == len(parts):
            total = exact_sum([part.score for part in parts])  # type: ignore[misc]
            applicable = exact_sum([part.applicable for part in parts])
        else:
            total = exact_sum([part.score for part in scored])  # type: ignore[misc]
            applicable = exact_sum([part.applicable for part in scored])
        if not scored:
            if node.kind == "scheme" and not any(s.status == "error" for s in scores.values()):
                unit.problem("PR502", (), {})
            return _Score(None, "excluded", Fraction(0))
        notes: tuple[Note, ...] = ()
        if node.kind == "scheme" and applicable != node.weight and applicable:
            before = total
            total = total * node.weight / applicable
            notes = (
                Note(
                    "renormalised",
                    {
                        "sum": format_number(before),
                        "applicable": format_number(applicable),
                        "max": format_number(node.weight),
                    },
                ),
            )
            applicable = node.weight
        rounded, roundings = self._rounded(total, node.places, unit.trace)
        return _Score(rounded, "scored", applicable, roundings=roundings, notes=notes)

    # --- result ----------------------------------------------------------------------
    def _grade(self, total: Fraction) -> tuple[Grade, Gap | None]:
        bands = self.plan.bands
        for position, (label, low, high, label_en) in enumerate(bands):
            if low <= total < high or (total == high == self.plan.max):
                gap = None
                if position > 0:
                    up_label, up_min, _, _ = bands[position - 1]
                    gap = Gap(up_label, up_min, up_min - total)
                return Grade(label, low, high, label_en), gap
        label, low, high, label_en = bands[-1]
        return Grade(label, low, high, label_en), None  # pragma: no cover - bands are checked

    def gap(self, result: Result) -> Gap | None:
        """The next band up for *result*, and the fewest indicators that would reach it.

        Works for results with or without a trace; ``None`` in the top band.
        """
        _, gap = self._grade(result.total_exact)
        if gap is None:
            return None
        losses = []
        for index in self.plan.leaves:
            node = self.plan.nodes[index]
            score = result.scores.get(node.id)
            if score is not None and node.weight - Fraction(score):
                losses.append((node.id, node.weight - Fraction(score)))
        return Gap(gap.label, gap.min, gap.shortfall, _fewest(losses, gap.shortfall))

    def _result(
        self,
        scores: dict[int, _Score],
        facts: Facts,
        trace: bool,
        override: tuple[str, str, str] | None = None,
    ) -> Result:
        plan = self.plan
        root_score = scores[0]
        total = root_score.score if root_score.score is not None else Fraction(0)
        grade, gap = self._grade(total)
        if override is not None:
            label, label_en, when = override
            grade = Grade(label, grade.min, grade.max, label_en)
            gap = None
            note = Note("grade_override", {"label": label, "when": when})
            scores[0].notes = (*scores[0].notes, note)
        by_id = _Scores(plan, {node.id: scores[node.index].score for node in plan.nodes[1:]})
        trace_obj = self._trace(scores, facts, total, grade, gap) if trace else None
        return Result(
            total=_decimal(total, plan.total_places),
            grade=grade,
            scores=by_id,
            trace=trace_obj,
            total_exact=total,
        )

    def _trace(
        self,
        scores: dict[int, _Score],
        facts: Facts,
        total: Fraction,
        grade: Grade,
        gap: Gap | None,
    ) -> Trace:
        plan = self.plan
        built: dict[int, NodeTrace] = {}
        for index in plan.post_order:
            node = plan.nodes[index]
            s = scores[index]
            built[index] = NodeTrace(
                node.id,
                node.name,
                node.kind,
                node.depth,
                node.weight,
                s.score,
                node.shown_places,
                s.status,
                tuple([built[c] for c in node.children]),
                node.leaf.expression.text if node.leaf is not None else None,
                s.inputs,
                s.steps,
                s.roundings,
                s.notes,
                node.target or _input_text(s.inputs, "target"),
                s.actual,
                s.applicable,
                node.sources,
            )
        if gap is not None:
            losses = []
            for index in plan.leaves:
                score = scores[index].score
                if score is not None and score != plan.nodes[index].weight:
                    losses.append((plan.nodes[index].id, plan.nodes[index].weight - score))
            if any(n.kind == "renormalised" for n in scores[0].notes):  # a lost point weighs more
                applicable = exact_sum(
                    [plan.nodes[i].weight for i in plan.leaves if scores[i].score is not None]
                )
                factor = plan.max / applicable if applicable else Fraction(1)
                losses = [(ident, lost * factor) for ident, lost in losses]
            gap = Gap(gap.label, gap.min, gap.shortfall, _fewest(losses, gap.shortfall))
        scheme = plan.scheme.scheme
        provenance = Provenance(
            perfrules=VERSION,
            scheme_id=scheme.id,
            scheme_version=scheme.version,
            scheme_year=scheme.year,
            scheme_sha256=plan.sha256,
            files=plan.files,
            source=facts,
            unit=facts.unit,
        )
        return Trace(
            root=built[0],
            total=total,
            max=plan.max,
            grade=grade,
            bands=tuple(Grade(label, low, high, en) for label, low, high, en in plan.bands),
            gap=gap,
            provenance=provenance,
            total_places=plan.total_places,
            rounding_mode=plan.mode,
            levels=tuple(scheme.levels),
        )


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


class _Scores(Mapping[str, Decimal | None]):
    """Scores by id as Decimals, converted on first access (batch jobs rarely read them all)."""

    __slots__ = ("_cache", "_exact", "_plan")

    def __init__(self, plan: Plan, exact: dict[str, Fraction | None]) -> None:
        self._plan = plan
        self._exact = exact
        self._cache: dict[str, Decimal | None] = {}

    def __getitem__(self, key: str) -> Decimal | None:
        if key in self._cache:
            return self._cache[key]
        score = self._exact[key]
        node = self._plan.nodes[self._plan.by_id[key]]
        value = None if score is None else _decimal(score, node.shown_places)
        self._cache[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._exact)

    def __len__(self) -> int:
        return len(self._exact)

    def __repr__(self) -> str:
        return repr(dict(self))


def _fewest(
    losses: list[tuple[str, Fraction]], shortfall: Fraction
) -> tuple[tuple[str, Fraction], ...]:
    """The fewest (id, lost points) whose points cover *shortfall*: the biggest losses first.

    Raising an indicator to full marks adds at most its lost points to the total, so taking
    the largest losses first needs the fewest indicators (ties by id, for stable output).
    Empty when even all of them do not suffice.
    """
    if not losses:
        return ()
    # Compare as integers over a common denominator: Fraction comparisons are slow.
    common = math.lcm(*(lost.denominator for _, lost in losses))
    ranked = sorted(
        losses, key=lambda item: (-item[1].numerator * (common // item[1].denominator), item[0])
    )
    chosen: list[tuple[str, Fraction]] = []
    covered = Fraction(0)
    for ident, lost in ranked:
        if covered >= shortfall:
            break
        chosen.append((ident, lost))
        covered += lost
    return tuple(chosen) if covered >= shortfall else ()


def _input_text(inputs: tuple[InputValue, ...], name: str) -> str:
    return next((i.text for i in inputs if i.name == name), "")


def _decimal(value: Fraction, places: int | None) -> Decimal:
    if places is not None and (value * 10**places).denominator == 1:
        return Decimal(format_number(value, places))
    return to_decimal(value)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return format_number(value)
    return str(value)


def _to_bool(raw: object) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = normalise_text(raw).strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def compile_scheme(scheme: Scheme) -> CompiledScheme:
    """Compile a scheme for evaluation (checks it first).

    Raises:
        RuleFileError: the scheme has errors (for a scheme read from a file, with positions).
    """
    sections = Sections(scheme)
    result, diagnostics = check_scheme(sections, scheme._source)  # noqa: SLF001
    if not result.ok:
        raise RuleFileError(diagnostics)
    return CompiledScheme(build_plan(scheme, result.expressions, result.conditions))


_WORKER: dict[str, CompiledScheme] = {}


def _init_worker(scheme: Scheme) -> None:
    _WORKER["compiled"] = compile_scheme(scheme)


def _score_in_worker(facts: Facts | Mapping[str, Any]) -> Result | list[Diagnostic]:
    try:
        result = _WORKER["compiled"].evaluate(facts, trace=False)
    except FactsError as exc:
        return list(exc.diagnostics)
    # Plain data only: the lazy score mapping refers to compiled code, which cannot be pickled.
    return Result(result.total, result.grade, dict(result.scores), None, result.total_exact)


def _evaluate_in_processes(
    scheme: Scheme, units: Iterable[Facts | Mapping[str, Any]], workers: int
) -> Iterator[Result | FactsError]:
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415 - only for this option

    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(scheme,)
    ) as pool:
        for outcome in pool.map(_score_in_worker, units, chunksize=256):
            yield FactsError(outcome) if isinstance(outcome, list) else outcome
