"""Facts from spreadsheets: the template round trip, CSV and XLSX errors located."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

import perfrules
from conftest import SEED
from perfrules.cli import cli
from perfrules.errors import FactsError

SEED_ACTUALS = {
    "数量-平安建设": "80%",
    "数量-三零创建": "80%",
    "数量-综治中心": "85%",
    "数量-法学会": "85%",
    "数量-市域治理": "90%",
    "质量-平安建设": 0.9,  # a number typed into Excel as a cell value
    "质量-三零创建": "90%",
    "质量-综治中心": "90%",
    "质量-法学会": "90%",
    "质量-市域治理": 70,
    "时效-平安建设": "95%",
    "时效-三零创建": 0.94,
    "时效-综治中心": "94%",
    "时效-法学会": "95%",
    "时效-市域治理": "95%",
    "社会效益-履职效果": "93%",
    "群众满意度": "93%",
}


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1"})


def test_xlsx_template_filled_in_reproduces_the_seed(tmp_path):
    sheet = tmp_path / "facts.xlsx"
    result = _run("template", str(SEED / "scheme.toml"), "--out", str(sheet), "--lang", "zh")
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(sheet)
    worksheet = workbook.active
    # the table starts under the title, the unit and the signature fields
    head = next(r for r in range(1, 10) if worksheet.cell(r, 4).value == "编号 id")
    header = [c.value for c in worksheet[head]]
    assert header[3:6] == ["编号 id", "权重 weight", "目标值 target_text"]
    actual_column = next(i for i, h in enumerate(header, start=1) if h.endswith(" actual"))
    ids = []
    for row in range(head + 1, worksheet.max_row + 1):
        ident = worksheet.cell(row, 4).value
        ids.append(ident)
        worksheet.cell(row, actual_column).value = SEED_ACTUALS[ident]
    assert len(ids) == 17
    workbook.save(sheet)
    scored = _run("score", str(SEED / "scheme.toml"), str(sheet), "--format", "json")
    assert scored.exit_code == 0, scored.output
    assert '"total": "89.25"' in scored.stdout
    assert '"label": "良好"' in scored.stdout


def test_csv_template_round_trip(tmp_path):
    sheet = tmp_path / "facts.csv"
    assert _run("template", str(SEED / "scheme.toml"), "--out", str(sheet)).exit_code == 0
    lines = sheet.read_text(encoding="utf-8-sig").splitlines()
    filled = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        ident = cells[0]
        cells[4] = str(SEED_ACTUALS[ident])
        filled.append(",".join(cells))
    sheet.write_text("\n".join(filled) + "\n", encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    assert compiled.evaluate(perfrules.load_facts(sheet)).total == Decimal("89.25")


def test_five_bad_values_in_a_sheet_are_all_located(tmp_path):
    sheet = tmp_path / "bad.xlsx"
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = "填报"
    worksheet.append(["编号 id", "指标 name", "业绩值 actual"])
    bad = {
        "数量-平安建设": "八十",
        "数量-三零创建": "80%%",
        "数量-综治中心": "≥",
        "数量-法学会": "1/0",
        "数量-市域治理": "abc",
    }
    for ident, value in SEED_ACTUALS.items():
        worksheet.append([ident, "", bad.get(ident, value)])
    workbook.save(sheet)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    with pytest.raises(FactsError) as info:
        compiled.evaluate(perfrules.load_facts(sheet))
    located = sorted((d.code, d.file, d.line, d.column) for d in info.value.diagnostics)
    assert located == [("PR402", f"{sheet}[填报]", row, 3) for row in range(2, 7)]
    result = _run("score", str(SEED / "scheme.toml"), str(sheet), "--lang", "zh")
    assert result.exit_code == 1
    assert f"{sheet}[填报]:2:3: error[PR402]" in result.stderr
    assert "Traceback" not in result.output


def test_a_bad_cell_is_pointed_at_in_its_row_and_an_unknown_id_at_the_id_cell(tmp_path):
    """The row is shown as its cells' text: the caret sits under the cell, not at the
    character counted as the cell's column; an id the scheme lacks is at its own cell."""
    sheet = tmp_path / "bad.xlsx"
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = "填报"
    worksheet.append(["指标 name", "说明 note", "编号 id", "业绩值 actual"])
    for ident, value in SEED_ACTUALS.items():
        worksheet.append(["某一项指标", "", ident, "0,93" if ident == "数量-三零创建" else value])
    worksheet.append(["多出的一行", "", "没有的指标", "90%"])
    workbook.save(sheet)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    with pytest.raises(FactsError) as info:
        compiled.evaluate(perfrules.load_facts(sheet))
    found = {d.code: d for d in info.value.diagnostics}
    bad, unknown = found["PR402"], found["PR403"]
    assert (bad.line, bad.column) == (3, 4)  # D3: row and cell, as the sheet counts them
    assert bad.excerpt is not None
    assert bad.excerpt[bad.excerpt_column - 1 :] == "0,93"
    assert (unknown.line, unknown.column) == (len(SEED_ACTUALS) + 2, 3)  # its id's cell
    assert unknown.excerpt is not None
    assert unknown.excerpt[unknown.excerpt_column - 1 :] == "没有的指标 | 90%"
    result = _run("score", str(SEED / "scheme.toml"), str(sheet), "--lang", "en")
    lines = result.stderr.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("     3 | "))
    shown = lines[row][: lines[row].index("0,93")]
    assert lines[row + 1].index("^") == cell_len(shown)  # 某一项指标 is two columns a character


