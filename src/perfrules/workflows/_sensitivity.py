"""Rank stability: how far each unit's rank moves when the weights are varied.

Every sample is a whole weight set that passes the scheme's own checks: integer
perturbations (in hundredths of a percent) are drawn with ``random.Random(seed)``, each
group's counted children are rescaled so they keep the group's weight (the top ones keep
their sum), and the results are rounded to a fixed number of places with the remainder
given by the largest-remainder method, so every sum is exact. Each variant is the scheme
with those weights (``with_weights``), checked and scored exactly by the library: the
units' facts are read once and each weight set scored by the engine's array scorer
(:class:`_Columns`), or, for a scheme that scorer does not take, compiled and scored in
full (:class:`_Exact`); both give the same totals and ranks. Nothing here ranks: the ranks
are the scheme's ``[ranking]`` through the engine's ranking (a scheme without one is ranked
by total, highest first, competition ties).

Which weight moves a unit most is measured one at a time: each weight is set to its low
and to its high setting (its declared range, or ``±vary %``) while its siblings absorb the
difference, and the weight whose setting moves the unit's rank furthest from its rank
under the declared weights is named (the first in the scheme's order on a tie).

Needs the ``frame`` extra (numpy, pyarrow, narwhals); imported only when used.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from perfrules._numbers import format_number
from perfrules.engine import CohortValues, CompiledScheme, compile_scheme, with_weights
from perfrules.errors import Diagnostic, RuleFileError
from perfrules.model import Group, Indicator, Input, Ranking, RankKey, Scheme
from perfrules.workflows._stream import read_chunks
from perfrules.workflows._table import (
    TABLE_SOURCE,
    Chunk,
    Ints,
    _gaps,
    _shared_rows,
    all_cohort_values,
    prepare_chunk,
    rank_rows,
    readable_table,
    score_chunk,
)

if TYPE_CHECKING:  # the type of CompiledScheme.score_columns
    from perfrules.engine import Arrays

__all__ = [
    "MIN_PLACES",
    "Choice",
    "Sensitivity",
    "SensitivityError",
    "UnitStability",
    "WeightRange",
    "WeightSetting",
    "perturbed_weights",
    "read_table",
    "sensitivity",
]

#: Perturbed weights are rounded to at least this many places (more when the scheme's
#: weights or the declared ranges have more).
MIN_PLACES: Final = 2
#: Perturbations are drawn in hundredths of a percent.
_STEPS_PER_PERCENT: Final = 100
#: Draws of one sample that may miss the declared ranges before the ranges are refused.
_TRIES: Final = 1000
#: The interval reported: the 5th and the 95th percentile of the ranks (nearest rank).
_LOW_PERCENT, _HIGH_PERCENT = 5, 95


class SensitivityError(ValueError):
    """The variation asked for cannot be made (an unknown id, a range that cannot be met)."""


@dataclass(frozen=True)
class WeightRange:
    """``--range ID=LOW:HIGH``: the weight of *id* is drawn between *low* and *high*."""

    id: str
    low: Decimal
    high: Decimal

    @classmethod
    def parse(cls, text: str) -> WeightRange:
        """Read ``ID=LOW:HIGH``.

        Raises:
            SensitivityError: not of that shape, bounds that are not decimals, low > high.
        """
        node, sep, bounds = text.partition("=")
        low_text, colon, high_text = bounds.partition(":")
        if not sep or not colon or not node.strip():
            msg = f"expected ID=LOW:HIGH, got {text!r}"
            raise SensitivityError(msg)
        try:
            low, high = Decimal(low_text.strip()), Decimal(high_text.strip())
        except ArithmeticError:
            low = high = Decimal("NaN")
        if not (low.is_finite() and high.is_finite()) or low < 0:
            msg = f"{text!r}: LOW and HIGH must be decimals of at least 0"
            raise SensitivityError(msg)
        if low > high:
            msg = f"{text!r}: LOW ({low}) is above HIGH ({high})"
            raise SensitivityError(msg)
        return cls(node.strip(), low, high)


#: What ``--normalise`` may choose between (the methods of ``[inputs.NAME] normalise``).
NORMALISE_OPTIONS: Final = (
    "minmax",
    "zscore",
    "rank",
    "percentile",
    "distance_to_best",
    "distance_to_target",
)
#: What ``--impute`` may choose between, besides a number.
IMPUTE_OPTIONS: Final = ("cohort_mean", "cohort_median", "none")


@dataclass(frozen=True)
class Choice:
    """``--normalise NAME=A,B`` or ``--impute NAME=A,B``: each sample draws one option.

    The options are methods of the input's ``normalise`` step (its other keys kept where
    the method takes them), or imputations (``cohort_mean``, ``cohort_median``, a number,
    ``none`` for the ``missing`` policy).
    """

    kind: str  # "normalise" or "impute"
    input: str
    options: tuple[str, ...]

    @classmethod
    def parse(cls, kind: str, text: str) -> Choice:
        """Read ``NAME=A,B[,...]``.

        Raises:
            SensitivityError: not of that shape, an option that is no method.
        """
        name, sep, listed = text.partition("=")
        options = tuple(o.strip() for o in listed.split(",") if o.strip())
        if not sep or not name.strip() or not options:
            msg = f"expected NAME=OPTION,OPTION, got {text!r}"
            raise SensitivityError(msg)
        for option in options:
            known = NORMALISE_OPTIONS if kind == "normalise" else IMPUTE_OPTIONS
            if option not in known and not (kind == "impute" and _is_number(option)):
                allowed = ", ".join(known) + (", a number" if kind == "impute" else "")
                msg = f"--{kind} {text!r}: {option!r} is not one of {allowed}"
                raise SensitivityError(msg)
            if option not in known:  # a number: within the limits a rule file's numbers have
                try:
                    Input.model_validate({"impute": Decimal(option)})
                except ValidationError as exc:
                    reason = exc.errors()[0]["msg"]
                    msg = f"--impute {text!r}: {option!r}: {reason}"
                    raise SensitivityError(msg) from None
        return cls(kind, name.strip(), tuple(dict.fromkeys(options)))

    def label(self, option: str) -> str:
        """How a report names this choice at *option*: ``gdp normalised by zscore``."""
        if self.kind == "normalise":
            return f"{self.input} normalised by {option}"
        return f"{self.input} imputed by {option}"

    def key(self, option: str) -> str:
        """The id a report uses for this choice at *option*: ``normalise:gdp=zscore``."""
        return f"{self.kind}:{self.input}={option}"


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def _with_choices(scheme: Scheme, choices: Sequence[Choice], picked: Sequence[str]) -> Scheme:
    """*scheme* with each choice's input at the option *picked* for it."""
    inputs = dict(scheme.inputs)
    for choice, option in zip(choices, picked, strict=True):
        declared = inputs[choice.input]
        if choice.kind == "normalise":
            step = declared.normalise
            assert step is not None  # noqa: S101 - checked by _check_choices
            update: dict[str, Any] = {"method": option}
            if option != "minmax":
                update["goalposts"] = None
            if option != "distance_to_target":
                update["target"] = None
            if option not in ("minmax", "distance_to_best", "distance_to_target") or (
                option == "minmax" and step.goalposts is not None
            ):
                update["cap"] = None
            inputs[choice.input] = declared.model_copy(
                update={"normalise": step.model_copy(update=update)}
            )
        else:
            impute: Any = None if option == "none" else option
            if impute is not None and _is_number(option):
                impute = Decimal(option)
            inputs[choice.input] = declared.model_copy(update={"impute": impute})
    return scheme.model_copy(update={"inputs": inputs})


