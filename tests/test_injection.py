"""Text from rule files and facts cannot become a formula, markup or an escape code."""

from __future__ import annotations

import csv
import io

import openpyxl
from click.testing import CliRunner
from rich.console import Console

import perfrules
from conftest import SEED
from perfrules.cli import cli
from perfrules.reports import render_markdown, render_score_table
from perfrules.reports._safe import csv_text, markdown_text

SCHEME = SEED / "scheme.toml"
HOSTILE = '=HYPERLINK("http://x")[link=http://evil]click[/link]\x1b[2J'


def _units_csv(path, unit_name):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    ids = [compiled.plan.nodes[i].id for i in compiled.plan.leaves]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", *ids])
        writer.writerow([unit_name, *["80%"] * len(ids)])
    return path


def test_csv_cells_from_data_never_start_a_formula(tmp_path):
    for start in ("=", "+", "-", "@", "\t", "＝"):
        assert csv_text(f"{start}1+1").startswith("'")
    assert csv_text("平安建设") == "平安建设"
    for number in ("-5", "+2.50", "-0.125"):  # a number, never a formula: kept a number
        assert csv_text(number) == number
    assert csv_text("-1") == "-1"
    assert csv_text("-1,5") == "'-1,5"
    out = tmp_path / "results.csv"
    source = _units_csv(tmp_path / "units.csv", "=cmd|' /C calc'!A0")
    result = CliRunner().invoke(cli, ["score", str(SCHEME), str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[1][0] == "'=cmd|' /C calc'!A0"


def test_xlsx_text_that_looks_like_a_formula_stays_text(tmp_path):
    # The seed's own target text starts with "=" ("=88项任务完成率达70%。").
    out = tmp_path / "results.xlsx"
    source = _units_csv(tmp_path / "units.csv", "=SUM(1,2)")
    result = CliRunner().invoke(cli, ["score", str(SCHEME), str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(out)
    cells = [c for sheet in workbook for row in sheet.iter_rows() for c in row]
    texts = [c for c in cells if isinstance(c.value, str) and c.value.startswith("=")]
    assert {c.value for c in texts} >= {"=SUM(1,2)", "=88项任务完成率达70%。"}
    assert all(c.data_type == "s" for c in texts)


def test_a_blank_template_keeps_targets_as_text(tmp_path):
    out = tmp_path / "facts.xlsx"
    result = CliRunner().invoke(cli, ["template", str(SCHEME), "--out", str(out)])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out).active
    target = next(
        c for row in sheet.iter_rows() for c in row if c.value == "=88项任务完成率达70%。"
    )
    assert target.data_type == "s"


def test_markdown_escapes_html_links_cell_breaks_and_lines():
    text = markdown_text("<script>alert(1)</script> | [x](javascript:alert(1))\n# heading")
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "\\|" in text
    assert "\\[x\\]" in text
    assert "\n" not in text


def test_markdown_report_of_hostile_facts_stays_in_its_cells(seed_compiled):
    facts = perfrules.load_facts(SEED / "facts.toml")
    data = {"indicators": dict(facts.indicators), "unit": "<img src=x onerror=alert(1)>|x"}
    data["indicators"]["群众满意度"] = {
        "actual": {"value": "93%", "text": "[a](javascript:x)\n# h"}
    }
    page = render_markdown(seed_compiled.evaluate(data).trace, "zh")
    assert "<img" not in page
    assert "[a](javascript" not in page  # the brackets are escaped: no link
    assert "\n# h" not in page


def test_terminal_output_shows_markup_and_escape_codes_as_text(seed_compiled):
    facts = perfrules.load_facts(SEED / "facts.toml")
    data = {"indicators": dict(facts.indicators), "unit": HOSTILE}
    console = Console(file=io.StringIO(), force_terminal=True, width=200, record=True)
    render_score_table(seed_compiled.evaluate(data).trace, "zh", console)
    shown = console.export_text()
    assert "[link=http://evil]click[/link]" in shown
    assert "\x1b[2J" not in console.file.getvalue()
