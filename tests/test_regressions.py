"""Disagreements found by comparing every shape of scoring, each pinned by a small case.

Each test states one promise that a second copy of a rule broke: the exact total of
``total = "none"`` in tables and batch files, the gap under ``fit = "cap"`` and under the
total's own rounding, the batch summary's points lost, a float cell below 1e-4, the trace's
sources on a rule file loaded by an absolute path, and the gap of a result made of plain values.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.workflows._batch import score_batch

JSON = ("--format", "json")


def _compiled(tmp_path: Path, text: str, name: str = "scheme.toml") -> perfrules.CompiledScheme:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return perfrules.compile_scheme(perfrules.load_scheme(path))


def _arrow(table: Any) -> pa.Table:
    return pa.Table.from_pandas(table) if isinstance(table, pd.DataFrame) else pa.table(table)


def _with_full_marks(compiled: perfrules.CompiledScheme, facts: dict[str, Any], rows):
    """*facts* with each of *rows* overridden to its weight (full marks)."""
    indicators = {k: dict(v) for k, v in facts.items()}
    for ident in rows:
        weight = compiled.scheme.indicators[ident].weight
        indicators[ident]["override"] = {"score": str(weight), "reason": "gap test"}
    return compiled.evaluate(indicators, trace=False)


def _assert_gap_promise(compiled: perfrules.CompiledScheme, facts: dict[str, Any]) -> None:
    result = compiled.evaluate(facts)
    gap = result.trace.gap
    assert gap is not None
    rows = [ident for ident, _ in gap.improve]
    assert rows, gap  # the band can be reached: the gap must say how
    raised = _with_full_marks(compiled, facts, rows)
    labels = [band.label for band in result.trace.bands]  # highest first
    assert raised.total_exact >= gap.min, (rows, raised.total)
    assert labels.index(raised.grade.label) <= labels.index(gap.label), (rows, raised.total)
    for shorter in range(len(rows)):  # the fewest rows: no shorter prefix reaches the band
        assert _with_full_marks(compiled, facts, rows[:shorter]).total_exact < gap.min


# --- [rounding] total = "none": the exact total everywhere ------------------------------
EXACT = """
[scheme]
id = "exact"
title = "exact total"
max = 1

[rounding]
indicator = "none"
total = "none"

[inputs]
x = {}

[[bands]]
label = "high"
min = 0.5
max = 1

[[bands]]
label = "low"
min = 0
max = 0.5

[indicators.a]
weight = 1
formula = "weight * min(x, 1)"
"""
EXACT_UNITS = {"u1": "0.37", "u2": "0.5", "u3": "0.33"}  # mean 0.4, median 0.37
EXACT_MEAN = Decimal("0.4")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def test_an_unrounded_total_is_exact_in_score_table(tmp_path):
    compiled = _compiled(tmp_path, EXACT)
    for x in EXACT_UNITS.values():
        assert compiled.evaluate({"a": {"x": x}}).total == Decimal(x)
    rows = {"unit": list(EXACT_UNITS), "a.x": list(EXACT_UNITS.values())}
    for table in (pa.table(rows), pd.DataFrame(rows), pl.DataFrame(rows)):
        out = _arrow(perfrules.score_table(compiled, table))
        totals = [Decimal(str(v)) for v in out.column("total").to_pylist()]
        assert totals == [Decimal(x) for x in EXACT_UNITS.values()], type(table)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_unrounded_total_is_exact_in_batch_files_and_their_summary(tmp_path, suffix):
    (tmp_path / "scheme.toml").write_text(EXACT, encoding="utf-8")
    source = tmp_path / "units.csv"
    _write_csv(source, ["unit", "a.x"], [[u, x] for u, x in EXACT_UNITS.items()])
    target = tmp_path / f"r{suffix}"
    run = CliRunner().invoke(
        cli,
        ["score", str(tmp_path / "scheme.toml"), str(source), "--out", str(target), *JSON],
    )
    assert run.exit_code == 0, run.output
    if suffix == ".csv":
        with target.open(encoding="utf-8-sig", newline="") as stream:
            totals = [row["total"] for row in csv.DictReader(stream)]
    else:
        totals = [str(v) for v in pq.read_table(target).column("total").to_pylist()]
    assert [Decimal(t) for t in totals] == [Decimal(x) for x in EXACT_UNITS.values()]
    summary = json.loads(run.stdout)["summary"]
    assert Decimal(summary["mean_total"]) == EXACT_MEAN, summary
    assert Decimal(summary["median_total"]) == Decimal("0.37"), summary


# --- the gap keeps its promise ----------------------------------------------------------
def _two_bands(low: str, top: str) -> str:
    return f"""
