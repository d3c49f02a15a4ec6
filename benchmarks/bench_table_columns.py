"""Benchmark: ``score_table`` on numeric and text columns against a hand-written numpy scorer.

Run with ``make bench``. On BENCH_ROWS (default 200,000) units of the seed scheme (17
indicators: 16 ``weight × min(actual, 1)``, one ``weight × min(actual / 88, 1)``), each
kind of table is scored by

  (f)  the floor: hand-written numpy, exact in int64 — the column made integers the way
       one would by hand for that kind (floats of at most six places: ``rint(x × 10⁶)``;
       integers as they are; decimal text: Arrow's cast to ``decimal128(18, 6)``; "37%"
       text: strip the sign, cast, scale), then each row's cents by ``divmod`` half-up,
       summed, banded
  (t)  ``perfrules.score_table`` on the same pyarrow Table (reading, fast-path selection,
       arrays, exact decimal columns out)

for these tables:

  floats   every cell a new float of six significant digits (0.734521, 73.4521): no two
           alike, nothing to remember
  ints     whole numbers (0–1 and 0–100)
  decimals pyarrow ``decimal128(18, 6)`` cells of the same values as *floats*
  text     every cell a new decimal text of six significant digits ("0.734521")
  percents low-cardinality text as a CSV gives it ("37%", "74")

Before timing, every row of (t) is compared with (f) (total and band), and a sample of
2,000 rows with ``evaluate()`` (every score). Target: (t) ≤ 3× (f) on every kind.
Ratios are within one run and taken interleaved (min of BENCH_REPEATS); the machine is
shared.
"""

from __future__ import annotations

