"""perfrules.dask on a real local cluster: two worker processes, results equal one process."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import perfrules

dd = pytest.importorskip("dask.dataframe", reason="the dask extra is part of make test")
distributed = pytest.importorskip("distributed")
import perfrules.dask  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROCUREMENT = ROOT / "rules" / "cn" / "procurement-comprehensive-scoring" / "scheme.toml"
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"


@pytest.fixture(scope="module")
def client():
    # A loaded machine (the whole suite on two cores) starts worker processes slowly: wait
    # for them as long as it takes, instead of the default seconds.
    import dask

    with (
        dask.config.set(
            {
                "distributed.comm.timeouts.connect": "180s",
                "distributed.comm.timeouts.tcp": "180s",
                "distributed.scheduler.worker-ttl": None,
            }
        ),
        # The scheduler's HTTP server on a free port: 8787 may be another run's.
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, timeout="180s") as connected,
    ):
        connected.wait_for_workers(2, timeout=180)
        yield connected


def bids(count: int) -> pd.DataFrame:
    rng = random.Random(11)
    return pd.DataFrame(
        [
            {
                "unit": f"bidder-{i}",
                "shared.lot": str(i % 3),
                "shared.bid": str(rng.choice([900_000, 950_000, 980_000, 1_000_000])),
                "shared.valid": rng.choice(["是", "是", "否"]),
                "技术.marks": rng.choice(["40", "42.5", "44"]),
                "商务.marks": rng.choice(["15", "16", "17"]),
            }
            for i in range(count)
        ]
    )


def test_cohorts_and_ranks_across_partitions_equal_one_process(client):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    frame = bids(60)
    frame.loc[7, "shared.lot"] = None  # a bidder without its lot: reported, others scored
    result = perfrules.dask.score_dask(compiled, dd.from_pandas(frame, npartitions=4)).compute()
    alone = perfrules.score_table(compiled, frame)
    assert list(result.columns) == list(alone.columns)
    pd.testing.assert_frame_equal(result.reset_index(drop=True), alone, check_dtype=True)
    assert result["rank"].notna().sum() > 10  # ranked across the four partitions
    assert "PR416" in result.loc[7, "errors"]
    assert client.scheduler_info()["workers"]  # really ran on the cluster's workers


def test_a_plain_scheme_scores_partition_by_partition(client):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    facts = perfrules.load_facts(SEED / "facts.toml")
    row = {
        f"{ident}.{key}": str(value["value"] if isinstance(value, dict) else value)
        for ident, values in facts.indicators.items()
        for key, value in values.items()
    }
    frame = pd.DataFrame([{"unit": f"u{i}", **row} for i in range(30)])
    result = perfrules.dask.score_dask(compiled, dd.from_pandas(frame, npartitions=3)).compute()
    assert set(result["total"].astype(str)) == {"89.25"}
    assert "rank" not in result.columns


def test_building_the_result_reads_no_partition():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    from dask.delayed import delayed

    def unreadable() -> pd.DataFrame:
        msg = "a partition was read while the result was only being built"
        raise AssertionError(msg)

    meta = bids(1).iloc[:0]
    frame = dd.from_delayed([delayed(unreadable)(), delayed(unreadable)()], meta=meta)
    result = perfrules.dask.score_dask(compiled, frame)  # cohort and ranks: lazy too
    assert result.npartitions == 2
    with pytest.raises(AssertionError, match="only being built"):
        result.compute(scheduler="synchronous")


def test_row_numbers_run_across_partitions_without_a_counting_pass():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    frame = bids(9)
    frame.loc[7, "技术.marks"] = "many"  # unreadable: its error names row 8
    result = perfrules.dask.score_dask(compiled, dd.from_pandas(frame, npartitions=3))
    errors = result.compute(scheduler="synchronous")["errors"].tolist()
    assert errors[7].startswith("table:8:")
    assert [pd.isna(e) for i, e in enumerate(errors) if i != 7] == [True] * 8


def _written(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _units_text(count: int, eol: str = "\n") -> str:
    rng = random.Random(5)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    ids = list(compiled.scheme.indicators)
    lines = ["unit," + ",".join(ids)]
    for i in range(count):
        name = rng.choice([f"u{i}", f'"u{i}, east"', f'"u{i}\nsecond line"', f'"say ""u{i}"""'])
        lines.append(name + "," + ",".join(f"{rng.randint(0, 100)}%" for _ in ids))
        if i % 17 == 5:
            lines.append("")  # a blank row: skipped, as perfrules score skips it
    return eol.join(lines) + eol


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("blocksize", [211, 2000, 1 << 20])
def test_read_csv_gives_every_row_once_whatever_the_cuts(tmp_path, eol, blocksize):
    # Quoted cells with commas, quotes and line breaks, blank rows: each range is cut at a
    # line break outside quotes, so the partitions hold the file's rows once, in order.
    import pyarrow.csv as pacsv

    path = _written(tmp_path / "units.csv", _units_text(60, eol))
    frame = perfrules.dask.read_csv(path, blocksize=blocksize)
    got = frame.compute(scheduler="synchronous")
    options = pacsv.ConvertOptions(strings_can_be_null=False, column_types={})
    whole = pacsv.read_csv(path, convert_options=options).cast(
        pa.schema([(n, pa.string()) for n in frame.columns])
    )
    assert got.reset_index(drop=True).equals(whole.to_pandas(types_mapper=pd.ArrowDtype))
    assert all(kind == pd.ArrowDtype(pa.string()) for kind in got.dtypes)
    if blocksize == 211:
        assert frame.npartitions > 20  # many cuts, some inside quoted cells


