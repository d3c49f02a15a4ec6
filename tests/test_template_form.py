"""The department's template round trip: a filled template scores into the form to file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import unicodedata
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import perfrules
from conftest import SEED
from perfrules.cli import cli
from perfrules.facts._sheets import load_sheet_facts

UNIT = "忻州市某某局"
REASON = "第四季度集中整改，部分任务顺延至次年一季度。"


def _template(tmp_path: Path, lang: str = "zh") -> Path:
    out = tmp_path / "facts.xlsx"
    run = CliRunner().invoke(
        cli, ["template", str(SEED / "scheme.toml"), "--out", str(out), "--lang", lang]
    )
    assert run.exit_code == 0, run.output
    return out


def _labels(sheet) -> dict[str, tuple[int, int]]:
    """Where each labelled cell (``填报单位 unit``) sits, by its key."""
    found = {}
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.split():
                found.setdefault(cell.value.split()[-1], (cell.row, cell.column))
    return found


def _fill(path: Path) -> Path:
    """Fill the template in as a department would, in a spreadsheet program."""
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.active
    at = _labels(sheet)
    for key, value in {
        "unit": UNIT,
        "filled_by": "张会计",
        "reviewed_by": "李科长",
        "phone": "0350-3036123",
        "date": dt.datetime(2022, 3, 1),  # noqa: DTZ001 - Excel stores a date, no zone
    }.items():
        row, column = at[key]
        sheet.cell(row, column + 1, value)
    facts = perfrules.load_facts(SEED / "facts.toml")
    head, id_column = at["id"]
    actual_column = at["actual"][1]
    reason_column = at["reason"][1]
    for row in range(head + 1, sheet.max_row + 1):
        ident = sheet.cell(row, id_column).value
        if ident is None:
            continue
        given = facts.indicators[ident]["actual"]
        cell = sheet.cell(row, actual_column)
        if isinstance(given, dict):
            cell.value = given["value"]  # a number typed as a number
        elif given == "85%":
            cell.value = "85%"  # typed as text
        else:  # "90%" typed into a cell: Excel stores 0.9 with the format 0%
            cell.value = float(Decimal(given.rstrip("%")) / 100)  # float-ok: Excel's cell
            cell.number_format = "0%"
        if ident == "质量-市域治理":
            sheet.cell(row, reason_column, REASON)
    filled = path.with_name("filled.xlsx")
    workbook.save(filled)
    return filled


def test_the_template_is_the_form_the_department_fills(tmp_path):
    sheet = openpyxl.load_workbook(_template(tmp_path)).active
    at = _labels(sheet)
    for key in ("unit", "year", "filled_by", "reviewed_by", "phone", "date", "id", "reason"):
        assert key in at, key
    assert sheet.cell(*at["unit"]).value == "填报单位 unit"
    assert sheet.cell(*at["filled_by"]).value == "填表人 filled_by"
    row, column = at["year"]
    assert sheet.cell(row, column + 1).value == 2021  # the scheme's year, not to be changed
    head = at["id"][0]
    headers = [sheet.cell(head, c).value for c in range(1, sheet.max_column + 1)]
    assert headers[:3] == ["一级指标 level1", "二级指标 level2", "三级指标 level3"]
    assert "偏差原因分析及改进措施 reason" in headers
    assert sheet.cell(head + 1, 1).value == "产出指标"
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert any(r.startswith(f"A{head + 1}:A") for r in merged)  # a group merged down
    # protected without a password: what the scheme decides is locked, the inputs are not
    assert sheet.protection.sheet
    assert not sheet.protection.password
    assert sheet.cell(head + 1, at["id"][1]).protection.locked
    assert sheet.cell(head + 1, at["target_text"][1]).protection.locked
    assert not sheet.cell(head + 1, at["actual"][1]).protection.locked
    assert not sheet.cell(head + 1, at["reason"][1]).protection.locked
    assert not sheet.cell(at["unit"][0], at["unit"][1] + 1).protection.locked
    assert sheet.cell(row, column + 1).protection.locked
    assert not any(c.data_type == "f" for r in sheet.iter_rows() for c in r)
    target = next(
        sheet.cell(r, at["target_text"][1])
        for r in range(head + 1, sheet.max_row + 1)
        if str(sheet.cell(r, at["target_text"][1]).value).startswith("=")
    )
    assert target.data_type == "s"  # "=88项…" is text, not a formula
    # print set-up
    assert int(sheet.page_setup.paperSize) == 9
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.print_title_rows == f"${head}:${head}"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.page_setup.fitToWidth == 1


def test_percent_cells_keep_their_meaning(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["编号 id", "业绩值 actual"])
    for ident, value, fmt in [
        ("a", 0.9, "0%"),
        ("b", 0.905, "0.0%"),
        ("c", 1, "0%"),
        ("d", "85%", "General"),
        ("e", 90, '0"%"'),  # a literal percent sign: shows 90%
        ("f", 0.9, "General"),
    ]:
        sheet.append([ident, value])
        sheet.cell(sheet.max_row, 2).number_format = fmt
    path = tmp_path / "p.xlsx"
    workbook.save(path)
    facts = load_sheet_facts(path)
    got = {k: v["actual"] for k, v in facts.indicators.items()}
    assert got == {
        "a": "90%",
        "b": "90.5%",
        "c": "100%",
        "d": "85%",
        "e": "90%",
        "f": Decimal("0.9"),
    }


def test_the_filled_template_reads_the_unit_signatures_and_reasons(tmp_path):
    facts = load_sheet_facts(_fill(_template(tmp_path)))
    assert facts.unit == UNIT
    assert facts.form["filled_by"] == "张会计"
    assert facts.form["date"] == "2022-03-01"
    assert facts.form["reason.质量-市域治理"] == REASON
    assert facts.indicators["数量-市域治理"]["actual"] == "90%"
    assert facts.indicators["数量-综治中心"]["actual"] == "85%"


def _score(filled: Path, out: Path, *extra: str):
    run = CliRunner().invoke(
        cli, ["score", str(SEED / "scheme.toml"), str(filled), "--out", str(out), *extra]
    )
    assert run.exit_code == 0, run.output


def test_the_filled_template_scores_into_the_form_cell_by_cell(tmp_path):
    out = tmp_path / "form.xlsx"
    _score(_fill(_template(tmp_path)), out, "--lang", "zh")
    sheet = openpyxl.load_workbook(out).active
    assert sheet.cell(2, 1).value == f"填报单位：{UNIT}"
    assert sheet.cell(2, 3).value == "年度：2021"
    assert sheet.cell(2, 5).value == "填报日期：2022-03-01"
    rows = {
        str(sheet.cell(r, c).value): r
        for r in range(1, sheet.max_row + 1)
        for c in (1, 2, 3)
        if sheet.cell(r, c).value is not None
    }
    total = rows["总分"]
    assert sheet.cell(total, 7).value == 89.25
    assert sheet.cell(rows["评价等级"], 4).value == "良好"
    signs = rows["填表人：张会计"]
    assert sheet.cell(signs, 3).value == "审核人：李科长"
    assert sheet.cell(signs, 5).value == "联系电话：0350-3036123"
    capped = next(r for r in range(4, total) if sheet.cell(r, 5).value == "=88项任务完成率达70%。")
    assert sheet.cell(capped, 8).value == REASON
    assert sheet.cell(capped, 6).value == 70
    assert sheet.cell(capped, 6).data_type == "n"
    # a percent typed in Excel is written back as the number it is, shown as a percent
    actuals = [sheet.cell(r, 6) for r in range(4, total) if sheet.cell(r, 6).value is not None]
    assert len(actuals) == 17
    assert all(c.data_type == "n" for c in actuals)
    percents = {c.value for c in actuals if c.number_format == "0%"}
    assert percents == {0.8, 0.85, 0.9, 0.93, 0.94, 0.95}


#: The CJK fonts map some characters to radicals in the PDF's text layer (页 → ⻚, 长 → ⻓):
#: NFKC folds the Kangxi radicals back, these two it does not.
_RADICALS = str.maketrans({"\u2eda": "页", "\u2ed3": "长"})


def _pdf_text(path: Path) -> str:
    pypdf = pytest.importorskip("pypdf")
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    return unicodedata.normalize("NFKC", text).translate(_RADICALS)


def _need_chromium() -> None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and not os.environ.get("CI"):
        pytest.skip("SKIPPED: headless Chromium is missing (sudo apt-get install chromium)")
    assert found, "headless Chromium is needed: make browser (Debian package chromium)"


def test_the_filing_pdf_carries_everything_and_no_analysis(tmp_path):
    _need_chromium()
    filled = _fill(_template(tmp_path))
    out = tmp_path / "form.pdf"
    _score(filled, out, "--lang", "zh", "--format", "pdf")
    text = _pdf_text(out)
    squeezed = "".join(text.split())
    assert UNIT in squeezed
    assert "年度:2021" in squeezed  # NFKC folds the full-width colon
    assert "评价等级" in squeezed
    assert "偏差原因" in squeezed
    assert unicodedata.normalize("NFKC", REASON) in squeezed
    assert "张会计" in squeezed
    assert "李科长" in squeezed
    assert "0350-3036123" in squeezed
    assert "第1页共" in squeezed
    assert "要达到该等级" not in squeezed  # the gap is an analysis aid, not on the filed form
    assert "还差" not in squeezed
    analysis = tmp_path / "analysis.pdf"
    _score(filled, analysis, "--lang", "zh", "--format", "pdf", "--edition", "analysis")
    assert "还差" in "".join(_pdf_text(analysis).split())


def test_the_english_pdf_numbers_its_pages(tmp_path):
    _need_chromium()
    out = tmp_path / "form.pdf"
    _score(SEED / "facts.toml", out, "--lang", "en", "--format", "pdf")
    assert "Page 1 of" in _pdf_text(out)


def test_the_html_table_merges_levels_and_has_the_grade_row(tmp_path):
    filled = _fill(_template(tmp_path))
    out = tmp_path / "form.html"
    _score(filled, out, "--lang", "zh", "--format", "html", "--edition", "filing")
    page = out.read_text("utf-8")
    assert 'rowspan="5"' in page  # 数量: five indicators under one name
    assert '<tr class="grade-row">' in page
    assert REASON in page
    assert 'id="gap"' not in page
    analysis = tmp_path / "analysis.html"
    _score(filled, analysis, "--lang", "zh", "--format", "html")
    assert 'id="gap"' in analysis.read_text("utf-8")  # HTML is the analysis edition by default
