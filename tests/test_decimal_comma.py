"""A decimal comma is never read as a thousands separator: ``0,95`` is never 95.

Facts refused it already; target texts of rule files, the numbers bound to ``safe_eval`` and
the expectations of case files were read by the lenient grammar, which dropped every comma.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from click.testing import CliRunner

import perfrules
from perfrules._numbers import NumberFormatError, parse_number
from perfrules.cli import cli
from perfrules.rules._front import check_path


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("≥0,95", "≥0.95"),
        ("95,5%", "95.5%"),
        ("89,25", "89.25"),
        ("1,2,3", ""),
        ("12,34", "12.34"),
    ],
)
def test_a_comma_that_does_not_group_thousands_is_refused_with_the_likely_number(text, suggestion):
    with pytest.raises(NumberFormatError) as caught:
        parse_number(text)
    assert caught.value.suggestion == suggestion


@pytest.mark.parametrize(
    ("text", "value"),
    [("1,234.5万元", Fraction(2469, 2)), ("≥1,200人次", Fraction(1200)), ("12,345,678", 12345678)],
)
def test_thousands_still_read(text, value):
    assert parse_number(text).value == value


def test_safe_eval_refuses_a_decimal_comma():
    with pytest.raises(perfrules.ExpressionError):
        perfrules.safe_eval("x * 1", {"x": "0,93"})


def _scheme(tmp_path, target: str):
    path = tmp_path / "scheme.toml"
    path.write_text(
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\n\n'
        '[defaults]\nformula = "weight * min(actual / target, 1)"\n\n'
        '[inputs]\nactual = { label = "实际" }\ntarget = { label = "目标" }\n\n'
        '[[bands]]\nlabel = "合格"\nmin = 0\nmax = 10\n\n'
        f'[indicators."a"]\nweight = 10\ntarget = "{target}"\n',
        encoding="utf-8",
    )
    return path


def test_a_target_with_a_decimal_comma_is_an_error_at_its_line(tmp_path):
    path = _scheme(tmp_path, "≥0,95")
    _, _, diagnostics = check_path(path)
    (problem,) = [d for d in diagnostics if d.severity == "error"]
    assert (problem.code, problem.line, problem.column) == ("PR239", 20, 1)
    assert problem.hint_text("en") == "did you mean '≥0.95'?"
    assert "0,95" in problem.message("zh")
    result = CliRunner().invoke(cli, ["check", str(path), "--lang", "zh"], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "scheme.toml:20:1: error[PR239]" in result.output


def test_a_case_expecting_89_comma_25_is_not_8925(tmp_path):
    pack = tmp_path / "pack"
    (pack / "cases").mkdir(parents=True)
    _scheme(pack, "≥0.95")
    (pack / "cases" / "one.toml").write_text(
        '[[case]]\nname = "one"\n[case.facts.indicators.a]\nactual = "0.95"\n'
        '[case.expect]\ntotal = "10,00"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["test", str(pack)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "1000" not in result.output
    assert "10,00" in result.output