def test_read_csv_scores_as_perfrules_score_does(tmp_path):
    from perfrules.workflows import stream_batch

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    path = _written(tmp_path / "units.csv", _units_text(3000, "\r\n"))
    stream_batch(compiled, path, tmp_path / "one.parquet")
    units = perfrules.dask.read_csv(path, blocksize=40_000)
    scored = perfrules.dask.score_dask(compiled, units).compute(scheduler="synchronous")
    alone = pd.read_parquet(tmp_path / "one.parquet")
    assert scored["unit"].tolist() == alone["unit"].tolist()
    assert scored["total"].tolist() == alone["total"].tolist()
    assert scored["grade"].tolist() == alone["grade"].tolist()


def test_read_csv_in_another_encoding(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    text = _units_text(40).replace("unit,", "单位,", 1).replace('"u1', '"单位一')
    path = _written(tmp_path / "units.csv", text, "gb18030")
    units = perfrules.dask.read_csv(path, blocksize=1500)
    got = units.compute(scheduler="synchronous")
    assert got.columns[0] == "单位"
    assert got["单位"].str.contains("单位一").any()
    results = perfrules.dask.score_dask(compiled, units).compute(scheduler="synchronous")
    assert results["errors"].isna().all()


def test_a_bad_row_is_an_error_at_its_line(tmp_path):
    # The rows before it are counted only then: its line is the one perfrules score names.
    body = "".join(f'"u{i}\nnext",1,2\n' if i % 7 == 0 else f"u{i},1,2\n" for i in range(200))
    path = _written(tmp_path / "units.csv", "unit,a,b\n" + body + "bad,1\nlast,1,2\n")
    units = perfrules.dask.read_csv(path, blocksize=1024)
    with pytest.raises(perfrules.FactsError) as raised:
        units.compute(scheduler="synchronous")
    (problem,) = raised.value.diagnostics
    assert problem.code == "PR417"
    assert (problem.file, problem.line) == (str(path), 202)  # header 1, 200 rows, then it


def test_a_bad_header_is_refused_before_any_partition(tmp_path):
    path = _written(tmp_path / "units.csv", "unit,a,a\nu,1,2\n")
    with pytest.raises(perfrules.FactsError) as raised:
        perfrules.dask.read_csv(path)
    assert raised.value.diagnostics[0].code == "PR420"


BEST = ROOT / "rules" / "examples" / "best-is-100" / "scheme.toml"


def pillars() -> pd.DataFrame:
    scores = ["80", "90", "80", "70", "90", "60"]
    return pd.DataFrame(
        {
            "unit": list("ABCDEF"),
            "shared.economy": scores,
            "shared.social": scores,
            "shared.environment": scores,
        }
    )


def test_a_shared_rank_is_marked_as_one_process_marks_it():
    # [ranking] shared_mark: the rank column is text as published ("=2"), in every shape.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    frame = pillars()
    alone = perfrules.score_table(compiled, frame)
    units = dd.from_pandas(frame, npartitions=3)
    result = perfrules.dask.score_dask(compiled, units).compute(scheduler="synchronous")
    assert result["rank"].tolist() == alone["rank"].tolist() == ["=3", "=1", "=3", "5", "=1", "6"]
    pd.testing.assert_frame_equal(result.reset_index(drop=True), alone, check_dtype=True)


def _rows(table: pa.Table) -> list[dict[str, object]]:
    return table.to_pylist()


def test_to_parquet_writes_what_score_table_gives(tmp_path, client):
    # Cohort values, two passes of them and ranks across partitions, on the cluster.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    frame = bids(60)
    frame.loc[7, "shared.lot"] = None
    folder = tmp_path / "results"
    written = perfrules.dask.to_parquet(compiled, dd.from_pandas(frame, npartitions=4), folder)
    assert written == 60
    assert sorted(p.name for p in folder.iterdir()) == [f"part.{i}.parquet" for i in range(4)]
    alone = perfrules.score_table(compiled, pa.Table.from_pandas(frame, preserve_index=False))
    got = pq.read_table(folder)
    assert got.column_names == alone.column_names
    assert _rows(got) == _rows(alone)
    assert got.column("rank").null_count < 50  # ranked across the partitions


def test_to_parquet_pieces_keep_row_numbers_and_marks(tmp_path, monkeypatch):
    # A partition scored in pieces of 7 rows: each row's diagnostics and rank as one table.
    monkeypatch.setattr(perfrules.dask, "_PIECE_ROWS", 7)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    ids = list(compiled.scheme.indicators)
    lines = ["unit," + ",".join(ids)]
    for i in range(120):
        cells = [f"{(i * 7 + k) % 101}%" for k in range(len(ids))]
        if i % 9 == 4:
            cells[3] = "many"  # unreadable: its error names its row
        lines.append(f"u{i}," + ",".join(cells))
    path = _written(tmp_path / "units.csv", "\n".join(lines) + "\n")
    stream = tmp_path / "one.parquet"
    from perfrules.workflows import stream_batch

    stream_batch(compiled, path, stream)
    folder = tmp_path / "results"
    units = perfrules.dask.read_csv(path, blocksize=1500)
    assert units.npartitions > 5
    with __import__("dask").config.set(scheduler="synchronous"):
        written = perfrules.dask.to_parquet(compiled, units, folder)
    got, want = pq.read_table(folder), pq.read_table(stream)
    assert written == want.num_rows == got.num_rows == 120
    assert got.schema == want.schema  # the decimals as wide as perfrules score writes them
    assert got.column("unit").to_pylist() == want.column("unit").to_pylist()
    assert got.column("total").to_pylist() == want.column("total").to_pylist()
    errors = got.column("errors").to_pylist()
    for row, error in enumerate(errors):
        if row % 9 == 4:
            assert str(error).startswith(f"table:{row + 1}:"), (row, error)
        else:
            assert error is None
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"part.{i:0{len(str(len(names) - 1))}d}.parquet" for i in range(len(names))]
    shared = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    marks = tmp_path / "marks"
    perfrules.dask.to_parquet(shared, dd.from_pandas(pillars(), npartitions=2), marks)
    assert pq.read_table(marks).column("rank").to_pylist() == ["=3", "=1", "=3", "5", "=1", "6"]


