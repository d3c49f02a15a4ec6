"""A ranked stream ranks every unit without holding every unit's results.

Its result rows wait in a temporary file beside the output, and only the ranking's keys
stay in memory, as integers; the ranks are the table's (``score_table``) all the same:
ties, cohorts, keys that are not rounded scores, units left unranked, stages.
"""

from __future__ import annotations

import csv
import gc
import random
import weakref
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import perfrules
from perfrules.workflows import _stream
from perfrules.workflows._ranked import SPILL_PREFIX
from perfrules.workflows._stream import stream_batch
from perfrules.workflows._table import all_cohort_values, score_chunk

ROOT = Path(__file__).resolve().parent.parent
BEST = ROOT / "rules" / "examples" / "best-is-100" / "scheme.toml"

RULES = """
[scheme]
id = "ranked"
title = "Ranked stream"
max = 100

[rounding]
indicator = {places}
total = {places}

[inputs]
a = {{ label = "a" }}
b = {{ label = "b" }}
key = {{ label = "second key" }}
valid = {{ type = "bool", label = "ranked" }}

[cohort]
group_by = "lot"

[indicators.p]
weight = 60
formula = "weight * clamp(a, 0, 1){divide}"

[indicators.q]
weight = 40
formula = "weight * clamp(b, 0, 1)"

[ranking]
keys = [{{ by = "total", order = "desc" }}, {{ by = "key", order = "{order}" }}]
ties = "{ties}"
where = "valid"
{mark}

[[bands]]
label = "all"
min = 0
max = 100
"""


def _compiled(**kwargs: str) -> perfrules.CompiledScheme:
    values = {"places": "1", "divide": "", "order": "asc", "ties": "competition", "mark": ""}
    values.update(kwargs)
    text = RULES.format(**values)
    return perfrules.compile_scheme(perfrules.loads_scheme(text, name="ranked.toml"))


def _keys(rng: random.Random, n: int) -> list[str]:
    """Second keys: whole numbers first, then decimals (more places), then a few too wide
    for a machine integer and some missing, so that every way a key is held is taken."""
    out = []
    for i in range(n):
        if i < n // 3:
            out.append(str(rng.choice([1, 2, 3])))
        elif i < 2 * n // 3:
            out.append(rng.choice(["1.5", "2", "0.25", "0.125", "3"]))
        else:
            out.append(rng.choice(["1e30", "-1e30", "", "2.5", "1", "7e-12"]))
    return out


