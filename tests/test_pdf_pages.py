"""The filing PDF over several pages: a merged level cell names itself again on a new page."""

from __future__ import annotations

import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SEED
from perfrules.cli import cli

#: The CJK fonts map some characters to radicals in the PDF's text layer (页 → ⻚).
_RADICALS = str.maketrans({"\u2eda": "页", "\u2ed3": "长"})


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None and not os.environ.get("CI"):
        pytest.skip(f"SKIPPED: {tool} is missing (sudo apt-get install {package})")
    assert found, f"{tool} is needed: make browser (Debian package {package})"
    return found


def _pages(pdf: Path) -> list[list[str]]:
    """Each page's lines as pdftotext lays them out (columns kept apart by spaces)."""
    tool = _need("pdftotext", "poppler-utils")
    text = subprocess.run(
        [tool, "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    text = unicodedata.normalize("NFKC", text).translate(_RADICALS)
    return [[line for line in page.splitlines() if line.strip()] for page in text.split("\f")]


def _pdf(tmp_path: Path, scheme: Path, facts: Path, *args: str) -> list[list[str]]:
    _need("chromium", "chromium")
    out = tmp_path / "form.pdf"
    run = CliRunner().invoke(
        cli, ["score", str(scheme), str(facts), "--format", "pdf", "--out", str(out), *args]
    )
    assert run.exit_code == 0, run.output
    return [page for page in _pages(out) if page]


def _long_form(tmp_path: Path) -> tuple[Path, Path]:
    """A scheme whose one group of groups runs over three pages and more."""
    rows = 60
    lines = [
        "[scheme]",
        'id = "long"',
        'title = "长表"',
        f"max = {rows}",
        'levels = ["一级指标", "二级指标", "三级指标"]',
        "[rounding]",
        "indicator = 2",
        "total = 2",
        "[inputs]",
        'actual = { label = "业绩值" }',
        "[[bands]]",
        'label = "全部"',
        "min = 0",
        f"max = {rows}",
        '[groups."产出指标"]',
        f"weight = {rows}",
        '[groups."数量指标"]',
        'parent = "产出指标"',
        f"weight = {rows}",
    ]
    facts = ["[indicators]"]
    for n in range(rows):
        lines += [
            f'[indicators."q{n:02d}"]',
            'parent = "数量指标"',
            f'name = "第{n:02d}项任务按计划完成，年度目标如期实现"',
            "weight = 1",
            'formula = "weight * min(actual, 1)"',
        ]
        facts.append(f'"q{n:02d}" = {{ actual = "90%" }}')
    scheme = tmp_path / "long.toml"
    scheme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = tmp_path / "facts.toml"
    data.write_text("\n".join(facts) + "\n", encoding="utf-8")
    return scheme, data


def _first_body_line(page: list[str], head: str) -> str:
    """The first line under the table's header row on *page*."""
    at = next(i for i, line in enumerate(page) if line.lstrip().startswith(head))
    return page[at + 1].strip()


def test_a_merged_level_cell_is_named_again_at_the_top_of_each_page(tmp_path):
    pages = _pdf(tmp_path, *_long_form(tmp_path), "--lang", "zh")
    assert len(pages) >= 3
    for number, page in enumerate(pages[1:], start=2):
        first = _first_body_line(page, "一级指标")
        assert first.startswith("产出指标"), (number, first)
        assert first.split()[1] == "数量指标", (number, first)
        assert f"第{number}页" in "".join("".join(page).split())
    # The name stands once a page, not on every row.
    for page in pages:
        assert sum(line.lstrip().startswith("产出指标") for line in page) == 1


def test_the_seeds_first_level_continues_onto_its_second_page(tmp_path):
    pages = _pdf(tmp_path, SEED / "scheme.toml", SEED / "facts.toml", "--lang", "zh")
    assert len(pages) == 2
    assert _first_body_line(pages[1], "一级指标").startswith("产出指标")