def test_to_parquet_of_no_unit_writes_the_columns(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    folder = tmp_path / "results"
    units = dd.from_pandas(bids(3).iloc[:0], npartitions=1)
    assert perfrules.dask.to_parquet(compiled, units, folder) == 0
    table = pq.read_table(folder)
    assert table.num_rows == 0
    assert {"unit", "total", "grade", "rank", "errors"} <= set(table.column_names)


def test_to_parquet_is_all_or_nothing(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    body = "".join(f"u{i}" + ",50%" * 17 + "\n" for i in range(300))
    header = "unit," + ",".join(compiled.scheme.indicators) + "\n"
    path = _written(tmp_path / "units.csv", header + body + "bad,1\n")
    folder = tmp_path / "results"
    with pytest.raises(perfrules.FactsError):
        perfrules.dask.to_parquet(compiled, perfrules.dask.read_csv(path, blocksize=2000), folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["units.csv"]  # nothing left behind
    # The same into a folder of results: they stay as they were.
    good = _written(tmp_path / "good.csv", header + body)
    perfrules.dask.to_parquet(compiled, perfrules.dask.read_csv(good), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    units = perfrules.dask.read_csv(path, blocksize=2000)
    with pytest.raises(perfrules.FactsError):
        perfrules.dask.to_parquet(compiled, units, folder, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.csv", "results", "units.csv"]


def test_to_parquet_replaces_only_results_and_only_when_told(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    units = dd.from_pandas(pillars(), npartitions=2)
    folder = tmp_path / "results"
    folder.mkdir()  # an empty folder is taken
    perfrules.dask.to_parquet(compiled, units, folder)
    first = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        perfrules.dask.to_parquet(compiled, units, folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == first
    one = dd.from_pandas(pillars(), npartitions=1)
    assert perfrules.dask.to_parquet(compiled, one, folder, overwrite=True) == 6
    assert sorted(p.name for p in folder.iterdir()) == ["part.0.parquet"]  # the old ones gone
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "part.0.parquet").write_bytes(b"")
    (mixed / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="files other than part"):
        perfrules.dask.to_parquet(compiled, units, mixed, overwrite=True)
    assert (mixed / "notes.txt").read_text() == "keep me"
    file = tmp_path / "results.parquet"
    file.write_bytes(b"PAR1")
    with pytest.raises(FileExistsError, match="not a folder"):
        perfrules.dask.to_parquet(compiled, units, file, overwrite=True)
    assert file.read_bytes() == b"PAR1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed", "results", "results.parquet"]


def _while_computed(units: dd.DataFrame, act) -> dd.DataFrame:
    """*units*, each partition doing *act* when it is computed (another process at work)."""

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        act()
        return frame

    return units.map_partitions(part, meta=units.head(0))


def test_to_parquet_never_removes_a_file_put_in_the_folder_while_it_runs(tmp_path):
    # The folder is checked when the run begins, and again when the results replace it:
    # a file put there meanwhile stays, and so do the results it sits with.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    folder = tmp_path / "results"
    perfrules.dask.to_parquet(compiled, dd.from_pandas(pillars(), npartitions=2), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def note() -> None:
        (folder / "notes.txt").write_text("keep me")

    units = _while_computed(dd.from_pandas(pillars(), npartitions=1), note)
    with (
        __import__("dask").config.set(scheduler="synchronous"),
        pytest.raises(FileExistsError, match="files other than part"),
    ):
        perfrules.dask.to_parquet(compiled, units, folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "keep me"
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".parquet"} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_to_parquet_without_overwrite_keeps_results_written_while_it_runs(tmp_path):
    # Two runs into one new folder: the one that finishes first keeps it; the other,
    # not told to overwrite, is refused at the end instead of replacing it.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    folder = tmp_path / "results"
    first = dd.from_pandas(pillars().assign(unit=list("UVWXYZ")), npartitions=2)

    def other_run() -> None:
        if not folder.exists():
            perfrules.dask.to_parquet(compiled, first, folder)

    units = _while_computed(dd.from_pandas(pillars(), npartitions=1), other_run)
    with (
        __import__("dask").config.set(scheduler="synchronous"),
        pytest.raises(FileExistsError, match="overwrite=True"),
    ):
        perfrules.dask.to_parquet(compiled, units, folder)
    assert pq.read_table(folder).column("unit").to_pylist() == list("UVWXYZ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_to_parquet_refuses_a_folder_it_cannot_replace_before_scoring(tmp_path, monkeypatch):
    # The current folder (and a mount point) cannot be renamed: said at once, not after
    # every partition is scored and written.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    scored: list[int] = []
    units = _while_computed(dd.from_pandas(pillars(), npartitions=2), lambda: scored.append(1))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for path in (".", "", here / ".."):
        with pytest.raises(FileExistsError, match="cannot be replaced"):
            perfrules.dask.to_parquet(compiled, units, path, overwrite=True)
    assert scored == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]
    assert list(here.iterdir()) == []


def test_to_parquet_workers_write_into_a_folder_with_the_usual_mode(tmp_path):
    # Workers may run as other users of the group (umask 002): the folder they write
    # into has the mode a plainly created folder has, while they write, not only after.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    seen: list[int] = []

    def look() -> None:
        seen.extend(p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.is_dir())

    units = _while_computed(dd.from_pandas(pillars(), npartitions=1), look)
    old = os.umask(0o002)
    try:
        with __import__("dask").config.set(scheduler="synchronous"):
            perfrules.dask.to_parquet(compiled, units, tmp_path / "results")
    finally:
        os.umask(old)
    assert seen == [0o775]
    assert (tmp_path / "results").stat().st_mode & 0o777 == 0o775


def test_to_parquet_never_sets_the_umask(tmp_path, monkeypatch):
    # Reading the umask means setting it for every thread at once: partitions written in
    # parallel would race (a file made world-writable, the umask left at 0).
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    units = dd.from_pandas(pillars(), npartitions=3)

    def refuse(mask: int) -> int:
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", refuse)
    with __import__("dask").config.set(scheduler="threads"):
        assert perfrules.dask.to_parquet(compiled, units, tmp_path / "results") == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_to_parquet_into_a_missing_folder_says_so_at_once(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    target = tmp_path / "nope" / "results"
    with pytest.raises(FileNotFoundError, match="make it first"):
        perfrules.dask.to_parquet(compiled, dd.from_pandas(pillars(), npartitions=1), target)
    assert list(tmp_path.iterdir()) == []


def _odd_frames() -> dict[str, pd.DataFrame]:
    frame = pillars()
    twice = frame.copy()
    twice.columns = ["unit", "shared.economy", "shared.social", "shared.economy"]
    raw = frame.copy()
    raw["shared.social"] = [b"\xff80", b"90", b"80", b"70", b"90", b"60"]
    periods = frame.copy()
    periods["shared.social"] = pd.period_range("2020-01", periods=6, freq="M")
    complex_ = frame.copy()
    complex_["shared.social"] = [complex(80, 1)] * 6
    return {"twice": twice, "raw": raw, "periods": periods, "complex": complex_}


@pytest.mark.parametrize("name", ["twice", "raw", "periods", "complex"])
def test_odd_columns_are_refused_as_score_table_refuses_them(name):
    import dask

    compiled = perfrules.compile_scheme(perfrules.load_scheme(BEST))
    frame = _odd_frames()[name]

    def on_dask() -> pd.DataFrame:
        # Dask's own string conversion would decode the bytes (and fail) before perfrules.
        with dask.config.set({"dataframe.convert-string": False}):
            units = dd.from_pandas(frame, npartitions=2, sort=False)
            return perfrules.dask.score_dask(compiled, units).compute(scheduler="synchronous")

    try:
        alone = perfrules.score_table(compiled, frame)
    except perfrules.FactsError as refused:
        codes = [d.code for d in refused.diagnostics]
        with pytest.raises(perfrules.FactsError) as raised:
            on_dask()  # when the graph is built, from the frame's columns
        assert [d.code for d in raised.value.diagnostics] == codes
        return
    assert on_dask()["errors"].tolist() == alone["errors"].tolist()


# --- a frame as read_csv returned it: each range read, scored and written as one stream ---
def _ranges(path: Path, blocksize: int) -> list[tuple[int, int]]:
    return list(perfrules.dask.read_csv(path, blocksize=blocksize).__dict__[_SOURCE].spans)


_SOURCE = perfrules.dask._SOURCE


def _plain_text(count: int, eol: str = "\n") -> str:
    """Units without a quote: each range's first row found without counting quotes before."""
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    ids = list(compiled.scheme.indicators)
    lines = ["unit," + ",".join(ids)]
    for i in range(count):
        lines.append(f"u{i}," + ",".join(f"{(i * 13 + k) % 101}%" for k in range(len(ids))))
        if i % 11 == 3:
            lines.append("")
    return eol.join(lines) + eol


@pytest.mark.parametrize("text", ["quoted", "plain", "plain, no last break"])
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("blocksize", [97, 211, 2000, 1 << 20])
def test_each_range_streams_and_counts_the_rows_csv_range_reads(
    tmp_path, monkeypatch, text, eol, blocksize
):
    # Quoted cells with commas, quotes and line breaks, blank rows, CRLF, lone CRs: a range
    # read as it goes gives, scored and written, the very file its rows read whole give,
    # and its rows counted without reading them are as many.
    from perfrules.workflows import (
        _stream,
        csv_layout,
        csv_range,
        csv_range_units,
        result_schema,
        score_csv_range,
        score_parquet,
    )

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    body = _units_text(80, eol) if text == "quoted" else _plain_text(80, eol)
    if text.endswith("no last break"):
        body = body.removesuffix(eol)
    path = _written(tmp_path / "units.csv", body)
    layout = csv_layout(path)
    schema = result_schema(
        compiled, perfrules.score_table(compiled, pa.table({"unit": []})).schema
    )
    careful = []
    monkeypatch.setattr(_stream, "csv_range", lambda *a: careful.append(a) or csv_range(*a))
    asked: list[int] = []
    rows = 0
    for at, (start, end) in enumerate(_ranges(path, blocksize)):
        whole = csv_range(layout, start, end)
        assert csv_range_units(layout, start, end) == whole.num_rows
        streamed = score_csv_range(
            compiled, layout, start, end, None, tmp_path / f"s{at}.parquet", schema, offset=rows
        )
        written = score_parquet(
            compiled, whole, None, tmp_path / f"w{at}.parquet", schema, offset=rows
        )
        assert streamed == written == whole.num_rows
        assert pq.read_table(tmp_path / f"s{at}.parquet").equals(
            pq.read_table(tmp_path / f"w{at}.parquet")
        )
        # The rows before counted only when a unit fails: none here.
        lazily = score_csv_range(
            compiled,
            layout,
            start,
            end,
            None,
            tmp_path / f"l{at}.parquet",
            schema,
            offset=lambda rows=rows: asked.append(rows) or rows,
        )
        assert lazily == streamed
        assert pq.read_table(tmp_path / f"l{at}.parquet").equals(
            pq.read_table(tmp_path / f"w{at}.parquet")
        )
        rows += streamed
    assert rows == 80
    assert careful == []  # every range streamed: none read again the careful way
    assert asked == []


def test_a_range_with_a_bad_row_raises_as_csv_range_raises(tmp_path):
    from perfrules.workflows import csv_layout, csv_range, result_schema, score_csv_range

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    lines = _plain_text(60).splitlines()
    lines[30] = "u-bad,1,2"  # too few cells
    path = _written(tmp_path / "units.csv", "\n".join(lines) + "\n")
    layout = csv_layout(path)
    schema = result_schema(
        compiled, perfrules.score_table(compiled, pa.table({"unit": []})).schema
    )
    raised = 0
    for at, (start, end) in enumerate(_ranges(path, 600)):
        try:
            csv_range(layout, start, end)
        except perfrules.FactsError as expected:
            with pytest.raises(perfrules.FactsError) as got:
                score_csv_range(compiled, layout, start, end, None, tmp_path / "x.parquet", schema)
            assert got.value.diagnostics == expected.diagnostics
            assert got.value.diagnostics[0].line == 31
            assert not (tmp_path / "x.parquet").exists()
            raised += 1
        else:
            score_csv_range(compiled, layout, start, end, None, tmp_path / f"{at}.parquet", schema)
    assert raised == 1


@pytest.mark.parametrize("rows_inside", [12_000, 30_000])
def test_a_range_inside_a_long_quoted_cell_never_takes_its_lines_for_rows(tmp_path, rows_inside):
    # Ranges far inside a quoted cell whose lines look like rows. Within a cell's budget
    # (600 KiB) each such range finds the cell's closing quote and counts the quotes before
    # it: no row starts in it. Over it (1.5 MiB), a range may take the lines for rows, but
    # the range the cell's row starts in refuses the cell, and with it the whole run.
    import dask

    from perfrules.workflows._batch import MAX_CELL_BYTES

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    ids = list(compiled.scheme.indicators)
    row = ",".join(["50%"] * len(ids))
    inner = f"u-x,{row}\n" * rows_inside
    text = f'unit,{",".join(ids)}\nfirst,{row}\n{row},"{inner}"\nlast,{row}\n'
    path = _written(tmp_path / "units.csv", text)
    units = perfrules.dask.read_csv(path, blocksize=1 << 16)
    assert units.npartitions > 5
    results = tmp_path / "results"
    with dask.config.set(scheduler="synchronous"):
        if len(inner) > MAX_CELL_BYTES:
            with pytest.raises(perfrules.FactsError) as raised:
                perfrules.dask.to_parquet(compiled, units, results)
            (problem,) = raised.value.diagnostics
            assert (problem.code, problem.line) == ("PR418", 3)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["units.csv"]
            return
        assert perfrules.dask.to_parquet(compiled, units, results) == 3
        assert len(units.compute()) == 3  # each range read whole, as score_dask reads it
    whole = perfrules.dask.read_csv(path, blocksize=1 << 30).compute(scheduler="synchronous")
    alone = perfrules.score_table(compiled, pa.Table.from_pandas(whole, preserve_index=False))
    assert pq.read_table(results).to_pylist() == alone.to_pylist()


def test_to_parquet_streams_a_frame_read_by_read_csv_and_only_that(tmp_path, monkeypatch):
    import dask

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    path = _written(tmp_path / "units.csv", _plain_text(200))
    first = next(iter(compiled.scheme.indicators))

    def never(*_: object) -> None:
        raise AssertionError("the frame's partitions were scored, not its ranges")

    with dask.config.set(scheduler="synchronous"):
        with monkeypatch.context() as patch:
            patch.setattr(perfrules.dask, "_write_part", never)
            units = perfrules.dask.read_csv(path, blocksize=2000)
            assert perfrules.dask.to_parquet(compiled, units, tmp_path / "as-read") == 200
        # A column changed in place: the frame's partitions, not the file's ranges.
        units[first] = "0%"
        monkeypatch.setattr(perfrules.dask, "_write_range", never)
        perfrules.dask.to_parquet(compiled, units, tmp_path / "changed")
    changed = units.compute(scheduler="synchronous")
    alone = perfrules.score_table(compiled, pa.Table.from_pandas(changed, preserve_index=False))
    got = pq.read_table(tmp_path / "changed")
    assert got.column("total").to_pylist() == alone.column("total").to_pylist()
    assert got.column("total") != pq.read_table(tmp_path / "as-read").column("total")


@pytest.mark.parametrize("text", ["quoted", "plain"])
def test_failed_units_name_their_rows_across_ranges(tmp_path, text):
    # No range waits for another: the rows before each are counted by their line breaks
    # (blank rows, quoted line breaks and CRLF as csv_range reads them) in a task of its own.
    import dask

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    lines = (_units_text(300, "\r\n") if text == "quoted" else _plain_text(300, "\r\n")).split(
        "\r\n"
    )
    for at in range(7, len(lines) - 1, 17):
        if lines[at].endswith("%"):
            lines[at] = lines[at].rsplit(",", 1)[0] + ",many"  # unreadable: the unit fails
    path = _written(tmp_path / "units.csv", "\r\n".join(lines))
    units = perfrules.dask.read_csv(path, blocksize=1500)
    assert units.npartitions > 10
    with dask.config.set(scheduler="synchronous"):
        assert perfrules.dask.to_parquet(compiled, units, tmp_path / "results") == 300
    whole = perfrules.dask.read_csv(path, blocksize=1 << 30).compute(scheduler="synchronous")
    alone = perfrules.score_table(compiled, pa.Table.from_pandas(whole, preserve_index=False))
    got = pq.read_table(tmp_path / "results")
    errors = got.column("errors").to_pylist()
    assert errors == alone.column("errors").to_pylist()
    assert sum(error is not None for error in errors) > 10
    assert got.to_pylist() == alone.to_pylist()
    # Each range counted once in this process, by the ranges that asked.
    counted = [key for key in perfrules.dask._UNITS if key[0].path == path]
    assert 0 < len(counted) < units.npartitions


def test_units_without_a_name_are_named_by_their_row_across_ranges(tmp_path):
    # A range names a unit by its row (row N) only once it knows the rows before it.
    import dask

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    lines = _plain_text(300, "\n").split("\n")
    for at in range(5, len(lines) - 1, 23):
        if lines[at]:
            lines[at] = " " + lines[at][lines[at].index(",") :]  # a unit cell of a space
    path = _written(tmp_path / "units.csv", "\n".join(lines))
    units = perfrules.dask.read_csv(path, blocksize=1500)
    assert units.npartitions > 10
    with dask.config.set(scheduler="synchronous"):
        assert perfrules.dask.to_parquet(compiled, units, tmp_path / "results") == 300
        lazy = perfrules.dask.score_dask(compiled, units).compute()
    whole = perfrules.dask.read_csv(path, blocksize=1 << 30).compute(scheduler="synchronous")
    alone = perfrules.score_table(compiled, pa.Table.from_pandas(whole, preserve_index=False))
    named = alone.column("unit").to_pylist()
    blank = [row for row, cell in enumerate(whole["unit"].tolist()) if not cell.strip()]
    assert len(blank) > 10
    assert [named[row] for row in blank] == [f"row {row + 1}" for row in blank]
    assert pq.read_table(tmp_path / "results").column("unit").to_pylist() == named
    assert lazy["unit"].tolist() == named


@pytest.mark.parametrize("piece", [1, 2, 3, 64])
def test_rows_counted_a_piece_at_a_time_whatever_the_cuts(tmp_path, monkeypatch, piece):
    # A CRLF, a blank row or a lone CR cut between two pieces of the count is still seen.
    from perfrules.workflows import _stream, csv_layout, csv_range, csv_range_units

    monkeypatch.setattr(_stream, "_COUNT_BYTES", piece)
    rng = random.Random(piece)
    for trial in range(12):
        eol = rng.choice(["\n", "\r\n"])
        lines = ["unit,a,b"]
        for i in range(40):
            lines.append(f"u{i},{rng.randint(0, 9)},{rng.randint(0, 9)}")
            if rng.random() < 0.05:
                lines.append("")
        text = eol.join(lines) + rng.choice([eol, ""])
        if trial % 4 == 3:
            at = rng.randrange(10, len(text) - 5)
            text = text[:at] + "\r" + text[at:]  # a lone carriage return, somewhere
        path = _written(tmp_path / f"t{trial}.csv", text)
        layout = csv_layout(path)
        for start, end in _ranges(path, rng.choice([17, 50, 120])):
            try:
                want = csv_range(layout, start, end).num_rows
            except perfrules.FactsError:
                continue  # a lone CR inside a row: a row that is not a unit
            assert csv_range_units(layout, start, end) == want, (trial, start, end)


class _Counting:
    """A file that counts the bytes read from it."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.read_bytes = 0

    def fileno(self) -> int:
        return self.file.fileno()

    def seek(self, at: int) -> int:
        return self.file.seek(at)

    def read(self, size: int) -> bytes:
        piece = self.file.read(size)
        self.read_bytes += len(piece)
        return piece


def test_quotes_before_a_range_are_counted_once_per_file_not_once_per_range(tmp_path):
    # A file quoted throughout: each range of it needs the parity of the quotes before it.
    from perfrules.workflows import _stream

    rng = random.Random(3)
    cells = ['"a ""b"""', '"x,y"', '""', '"plain"', '"line\nbreak"']
    text = "unit,a\n" + "".join(f'"u{i}",{rng.choice(cells)}\n' for i in range(4000))
    path = _written(tmp_path / "quoted.csv", text)
    data = path.read_bytes()
    body = data.index(b"\n") + 1
    cuts = sorted(rng.sample(range(body + 1, len(data)), 60))

    def truth(until: int) -> int:
        return data[body:until].count(b'"') & 1

    wanted = [truth(until) for until in cuts]
    counting = _Counting(path)
    with counting.file:
        for until in cuts:  # in order, as a process reads its ranges
            assert _stream._parity(counting, body, until) == truth(until)
        assert counting.read_bytes <= len(data)  # once over (was once a range: ~30 times)
        for until in [*rng.sample(cuts, 20), body + 1, len(data) - 1]:  # any order
            assert _stream._parity(counting, body, until) == truth(until)
    # The file changed: what was counted is not taken for it, even at the same size with
    # its time of modification put back (as cp -p does).
    import time

    before = path.stat()
    time.sleep(0.05)  # past the coarsest clock a kernel stamps a change with
    path.write_bytes(data.replace(b'"x,y"', b"'x,y'"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    data = path.read_bytes()
    with path.open("rb") as stream:
        assert [_stream._parity(stream, body, u) for u in cuts] == [truth(u) for u in cuts]
    assert any(truth(u) != _old for u, _old in zip(cuts, wanted, strict=True))  # it matters


def test_parities_are_kept_for_a_few_files_at_most(tmp_path, monkeypatch):
    # The oldest file's marks go first; a file let go is counted again, rightly.
    from perfrules.workflows import _stream

    monkeypatch.setattr(_stream, "_PARITIES", {})
    paths = []
    for k in range(_stream._PARITY_FILES + 3):
        text = "unit,a\n" + "".join(f'"u{i}","{k}\n{i}"\n' for i in range(50))
        paths.append(_written(tmp_path / f"q{k}.csv", text))
    for path in paths + paths[:2]:
        data = path.read_bytes()
        body = data.index(b"\n") + 1
        with path.open("rb") as stream:
            for until in range(body + 1, len(data), 97):
                assert _stream._parity(stream, body, until) == data[body:until].count(b'"') & 1
    assert len(_stream._PARITIES) == _stream._PARITY_FILES
