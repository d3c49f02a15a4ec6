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


# Last year: the four cities of the pack's case. This year D is gone, E is new and better
# than everyone: E 93.85 (1), B 93.33 (2), A 92.00 (3), C 69.42 (4) (hand-checked: the best
# green space and PM2.5 are still B's; 40 × 11/12 = 36.67, 30 × 49/50 = 29.40,
# 30 × 25/27 = 27.78).
THIS_YEAR = """\
unit,shared.gdp,shared.green,shared.pm25
A,12,45%,30
B,10,50%,25
C,8,40%,40
E,11,49%,27
"""


def _years(tmp_path):
    return _units(tmp_path, CITIES, "last.csv"), _units(tmp_path, THIS_YEAR, "new.csv")


def test_movers_give_rank_and_total_changes_and_new_and_dropped_units(tmp_path):
    from perfrules.workflows import movers

    scheme = perfrules.compile_scheme(perfrules.load_scheme(_scheme(tmp_path)))
    last, new = _years(tmp_path)
    moved = movers(scheme, scheme, last, new)
    rows = {m.unit: (m.old_rank, m.new_rank, m.rank_change) for m in moved.rows}
    assert rows == {"B": ("1", "2", -1), "A": ("=2", "3", -1), "C": ("4", "4", 0)}
    assert [m.unit for m in moved.rows] == ["B", "A", "C"]  # this year's order
    assert [(m.unit, m.new_rank, str(m.new_total)) for m in moved.added] == [("E", "1", "93.85")]
    assert [(m.unit, m.old_rank) for m in moved.dropped] == [("D", "=2")]
    document = moved.to_dict()
    assert document["units"][0] == {
        "unit": "B",
        "rank": {"old": "1", "new": "2", "change": -1},
        "total": {"old": "93.33", "new": "93.33", "delta": "0.00"},
        "grade": {"old": "A", "new": "A"},
    }


def test_last_years_results_file_is_read_as_it_is(tmp_path):
    from perfrules.workflows import movers

    scheme = _scheme(tmp_path)
    last, new = _years(tmp_path)
    results = tmp_path / "last-results.csv"
    assert _run("score", str(scheme), str(last), "--out", str(results)).exit_code == 0
    # A published figure differs from what the facts would give: the file is not rescored.
    text = results.read_text(encoding="utf-8-sig").replace("69.42", "70.00")
    results.write_text(text, encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    moved = movers(compiled, compiled, results, new)
    c = next(m for m in moved.rows if m.unit == "C")
    assert (str(c.old_total), str(c.delta), c.old_rank) == ("70.00", "-0.58", "4")
    assert next(m for m in moved.rows if m.unit == "A").old_rank == "=2"  # '=2 read back


def test_diff_units_prints_the_movers_with_one_scheme(tmp_path):
    last, new = _years(tmp_path)
    result = _run("diff", str(_scheme(tmp_path)), "--units", str(last), str(new), "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "this year against last year" in result.stdout
    assert "▼1" in result.stdout
    assert "new this year: E (1, 93.85)" in result.stdout
    assert "dropped since last year: D (=2, 92.00)" in result.stdout
    assert "no differences" not in result.stdout  # one scheme: no scheme diff to show
    document = json.loads(
        _run(
            "diff", str(_scheme(tmp_path)), "--units", str(last), str(new), "--format", "json"
        ).stdout
    )
    assert [m["unit"] for m in document["movers"]["new"]] == ["E"]
    assert document["changes"] == []


def test_diff_units_usage_errors(tmp_path):
    last, new = _years(tmp_path)
    assert _run("diff", str(RANKING)).exit_code == 2
    assert _run("diff", str(RANKING), str(RANKING), "--out", "x.html").exit_code == 2
    result = _run("diff", str(RANKING), "--units", str(last), str(new), "--out", "x.txt")
    assert result.exit_code == 2
    results = tmp_path / "results.csv"
    assert _run("score", str(RANKING), str(new), "--out", str(results)).exit_code == 0
    result = _run("diff", str(RANKING), "--units", str(last), str(results), "--out", "x.html")
    assert result.exit_code == 2
    assert "not results" in result.output


def test_diff_units_writes_the_league_table_with_each_move(tmp_path):
    last, new = _years(tmp_path)
    out = tmp_path / "league.html"
    result = _run("diff", str(_scheme(tmp_path)), "--units", str(last), str(new), "--out",
                  str(out), "--lang", "en")  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    order = [page.index(f'<td class="unit">{u}</td>') for u in ("E", "B", "A", "C")]
    assert order == sorted(order)
    assert '<td class="num down">▼1</td>' in page
    assert '<td class="num">new</td>' in page
    assert "no longer in the table: D" in page
    assert "Economy (40)" in page


def test_a_batch_to_html_is_a_league_table_with_shared_ranks(tmp_path):
    units = _units(tmp_path, CITIES.replace("D,12", "<b>D</b>,12"))
    out = tmp_path / "table.html"
    result = _run("score", str(_scheme(tmp_path)), str(units), "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.count('<td class="num rank">=2</td>') == 2
    assert "&lt;b&gt;D&lt;/b&gt;" in page
    assert "<b>D</b>" not in page
    assert "Last year" not in page  # no movement column without last year


def test_the_league_workbook_keeps_numbers_as_numbers_and_shared_ranks_as_text(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    last, new = _years(tmp_path)
    out = tmp_path / "league.xlsx"
    result = _run("diff", str(_scheme(tmp_path)), "--units", str(new), str(last), "--out",
                  str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out).active
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert [r[:3] for r in rows] == [(1, "B", 93.33), ("=2", "A", 92), ("=2", "D", 92),
                                     (4, "C", 69.42)]  # fmt: skip
    assert sheet.cell(row=4, column=1).data_type == "s"  # =2 is text, not a formula
    assert rows[2][-1] == "new"
    assert rows[0][-1] == "▲1"


def _rank_only(tmp_path):
    """The ranking index without its grade bands: a league table and nothing else."""
    text = _scheme(tmp_path).read_text(encoding="utf-8")
    head, _, rest = text.partition("[[bands]]")
    rest = rest[rest.index("[indicators.") :]
    path = tmp_path / "rank-only.toml"
    path.write_text(head + rest, encoding="utf-8")
    return path


def test_a_rank_only_league_table_has_no_grade_column(tmp_path):
    scheme = _rank_only(tmp_path)
    units = _units(tmp_path)
    page = tmp_path / "table.html"
    result = _run("score", str(scheme), str(units), "--out", str(page), "--lang", "en")
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert '<td class="num rank">1</td>' in html
    assert 'class="grade"' not in html
    assert "<th>Grade</th>" not in html


def test_the_league_workbook_puts_each_score_under_its_heading(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    last, new = _years(tmp_path)
    for scheme, grade in ((_scheme(tmp_path), ["A"]), (_rank_only(tmp_path), [])):
        out = tmp_path / f"league-{len(grade)}.xlsx"
        result = _run("diff", str(scheme), "--units", str(last), str(new), "--out", str(out))
        assert result.exit_code == 0, result.output
        sheet = openpyxl.load_workbook(out).active
        headers = [c.value for c in sheet[2]]
        first = next(r for r in sheet.iter_rows(min_row=3, values_only=True) if r[1] == "B")
        assert len(headers) == len(first)
        economy = headers.index("Economy (40)")
        assert isinstance(first[economy], (int, float))  # a score, not the grade's text
        assert ("Grade" in headers or "等级" in headers) == bool(grade)
