"""Confinement: folders of units, ``extends`` and rule packs read nothing outside their folder.

A hostile folder (an upload unpacked, a share) may hold links to ``/etc/passwd``, to a TOML file
with a password elsewhere, to ``/proc/self/environ``, or a FIFO. Each such member is refused
with a located error that shows none of its contents, and the other units still score.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from conftest import ROOT, SEED
from perfrules.cli import cli
from perfrules.errors import RuleFileError
from perfrules.workflows._batch import score_batch
from perfrules.workflows._packs import PackError, find_pack, run_cases

SCHEME = SEED / "scheme.toml"
SECRET = "hunter2-db-password"  # noqa: S105 - the leak looked for


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A folder of units: ``good`` scores; every other member points outside or is a FIFO."""
    (tmp_path / "elsewhere.toml").write_text(f'db_password = "{SECRET}"\n', encoding="utf-8")
    units = tmp_path / "units"
    units.mkdir()
    shutil.copy(SEED / "facts.toml", units / "good.toml")
    (units / "passwd.toml").symlink_to("/etc/passwd")
    (units / "secret.toml").symlink_to(tmp_path / "elsewhere.toml")
    (units / "environ.toml").symlink_to("/proc/self/environ")
    (units / "zero.toml").symlink_to("/dev/zero")
    (units / "up.toml").symlink_to(Path("..") / "elsewhere.toml")
    if hasattr(os, "mkfifo"):
        os.mkfifo(units / "fifo.toml")
    return units


def _leaks(text: str) -> list[str]:
    return [s for s in ("root:", SECRET, "PATH=", "HOME=") if s in text]


def test_score_one_unit_of_a_folder_never_shows_a_linked_file(hostile):
    for member in sorted(p.stem for p in hostile.iterdir() if p.stem != "good"):
        result = _invoke("score", str(SCHEME), str(hostile), "--unit", member)
        assert result.exit_code == 2, (member, result.output)
        assert "PR105" in result.output, member
        assert _leaks(result.output) == [], member
        assert "internal error" not in result.output
    unit = perfrules.load_facts(SEED / "facts.toml").unit
    good = _invoke("score", str(SCHEME), str(hostile), "--unit", unit)
    assert good.exit_code == 0, good.output
    assert "89.25" in good.stdout


