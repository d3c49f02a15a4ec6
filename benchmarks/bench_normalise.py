"""Benchmark: normalised inputs against the same index written by hand, in the streamed CLI.

Run with ``make bench`` (or alone: ``python benchmarks/bench_normalise.py``; BENCH_NORMALISE
sets the numbers of units, default ``100000,200000``). N random cities are scored by
``perfrules score SCHEME cities.csv --out results.csv`` (each run its own process: wall time
and peak RSS) under:

  (h)  the ranking-index example pack: each parameter against the best city, written by
       hand as cohort values (``weight * gdp / best_gdp``, ``weight * best_pm25 / pm25``)
  (n)  the same index with ``normalise = { method = "distance_to_best" }`` on each input
       (``direction = "reverse"`` for PM2.5) and ``weight * gdp`` as the formulas
  (p)  (n) with green space as a ``percentile`` (each city's own place among the others)
  (m)  (n) with PM2.5 as ``minmax`` over the cohort, reversed

Before timing is trusted, (n)'s results file is checked to equal (h)'s, total, grade and
rank of every city. The machine is shared and noisy: compare within one run. Measured on
2 shared cores (seconds, peak MiB): 200,000 cities (h) 10.9 s 448, (n) 9.0 s 446,
(p) 10.8 s 445, (m) 9.6 s 443 — normalising costs nothing over the hand-written index.
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml"
SIZES = [int(n) for n in os.environ.get("BENCH_NORMALISE", "100000,200000").split(",")]

NORMALISED = """\
[scheme]
id = "normalised-index"
title = "City liveability index"
max = 100

[rounding]
indicator = 2
total = 2

[defaults]
missing = "error"
na = "error"

[inputs]
gdp = { normalise = { method = "distance_to_best" } }
green = { normalise = { method = "distance_to_best" } }
pm25 = { normalise = { method = "distance_to_best", direction = "reverse" } }

[ranking]
keys = [{ by = "total", order = "desc" }]

[[bands]]
label = "A"
min = 90
max = 100
[[bands]]
label = "B"
min = 75
max = 90
[[bands]]
label = "C"
min = 60
max = 75
[[bands]]
label = "D"
min = 0
max = 60

[indicators.economy]
weight = 40
formula = "weight * gdp"
[indicators.green]
weight = 30
formula = "weight * green"
[indicators.air]
weight = 30
formula = "weight * pm25"
"""
VARIANTS = {
    "(n)": NORMALISED,
    "(p)": NORMALISED.replace(
        'green = { normalise = { method = "distance_to_best" } }',
        'green = { normalise = { method = "percentile" } }',
    ),
    "(m)": NORMALISED.replace(
        'pm25 = { normalise = { method = "distance_to_best", direction = "reverse" } }',
        'pm25 = { normalise = { method = "minmax", direction = "reverse" } }',
    ),
}


def cities(n: int, path: Path) -> None:
    draw = random.Random(n)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", "shared.gdp", "shared.green", "shared.pm25"])
        for i in range(n):
            gdp = f"{draw.randint(30, 250) / 10}"
            writer.writerow([f"c{i}", gdp, f"{draw.randint(20, 55)}%", draw.randint(8, 90)])


def score(scheme: Path, source: Path, target: Path) -> tuple[float, float]:
    """Wall seconds and peak MiB of one ``perfrules score`` process."""
    command = [str(Path(sys.executable).parent / "perfrules"), "-q", "score", str(scheme)]
    command += [str(source), "--out", str(target)]
    runner = [sys.executable, "-c", _MEASURE, *command]
    done = subprocess.run(runner, check=True, capture_output=True, text=True)  # noqa: S603
    seconds, peak = done.stdout.split()
    return float(seconds), float(peak)


# Runs one command and prints its wall time and its own peak RSS (the measuring process's
# children are that command alone).
_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
took = time.perf_counter() - start
print(took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def rows(path: Path) -> list[tuple[str, str, str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return [(r["unit"], r["total"], r["grade"], r["rank"]) for r in csv.DictReader(stream)]


def main() -> None:
    print(f"python {sys.version.split()[0]}; peak RSS of each perfrules process")
    print(f"{'':4}{'units':>10}{'seconds':>10}{'µs/unit':>10}{'peak MiB':>10}")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for n in SIZES:
            source = folder / f"cities{n}.csv"
            cities(n, source)
            by_hand = folder / "hand.csv"
            took, peak = score(PACK, source, by_hand)
            print(f"{'(h)':4}{n:>10,}{took:>10.2f}{took / n * 1e6:>10.1f}{peak:>10.0f}")
            for label, text in VARIANTS.items():
                scheme = folder / f"{label[1]}.toml"
                scheme.write_text(text, encoding="utf-8")
                out = folder / f"{label[1]}.csv"
                took, peak = score(scheme, source, out)
                if label == "(n)":
                    assert rows(out) == rows(by_hand), "normalised and by hand differ"
                print(f"{label:4}{n:>10,}{took:>10.2f}{took / n * 1e6:>10.1f}{peak:>10.0f}")


if __name__ == "__main__":
    main()
