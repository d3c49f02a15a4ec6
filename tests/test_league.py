"""League tables: shared ranks as published (=5), movers against last year, the table report."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli

RANKING = Path(__file__).parent.parent / "rules" / "examples" / "ranking-index" / "scheme.toml"

# B 93.33 (1); A and D 92.00 (shared 2); C 69.42 (4) — the pack's worked case.
CITIES = """\
unit,shared.gdp,shared.green,shared.pm25
A,12,45%,30
B,10,50%,25
C,8,40%,40
D,12,45%,30
"""


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


def _scheme(tmp_path, *, mark='"="', ties="competition"):
    text = RANKING.read_text(encoding="utf-8")
    text = text.replace('ties = "competition"', f'ties = "{ties}"\nshared_mark = {mark}')
    text = text.replace("#:schema ../../../schemas/", "#:schema ")
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _units(tmp_path, text=CITIES, name="cities.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _ranks(path):
    with path.open(encoding="utf-8-sig") as stream:
        return {row["unit"]: row["rank"] for row in csv.DictReader(stream)}


def test_a_shared_rank_is_written_with_its_mark_in_results(tmp_path):
    scheme = _scheme(tmp_path)
    out = tmp_path / "results.csv"
    result = _run("score", str(scheme), str(_units(tmp_path)), "--out", str(out))
    assert result.exit_code == 0, result.output
    # A cell starting with = is a formula to a spreadsheet: the CSV's guard keeps it text.
    assert _ranks(out) == {"A": "'=2", "B": "1", "C": "4", "D": "'=2"}


def test_without_a_mark_the_rank_is_a_number(tmp_path):
    out = tmp_path / "results.csv"
    assert _run("score", str(RANKING), str(_units(tmp_path)), "--out", str(out)).exit_code == 0
    assert _ranks(out) == {"A": "2", "B": "1", "C": "4", "D": "2"}


def test_dense_ties_are_marked_and_ordinal_ranks_never_are(tmp_path):
    dense = perfrules.compile_scheme(perfrules.load_scheme(_scheme(tmp_path, ties="dense")))
    out = tmp_path / "dense.csv"
    assert _run("score", str(_scheme(tmp_path, ties="dense")), str(_units(tmp_path)), "--out",
                str(out)).exit_code == 0  # fmt: skip
    assert _ranks(out) == {"A": "'=2", "B": "1", "C": "3", "D": "'=2"}
    assert dense.scheme.ranking.shared_mark == "="
    out = tmp_path / "ordinal.csv"
    assert _run("score", str(_scheme(tmp_path, ties="ordinal")), str(_units(tmp_path)),
                "--out", str(out)).exit_code == 0  # fmt: skip
    assert _ranks(out) == {"A": "2", "B": "1", "C": "4", "D": "3"}


def test_the_mark_is_in_the_trace_and_in_every_report(tmp_path):
    scheme = _scheme(tmp_path)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    units = [
        {"unit": name, "shared": {"gdp": gdp, "green": green, "pm25": pm}}
        for name, gdp, green, pm in (("A", "12", "45%", "30"), ("B", "10", "50%", "25"),
                                     ("D", "12", "45%", "30"))
    ]  # fmt: skip
    a, b, _ = compiled.evaluate_cohort(units)
    assert (a.rank.shown, b.rank.shown) == ("=2", "1")
    rank = json.loads(a.trace.to_json())["cohort"]["rank"]
    assert (rank["position"], rank["shown"]) == (2, "=2")
    assert "shown" not in json.loads(b.trace.to_json())["cohort"]["rank"] or (
        json.loads(b.trace.to_json())["cohort"]["rank"]["shown"] == "1"
    )
    explained = _run("explain", str(scheme), str(_units(tmp_path)), "--unit", "A", "--lang",
                     "en", "economy")  # fmt: skip
    assert "Rank: =2 of 4" in explained.stdout, explained.output
    from perfrules.reports import render_html, render_markdown

    assert "=2" in render_markdown(a.trace, "en")
    assert "=2" in render_html(a.trace, "en")


def test_a_scheme_without_a_mark_keeps_its_hash_and_trace_bytes(tmp_path):
    plain = perfrules.compile_scheme(perfrules.load_scheme(RANKING))
    empty = perfrules.compile_scheme(perfrules.load_scheme(_scheme(tmp_path, mark='""')))
    marked = perfrules.compile_scheme(perfrules.load_scheme(_scheme(tmp_path)))
    assert plain.sha256 == empty.sha256 != marked.sha256
    units = [{"unit": "A", "shared": {"gdp": "12", "green": "45%", "pm25": "30"}}] * 2
    assert '"shown"' not in plain.evaluate_cohort(units)[0].trace.to_json()


def test_a_mark_with_digits_is_refused_at_its_place(tmp_path):
    result = _run("check", str(_scheme(tmp_path, mark='"1"')))
    assert result.exit_code == 1
    assert "shared_mark" in result.output


def test_score_table_and_the_streamed_batch_write_the_mark(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow as pa

    compiled = perfrules.compile_scheme(perfrules.load_scheme(_scheme(tmp_path)))
    import pyarrow.csv

    header = CITIES.split("\n", maxsplit=1)[0].split(",")
    options = pyarrow.csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
    table = pyarrow.csv.read_csv(io.BytesIO(CITIES.encode()), convert_options=options)
    results = perfrules.score_table(compiled, table)
    assert results.column("rank").to_pylist() == ["=2", "1", "4", "=2"]


def test_diff_shows_a_new_shared_mark(tmp_path):
    result = _run("diff", str(RANKING), str(_scheme(tmp_path)), "--lang", "en")
    assert "shared_mark" in result.stdout, result.output