def _rows(seed: int, n: int = 60) -> list[dict[str, str]]:
    rng = random.Random(seed)
    keys = _keys(rng, n)
    return [
        {
            "unit": f"u{i}",
            "shared.lot": rng.choice(["north", "south"]),
            "shared.a": rng.choice(["0.5", "0.25", "1", "0.3"]),
            "shared.b": rng.choice(["0.5", "1", "0"]),
            "shared.key": keys[i],
            "shared.valid": rng.choice(["是", "是", "否"]),
        }
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict[str, str]], bad: dict[int, str] | None = None) -> None:
    """*rows* as a CSV; *bad* lines (by the row before which) that are not units."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        stream.write(",".join(rows[0]) + "\r\n")
        writer = csv.writer(stream)
        for i, row in enumerate(rows):
            if bad and i in bad:
                stream.write(bad[i] + "\r\n")
            writer.writerow(list(row.values()))


def _streamed(compiled, source: Path, tmp_path: Path, rows: int = 4) -> list[dict]:
    target = tmp_path / "out.parquet"
    stream_batch(compiled, source, target, rows=rows)
    as_parquet = pq.read_table(target)
    text = tmp_path / "out.csv"
    stream_batch(compiled, source, text, rows=rows)
    with text.open(encoding="utf-8-sig", newline="") as stream:
        as_csv = [row["rank"] for row in csv.DictReader(stream)]
    ranks = ["" if r is None else str(r) for r in as_parquet.column("rank").to_pylist()]
    # "=5" starts as a formula would: the CSV writes it as text ("'=5"), as every cell
    assert as_csv == [f"'{r}" if r.startswith("=") else r for r in ranks]
    assert not list(tmp_path.glob(SPILL_PREFIX + "*"))
    return as_parquet.to_pylist()


@pytest.mark.parametrize("ties", ["competition", "dense", "ordinal"])
@pytest.mark.parametrize("mark", ["", 'shared_mark = "="'])
@pytest.mark.parametrize(
    ("places", "divide"), [("1", ""), ('"none"', ""), ('"none"', " / 3")], ids=str
)
def test_a_ranked_stream_ranks_as_the_table_does(tmp_path, ties, mark, places, divide):
    compiled = _compiled(ties=ties, mark=mark, places=places, divide=divide)
    rows = _rows(len(ties) + len(mark) + len(divide))
    source = tmp_path / "units.csv"
    _write(source, rows)
    at_once = perfrules.score_table(compiled, pa.Table.from_pylist(rows))
    got = _streamed(compiled, source, tmp_path)
    assert got == at_once.to_pylist()
    ranks = [row["rank"] for row in got]
    assert None in ranks  # the ranking's where leaves units out
    if ties != "ordinal":
        assert len({r for r in ranks if r is not None}) < len([r for r in ranks if r])  # ties
        assert any(str(r).startswith("=") for r in ranks) == bool(mark)


def test_rows_that_are_not_units_keep_their_place(tmp_path):
    compiled = _compiled(order="desc", mark='shared_mark = "="')
    rows = _rows(3, n=30)
    source = tmp_path / "units.csv"
    _write(source, rows, bad={0: "x,north", 9: "y,1,2,3,4,5,6,7", 29: ","})
    got = _streamed(compiled, source, tmp_path, rows=3)
    assert len(got) == len(rows) + 3
    places = {0: "x", 10: "y", 31: "row 33"}  # the header is row 1
    for at, unit in places.items():
        assert got[at]["unit"] == unit
        assert got[at]["rank"] is None
        assert got[at]["errors"]
    units = [row for at, row in enumerate(got) if at not in places]
    at_once = perfrules.score_table(compiled, pa.Table.from_pylist(rows)).to_pylist()
    assert [(r["unit"], r["total"], r["rank"]) for r in units] == [
        (r["unit"], r["total"], r["rank"]) for r in at_once
    ]


def test_stages_and_shared_ranks_of_best_is_100(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    rng = random.Random(11)
    rows = [
        {
            "unit": f"c{i}",
            "shared.economy": rng.choice(["80", "90", "50", "65.5"]),
            "shared.social": rng.choice(["70", "60", "85"]),
            "shared.environment": rng.choice(["60", "75", "90"]),
        }
        for i in range(50)
    ]
    source = tmp_path / "units.csv"
    _write(source, rows)
    got = _streamed(compiled, source, tmp_path, rows=7)
    assert got == perfrules.score_table(compiled, pa.Table.from_pylist(rows)).to_pylist()
    assert any(str(row["rank"]).startswith("=") for row in got)


IMPUTED = """
[scheme]
id = "imp"
title = "Imputation"

[inputs]
gdp = { label = "GDP", impute = "cohort_mean" }
green = { label = "green", impute = { method = "group_mean", by = "region" } }
pm = { label = "pm", impute = "cohort_median" }

[cohort]
group_by = "region"

[indicators.a]
weight = 40
formula = "weight * min(gdp / 20, 1)"

[indicators.b]
weight = 30
formula = "weight * green"

[indicators.c]
weight = 30
formula = "weight * max(0, 1 - pm / 100)"

[ranking]
keys = [{ by = "total" }]
min_available = 0.75

