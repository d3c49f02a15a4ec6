"""Benchmark: scoring and explaining one unit, against the strongest baselines, in one run.

Run with ``make bench`` (it installs the ``bench`` extra, zen-engine). For the seed scheme
(17 indicators) and seed-like schemes of 200 and 2,000 indicators, each row is timed per unit:

  (a)  hand-written Python, exact Decimal: Inexact trapped, Fraction where it fires, half-up
       per row, sum, band — the baseline (1.0)
  (a2) hand-written Python, exact integers: each fact as numerator/denominator
       (``as_integer_ratio``), half-up by ``divmod``, cents summed, band
  (w)  hand-written Python writing the trace JSON of the unit: the same document as
       ``to_json()`` (checked: their parsed outputs are equal), numbers exact
  (b)  perfrules ``evaluate(trace=False)``
  (c)  perfrules ``evaluate()`` with the trace read: every node, its inputs, steps and
       roundings, and the gap
  (c+) perfrules ``evaluate()`` and ``trace.to_json()``
  (cg) (c) with the garbage collector running (every other row pauses it, as ``timeit``
       does): for information — its cost grows with the rest of the process's heap
  (d)  zen-engine, one expression node, ``engine.evaluate(key, facts)`` with a static loader
       (its fastest path), ``round(w * a, 2)`` per row, binary floats
  (dt) the same with ``trace=True``

Three kinds of input:

- **fresh** (the targets): every fact of every unit is a new six-significant-digit decimal —
  no value repeats anywhere in the run, so nothing keyed on values can be reused — and
  every memo of perfrules is switched off (cleared, and kept from storing);
- **low-cardinality**: distinct units of two-digit values (0.00–0.99), memos as shipped;
- **repeated**: the same unit again and again, memos as shipped.

Timing is CPU time (``time.process_time``), rows interleaved round by round, the minimum of
BENCH_ROUNDS (default 5) rounds; each (row, round) of fresh input has its own new units.
Before timing, every row is checked: 89.25 良好 on the seed's example; (a), (a2), (b) and
(c) give identical exact totals and grades on BENCH_VERIFY (default 20,000) random units of
the seed (2,000 / 200 of the larger schemes), and (w)'s document parses equal to
``to_json()``'s on them and on fresh units; zen-engine's float totals are compared too.
The machine is shared and noisy: compare ratios within one run, not numbers across runs.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, Inexact, localcontext
from fractions import Fraction
from math import gcd
from pathlib import Path
from typing import Any

import perfrules
from perfrules._numbers import Memo

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
VERIFY = int(os.environ.get("BENCH_VERIFY", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PLANNED = 88  # the capped row's planned count (the seed's 质量-市域治理)

Unit = dict[str, Decimal]


class Setup:
    """One scheme: compiled, its rows, bands, random units for the checks."""

    def __init__(self, name: str, scheme_path: Path, verify: int, batch: int) -> None:
        start = time.process_time()
        self.compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme_path))
        self.load_ms = (time.process_time() - start) * 1000
        scheme = self.compiled.scheme
        self.name = name
        self.batch = batch  # units per timed batch
        self.rows = [
            (ident, int(ind.weight), "88" in (ind.formula or "") or ind.formula == "capped")
            for ident, ind in scheme.indicators.items()
        ]
        self.bands = [(int(b.min), b.label) for b in scheme.bands]
        rng = random.Random(20261127)
        self.units = [self.random_unit(rng) for _ in range(verify)]

    def random_unit(self, rng: random.Random) -> Unit:
        return {
            ident: Decimal(rng.randint(0, PLANNED))
            if capped
            else Decimal(rng.randint(0, 100)) / 100
            for ident, _, capped in self.rows
        }

    def facts(self, unit: Unit) -> dict[str, Any]:
        return {"indicators": {ident: {"actual": value} for ident, value in unit.items()}}


class Fresh:
    """Six-significant-digit decimals, none given twice in a run.

    An ordinary row reads 0.100000–0.999999 or 0.0100000–0.0999999; a capped row (actual /
    88) 10.0000–87.9999.
    """

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        plain = list(range(100_000, 1_000_000))
        rng.shuffle(plain)
        self.plain = iter(
            Decimal(k).scaleb(-scale) for scale in (6, 7) for k in plain
        )  # each k once per scale: 1.8 million values
        capped = list(range(100_000, 880_000))
        rng.shuffle(capped)
        self.capped = iter(Decimal(k).scaleb(-4) for k in capped)

    def unit(self, setup: Setup) -> Unit:
        return {
            ident: next(self.capped) if capped else next(self.plain)
            for ident, _, capped in setup.rows
        }


def low_cardinality_unit(setup: Setup, rng: random.Random) -> Unit:
    return {
        ident: Decimal(rng.randint(0, PLANNED)) if capped else Decimal(rng.randint(0, 99)) / 100
        for ident, _, capped in setup.rows
    }


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


def decimal_scorer(setup: Setup) -> Callable[[Unit], tuple[Decimal, str]]:
    rows, bands = setup.rows, setup.bands

    def score(unit: Unit) -> tuple[Decimal, str]:
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
def integer_scorer(setup: Setup) -> Callable[[Unit], tuple[Decimal, str]]:
    rows, bands = setup.rows, [(low * 100, label) for low, label in setup.bands]

    def score(unit: Unit) -> tuple[Decimal, str]:
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


# --- (w) the trace JSON by hand ---------------------------------------------------------
_SIGNIFICANT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_canonical = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode


def _places(den: int) -> int | None:
    """Decimal places of n/den in lowest terms, or None when it repeats."""
    twos = (den & -den).bit_length() - 1
    den >>= twos
    fives = 0
    while den % 5 == 0:
        den //= 5
        fives += 1
    return max(twos, fives) if den == 1 else None


def _fixed(num: int, den: int, places: int) -> str:
    """num/den (with at most *places* decimals) with exactly *places* decimals."""
    digits = str(abs(num) * 10**places // den).rjust(places + 1, "0")
    sign = "-" if num < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else sign + digits


def _exact_text(num: int, den: int) -> tuple[str, str | None]:
    """A value's text (exact, or 28 significant digits) and its n/d when it repeats."""
    common = gcd(num, den)
    num, den = num // common, den // common
    places = _places(den)
    if places is not None:
        return _fixed(num, den, places), None
    value = _SIGNIFICANT.divide(Decimal(num), Decimal(den))
    return format(value, "f"), f"{num}/{den}"


