"""`perfrules test` speaks the language asked for: a policy officer reading --lang zh."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from conftest import SEED
from perfrules.cli import cli


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


def _broken_pack(tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(SEED, pack)
    cases = pack / "cases" / "report.toml"
    text = cases.read_text("utf-8")
    text = text.replace('"数量-三零创建" = "4.8"', '"数量-三零创建" = "4.9"')
    text = text.replace('"时效-法学会" = "5.7"', '"时效-法學会" = "5.7"')
    text = text.replace('grade = "良好"', 'grade = "优秀"', 1)
    cases.write_text(text, "utf-8")
    return pack


def test_failed_cases_are_told_in_chinese(tmp_path):
    result = _run("test", str(_broken_pack(tmp_path)), "--lang", "zh")
    assert result.exit_code == 1
    out = result.output
    assert "失败" in out
    assert "用例“the 2021 report as published”" in out
    assert "等级应为 优秀，实际为 良好" in out
    assert "scores.数量-三零创建 应为 4.9，实际为 4.80" in out
    assert "方案中没有指标或分组“时效-法學会”" in out
    assert "是否应为“时效-法学会”？" in out
    assert "用例：3 个通过，1 个失败" in out
    assert "expected" not in out


def test_failed_cases_in_english_are_as_before_with_a_suggestion(tmp_path):
    result = _run("test", str(_broken_pack(tmp_path)), "--lang", "en")
    out = result.output
    assert "case 'the 2021 report as published'" in out
    assert "grade expected 优秀, got 良好" in out
    assert "scores.数量-三零创建 expected 4.9, got 4.80" in out
    assert "no indicator or group '时效-法學会' in the scheme (did you mean '时效-法学会'?)" in out
    assert "cases: 3 passed, 1 failed" in out


def test_each_failure_is_at_the_line_of_its_expectation(tmp_path):
    pack = _broken_pack(tmp_path)
    text = (pack / "cases" / "report.toml").read_text("utf-8").split("\n")
    line_of: dict[str, int] = {}
    for n, row in enumerate(text, 1):
        for k in ("4.9", "法學会", "优秀"):
            if k in row:
                line_of.setdefault(k, n)  # in the first case
    result = _run("test", str(pack), "--lang", "en")
    cases = str(pack / "cases" / "report.toml")
    assert f"  {cases}:{line_of['4.9']}:1: scores.数量-三零创建 expected 4.9" in result.output
    assert f"  {cases}:{line_of['法學会']}:1: no indicator or group" in result.output
    assert f"  {cases}:{line_of['优秀']}:1: grade expected 优秀" in result.output


def test_every_expected_value_that_is_not_a_number_is_reported_at_once(tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(SEED, pack)
    cases = pack / "cases" / "report.toml"
    text = cases.read_text("utf-8").replace('total = "89.25"', 'total = "89,25"', 1)
    text = text.replace('"数量-法学会" = "5.1"', '"数量-法学会" = "5,1"')
    text = text.replace(
        'keywords = ["seed", "published"]', 'keywords = ["seed"]\ntolerance = "0,01"'
    )
    cases.write_text(text, "utf-8")
    result = _run("test", str(pack), "--lang", "en")
    assert result.exit_code == 1
    for wrong, meant in (("89,25", "89.25"), ("5,1", "5.1"), ("0,01", "0.01")):
        assert f"an expected value is not a number: {wrong} (did you mean '{meant}'?)" in (
            result.output
        )


def test_the_json_keeps_english_failures_and_says_them_in_the_language_asked(tmp_path):
    result = _run("test", str(_broken_pack(tmp_path)), "--lang", "zh", "--format", "json")
    assert result.exit_code == 1
    [failed] = [e for e in json.loads(result.output) if not e.get("passed", True)]
    assert "grade expected 优秀, got 良好" in failed["failures"]
    assert "等级应为 优秀，实际为 良好" in failed["messages"]
    assert len(failed["messages"]) == len(failed["failures"])
