"""perfrules.dask on a real local cluster: two worker processes, results equal one process."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
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
