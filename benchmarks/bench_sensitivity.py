"""Benchmark: ``perfrules.workflows.sensitivity`` on a league table of many units.

Run with ``make bench``. On BENCH_SENS_UNITS units (default 10,000) of the shipped
ranking index (``rules/examples/ranking-index``: three indicators, cohort best values,
a ranking by total) with random values, BENCH_SENS_SAMPLES weight sets (default 1,000)
drawn with ``--vary 10`` are scored in BENCH_SENS_JOBS worker processes (default 2), plus
the declared weights and the one-at-a-time settings (two per weight).

The baseline is measured in the same run, on the same machine and table: the full exact
path (a compiled copy of the scheme per weight set, the whole table scored by the table
scorer and ranked by the engine's ranking on exact Fractions — what every weight set cost
before the array path) on BENCH_SENS_BASELINE weight sets (default 10) in as many worker
processes, extrapolated to as many weight sets as the run scored. Prints both, and their
ratio. The machine is shared: the numbers are this run's, not a promise.
"""

from __future__ import annotations

import os
import random
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

import perfrules
from perfrules.workflows import perturbed_weights, sensitivity
from perfrules.workflows._sensitivity import _Exact, _ranked_scheme, _run
from perfrules.workflows._table import TABLE_SOURCE, cohort_pass, readable_table

ROOT = Path(__file__).resolve().parent.parent
SCHEME = ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml"
FULL = 1000


def units(n: int, seed: int = 1) -> pa.Table:
    """*n* cities with random GDP, green share and PM2.5, every cell as text (as a CSV)."""
    rng = random.Random(seed)
    return pa.table(
        {
            "unit": [f"C{i}" for i in range(n)],
            "shared.gdp": [str(rng.randint(50, 200) / 10) for _ in range(n)],
            "shared.green": [f"{rng.randint(200, 600) / 10}%" for _ in range(n)],
            "shared.pm25": [str(rng.randint(150, 600) / 10) for _ in range(n)],
        }
    )


def baseline(compiled: perfrules.CompiledScheme, table: pa.Table, sets: int, jobs: int) -> float:
    """Seconds per weight set of the full exact path, *sets* weight sets in *jobs* processes."""
    scheme, _ = _ranked_scheme(compiled.scheme)
    ranked = perfrules.compile_scheme(scheme)
    table = readable_table(table, TABLE_SOURCE)
    values = cohort_pass(ranked, [(table, 1)])
    rng = random.Random(1)
    work = [perturbed_weights(scheme, rng, vary=Decimal(10)) for _ in range(sets)]
    start = time.perf_counter()
    for _ in _run(_Exact(scheme, table, values), work, jobs, None):
        pass
    return (time.perf_counter() - start) / sets


def main() -> None:
    """Time one run and the baseline, and print them."""
    n = int(os.environ.get("BENCH_SENS_UNITS", "10000"))
    samples = int(os.environ.get("BENCH_SENS_SAMPLES", str(FULL)))
    jobs = int(os.environ.get("BENCH_SENS_JOBS", "2"))
    sets = int(os.environ.get("BENCH_SENS_BASELINE", "10"))
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    table = units(n)
    weights = len(compiled.scheme.groups) + len(compiled.scheme.indicators)
    scored = samples + 1 + 2 * weights
    start = time.perf_counter()
    result = sensitivity(compiled, table, vary=Decimal(10), samples=samples, seed=1, jobs=jobs)
    took = time.perf_counter() - start
    each = took / scored
    moved = sum(1 for u in result.units if u.low != u.high)
    print(
        f"sensitivity: {n:,} units, {samples:,} samples (+{scored - samples} settings), {jobs} jobs"
    )
    print(f"  {took:,.1f} s in all, {each * 1000:,.1f} ms per scored weight set")
    print(f"  {moved:,} units whose 5-95 % interval spans more than one rank")
    if samples != FULL:
        full_sets = FULL + 1 + 2 * weights
        print(f"  extrapolated to {FULL:,} samples: {each * full_sets / 60:,.2f} min")
    slow = baseline(compiled, table, sets, jobs)
    print(
        f"  baseline, the full exact path: {slow * 1000:,.0f} ms per weight set "
        f"({sets} sets, {jobs} jobs), {slow * scored / 60:,.1f} min for this run's "
        f"{scored:,} sets; the array path is {slow / each:,.0f}x faster"
    )


if __name__ == "__main__":
    main()
