"""The documentation site: no network fonts, a start page, every page in the navigation."""

from __future__ import annotations

import yaml

from conftest import ROOT


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
