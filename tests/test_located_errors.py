"""Every batch shape locates each unit's problems, and gives them as a table beside the results.

Cohort schemes too (their first pass reads the shared facts before any unit is scored), and
a ``shared.*`` column nothing reads is refused by every shape, as the in-memory batch does.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.workflows._batch import score_batch, write_results
from perfrules.workflows._stream import stream_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021" / "scheme.toml"
PROCUREMENT = ROOT / "rules" / "cn" / "procurement-comprehensive-scoring" / "scheme.toml"

BIDS = (
    "unit,shared.lot,shared.bid,shared.valid,技术,商务\n"
    "A,1,100,true,40,15\n"
    "B,1,abc,true,40,15\n"  # line 3: the bid (column 3) is not a number
    "C,,120,true,40,15\n"  # line 4: no lot (column 2 empty)
    "D,1,120,maybe,40,15\n"  # line 5: valid (column 4) is not true or false
    "E,1,110,true,4x0,15\n"  # line 6: 技术 (column 5) is not a number
)


def _compiled(path: Path = PROCUREMENT) -> perfrules.CompiledScheme:
    return perfrules.compile_scheme(perfrules.load_scheme(path))


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


def _bids(tmp_path: Path) -> Path:
    path = tmp_path / "bids.csv"
    path.write_text(BIDS, encoding="utf-8")
    return path


#: (unit, line, column, code) of each problem of BIDS.
EXPECTED = [
    ("B", 3, 3, "PR402"),
    ("C", 4, 2, "PR416"),
    ("D", 5, 4, "PR402"),
    ("E", 6, 5, "PR402"),
]


def _places(failed) -> list[tuple[str, int, int, str]]:
    return sorted((u.unit, d.line, d.column, d.code) for u in failed for d in u.errors)


def test_the_streamed_batch_of_a_cohort_scheme_locates_every_problem(tmp_path):
    source = _bids(tmp_path)
    outcome = stream_batch(_compiled(), source, tmp_path / "out.csv")
    assert _places(outcome.failed) == EXPECTED
    assert all(d.file == str(source) for u in outcome.failed for d in u.errors)
    with (tmp_path / "out.csv").open(encoding="utf-8-sig") as stream:
        errors = {row["unit"]: row["errors"] for row in csv.DictReader(stream)}
    assert errors["B"].startswith(f"{source}:3:3: error[PR402]")
    assert errors["C"].startswith(f"{source}:4:2: error[PR416]")
    assert "<input>" not in "".join(errors.values())


def test_the_streamed_explained_batch_of_a_cohort_scheme_locates_every_problem(tmp_path):
    source = _bids(tmp_path)
    scheme = tmp_path / "s.toml"
    # Without the ranking a cohort scheme streams JSON Lines too.
    text = PROCUREMENT.read_text(encoding="utf-8")
    start = text.index("[ranking]")
    scheme.write_text(text[:start] + text[text.index("[[bands]]") :], encoding="utf-8")
    outcome = stream_batch(_compiled(scheme), source, tmp_path / "out.jsonl")
    assert _places(outcome.failed) == EXPECTED


def test_the_in_memory_batch_locates_a_missing_cohort_key_at_its_cell(tmp_path):
    outcome = score_batch(_compiled(), _bids(tmp_path))
    assert _places(outcome.failed) == EXPECTED


def test_score_table_of_a_cohort_scheme_locates_every_problem():
    frame = pd.read_csv(io.StringIO(BIDS), dtype=str, keep_default_na=False)
    out = perfrules.score_table(_compiled(), frame)
    errors = out["errors"].tolist()
    assert pd.isna(errors[0])
    assert errors[1].startswith("table:2:3: error[PR402]")
    assert errors[2].startswith("table:3:2: error[PR416]")
    assert errors[3].startswith("table:4:4: error[PR402]")
    assert errors[4].startswith("table:5:5: error[PR402]")


def test_score_table_gives_its_errors_as_a_table_of_the_same_kind():
    frame = pd.read_csv(io.StringIO(BIDS), dtype=str, keep_default_na=False)
    results, errors = perfrules.score_table(_compiled(), frame, errors=True)
    assert isinstance(errors, pd.DataFrame)
    assert list(errors.columns) == ["row", "column", "code", "message"]
    rows = errors.to_dict("records")
    assert [(r["row"], r["column"], r["code"]) for r in rows] == [
        (1, "shared.bid", "PR402"),
        (2, "shared.lot", "PR416"),
        (3, "shared.valid", "PR402"),
        (4, "技术", "PR402"),
    ]
    assert rows[0]["message"] == "cannot read abc as a number such as 80%, 4.8 or 70/88"
    # the row is the results' own row
    assert results["unit"].tolist()[rows[3]["row"]] == "E"


def test_the_errors_table_has_null_where_a_problem_has_no_column():
    compiled = _compiled(SEED)
    ids = list(compiled.scheme.indicators)
    table = pa.table({"unit": ["a"], ids[0]: ["80%"]})  # every other indicator missing
    results, errors = perfrules.score_table(compiled, table, errors=True)
    assert isinstance(errors, pa.Table)
    assert errors.schema.field("row").type == pa.int64()
    rows = errors.to_pylist()
    assert {r["code"] for r in rows} == {"PR401"}
    assert all(r["row"] == 0 and r["column"] is None for r in rows)
    assert results.num_rows == 1


def test_a_table_that_scores_has_an_empty_errors_table():
    compiled = _compiled(SEED)
    facts = perfrules.load_facts(SEED.parent / "facts.toml")
    row = {"unit": "seed"}
    for ident, values in facts.indicators.items():
        for key, value in values.items():
            row[f"{ident}.{key}"] = str(value["value"] if isinstance(value, dict) else value)
    results, errors = perfrules.score_table(compiled, pa.Table.from_pylist([row]), errors=True)
    assert errors.num_rows == 0
    assert errors.column_names == ["row", "column", "code", "message"]
    assert str(results.column("total")[0].as_py()) == "89.25"


def _read_errors(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.parametrize("out", ["results.csv", "results.parquet", "results.xlsx"])
def test_the_cli_writes_the_errors_table_beside_the_results(tmp_path, out):
    source = _bids(tmp_path)
    errors = tmp_path / "errors.csv"
    result = _run(
        "score", str(PROCUREMENT), str(source), "--out", str(tmp_path / out),
        "--errors", str(errors), "--lang", "en",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    rows = _read_errors(errors)
    assert list(rows[0]) == ["unit", "file", "row", "column", "code", "message", "hint"]
    assert [(r["unit"], r["row"], r["column"], r["code"]) for r in rows] == [
        (unit, str(line), str(column), code) for unit, line, column, code in EXPECTED
    ]
    assert {r["file"] for r in rows} == {str(source)}
    assert rows[0]["message"] == "cannot read abc as a number such as 80%, 4.8 or 70/88"


def test_the_errors_table_as_json_lines_has_null_for_what_is_absent(tmp_path):
    source = tmp_path / "units.csv"
    ids = list(_compiled(SEED).scheme.indicators)
    source.write_text(f"unit,{ids[0]}\na,80%\n", encoding="utf-8")
    errors = tmp_path / "errors.jsonl"
    result = _run(
        "score", str(SEED), str(source), "--out", str(tmp_path / "r.csv"),
        "--errors", str(errors),
    )  # fmt: skip
    assert result.exit_code == 1
    lines = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(ids) - 1
    assert all(line["row"] == 2 and line["column"] is None for line in lines)
    assert {line["code"] for line in lines} == {"PR401"}


@pytest.mark.parametrize(
    ("lang", "hint"), [("en", "did you mean '0.93'?"), ("zh", "是否应为“0.93”？")]
)
def test_the_errors_table_says_what_to_write_instead(tmp_path, lang, hint):
    source = tmp_path / "units.csv"
    ids = list(_compiled(SEED).scheme.indicators)
    source.write_text(
        f'unit,{",".join(ids)}\na,"0,93",{",".join(["80%"] * (len(ids) - 1))}\n',
        encoding="utf-8",
    )
    errors = tmp_path / "errors.csv"
    result = _run(
        "score", str(SEED), str(source), "--out", str(tmp_path / "r.csv"),
        "--errors", str(errors), "--lang", lang,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    (row,) = _read_errors(errors)
    assert (row["code"], row["row"], row["column"], row["hint"]) == ("PR402", "2", "2", hint)


def test_no_errors_file_without_a_batch(tmp_path):
    result = _run(
        "score", str(SEED), str(SEED.parent / "facts.toml"), "--errors", str(tmp_path / "e.csv")
    )
    assert result.exit_code == 2
    assert "--errors" in result.output
    assert not (tmp_path / "e.csv").exists()


def test_write_results_writes_the_errors_table_of_an_in_memory_batch(tmp_path):
    compiled = _compiled()
    outcome = score_batch(compiled, _bids(tmp_path))
    errors = tmp_path / "errors.csv"
    write_results(outcome, compiled, tmp_path / "r.csv", errors=errors)
    rows = _read_errors(errors)
    assert [(r["unit"], r["row"], r["column"], r["code"]) for r in rows] == [
        (unit, str(line), str(column), code) for unit, line, column, code in EXPECTED
    ]


# --- PR421: a shared column nothing reads, in every shape --------------------------------
def _typo_units(tmp_path: Path) -> tuple[Path, list[str]]:
    ids = list(_compiled(SEED).scheme.indicators)
    row = ",".join(["80%"] * len(ids))
    path = tmp_path / "units.csv"
    path.write_text(
        f"unit,{','.join(ids)},shared.targte,shared.target\nA,{row},88,\nB,{row},,88\n",
        encoding="utf-8",
    )
    return path, ids


def test_the_streamed_batch_refuses_a_shared_column_nothing_reads(tmp_path):
    source, ids = _typo_units(tmp_path)
    outcome = stream_batch(_compiled(SEED), source, tmp_path / "out.csv")
    assert outcome.scored_count == 1
    ((problem,),) = [u.errors for u in outcome.failed]
    assert problem.code == "PR421"
    assert (problem.file, problem.line, problem.column) == (str(source), 2, len(ids) + 2)
    assert problem.hint_text("en") == "did you mean 'target'?"


def test_score_table_refuses_a_shared_column_nothing_reads(tmp_path):
    source, ids = _typo_units(tmp_path)
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    results, errors = perfrules.score_table(_compiled(SEED), frame, errors=True)
    assert results["errors"].tolist()[0].startswith(f"table:1:{len(ids) + 2}: error[PR421]")
    assert pd.isna(results["errors"].tolist()[1])
    assert errors.to_dict("records") == [
        {
            "row": 0,
            "column": "shared.targte",
            "code": "PR421",
            "message": "facts give shared fact 'targte', which nothing in the scheme reads",
        }
    ]


def test_a_refused_row_does_not_count_in_the_cohort_values(tmp_path):
    source = tmp_path / "bids.csv"
    source.write_text(
        "unit,shared.lot,shared.bid,shared.valid,shared.vaild,技术,商务\n"
        "A,1,100,true,,40,15\n"
        "B,1,50,true,yes,40,15\n",  # refused (shared.vaild): its bid is not the lowest
        encoding="utf-8",
    )
    compiled = _compiled()
    memory = score_batch(compiled, source)
    streamed = stream_batch(compiled, source, tmp_path / "out.csv")
    table = perfrules.score_table(compiled, pd.read_csv(source, dtype=str, keep_default_na=False))
    assert [u.errors[0].code for u in memory.failed] == ["PR421"]
    assert [u.errors[0].code for u in streamed.failed] == ["PR421"]
    (scored,) = memory.scored
    assert scored.result is not None
    assert str(scored.result.scores["价格"]) == "30.00"  # 100 is the lowest valid bid
    with (tmp_path / "out.csv").open(encoding="utf-8-sig") as stream:
        written = list(csv.DictReader(stream))
    assert written[0]["价格"] == "30.00"
    assert written[0]["lowest_valid_bid"] == "100"
    assert str(table["价格"].tolist()[0]) == "30.00"
    assert table["errors"].tolist()[1].startswith("table:2:5: error[PR421]")


_DIVIDED = """
[scheme]
id = "divided"
title = "divided"
max = 10

