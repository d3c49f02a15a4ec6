"""Installed rule packs are names: every command and load_scheme take a pack id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from conftest import SEED
from perfrules.cli import cli

SEED_ID = "examples/xinzhou-zfw-2021"
FACTS = str(SEED / "facts.toml")


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no rules/ folder here: only the installed packs
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})

    return invoke


def test_score_check_explain_audit_take_a_pack_id(run):
    scored = run("score", SEED_ID, FACTS, "--format", "json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["total"] == "89.25"
    assert scored.stderr == ""
    checked = run("check", SEED_ID, "--lang", "en")
    assert checked.exit_code == 0, checked.output
    explained = run("explain", SEED_ID, FACTS, "质量-市域治理", "--lang", "en")
    assert explained.exit_code == 0, explained.output
    assert "4.77" in explained.stdout
    audited = run("audit", SEED_ID, str(SEED / "report.toml"))
    assert audited.exit_code == 0, audited.output


def test_diff_takes_two_pack_ids(run):
    result = run("diff", SEED_ID, "examples/xinzhou-zfw-2022", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["old"]["id"] == "xinzhou-zfw-2021"
    assert document["new"]["id"] == "xinzhou-zfw-2022"


def test_template_takes_a_pack_id(run, tmp_path):
    result = run("template", SEED_ID, "--out", "sheet.csv")
    assert result.exit_code == 0, result.output
    assert "质量-市域治理" in (tmp_path / "sheet.csv").read_text(encoding="utf-8-sig")


def test_new_year_of_a_pack_writes_here_and_extends_the_id(run, tmp_path):
    result = run("new-year", SEED_ID, "--year", "2023")
    assert result.exit_code == 0, result.output
    written = tmp_path / "xinzhou-zfw-2023" / "scheme.toml"
    text = written.read_text(encoding="utf-8")
    assert f'extends = "{SEED_ID}"' in text
    assert "site-packages" not in text
    assert "/src/perfrules/" not in text
    checked = run("check", str(written))
    assert checked.exit_code == 0, checked.output


def test_a_path_wins_over_a_pack_and_the_message_says_so(run, tmp_path):
    folder = tmp_path / "examples" / "xinzhou-zfw-2021"
    folder.mkdir(parents=True)
    text = (SEED / "scheme.toml").read_text(encoding="utf-8")
    (folder / "scheme.toml").write_text(text.replace("weight = 90", "weight = 91"), "utf-8")
    result = run("check", SEED_ID, "--lang", "en")
    assert result.exit_code == 1  # the local copy (with its wrong weight) was read
    assert "PR" in result.stdout
    assert "both a path and an installed rule pack" in result.stderr
    assert "examples/xinzhou-zfw-2021/scheme.toml" in result.stderr


def test_an_unknown_name_says_packs_were_looked_for_too(run):
    result = run("check", "examples/no-such-pack", "--lang", "en")
    assert result.exit_code == 2
    assert "PR105" in result.stdout
    assert "no installed rule pack" in result.stdout


def test_load_scheme_and_load_pack_take_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_id = perfrules.load_scheme(SEED_ID)
    assert by_id.scheme.id == "xinzhou-zfw-2021"
    compiled = perfrules.compile_scheme(perfrules.load_pack("examples/xinzhou-zfw-2022"))
    # named by id in the provenance, not by where perfrules is installed
    assert all(not Path(name).is_absolute() for name, _ in compiled.plan.files)
    assert compiled.plan.files[-1][0] == "examples/xinzhou-zfw-2022/scheme.toml"
    with pytest.raises(perfrules.RuleFileError) as caught:
        perfrules.load_pack("examples/nope")
    assert caught.value.diagnostics[0].code == "PR105"


def test_load_pack_ignores_files_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples" / "xinzhou-zfw-2021").mkdir(parents=True)
    (tmp_path / "examples" / "xinzhou-zfw-2021" / "scheme.toml").write_text("x = 1\n", "utf-8")
    assert perfrules.load_pack(SEED_ID).scheme.id == "xinzhou-zfw-2021"
    with pytest.raises(perfrules.RuleFileError):
        perfrules.load_scheme(SEED_ID)  # the path wins for load_scheme


def test_packs_lists_the_installed_packs():
    listed = perfrules.packs()
    seed = listed[SEED_ID]
    assert isinstance(seed, perfrules.InstalledPack)
    assert seed.years == (2021,)
    assert seed.scheme == seed.folder / "scheme.toml"
    assert (seed.folder / "facts.toml").is_file()
    assert {"load_pack", "packs", "InstalledPack"} <= set(perfrules.__all__)


def test_new_pack_scaffold_passes_its_own_test(run, tmp_path):
    made = run("new-pack", "roads", "--id", "myorg/roads-2025", "--lang", "en")
    assert made.exit_code == 0, made.output
    project = tmp_path / "roads"
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."perfrules.packs"]' in pyproject
    pack = project / "src" / "roads" / "packs" / "myorg" / "roads-2025"
    assert sorted(p.name for p in (pack / "cases").iterdir()) == ["example.toml"]
    tested = run("test", str(pack))
    assert tested.exit_code == 0, tested.output
    assert "1 passed, 0 failed" in tested.stdout
    again = run("new-pack", "roads")
    assert again.exit_code == 2  # never written over


def test_new_pack_installs_and_is_found_by_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = CliRunner().invoke(cli, ["new-pack", "roads", "--id", "myorg/roads-2025"])
    assert made.exit_code == 0, made.output
    site, project = tmp_path / "site", str(tmp_path / "roads")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            project,
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    tested = subprocess.run(
        [sys.executable, "-m", "perfrules", "test", "myorg/roads-2025"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed, 0 failed" in tested.stdout


def test_a_local_folder_named_like_an_installed_pack_is_read_with_a_note(run, tmp_path):
    # The path wins, and the note says which pack it hides: next year's copy, kept under
    # the same name in the working folder, is not mistaken for the shipped one unnoticed.
    import shutil

    shutil.copytree(SEED, tmp_path / SEED_ID)
    result = run("score", SEED_ID, FACTS, "--format", "json", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert f"'{SEED_ID}' is both a path and an installed rule pack's id" in result.stderr
    assert f"the path was read: {SEED_ID}/scheme.toml" in result.stderr
    # the file itself names no pack: no note, and the installed packs are not searched
    alone = run("score", f"{SEED_ID}/scheme.toml", FACTS, "--format", "json")
    assert alone.exit_code == 0, alone.output
    assert alone.stderr == ""


def test_a_rule_file_given_by_its_path_never_searches_the_installed_packs(monkeypatch):
    from perfrules.rules import _front

    def searched(pack_id: str) -> None:
        raise AssertionError(pack_id)

    monkeypatch.setattr(_front, "installed_pack", searched)
    monkeypatch.chdir(SEED.parent.parent)  # rules/: the seed's folder is named like its id
    found = _front.find_rule_file(f"{SEED_ID}/scheme.toml")
    assert found.path == Path(SEED_ID) / "scheme.toml"
    assert found.shadowed is None
    with pytest.raises(AssertionError, match=SEED_ID):  # a folder may name a pack: searched
        _front.find_rule_file(SEED_ID)
