"""Benchmark: the streamed batch against the I/O floors and a polars pipeline, in one run.

Run with ``make bench``. BENCH_IO_ROWS (default 1,000,000) units of the seed scheme (17
indicators, cells as a CSV gives them: "37%", "74") are written to a CSV file, then:

  (csv)   the csv-module floor: ``csv.reader`` reads every row and ``csv.writer`` writes
          one row per unit as wide as the result (the unit, two cells for the total and
          the grade, the unit's 17 cells for its scores, an empty errors cell): the I/O
          alone, the fastest a person would write it in pure Python
  (pa)    the pyarrow floor: ``pyarrow.csv.read_csv`` of the file (every column as text)
          and ``pyarrow.parquet.write_table`` of the result itself (read before the
          clock starts: the same columns and values, in the types perfrules' writer
          takes: a decimal of 18 digits as a ``decimal64`` where pyarrow writes one,
          22 on, a fifth faster than from a ``decimal128``), with the settings perfrules'
          writer uses, the fastest measured for this table (snappy, statistics,
          dictionary pages but for the units, each named once, and a decimal of 18
          digits stored as INT64; pyarrow's defaults take 1.3x as long). The floor writes
          one row group where perfrules writes one a chunk (its advantage, kept)
  (plc)   polars: ``scan_csv``, each score a ``Decimal(38, 2)`` (percent cells divided by
          100, the capped indicator divided by its target and rounded half up), the
          total, the grade, ``sink_csv``; (plp) the same to ``sink_parquet``. Its results
          are checked equal to perfrules' on every row. (perfrules writes a
          ``Decimal(18, 2)``, stored as INT64: polars' ``sink_parquet`` refuses one for a
          sum, which it makes ``Decimal(38, 2)``, and its CSV is no faster at 18 digits)
  (prc)   ``stream_batch`` to CSV, in this process; (prp) to Parquet
  (cli)   ``perfrules score scheme.toml units.csv --out out.csv`` (and ``.parquet``) as a
          whole process (interpreter start-up and imports included), wall time and peak
          RSS; and the same at twice N units and at 100,000, for the memory
  (csvP)  the floors (csv) and (pa) as processes of their own, start-up and imports
  (paP)   included (the result table (pa) writes mapped from an Arrow file, no copy), in
          turn with the (cli) processes, round after round, in the same environment (the
          bytecode compiled once): what the CLI, a process, is held to

Every row of perfrules' CSV and Parquet is checked equal to polars', and a sample of
2,000 rows to ``evaluate()``. Times are wall clock, the least of BENCH_REPEATS rounds
(default 5: of three, a host busy for a moment slowed every round of one side in some
runs) taken in turn (CPU seconds beside them: threads add theirs), each after a pause of
BENCH_PAUSE seconds (default 0.5): polars' and pyarrow's worker threads keep a core busy
for a moment after a call returns, which would be charged to whatever runs next. The
processes (cli) run as an installed package does, their bytecode compiled once (in a
folder of this run's, whatever PYTHONDONTWRITEBYTECODE says). The machine is shared, so
the ratios are within one run. Targets: (prc) <= 2x (csv); (prp) <= 1.5x (pa); perfrules
faster than polars to both; the CLI <= 2x (csvP) and <= 1.5x (paP), process against
process (against the in-process floors it carries an interpreter's start-up and imports,
~0.3 s, that no floor pays: printed for information); peak memory flat: the peak RSS at
twice N units no more than 1.05x that at N, each the most of its rounds (a run's peak
moves by some 3 % from round to round, with what the threads hold at one moment: with
more rounds each size's most nears the bound the pipeline sets, the same at any size
if nothing grows with the units). The peak at 100,000 units is printed beside it
for information: three chunks do not fill the pipeline (the chunk read ahead, the one
scored, the one written behind, and the heap they leave), so its ratio to N's measures the
pipeline's fill, not growth with the units (measured: 165-168 MiB at 100,000, 192 at
250,000, 197-206 at 500,000, 208 at 1,000,000, 206-209 at 2,000,000).
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import perfrules
from perfrules.workflows._arrow import has_decimal64
from perfrules.workflows._stream import result_schema, stream_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021" / "scheme.toml"
ROWS = int(os.environ.get("BENCH_IO_ROWS", "1000000"))
SMALL = 100_000
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
PAUSE = float(os.environ.get("BENCH_PAUSE", "0.5"))
CHECKED = 2_000
PLANNED = 88


def indicators() -> list[tuple[str, int, bool]]:
    """(id, weight, capped) of each of the seed's indicators."""
    scheme = perfrules.load_scheme(SEED)
    return [(i, int(ind.weight), ind.formula == "capped") for i, ind in scheme.indicators.items()]


