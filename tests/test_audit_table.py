"""Auditing a published table: every unit's total and rank recomputed, each difference's cause."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.errors import FactsError
from perfrules.workflows import audit_table

RANKING = Path(__file__).parent.parent / "rules" / "examples" / "ranking-index" / "scheme.toml"

# Worked by hand (the pack's cases): best GDP 12, best green 50 %, lowest PM2.5 25.
#   B 93.33 (1); A and D 92.00 (tied 2); E: 40 × 9.5/12 = 31.67, 30 × 48/50 = 28.80,
#   30 × 25/28 = 26.79 → 87.26 (4); C 69.42 (5); F: 20 + 18 + 15 = 53.00 (6).
# The publication: E's GDP was 9.54 before it was printed as 9.5 (40 × 9.54/12 = 31.80 →
# 87.39); C's total printed to one place; F's total is 58 (nothing gives it); ranks dense.
TABLE = """\
unit,shared.gdp,shared.green,shared.pm25,published.total,published.rank
B,10,50%,25,93.33,1
A,12,45%,30,92.00,=2
D,12,45%,30,92.00,=2
E,9.5,48%,28,87.39,3
C,8,40%,40,69.4,4
F,6,30%,50,58.00,5
"""


@pytest.fixture(scope="module")
def compiled():
    return perfrules.compile_scheme(perfrules.load_scheme(RANKING))


def _table(tmp_path, text=TABLE):
    path = tmp_path / "published.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _finding(outcome, unit, what):
    return next(f for f in outcome.findings if f.unit == unit and f.what == what)


def test_each_row_is_exact_within_the_tolerance_or_off(compiled, tmp_path):
    outcome = audit_table(compiled, _table(tmp_path), tolerance="0.05")
    status = {row.unit: row.status for row in outcome.rows}
    assert status == {"B": "exact", "A": "exact", "D": "exact", "E": "off", "C": "within",
                      "F": "off"}  # fmt: skip
    assert (outcome.count("exact"), outcome.count("within"), outcome.count("off")) == (3, 1, 2)
    assert not outcome.consistent
    # The tolerance is exact: 0.02 is within 0.02, not within 0.01.
    assert audit_table(compiled, _table(tmp_path), tolerance="0.02").rows[4].status == "within"
    assert audit_table(compiled, _table(tmp_path), tolerance="0.019").rows[4].status == "off"
    assert audit_table(compiled, _table(tmp_path)).rows[4].status == "off"


def test_an_input_rounded_before_publication_is_found_with_the_value_that_gives_the_total(
    compiled, tmp_path
):
    outcome = audit_table(compiled, _table(tmp_path), tolerance="0.05")
    found = _finding(outcome, "E", "total")
    assert (found.cause, found.published, found.expected, found.difference) == (
        "input_rounded", "87.39", "87.26", "0.13")  # fmt: skip
    assert "gdp = 9.54 (published as 9.5) gives 87.39" in found.reason
    assert (found.line, found.column) == (5, 5)


def test_a_total_no_input_can_give_is_said_so(compiled, tmp_path):
    found = _finding(audit_table(compiled, _table(tmp_path)), "F", "total")
    assert found.cause == "inputs_cannot_give"
    assert "cannot give 58.00" in found.reason


def test_a_total_printed_to_fewer_places_is_a_rounding_slip(compiled, tmp_path):
    found = _finding(audit_table(compiled, _table(tmp_path), tolerance="0.05"), "C", "total")
    assert (found.status, found.cause) == ("within", "total_rounding")
    assert "1 places instead of 2" in found.reason


def test_ranks_shifted_by_an_earlier_tie_name_the_tie_and_the_rule(compiled, tmp_path):
    outcome = audit_table(compiled, _table(tmp_path), tolerance="0.05")
    assert outcome.ranks is not None
    assert (outcome.ranks.compared, outcome.ranks.agree, outcome.ranks.largest_shift) == (6, 3, 1)
    for unit in ("E", "C", "F"):
        found = _finding(outcome, unit, "rank")
        assert found.cause == "earlier_tie", found
        assert "A, D share rank 2" in found.reason
        assert "dense" in found.reason
    agrees = {row.unit: row.rank_agrees for row in outcome.rows}
    assert agrees == {"B": True, "A": True, "D": True, "E": False, "C": False, "F": False}
    assert outcome.rows[1].published_rank == "=2"


def test_a_broken_tie_is_named(compiled, tmp_path):
    text = TABLE.replace("D,12,45%,30,92.00,=2", "D,12,45%,30,92.00,3")
    text = text.replace(",87.39,3", ",87.39,4").replace(",69.4,4", ",69.4,5").replace(
        ",58.00,5", ",58.00,6")  # fmt: skip
    found = _finding(audit_table(compiled, _table(tmp_path, text)), "D", "rank")
    assert found.cause == "tie_rule"
    assert "a tie of A, D at rank 2" in found.reason
    assert "ordinal" in found.reason


def test_a_rank_that_follows_the_published_totals_is_said_so(compiled, tmp_path):
    # F is published above C: its printed 70 would put it there.
    text = TABLE.replace("F,6,30%,50,58.00,5", "F,6,30%,50,70.00,4").replace(
        "C,8,40%,40,69.4,4", "C,8,40%,40,69.42,5")  # fmt: skip
    text = text.replace(",87.39,3", ",87.39,4").replace(
        "A,12,45%,30,92.00,=2", "A,12,45%,30,92.00,2"
    )
    outcome = audit_table(compiled, _table(tmp_path, text))
    found = _finding(outcome, "F", "rank")
    assert found.cause == "published_totals"
    assert "(E, F)" in found.reason


def test_a_rounded_input_of_the_unit_that_sets_a_cohort_value_is_found(compiled, tmp_path):
    # A's GDP was 12.04: the best GDP moves B's economy score to 40 × 10/12.04 = 33.22.
    text = "unit,shared.gdp,shared.green,shared.pm25,published.total\n"
    text += "A,12,45%,30,92.00\nB,10.000,50%,25,93.22\n"  # B's own GDP is precise
    found = _finding(audit_table(compiled, _table(tmp_path, text)), "B", "total")
    assert found.cause == "input_rounded"
    assert "an input of A rounded before publication" in found.reason
    assert "12.04" in found.reason


def test_a_consistent_table_is_consistent(compiled, tmp_path):
    text = "unit,shared.gdp,shared.green,shared.pm25,published.total,published.rank\n"
    text += "A,12,45%,30,92,=2\nB,10,50%,25,93.33,1\nD,12,45%,30,92.00,2=\n"
    outcome = audit_table(compiled, _table(tmp_path, text))
    assert outcome.consistent
    assert outcome.findings == ()


def test_published_indicator_scores_and_grades_are_checked(compiled, tmp_path):
    text = "unit,shared.gdp,shared.green,shared.pm25,published.economy,published.grade\n"
    # Without B the best green space is 45 % and the lowest PM2.5 30: C scores 75.84 (B).
    text += "A,12,45%,30,40,A\nC,8,40%,40,26.66,C\n"
    outcome = audit_table(compiled, _table(tmp_path, text))
    row = _finding(outcome, "C", "economy")
    assert (row.expected, row.cause) == ("26.67", "row")
    assert "rounded down" in row.reason or "truncat" in row.reason
    grade = _finding(outcome, "C", "grade")
    assert grade.expected == "B"
    assert [r.status for r in outcome.rows] == ["exact", "off"]


def test_bad_published_cells_are_located_errors(compiled, tmp_path):
    text = "unit,shared.gdp,shared.green,shared.pm25,published.total,published.rank\n"
    text += "A,12,45%,30,92,second\n"
    with pytest.raises(FactsError) as caught:
        audit_table(compiled, _table(tmp_path, text))
    problem = caught.value.diagnostics[0]
    assert (problem.code, problem.line, problem.column) == ("PR402", 2, 6)
    text = "unit,shared.gdp,shared.green,shared.pm25,published.totl\nA,12,45%,30,92\n"
    with pytest.raises(FactsError) as caught:
        audit_table(compiled, _table(tmp_path, text))
    problem = caught.value.diagnostics[0]
    assert (problem.code, problem.line, problem.column) == ("PR419", 1, 5)
    text = "unit,shared.gdp,shared.green,shared.pm25\nA,12,45%,30\n"
    with pytest.raises(FactsError) as caught:
        audit_table(compiled, _table(tmp_path, text))
    assert caught.value.diagnostics[0].code == "PR412"


def test_the_tolerance_is_exact_and_not_negative(compiled, tmp_path):
    with pytest.raises(ValueError, match="negative"):
        audit_table(compiled, _table(tmp_path), tolerance="-0.1")
    with pytest.raises(TypeError):
        audit_table(compiled, _table(tmp_path), tolerance=0.05)  # type: ignore[arg-type]
    assert audit_table(compiled, _table(tmp_path), tolerance=Decimal("0.05")).tolerance == "0.05"


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


def test_the_command_prints_the_counts_ranks_and_causes(tmp_path):
    result = _run("audit", str(RANKING), str(_table(tmp_path)), "--tolerance", "0.05",
                  "--lang", "en")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "6 units: 3 exact, 1 within 0.05, 2 off" in result.stdout
    assert "ranks: 3 of 6 agree (largest shift 1)" in result.stdout
    assert "published.csv:5:5: E total: published 87.39, recomputed 87.26" in result.stdout
    assert "within the tolerance" in result.stdout
    assert "C rank: published 4, recomputed 5 (difference -1)" in result.stdout
    chinese = _run("audit", str(RANKING), str(_table(tmp_path)), "--tolerance", "0.05",
                   "--lang", "zh")  # fmt: skip
    assert "E 总分：公布 87.39，重算为 87.26（差 0.13）" in chinese.stdout
    assert "C 名次：公布 4，重算为 5" in chinese.stdout


def test_json_is_the_document_the_library_returns(compiled, tmp_path):
    path = _table(tmp_path)
    result = _run("audit", str(RANKING), str(path), "--tolerance", "0.05", "--format", "json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document == audit_table(compiled, path, tolerance="0.05").to_dict()
    assert document["rows"] == {"exact": 3, "within": 1, "off": 2, "unscored": 0, "unchecked": 0}
    assert document["ranks"] == {"compared": 6, "agree": 3, "largest_shift": 1}


def test_a_table_within_the_tolerance_exits_0(tmp_path):
    text = "unit,shared.gdp,shared.green,shared.pm25,published.total\nA,12,45%,30,92\n"
    text += "B,10,50%,25,93.33\nC,8,40%,40,69.4\n"
    path = _table(tmp_path, text)
    assert _run("audit", str(RANKING), str(path), "--tolerance", "0.05").exit_code == 0
    assert _run("audit", str(RANKING), str(path)).exit_code == 1


def test_a_bad_tolerance_is_a_usage_error(tmp_path):
    for bad in ("x", "-1", "NaN"):
        result = _run("audit", str(RANKING), str(_table(tmp_path)), "--tolerance", bad)
        assert result.exit_code == 2, (bad, result.output)


def test_a_rank_printed_as_shared_that_no_one_shares_is_a_finding(compiled, tmp_path):
    text = TABLE.replace("B,10,50%,25,93.33,1", "B,10,50%,25,93.33,=1")
    outcome = audit_table(compiled, _table(tmp_path, text), tolerance="0.05")
    found = _finding(outcome, "B", "rank")
    assert (found.cause, found.expected) == ("shared_mark", "1")
    assert outcome.ranks.agree == 3  # the number agrees


def test_a_rank_under_a_scheme_that_ranks_nothing_says_so(tmp_path):
    scheme = tmp_path / "plain.toml"
    text = RANKING.read_text(encoding="utf-8")
    start = text.index("[ranking]")
    scheme.write_text(text[:start] + text[text.index("[[bands]]") :], encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    found = _finding(audit_table(compiled, _table(tmp_path)), "B", "rank")
    assert (found.cause, found.reason) == ("unranked", "the scheme declares no ranking")
