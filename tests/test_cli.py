"""The command line: output, languages, exit codes, and never a traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import SEED
from perfrules.cli import cli, default_lang

SCHEME = str(SEED / "scheme.toml")
FACTS = str(SEED / "facts.toml")


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(
            cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
        )

    return invoke


def test_score_prints_the_table_total_and_grade(run):
    result = run("score", SCHEME, FACTS, "--lang", "zh")
    assert result.exit_code == 0, result.output
    assert "三级指标" in result.stdout
    assert "4.77" in result.stdout
    assert "89.25" in result.stdout
    assert "良好" in result.stdout
    assert "距“优秀”（90 分）还差 0.75 分" in result.stdout


def test_score_json_is_the_trace(run):
    result = run("score", SCHEME, FACTS, "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["total"] == "89.25"
    assert document["grade"]["label"] == "良好"
    leaves = [
        leaf
        for first in document["root"]["children"]
        for second in first["children"]
        for leaf in second["children"]
    ]
    assert len(leaves) == 17
    assert [leaf["score"] for leaf in leaves][9] == "4.77"
    assert result.stderr == ""


def test_explain_shows_the_477_row_step_by_step(run):
    result = run("explain", SCHEME, FACTS, "质量-市域治理", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "actual / target = 70 / 88 = 0.795454…" in result.stdout
    assert "weight * min(actual / target, 1) = 6 * 0.795454… = 4.772727…" in result.stdout
    assert "round half-up 2: 4.772727… → 4.77" in result.stdout


def test_explain_unknown_id_is_a_usage_error(run):
    result = run("explain", SCHEME, FACTS, "nope")
    assert result.exit_code == 2
    assert "nope" in result.stderr


def test_check_clean_file(run):
    result = run("check", SCHEME, "--lang", "en")
    assert result.exit_code == 0
    assert "no problems found" in result.stderr


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_check_reports_all_mistakes_without_traceback(run, tmp_path, lang):
    text = (SEED / "scheme.toml").read_text(encoding="utf-8")
    text = text.replace("levels = [", "levles = [").replace(
        'weight = 5\ntarget = "≥90%"', 'weight = 6\ntarget = "≥90%"'
    )
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    result = run("check", str(path), "--lang", lang)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{path}:15:1: error[PR101]" in result.stdout
    assert "error[PR201]" in result.stdout
    assert ("是否应为“levels”？" if lang == "zh" else "did you mean 'levels'?") in result.stdout


def test_check_json_lists_objects(run, tmp_path):
    path = tmp_path / "scheme.toml"
    path.write_text(
        (SEED / "scheme.toml").read_text(encoding="utf-8").replace("max = 100", "max = 99"),
        encoding="utf-8",
    )
    result = run("check", str(path), "--format", "json")
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)
    assert set(item) >= {"code", "severity", "file", "line", "column", "message"}
    assert item["code"] == "PR202"


def test_score_with_broken_scheme_exits_1_with_diagnostics_on_stderr(run, tmp_path):
    path = tmp_path / "scheme.toml"
    path.write_text("[scheme]\nid = 1\n", encoding="utf-8")
    result = run("score", str(path), FACTS)
    assert result.exit_code == 1
    assert "PR102" in result.stderr
    assert result.stdout == ""


def test_bad_facts_exit_1(run, tmp_path):
    facts = tmp_path / "facts.toml"
    facts.write_text('[indicators]\n"群众满意度" = { actual = "lots" }\n', encoding="utf-8")
    result = run("score", SCHEME, str(facts), "--lang", "en")
    assert result.exit_code == 1
    assert f"{facts}:2:" in result.stderr
    assert "PR402" in result.stderr


def test_missing_file_exits_2(run, tmp_path):
    result = run("score", str(tmp_path / "none.toml"), FACTS)
    assert result.exit_code == 2
    assert "PR105" in result.stderr


def test_internal_errors_exit_3_without_traceback(run, monkeypatch):
    import perfrules.cli as module

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "check_rule_file", boom)
    result = run("check", SCHEME)
    assert result.exit_code == 3
    assert "internal error" in result.stderr
    assert "Traceback" not in result.output


def test_language_defaults_from_the_locale(monkeypatch):
    for variable in ("PERFRULES_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    assert default_lang() == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert default_lang() == "zh"


def test_score_markdown_reproduces_the_table(run):
    result = run("score", SCHEME, FACTS, "--format", "markdown", "--lang", "zh")
    assert result.exit_code == 0, result.output
    rows = [
        line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert rows[0] == "| 一级指标 | 二级指标 | 三级指标 | 权重 | 目标值 | 业绩值 | 得分 |"
    scores = [
        row.split(" | ")[-1].rstrip(" |")
        for row in rows[1:]
        if "小计" not in row and "总分" not in row
    ]
    assert scores == [
        "4.80",
        "4.80",
        "5.10",
        "5.10",
        "5.40",
        "5.40",
        "5.40",
        "5.40",
        "5.40",
        "4.77",
        "5.70",
        "5.64",
        "5.64",
        "5.70",
        "5.70",
        "4.65",
        "4.65",
    ]
    assert "| **总分** |  |  | 100 |  |  | **89.25** |" in rows
    assert "**等级**: 良好" in result.stdout
    assert "距“优秀”（90 分）还差 0.75 分" in result.stdout


def test_stdin_quiet_and_json_errors_on_stdout():
    import json as _json

    from conftest import SEED

    scheme = str(SEED / "scheme.toml")
    facts = (SEED / "facts.toml").read_text(encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["score", scheme, "-", "--format", "json"], input=facts)
    assert result.exit_code == 0
    assert _json.loads(result.stdout)["total"] == "89.25"
    bad = '{"indicators": {"群众满意度": {"actual": "0,93"}}}'
    result = runner.invoke(cli, ["-q", "score", scheme, "-", "--format", "json"], input=bad)
    assert result.exit_code == 1
    codes = {d["code"] for d in _json.loads(result.stdout)}
    assert codes == {"PR401", "PR402"}
    result = runner.invoke(
        cli,
        ["score", "-", str(SEED / "facts.toml")],
        input=(SEED / "scheme.toml").read_text("utf-8"),
    )
    assert result.exit_code == 0
    assert "89.25" in result.stdout
    result = runner.invoke(cli, ["-q", "check", scheme])
    assert (result.exit_code, result.output) == (0, "")


def test_check_reads_a_rule_file_from_stdin_as_score_does():
    runner = CliRunner()
    seed = (SEED / "scheme.toml").read_text("utf-8")
    result = runner.invoke(cli, ["check", "-", SCHEME], input=seed)
    assert result.exit_code == 0, result.output
    assert "stdin.toml: no problems found" in result.stderr
    broken = seed.replace("weight = 30", "weight = 31", 1)
    result = runner.invoke(cli, ["check", "--format", "json", "-"], input=broken)
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert {d["code"] for d in found} == {"PR201"}
    assert {d["file"] for d in found} == {"stdin.toml"}
    assert all(d["line"] for d in found)


LEVELS_EN = """
[scheme]
id = "levels"
title = "Levels"
max = 100
levels = ["Dimension", "Indicator"]

