"""Benchmark: the columnar path and the streamed batch, against their floors, in one run.

Run with ``make bench`` (after ``bench_scoring.py``). On N units of the seed scheme
(17 indicators; BENCH_ROWS, default 200,000) with random values:

  (f)  the floor: a hand-written numpy int64 fixed-point scorer of the seed — each row's
       cents by ``divmod`` half-up, summed, banded — on the units' values as integer pairs
  (v)  perfrules' array scorer (``engine._columns.score_arrays``) on the same pairs
  (ft) the floor from text: pyarrow parses "37%" and "74" to integers, then (f)
  (t)  ``perfrules.score_table`` on a pyarrow Table of the same text (reading, fast-path
       selection, arrays, exact decimal columns out)

and, for BENCH_CLI_ROWS (default 1,000,000) units in a CSV file:

  (io) the I/O floor: Python's csv module reads the file and writes one line per unit
  (c)  ``perfrules score SCHEME units.csv --out results.csv`` (streamed in chunks), wall
       time and peak RSS of the process

Before timing, (f), (v) and (t) are checked against ``evaluate()`` on every unit of a
20,000-unit sample (totals, grades and all 17 rounded scores), and the CLI's file against
``evaluate()`` on its first 20,000 rows. Ratios are within one run; the machine is shared.
"""

from __future__ import annotations

