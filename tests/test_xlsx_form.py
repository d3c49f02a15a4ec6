"""One unit's XLSX is the form to file: layout, merges, styles, numbers and print set-up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.reports._xlsx import render_xlsx

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"


@pytest.fixture(scope="module")
def trace():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    return compiled.evaluate(perfrules.load_facts(SEED / "facts.toml")).trace


def sheet_of(data: bytes, tmp_path: Path):
    path = tmp_path / "form.xlsx"
    path.write_bytes(data)
    return openpyxl.load_workbook(path).active


def rows_by_first_text(sheet) -> dict[str, int]:
    return {
        str(sheet.cell(r, 1).value): r
        for r in range(1, sheet.max_row + 1)
        if sheet.cell(r, 1).value is not None
    }


def test_the_chinese_form_has_the_layout_of_the_printed_table(trace, tmp_path):
    sheet = sheet_of(render_xlsx(trace, "zh", date=dt.date(2022, 3, 1)), tmp_path)
    assert sheet.title == "绩效自评表"
    assert sheet.cell(1, 1).value == trace.root.name
    assert "A1:H1" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet.cell(2, 1).value == "填报单位：中共忻州市委政法委员会"
    assert sheet.cell(2, 3).value == "年度：2021"
    assert sheet.cell(2, 5).value == "填报日期：2022-03-01"
    headers = [sheet.cell(3, c).value for c in range(1, 9)]
    assert headers == [
        "一级指标",
        "二级指标",
        "三级指标",
        "分值",
        "年度指标值",
        "实际完成值",
        "得分",
        "偏差原因分析及改进措施",
    ]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert sheet.cell(4, 1).value == "产出指标"
    first_group = next(r for r in merged if r.startswith("A4:A"))
    last = int(first_group.split(":A")[1])
    assert sheet.cell(last + 1, 1).value == "小计（产出指标）"  # the subtotal closes the run
    assert "B4:B8" in merged  # 数量: five rows under one name
    rows = rows_by_first_text(sheet)
    total = rows["总分"]
    assert (sheet.cell(total, 4).value, sheet.cell(total, 7).value) == (100, 89.25)
    assert sheet.cell(total, 7).number_format == "0.00"
    grade = rows["评价等级"]
    assert sheet.cell(grade, 4).value == "良好"
    assert rows["填表人："] > grade
    assert sheet.cell(rows["填表人："], 3).value == "审核人："
    assert "填报单位（盖章）：" in rows


def test_numbers_are_numbers_and_text_is_never_a_formula(trace, tmp_path):
    sheet = sheet_of(render_xlsx(trace, "zh"), tmp_path)
    # the seed's capped row (质量-市域治理): its target is printed "=88项任务完成率达70%。"
    row = next(
        r
        for r in range(4, sheet.max_row + 1)
        if sheet.cell(r, 5).value == "=88项任务完成率达70%。"
    )
    assert sheet.cell(row, 7).value == 4.77
    assert sheet.cell(row, 7).number_format == "0.00"
    assert sheet.cell(row, 5).value == "=88项任务完成率达70%。"
    assert sheet.cell(row, 5).data_type == "s"  # text, not a formula
    assert isinstance(sheet.cell(row, 4).value, int)


def test_styles_freeze_and_a4_print_set_up(trace, tmp_path):
    sheet = sheet_of(render_xlsx(trace, "zh"), tmp_path)
    header = sheet.cell(3, 4)
    assert header.font.bold
    assert header.fill.fgColor.rgb.endswith("D9E1F2")
    assert header.border.left.style == "thin"
    assert sheet.cell(10, 8).border.bottom.style == "thin"  # every table cell is boxed
    assert sheet.cell(5, 3).alignment.wrap_text
    assert sheet.freeze_panes == "A4"
    assert sheet.print_title_rows == "$3:$3"  # the header on every printed page
    assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4) == 9  # A4
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.page_setup.fitToWidth == 1
    widths = [sheet.column_dimensions[c].width for c in "ABCDEFGH"]
    assert widths[3] < widths[2]  # 分值 is narrow, the names wide (and wrapped)
    assert all(w <= 30 for w in widths)


def test_english_headers_and_the_cli_writes_the_form(trace, tmp_path):
    sheet = sheet_of(render_xlsx(trace, "en"), tmp_path)
    assert [sheet.cell(3, c).value for c in (4, 5, 6, 7)] == [
        "Weight",
        "Annual target",
        "Actual",
        "Score",
    ]
    assert sheet.cell(3, 1).value == "Level 1"
    out = tmp_path / "one.xlsx"
    args = ["score", str(SEED / "scheme.toml"), str(SEED / "facts.toml"), "--out", str(out)]
    run = CliRunner().invoke(cli, [*args, "--lang", "zh"])
    assert run.exit_code == 0, run.output
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["绩效自评表"]  # the form, not a batch workbook
    rows = rows_by_first_text(workbook.active)
    assert Decimal(str(workbook.active.cell(rows["总分"], 7).value)) == Decimal("89.25")


def test_a_batch_workbook_keeps_its_summary_without_json_in_cells(tmp_path):
    facts = perfrules.load_facts(SEED / "facts.toml")
    ids = list(facts.indicators)
    lines = ["unit," + ",".join(ids)]
    for n, rate in enumerate(["80%", "93%"]):
        cells = []
        for ident in ids:
            value = facts.indicators[ident]["actual"]
            value = value["value"] if isinstance(value, dict) else value
            cells.append(rate if ident == "群众满意度" else str(value))
        lines.append(f"u{n}," + ",".join(cells))
    source = tmp_path / "units.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "results.xlsx"
    run = CliRunner().invoke(
        cli, ["score", str(SEED / "scheme.toml"), str(source), "--out", str(out)]
    )
    assert run.exit_code == 0, run.output
    overview = openpyxl.load_workbook(out)["overview"]
    values = [c for row in overview.iter_rows(values_only=True) for c in row if c is not None]
    assert not any(isinstance(v, str) and v.startswith(("{", "[")) for v in values)
    assert "良好" in values  # the grade distribution, one row per band
    assert "mean_total" in values


def test_the_signature_block_takes_the_facts_form(tmp_path):
    facts = tmp_path / "facts.toml"
    facts.write_text(
        (SEED / "facts.toml").read_text("utf-8")
        + '\n[form]\nfilled_by = "财务科填表人"\nreviewed_by = "分管负责人"\nphone = "0350-1234567"\n'
        'date = "2022-03-01"\n',
        encoding="utf-8",
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    result = compiled.evaluate(perfrules.load_facts(facts))
    sheet = sheet_of(render_xlsx(result.trace, "zh"), tmp_path)
    rows = rows_by_first_text(sheet)
    signs = rows["填表人：财务科填表人"]
    assert sheet.cell(signs, 3).value == "审核人：分管负责人"
    assert sheet.cell(signs, 5).value == "联系电话：0350-1234567"
    assert sheet.cell(2, 5).value == "填报日期：2022-03-01"  # the form's date, not today
    from perfrules.reports.html import render_html

    page = render_html(result.trace, "zh")
    assert "填表人：<span>财务科填表人</span>" in page
    assert "财务科填表人" not in result.trace.to_json()  # the trace JSON is unchanged by it


def test_a_misspelt_form_key_is_located(tmp_path):
    facts = tmp_path / "facts.toml"
    facts.write_text('[form]\nfilled_bye = "财务科填表人"\n', encoding="utf-8")
    with pytest.raises(perfrules.FactsError) as caught:
        perfrules.load_facts(facts)
    (problem,) = caught.value.diagnostics
    assert (problem.code, problem.line) == ("PR101", 2)
    assert problem.hint_text("en") == "did you mean 'filled_by'?"


def test_control_characters_in_data_never_break_a_workbook(tmp_path):
    # XLSX cannot hold most control characters; openpyxl raised (exit 3). They show as U+FFFD.
    facts = tmp_path / "facts.toml"
    text = (SEED / "facts.toml").read_text("utf-8")
    text = text.replace('unit = "中共忻州市委政法委员会"', 'unit = "单位\\u0001=HYPERLINK(1)"')
    facts.write_text(text + '\n[form]\nfilled_by = "\\u0007填表"\n', encoding="utf-8")
    out = tmp_path / "form.xlsx"
    args = ["score", str(SEED / "scheme.toml"), str(facts), "--out", str(out), "--lang", "zh"]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    sheet = openpyxl.load_workbook(out).active
    assert sheet.cell(2, 1).value == "填报单位：单位\ufffd=HYPERLINK(1)"
    assert sheet.cell(2, 1).data_type == "s"
    rows = rows_by_first_text(sheet)
    assert "填表人：\ufffd填表" in rows


def test_a_batch_workbook_takes_control_characters_too(tmp_path):
    facts = perfrules.load_facts(SEED / "facts.toml")
    ids = list(facts.indicators)
    cells = []
    for ident in ids:
        value = facts.indicators[ident]["actual"]
        cells.append(str(value["value"] if isinstance(value, dict) else value))
    source = tmp_path / "units.csv"
    source.write_text(
        "unit," + ",".join(ids) + "\n" + '"a\x01b",' + ",".join(cells) + "\n", encoding="utf-8"
    )
    out = tmp_path / "results.xlsx"
    run = CliRunner().invoke(
        cli, ["score", str(SEED / "scheme.toml"), str(source), "--out", str(out)]
    )
    assert run.exit_code == 0, run.output
    summary = openpyxl.load_workbook(out)["summary"]
    assert summary.cell(2, 1).value == "a\ufffdb"