import os
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import perfrules

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
ROWS = int(os.environ.get("BENCH_ROWS", "200000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
CHECKED = 2_000
PLANNED = 88
PLACES = 6


def indicators() -> list[tuple[str, int, bool]]:
    """(id, weight, capped) of each of the seed's indicators."""
    scheme = perfrules.load_scheme(SEED / "scheme.toml")
    return [(i, int(ind.weight), ind.formula == "capped") for i, ind in scheme.indicators.items()]


def fresh_values(rng: np.random.Generator, capped: bool) -> np.ndarray:
    """Six significant digits, each cell new: 0.100000–1.099999 or 10.0000–99.9999."""
    digits = rng.integers(100_000, 1_100_000 if not capped else 1_000_000, ROWS)
    return digits / (10**6 if not capped else 10**4)


def tables(rows: list[tuple[str, int, bool]]) -> dict[str, pa.Table]:
    rng = np.random.default_rng(20261206)
    units = pa.array([f"u{i}" for i in range(ROWS)])
    floats, ints, decimals, texts, percents = {}, {}, {}, {}, {}
    for ident, _, capped in rows:
        values = fresh_values(rng, capped)
        floats[ident] = pa.array(values)
        texts[ident] = pa.array([repr(v) for v in values.tolist()])
        decimals[ident] = pc.cast(texts[ident], pa.decimal128(18, PLACES))
        whole = rng.integers(0, PLANNED + 10 if capped else 2, ROWS)
        ints[ident] = pa.array(whole)
        low = rng.integers(0, 101, ROWS)
        percents[ident] = pa.array(
            [str(v) if capped else f"{v}%" for v in low.tolist()], type=pa.string()
        )
    return {
        name: pa.table({"unit": units, **columns})
        for name, columns in (
            ("floats", floats),
            ("ints", ints),
            ("decimals", decimals),
            ("text", texts),
            ("percents", percents),
        )
    }


# --- (f) the floor ------------------------------------------------------------------------
def pairs_of(kind: str, column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The column as exact integer pairs, the way a hand-written scorer would make them."""
    if kind == "floats":
        num = np.rint(column.to_numpy() * 10**PLACES).astype(np.int64)
        return num, np.full(num.shape[0], 10**PLACES, dtype=np.int64)
    if kind == "ints":
        num = column.to_numpy().astype(np.int64)
        return num, np.ones(num.shape[0], dtype=np.int64)
    if kind in {"decimals", "text"}:
        array = column.combine_chunks()
        if kind == "text":
            array = pc.cast(array, pa.decimal128(18, PLACES))
        words = np.frombuffer(array.buffers()[1], dtype=np.int64)[0::2]
        return words.copy(), np.full(words.shape[0], 10**PLACES, dtype=np.int64)
    percent = pc.ends_with(column, "%")
    num = pc.cast(pc.replace_substring(column, "%", ""), pa.int64()).to_numpy()
    den = np.where(percent.to_numpy(zero_copy_only=False), 100, 1)
    return num, den


def floor_scorer(rows: list[tuple[str, int, bool]], lows: np.ndarray):
    def score(kind: str, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        cents = np.zeros(table.num_rows, dtype=np.int64)
        for ident, weight, capped in rows:
            num, given = pairs_of(kind, table.column(ident))
            den = given * PLANNED if capped else given
            quotient, remainder = np.divmod(weight * np.minimum(num, den) * 100, den)
            cents += quotient + (2 * remainder >= den)
        band = np.searchsorted(-lows, -cents, side="left")  # bands listed highest first
        return cents, band

    return score


def best_of(functions: dict[str, object]) -> dict[str, float]:
    """Each function's fastest time, the functions interleaved REPEATS times."""
    times: dict[str, float] = {}
    for _ in range(REPEATS):
        for label, function in functions.items():
            start = time.perf_counter()
            function()  # type: ignore[operator]
            elapsed = time.perf_counter() - start
            times[label] = min(times.get(label, elapsed), elapsed)
    return times


def main() -> None:
    print(f"perfrules {perfrules.__version__}, Python {sys.version.split()[0]}, {ROWS:,} rows")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    rows = indicators()
    ids = [ident for ident, _, _ in rows]
    labels = [label for label, _, _, _ in compiled.plan.bands]
    lows = np.array([int(low) * 100 for _, low, _, _ in compiled.plan.bands], dtype=np.int64)
    floor = floor_scorer(rows, lows)
    made = tables(rows)

    # --- verification -----------------------------------------------------------------
    for kind, table in made.items():
        cents, band = floor(kind, table)
        out = perfrules.score_table(compiled, table)
        assert out.column("errors").null_count == ROWS, kind
        totals = out.column("total").combine_chunks()
        got = np.frombuffer(totals.buffers()[1], dtype=np.int64)[0::2]
        assert np.array_equal(got, cents), kind
        assert out.column("grade").to_pylist() == [labels[b] for b in band.tolist()], kind
        sample = table.slice(0, CHECKED).to_pylist()
        for cells, result in zip(sample, out.slice(0, CHECKED).to_pylist(), strict=True):
            facts = {"indicators": {i: {"actual": _fact(cells[i])} for i in ids}}
            want = compiled.evaluate(facts, trace=False)
            assert result["total"] == want.total, (kind, cells["unit"])
            assert all(result[i] == want.scores[i] for i in ids), (kind, cells["unit"])
    print(
        f"verified: score_table equals the floor on every row of every table and "
        f"evaluate() on {CHECKED:,} rows of each (17 scores)"
    )

    # --- timing -------------------------------------------------------------------------
    functions: dict[str, object] = {}
    for kind, table in made.items():
        functions[f"f {kind}"] = lambda kind=kind, table=table: floor(kind, table)
        functions[f"t {kind}"] = lambda table=table: perfrules.score_table(compiled, table)
    times = best_of(functions)
    per = 1e6 / ROWS
    print()
    print(
        f"{ROWS:,} seed units                 (f) floor µs/unit   (t) score_table µs/unit    (t)/(f)"
    )
    verdicts = []
    for kind in made:
        f, t = times[f"f {kind}"], times[f"t {kind}"]
        print(
            f"  {kind:<10}                    {f * per:8.3f}              {t * per:8.3f}          {t / f:6.2f}"
        )
        verdicts.append((kind, t / f))
    print("targets: score_table <= 3x the hand-written numpy scorer")
    for kind, ratio in verdicts:
        print(f"  {kind:<10} {ratio:6.2f}x  {'met' if ratio <= 3 else 'MISSED'}")


def _fact(cell: object) -> object:
    """A table cell as a fact for evaluate(): a float by its shortest text."""
    if isinstance(cell, float):
        return Decimal(repr(cell))
    return cell


if __name__ == "__main__":
    main()
