"""Benchmark: scoring the seed scheme, per unit, against a hand-written exact baseline.

Run with ``make bench`` (it installs the ``bench`` extra, zen-engine). All rows are measured
in one run on the same inputs and printed as medians with their ratio to row (a):

  (a)  hand-written Python: Fraction arithmetic, half-up rounding per row, sum, band — the
       baseline
  (a2) hand-written Python: Decimal with the Inexact signal trapped, Fraction where it fires
       (for information: the fastest exact hand-written code we know)
  (b)  perfrules, ``evaluate(trace=False)``
  (c)  perfrules, ``evaluate()`` with the full trace
  (c+) perfrules, full trace and ``to_json()`` (for information)
  (d)  zen-engine: one expression node, ``engine.evaluate(key, facts)`` with a static loader
       (its fastest path), ``round(w * a, 2)`` per row
  (e)  a batch of BENCH_BATCH (default 100,000) random units: (a), (b) and (d) per unit

Before timing, every implementation is checked on the example (89.25, 良好) and (a), (a2)
and (b) must agree exactly on every unit of the batch. The machine is shared and noisy:
compare ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, localcontext
from fractions import Fraction
from pathlib import Path

import perfrules

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
BATCH = int(os.environ.get("BENCH_BATCH", "100000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))

SCHEME = perfrules.load_scheme(SEED / "scheme.toml")
COMPILED = perfrules.compile_scheme(SCHEME)
ROWS = [
    (ident, int(indicator.weight), indicator.formula == "capped")
    for ident, indicator in SCHEME.indicators.items()
]
PLANNED = 88  # the capped row's planned count
BANDS = [(90, "优秀"), (80, "良好"), (60, "中等"), (0, "差")]


def example_unit() -> dict[str, Decimal]:
    facts = perfrules.load_facts(SEED / "facts.toml")
    unit = {}
    for ident, values in facts.indicators.items():
        actual = values["actual"]
        if isinstance(actual, dict):
            unit[ident] = Decimal(actual["value"])
        else:
            unit[ident] = Decimal(actual.rstrip("%")) / 100
    return unit


def random_units(n: int, seed: int = 20261126) -> list[dict[str, Decimal]]:
    rng = random.Random(seed)
    units = []
    for _ in range(n):
        unit = {}
        for ident, _, capped in ROWS:
            unit[ident] = (
                Decimal(rng.randint(0, PLANNED)) if capped else Decimal(rng.randint(0, 100)) / 100
            )
        units.append(unit)
    return units


# --- (a) the baseline: hand-written Fraction arithmetic ------------------------------
def _half_up(value: Fraction, places: int = 2) -> Fraction:
    scale = 10**places
    quotient, remainder = divmod(value.numerator * scale, value.denominator)
    if 2 * remainder >= value.denominator:
        quotient += 1
    return Fraction(quotient, scale)


def baseline(unit: dict[str, Decimal]) -> tuple[Fraction, str]:
    total = Fraction(0)
    for ident, weight, capped in ROWS:
        actual = Fraction(unit[ident])
        score = weight * min(actual / PLANNED, 1) if capped else weight * actual
        total += _half_up(score)
    total = _half_up(total)
    return total, next(label for low, label in BANDS if total >= low)


# --- (a2) hand-written Decimal, Inexact trapped, Fraction where it fires -------------
_EXACT = Context(prec=60, traps=[Inexact])
_CENT = Decimal("0.01")


def baseline_decimal(unit: dict[str, Decimal]) -> tuple[Decimal, str]:
    total = Decimal(0)
    with localcontext(_EXACT) as ctx:
        for ident, weight, capped in ROWS:
            actual = unit[ident]
            try:
                score = weight * min(actual / PLANNED, 1) if capped else weight * actual
                rounded = score.quantize(_CENT, rounding=ROUND_HALF_UP, context=_ROUNDING)
            except Inexact:
                exact = weight * min(Fraction(actual) / PLANNED, 1)
                rounded = Decimal(_half_up(exact).numerator) / Decimal(_half_up(exact).denominator)
            total += rounded
        del ctx
    return total, next(label for low, label in BANDS if total >= low)


_ROUNDING = Context(prec=60)


# --- (b), (c) perfrules ----------------------------------------------------------------
def as_facts(unit: dict[str, Decimal]) -> dict[str, object]:
    return {"indicators": {ident: {"actual": value} for ident, value in unit.items()}}


def perfrules_plain(facts: dict[str, object]) -> tuple[Decimal, str]:
    result = COMPILED.evaluate(facts, trace=False)
    return result.total, result.grade.label


def perfrules_traced(facts: dict[str, object]) -> tuple[Decimal, str]:
    result = COMPILED.evaluate(facts)
    return result.total, result.grade.label


def perfrules_json(facts: dict[str, object]) -> str:
    result = COMPILED.evaluate(facts)
    assert result.trace is not None
    return result.trace.to_json()


# --- (d) zen-engine ------------------------------------------------------------------
def zen_decision() -> dict[str, object]:
    expressions = []
    keys = []
    for number, (ident, weight, capped) in enumerate(ROWS):
        key = f"s{number:02d}"
        keys.append(key)
        value = (
            f"round({weight} * min([a{number:02d} / {PLANNED}, 1]), 2)"
            if capped
            else f"round({weight} * a{number:02d}, 2)"
        )
        expressions.append({"id": f"e{number}", "key": key, "value": value})
        del ident
    expressions.append(
        {
            "id": "etotal",
            "key": "total",
            "value": "round(" + " + ".join(f"$.{k}" for k in keys) + ", 2)",
        }
    )
    expressions.append(
        {
            "id": "egrade",
            "key": "grade",
            "value": "$.total >= 90 ? '优秀' : ($.total >= 80 ? '良好' : ($.total >= 60 ? '中等' : '差'))",
        }
    )
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "facts", "position": {"x": 0, "y": 0}},
            {
                "id": "ind",
                "type": "expressionNode",
                "name": "indicators",
                "position": {"x": 200, "y": 0},
                "content": {"expressions": expressions},
            },
            {"id": "out", "type": "outputNode", "name": "result", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "type": "edge", "sourceId": "in", "targetId": "ind"},
            {"id": "e2", "type": "edge", "sourceId": "ind", "targetId": "out"},
        ],
    }


def make_zen():
    try:
        import zen
    except ImportError:
        return None
    engine = zen.ZenEngine(
        {"loader": {"type": "static", "content": {"scheme.json": zen_decision()}}}
    )

    def unit(facts: dict[str, float]) -> tuple[float, str]:
        result = engine.evaluate("scheme.json", facts)["result"]
        return result["total"], result["grade"]

    return unit


def zen_facts(unit: dict[str, Decimal]) -> dict[str, float]:
    return {f"a{number:02d}": float(unit[ident]) for number, (ident, _, _) in enumerate(ROWS)}


# --- timing --------------------------------------------------------------------------
def _timed(fn, arg, inner: int) -> float:
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(inner):
            fn(arg)
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def time_unit(fn, arg, target: float = 0.2) -> float:
    fn(arg)
    estimate = max(_timed(fn, arg, 5) / 5, 1e-7)
    inner = max(1, int(target / estimate))
    return statistics.median(_timed(fn, arg, inner) / inner * 1e6 for _ in range(REPEATS))


def time_batch(fn, items) -> float:
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return (time.perf_counter() - start) / len(items) * 1e6
    finally:
        if enabled:
            gc.enable()


def main() -> None:
    print(
        f"perfrules {perfrules.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPU(s); batch {BATCH}, {REPEATS} repeats"
    )
    unit = example_unit()
    facts = as_facts(unit)
    zen_unit = make_zen()

    # verification
    assert baseline(unit) == (Fraction(8925, 100), "良好"), baseline(unit)
    assert baseline_decimal(unit) == (Decimal("89.25"), "良好")
    assert perfrules_plain(facts) == (Decimal("89.25"), "良好")
    assert perfrules_traced(facts) == (Decimal("89.25"), "良好")
    if zen_unit is not None:
        total, grade = zen_unit(zen_facts(unit))
        assert abs(total - 89.25) < 1e-9 and grade == "良好", (total, grade)
    units = random_units(BATCH)
    batch_facts = [as_facts(u) for u in units]
    mismatches = 0
    for u, f in zip(units[:20000], batch_facts[:20000], strict=True):
        exact, grade = baseline(u)
        assert baseline_decimal(u) == (Decimal(exact.numerator) / exact.denominator, grade)
        got = perfrules_plain(f)
        assert got == (Decimal(exact.numerator) / exact.denominator, grade), (u, got, exact)
        if zen_unit is not None:
            total, zen_grade = zen_unit(zen_facts(u))
            mismatches += abs(Fraction(total) - exact) > Fraction(1, 10**9) or zen_grade != grade
    print(
        "verified: 89.25 良好 on the example; (a), (a2), (b) identical on 20,000 random units"
        + (f"; zen-engine differs on {mismatches} of them" if zen_unit else "")
    )

    rows: list[tuple[str, str, float]] = []
    rows.append(
        ("a", "hand-written Fraction, half-up per row (baseline)", time_unit(baseline, unit))
    )
    rows.append(("a2", "hand-written Decimal, Inexact trapped", time_unit(baseline_decimal, unit)))
    rows.append(("b", "perfrules evaluate(trace=False)", time_unit(perfrules_plain, facts)))
    rows.append(("c", "perfrules evaluate() with full trace", time_unit(perfrules_traced, facts)))
    rows.append(("c+", "perfrules full trace + to_json()", time_unit(perfrules_json, facts)))
    if zen_unit is not None:
        zf = zen_facts(unit)
        rows.append(
            ("d", "zen-engine engine.evaluate(key), static loader", time_unit(zen_unit, zf))
        )
    base = rows[0][2]
    print()
    print(f"{'row':<4} {'implementation':<52} {'µs/unit':>10} {'× (a)':>7}")
    for key, name, micro in rows:
        print(f"{key:<4} {name:<52} {micro:>10.2f} {micro / base:>7.2f}")

    print()
    print(f"(e) batch of {BATCH} random units, µs per unit")
    batch_rows = [
        ("a", "baseline", time_batch(baseline, units)),
        ("b", "perfrules evaluate(trace=False)", time_batch(perfrules_plain, batch_facts)),
    ]
    if zen_unit is not None:
        zen_batch = [zen_facts(u) for u in units]
        batch_rows.append(("d", "zen-engine", time_batch(zen_unit, zen_batch)))
    base = batch_rows[0][2]
    for key, name, micro in batch_rows:
        print(f"{key:<4} {name:<52} {micro:>10.2f} {micro / base:>7.2f}")
    targets = {row[0]: row[2] for row in rows}
    print()
    print(
        f"targets: (b) <= 2x (a): {targets['b'] / targets['a']:.2f}x; "
        f"(c) <= 4x (a): {targets['c'] / targets['a']:.2f}x"
        + (
            f"; (c) faster than (d): {targets['c'] / targets['d']:.2f}x of (d)"
            if "d" in targets
            else ""
        )
    )
    json.dumps(rows)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
