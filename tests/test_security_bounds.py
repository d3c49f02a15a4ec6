"""Hostile inputs of the second round: workbooks, cohorts, PDF, lone surrogates, reports, folders.

Each input is generated here, at test time, and each test asserts what a bug would break: the
located error (its code and what it names), the exit code, or the result left unchanged.
Nothing here is timed: the speed of the same inputs is measured in ``benchmarks/``.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

import perfrules
from perfrules.errors import FactsError
from perfrules.workflows._batch import score_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021" / "scheme.toml"


# --- XLSX: the parts openpyxl reads whole, the sheets and the cells ---------------------------
def small_workbook() -> bytes:
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "u"
    sheet.append(["编号 id", "业绩值 actual"])
    sheet.append(["a", 1])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewritten(data: bytes, change) -> bytes:
    """The workbook *data* with each part's bytes passed through ``change(name, bytes)``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, change(info.filename, source.read(info.filename)))
    return out.getvalue()


def with_fonts(count: int) -> bytes:
    def change(name: str, body: bytes) -> bytes:
        if name != "xl/styles.xml":
            return body
        text = body.decode()
        return re.sub(
            r"<fonts count=\"\d+\">", '<fonts count="1">' + "<font/>" * count, text
        ).encode()

    return rewritten(small_workbook(), change)


def with_sheets_sharing_one_part(count: int) -> bytes:
    def change(name: str, body: bytes) -> bytes:
        text = body.decode()
        if name == "xl/workbook.xml":
            one = re.search(r"<sheet [^>]*/>", text).group(0)
            many = "".join(
                f'<sheet name="u{i}" sheetId="{i + 2}" r:id="rId1"/>' for i in range(count)
            )
            return text.replace(one, one + many).encode()
        return body

    return rewritten(small_workbook(), change)


def with_dimension(ref: str, last: str) -> bytes:
    """One sheet declaring *ref* as its dimension, with a cell at *last*."""

    def change(name: str, body: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return body
        text = re.sub(r"<dimension[^>]*/>", f'<dimension ref="{ref}"/>', body.decode())
        row = re.match(r"[A-Z]+(\d+)", last).group(1)
        cell = f'<row r="{row}"><c r="{last}" t="inlineStr"><is><t>x</t></is></c></row>'
        return text.replace("</sheetData>", cell + "</sheetData>").encode()

    return rewritten(small_workbook(), change)


def refused(path: Path) -> str:
    """The reason ``load_facts`` and the batch give for refusing the workbook *path*."""
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(path)
    [diagnostic] = info.value.diagnostics
    assert diagnostic.code == "PR105"
    assert diagnostic.file == str(path)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    with pytest.raises(FactsError) as batch:
        score_batch(compiled, path)
    assert [d.code for d in batch.value.diagnostics] == ["PR105"]
    return str(diagnostic.params["reason"])


def test_a_workbook_of_half_a_million_fonts_is_refused_before_openpyxl_reads_it(tmp_path):
    path = tmp_path / "fonts.xlsx"
    path.write_bytes(with_fonts(500_000))
    assert path.stat().st_size < 100_000  # 3.5 MB of styles in a few kilobytes
    reason = refused(path)
    assert "xl/styles.xml" in reason
    assert "100,000 XML elements" in reason


def test_a_workbook_of_ten_thousand_sheets_sharing_one_part_is_refused(tmp_path):
    path = tmp_path / "sheets.xlsx"
    path.write_bytes(with_sheets_sharing_one_part(10_000))
    assert "10,001 sheets (limit 1,000)" in refused(path)


def test_two_sheets_sharing_one_part_are_refused_by_name(tmp_path):
    path = tmp_path / "shared.xlsx"
    path.write_bytes(with_sheets_sharing_one_part(1))
    assert "share the part xl/worksheets/sheet1.xml" in refused(path)


def test_the_cells_a_workbook_pads_its_rows_with_are_counted(tmp_path):
    # A sheet that says it spans A1:GR9999 yields 2,000,000 cells, nearly all empty: a
    # thousand such sheets (each its own part of a few bytes) took a thousand seconds.
    path = tmp_path / "padded.xlsx"
    path.write_bytes(with_dimension("A1:GR9999", "GR9999"))
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(path)
    assert "more than 1,000,000 cells" in str(info.value.diagnostics[0].params["reason"])


def test_workbooks_within_the_budgets_are_read_as_before(tmp_path):
    path = tmp_path / "fine.xlsx"
    path.write_bytes(with_fonts(5_000))
    assert perfrules.load_facts(path).indicators == {"a": {"actual": 1}}
    path.write_bytes(with_dimension("A1:B500", "B500"))
    assert perfrules.load_facts(path).indicators == {"a": {"actual": 1}}
