"""perfrules.dask on a real local cluster: two worker processes, results equal one process."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
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
