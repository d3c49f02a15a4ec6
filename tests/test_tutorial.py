"""The tutorial is replayed: its files are written and its commands run, in order.

A ```toml file=NAME block writes NAME; a ```console block runs each `$ perfrules ...` line and
checks that every line shown after it appears in the output (``...`` skips output).
"""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from conftest import ROOT
from perfrules.cli import cli

TUTORIAL = ROOT / "docs" / "tutorial" / "first-scheme.md"
BLOCK = re.compile(r"^( *)```(\w+)([^\n]*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def _blocks():
    for match in BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8")):
        indent, kind, info, body = match.groups()
        lines = [line.removeprefix(indent) for line in body.split("\n")]
        yield kind, info.strip(), "\n".join(lines)


def test_tutorial_replays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran = 0
    for kind, info, body in _blocks():
        if kind == "toml" and info.startswith("file="):
            (tmp_path / info.removeprefix("file=")).write_text(body, encoding="utf-8")
            continue
        if kind != "console":
            continue
        command, expected = None, []
        for line in [*body.split("\n"), "$ "]:
            if line.startswith("$ "):
                if command is not None:
                    args = shlex.split(command)[1:]
                    result = runner.invoke(cli, args, env={"NO_COLOR": "1", "COLUMNS": "160"})
                    output = result.stdout + result.stderr
                    assert result.exit_code in (0, 1), (command, output)
                    for want in expected:
                        if want.strip() and want.strip() != "...":
                            assert want.rstrip() in output, (command, want, output)
                    ran += 1
                command, expected = line[2:], []
            else:
                expected.append(line)
    assert ran >= 8


def test_the_tutorial_scheme_ends_clean(tmp_path):
    from perfrules.rules._front import check_path

    files = {info.removeprefix("file="): body for kind, info, body in _blocks() if kind == "toml"}
    path = tmp_path / "scheme.toml"
    path.write_text(files["scheme.toml"], encoding="utf-8")
    assert check_path(path)[2] == []


@pytest.mark.parametrize("name", ["first-scheme.md"])
def test_tutorial_has_chinese_first_then_english(name):
    text = (ROOT / "docs" / "tutorial" / name).read_text(encoding="utf-8")
    assert text.index("## 中文") < text.index("## English")
