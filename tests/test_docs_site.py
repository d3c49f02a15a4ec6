"""The documentation site: no network fonts, a start page, every page in the navigation."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_the_theme_loads_no_web_fonts():
    # Government intranets have no internet: the Material theme's Google Fonts never load.
    assert _config()["theme"]["font"] is False


def test_a_newcomer_finds_the_first_five_minutes():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "how-to/first-five-minutes.md" in nav
    assert "first-five-minutes.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "first-five-minutes.md" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


def fence_problems(text: str) -> list[str]:
    """Code fences that do not close: text after a closing fence, or a fence left open.

    Markdown does not take a fence with text after it as a closing one: the block runs on
    and the rest of the page renders as code, while the site still builds.
    """
    problems = []
    opened: tuple[int, str] | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        match = FENCE.match(line)
        if match is None:
            continue
        fence, rest = match.groups()
        if opened is None:
            opened = (number, fence)
        elif fence.startswith(opened[1]) and fence[0] == opened[1][0]:
            if rest.strip():  # not a closing fence for Markdown: the block runs on
                problems.append(f"line {number}: text after the closing fence")
            else:
                opened = None
    if opened is not None:
        problems.append(f"line {opened[0]}: a fence that never closes")
    return problems


def test_the_fence_check_finds_what_markdown_would_run_on():
    assert fence_problems("```console\n$ x\n``` `make test` does this\n") == [
        "line 3: text after the closing fence",
        "line 1: a fence that never closes",
    ]
    assert fence_problems("```toml\na = 1\n```\n") == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_fence_closes(page):
    assert fence_problems(page.read_text(encoding="utf-8")) == []