def _check_choices(scheme: Scheme, choices: Sequence[Choice]) -> None:
    """Every choice names a number input (normalised, for ``--normalise``), once."""
    seen: set[tuple[str, str]] = set()
    for choice in choices:
        declared = scheme.inputs.get(choice.input)
        if declared is None and choice.input in scheme.groups:
            msg = (
                f"--{choice.kind} {choice.input}: that is a group; --{choice.kind} varies an "
                "input's (a group's normalisation stays as declared)"
            )
            raise SensitivityError(msg)
        if declared is None or declared.type != "number":
            msg = f"--{choice.kind} {choice.input}: no number input of that name"
            raise SensitivityError(msg)
        if choice.kind == "normalise" and declared.normalise is None:
            msg = f"--normalise {choice.input}: the input declares no normalise step to vary"
            raise SensitivityError(msg)
        step = declared.normalise
        if "distance_to_target" in choice.options and step is not None and step.target is None:
            msg = f"--normalise {choice.input}: distance_to_target needs the input's target"
            raise SensitivityError(msg)
        if (choice.kind, choice.input) in seen:
            msg = f"--{choice.kind} {choice.input} given twice"
            raise SensitivityError(msg)
        seen.add((choice.kind, choice.input))


def _declared_option(scheme: Scheme, choice: Choice) -> str:
    """The option the scheme itself declares for *choice* (its method, its imputation)."""
    declared = scheme.inputs[choice.input]
    if choice.kind == "normalise":
        return declared.normalise.method if declared.normalise is not None else ""
    impute = declared.impute
    if impute is None:
        return "none"
    return str(impute) if not hasattr(impute, "method") else ""