[[bands]]
label = "all"
min = 0
max = 100
"""


def test_units_below_min_available_stay_unranked(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(IMPUTED, name="imp.toml"))
    rng = random.Random(4)
    rows = [
        {
            "unit": f"r{i}",
            "shared.region": rng.choice(["north", "south", "east"]),
            "shared.gdp": rng.choice(["10", "14", "-", "8"]),
            "shared.green": rng.choice(["50%", "40%", "-"]),
            "shared.pm": rng.choice(["30", "20", "..", "40"]),
        }
        for i in range(40)
    ]
    source = tmp_path / "units.csv"
    _write(source, rows)
    got = _streamed(compiled, source, tmp_path, rows=6)
    assert got == perfrules.score_table(compiled, pa.Table.from_pylist(rows)).to_pylist()
    assert any(row["unranked"] for row in got)
    assert any(row["rank"] for row in got)


def test_the_spill_is_readable_by_this_process_alone(tmp_path):
    # Every unit's results wait in it, beside the output or in the shared temporary folder.
    import os

    compiled = _compiled()
    source = tmp_path / "units.csv"
    _write(source, _rows(1, n=12))
    modes: list[int] = []

    def progress(units: int) -> None:
        del units
        modes.extend(p.stat().st_mode & 0o777 for p in tmp_path.glob(SPILL_PREFIX + "*"))

    old = os.umask(0o022)
    try:
        stream_batch(compiled, source, tmp_path / "out.csv", rows=4, progress=progress)
    finally:
        os.umask(old)
    assert modes
    assert set(modes) == {0o600}
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644  # the output: a plain file's


def test_the_stream_holds_a_few_chunks_not_every_one(tmp_path, monkeypatch):
    compiled = _compiled()
    source = tmp_path / "units.csv"
    _write(source, _rows(1, n=80))
    alive: list[weakref.ref] = []
    real = _stream.score_chunk

    def scored(*args, **kwargs):
        chunk = real(*args, **kwargs)
        alive.append(weakref.ref(chunk))
        return chunk

    held: list[int] = []
    spills: list[list[Path]] = []

    def progress(units: int) -> None:
        del units
        gc.collect()
        held.append(sum(ref() is not None for ref in alive))
        spills.append(list(tmp_path.glob(SPILL_PREFIX + "*")))

    monkeypatch.setattr(_stream, "score_chunk", scored)
    stream_batch(compiled, source, tmp_path / "out.csv", rows=4, progress=progress)
    assert len(alive) > 20  # twenty chunks scored (and the empty one for the columns)
    assert max(held) <= 2  # the one being scored and, at most, the one before
    assert all(len(found) == 1 for found in spills)  # their rows went to a file
    assert not list(tmp_path.glob(SPILL_PREFIX + "*"))  # which is gone


def _over_old_results(tmp_path: Path, seed: int) -> tuple[Any, Path, Path]:
    """A scheme, 30 units and a target holding the results of an earlier run."""
    source = tmp_path / "units.csv"
    _write(source, _rows(seed, n=30))
    target = tmp_path / "out.csv"
    target.write_text("old results\n", encoding="utf-8")
    return _compiled(), source, target


def _left_as_it_was(tmp_path: Path, target: Path) -> None:
    assert target.read_text("utf-8") == "old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "units.csv"]


def test_a_failure_while_ranking_removes_the_spill_and_keeps_the_old_file(tmp_path, monkeypatch):
    compiled, source, target = _over_old_results(tmp_path, 2)
    real = compiled.rank_positions

    def failing(*args, **kwargs):
        assert list(tmp_path.glob(SPILL_PREFIX + "*"))  # the rows wait in the file
        del args, kwargs
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(compiled, "rank_positions", failing)
    with pytest.raises(RuntimeError):
        stream_batch(compiled, source, target, rows=4)
    monkeypatch.setattr(compiled, "rank_positions", real)
    _left_as_it_was(tmp_path, target)


@pytest.mark.parametrize("made", [".out.csv.", SPILL_PREFIX])
def test_an_interrupt_just_as_a_file_is_made_leaves_no_file(tmp_path, monkeypatch, made):
    # SIGTERM turns into an exit wherever Python is: here just after the system made the
    # output's temporary file or the spill, before the call making it returns.
    import os

    compiled, source, target = _over_old_results(tmp_path, 3)
    real = os.open

    def interrupted(path, *args, **kwargs):
        handle = real(path, *args, **kwargs)
        if Path(path).name.startswith(made):
            raise KeyboardInterrupt
        return handle

    monkeypatch.setattr(os, "open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stream_batch(compiled, source, target, rows=4)
    monkeypatch.setattr(os, "open", real)
    _left_as_it_was(tmp_path, target)


def test_a_pass_before_the_last_takes_no_ranking_keys():
    # best-is-100 scores every unit's raw sum first, to take the best: that pass gives what
    # the values after it are taken over, and no rank (the keys would be thrown away).
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    table = pa.table(
        {
            "unit": ["a", "b"],
            "shared.economy": ["80", "90"],
            "shared.social": ["70", "60"],
            "shared.environment": ["60", "75"],
        }
    )
    (stage,) = compiled.stages
    values = all_cohort_values(compiled, lambda: [(table, 1)])
    chunk = score_chunk(stage.compiled, table, values, stage=stage)
    assert len(chunk.staged) == 2
    assert chunk.rankable == []
    assert len(score_chunk(compiled, table, values).rankable) == 2  # the last pass ranks
