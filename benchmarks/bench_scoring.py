"""Benchmark: scoring per unit against the strongest baselines, in one run.

Run with ``make bench`` (it installs the ``bench`` extra, zen-engine). For the seed scheme
(17 indicators) and for seed-like schemes of 200 and 2,000 indicators, every row is timed
on the same unit and printed as a median with its ratio to row (a):

  (a)  hand-written Python, exact Decimal: Inexact trapped, Fraction where it fires, half-up
       per row, sum, band — the baseline
  (a2) hand-written Python, exact integers: each fact as numerator/denominator
       (``as_integer_ratio``), half-up by ``divmod``, cents summed, band
  (b)  perfrules ``evaluate(trace=False)``
  (c)  perfrules ``evaluate()`` with the trace read: every node, its inputs and steps, the gap
  (c+) perfrules ``evaluate()`` and ``trace.to_json()``
  (b*), (c*), (c+*) the same over 2,000 units whose values are all different (six-digit
       decimals), each scored once: what a trace costs when nothing can be remembered
  (d)  zen-engine, one expression node, ``engine.evaluate(key, facts)`` with a static loader
       (its fastest path), ``round(w * a, 2)`` per row, floats
  (dt) the same with ``trace=True``

Before timing, every row is checked: 89.25 良好 on the seed's example, and (a), (a2), (b)
and (c) give identical exact totals and grades on BENCH_VERIFY (default 20,000) random units
of the 17-indicator scheme (and 2,000 / 200 of the larger ones); zen-engine's float totals
are compared too and their differences counted. The machine is shared and noisy: compare
ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, localcontext
from fractions import Fraction
from pathlib import Path

import perfrules

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
VERIFY = int(os.environ.get("BENCH_VERIFY", "20000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
PLANNED = 88  # the capped row's planned count (the seed's 质量-市域治理)


class Setup:
    """One scheme: compiled, its rows, bands, an example unit and random units."""

    def __init__(self, name: str, scheme_path: Path, verify: int) -> None:
        start = time.perf_counter()
        self.compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme_path))
        self.load_ms = (time.perf_counter() - start) * 1000
        scheme = self.compiled.scheme
        self.name = name
        self.rows = [
            (ident, int(ind.weight), "88" in (ind.formula or "") or ind.formula == "capped")
            for ident, ind in scheme.indicators.items()
        ]
        self.bands = [(int(b.min), b.label) for b in scheme.bands]
        rng = random.Random(20261127)
        self.units = [self.random_unit(rng) for _ in range(verify)]
        self.example = self.units[0]

    def random_unit(self, rng: random.Random) -> dict[str, Decimal]:
        return {
            ident: Decimal(rng.randint(0, PLANNED))
            if capped
            else Decimal(rng.randint(0, 100)) / 100
            for ident, _, capped in self.rows
        }

    def facts(self, unit: dict[str, Decimal]) -> dict[str, object]:
        return {"indicators": {ident: {"actual": value} for ident, value in unit.items()}}


def seed_like_scheme(n: int) -> str:
    """A scheme shaped like the seed: groups of 5 rows of weight 1, one capped row in 17."""
    lines = [
        "[scheme]",
        f'id = "seed-like-{n}"',
        'title = "seed-like"',
        f"max = {n}",
        "",
        "[rounding]",
        "indicator = 2",
        "total = 2",
        "",
        "[defaults]",
        'formula = "weight * min(actual, 1)"',
        "",
        "[inputs]",
        "actual = {}",
        "",
    ]
    for label, low, high in (("优秀", 90, 101), ("良好", 80, 90), ("中等", 60, 80), ("差", 0, 60)):
        lines += [
            "[[bands]]",
            f'label = "{label}"',
            f"min = {n * low // 100}",
            f"max = {min(n * high // 100, n)}",
            "",
        ]
    for g in range(n // 5):
        lines += [f"[groups.g{g}]", "weight = 5", ""]
        for r in range(5):
            i = g * 5 + r
            lines += [f"[indicators.r{i}]", f'parent = "g{g}"', "weight = 1"]
            if i % 17 == 9:
                lines.append(f'formula = "weight * min(actual / {PLANNED}, 1)"')
            lines.append("")
    return "\n".join(lines)


# --- (a) exact Decimal by hand ----------------------------------------------------------
_EXACT = Context(prec=60, traps=[Inexact])
_ROUNDING = Context(prec=60)
_CENT = Decimal("0.01")


def _half_up(value: Fraction) -> Fraction:
    quotient, remainder = divmod(value.numerator * 100, value.denominator)
    return Fraction(quotient + (2 * remainder >= value.denominator), 100)


def decimal_scorer(setup: Setup):
    rows, bands = setup.rows, setup.bands

    def score(unit: dict[str, Decimal]) -> tuple[Decimal, str]:
        total = Decimal(0)
        with localcontext(_EXACT):
            for ident, weight, capped in rows:
                actual = unit[ident]
                try:
                    value = (
                        weight * min(actual / PLANNED, 1) if capped else weight * min(actual, 1)
                    )
                    rounded = value.quantize(_CENT, rounding=ROUND_HALF_UP, context=_ROUNDING)
                except Inexact:
                    exact = _half_up(weight * min(Fraction(actual) / PLANNED, 1))
                    rounded = Decimal(exact.numerator) / Decimal(exact.denominator)
                total += rounded
        return total, next(label for low, label in bands if total >= low)

    return score


# --- (a2) exact integers by hand --------------------------------------------------------
def integer_scorer(setup: Setup):
    rows, bands = setup.rows, [(low * 100, label) for low, label in setup.bands]

    def score(unit: dict[str, Decimal]) -> tuple[Decimal, str]:
        cents = 0
        for ident, weight, capped in rows:
            num, den = unit[ident].as_integer_ratio()
            if capped:
                den *= PLANNED
            num = min(num, den)
            quotient, remainder = divmod(weight * num * 100, den)
            cents += quotient + (2 * remainder >= den)
        return Decimal(cents).scaleb(-2), next(label for low, label in bands if cents >= low)

    return score


# --- (b), (c), (c+) perfrules -----------------------------------------------------------
def perfrules_rows(setup: Setup):
    compiled = setup.compiled

    def plain(facts):
        result = compiled.evaluate(facts, trace=False)
        return result.total, result.grade.label

    def traced(facts):
        result = compiled.evaluate(facts)
        trace = result.trace
        for node in trace.root.walk():
            node.inputs, node.steps, node.roundings  # noqa: B018 - reading is the point
        trace.gap  # noqa: B018
        return result.total, result.grade.label

    def as_json(facts):
        return compiled.evaluate(facts).trace.to_json()

    return plain, traced, as_json


# --- (d), (dt) zen-engine ---------------------------------------------------------------
def zen_rows(setup: Setup):
    try:
        import zen
    except ImportError:
        return None, None, None
    expressions, keys = [], []
    for number, (_, weight, capped) in enumerate(setup.rows):
        key = f"s{number}"
        keys.append(key)
        value = (
            f"round({weight} * min([a{number} / {PLANNED}, 1]), 2)"
            if capped
            else f"round({weight} * min([a{number}, 1]), 2)"
        )
        expressions.append({"id": f"e{number}", "key": key, "value": value})
    expressions.append(
        {
            "id": "etotal",
            "key": "total",
            "value": "round(" + " + ".join(f"$.{k}" for k in keys) + ", 2)",
        }
    )
    grade = "'差'"
    for low, label in reversed(setup.bands[:-1]):
        grade = f"$.total >= {low} ? '{label}' : ({grade})"
    expressions.append({"id": "egrade", "key": "grade", "value": grade})
    decision = {
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
    engine = zen.ZenEngine({"loader": {"type": "static", "content": {"scheme.json": decision}}})

    def fastest(facts):
        result = engine.evaluate("scheme.json", facts)["result"]
        return result["total"], result["grade"]

    def traced(facts):
        result = engine.evaluate("scheme.json", facts, {"trace": True})
        return result["result"]["total"], result["trace"]

    def facts_of(unit):
        return {
            f"a{number}": float(unit[ident]) for number, (ident, _, _) in enumerate(setup.rows)
        }

    return fastest, traced, facts_of


# --- timing ---------------------------------------------------------------------------------
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
    estimate = max(_timed(fn, arg, 3) / 3, 1e-7)
    inner = max(1, int(target / estimate))
    return statistics.median(_timed(fn, arg, inner) / inner * 1e6 for _ in range(REPEATS))


def time_each(fn, items) -> float:
    """µs per item, each item once (a fresh list per repeat keeps every value new)."""
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


def verify(setup: Setup) -> str:
    decimal, integer = decimal_scorer(setup), integer_scorer(setup)
    plain, traced, _ = perfrules_rows(setup)
    zen_fast, _, zen_facts = zen_rows(setup)
    differs = 0
    for unit in setup.units:
        expected = decimal(unit)
        facts = setup.facts(unit)
        assert integer(unit) == expected, (unit, integer(unit), expected)
        assert plain(facts) == expected, (unit, plain(facts), expected)
        assert traced(facts) == expected, (unit, traced(facts), expected)
        if zen_fast is not None:
            total, grade = zen_fast(zen_facts(unit))
            differs += (
                abs(Fraction(total) - Fraction(expected[0])) > Fraction(1, 10**9)
                or grade != expected[1]
            )
    note = f"; zen-engine (floats) differs on {differs}" if zen_fast is not None else ""
    return f"(a), (a2), (b), (c) identical on {len(setup.units):,} random units{note}"


def measure(setup: Setup) -> dict[str, float]:
    unit, facts = setup.example, setup.facts(setup.example)
    plain, traced, as_json = perfrules_rows(setup)
    rows = {
        "a": time_unit(decimal_scorer(setup), unit),
        "a2": time_unit(integer_scorer(setup), unit),
        "b": time_unit(plain, facts),
        "c": time_unit(traced, facts),
        "c+": time_unit(as_json, facts),
    }
    rng = random.Random(7)
    fresh = [
        setup.facts(
            {
                ident: Decimal(rng.randint(0, PLANNED * 10**6)) / 10**6
                if capped
                else Decimal(rng.randint(0, 10**6)) / 10**6
                for ident, _, capped in setup.rows
            }
        )
        for _ in range(max(2000 // max(len(setup.rows) // 17, 1), 20))
    ]
    rows["b*"] = time_each(plain, fresh)
    rows["c*"] = time_each(traced, fresh)
    rows["c+*"] = time_each(as_json, fresh)
    zen_fast, zen_traced, zen_facts = zen_rows(setup)
    if zen_fast is not None:
        rows["d"] = time_unit(zen_fast, zen_facts(unit))
        rows["dt"] = time_unit(zen_traced, zen_facts(unit))
    return rows


NAMES = {
    "a": "hand-written exact Decimal (baseline)",
    "a2": "hand-written exact integers",
    "b": "perfrules evaluate(trace=False)",
    "c": "perfrules evaluate(), trace read",
    "c+": "perfrules evaluate() + to_json()",
    "b*": "(b), every value new",
    "c*": "(c), every value new",
    "c+*": "(c+), every value new",
    "d": "zen-engine fastest path (floats)",
    "dt": "zen-engine trace=True (floats)",
}


def main() -> None:
    print(
        f"perfrules {perfrules.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPU(s); {REPEATS} repeats"
    )
    with tempfile.TemporaryDirectory() as folder:
        setups = [Setup("seed, 17 indicators", SEED / "scheme.toml", VERIFY)]
        for n, share in ((200, 10), (2000, 100)):
            path = Path(folder) / f"seed-like-{n}.toml"
            path.write_text(seed_like_scheme(n), encoding="utf-8")
            setups.append(Setup(f"seed-like, {n} indicators", path, max(VERIFY // share, 50)))
    seed = perfrules.load_facts(SEED / "facts.toml")
    result = setups[0].compiled.evaluate(seed)
    assert (str(result.total), result.grade.label) == ("89.25", "良好")
    print("verified: 89.25 良好 on the seed's example")
    results = {}
    for setup in setups:
        print(f"verified ({setup.name}): {verify(setup)}")
    for setup in setups:
        rows = measure(setup)
        results[setup.name] = rows
        print()
        print(f"{setup.name} — load + compile {setup.load_ms:.0f} ms")
        print(
            f"{'row':<4} {'implementation':<42} {'µs/unit':>10} {'× (a)':>7} {'µs/indicator':>13}"
        )
        for key, micro in rows.items():
            print(
                f"{key:<4} {NAMES[key]:<42} {micro:>10.2f} {micro / rows['a']:>7.2f} "
                f"{micro / len(setup.rows):>13.3f}"
            )
    print()
    print("targets (against (a) of the same scheme, measured in this run):")
    for setup in setups:
        rows = results[setup.name]
        checks = [
            ("untraced <= 1.0x (a)", rows["b"] / rows["a"], rows["b"] <= rows["a"]),
            ("trace read <= 3x (a)", rows["c"] / rows["a"], rows["c"] <= 3 * rows["a"]),
            ("to_json <= 6x (a)", rows["c+"] / rows["a"], rows["c+"] <= 6 * rows["a"]),
        ]
        if "d" in rows:
            checks.append(
                ("untraced faster than zen fastest", rows["b"] / rows["d"], rows["b"] < rows["d"])
            )
            checks.append(
                (
                    "to_json < 2x zen trace=True",
                    rows["c+"] / rows["dt"],
                    rows["c+"] < 2 * rows["dt"],
                )
            )
        for label, ratio, ok in checks:
            print(f"  {setup.name:<26} {label:<34} {ratio:6.2f}x  {'met' if ok else 'MISSED'}")
    small, large = results[setups[0].name], results[setups[-1].name]
    per_small = small["b"] / len(setups[0].rows)
    per_large = large["b"] / len(setups[-1].rows)
    ratio = per_large / per_small
    print(
        f"  per-indicator cost at 2,000 vs 17 (untraced) <= 1.2x: {ratio:.2f}x  {'met' if ratio <= 1.2 else 'MISSED'}"
    )
    load = setups[-1].load_ms
    print(
        f"  load + compile of 2,000 indicators <= 200 ms: {load:.0f} ms  {'met' if load <= 200 else 'MISSED'}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
