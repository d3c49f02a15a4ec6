"""Editor schemas, scheme inheritance, diff and new-year."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal

import jsonschema
import pytest
from click.testing import CliRunner

import perfrules
from conftest import ROOT
from perfrules.cli import cli
from perfrules.rules._front import check_path
from perfrules.workflows._schema import KINDS, schema_text

SCHEMAS = ROOT / "schemas"
Y2021 = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
Y2022 = ROOT / "rules" / "examples" / "xinzhou-zfw-2022"


def _kind(path):
    if path.name == "pack.toml":
        return "pack"
    if "cases" in path.parts:
        return "cases"
    if path.name.startswith("report"):
        return "report"
    return "rules" if path.name == "scheme.toml" else "facts"


def _json_ready(value):
    if isinstance(value, Decimal):
        return float(value)  # float-ok: only for the JSON Schema validator
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_committed_schemas_are_up_to_date(kind):
    committed = (SCHEMAS / KINDS[kind][1]).read_text(encoding="utf-8")
    assert committed == schema_text(kind), "run: perfrules schema --kind all --output schemas"


def test_every_shipped_file_validates_and_points_at_its_schema():
    files = sorted(ROOT.glob("rules/**/*.toml"))
    assert len(files) >= 12
    for path in files:
        text = path.read_text(encoding="utf-8")
        first = text.split("\n", 1)[0]
        assert first.startswith("#:schema "), path
        assert (path.parent / first.removeprefix("#:schema ")).resolve() == (
            SCHEMAS / KINDS[_kind(path)][1]
        ).resolve()
        schema = json.loads((SCHEMAS / KINDS[_kind(path)][1]).read_text(encoding="utf-8"))
        data = _json_ready(tomllib.loads(text, parse_float=Decimal))
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(data))
        assert errors == [], (path, [e.message for e in errors])


def test_the_rules_schema_flags_a_typo_and_a_quoted_number():
    schema = json.loads((SCHEMAS / KINDS["rules"][1]).read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    assert list(validator.iter_errors({"indicators": {"a": {"wieght": 6}}}))
    assert list(validator.iter_errors({"indicators": {"a": {"weight": "6"}}}))
    assert not list(validator.iter_errors({"indicators": {"a": {"weight": 6}}}))


class TestExtends:
    def test_2022_is_small_and_clean(self):
        assert len((Y2022 / "scheme.toml").read_text(encoding="utf-8").split("\n")) <= 20
        assert check_path(Y2022 / "scheme.toml")[2] == []

    def test_merged_scheme(self):
        scheme = perfrules.load_scheme(Y2022 / "scheme.toml")
        assert scheme.scheme.year == 2022
        assert scheme.indicators["数量-平安建设"].weight == 7
        assert scheme.indicators["数量-平安建设"].name.startswith("全面提升")  # kept from 2021
        assert "数量-法学会" not in scheme.indicators
        assert "数量-智慧政法" in scheme.indicators

    def test_diagnostics_point_into_the_file_each_value_comes_from(self, tmp_path):
        child = tmp_path / "child.toml"
        child.write_text(
            f'extends = "{(Y2021 / "scheme.toml").as_posix()}"\n'
            '[indicators."数量-平安建设"]\nweight = 7\n'
            '[remove]\nindicators = ["数量-法学会x"]\n',
            encoding="utf-8",
        )
        _, _, diagnostics = check_path(child, root="/")  # a root holding both files
        found = {(d.code, d.file, d.line) for d in diagnostics}
        # 数量's weight lives in 2021, but the sum broke where the child changed a row's weight:
        # the file being edited (and open in the editor) is where the problem is shown
        assert ("PR201", str(child), 3) in found
        assert ("PR224", str(child), 5) in found

    def test_cycles_are_refused(self, tmp_path):
        a, b = tmp_path / "a.toml", tmp_path / "b.toml"
        a.write_text('extends = "b.toml"\n', encoding="utf-8")
        b.write_text('extends = "a.toml"\n', encoding="utf-8")
        _, _, diagnostics = check_path(a)
        assert "PR225" in [d.code for d in diagnostics]


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


class TestDiff:
    def test_lists_exactly_the_changes(self):
        result = _run(
            "diff", str(Y2021 / "scheme.toml"), str(Y2022 / "scheme.toml"), "--format", "json"
        )
        assert result.exit_code == 0
        changes = json.loads(result.stdout)["changes"]
        indicator_changes = [
            (c["kind"], c["id"], c["key"], c["old"], c["new"])
            for c in changes
            if c["section"] == "indicators"
        ]
        assert indicator_changes == [
            ("added", "数量-智慧政法", None, None, indicator_changes[0][4]),
            ("removed", "数量-法学会", None, indicator_changes[1][3], None),
            ("changed", "数量-三零创建", "weight", "6", "5"),
            ("changed", "数量-平安建设", "weight", "6", "7"),
        ]
        assert {c["id"] for c in changes if c["section"] == "scheme"} == {"id", "title", "year"}

    def test_what_if_shows_the_unit_score_change(self):
        result = _run(
            "diff",
            str(Y2021 / "scheme.toml"),
            str(Y2022 / "scheme.toml"),
            "--facts",
            str(Y2022 / "what-if.toml"),
            "--format",
            "json",
        )
        what = json.loads(result.stdout)["what_if"]
        assert what["total"] == {"old": "89.25", "new": "89.55", "delta": "0.30"}
        rows = {r["id"]: (r["old"], r["new"]) for r in what["scores"]}
        assert rows["数量-平安建设"] == ("4.80", "5.60")
        assert rows["数量-法学会"] == ("5.10", None)
        assert rows["数量-智慧政法"] == (None, "5.40")

    def test_text_in_chinese_and_exit_code(self):
        result = _run(
            "diff",
            str(Y2021 / "scheme.toml"),
            str(Y2022 / "scheme.toml"),
            "--lang",
            "zh",
            "--exit-code",
        )
        assert result.exit_code == 1
        assert "~ 修改 指标 数量-平安建设 weight：6 → 7" in result.stdout
        assert "- 删除 指标 数量-法学会" in result.stdout
        same = _run(
            "diff",
            str(Y2021 / "scheme.toml"),
            str(Y2021 / "scheme.toml"),
            "--exit-code",
            "--lang",
            "en",
        )
        assert same.exit_code == 0
        assert "no differences" in same.stdout


class TestNewYear:
    def test_writes_a_small_scheme_that_extends_and_checks(self, tmp_path):
        import shutil

        shutil.copytree(Y2021, tmp_path / "xinzhou-zfw-2021")
        result = _run(
            "new-year",
            str(tmp_path / "xinzhou-zfw-2021" / "scheme.toml"),
            "--year",
            "2023",
            "--lang",
            "zh",
        )
        assert result.exit_code == 0, result.output
        written = tmp_path / "xinzhou-zfw-2023" / "scheme.toml"
        text = written.read_text(encoding="utf-8")
        assert 'extends = "../xinzhou-zfw-2021/scheme.toml"' in text
        assert 'id = "xinzhou-zfw-2023"' in text
        assert "# 删除指标：" in text
        # extends reads the file's own folder by default: the command says which root to give
        assert f"--root {tmp_path}" in result.stderr
        assert "PR105" in {d.code for d in check_path(written)[2]}
        assert check_path(written, root=tmp_path)[2] == []
        assert perfrules.load_scheme(written, root=tmp_path).scheme.year == 2023
        by_env = CliRunner().invoke(
            cli, ["check", str(written)], env={"NO_COLOR": "1", "PERFRULES_ROOT": str(tmp_path)}
        )
        assert by_env.exit_code == 0, by_env.output
        again = _run(
            "new-year", str(tmp_path / "xinzhou-zfw-2021" / "scheme.toml"), "--year", "2023"
        )
        assert again.exit_code == 2  # nothing is overwritten without --force
        assert written.read_text(encoding="utf-8") == text


def test_schema_command_prints_json():
    result = _run("schema", "--kind", "facts")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "perfrules facts file (format 1)"


def test_extends_a_pack_by_id_and_check_shows_sources(tmp_path, monkeypatch):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "examples", rules / "examples")
    mine = rules / "mine"
    mine.mkdir()
    (mine / "scheme.toml").write_text(
        'extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "mine"\n'
        '[indicators."数量-平安建设"]\nweight = 7\n[indicators."数量-三零创建"]\nweight = 5\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    scheme = perfrules.load_scheme("rules/mine/scheme.toml")
    assert scheme.indicators["数量-平安建设"].weight == 7
    result = _run("check", "rules/mine/scheme.toml", "--show-sources")
    assert result.exit_code == 0, result.output
    assert "rules/mine/scheme.toml:5: 数量-平安建设.weight" in result.stderr
    # by default the installed pack, named by its id; with a root that holds the checkout's
    # rules folder, the pack there
    assert "\nexamples/xinzhou-zfw-2021/scheme.toml:" in result.stderr
    (rules / "examples" / "xinzhou-zfw-2021" / "scheme.toml").write_text(
        (ROOT / "rules/examples/xinzhou-zfw-2021/scheme.toml").read_text(encoding="utf-8")
        + "\n# a local edit\n",
        encoding="utf-8",
    )
    local = _run("--root", ".", "check", "rules/mine/scheme.toml", "--show-sources")
    assert local.exit_code == 0, local.output
    assert "rules/examples/xinzhou-zfw-2021/scheme.toml:" in local.stderr


def test_new_year_of_an_installed_pack_extends_it_by_id(tmp_path):
    result = _run(
        "new-year",
        str(ROOT / "rules/examples/xinzhou-zfw-2021/scheme.toml"),
        "--year",
        "2024",
        "--out",
        str(tmp_path / "2024.toml"),
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "2024.toml").read_text(encoding="utf-8")
    assert 'extends = "examples/xinzhou-zfw-2021"' in text
    assert "--root" not in result.stderr
    assert perfrules.load_scheme(tmp_path / "2024.toml").scheme.year == 2024