def _short_text(num: int, den: int) -> str:
    """A value as a step shows it: exact up to 6 places, else cut to 6 with '…'."""
    common = gcd(num, den)
    num, den = num // common, den // common
    places = _places(den)
    if places is not None and places <= 6:
        text = _fixed(num, den, places)
    else:
        cut = _fixed(abs(num) * 10**6 // den, 10**6, 6).rstrip("0").rstrip(".")
        text = ("-" if num < 0 else "") + cut + "…"
    return f"({text})" if num < 0 else text


def _value(num: int, den: int) -> str:
    text, exact = _exact_text(num, den)
    return f'"value":"{text}"' + (f',"exact":"{exact}"' if exact else "")


def hand_writer(setup: Setup) -> Callable[[dict[str, Any]], str]:
    """A writer of the seed-like documents by hand, from their fixed texts.

    The texts that do not change between units (ids, names, targets, sources, bands,
    provenance of the scheme) are taken once from one reference document, as a hand-written
    program would hard-code them; everything a unit changes is computed here.
    """
    compiled = setup.compiled
    reference = json.loads(compiled.evaluate(setup.facts(setup.units[0])).trace.to_json())
    capped_rows = {ident for ident, _, capped in setup.rows if capped}
    bands = [(int(b["min"]), b) for b in reference["bands"]]
    provenance = reference["provenance"]
    prov_head = _dumps(provenance)[: -len('"sha256":"' + provenance["facts"]["sha256"] + '"}}')]
    root_places = reference["root"]["roundings"][0]["places"]
    mode = reference["root"]["roundings"][0]["mode"]

    def head(node: dict[str, Any]) -> str:
        keys = ("id", "name", "kind", "weight")
        return _dumps({k: node[k] for k in keys})[:-1]

    def layout(node: dict[str, Any]) -> tuple[Any, ...]:
        sources = ',"sources":' + _dumps(node["sources"]) if "sources" in node else ""
        if node["kind"] != "indicator":
            return (head(node), sources, node["weight"], [layout(c) for c in node["children"]])
        weight = int(node["weight"])
        inputs = node["inputs"]
        target = inputs.get("target")
        steps = node["steps"]
        named = steps[-1].get("formula")
        return (
            head(node),
            sources + f',"target":{_dumps(node["target"])}',
            f',"formula":{_dumps(node["formula"])},"inputs":{{',
            '"weight":' + _dumps(inputs["weight"]) if "weight" in inputs else "",
            ',"target":' + _dumps(target) if target else "",
            weight,
            node["id"] in capped_rows,
            [_dumps(step["expr"]) for step in steps],
            None if named is None else (_dumps(steps[-1]["with"]), _dumps(named)),
            node["id"],
            node["name"],
        )

    tree = layout(reference["root"])

    def rounding(bn: int, bd: int, cents: int) -> str:
        before, exact = _exact_text(bn, bd)
        extra = f',"before_exact":"{exact}"' if exact else ""
        return (
            f'{{"places":{root_places},"mode":"{mode}","before":"{before}",'
            f'"after":"{_fixed(cents, 100, 2)}"{extra}}}'
        )

    def row(spec: tuple[Any, ...], actual: Decimal, lost: list[Any]) -> tuple[str, int]:
        (head_text, fixed, formula, weight_in, target_in, weight, capped, exprs, named) = spec[:9]
        num, den = actual.as_integer_ratio()
        text = str(actual)
        steps = []
        if capped:  # actual / 88, min(…, 1), weight * …
            qn, qd = num, den * PLANNED
            steps.append(
                f'{{"expr":{exprs[0]},"with":"{_short_text(num, den)} / {PLANNED}",{_value(qn, qd)}}}'
            )
            shown = _short_text(qn, qd)
            k = 1
        else:  # min(actual, 1), weight * …
            qn, qd = num, den
            shown = _short_text(num, den)
            k = 0
        mn, md = (qn, qd) if qn < qd else (1, 1)
        steps.append(f'{{"expr":{exprs[k]},"with":"min({shown}, 1)",{_value(mn, md)}}}')
        vn, vd = weight * mn, md
        value = _value(vn, vd)
        steps.append(
            f'{{"expr":{exprs[k + 1]},"with":"{weight} * {_short_text(mn, md)}",{value}}}'
        )
        if named is not None:
            steps.append(
                f'{{"expr":{exprs[k + 2]},"with":{named[0]},{value},"formula":{named[1]}}}'
            )
        cents, remainder = divmod(vn * 100, vd)
        cents += 2 * remainder >= vd
        lost_cents = weight * 100 - cents
        if lost_cents > 0:
            lost.append((-lost_cents, spec[9], spec[10]))
        actual_text = _exact_text(num, den)[0]
        inputs = (
            f'{weight_in},"actual":{{"value":"{actual_text}","text":"{text}","source":"facts"}}'
            f"{target_in}}}"
        )
        return (
            f'{head_text},"score":"{_fixed(cents, 100, 2)}","lost":"{_fixed(lost_cents, 100, 2)}",'
            f'"status":"scored"{fixed},"actual":"{text}"{formula}{inputs},'
            f'"steps":[{",".join(steps)}],"roundings":[{rounding(vn, vd, cents)}],'
            '"notes":[],"children":[]}'
        ), cents

    def group(spec: tuple[Any, ...], facts: dict[str, Any], lost: list[Any]) -> tuple[str, int]:
        head_text, sources, weight, children = spec
        texts = []
        cents = 0
        for child in children:
            if len(child) == 4:
                text, child_cents = group(child, facts, lost)
            else:
                text, child_cents = row(child, facts[child[9]]["actual"], lost)
            texts.append(text)
            cents += child_cents
        lost_cents = int(weight) * 100 - cents
        return (
            f'{head_text},"score":"{_fixed(cents, 100, 2)}","lost":"{_fixed(lost_cents, 100, 2)}",'
            f'"status":"scored"{sources},"roundings":[],"notes":[],'
            f'"children":[{",".join(texts)}]}}'
        ), cents

    def write(facts: dict[str, Any]) -> str:
        lost: list[Any] = []
        head_text, sources, weight, children = tree
        texts = []
        cents = 0
        indicators = facts["indicators"]
        for child in children:
            text, child_cents = group(child, indicators, lost)
            texts.append(text)
            cents += child_cents
        total = _fixed(cents, 100, 2)
        maximum = int(weight) * 100
        root = (
            f'{head_text},"score":"{total}","lost":"{_fixed(maximum - cents, 100, 2)}",'
            f'"status":"scored"{sources},"roundings":[{rounding(cents, 100, cents)}],'
            f'"notes":[],"children":[{",".join(texts)}]}}'
        )
        band = next(i for i, (low, _) in enumerate(bands) if cents >= low * 100)
        lost.sort()
        gap = "null"
        if band:
            low, grade = bands[band - 1]
            shortfall = low * 100 - cents
            improve, covered = [], 0
            for minus, ident, _ in lost:
                if covered >= shortfall:
                    break
                covered -= minus
                improve.append(f'{{"id":{_dumps(ident)},"lost":"{_exact_text(-minus, 100)[0]}"}}')
            if covered < shortfall:
                improve = []
            gap = (
                f'{{"next":{_dumps(grade["label"])},"min":"{low}",'
                f'"shortfall":"{_exact_text(shortfall, 100)[0]}","improve":[{",".join(improve)}]}}'
            )
        losses = ",".join(
            f'{{"id":{_dumps(ident)},"name":{_dumps(name)},"lost":"{_fixed(-minus, 100, 2)}"}}'
            for minus, ident, name in lost
        )
        digest = hashlib.sha256(
            _canonical({"indicators": indicators, "shared": {}, "unit": ""}).encode()
        ).hexdigest()
        return (
            f'{{"format":"perfrules.trace/1","total":"{total}","max":{_dumps(reference["max"])},'
            f'"grade":{_dumps(bands[band][1])},"bands":{_dumps(reference["bands"])},'
            f'"gap":{gap},"losses":[{losses}],'
            f'"provenance":{prov_head}"sha256":"{digest}"}}}},"root":{root}}}\n'
        )

    return write


# --- (b), (c), (c+) perfrules -----------------------------------------------------------
def perfrules_rows(setup: Setup) -> tuple[Callable[..., Any], ...]:
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
def zen_rows(setup: Setup) -> tuple[Any, Any, Any]:
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


# --- memos ------------------------------------------------------------------------------
def _memos() -> Iterator[Memo]:
    return (obj for obj in gc.get_objects() if isinstance(obj, Memo))


def memos_off() -> dict[int, int]:
    """Clear every memo of perfrules and keep it from storing; returns the sizes to restore."""
    sizes = {}
    for memo in _memos():
        sizes[id(memo)] = memo.size
        memo.clear()
        memo.size = 0
    return sizes


def memos_on(sizes: dict[int, int]) -> None:
    for memo in _memos():
        memo.size = sizes.get(id(memo), memo.size) or 4096


# --- timing ---------------------------------------------------------------------------------
def cpu_per_item(fn: Callable[[Any], Any], items: list[Any], *, collect: bool = False) -> float:
    """CPU µs per item, each item once, the garbage collector paused unless *collect*."""
    enabled = gc.isenabled()
    if collect:
        gc.enable()
    else:
        gc.disable()
    try:
        start = time.process_time()
        for item in items:
            fn(item)
        return (time.process_time() - start) / len(items) * 1e6
    finally:
        if enabled:
            gc.enable()
        else:
            gc.disable()


ROWS = ("a", "a2", "w", "b", "c", "cg", "c+", "d", "dt")
NAMES = {
    "a": "hand-written exact Decimal (baseline)",
    "a2": "hand-written exact integers",
    "w": "hand-written exact trace JSON writer",
    "b": "perfrules evaluate(trace=False)",
    "c": "perfrules evaluate(), trace read",
    "cg": "(c), the garbage collector running",
    "c+": "perfrules evaluate() + to_json()",
    "d": "zen-engine fastest path (floats)",
    "dt": "zen-engine trace=True (floats)",
}


def functions(setup: Setup) -> dict[str, tuple[Callable[[Any], Any], Callable[[Unit], Any]]]:
    """Each row's function and how it takes a unit (Decimals, facts, zen's floats)."""
    plain, traced, as_json = perfrules_rows(setup)
    writer = hand_writer(setup)
    found: dict[str, tuple[Callable[[Any], Any], Callable[[Unit], Any]]] = {
        "a": (decimal_scorer(setup), lambda unit: unit),
        "a2": (integer_scorer(setup), lambda unit: unit),
        "w": (writer, setup.facts),
        "b": (plain, setup.facts),
        "c": (traced, setup.facts),
        "cg": (traced, setup.facts),
        "c+": (as_json, setup.facts),
    }
    zen_fast, zen_traced, zen_facts = zen_rows(setup)
    if zen_fast is not None:
        found["d"] = (zen_fast, zen_facts)
        found["dt"] = (zen_traced, zen_facts)
    return found


def measure(setup: Setup, kind: str, fresh: Fresh) -> dict[str, float]:
    """Each row's CPU µs per unit on input of *kind*: the minimum of ROUNDS interleaved."""
    rows = functions(setup)
    rng = random.Random(11)
    repeated = low_cardinality_unit(setup, rng)
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for key, (fn, given) in rows.items():
            if kind == "fresh":
                units = [fresh.unit(setup) for _ in range(setup.batch)]
            elif kind == "low":
                units = [low_cardinality_unit(setup, rng) for _ in range(setup.batch)]
            else:
                units = [repeated] * setup.batch
            items = [given(unit) for unit in units]
            micro = cpu_per_item(fn, items, collect=key == "cg")
            best[key] = min(best.get(key, micro), micro)
    return best


def verify(setup: Setup, fresh: Fresh) -> str:
    rows = functions(setup)
    decimal, integer = rows["a"][0], rows["a2"][0]
    plain, traced, as_json = rows["b"][0], rows["c"][0], rows["c+"][0]
    writer = rows["w"][0]
    differs = 0
    fresh_units = [fresh.unit(setup) for _ in range(max(len(setup.units) // 20, 5))]
    for unit in [*setup.units, *fresh_units]:
        expected = decimal(unit)
        facts = setup.facts(unit)
        assert integer(unit) == expected, (unit, integer(unit), expected)
        assert plain(facts) == expected, (unit, plain(facts), expected)
        assert traced(facts) == expected, (unit, traced(facts), expected)
        assert json.loads(writer(facts)) == json.loads(as_json(facts)), unit
        if "d" in rows:
            total, grade = rows["d"][0](rows["d"][1](unit))
            differs += (
                abs(Fraction(total) - Fraction(expected[0])) > Fraction(1, 10**9)
                or grade != expected[1]
            )
    note = f"; zen-engine (floats) differs on {differs}" if "d" in rows else ""
    return (
        f"(a), (a2), (b), (c) identical and (w) parses as to_json() on "
        f"{len(setup.units) + len(fresh_units):,} units{note}"
    )


def _verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def main() -> None:
    print(
        f"perfrules {perfrules.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPU(s); CPU time, rows interleaved, "
        f"min of {ROUNDS} rounds"
    )
    fresh = Fresh(20261206)
    with tempfile.TemporaryDirectory() as folder:
        setups = [Setup("seed, 17", SEED / "scheme.toml", VERIFY, 200)]
        for n, share, batch in ((200, 10, 20), (2000, 100, 3)):
            path = Path(folder) / f"seed-like-{n}.toml"
            path.write_text(seed_like_scheme(n), encoding="utf-8")
            setups.append(Setup(f"seed-like, {n:,}", path, max(VERIFY // share, 50), batch))
        seed = perfrules.load_facts(SEED / "facts.toml")
        result = setups[0].compiled.evaluate(seed)
        assert (str(result.total), result.grade.label) == ("89.25", "良好")
        print("verified: 89.25 良好 on the seed's example")
        for setup in setups:
            print(f"verified ({setup.name}): {verify(setup, fresh)}")
        results: dict[str, dict[str, dict[str, float]]] = {}
        for setup in setups:  # memos as shipped: the rows for information
            results[setup.name] = {
                "low": measure(setup, "low", fresh),
                "repeated": measure(setup, "repeated", fresh),
            }
        sizes = memos_off()
        for setup in setups:  # the targets: fresh input, every memo off
            results[setup.name]["fresh"] = measure(setup, "fresh", fresh)
        stored = sum(len(memo) for memo in _memos())
        memos_on(sizes)
    print(f"memos off for the fresh rows (entries stored meanwhile: {stored})")
    report(setups, results)
    sys.stdout.flush()


def report(setups: list[Setup], results: dict[str, dict[str, dict[str, float]]]) -> None:
    print()
    print("µs per unit (CPU) and × (a) of the same scheme and input; fresh = the targets")
    header = f"{'row':<3} {'implementation':<38}"
    for setup in setups:
        header += f" | {setup.name + ' fresh':>21}"
    header += f" | {'seed low-card.':>14} | {'seed repeated':>14}"
    print(header)
    for key in ROWS:
        if key not in results[setups[0].name]["fresh"]:
            continue
        line = f"{key:<3} {NAMES[key]:<38}"
        for setup in setups:
            rows = results[setup.name]["fresh"]
            line += f" | {rows[key]:>11.1f} {rows[key] / rows['a']:>7.2f}×"
        for kind in ("low", "repeated"):
            rows = results[setups[0].name][kind]
            line += f" | {rows[key] / rows['a']:>13.2f}×"
        print(line)
    print()
    print("low-card. and repeated of the larger schemes (× (a)):")
    for setup in setups[1:]:
        for kind in ("low", "repeated"):
            rows = results[setup.name][kind]
            ratios = ", ".join(f"{key} {rows[key] / rows['a']:.2f}" for key in ROWS if key in rows)
            print(f"  {setup.name:<18} {kind:<9} {ratios}")
    print()
    print("targets (fresh input, memos off):")
    for setup in setups:
        rows = results[setup.name]["fresh"]
        checks = [
            ("untraced <= 1.0x (a)", rows["b"] / rows["a"], rows["b"] <= rows["a"]),
            ("trace read <= 4x (a)", rows["c"] / rows["a"], rows["c"] <= 4 * rows["a"]),
            ("to_json() <= 1.2x (w)", rows["c+"] / rows["w"], rows["c+"] <= 1.2 * rows["w"]),
        ]
        if "d" in rows:
            checks.insert(
                1, ("untraced faster than zen", rows["b"] / rows["d"], rows["b"] < rows["d"])
            )
        for label, ratio, ok in checks:
            print(f"  {setup.name:<18} {label:<28} {ratio:6.2f}x  {_verdict(ok)}")
    load = setups[-1].load_ms
    print(f"  load + compile of 2,000 indicators: {load:.0f} ms (CPU)")


if __name__ == "__main__":
    main()
