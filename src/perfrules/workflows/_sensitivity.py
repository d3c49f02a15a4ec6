"""Rank stability: how far each unit's rank moves when the weights are varied.

Every sample is a whole weight set that passes the scheme's own checks: integer
perturbations (in hundredths of a percent) are drawn with ``random.Random(seed)``, each
group's counted children are rescaled so they keep the group's weight (the top ones keep
their sum), and the results are rounded to a fixed number of places with the remainder
given by the largest-remainder method, so every sum is exact. Each variant is a copy of the
scheme (``model_copy``), compiled and scored exactly by the library (:func:`score_table`'s
arrays, cohorts and the engine's ranking). Nothing here ranks: the ranks are the scheme's
``[ranking]`` (a scheme without one is ranked by total, highest first, competition ties,
through the same engine).

Which weight moves a unit most is measured one at a time: each weight is set to its low
and to its high setting (its declared range, or ``±vary %``) while its siblings absorb the
difference, and the weight whose setting moves the unit's rank furthest from its rank
under the declared weights is named (the first in the scheme's order on a tie).

Needs the ``frame`` extra (numpy, pyarrow, narwhals); imported only when used.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from perfrules._numbers import format_number
from perfrules.engine import CohortValues, CompiledScheme, compile_scheme
from perfrules.errors import Diagnostic
from perfrules.model import Group, Indicator, Ranking, RankKey, Scheme
from perfrules.workflows._stream import read_chunks
from perfrules.workflows._table import (
    TABLE_SOURCE,
    all_cohort_values,
    rank_rows,
    readable_table,
    score_chunk,
)

__all__ = [
    "MIN_PLACES",
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
            "units": [u.to_dict() for u in self.units],
            "failed": [{"unit": unit, "codes": codes} for unit, codes in self.failed],
        }


# --- the weight tree ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Tree:
    """The counted weights of a scheme: each node's children, in the scheme's order."""

    weights: dict[str, Fraction]
    declared: dict[str, Decimal]
    names: dict[str, str]
    children: dict[str | None, list[str]]
    order: list[str]

    @classmethod
    def of(cls, scheme: Scheme) -> _Tree:
        weights: dict[str, Fraction] = {}
        declared: dict[str, Decimal] = {}
        names: dict[str, str] = {}
        children: dict[str | None, list[str]] = {}
        nodes: list[tuple[str, Group | Indicator]] = [
            *scheme.groups.items(),
            *scheme.indicators.items(),
        ]
        for node_id, node in nodes:
            if not node.counted:
                continue
            weights[node_id] = Fraction(node.weight)
            declared[node_id] = node.weight
            names[node_id] = node.name or node_id
            children.setdefault(node.parent, []).append(node_id)
        order = [node_id for node_id, _ in nodes if node_id in weights]
        return cls(weights, declared, names, children, order)

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
    tree = _Tree.of(scheme)
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
#: What a worker process keeps: the scheme and the table, sent once.
_STATE: dict[str, Any] = {}


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


def _with_weights(scheme: Scheme, weights: Mapping[str, Decimal]) -> Scheme:
    groups = {
        k: g.model_copy(update={"weight": weights[k]}) if k in weights else g
        for k, g in scheme.groups.items()
    }
    indicators = {
        k: i.model_copy(update={"weight": weights[k]}) if k in weights else i
        for k, i in scheme.indicators.items()
    }
    return scheme.model_copy(update={"groups": groups, "indicators": indicators})


def _ranks_of(
    scheme: Scheme, table: pa.Table, values: CohortValues | None, weights: Mapping[str, Decimal]
) -> list[int | None]:
    """Every row's rank under *weights*.

    This is ``score_arrow`` with the cohort values taken once: they are read from the
    facts, which no weight changes.
    """
    compiled = compile_scheme(_with_weights(scheme, weights))
    chunk = score_chunk(compiled, table, values)
    ranks = rank_rows(compiled, chunk.rankable)
    return [ranks[r].position if r in ranks else None for r in range(table.num_rows)]


def _init_worker(scheme: Scheme, table: pa.Table, values: CohortValues | None) -> None:
    _STATE["scheme"], _STATE["table"], _STATE["values"] = scheme, table, values


def _worker_ranks(weights: Mapping[str, Decimal]) -> list[int | None]:
    return _ranks_of(_STATE["scheme"], _STATE["table"], _STATE["values"], weights)


def _percentile(ranks: Sequence[int], percent: int) -> int:
    """The nearest-rank percentile of sorted *ranks*."""
    k = max(1, -(-percent * len(ranks) // 100))
    return ranks[k - 1]


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
) -> Sensitivity:
    """Each unit's rank over *samples* weight sets drawn with *seed*, and its strongest weight.

    *vary* is ``±`` the percent each weight is varied by (at most two decimals); *ranges*
    declare weights drawn between bounds instead. *jobs* above 1 scores the samples in that
    many worker processes; the result is the same. *progress* is told how many weight sets
    are scored and how many there are (the declared weights and the one-at-a-time settings
    included).

    Raises:
        SensitivityError: nothing varies, an unknown id, ranges that cannot be met.
    """
    scheme, how = _ranked_scheme(compiled.scheme)
    tree = _Tree.of(scheme)
    _check_ranges(tree, ranges)
    if vary is not None and (vary < 0 or vary >= 100 or vary != vary.quantize(Decimal("0.01"))):
        msg = f"--vary must be a percent from 0 to below 100 with at most 2 decimals, not {vary}"
        raise SensitivityError(msg)
    if (vary is None or vary == 0) and not ranges:
        msg = "nothing varies: give --vary PERCENT or --range ID=LOW:HIGH"
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
    one_at_a_time = [w for s in settings for w in _one_at_a_time(tree, s, digits)]
    work = [tree.declared, *one_at_a_time, *draws]
    base_compiled = compile_scheme(scheme)
    values = (
        all_cohort_values(base_compiled, lambda: [table])
        if base_compiled.plan.has_cohort
        else None
    )
    results = list(_run(scheme, table, values, work, jobs, progress))
    base, oat, sampled = (
        results[0],
        results[1 : 1 + len(one_at_a_time)],
        results[1 + len(one_at_a_time) :],
    )
    scored = score_chunk(base_compiled, table, values).table
    units = [str(u) for u in scored.column("unit").to_pylist()]
    errors = scored.column("errors").to_pylist()
    rows = []
    failed = []
    for r, unit in enumerate(units):
        if errors[r] is not None and base[r] is None:
            failed.append((unit, str(errors[r])))
        ranks = sorted(rank for s in sampled if (rank := s[r]) is not None)
        mover, shift = _mover(r, base[r], settings, oat)
        rows.append(
            UnitStability(
                unit,
                base[r],
                _percentile(ranks, 50) if ranks else None,
                _percentile(ranks, _LOW_PERCENT) if ranks else None,
                _percentile(ranks, _HIGH_PERCENT) if ranks else None,
                len(ranks),
                mover,
                shift,
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
    )


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


def _mover(
    row: int,
    base: int | None,
    settings: Sequence[WeightSetting],
    oat: Sequence[Sequence[int | None]],
) -> tuple[str | None, int]:
    if base is None:
        return None, 0
    best: str | None = None
    most = 0
    for i, setting in enumerate(settings):
        moved = [abs(r - base) for r in (oat[2 * i][row], oat[2 * i + 1][row]) if r is not None]
        shift = max(moved, default=0)
        if shift > most:
            best, most = setting.id, shift
    return best, most


def _run(
    scheme: Scheme,
    table: pa.Table,
    values: CohortValues | None,
    work: Sequence[Mapping[str, Decimal]],
    jobs: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[list[int | None]]:
    # Forked workers inherit the scheme and the table (a compiled scheme holds functions
    # that do not pickle); where processes cannot be forked, the samples run here.
    if jobs <= 1 or len(work) < 2 or "fork" not in get_all_start_methods():
        for done, weights in enumerate(work, 1):
            yield _ranks_of(scheme, table, values, weights)
            if progress is not None:
                progress(done, len(work))
        return
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("fork"),
        initializer=_init_worker,
        initargs=(scheme, table, values),
    ) as pool:
        for done, ranks in enumerate(pool.map(_worker_ranks, work, chunksize=4), 1):
            yield ranks
            if progress is not None:
                progress(done, len(work))