def test_the_batch_over_a_folder_refuses_each_link_out_and_scores_the_rest(hostile, tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    outcome = score_batch(compiled, hostile)
    assert len(outcome.scored) == 1
    refused = {u.unit: u.errors for u in outcome.failed}
    expected = {p.stem for p in hostile.iterdir() if p.stem != "good"}
    assert set(refused) == expected
    for unit, errors in refused.items():
        assert [d.code for d in errors] == ["PR105"], unit
        assert errors[0].file == str(hostile / f"{unit}.toml")
        assert _leaks(json.dumps([d.message("en") for d in errors])) == []
    out = tmp_path / "r.jsonl"
    result = _invoke("score", str(SCHEME), str(hostile), "--out", str(out), "--format", "json")
    assert result.exit_code == 1, result.output
    assert _leaks(result.output + out.read_text(encoding="utf-8")) == []


def test_a_link_inside_the_folder_to_a_member_of_it_is_read(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    shutil.copy(SEED / "facts.toml", units / "a.toml")
    (units / "b.toml").symlink_to("a.toml")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    outcome = score_batch(compiled, units)
    assert (len(outcome.scored), len(outcome.failed)) == (2, 0)


# --- extends ------------------------------------------------------------------------------
def _extends(folder: Path, target: str) -> Path:
    path = folder / "child.toml"
    path.write_text(f'extends = "{target}"\n[scheme]\nid = "c"\ntitle = "c"\n', encoding="utf-8")
    return path


def test_extends_through_a_link_inside_the_root_that_points_out_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(SCHEME, outside / "base.toml")
    root = tmp_path / "root"
    root.mkdir()
    (root / "base.toml").symlink_to(outside / "base.toml")
    (root / "dir").symlink_to(outside, target_is_directory=True)
    for target in ("base.toml", "dir/base.toml"):
        with pytest.raises(RuleFileError) as info:
            perfrules.load_scheme(_extends(root, target))
        refused = [d for d in info.value.diagnostics if d.path == ("extends",)]
        assert [d.code for d in refused] == ["PR105"]
        assert "no such rule file or pack here" in refused[0].message("en")
    # the same file inside the root is read
    (root / "base.toml").unlink()
    shutil.copy(SCHEME, root / "base.toml")
    assert len(perfrules.load_scheme(_extends(root, "base.toml")).indicators) == 17


def test_an_extended_file_swapped_for_a_link_out_after_its_check_is_not_read(
    tmp_path, monkeypatch
):
    import perfrules.rules._loader as loader

    (tmp_path / "elsewhere.toml").write_text(f'db_password = "{SECRET}"\n', encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(SCHEME, root / "base.toml")
    checked = loader.regular_file

    def check_then_swap(path: Path) -> bool:
        answer = checked(path)
        if path.name == "base.toml":  # the race: a link out replaces it after the check
            path.unlink()
            path.symlink_to(tmp_path / "elsewhere.toml")
        return answer

    monkeypatch.setattr(loader, "regular_file", check_then_swap)
    with pytest.raises(RuleFileError) as info:
        perfrules.load_scheme(_extends(root, "base.toml"))
    shown = json.dumps([d.to_dict("en") for d in info.value.diagnostics], ensure_ascii=False)
    assert "PR105" in shown
    assert SECRET not in shown
    assert "db_password" not in shown


@pytest.mark.parametrize("target", ["a\\u0000b.toml", "x" * 300, "loop.toml", "y" * 5000])
def test_extends_names_the_system_refuses_are_a_located_exit_2(tmp_path, target):
    (tmp_path / "loop.toml").symlink_to(tmp_path / "loop2.toml")
    (tmp_path / "loop2.toml").symlink_to(tmp_path / "loop.toml")
    path = _extends(tmp_path, target)
    with pytest.raises(RuleFileError) as info:
        perfrules.load_scheme(path)
    refused = [d for d in info.value.diagnostics if d.path == ("extends",)]
    assert [(d.code, d.file, d.line) for d in refused] == [("PR105", str(path), 1)]
    assert "no such rule file or pack here" in refused[0].message("en")
    result = _invoke("check", str(path))
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    installed = str(Path(perfrules.__file__).parent)
    assert installed not in result.output
    assert "site-packages" not in result.output


# --- rule packs ---------------------------------------------------------------------------
def _pack(tmp_path: Path, scheme: str) -> Path:
    pack = tmp_path / "packs" / "mine"
    shutil.copytree(SEED, pack)
    (pack / "pack.toml").write_text(f'id = "mine"\nscheme = "{scheme}"\n', encoding="utf-8")
    return pack


@pytest.mark.parametrize(
    "scheme", ["../../..", "../other/scheme.toml", "/etc/passwd", "link.toml", "a\\u0000b"]
)
def test_a_pack_whose_scheme_leaves_its_folder_is_refused(tmp_path, scheme):
    other = tmp_path / "packs" / "other"
    shutil.copytree(SEED, other)
    pack = _pack(tmp_path, scheme)
    (pack / "link.toml").symlink_to(other / "scheme.toml")
    with pytest.raises(PackError) as info:
        find_pack(pack)
    (problem,) = info.value.diagnostics
    assert problem.code == "PR105"
    assert problem.file == str(pack / "pack.toml")
    assert problem.line == 2
    result = _invoke("test", str(pack))
    assert result.exit_code == 2, result.output
    assert "no problems" not in result.output
    assert "passed" not in result.output


def test_a_case_reading_facts_outside_its_pack_fails_that_case(tmp_path):
    pack = _pack(tmp_path, "scheme.toml")
    (tmp_path / "secret.toml").write_text(f'db_password = "{SECRET}"\n', encoding="utf-8")
    case = pack / "cases" / "report.toml"
    text = case.read_text(encoding="utf-8")
    assert 'facts = "../facts.toml"' in text
    case.write_text(text.replace("../facts.toml", "../../../secret.toml"), encoding="utf-8")
    _, results = run_cases(pack)
    failed = [r for r in results if not r.passed]
    assert len(failed) == 1
    assert "PR105" in failed[0].failures[0]
    assert SECRET not in " ".join(failed[0].failures)


def test_the_shipped_packs_still_run():
    for pack in sorted(p.parent for p in ROOT.glob("rules/*/*/pack.toml")):
        _, results = run_cases(pack)
        assert results
        assert all(r.passed for r in results), pack
