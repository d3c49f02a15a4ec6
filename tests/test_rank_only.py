"""Rank-only schemes: no grade bands; every report shows ranks and no grade."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from perfrules._trace_json import trace_json
from perfrules.cli import cli
from perfrules.reports import (
    make_console,
    render_html,
    render_markdown,
    render_score_table,
)

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml"
CITIES = [
    {"unit": "A", "shared": {"gdp": "12", "green": "45%", "pm25": "30"}},
    {"unit": "B", "shared": {"gdp": "10", "green": "50%", "pm25": "25"}},
    {"unit": "C", "shared": {"gdp": "8", "green": "40%", "pm25": "40"}},
]
GRADE_WORDS = ("Grade", "等级", "top band", "最高等级", "grades:", "等级分布")


def _rank_only_text() -> str:
    text = INDEX.read_text(encoding="utf-8")
    without = re.sub(r"\[\[bands\]\]\n(?:[^\[\n][^\n]*\n|\n)*", "", text)
    assert "[[bands]]" not in without
    return without


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    folder = tmp_path_factory.mktemp("league")
    scheme = folder / "scheme.toml"
    scheme.write_text(_rank_only_text(), encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    results = compiled.evaluate_cohort(CITIES)
    return scheme, compiled, results


def test_a_scheme_may_declare_no_bands(league):
    _, compiled, results = league
    assert compiled.scheme.bands == []
    totals = [str(r.total) for r in results]
    assert totals == ["92.00", "93.33", "69.42"]
    assert [r.rank.position for r in results] == [2, 1, 3]
    assert [r.grade.label for r in results] == ["", "", ""]


def test_the_trace_json_has_no_grade_and_no_gap(league):
    _, _, results = league
    for result in results:
        document = json.loads(result.trace.to_json())
        assert document["grade"] is None
        assert document["bands"] == []
        assert document["gap"] is None
        assert document["cohort"]["rank"]["position"] == result.rank.position


def test_the_json_from_the_trace_tree_says_the_same(league):
    _, _, results = league
    # The second writer: the document written from the trace's nodes (not the record).
    for result in results:
        assert json.loads(trace_json(result.trace))["grade"] is None


def test_text_report_shows_the_rank_and_no_grade(league):
    _, _, results = league
    for lang in ("en", "zh"):
        out = io.StringIO()
        render_score_table(results[1].trace, lang, make_console(out))
        text = out.getvalue()
        assert not any(word in text for word in GRADE_WORDS), text
        assert "93.33" in text
        assert ("1 of 3" if lang == "en" else "第 1") in text, text


def test_markdown_report_shows_the_rank_and_no_grade(league):
    _, _, results = league
    text = render_markdown(results[0].trace, "en")
    assert not any(word in text for word in GRADE_WORDS), text
    assert "**Total**: 92.00\n" in text
    assert "2 of 3" in text


def test_html_report_shows_the_rank_and_no_grade(league):
    _, _, results = league
    for edition in ("analysis", "filing"):
        page = render_html(results[2].trace, "en", edition)
        assert 'id="grade"' not in page
        assert "grade-row" not in page.split("</style>")[1]
        assert 'id="gap"' not in page
        assert "3 of 3" in page


def test_a_graded_scheme_still_shows_its_grade(league):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(INDEX))
    result = compiled.evaluate_cohort(CITIES)[1]
    assert "**Grade**: A" in render_markdown(result.trace, "en")
    assert 'id="grade"' in render_html(result.trace, "en")
    assert json.loads(result.trace.to_json())["grade"]["label"] == "A"


def test_batch_summary_has_no_grades(league, tmp_path):
    scheme, _, _ = league
    units = tmp_path / "units.csv"
    rows = ["unit,shared.gdp,shared.green,shared.pm25"]
    rows += [
        f"{u['unit']},{u['shared']['gdp']},{u['shared']['green']},{u['shared']['pm25']}"
        for u in CITIES
    ]
    units.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "results.csv"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["score", str(scheme), str(units), "--out", str(out), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    assert not any(word in result.output for word in GRADE_WORDS), result.output
    lines = tmp_path / "results.jsonl"
    shown = runner.invoke(cli, ["score", str(scheme), str(units), "--out", str(lines)])
    assert shown.exit_code == 0, shown.output
    documents = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()]
    assert [d["trace"]["grade"] for d in documents] == [None, None, None]
    assert [d["trace"]["cohort"]["rank"]["position"] for d in documents] == [2, 1, 3]
