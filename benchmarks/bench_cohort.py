"""Benchmark: cohorts of tied units, linear in time and memory up to a million.

Run with ``make bench`` (or alone: ``python benchmarks/bench_cohort.py``). For N tied units
of the ranking-index example (every city gives the same facts, so every unit ties with every
other; BENCH_TIED, default ``200000,400000,1000000``), each in its own process so that its
peak memory is its own:

  (v)  ``CompiledScheme.cohort_values`` over N units given as dicts (the first pass: the
       best GDP, green share and PM2.5 of all of them)
  (r)  ``CompiledScheme.rank`` of N rows whose totals are all equal (one run of N ties)
  (c)  ``perfrules score SCHEME tied.csv --out results.csv``: the streamed batch, both
       passes, the ranking and the file written (wall time and peak RSS of the process)

Each line prints the seconds, the microseconds per unit and the peak RSS; linear means the
microseconds per unit stay flat as N grows. Before timing, (r) is checked: every unit is
ranked 1 with ``tied_count`` N - 1 and 100 names listed; and (c)'s file holds N rows ranked
1. The machine is shared and noisy: compare within one run.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import perfrules

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml"
SIZES = [int(n) for n in os.environ.get("BENCH_TIED", "200000,400000,1000000").split(",")]
FACTS = {"gdp": "12", "green": "45%", "pm25": "30"}


def peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def phase(name: str, n: int) -> None:
    """One measurement in this process: print ``seconds peak_mib``."""
    if name == "cli":
        with tempfile.TemporaryDirectory() as folder:
            took, peak = cli(n, Path(folder))
        print(f"{took:.3f} {peak:.0f}")
        return
    compiled = perfrules.compile_scheme(perfrules.load_scheme(INDEX))
    if name == "values":
        units = [{"unit": f"c{i}", "shared": dict(FACTS)} for i in range(n)]
        start = time.perf_counter()
        values = compiled.cohort_values(units)
        took = time.perf_counter() - start
        best = {v.name: v.value for v in values.values(None) or ()}
        assert best["best_gdp"] == 12, best
    else:
        rows = [(i, f"c{i}", (Fraction(100),), None) for i in range(n)]
        start = time.perf_counter()
        ranks = compiled.rank(rows)
        took = time.perf_counter() - start
        last = ranks[n - 1]
        assert (last.position, last.tied_count, len(last.tied_with)) == (1, n - 1, 100)
    print(f"{took:.3f} {peak_mib():.0f}")


def measured(name: str, n: int) -> tuple[float, float]:
    done = subprocess.run(  # noqa: S603 - this very script
        [sys.executable, __file__, name, str(n)], capture_output=True, text=True, check=True
    )
    seconds, peak = done.stdout.split()
    return float(seconds), float(peak)


def cli(n: int, folder: Path) -> tuple[float, float]:
    source = folder / f"tied{n}.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", *(f"shared.{k}" for k in FACTS)])
        writer.writerows([f"c{i}", *FACTS.values()] for i in range(n))
    target = folder / "results.csv"
    command = [str(Path(sys.executable).parent / "perfrules"), "-q", "score", str(INDEX)]
    command += [str(source), "--out", str(target)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603
    took = time.perf_counter() - start
    with target.open(encoding="utf-8-sig", newline="") as stream:
        ranks = [row["rank"] for row in csv.DictReader(stream)]
    assert len(ranks) == n and set(ranks) == {"1"}
    return took, peak_mib(resource.RUSAGE_CHILDREN)  # the only child of this process


def main() -> None:
    print(f"tied units of {INDEX.relative_to(ROOT)}; python {sys.version.split()[0]}")
    print(f"{'':4}{'units':>10}{'seconds':>10}{'µs/unit':>10}{'peak MiB':>10}")
    for label, name in (("(v)", "values"), ("(r)", "rank"), ("(c)", "cli")):
        for n in SIZES:
            took, peak = measured(name, n)
            print(f"{label:4}{n:>10,}{took:>10.2f}{took / n * 1e6:>10.1f}{peak:>10.0f}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        phase(sys.argv[1], int(sys.argv[2]))
    else:
        main()