[[bands]]
label = "pass"
min = {low}
max = {top}

[[bands]]
label = "fail"
min = 0
max = {low}
"""


CAPPED = """
[scheme]
id = "capped"
title = "capped"
max = 10
fit = "cap"

[inputs]
x = {}

[indicators.a]
weight = 1
formula = "weight * x"

[indicators.b]
weight = 1
formula = "weight * x"
""" + _two_bands("1.5", "10")


def test_the_gap_under_a_capped_total_reaches_the_band(tmp_path):
    # The rows add up to 2 and the total is their sum (never more than 10): raising one row
    # gives 1, so both rows are needed to reach 1.5.
    compiled = _compiled(tmp_path, CAPPED)
    facts = {"a": {"x": 0}, "b": {"x": 0}}
    assert compiled.evaluate(facts).total == Decimal("0.00")
    _assert_gap_promise(compiled, facts)


ROUNDED = """
[scheme]
id = "rounded"
title = "rounded"
max = 11

[rounding]
mode = "half_up"
indicator = 1
total = 0

[inputs]
x = {}

[indicators.a]
weight = 1
formula = "weight * x"

[indicators.b]
weight = 7
formula = "weight * x"

[indicators.c]
weight = 3
formula = "weight * x"
""" + _two_bands("10.5", "11")


def test_the_gap_counts_the_totals_own_rounding(tmp_path):
    # c = 3 x 0.15 = 0.45 -> 0.5; the total 0.5 -> 1. Raising b and c gives 10, not 10.5.
    compiled = _compiled(tmp_path, ROUNDED)
    facts = {"a": {"x": 0}, "b": {"x": 0}, "c": {"x": "0.15"}}
    assert compiled.evaluate(facts).total == Decimal(1)
    _assert_gap_promise(compiled, facts)


TRUNCATED = """
[scheme]
id = "truncated"
title = "truncated"
max = 10

[rounding]
mode = "down"
indicator = 1
total = 0

[inputs]
x = {}

[indicators.a]
weight = 4
formula = "weight * x"

[indicators.b]
weight = 4
formula = "weight * x"

[indicators.c]
weight = 2
formula = "weight * x"
na = "exclude"
""" + _two_bands("5.5", "10")


def test_the_gap_under_truncation_and_renormalisation_reaches_the_band(tmp_path):
    # c is not applicable: the total is (a + b) x 10 / 8, truncated to whole points. From
    # 0.4 + 0.4 (a total of 1), raising a gives 4.4 x 1.25 = 5.5, truncated to 5: not 5.5.
    compiled = _compiled(tmp_path, TRUNCATED)
    facts = {"a": {"x": "0.1"}, "b": {"x": "0.1"}, "c": {"na": "不适用"}}
    assert compiled.evaluate(facts).total == Decimal(1)
    _assert_gap_promise(compiled, facts)


# --- the batch summary's points lost ----------------------------------------------------
UNCOUNTED = """
[scheme]
id = "uncounted"
title = "uncounted"
max = 10

[inputs]
x = {}

[indicators.a]
weight = 10
formula = "weight * x"

[indicators.printed]
weight = 10
formula = "weight * x"
counted = false
""" + _two_bands("5", "10")


def _uncounted_units(path: Path) -> None:
    _write_csv(path, ["unit", "a.x", "printed.x"], [["u1", "0.9", "0"], ["u2", "0.8", "0.1"]])


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_points_lost_leave_out_rows_not_counted_in_streamed_batches(tmp_path, suffix):
    (tmp_path / "scheme.toml").write_text(UNCOUNTED, encoding="utf-8")
    source = tmp_path / "units.csv"
    _uncounted_units(source)
    run = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "scheme.toml"),
            str(source),
            "--out",
            str(tmp_path / f"r{suffix}"),
            *JSON,
        ],
    )
    assert run.exit_code == 0, run.output
    lost = json.loads(run.stdout)["summary"]["most_points_lost"]
    assert [row["id"] for row in lost] == ["a"], lost
    assert Decimal(lost[0]["mean_lost"]) == Decimal("1.5")


def test_points_lost_leave_out_rows_not_counted_in_the_in_memory_batch(tmp_path):
    compiled = _compiled(tmp_path, UNCOUNTED)
    source = tmp_path / "units.csv"
    _uncounted_units(source)
    lost = score_batch(compiled, source).summary(compiled)["most_points_lost"]
    assert [row["id"] for row in lost] == ["a"], lost
    # ... as the trace does
    trace = compiled.evaluate({"a": {"x": "0.9"}, "printed": {"x": "0"}}).trace
    assert [row["id"] for row in trace.to_dict()["losses"]] == ["a"]


# --- a float cell below 1e-4 ------------------------------------------------------------
TINY = """
[scheme]
id = "tiny"
title = "tiny"
max = 1

