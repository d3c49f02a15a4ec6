"""Errors as data, root cause first: the right language, the cause before its consequences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from conftest import SEED
from perfrules.cli import cli
from perfrules.rules._front import check_path
from perfrules.workflows._batch import score_batch


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "JSON syntax error: Expecting property name"), ("zh", "JSON 语法错误：此处应为")],
)
def test_a_json_syntax_error_is_named_json_with_its_line_and_caret(tmp_path, lang, words):
    facts = tmp_path / "body.json"
    facts.write_text('{"indicators": {\n  "群众满意度": {"actual": "93%"},\n}}\n', "utf-8")
    result = _run("score", str(SEED / "scheme.toml"), str(facts), "--lang", lang)
    assert result.exit_code == 1
    assert f"body.json:3:1: error[PR100]: {words}" in result.stderr
    assert "TOML" not in result.stderr
    assert "   3 | }}" in result.stderr  # the line, then a caret under the column
    assert result.stderr.split("   3 | }}\n")[1].startswith(" " * 9 + "^")


def test_json_syntax_errors_from_text_are_named_json():
    with pytest.raises(perfrules.FactsError) as caught:
        perfrules.loads_facts('{"a": 1,}', format="json")
    (problem,) = caught.value.diagnostics
    assert problem.message("en").startswith("JSON syntax error")
    assert (problem.line, problem.column, problem.excerpt) == (1, 9, '{"a": 1,}')
    with pytest.raises(perfrules.RuleFileError) as caught:
        perfrules.loads_scheme('{"scheme": [}', name="upload.json")
    assert caught.value.diagnostics[0].message("zh").startswith("JSON 语法错误")


def test_a_csv_syntax_error_is_not_called_toml():
    from perfrules.errors import Diagnostic

    message = Diagnostic("PR100", params={"language": "CSV", "detail": "x"}).message("en")
    assert message == "CSV syntax error: x"


def test_a_refused_extends_is_reported_alone(tmp_path):
    upload = tmp_path / "upload.toml"
    upload.write_text('extends = "/etc/passwd"\n', encoding="utf-8")
    _, _, diagnostics = check_path(upload)
    assert [d.code for d in diagnostics] == ["PR105"]
    result = _run("check", str(upload), "--format", "json")
    document = json.loads(result.stdout)
    assert [d["code"] for d in document] == ["PR105"]
    with pytest.raises(perfrules.RuleFileError) as caught:
        perfrules.loads_scheme('extends = "/etc/passwd"\n', name="upload.toml")
    assert [d.code for d in caught.value.diagnostics] == ["PR105"]
    assert caught.value.diagnostics[0].hint_text("en") is not None  # how to extend instead


def test_hints_are_in_json_as_in_text(tmp_path):
    path = tmp_path / "s.toml"
    text = (SEED / "scheme.toml").read_text(encoding="utf-8").replace("weight = 90", "wieght = 90")
    path.write_text(text, encoding="utf-8")
    shown = _run("check", str(path), "--lang", "en")
    document = json.loads(_run("check", str(path), "--format", "json", "--lang", "en").stdout)
    hints = [d["hint"] for d in document if d["hint"]]
    assert hints
    for hint in hints:
        assert f"= {hint}" in shown.stdout


def test_json_writes_null_where_there_is_no_position_or_key(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[scheme]\nid = "x"\ntitle = "x"\n', encoding="utf-8")
    document = json.loads(_run("check", str(path), "--format", "json").stdout)
    whole = [d for d in document if d["code"] == "PR206"]
    assert len(whole) == 1
    for entry in whole:
        assert entry["line"] is None
        assert entry["column"] is None
        assert entry["key"] is None
        assert entry["hint"] is None
    assert all(entry["line"] != 0 and entry["key"] != "" for entry in document)


def test_a_key_of_another_table_is_not_suggested_to_itself(tmp_path):
    path = tmp_path / "s.toml"
    text = (SEED / "scheme.toml").read_text(encoding="utf-8")
    path.write_text(text.replace('label = "优秀"\n', 'label = "优秀"\nfit = "cap"\n', 1), "utf-8")
    _, _, diagnostics = check_path(path)
    (unknown,) = diagnostics
    assert unknown.code == "PR101"
    hint = unknown.hint_text("en")
    assert "did you mean 'fit'" not in hint
    assert hint == "'fit' is a key of [scheme], not of this table"


@pytest.mark.parametrize("written", ["￥5,000", "¥5000", "$300", "RMB 100"])
def test_a_currency_sign_gets_a_hint_to_drop_it(tmp_path, written):
    scheme = tmp_path / "s.toml"
    scheme.write_text(
        '[scheme]\nid = "x"\ntitle = "x"\nmax = 10\n[inputs]\namount = {}\n'
        '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n'
        '[indicators.a]\nweight = 10\nformula = "min(amount / 1000, weight)"\n',
        encoding="utf-8",
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    with pytest.raises(perfrules.FactsError) as caught:
        compiled.evaluate(perfrules.loads_facts(f'[indicators.a]\namount = "{written}"\n'))
    (problem,) = caught.value.diagnostics
    assert problem.code == "PR402"
    amount = written.lstrip("￥¥$RMB ")
    assert problem.hint_text("en") == f"did you mean '{amount}'?"


def test_an_unknown_shared_column_of_a_batch_is_reported_with_a_suggestion(tmp_path):
    units = tmp_path / "units.csv"
    row = ",".join(["80%"] * 17)
    ids = ",".join(perfrules.load_scheme(SEED / "scheme.toml").indicators)
    units.write_text(
        f"unit,{ids},shared.targte,shared.target\nA,{row},88,\nB,{row},,88\n", "utf-8"
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    outcome = score_batch(compiled, units)
    first, second = outcome.units
    (problem,) = first.errors
    assert problem.code == "PR421"
    assert (problem.file, problem.line, problem.column) == (str(units), 2, 19)
    assert problem.hint_text("en") == "did you mean 'target'?"
    assert second.result is not None  # an empty cell of the column is nothing given


def test_a_shared_column_named_like_a_ranking_key_on_the_total_is_read_by_nothing(tmp_path):
    """A ranking by the total reads scores, not a ``shared.total`` fact: PR421 says so."""
    index = Path(__file__).parents[1] / "rules" / "examples" / "ranking-index" / "scheme.toml"
    compiled = perfrules.compile_scheme(perfrules.load_scheme(index))
    assert compiled.plan.cohort_reads == {"gdp", "green", "pm25"}
    units = tmp_path / "units.csv"
    units.write_text(
        "unit,shared.gdp,shared.green,shared.pm25,shared.total\nA,12,0.41,30,99\nB,9,0.38,41,\n",
        "utf-8",
    )
    first, second = score_batch(compiled, units).units
    (problem,) = first.errors
    assert (problem.code, problem.column) == ("PR421", 5)
    assert second.result is not None
    assert not second.errors


@pytest.mark.parametrize("kind", [perfrules.FactsError, perfrules.RuleFileError])
def test_an_error_crosses_a_process_boundary_whole(kind):
    """Worker processes and Dask send errors pickled: the diagnostics come back."""
    import pickle

    sent = kind(
        [
            perfrules.Diagnostic(
                "PR401", ("indicators", "a"), {"indicator": "a", "fact": "x"}, file="u.csv", line=3
            ),
            perfrules.Diagnostic("PR402", ("shared", "bid"), {"value": "-", "fact": "bid"}),
        ]
    )
    back = pickle.loads(pickle.dumps(sent))  # noqa: S301 - our own bytes
    assert type(back) is kind
    assert back.diagnostics == sent.diagnostics
    assert str(back) == str(sent)
