"""The tutorial's scheme is clean and its languages in order (``test_docs_replay`` runs it)."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial" / "first-scheme.md"
BLOCK = re.compile(r"^( *)```(\w+)([^\n]*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def _blocks():
    for match in BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8")):
        indent, kind, info, body = match.groups()
        lines = [line.removeprefix(indent) for line in body.split("\n")]
        yield kind, info.strip(), "\n".join(lines)


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