[rounding]
indicator = 6
total = 6

[inputs]
x = {}

[indicators.a]
weight = 1
formula = "weight * x"
""" + _two_bands("0.5", "1")


def test_a_float_cell_below_one_ten_thousandth_is_its_decimal(tmp_path):
    compiled = _compiled(tmp_path, TINY)
    assert compiled.evaluate({"a": {"x": "0.00005"}}).total == Decimal("0.00005")
    rows = {"unit": ["u1", "u2"], "a.x": [5e-05, 0.25]}
    for table in (pa.table(rows), pd.DataFrame(rows), pl.DataFrame(rows)):
        arrow = _arrow(perfrules.score_table(compiled, table))
        assert arrow.column("errors").to_pylist() == [None, None], type(table)
        totals = [Decimal(str(v)) for v in arrow.column("total").to_pylist()]
        assert totals == [Decimal("0.00005"), Decimal("0.25")], type(table)


# --- the trace names rule files relatively ----------------------------------------------
def test_trace_sources_are_relative_when_the_rule_file_was_given_absolute(tmp_path):
    path = tmp_path / "scheme.toml"
    path.write_text(CAPPED, encoding="utf-8")
    assert path.is_absolute()
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    for trace in (
        compiled.evaluate({"a": {"x": "0.5"}, "b": {"x": "0.5"}}).trace,
        compiled.evaluate({"a": {"x": "0.5"}, "b": {"na": "N/A"}}).trace,  # the general path
    ):
        text = trace.to_json()
        assert str(tmp_path) not in text
        data = json.loads(text)
        files = {f["path"] for f in data["provenance"]["files"]}
        sources = [s["at"] for node in data["root"]["children"] for s in node.get("sources", [])]
        assert sources
        for at in sources:
            file, _, line = at.rpartition(":")
            assert file in files, (at, files)
            assert line.isdigit(), at


# --- the gap of a result made of plain values -------------------------------------------
THIRDS = """
[scheme]
id = "thirds"
title = "thirds"
max = 3

[rounding]
indicator = "none"
total = "none"

[inputs]
x = {}

[indicators.a]
weight = 1
formula = "weight * x"

[indicators.b]
weight = 1
formula = "weight * x"

[indicators.c]
weight = 1
formula = "weight * x"
""" + _two_bands("2", "3")


def test_the_gap_of_a_result_made_of_plain_values_is_the_traces(tmp_path):
    # A result carried as plain values (from a worker process, a stored row) holds 28-digit
    # Decimals of repeating scores; its gap must still be the trace's, exactly.
    compiled = _compiled(tmp_path, THIRDS)
    units = [
        {"a": {"x": "1/3"}, "b": {"x": "2/3"}, "c": {"x": "1/3"}},
        {"a": {"x": "1/7"}, "b": {"x": "1/3"}, "c": {"x": "1/9"}},
        {"a": {"x": "1/3"}, "b": {"x": "1/3"}, "c": {"x": "1/3"}},
    ]
    in_workers = list(compiled.evaluate_many(units, workers=2))
    for facts, result in zip(units, in_workers, strict=True):
        traced = compiled.evaluate(facts)
        assert result.trace is None
        assert compiled.gap(result) == traced.trace.gap, facts
        plain = perfrules.Result(
            result.total, result.grade, dict(result.scores), None, result.total_exact
        )
        assert compiled.gap(plain) == traced.trace.gap, facts


# --- the streamed summary's points lost on rows not rounded -----------------------------
UNROUNDED_ROWS = """
[scheme]
id = "unrounded-rows"
title = "rows not rounded"
max = 3

[rounding]
indicator = "none"

[inputs]
x = {}

[indicators.a]
weight = 3
formula = "weight * x"
""" + _two_bands("1.5", "3")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_points_lost_count_rows_whose_scores_are_not_rounded(tmp_path, suffix):
    # The row's column holds exact scores as text (places "none"): its losses still count.
    (tmp_path / "scheme.toml").write_text(UNROUNDED_ROWS, encoding="utf-8")
    source = tmp_path / "units.csv"
    _write_csv(source, ["unit", "a.x"], [["u1", "0.5"], ["u2", "1"]])
    run = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "scheme.toml"),
            str(source),
            "--out",
            str(tmp_path / f"r{suffix}"),
            *JSON,
        ],
    )
    assert run.exit_code == 0, run.output
    lost = json.loads(run.stdout)["summary"]["most_points_lost"]
    assert [(row["id"], Decimal(row["mean_lost"])) for row in lost] == [("a", Decimal("0.75"))]
