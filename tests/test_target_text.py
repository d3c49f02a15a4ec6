"""The target shown and the number the formula reads cannot disagree silently."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

import perfrules
from conftest import ROOT, SEED
from perfrules.cli import cli
from perfrules.model import TargetTextError, derive_target
from perfrules.rules._front import check_path
from perfrules.workflows._schema import export_schema

ROW = '[indicators."质量-市域治理"]\n'


def _child(tmp_path, body: str):
    path = tmp_path / "next.toml"
    path.write_text(
        'extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "next"\ntitle = "next"\n'
        + ROW
        + body,
        encoding="utf-8",
    )
    return path


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


def test_a_changed_text_with_the_old_number_warns_at_its_line(tmp_path):
    path = _child(tmp_path, 'target = "100项任务完成率达80%。"\n')
    _, _, diagnostics = check_path(path)
    (warning,) = [d for d in diagnostics if d.code == "PR236"]
    assert warning.severity == "warning"
    assert (warning.file, warning.line) == (str(path), 6)
    message = warning.message("en")
    assert "100项任务完成率达80%。" in message
    assert "target = 88" in message
    result = _run("check", str(path), "--lang", "en")
    assert result.exit_code == 0  # a warning: the scheme still loads
    assert "warning[PR236]" in result.stdout
    assert _run("check", str(path), "--strict").exit_code == 1


def test_a_changed_number_with_the_old_text_warns_too(tmp_path):
    path = _child(tmp_path, "params = { target = 90 }\n")
    _, _, diagnostics = check_path(path)
    assert [d.code for d in diagnostics] == ["PR236"]
    assert "target = 90" in diagnostics[0].message("en")


@pytest.mark.parametrize(
    ("target", "params"),
    [
        ('"=88项任务完成率达70%。"', "{ target = 88 }"),  # the seed: 88 is in the text
        ('"≥90%"', "{ target = 0.9 }"),  # a percentage is its value
        ('"≥90%"', "{ target = 90 }"),  # and its number
        ('"按时完成"', "{ target = 88 }"),  # no number written: nothing to compare
        ('"１００项"', "{ target = 100 }"),  # full-width digits
    ],
)
def test_agreeing_text_and_number_do_not_warn(tmp_path, target, params):
    path = _child(tmp_path, f"target = {target}\nparams = {params}\n")
    _, _, diagnostics = check_path(path)
    assert diagnostics == []


def test_shipped_packs_have_no_disagreement():
    for scheme in sorted(ROOT.glob("rules/*/*/scheme.toml")):
        _, _, diagnostics = check_path(scheme)
        assert [d for d in diagnostics if d.code == "PR236"] == [], scheme


def test_target_text_derives_the_shown_target_from_the_number(tmp_path):
    path = _child(
        tmp_path, 'target_text = "={target}项任务完成率达70%。"\nparams = { target = 80 }\n'
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    assert compiled.scheme.indicators["质量-市域治理"].target == "80项任务完成率达70%。"
    facts = perfrules.load_facts(SEED / "facts.toml")
    document = json.loads(compiled.evaluate(facts).trace.to_json())
    row = next(
        leaf
        for first in document["root"]["children"]
        for second in first["children"]
        for leaf in second["children"]
        if leaf["id"] == "质量-市域治理"
    )
    assert row["target"] == "80项任务完成率达70%。"
    assert row["score"] == "5.25"  # 6 × 70/80, the number the text shows


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("{target}项", "must start with '='"),
        ("={planned}项", "'{planned}' is not a number in params"),
        ("={target", "a lone brace"),
    ],
)
def test_a_target_text_that_cannot_be_derived_is_located(tmp_path, text, detail):
    path = _child(tmp_path, f'target_text = "{text}"\n')
    _, _, diagnostics = check_path(path)
    (error,) = diagnostics
    assert (error.code, error.line, error.key) == (
        "PR107",
        6,
        'indicators."质量-市域治理".target_text',
    )
    assert detail in error.message("en")


def test_derive_target_formats():
    assert derive_target("={r:%} and {{x}}", {"r": Decimal("0.9")}) == "90% and {x}"
    with pytest.raises(TargetTextError):
        derive_target("={flag}", {"flag": True})


def test_the_schema_knows_target_text():
    schema = export_schema("rules")
    assert "target_text" in schema["definitions"]["Indicator"]["properties"]
    shipped = (ROOT / "schemas" / "perfrules-rules.v1.schema.json").read_text(encoding="utf-8")
    assert "target_text" in shipped
    reference = (ROOT / "docs" / "reference" / "rule-files.md").read_text(encoding="utf-8")
    assert "`target_text`" in reference


def test_new_year_surfaces_texts_that_repeat_a_number(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run("new-year", str(SEED / "scheme.toml"), "--year", "2023", "--out", "n.toml")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "n.toml").read_text(encoding="utf-8")
    assert "# target_text = " in text
    # the suggestion, taken up, derives exactly the text shown today
    lines = text.split("\n")
    start = max(i for i, line in enumerate(lines) if line.startswith("# [indicators."))
    taken = "\n".join(
        [*lines[:start], *(line.removeprefix("# ") for line in lines[start : start + 3])]
    )
    (tmp_path / "n.toml").write_text(taken, encoding="utf-8")
    root = ["--root", str(ROOT)]
    checked = _run(*root, "check", "n.toml")
    assert checked.exit_code == 0, checked.output
    scheme = perfrules.load_scheme(tmp_path / "n.toml", root=ROOT)
    assert scheme.indicators["质量-市域治理"].target == "=88项任务完成率达70%。"


def test_new_year_of_a_disagreeing_scheme_says_so_first(tmp_path):
    path = _child(tmp_path, 'target = "100项任务完成率达80%。"\n')
    out = tmp_path / "after.toml"
    result = _run("new-year", str(path), "--year", "2031", "--out", str(out), "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "warning[PR236]" in result.stderr
    assert "but the formula reads" in result.stderr
    assert out.is_file()
