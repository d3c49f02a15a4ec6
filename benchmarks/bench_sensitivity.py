"""Benchmark: ``perfrules.workflows.sensitivity`` on a league table of many units.

Run with ``make bench``. On BENCH_SENS_UNITS units (default 10,000) of the shipped
ranking index (``rules/examples/ranking-index``: three indicators, cohort best values,
a ranking by total) with random values, BENCH_SENS_SAMPLES weight sets (default 1,000)
drawn with ``--vary 10`` are scored in BENCH_SENS_JOBS worker processes (default 2), plus
the declared weights and the one-at-a-time settings (two per weight). Prints the time per
scored weight set, the whole run, and the run extrapolated to 1,000 samples when fewer
were asked for. The machine is shared: the numbers are this run's, not a promise.
"""

from __future__ import annotations

import os
import random
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

import perfrules
from perfrules.workflows import sensitivity

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


def main() -> None:
    """Time one run and print it."""
    n = int(os.environ.get("BENCH_SENS_UNITS", "10000"))
    samples = int(os.environ.get("BENCH_SENS_SAMPLES", str(FULL)))
    jobs = int(os.environ.get("BENCH_SENS_JOBS", "2"))
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
    print(f"  {took:,.1f} s in all, {each:,.2f} s per scored weight set")
    print(f"  {moved:,} units whose 5-95 % interval spans more than one rank")
    if samples != FULL:
        print(
            f"  extrapolated to {FULL:,} samples: {each * (FULL + 1 + 2 * weights) / 60:,.1f} min"
        )


if __name__ == "__main__":
    main()