def write_units(path: Path, count: int) -> None:
    rows = indicators()
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", *(ident for ident, _, _ in rows)])
        for n in range(count):
            writer.writerow(
                [
                    f"unit-{n}",
                    *(
                        str(rng.randint(0, PLANNED)) if capped else f"{rng.randint(0, 100)}%"
                        for _, _, capped in rows
                    ),
                ]
            )


# --- the floors --------------------------------------------------------------------------
def csv_floor(source: Path, target: Path) -> None:
    with (
        source.open(newline="", encoding="utf-8") as inp,
        target.open("w", newline="", encoding="utf-8") as out,
    ):
        reader = csv.reader(inp)
        writer = csv.writer(out)
        header = next(reader)
        writer.writerow(["unit", "total", "grade", *header[1:], "errors"])
        writer.writerows([row[0], "", "", *row[1:], ""] for row in reader)


def pyarrow_floor(source: Path, target: Path, result: pa.Table) -> None:
    with source.open(newline="", encoding="utf-8") as stream:
        names = next(csv.reader(stream))
    types = dict.fromkeys(names, pa.string())
    pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(column_types=types))
    pq.write_table(result, target, **floor_parquet(result))


def floor_parquet(result: pa.Table) -> dict[str, object]:
    """The floor's Parquet settings, the fastest measured for the result table.

    As perfrules' writer sets them: a decimal of 18 digits stored as INT64, no dictionary
    of the units (each is named once), no Arrow schema beside ``decimal64`` columns (a
    reader takes ``decimal128`` back); pyarrow's defaults take 1.3x as long. (paP) writes
    with the same.
    """
    names = [name for name in result.column_names if name != "unit"]
    narrow = has_decimal64(result.schema)
    return {"store_decimal_as_integer": True, "use_dictionary": names, "store_schema": not narrow}


def fastest_types(result: pa.Table) -> pa.Table:
    """*result* (as a reader gets it) in the types perfrules' Parquet writer takes them."""
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    return result.cast(result_schema(compiled, result.schema, parquet=True))


#: The floors as processes of their own: what a script doing the I/O alone would take.
FLOOR_SCRIPTS = {
    "csv": (
        "import csv, sys\n"
        "with open(sys.argv[1], newline='', encoding='utf-8') as inp, "
        "open(sys.argv[2], 'w', newline='', encoding='utf-8') as out:\n"
        "    reader, writer = csv.reader(inp), csv.writer(out)\n"
        "    header = next(reader)\n"
        "    writer.writerow(['unit', 'total', 'grade', *header[1:], 'errors'])\n"
        "    writer.writerows([row[0], '', '', *row[1:], ''] for row in reader)\n"
    ),
    "pa": (
        "import sys\n"
        "import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.ipc as ipc, pyarrow.parquet as pq\n"
        "names = open(sys.argv[1], encoding='utf-8').readline().rstrip('\\r\\n').split(',')\n"
        "types = dict.fromkeys(names, pa.string())\n"
        "pacsv.read_csv(sys.argv[1], convert_options=pacsv.ConvertOptions(column_types=types))\n"
        "result = ipc.open_file(pa.memory_map(sys.argv[3])).read_all()\n"
        "names = [name for name in result.column_names if name != 'unit']\n"
        "narrow = any(pa.types.is_decimal(k) and k.byte_width == 8 for k in result.schema.types)\n"
        "pq.write_table(result, sys.argv[2], store_decimal_as_integer=True, "
        "use_dictionary=names, store_schema=not narrow)\n"
    ),
}