def test_csv_without_an_id_column_is_reported(tmp_path):
    sheet = tmp_path / "facts.csv"
    sheet.write_text("指标,业绩值\n群众满意度,93%\n", encoding="utf-8")
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(sheet)
    assert [d.code for d in info.value.diagnostics] == ["PR103"]


def test_gbk_csv_from_chinese_excel_is_read(tmp_path):
    sheet = tmp_path / "facts.csv"
    sheet.write_bytes("编号 id,业绩值 actual\n群众满意度,93%\n".encode("gb18030"))
    facts = perfrules.load_facts(sheet)
    assert facts.indicators == {"群众满意度": {"actual": "93%"}}


def test_a_utf8_csv_with_one_bad_byte_is_reported_at_its_line(tmp_path):
    from perfrules.errors import FactsError

    path = tmp_path / "facts.csv"
    path.write_bytes("编号 id,业绩值 actual\n群众满意度,93%\n".encode() + b"\xff,1\n")
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(path)
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("PR108", 3, 1)
    assert "0xFF" in diagnostic.message("en")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("编号 id,业绩值 actual\n群众满意度,93%\n".encode("gbk"))
    assert perfrules.load_facts(gbk).indicators["群众满意度"]["actual"] == "93%"


def test_a_formula_cell_in_a_facts_sheet_is_reported_not_guessed(tmp_path):
    import openpyxl

    from perfrules.errors import FactsError

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["编号 id", "业绩值 actual"])
    sheet.append(["群众满意度", "=0.9+0.03"])
    sheet.append(["质量-市域治理", 70])
    path = tmp_path / "facts.xlsx"
    workbook.save(path)
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(path)
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("PR402", 2, 2)
    assert "formula" in diagnostic.message("en")


def test_hostile_workbooks_are_refused_before_they_are_read(tmp_path):
    import io
    import zipfile

    import openpyxl

    from perfrules.errors import FactsError

    not_a_zip = tmp_path / "units.xlsx"
    not_a_zip.write_bytes(b"this is not a workbook")
    bomb = tmp_path / "bomb.xlsx"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", "A" * (70 * 1024 * 1024))  # 70 MiB of XML
    bomb.write_bytes(buffer.getvalue())
    assert bomb.stat().st_size < 1024 * 1024
    tall = tmp_path / "tall.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["编号 id", "业绩值 actual"])
    sheet.cell(10_050, 1).value = "x"  # 10,000 (empty) rows below the header
    workbook.save(tall)
    for path in (not_a_zip, bomb, tall):
        with pytest.raises(FactsError) as info:
            perfrules.load_facts(path)
        assert [d.code for d in info.value.diagnostics] == ["PR105"], path.name


def test_an_encoding_is_decided_by_the_first_utf8_text_that_is_not_ascii():
    # UTF-8 that is not ASCII before any bad byte decides UTF-8, whatever follows: a
    # batch with a Chinese header is not read through once more before its rows are.
    from perfrules.facts import csv_encoding

    def blocks():
        yield b"unit," + "得分".encode() + b"\n"
        message = "read past the header"
        raise AssertionError(message)

    assert csv_encoding(blocks) == "utf-8"

    def ascii_then_gbk():
        yield b"unit,a\n" * 5000
        yield "单位,1\n".encode("gb18030")

    assert csv_encoding(ascii_then_gbk) == "gb18030"