import csv
import gc
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import perfrules
from perfrules.engine._columns import columnar_plan, score_arrays

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
ROWS = int(os.environ.get("BENCH_ROWS", "200000"))
CLI_ROWS = int(os.environ.get("BENCH_CLI_ROWS", "1000000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
CHECKED = 20_000
PLANNED = 88


def indicators() -> list[tuple[str, int, bool]]:
    """(id, weight, capped) of each of the seed's indicators."""
    scheme = perfrules.load_scheme(SEED / "scheme.toml")
    return [(i, int(ind.weight), ind.formula == "capped") for i, ind in scheme.indicators.items()]


def unit_cells(n: int, seed: int = 20261127):
    """The cells (text) of *n* random units, one list per unit, generated lazily."""
    rows = indicators()
    rng = random.Random(seed)
    for _ in range(n):
        yield [
            str(rng.randint(0, PLANNED)) if c else f"{rng.randint(0, 100)}%" for _, _, c in rows
        ]


def units(
    n: int, seed: int = 20261127
) -> tuple[list[str], list[tuple[str, int, bool]], list[list[str]]]:
    """Column names, (id, weight, capped) per indicator, and the units' cells as text."""
    rows = indicators()
    return [ident for ident, _, _ in rows], rows, list(unit_cells(n, seed))


# --- (f) the floor ------------------------------------------------------------------------
def floor_scorer(rows: list[tuple[str, int, bool]], bands: list[tuple[int, str]]):
    lows = np.array([low * 100 for low, _ in bands], dtype=np.int64)

    def score(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        cents = np.zeros(pairs[0][0].shape[0], dtype=np.int64)
        for (num, given), (_, weight, capped) in zip(pairs, rows, strict=True):
            den = given * PLANNED if capped else given
            quotient, remainder = np.divmod(weight * np.minimum(num, den) * 100, den)
            cents += quotient + (2 * remainder >= den)
        band = np.searchsorted(-lows, -cents, side="left")  # bands listed highest first
        return cents, band

    return score


def floor_from_text(table: pa.Table, ids: list[str], score) -> tuple[np.ndarray, np.ndarray]:
    pairs = []
    for ident in ids:
        column = table.column(ident)
        percent = pc.ends_with(column, "%")
        digits = pc.replace_substring(column, "%", "")
        num = pc.cast(digits, pa.int64()).to_numpy()
        den = np.where(percent.to_numpy(zero_copy_only=False), 100, 1)
        pairs.append((num, den))
    return score(pairs)


def pairs_of(cells: list[list[str]], k: int) -> tuple[np.ndarray, np.ndarray]:
    texts = [row[k] for row in cells]
    num = np.array([int(t.rstrip("%")) for t in texts], dtype=np.int64)
    den = np.array([100 if t.endswith("%") else 1 for t in texts], dtype=np.int64)
    return num, den


def best(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli_run(
    ids: list[str], compiled
) -> tuple[float, float, int, float, tuple[float, float] | None]:
    """The CLI on a CSV of CLI_ROWS units, written row by row (this process stays small, so
    the child's peak RSS is its own)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "units.csv"
        with source.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["unit", *ids])
            writer.writerows(
                [f"unit-{i}", *row] for i, row in enumerate(unit_cells(CLI_ROWS, seed=7))
            )
        size = source.stat().st_size

        def csv_pass() -> None:
            with (
                source.open(newline="", encoding="utf-8") as inp,
                (Path(folder) / "io.csv").open("w", newline="", encoding="utf-8") as out_file,
            ):
                reader = csv.reader(inp)
                writer = csv.writer(out_file)
                next(reader)
                for row in reader:
                    writer.writerow([row[0], len(row)])

        io_time = best(csv_pass, repeats=3)
        target = Path(folder) / "results.csv"
        walls, rss = [], 0
        for _ in range(3):
            gc.collect()
            start = time.perf_counter()
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
                [
                    sys.executable,
                    "-m",
                    "perfrules",
                    "-q",
                    "score",
                    str(SEED / "scheme.toml"),
                    str(source),
                    "--out",
                    str(target),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(process.pid, 0)
            walls.append(time.perf_counter() - start)
            assert os.waitstatus_to_exitcode(status) == 0
            rss = max(rss, usage.ru_maxrss * 1024)
        with target.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            for got, cells in zip(reader, unit_cells(CHECKED, seed=7), strict=False):
                want = compiled.evaluate(
                    {"indicators": {ident: {"actual": cells[k]} for k, ident in enumerate(ids)}},
                    trace=False,
                )
                assert got["total"] == str(want.total) and got["grade"] == want.grade.label
        return size, io_time, rss, min(walls), _dask(source, folder)


def main() -> None:
    print(
        f"perfrules {perfrules.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)"
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    plan = compiled.plan
    ids = [ident for ident, _, _ in indicators()]
    # The CLI first, while this process is small (a child's peak RSS counts what it shares).
    size, io_time, rss, wall, dask_ratio = cli_run(ids, compiled)
    ids, rows, cells = units(ROWS)
    bands = [(int(low), label) for label, low, _, _ in plan.bands]
    floor = floor_scorer(rows, bands)
    pairs = [pairs_of(cells, k) for k in range(len(ids))]
    columnar = columnar_plan(plan, compiled.types)
    assert columnar.vectorised, columnar.reason
    inputs = {}
    for k, index in enumerate(plan.leaves):
        leaf = plan.nodes[index].leaf
        operands = {"actual": ("num", *pairs[k])}
        if "target" in leaf.needs:
            operands["target"] = ("num", np.asarray(PLANNED), np.asarray(1))
        inputs[index] = operands
    everyone = np.ones(ROWS, dtype=np.bool_)
    table = pa.table(
        {
            "unit": [f"u{i}" for i in range(ROWS)],
            **{ident: [row[k] for row in cells] for k, ident in enumerate(ids)},
        }
    )

    # --- verification -----------------------------------------------------------------
    cents, band = floor(pairs)
    arrays = score_arrays(columnar, inputs, everyone)
    assert arrays.regular.all()
    assert np.array_equal(arrays.total, cents) and np.array_equal(arrays.band, band)
    out = perfrules.score_table(compiled, table)
    checked = out.slice(0, CHECKED).to_pylist()
    for i, got in enumerate(checked):
        want = compiled.evaluate(
            {"indicators": {ident: {"actual": cells[i][k]} for k, ident in enumerate(ids)}},
            trace=False,
        )
        assert str(got["total"]) == str(want.total) and got["grade"] == want.grade.label, i
        assert all(str(got[ident]) == str(want.scores[ident]) for ident in ids), i
        assert int(cents[i]) == int(want.total * 100)
    print(
        f"verified: floor, arrays and score_table equal evaluate() on {len(checked):,} units (17 scores each)"
    )

    # --- timing -------------------------------------------------------------------------
    f = best(lambda: floor(pairs))
    v = best(lambda: score_arrays(columnar, inputs, everyone))
    ft = best(lambda: floor_from_text(table, ids, floor))
    t = best(lambda: perfrules.score_table(compiled, table), repeats=max(REPEATS // 2, 2))
    per = 1e6 / ROWS
    print()
    print(f"{ROWS:,} seed units                                       µs/unit   × floor")
    print(f"(f)  hand-written numpy int64 scorer (pairs in)          {f * per:8.3f}   1.00")
    print(f"(v)  perfrules arrays (score_arrays, pairs in)           {v * per:8.3f}  {v / f:5.2f}")
    print(f"(ft) hand-written: pyarrow parses text, then (f)         {ft * per:8.3f}   1.00")
    print(
        f"(t)  perfrules.score_table (text in, decimals out)       {t * per:8.3f}  {t / ft:5.2f}"
    )

    print()
    print(
        f"{CLI_ROWS:,} units, CSV of {size / 2**20:.0f} MiB → CSV (checked on the first {CHECKED:,} rows)"
    )
    print(f"(io) csv module: read every row, write one line per unit   {io_time:7.2f} s")
    print(
        f"(c)  perfrules score ... --out results.csv               {wall:7.2f} s  {wall / io_time:5.2f}×   peak RSS {rss / 2**20:.0f} MiB"
    )
    if dask_ratio is not None:
        one, two = dask_ratio
        print(f"(d1) one process, CSV → Parquet (stream_batch)            {one:7.2f} s")
        print(
            f"(d2) Dask, 2 local worker processes, CSV → Parquet          {two:7.2f} s  {two / one:5.2f}× (d1)"
        )
    print()
    print("targets (ratios in this run):")
    for label, ratio, limit in (
        ("columnar arithmetic <= 3x the numpy floor (v/f)", v / f, 3.0),
        ("1,000,000-unit CSV -> CSV <= 3x the csv-module pass (c/io)", wall / io_time, 3.0),
    ):
        print(f"  {label:<62} {ratio:6.2f}x  {'met' if ratio <= limit else 'MISSED'}")
    print(
        f"  {'peak RSS of the CLI run <= 1 GiB':<62} {rss / 2**20:6.0f} MiB  {'met' if rss <= 2**30 else 'MISSED'}"
    )


def _dask(source: Path, folder: str) -> tuple[float, float] | None:
    """One process against Dask on two local workers, both writing Parquet (reported only)."""
    try:
        import dask.dataframe as dd
        from distributed import Client, LocalCluster

        import perfrules.dask
        from perfrules.workflows._stream import stream_batch
    except ImportError:
        print("(dask not installed: pip install 'perfrules[dask]')")
        return None
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    start = time.perf_counter()
    stream_batch(compiled, source, Path(folder) / "one.parquet")
    one = time.perf_counter() - start
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        start = time.perf_counter()
        frame = dd.read_csv(source, dtype=str, blocksize=16 * 2**20, keep_default_na=False)
        perfrules.dask.score_dask(compiled, frame).to_parquet(Path(folder) / "dask")
        two = time.perf_counter() - start
    return one, two


if __name__ == "__main__":
    main()