@dataclass(frozen=True)
class WeightSetting:
    """One weight varied: its declared value and its low and high settings."""

    id: str
    name: str
    weight: Decimal
    low: Decimal
    high: Decimal

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: exact decimals as text."""
        return {
            "id": self.id,
            "name": self.name,
            "weight": _text(self.weight),
            "low": _text(self.low),
            "high": _text(self.high),
        }


@dataclass(frozen=True)
class UnitStability:
    """One unit's ranks over the samples.

    Attributes:
        unit: the unit's name.
        rank: its rank under the declared weights (``None``: not ranked).
        median: the median rank over the samples it was ranked in (nearest rank).
        low: the 5th percentile of its ranks (the best end of the interval).
        high: the 95th percentile (the worst end).
        ranked: samples in which it was ranked.
        mover: the weight whose low or high setting moves its rank most (``None``: none does).
        shift: how many places that setting moves it.
    """

    unit: str
    rank: int | None
    median: int | None
    low: int | None
    high: int | None
    ranked: int
    mover: str | None
    shift: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "unit": self.unit,
            "rank": self.rank,
            "median": self.median,
            "low": self.low,
            "high": self.high,
            "ranked": self.ranked,
            "mover": self.mover,
            "shift": self.shift,
        }


@dataclass(frozen=True)
class Sensitivity:
    """What :func:`sensitivity` found: every unit's rank interval and its strongest weight."""

    scheme_id: str
    title: str
    sha256: str
    samples: int
    seed: int
    vary: Decimal | None
    places: int
    ranking: str
    weights: tuple[WeightSetting, ...]
    units: tuple[UnitStability, ...]
    failed: tuple[tuple[str, str], ...] = field(default=())
    #: The inputs whose normalisation or imputation each sample drew among options.
    choices: tuple[Choice, ...] = field(default=())

    def names(self) -> dict[str, str]:
        """What each setting a unit may be moved most by is called: a weight, a choice."""
        named = {w.id: w.name for w in self.weights}
        for choice in self.choices:
            named |= {choice.key(o): choice.label(o) for o in choice.options}
        return named

    def choice_texts(self) -> list[str]:
        """Each choice drawn among, as a report lists it: ``x normalised by: minmax | rank``."""
        verbs = {"normalise": "normalised", "impute": "imputed"}
        return [f"{c.input} {verbs[c.kind]} by: {' | '.join(c.options)}" for c in self.choices]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the document of ``perfrules sensitivity --format json``)."""
        return {
            "scheme": {"id": self.scheme_id, "title": self.title, "sha256": self.sha256},
            "samples": self.samples,
            "seed": self.seed,
            "vary_percent": None if self.vary is None else _text(self.vary),
            "places": self.places,
            "ranking": self.ranking,
            "interval_percent": [_LOW_PERCENT, _HIGH_PERCENT],
            "weights": [w.to_dict() for w in self.weights],
            "choices": [
                {"kind": c.kind, "input": c.input, "options": list(c.options)}
                for c in self.choices
            ],
            "units": [u.to_dict() for u in self.units],
            "failed": [{"unit": unit, "codes": codes} for unit, codes in self.failed],
        }


# --- the weight tree ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Tree:
    """The weights that weigh in a scheme: each node's children, in the scheme's order.

    A counted node weighs in; so do the children of a group shown but not counted whose
    score a later pass reads (the weighted sum of a "best = 100" index): that group keeps
    its weight (a root of its own, in *roots*) and its children share it.
    """

    weights: dict[str, Fraction]
    declared: dict[str, Decimal]
    names: dict[str, str]
    children: dict[str | None, list[str]]
    order: list[str]
    roots: tuple[str, ...] = ()

    @classmethod
    def of(cls, scheme: Scheme, read: Collection[str] = ()) -> _Tree:
        weights: dict[str, Fraction] = {}
        declared: dict[str, Decimal] = {}
        names: dict[str, str] = {}
        children: dict[str | None, list[str]] = {}
        nodes: list[tuple[str, Group | Indicator]] = [
            *scheme.groups.items(),
            *scheme.indicators.items(),
        ]
        roots = tuple(
            node_id
            for node_id, group in scheme.groups.items()
            if not group.counted and node_id in read
        )
        for node_id, node in nodes:
            if not node.counted and node_id not in roots:
                continue
            weights[node_id] = Fraction(node.weight)
            declared[node_id] = node.weight
            names[node_id] = node.name or node_id
            if node.counted:
                children.setdefault(node.parent, []).append(node_id)
        order = [node_id for node_id, _ in nodes if node_id in weights and node_id not in roots]
        return cls(weights, declared, names, children, order, roots)

    def total(self) -> Fraction:
        return sum((self.weights[k] for k in self.children.get(None, [])), Fraction(0))


def _text(value: Decimal) -> str:
    return format_number(Fraction(value))


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _largest_remainder(quotas: Sequence[Fraction], units: int) -> list[int] | None:
    """Integers, each the floor of its quota or one more, adding up to *units*."""
    floors = [q.numerator // q.denominator for q in quotas]
    left = units - sum(floors)
    if left < 0 or left > len(quotas):
        return None
    # largest remainders first; on equal remainders the earlier node
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - floors[i]), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return floors


def _assign(
    tree: _Tree, raw: Mapping[str, Fraction], fixed: Mapping[str, int], scale: int
) -> dict[str, int] | None:
    """Each counted weight in units of ``1/scale``, every group's children adding up to it.

    Fixed ones are as given, the others in proportion to *raw* within their group.

    ``None`` when this draw cannot be met (fixed weights above their group's, a weight
    declared above 0 rounded to 0).
    """
    out: dict[str, int] = {}
    todo: list[tuple[str | None, int]] = [(None, int(tree.total() * scale))]
    todo += [(root, int(tree.weights[root] * scale)) for root in tree.roots]
    while todo:
        parent, target = todo.pop()
        kids = tree.children.get(parent, [])
        free = [k for k in kids if k not in fixed]
        rest = target - sum(fixed[k] for k in kids if k in fixed)
        for k in kids:
            if k in fixed:
                out[k] = fixed[k]
        if rest < 0 or (not free and rest != 0):
            return None
        if free:
            mass = sum((raw[k] for k in free), Fraction(0))
            if mass == 0:
                if rest != 0:
                    return None
                shares = [0] * len(free)
            else:
                got = _largest_remainder([raw[k] * rest / mass for k in free], rest)
                if got is None:
                    return None
                shares = got
            out.update(zip(free, shares, strict=True))
        for k in kids:
            if out[k] == 0 and tree.weights[k] != 0:
                return None
            if k in tree.children:
                todo.append((k, out[k]))
    return out


def perturbed_weights(
    scheme: Scheme,
    rng: random.Random,
    *,
    vary: Decimal | None = None,
    ranges: Sequence[WeightRange] = (),
    places: int | None = None,
) -> dict[str, Decimal]:
    """One draw of the weights: every counted group and indicator, exact at *places*.

    Each weight not in *ranges* is multiplied by ``1 + d`` with ``d`` drawn uniformly in
    steps of 0.01 % within ``±vary %`` (unchanged without *vary*); each weight in *ranges*
    is drawn uniformly between its bounds in steps of ``10**-places``. Then every group's
    children are rescaled so they add up to the group's (new) weight, and the top ones to
    their declared sum, rounded by the largest-remainder method.

    Raises:
        SensitivityError: the ranges cannot be met (after many draws).
    """
    tree = _Tree.of(scheme, compile_scheme(scheme).plan.stages.known_after)
    digits = _sample_places(scheme, ranges) if places is None else places
    return _draw(tree, rng, _steps(vary), {r.id: r for r in ranges}, digits)


def _steps(vary: Decimal | None) -> int:
    return 0 if vary is None else int(vary * _STEPS_PER_PERCENT)


def _draw(
    tree: _Tree, rng: random.Random, steps: int, ranges: Mapping[str, WeightRange], digits: int
) -> dict[str, Decimal]:
    scale = 10**digits
    whole = _STEPS_PER_PERCENT * 100
    for _ in range(_TRIES):
        raw: dict[str, Fraction] = {}
        fixed: dict[str, int] = {}
        for k in tree.order:
            bounds = ranges.get(k)
            if bounds is not None:
                fixed[k] = rng.randint(int(bounds.low * scale), int(bounds.high * scale))
            else:
                d = rng.randint(-steps, steps) if steps else 0
                raw[k] = tree.weights[k] * Fraction(whole + d, whole)
        got = _assign(tree, raw, fixed, scale)
        if got is not None:
            return {k: _decimal(v, digits) for k, v in got.items()}
    names = ", ".join(sorted(ranges))
    msg = f"the ranges of {names} cannot be met with their groups' weights"
    raise SensitivityError(msg)


def _decimal(units: int, digits: int) -> Decimal:
    return Decimal(units).scaleb(-digits)


def _sample_places(scheme: Scheme, ranges: Sequence[WeightRange]) -> int:
    numbers = [scheme.scheme.max]
    numbers += [g.weight for g in scheme.groups.values()]
    numbers += [i.weight for i in scheme.indicators.values()]
    numbers += [b for r in ranges for b in (r.low, r.high)]
    return max([MIN_PLACES, *(_places(n) for n in numbers)])


def _check_ranges(tree: _Tree, ranges: Sequence[WeightRange]) -> None:
    seen: set[str] = set()
    for r in ranges:
        if r.id not in tree.weights:
            known = ", ".join(tree.order[:20])
            msg = f"--range {r.id}: no counted group or indicator has that id (ids: {known})"
            raise SensitivityError(msg)
        if r.id in seen:
            msg = f"--range {r.id} is given twice"
            raise SensitivityError(msg)
        seen.add(r.id)


# --- scoring the variants -----------------------------------------------------------------
#: A weight set's ranks: one per row, 0 where the row is not ranked.
Ranks = np.ndarray[Any, Any]
#: What a worker process keeps: the scorer of every weight set, made once.
_STATE: dict[str, Any] = {}
#: Past this magnitude a key is kept as a Python integer (numpy's int64 stops at 2**63).
_WIDE: Final = 2**62


def _ranked_scheme(scheme: Scheme) -> tuple[Scheme, str]:
    """*scheme* with a ranking (by total when it has none) printed as plain positions."""
    ranking = scheme.ranking
    if ranking is None:
        ranking = Ranking(keys=[RankKey(by="total", order="desc")], ties="competition")
        how = "total (no [ranking]: highest total first, competition ties)"
    else:
        how = "scheme"
        ranking = ranking.model_copy(update={"shared_mark": ""})
    return scheme.model_copy(update={"ranking": ranking}), how


class _Exact:
    """Every weight set the full way: a compiled copy, the table scorer, the ranking.

    This is ``score_arrow`` with the cohort values taken once: they are read from the
    facts, which no weight changes. The path of schemes the array scorer does not take,
    and of schemes with values over scores, which move with the weights: *values*
    ``None`` takes them again for each weight set.
    """

    def __init__(self, scheme: Scheme, table: pa.Table, values: CohortValues | None) -> None:
        self.scheme, self.table, self.values = scheme, table, values

    def __call__(self, weights: Mapping[str, Decimal]) -> Ranks:
        compiled = compile_scheme(with_weights(self.scheme, weights))
        values = self.values
        if values is None and compiled.plan.has_cohort:
            values = all_cohort_values(compiled, lambda: [(self.table, 1)])
        chunk = score_chunk(compiled, self.table, values)
        ranks = rank_rows(compiled, chunk.rankable)
        out = np.zeros(self.table.num_rows, dtype=np.int32)
        for row, placed in ranks.items():
            out[row] = placed.position
        return out


@dataclass(frozen=True)
class _Sample:
    """One weight set scored: every row's total and rank.

    ``totals`` are integers over ``scale`` where ``scored`` (the rows that scored);
    ``ranks`` are positions, 0 for a row not ranked.
    """

    totals: Any
    scale: int
    scored: Any
    ranks: Ranks


class _Columns:
    """Every weight set scored as arrays, each unit's facts read once.

    No input depends on a weight, so the table is read once (:func:`prepare_chunk`: each
    column parsed, each indicator's operands resolved), and so are the ranking's ``where``
    and the keys read from shared facts (each replaced by the position of its exact value
    among the distinct ones: an integer with the same order and the same ties). A weight
    set is then scored by the engine's array scorer under those weights
    (``score_columns(weights=...)``: the re-weighted scheme is checked, not regenerated),
    and the rows it does not take on this weight set (a missing fact, a score above its
    weight without ``clamp``, ...) the full way, compiled copy and all. The ranks are the engine's
    ranking of the exact scores as integers over their power of ten
    (``rank_positions``). ``tests/test_sensitivity_fast.py`` holds it equal to
    :class:`_Exact` on generated schemes and tables.
    """

    def __init__(self, compiled: CompiledScheme, table: pa.Table, values: CohortValues) -> None:
        self.compiled, self.table = compiled, table
        plan = compiled.plan
        ranking = compiled.scheme.ranking
        assert ranking is not None  # noqa: S101 - _ranked_scheme gave it one
        n = table.num_rows
        self.ready = ready = prepare_chunk(compiled, table, values)
        cohort = ready.cohort
        assert cohort is not None  # noqa: S101 - a ranking scores units together
        # Rows never scored, whatever the weights: left out of the cohort values, or
        # refused for a shared fact nothing reads.
        self.never = ready.refused.copy()
        self.never[list(cohort[2])] = True
        # The cohort values for the rows taken the full way (those left out never are).
        self.values = values.but(problems={})
        named: dict[str | None, int] = {}
        self.cohorts = np.array(
            [named.setdefault(k, len(named)) for k in cohort[1]], dtype=np.int64
        )
        shared = _shared_rows(ready.columns, plan.cohort_reads, n)
        probes = [compiled.rank_keys(facts, _unscored) for facts in shared]
        self.takes = np.array([p is not None for p in probes], dtype=np.bool_)
        # A unit below [ranking] min_available is never ranked, whatever the weights.
        gaps = _gaps(compiled, ready.columns, ready.names, values, n)
        if gaps is not None:
            self.takes &= np.array([compiled.unranked(g) is None for g in gaps], dtype=np.bool_)
        #: Per key: the node whose score it is (0: the total), or None for a shared fact.
        self.nodes: list[int | None] = []
        self.fixed: dict[int, tuple[Ints, Ints]] = {}
        for k, key in enumerate(ranking.keys):
            if key.by == "total" or key.by in plan.by_id:
                self.nodes.append(0 if key.by == "total" else plan.by_id[key.by])
                continue
            self.nodes.append(None)
            column = [None if p is None else p[k] for p in probes]
            order = {v: i for i, v in enumerate(sorted({v for v in column if v is not None}))}
            codes = np.array([0 if v is None else order[v] for v in column], dtype=np.int64)
            self.fixed[k] = (codes, np.array([v is None for v in column], dtype=np.bool_))

    def __call__(self, weights: Mapping[str, Decimal]) -> Ranks:
        return self.sample(weights).ranks

    def sample(self, weights: Mapping[str, Decimal]) -> _Sample:
        """Every row's total and rank under *weights*."""
        compiled, ready = self.compiled, self.ready
        n = self.table.num_rows
        arrays = compiled.score_columns(ready.inputs, ready.regular, weights=weights)
        regular = arrays.regular & ~ready.refused
        ranked = regular & self.takes
        scored = regular.copy()
        totals = arrays.scores[0]
        keys: list[Ints] = []
        missing: list[Ints] = []
        for k, node in enumerate(self.nodes):
            if node is None:
                keys.append(self.fixed[k][0])
                missing.append(self.fixed[k][1])
            else:
                keys.append(arrays.scores[node])
                missing.append(np.zeros(n, dtype=np.bool_))
        rest = np.flatnonzero(~regular & ~self.never)
        if rest.size:
            chunk = self._long_way(weights, rest)
            scored[rest] = chunk.scored
            assert chunk.scale is not None  # noqa: S101 - the array scorer needs a rounded total
            totals = _placed(totals, rest[chunk.scored], chunk.totals[chunk.scored].tolist())
            # Their keys as the integers the other rows' keys are: exact over the same scale.
            rows = [int(rest[row]) for row, _, _, _ in chunk.rankable]
            ranked[rows] = True
            for k, node in enumerate(self.nodes):
                if node is None:
                    continue
                scale = 10 ** arrays.scales[node]
                given = [values[k] for _, _, values, _ in chunk.rankable]
                whole = [None if v is None else v * scale for v in given]
                if any(v is not None and v.denominator != 1 for v in whole):
                    taken = regular & self.takes
                    return self._by_fractions(arrays, taken, chunk, rest, (totals, scored))
                keys[k] = _placed(keys[k], rows, [0 if v is None else int(v) for v in whole])
                missing[k] = missing[k].copy()
                missing[k][rows] = [v is None for v in whole]
        at = np.flatnonzero(ranked)
        positions = compiled.rank_positions(
            [key[at] for key in keys], [flags[at] for flags in missing], self.cohorts[at]
        )
        ranks = np.zeros(n, dtype=np.int32)
        ranks[at] = positions
        return _Sample(totals, 10 ** arrays.scales[0], scored, ranks)

    def _long_way(self, weights: Mapping[str, Decimal], rows: Ints) -> Chunk:
        """The rows the array scorer did not take, scored by a compiled copy."""
        compiled = compile_scheme(with_weights(self.compiled.scheme, weights))
        return score_chunk(compiled, self.table.take(pa.array(rows)), self.values)

    def _by_fractions(
        self, arrays: Arrays, taken: Ints, chunk: Chunk, rest: Ints, outcome: tuple[Ints, Ints]
    ) -> _Sample:
        """The ranks from exact keys, when a row's score is not a whole number of places.

        (A score the full way is always one: this is the safe answer if it ever is not.)
        """
        rows: list[tuple[int, str, tuple[Fraction | None, ...], str | None]] = []
        for row in np.flatnonzero(taken).tolist():
            keys = tuple(
                _at(self.fixed[k], row)
                if node is None
                else Fraction(int(arrays.scores[node][row]), 10 ** arrays.scales[node])
                for k, node in enumerate(self.nodes)
            )
            rows.append((row, "", keys, str(self.cohorts[row])))
        rows += [
            (int(rest[row]), unit, keys, str(self.cohorts[rest[row]]))
            for row, unit, keys, _ in chunk.rankable
        ]
        rows.sort(key=_first)
        ranks = np.zeros(self.table.num_rows, dtype=np.int32)
        for row, placed in self.compiled.rank(rows).items():
            ranks[row] = placed.position
        return _Sample(outcome[0], 10 ** arrays.scales[0], outcome[1], ranks)


def _unscored(ident: str | None) -> Fraction | None:
    """No score: for reading only what a ranking takes from the facts."""
    del ident
    return None


def _first(row: tuple[int, str, tuple[Fraction | None, ...], str | None]) -> int:
    return row[0]


def _at(fixed: tuple[Ints, Ints], row: int) -> Fraction | None:
    codes, missing = fixed
    return None if missing[row] else Fraction(int(codes[row]))


def _placed(values: Ints, rows: Sequence[int] | Ints, given: Sequence[int]) -> Ints:
    """A copy of *values* with *given* at *rows* (Python integers when one is too wide)."""
    out = values.copy()
    if out.dtype != object and any(abs(v) >= _WIDE for v in given):
        out = out.astype(object)
    out[rows] = given
    return out


def _init_worker(scorer: Callable[[Mapping[str, Decimal]], Ranks]) -> None:
    _STATE["scorer"] = scorer


def _worker_ranks(weights: Mapping[str, Decimal]) -> Ranks:
    ranks: Ranks = _STATE["scorer"](weights)
    return ranks


def read_table(path: str | Path, bad_rows: list[Diagnostic] | None = None) -> pa.Table:
    """The units of a wide CSV or Parquet file as one table (every CSV cell as text).

    Raises:
        FactsError: the file cannot be read at all.
    """
    chunks = list(read_chunks(Path(path), bad_rows=bad_rows))
    if not chunks:
        return pa.table({"unit": pa.array([], type=pa.string())})
    return pa.concat_tables(chunks, promote_options="permissive")


def sensitivity(
    compiled: CompiledScheme,
    table: pa.Table,
    *,
    vary: Decimal | None = None,
    ranges: Sequence[WeightRange] = (),
    samples: int = 1000,
    seed: int = 0,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    choices: Sequence[Choice] = (),
) -> Sensitivity:
    """Each unit's rank over *samples* weight sets drawn with *seed*, and its strongest weight.

    *vary* is ``±`` the percent each weight is varied by (at most two decimals); *ranges*
    declare weights drawn between bounds instead; *choices* draw, for each sample, one
    option of an input's normalisation method or imputation. *jobs* above 1 scores the
    samples in that many worker processes; the result is the same. *progress* is told how
    many weight sets are scored and how many there are (the declared weights and the
    one-at-a-time settings included).

    Raises:
        SensitivityError: nothing varies, an unknown id, ranges that cannot be met, a
            choice that the scheme does not declare or that makes it invalid.
    """
    scheme, how = _ranked_scheme(compiled.scheme)
    tree = _Tree.of(scheme, compiled.plan.stages.known_after)
    _check_ranges(tree, ranges)
    if vary is not None and (vary < 0 or vary >= 100 or vary != vary.quantize(Decimal("0.01"))):
        msg = f"--vary must be a percent from 0 to below 100 with at most 2 decimals, not {vary}"
        raise SensitivityError(msg)
    _check_choices(scheme, choices)
    if (vary is None or vary == 0) and not ranges and not choices:
        msg = "nothing varies: give --vary PERCENT, --range ID=LOW:HIGH, --normalise or --impute"
        raise SensitivityError(msg)
    if samples < 1:
        msg = "--samples must be at least 1"
        raise SensitivityError(msg)
    table = readable_table(table, TABLE_SOURCE)
    digits = _sample_places(scheme, ranges)
    by_id = {r.id: r for r in ranges}
    rng = random.Random(seed)  # noqa: S311 - reproducible draws, not secrets
    steps = _steps(vary)
    draws = [_draw(tree, rng, steps, by_id, digits) for _ in range(samples)]
    settings = _settings(tree, vary, by_id, digits)
    if not settings and not choices:
        msg = (
            "nothing varies: no weight of this scheme can move on its own (a row alone in "
            "its group follows the group's weight); vary a scheme with sibling rows, or "
            "give --normalise or --impute"
        )
        raise SensitivityError(msg)
    one_at_a_time = [w for s in settings for w in _one_at_a_time(tree, s, digits)]
    # The choices' options: each sample's drawn apart (the weights draw as without them).
    declared = tuple(_declared_option(scheme, c) for c in choices)
    picker = random.Random(f"{seed}:choices")  # noqa: S311 - reproducible draws
    picks = [tuple(picker.choice(c.options) for c in choices) for _ in range(samples)]
    alternatives = [
        (c.key(option), tuple(option if j == i else declared[j] for j in range(len(choices))))
        for i, c in enumerate(choices)
        for option in c.options
        if option != declared[i]
    ]
    work = [
        (tree.declared, declared),
        *((w, declared) for w in one_at_a_time),
        *((tree.declared, picked) for _, picked in alternatives),
        *zip(draws, picks, strict=True),
    ]
    base_compiled = compile_scheme(scheme)
    values = all_cohort_values(base_compiled, lambda: [(table, 1)])
    results = _run_variants(scheme, choices, declared, table, work, jobs, progress)
    base = results[0].tolist()
    settled = 1 + len(one_at_a_time) + len(alternatives)
    oat = np.stack(results[1:settled]) if settled > 1 else None
    sampled = np.stack(results[settled:])
    scored = score_chunk(base_compiled, table, values).table
    units = [str(u) for u in scored.column("unit").to_pylist()]
    errors = scored.column("errors").to_pylist()
    counts, (medians, lows, highs) = _percentiles(sampled, (50, _LOW_PERCENT, _HIGH_PERCENT))
    groups: list[tuple[str, tuple[int, ...]]] = [
        (w.id, (2 * i, 2 * i + 1)) for i, w in enumerate(settings)
    ]
    groups += [(key, (2 * len(settings) + i,)) for i, (key, _) in enumerate(alternatives)]
    movers, shifts = _movers(results[0], groups, oat)
    rows = []
    failed = []
    for r, unit in enumerate(units):
        rank = base[r] or None
        if errors[r] is not None and rank is None:
            failed.append((unit, str(errors[r])))
        ranked = counts[r]
        rows.append(
            UnitStability(
                unit,
                rank,
                medians[r] if ranked else None,
                lows[r] if ranked else None,
                highs[r] if ranked else None,
                ranked,
                movers[r],
                shifts[r],
            )
        )
    return Sensitivity(
        scheme_id=compiled.id,
        title=compiled.scheme.scheme.title or compiled.id,
        sha256=compiled.sha256,
        samples=samples,
        seed=seed,
        vary=vary,
        places=digits,
        ranking=how,
        weights=tuple(settings),
        units=tuple(rows),
        failed=tuple(failed),
        choices=tuple(choices),
    )


def _percentiles(sampled: Ranks, percents: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """How many samples ranked each unit, and the nearest-rank percentiles of its ranks.

    *sampled* has one row of ranks per sample (0: not ranked). Each unit's ranks are
    sorted (the unranked last) and the ``k``-th of its ``n`` ranks taken, ``k`` the
    least whole number with ``k ≥ percent × n / 100`` (at least 1): integers throughout.
    """
    count = (sampled > 0).sum(axis=0)
    ordered = np.sort(np.where(sampled > 0, sampled, np.iinfo(np.int32).max), axis=0)
    columns = np.arange(sampled.shape[1])
    out = []
    for percent in percents:
        k = np.maximum(1, -(-percent * count // 100))
        at = np.minimum(k, max(sampled.shape[0], 1)) - 1
        out.append(ordered[at, columns].tolist() if sampled.shape[0] else [0] * len(columns))
    return count.tolist(), out


def _settings(
    tree: _Tree, vary: Decimal | None, ranges: Mapping[str, WeightRange], digits: int
) -> list[WeightSetting]:
    """The weights that vary, each with its low and high setting.

    A weight with no counted sibling is its group's (or the whole maximum): it follows its
    group and is not varied on its own.
    """
    out = []
    quantum = Decimal(1).scaleb(-digits)
    only = {kids[0] for kids in tree.children.values() if len(kids) == 1}
    for k in tree.order:
        if k in only and k not in ranges:
            continue
        weight = tree.declared[k]
        bounds = ranges.get(k)
        if bounds is not None:
            low, high = bounds.low, bounds.high
        elif vary:
            share = vary / 100
            low = (weight * (1 - share)).quantize(quantum, ROUND_HALF_EVEN)
            high = (weight * (1 + share)).quantize(quantum, ROUND_HALF_EVEN)
        else:
            continue
        out.append(WeightSetting(k, tree.names[k], weight, low, high))
    return out


def _one_at_a_time(
    tree: _Tree, setting: WeightSetting, digits: int
) -> Iterator[dict[str, Decimal]]:
    """The weights with *setting*'s weight at its low, then at its high value."""
    scale = 10**digits
    for value in (setting.low, setting.high):
        got = _assign(tree, tree.weights, {setting.id: int(value * scale)}, scale)
        if got is None:
            msg = f"{setting.id} at {value} cannot be met with its group's weight"
            raise SensitivityError(msg)
        yield {k: _decimal(v, digits) for k, v in got.items()}


def _movers(
    base: Ranks, groups: Sequence[tuple[str, Sequence[int]]], oat: Ranks | None
) -> tuple[list[str | None], list[int]]:
    """Each unit's strongest setting and how many places it moves the unit.

    *groups* name each setting and its rows of *oat*: a weight's low and high settings, or
    one option of a choice. The setting that moves the unit's rank furthest from its rank
    *base*; the first in order on a tie; none when no setting moves it (or it is not
    ranked). Settings under which the unit is not ranked do not count.
    """
    n = base.shape[0]
    if oat is None or not groups:
        return [None] * n, [0] * n
    here = base.astype(np.int64)
    moved = np.where(oat > 0, np.abs(oat.astype(np.int64) - here), 0)
    shifts = np.stack([moved[list(rows)].max(axis=0) for _, rows in groups])
    shifts[:, here == 0] = 0
    most = shifts.max(axis=0)
    best = shifts.argmax(axis=0)  # the first setting at the most
    ids = [key for key, _ in groups]
    movers = [ids[b] if m > 0 else None for b, m in zip(best.tolist(), most.tolist(), strict=True)]
    return movers, most.tolist()


def _run_variants(
    scheme: Scheme,
    choices: Sequence[Choice],
    declared: tuple[str, ...],
    table: pa.Table,
    work: Sequence[tuple[Mapping[str, Decimal], tuple[str, ...]]],
    jobs: int,
    progress: Callable[[int, int], None] | None,
) -> list[Ranks]:
    """Every (weights, options) of *work* ranked, each variant of the scheme scored once.

    The weight sets of one variant (its choices' options) share its compiled scheme, its
    cohort values and its table read once; variants with values over scores take them for
    every weight set (:class:`_Exact`).
    """
    by_variant: dict[tuple[str, ...], list[int]] = {}
    for at, (_, picked) in enumerate(work):
        by_variant.setdefault(picked, []).append(at)
    out: list[Ranks | None] = [None] * len(work)
    done = 0
    failing: set[int] | None = None  # the rows that fail as declared

    def advance(count: int, _total: int) -> None:
        if progress is not None:
            progress(done + count, len(work))

    for picked, positions in by_variant.items():
        variant = scheme if picked == declared else _with_choices(scheme, choices, picked)
        try:
            compiled = compile_scheme(variant)
        except RuleFileError as exc:
            shown = ", ".join(f"{c.input}={o}" for c, o in zip(choices, picked, strict=True))
            msg = f"the scheme with {shown} is not valid: {exc}"
            raise SensitivityError(msg) from None
        values = all_cohort_values(compiled, lambda: [(table, 1)])
        if choices:  # an option whose formulas fail units that score as declared is refused
            failures = score_chunk(compiled, table, values).failures
            if failing is None:
                declared_scheme = compile_scheme(scheme)
                failing = set(
                    score_chunk(
                        declared_scheme,
                        table,
                        all_cohort_values(declared_scheme, lambda: [(table, 1)]),
                    ).failures
                )
            extra = sorted(set(failures) - failing)
            if extra:
                shown = ", ".join(f"{c.input}={o}" for c, o in zip(choices, picked, strict=True))
                first = failures[extra[0]].diagnostics[0].message()
                msg = (
                    f"with {shown}, {len(extra)} unit(s) that score as declared fail "
                    f"({first}): the scheme's formulas do not suit that option"
                )
                raise SensitivityError(msg)
        scorer: Callable[[Mapping[str, Decimal]], Ranks] = (
            _Columns(compiled, table, values)
            if compiled.columnar().vectorised and not compiled.stages
            else _Exact(variant, table, None if compiled.stages else values)
        )
        weights = [work[at][0] for at in positions]
        for at, ranks in zip(positions, _run(scorer, weights, jobs, advance), strict=True):
            out[at] = ranks
        done += len(positions)
    return [ranks for ranks in out if ranks is not None]


def _run(
    scorer: Callable[[Mapping[str, Decimal]], Ranks],
    work: Sequence[Mapping[str, Decimal]],
    jobs: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[Ranks]:
    # Forked workers inherit the scorer (a compiled scheme holds functions that do not
    # pickle); where processes cannot be forked, the samples run here.
    if jobs <= 1 or len(work) < 2 or "fork" not in get_all_start_methods():
        for done, weights in enumerate(work, 1):
            yield scorer(weights)
            if progress is not None:
                progress(done, len(work))
        return
    chunk = max(1, min(32, len(work) // (4 * jobs)))
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("fork"),
        initializer=_init_worker,
        initargs=(scorer,),
    ) as pool:
        for done, ranks in enumerate(pool.map(_worker_ranks, work, chunksize=chunk), 1):
            yield ranks
            if progress is not None:
                progress(done, len(work))
