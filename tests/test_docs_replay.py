"""The README tour and the how-tos that run commands are replayed: output as shown.

A ```console block runs each ``$ perfrules ...`` line and checks that every line shown after
it appears in the output, in order (``...`` skips any number of lines). A ```sh block's
``perfrules`` commands must run (exit 0, or 1 where the answer is "no"). A ```csv file=NAME
block writes NAME first. Commands run in a scratch folder that sees the repository's
``rules/``; ``/tmp/`` in a command is that folder.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from perfrules.cli import cli

BLOCK = re.compile(r"^( *)```(\w+)([^\n]*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "how-to" / "score-a-tender.md",
    ROOT / "docs" / "how-to" / "build-a-composite-index.md",
    ROOT / "docs" / "how-to" / "batch-and-audit.md",
    ROOT / "docs" / "how-to" / "department-template.md",
    ROOT / "docs" / "how-to" / "property-test-your-scheme.md",
    ROOT / "docs" / "how-to" / "first-five-minutes.md",
    *sorted((ROOT / "docs" / "reference" / "cli").glob("*.md")),
]


def blocks(path: Path):
    for match in BLOCK.finditer(path.read_text(encoding="utf-8")):
        indent, kind, info, body = match.groups()
        yield kind, info.strip(), "\n".join(line.removeprefix(indent) for line in body.split("\n"))


def sh_commands(body: str) -> list[str]:
    """The perfrules commands of a shell block (comments dropped, continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [
        line.split("  #")[0].strip()
        for line in joined.split("\n")
        if line.strip().startswith("perfrules ")
    ]


def run(command: str, folder: Path) -> str:
    args = shlex.split(command.replace("/tmp/", f"{folder}/"))[1:]  # noqa: S108 - the docs' path
    result = CliRunner().invoke(cli, args, env={"NO_COLOR": "1", "COLUMNS": "200"})
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 1), (command, result.exit_code, output)
    return output


def in_order(expected: list[str], output: str, command: str) -> None:
    lines = output.split("\n")
    at = 0
    for shown in expected:
        want = shown.rstrip()
        if not want.strip() or want.strip() == "...":
            continue
        while at < len(lines) and want not in lines[at].rstrip():
            at += 1
        assert at < len(lines), (command, want, output)
        at += 1


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_the_document_replays(path, tmp_path, monkeypatch):
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for kind, info, body in blocks(path):
        if info.startswith("file="):
            (tmp_path / info.removeprefix("file=")).write_text(body, encoding="utf-8")
        elif kind == "sh":
            for command in sh_commands(body):
                run(command, tmp_path)
                ran += 1
        elif kind == "console":
            command, expected = None, []
            for line in [*body.split("\n"), "$ "]:
                if line.startswith("$ "):
                    if command is not None:
                        in_order(expected, run(command, tmp_path), command)
                        ran += 1
                    command, expected = line[2:], []
                else:
                    expected.append(line)
    assert ran >= 1


def test_every_command_has_a_page_that_names_each_of_its_options():
    pages = ROOT / "docs" / "reference" / "cli"
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        page = pages / f"{name}.md"
        assert page.is_file(), f"no page for perfrules {name}"
        assert f"reference/cli/{name}.md" in nav, name
        text = page.read_text(encoding="utf-8")
        for param in command.params:
            for option in getattr(param, "opts", ()):
                if option.startswith("-") and option not in ("-h", "--help"):
                    assert f"`{option}" in text or f" {option}" in text, (name, option)
