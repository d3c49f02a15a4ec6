"""The HTML report: self-contained, Chinese, a chart; opened in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from decimal import Decimal

import pytest
from click.testing import CliRunner

import perfrules
from conftest import SEED
from perfrules.cli import cli
from perfrules.reports import render_html
from perfrules.reports._layout import gap_lines, gap_text


def _page(tmp_path, lang="zh"):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(SEED / "scheme.toml"),
            str(SEED / "facts.toml"),
            "--format",
            "html",
            "--lang",
            lang,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_the_page_is_self_contained(tmp_path):
    html = _page(tmp_path).read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html
    assert '<div class="total" id="total">89.25</div>' in html
    assert '<div class="grade" id="grade">良好</div>' in html
    assert html.count('<rect class="bar"') == 25  # every group and indicator
    assert html.count("<details>") == 17  # every indicator's explanation, folded
    assert "actual / target = 70 / 88 = 0.795454…" in html
    assert "要达到该等级，最少需改进的指标（各自可挽回的分数）：质量-市域治理 (+1.23)" in html


def test_chromium_renders_the_total_and_the_chart(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None and not os.environ.get("CI"):
        pytest.skip("SKIPPED: headless Chromium is missing (sudo apt-get install chromium)")
    assert chromium, "headless Chromium is needed: make browser (Debian package chromium)"
    page = _page(tmp_path)
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-chart-visible="yes"' in dom  # the script measured a drawn chart
    assert 'id="total">89.25<' in dom
    assert 'id="grade">良好<' in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, "--window-size=1200,1500", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a real page, not a blank one


def test_the_pdf_is_a4_with_the_total_and_grade_on_its_first_page(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    pdftoppm = shutil.which("pdftoppm")
    if (chromium is None or pdftoppm is None) and not os.environ.get("CI"):
        pytest.skip("SKIPPED: Chromium or poppler-utils missing (sudo apt-get install ...)")
    assert chromium, "headless Chromium is needed: make browser (Debian package chromium)"
    assert pdftoppm, "pdftoppm is needed: make browser (Debian package poppler-utils)"
    from pypdf import PdfReader

    out = tmp_path / "report.pdf"
    args = ["score", str(SEED / "scheme.toml"), str(SEED / "facts.toml"), "--format", "pdf"]
    result = CliRunner().invoke(cli, [*args, "--lang", "zh", "--out", str(out)])
    assert result.exit_code == 0, result.output
    reader = PdfReader(out)
    # 17 rows with a reasons column, the grade, the signatures: two A4 pages across
    assert len(reader.pages) == 2
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - 841.9) < 2  # A4 landscape in points: 297 mm
        assert abs(height - 595.3) < 2  # 210 mm
    # (the PDF's fonts map some characters to their compatibility forms: ⼈ for 人)
    texts = [unicodedata.normalize("NFKC", p.extract_text()) for p in reader.pages]
    assert "89.25" in texts[0]
    assert "良好" in texts[0]
    assert "一级指标 二级指标 三级指标 分值" in texts[1]  # the header, repeated
    assert [t.count("第 ") for t in texts] == [1, 1]
    assert "第 2 页 共 2 页" in texts[1].replace("\u2eda", "页")  # the page's number
    assert "sha256" not in "".join(texts)  # provenance stays folded on screen
    for word in ("填表人", "审核人", "联系电话", "填报单位"):
        assert word in texts[-1]
    image = tmp_path / "page"
    subprocess.run(
        [pdftoppm, "-f", "1", "-l", "1", "-r", "50", "-png", "-singlefile", str(out), str(image)],
        check=True,
        timeout=60,
    )
    data = (tmp_path / "page.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a printed page, not a blank one


def test_without_a_browser_pdf_is_a_clear_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFRULES_CHROMIUM", str(tmp_path / "no-such-browser"))
    out = tmp_path / "report.pdf"
    args = ["score", str(SEED / "scheme.toml"), str(SEED / "facts.toml"), "--format", "pdf"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 2
    assert "printing PDF needs headless Chromium" in result.output
    assert not out.exists()


def test_the_gap_names_the_rows_that_can_close_it_in_english():
    """The rows listed are those whose points, won back, cover the shortfall: said so."""
    scheme = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    facts = perfrules.load_facts(SEED / "facts.toml")
    trace = scheme.evaluate(facts).trace
    assert gap_lines(trace, "en") == [
        "0.75 short of '优秀 (Excellent)' (needs 90).",
        (
            "To reach it, the fewest rows that can close the gap (points each can win back): "
            "质量-市域治理 (+1.23)"
        ),
    ]


GAP_SCHEME = """
[scheme]
id = "gap"
title = "gap"
max = 100

[rounding]
total = 2

[inputs]
actual = {}

[[bands]]
label = "优"
min = 90
max = 100

[[bands]]
label = "良"
min = 0
max = 90

[indicators.a]
weight = 60
formula = "weight * actual"

[indicators.b]
weight = 40
formula = "weight * actual"
"""


def test_the_gap_is_written_as_the_total_is_and_reads_as_sentences():
    """A shortfall of 0.7 on a total of two places is 0.70; the sentences do not run on."""
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(GAP_SCHEME))
    trace = scheme.evaluate({"a": {"actual": "89.5%"}, "b": {"actual": "89%"}}).trace
    assert trace.total == Decimal("89.30")
    assert gap_text(trace, "zh") == (
        "距“优”（90 分）还差 0.70 分。"
        "要达到该等级，最少需改进的指标（各自可挽回的分数）：a (+6.30)"
    )
    assert gap_text(trace, "en").startswith("0.70 short of '优' (needs 90). To reach it, ")
    assert "还差 0.70 分。要达到该等级" in render_html(trace, "zh")