[inputs]
actual = {}
target = {}

[[bands]]
label = "ok"
min = 0
max = 10

[indicators.a]
weight = 10
formula = "weight * min(actual / target, 1)"
"""


def test_a_division_by_a_fact_of_0_is_at_that_fact_in_a_file_and_in_a_table(tmp_path):
    # "target = 0" is what to correct: the facts file's line and the table's cell say so
    # (it was the indicator's table header, line 1), in every shape of facts.
    scheme = tmp_path / "scheme.toml"
    scheme.write_text(_DIVIDED, encoding="utf-8")
    facts = tmp_path / "facts.toml"
    facts.write_text("[indicators.a]\nactual = 5\ntarget = 0\n", encoding="utf-8")
    one = _run("score", str(scheme), str(facts))
    assert one.exit_code == 1
    assert f"{facts}:3:1: error[PR316]: division by zero: 'target' is 0" in one.stderr
    units = tmp_path / "units.csv"
    units.write_text("unit,a.actual,a.target\nu1,5,2\nu2,5,0\n", encoding="utf-8")
    compiled = _compiled(scheme)
    streamed = stream_batch(compiled, units, tmp_path / "out.csv")
    assert _places(streamed.failed) == [("u2", 3, 3, "PR316")]
    batch = score_batch(compiled, units)
    assert _places(batch.failed) == [("u2", 3, 3, "PR316")]
    frame = pd.DataFrame({"unit": ["u1", "u2"], "a.actual": [5, 5], "a.target": [2, 0]})
    errors = perfrules.score_table(compiled, frame)["errors"].tolist()
    assert pd.isna(errors[0])
    assert errors[1].startswith("table:2:3: error[PR316]")  # a numeric column too