#: A Parquet file's table written as an Arrow file, for (paP) to map (a process of its own,
#: so that this one stays small while the processes run), in the floor's types.
TO_ARROW = (
    "import sys\n"
    "import pyarrow as pa, pyarrow.ipc as ipc, pyarrow.parquet as pq\n"
    "import perfrules\n"
    "from perfrules.workflows._stream import result_schema\n"
    "compiled = perfrules.compile_scheme(perfrules.load_scheme(sys.argv[3]))\n"
    "table = pq.read_table(sys.argv[1])\n"
    "table = table.cast(result_schema(compiled, table.schema, parquet=True))\n"
    "with pa.OSFile(sys.argv[2], 'wb') as sink, ipc.new_file(sink, table.schema) as out:\n"
    "    out.write_table(table)\n"
)


def process_env(bytecode: Path) -> dict[str, str]:
    """The environment every process of the benchmark runs in: bytecode compiled once."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    return env


def floor_process(kind: str, bytecode: Path, *args: Path) -> tuple[float, int]:
    """Wall time of the floor *kind* as a process of its own (and a peak RSS, unused)."""
    time.sleep(PAUSE)
    start = time.perf_counter()
    command = [sys.executable, "-c", FLOOR_SCRIPTS[kind], *map(str, args)]
    subprocess.run(command, check=True, env=process_env(bytecode))  # noqa: S603 - ours
    return time.perf_counter() - start, 0


# --- polars ------------------------------------------------------------------------------
def polars_pipeline(source: Path, target: Path) -> None:
    import polars as pl

    money = pl.Decimal(38, 2)
    scores = []
    for ident, weight, capped in indicators():
        cell = pl.col(ident)
        if capped:
            done = cell.cast(pl.Decimal(38, 0))
            share = pl.min_horizontal(done, pl.lit(PLANNED).cast(pl.Decimal(38, 0)))
            exact = share.cast(pl.Decimal(38, 12)) * weight / PLANNED
            score = exact.round(2, mode="half_away_from_zero")
        else:
            share = cell.str.strip_chars_end("%").cast(money) / 100
            score = pl.min_horizontal(share, pl.lit(1).cast(money)) * weight
        scores.append(score.cast(money).alias(ident))
    names = [ident for ident, _, _ in indicators()]
    total = pl.sum_horizontal([pl.col(n) for n in names]).cast(money)
    grade = (
        pl.when(total >= 90)
        .then(pl.lit("优秀"))
        .when(total >= 80)
        .then(pl.lit("良好"))
        .when(total >= 60)
        .then(pl.lit("中等"))
        .otherwise(pl.lit("差"))
    )
    frame = (
        pl.scan_csv(source, infer_schema=False)
        .select(pl.col("unit"), *scores)
        .select(
            pl.col("unit"),
            total.alias("total"),
            grade.alias("grade"),
            *(pl.col(n) for n in names),
            pl.lit(None, pl.String).alias("errors"),
        )
    )
    if target.suffix == ".csv":
        frame.sink_csv(target)
    else:
        frame.sink_parquet(target)


# --- checks ------------------------------------------------------------------------------
def same_rows(ours: Path, theirs: Path) -> None:
    """Every row of perfrules' result equals polars' (every cell's text)."""
    if ours.suffix == ".csv":
        a, b = (
            pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
            for path in (ours, theirs)
        )
    else:
        a, b = pq.read_table(ours), pq.read_table(theirs)
    assert a.column_names == b.column_names, (a.column_names, b.column_names)
    for name in a.column_names:
        left = a.column(name).cast(pa.string())
        right = b.column(name).cast(pa.string())
        assert left.equals(right), name


def checked_against_evaluate(compiled: perfrules.CompiledScheme, source: Path, out: Path) -> None:
    ids = [ident for ident, _, _ in indicators()]
    got = pq.read_table(out).slice(0, CHECKED).to_pylist()
    with source.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        next(reader)
        for row, cells in zip(got, reader, strict=False):
            want = compiled.evaluate(
                {"indicators": {ident: {"actual": cells[k + 1]} for k, ident in enumerate(ids)}},
                trace=False,
            )
            assert str(row["total"]) == str(want.total) and row["grade"] == want.grade.label
            assert all(str(row[ident]) == str(want.scores[ident]) for ident in ids)


# --- timing ------------------------------------------------------------------------------
def timed(function: Callable[[], object]) -> tuple[float, float]:
    time.sleep(PAUSE)
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def cli(source: Path, target: Path, bytecode: Path) -> tuple[float, int]:
    """Wall time and peak RSS of ``perfrules score`` as a process of its own."""
    env = process_env(bytecode)
    time.sleep(PAUSE)
    start = time.perf_counter()
    command = [sys.executable, "-m", "perfrules", "-q", "score", str(SEED), str(source)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
        [*command, "--out", str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0
    return wall, usage.ru_maxrss * 1024


def main() -> None:
    try:
        import polars as pl
    except ImportError:
        print("(polars not installed: pip install 'perfrules[bench]')")
        return
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    print(
        f"perfrules {perfrules.__version__}, Python {sys.version.split()[0]}, "
        f"pyarrow {pa.__version__}, polars {pl.__version__}, {os.cpu_count()} CPU(s)"
    )
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        source, small = folder / "units.csv", folder / "small.csv"
        large = folder / "large.csv"
        write_units(source, ROWS)
        write_units(small, SMALL)
        write_units(large, 2 * ROWS)
        size = source.stat().st_size
        # The processes first, while this one is small (a child's peak RSS counts what it
        # shares with its parent before it starts).
        processes: dict[str, list[tuple[float, int]]] = {}
        bytecode = folder / "bytecode"
        cli(small, folder / "warm.csv", bytecode)  # compiles the bytecode
        # The result (paP) writes, mapped from an Arrow file (made by a process too).
        mapped = folder / "result.arrow"
        cli(source, folder / "result.parquet", bytecode)
        made = [str(folder / "result.parquet"), str(mapped), str(SEED)]
        command = [sys.executable, "-c", TO_ARROW, *made]
        subprocess.run(command, check=True, env=process_env(bytecode))  # noqa: S603 - ours
        # Every process in turn, round after round: the CLI beside its floors.
        rounds: dict[str, Callable[[], tuple[float, int]]] = {
            "cli.csv": lambda: cli(source, folder / "out-cli.csv", bytecode),
            "csvP": lambda: floor_process("csv", bytecode, source, folder / "floor-p.csv"),
            "cli.parquet": lambda: cli(source, folder / "out-cli.parquet", bytecode),
            "paP": lambda: floor_process(
                "pa", bytecode, source, folder / "floor-p.parquet", mapped
            ),
            "small.csv": lambda: cli(small, folder / "out-small.csv", bytecode),
            "large.csv": lambda: cli(large, folder / "out-large.csv", bytecode),
        }
        for _ in range(REPEATS):
            for name, run_process in rounds.items():
                processes.setdefault(name, []).append(run_process())
        out = {name: folder / name for name in ("pr.csv", "pr.parquet", "pl.csv", "pl.parquet")}
        stream_batch(compiled, source, out["pr.parquet"])
        result = fastest_types(pq.read_table(out["pr.parquet"]))
        runs: dict[str, Callable[[], object]] = {
            "csv": lambda: csv_floor(source, folder / "floor.csv"),
            "pa": lambda: pyarrow_floor(source, folder / "floor.parquet", result),
            "plc": lambda: polars_pipeline(source, out["pl.csv"]),
            "plp": lambda: polars_pipeline(source, out["pl.parquet"]),
            "prc": lambda: stream_batch(compiled, source, out["pr.csv"]),
            "prp": lambda: stream_batch(compiled, source, out["pr.parquet"]),
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(REPEATS):
            for name, run in runs.items():
                times[name].append(timed(run))
        same_rows(out["pr.csv"], out["pl.csv"])
        same_rows(out["pr.parquet"], out["pl.parquet"])
        checked_against_evaluate(compiled, source, out["pr.parquet"])
    best = {name: min(w for w, _ in t) for name, t in times.items()}
    cpu = {name: min(c for _, c in t) for name, t in times.items()}
    wall = {name: min(w for w, _ in t) for name, t in processes.items()}
    rss = {name: max(r for _, r in t) for name, t in processes.items()}
    print(
        f"{ROWS:,} seed units, a CSV of {size / 2**20:.0f} MiB; every row checked equal to "
        f"polars', {CHECKED:,} to evaluate()"
    )
    print("                                                     wall s   CPU s   ratio")
    rows = [
        ("(csv) csv module: reader + writer, the I/O alone", "csv", None),
        ("(pa)  pyarrow: read_csv + write_table of the result", "pa", None),
        ("(plc) polars, Decimal(38, 2) -> CSV", "plc", "csv"),
        ("(plp) polars, Decimal(38, 2) -> Parquet", "plp", "pa"),
        ("(prc) perfrules stream_batch -> CSV", "prc", "csv"),
        ("(prp) perfrules stream_batch -> Parquet", "prp", "pa"),
    ]
    for label, name, floor in rows:
        ratio = f"{best[name] / best[floor]:5.2f}x ({floor})" if floor else "  1.00"
        print(f"{label:<52} {best[name]:7.2f} {cpu[name]:7.2f}   {ratio}")
    print(f"{'(csvP) the csv-module floor as a process':<52} {wall['csvP']:7.2f}       -     1.00")
    print(f"{'(paP)  the pyarrow floor as a process':<52} {wall['paP']:7.2f}       -     1.00")
    for name, floor in (("cli.csv", "csv"), ("cli.parquet", "pa")):
        print(
            f"{'(cli) perfrules score ... --out ' + name[4:]:<52} {wall[name]:7.2f}"
            f"       -   {wall[name] / wall[floor + 'P']:5.2f}x ({floor}P), "
            f"{wall[name] / best[floor]:.2f}x ({floor})   peak RSS {rss[name] / 2**20:.0f} MiB"
        )
    for name, count in (("large.csv", 2 * ROWS), ("small.csv", SMALL)):
        print(
            f"{f'(cli) the same, {count:,} units -> .csv':<52} {wall[name]:7.2f}"
            f"       -                peak RSS {rss[name] / 2**20:.0f} MiB"
        )
    print(
        f"  (peak RSS {ROWS:,} vs 100,000 units: {rss['cli.csv'] / rss['small.csv']:.2f}x, "
        "the pipeline's fill; for information)"
    )
    print("targets (ratios in this run):")
    flat = rss["large.csv"] / rss["cli.csv"]
    for label, value, limit in (
        ("CSV -> CSV <= 2x the csv-module floor (prc/csv)", best["prc"] / best["csv"], 2.0),
        ("CSV -> Parquet <= 1.5x the pyarrow floor (prp/pa)", best["prp"] / best["pa"], 1.5),
        ("faster than polars to CSV (prc/plc < 1)", best["prc"] / best["plc"], 1.0),
        ("faster than polars to Parquet (prp/plp < 1)", best["prp"] / best["plp"], 1.0),
        ("the CLI to CSV <= 2x the csv floor as a process", wall["cli.csv"] / wall["csvP"], 2.0),
        (
            "the CLI to Parquet <= 1.5x the pyarrow floor as a process",
            wall["cli.parquet"] / wall["paP"],
            1.5,
        ),
        (f"peak RSS flat: {2 * ROWS:,} vs {ROWS:,} units <= 1.05x", flat, 1.05),
    ):
        passed = value < limit if limit == 1.0 else value <= limit
        print(f"  {label:<58} {value:6.2f}x  {'PASS' if passed else 'MISS'}")


if __name__ == "__main__":
    main()