[inputs]
actual = {}

[[bands]]
label = "pass"
min = 0
max = 100

[groups.out]
name = "Output"
weight = 100

[indicators.q]
parent = "out"
name = "Quality"
weight = 100
formula = "weight * actual"
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_level_titles_written_without_chinese_head_the_columns_in_both_languages(tmp_path, lang):
    scheme, facts = tmp_path / "s.toml", tmp_path / "f.toml"
    scheme.write_text(LEVELS_EN, encoding="utf-8")
    facts.write_text('[indicators.q]\nactual = "90%"\n', encoding="utf-8")
    runner = CliRunner()
    args = ["score", str(scheme), str(facts), "--format", "markdown", "--lang", lang]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("| Dimension | Indicator |") == 1
    # titles written in Chinese stay Chinese pages' own: an English page numbers them
    result = runner.invoke(cli, ["score", SCHEME, FACTS, "--format", "markdown", "--lang", lang])
    head = next(line for line in result.stdout.splitlines() if line.startswith("| "))
    expected = (
        "| 一级指标 | 二级指标 | 三级指标 |" if lang == "zh" else "| Level 1 | Level 2 | Level 3 |"
    )
    assert head.startswith(expected), head


def test_a_batch_workbook_that_is_not_a_zip_is_an_input_error(tmp_path):
    from conftest import SEED

    units = tmp_path / "units.xlsx"
    units.write_text("not a workbook", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["score", str(SEED / "scheme.toml"), str(units), "--out", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == 2
    assert "internal error" not in result.output


def test_a_reader_that_goes_away_ends_the_command_quietly():
    import subprocess
    import sys

    # A command whose output pipe breaks (``perfrules ... | head`` once head has read enough)
    # ends with 141 and says nothing; pipe buffers differ between machines, so the write
    # that finds the pipe closed is made to fail here.
    code = (
        "import sys\n"
        "from perfrules.cli import _guard\n"
        "@_guard\n"
        "def command():\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "command()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=False, timeout=60
    )
    assert (done.returncode, done.stderr) == (141, b"")
