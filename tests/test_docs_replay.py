"""The README tour, the tutorial and the how-tos that run commands are replayed: output as shown.

A ```console block runs each ``$ perfrules ...`` line and checks that the lines shown after
it are its output, in order and whole: ``...`` stands for any number of lines, and nothing
else may be left out (:func:`shown_as`). A ```sh block's ``perfrules`` commands must run
(exit 0, or 1 where the answer is "no"). A block with ``file=NAME`` (```csv, ```toml) writes
NAME first. Commands run in a scratch folder that sees the repository's ``rules/``; ``/tmp/``
in a command, and in what it prints, is that folder.
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
    ROOT / "docs" / "tutorial" / "first-scheme.md",
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
    return output.replace(f"{folder}/", "/tmp/")  # noqa: S108 - as the docs write it


def shown_as(expected: list[str], output: str) -> bool:
    """Whether *output* is *expected* line by line, each ``...`` standing for any lines."""
    want = [line.rstrip() for line in expected]
    while want and not want[-1]:
        want.pop()
    got = [line.rstrip() for line in output.rstrip("\n").split("\n")]

    def match(w: int, g: int) -> bool:
        if w == len(want):
            return g == len(got)
        if want[w].strip() == "...":
            return any(match(w + 1, at) for at in range(g, len(got) + 1))
        return g < len(got) and got[g] == want[w] and match(w + 1, g + 1)

    return match(0, 0)


@pytest.mark.parametrize(
    ("expected", "output", "agrees"),
    [
        (["a", "b"], "a\nb\n", True),
        (["a"], "a\nb\n", False),  # a line left out without ...
        (["b"], "a\nb\n", False),
        (["a", "b  "], "a\nb\n\n", True),  # trailing spaces and blank lines aside
        (["...", "b"], "a\nb\n", True),
        (["a", "...", "c"], "a\nb\nb\nc\n", True),
        (["b", "a"], "a\nb\n", False),  # out of order
        (["a", "..."], "a\n", True),
        (["a", "  ...", "c"], "a\nc\n", True),  # an indented ... in a list item
    ],
)
def test_shown_as_holds_a_block_to_its_whole_output(expected, output, agrees):
    assert shown_as(expected, output) is agrees


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
                        output = run(command, tmp_path)
                        assert shown_as(expected, output), (command, expected, output)
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
