"""Benchmark: the streamed batch of an index that imputes missing facts and ranks on coverage.

Run with ``make bench`` (or alone: ``python benchmarks/bench_impute.py``). For N units
(BENCH_IMPUTE, default ``200000,1000000``) of a three-indicator index whose facts are each
missing one time in ten (``-`` or ``..``), ``perfrules score SCHEME units.csv --out r.csv``
is timed in its own process, twice:

  (m)  ``missing = "zero"``: a gap scores 0 (no imputation, no threshold);
  (i)  the same gaps imputed (the cohort's mean, a region's mean, the cohort's median) and
       ``[ranking] min_available = 0.75``: the imputed values are taken in the first pass,
       each unit's gaps are read for the ``imputed`` and ``unranked`` columns.

Each line prints the wall seconds, the microseconds per unit and the peak RSS of the
process; the file written is checked (N rows, and in (i) the imputed and unranked columns).
The machine is shared and noisy: compare within one run.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [int(n) for n in os.environ.get("BENCH_IMPUTE", "200000,1000000").split(",")]

SCHEME = """
[scheme]
id = "bench-impute"
title = "Imputation benchmark"

[defaults]
missing = "zero"

[inputs]
gdp = {{ {gdp} }}
green = {{ {green} }}
pm25 = {{ {pm25} }}
region = {{ label = "region (read only to impute by)" }}

[indicators.wealth]
weight = 40
formula = "weight * min(gdp / 20, 1)"

[indicators.green]
weight = 30
formula = "weight * min(green, 1)"

[indicators.air]
weight = 30
formula = "weight * max(0, 1 - pm25 / 100)"

[ranking]
keys = [{{ by = "total" }}]
{threshold}
"""

PLAIN = SCHEME.format(gdp="", green="", pm25="", threshold="")
IMPUTED = SCHEME.format(
    gdp='impute = "cohort_mean"',
    green='impute = { method = "group_mean", by = "region" }',
    pm25='impute = "cohort_median"',
    threshold="min_available = 0.75",
)


def units(path: Path, n: int) -> None:
    draw = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", "shared.region", "shared.gdp", "shared.green", "shared.pm25"])
        for i in range(n):
            gdp = "-" if draw.random() < 0.1 else str(draw.randint(5, 30))
            green = "-" if draw.random() < 0.1 else f"{draw.randint(10, 90)}%"
            pm25 = ".." if draw.random() < 0.1 else str(draw.randint(5, 90))
            region = draw.choice(["north", "south", "east", "west"])
            writer.writerow([f"u{i}", region, gdp, green, pm25])


def run(scheme: Path, table: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one ``perfrules score``, measured in a process
    of its own whose only child is the command (so the children's peak is the command's)."""
    args = [sys.executable, __file__, "one", str(scheme), str(table), str(out)]
    done = subprocess.run(args, check=True, capture_output=True, text=True)  # noqa: S603
    took, peak = done.stdout.split()
    return float(took), float(peak)


def one(scheme: str, table: str, out: str) -> None:
    """In the measuring process: run the command, print ``seconds peak_mib``."""
    command = [str(Path(sys.executable).parent / "perfrules"), "-q", "score", scheme, table]
    command += ["--out", out]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603
    took = time.perf_counter() - start
    print(f"{took:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")


def check(out: Path, n: int, imputed: bool) -> None:
    with out.open(encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        rows = sum(1 for _ in reader)
        names = reader.fieldnames or []
    assert rows == n, (rows, n)
    assert ("imputed" in names and "unranked" in names) == imputed, names


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "plain.toml").write_text(PLAIN, encoding="utf-8")
        (base / "imputed.toml").write_text(IMPUTED, encoding="utf-8")
        for n in SIZES:
            table = base / f"units-{n}.csv"
            units(table, n)
            for label, name in (("(m) missing = zero", "plain"), ("(i) imputed", "imputed")):
                out = base / f"{name}-{n}.csv"
                took, peak = run(base / f"{name}.toml", table, out)
                check(out, n, name == "imputed")
                print(
                    f"{label:20} N={n:>9,}: {took:7.2f} s  {took / n * 1e6:6.1f} µs/unit  "
                    f"peak {peak:6.0f} MiB"
                )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "one":
        one(*sys.argv[2:])
    else:
        main()
