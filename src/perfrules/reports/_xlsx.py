"""One unit's report as the workbook a finance official files: the form's own layout.

The sheet is the self-evaluation table as printed forms lay it out: a title row, the unit,
year and date, then one column per level of the indicator tree (一级 / 二级 / 三级指标, each
group's name merged down over its rows), 分值, 年度指标值, 实际完成值, 得分 and a column for
the reasons of any deviation, subtotals, the total and the grade, and a signature block.
Every header is in the report's language. Numbers are numbers, shown with the scheme's
places; text cells are text (a target written ``=88项…`` is not a formula). The page is set
up for A4 with the header rows repeated on every page and the columns fitted to the width.
Needs the ``xlsx`` extra (openpyxl), imported only here among the renderers.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from perfrules._messages import ui
from perfrules._numbers import parse_fact
from perfrules._outcomes import LeagueTable
from perfrules.errors import Lang
from perfrules.reports._layout import (
    depth_of,
    grade_label,
    graded,
    level_cells,
    level_titles,
    table_rows,
)
from perfrules.reports._safe import sheet_value, text_cells
from perfrules.trace import Trace

__all__ = ["render_league_xlsx", "render_xlsx"]

_THIN: Final = Side(style="thin", color="000000")
_BOX: Final = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL: Final = PatternFill("solid", fgColor="D9E1F2")
_TOTAL_FILL: Final = PatternFill("solid", fgColor="F2F2F2")
_WRAP: Final = Alignment(wrap_text=True, vertical="center")
_CENTRE: Final = Alignment(wrap_text=True, vertical="center", horizontal="center")
_RIGHT: Final = Alignment(vertical="center", horizontal="right")
#: Widest a column grows (in characters) before its text wraps.
_MAX_WIDTH: Final = {"level": 22, "target": 28, "actual": 18, "reason": 24}


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _number(value: Fraction | None) -> Decimal | int | None:
    """A number for a cell (openpyxl writes Decimal as its decimal text, exactly)."""
    if value is None:
        return None
    if value.denominator == 1:
        return value.numerator
    return Decimal(value.numerator) / Decimal(value.denominator)


def _format(places: int | None) -> str:
    if places is None:
        return "General"
    return "0" if places == 0 else "0." + "0" * places


def render_xlsx(trace: Trace, lang: Lang, *, date: dt.date | None = None) -> bytes:
    """The filing-ready workbook of one unit, as bytes (*date*: the filing date, today)."""
    depth = depth_of(trace)
    levels = level_titles(trace, depth, lang)
    headers = [
        *levels,
        ui("form.weight", lang),
        ui("form.target", lang),
        ui("form.actual", lang),
        ui("form.score", lang),
        ui("form.reason", lang),
    ]
    width = len(headers)
    first_number = depth + 1  # 1-based column of 分值
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = ui("form.sheet", lang)[:31]

    # --- title, unit, year, date --------------------------------------------------------
    sheet.append([sheet_value(trace.root.name)])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet.cell(1, 1).font = Font(bold=True, size=14)
    sheet.cell(1, 1).alignment = _CENTRE
    sheet.row_dimensions[1].height = 30
    provenance = trace.provenance
    year = provenance.scheme_year
    form = dict(provenance.form)
    when = form.get("date") or (date or dt.datetime.now().astimezone().date()).isoformat()
    info = [
        f"{ui('form.unit', lang)}{ui('colon', lang)}{provenance.unit}",
        f"{ui('form.year', lang)}{ui('colon', lang)}{year if year is not None else ''}",
        f"{ui('form.date', lang)}{ui('colon', lang)}{when}",
    ]
    sheet.append([])
    spans = _thirds(width)
    for (start, end), text in zip(spans, info, strict=True):
        sheet.cell(2, start, sheet_value(text)).alignment = Alignment(vertical="center")
        if end > start:
            sheet.merge_cells(start_row=2, start_column=start, end_row=2, end_column=end)

    # --- the table ----------------------------------------------------------------------
    header_row = 3
    sheet.append([sheet_value(h) for h in headers])
    for column in range(1, width + 1):
        cell = sheet.cell(header_row, column)
        cell.font = Font(bold=True)
        cell.fill = _HEAD_FILL
        cell.alignment = _CENTRE
        cell.border = _BOX
    rows = table_rows(trace, lang)
    first = header_row + 1
    for offset, (row, cells) in enumerate(zip(rows, level_cells(trace, rows), strict=True)):
        number = first + offset
        node = row.node
        for cell in cells:
            sheet.cell(number, cell.column + 1, sheet_value(cell.text))
            if cell.rows > 1 or cell.columns > 1:
                sheet.merge_cells(
                    start_row=number,
                    start_column=cell.column + 1,
                    end_row=number + cell.rows - 1,
                    end_column=cell.column + cell.columns,
                )
        if row.kind == "indicator":
            _numbers(sheet, number, first_number, node.weight, node.score, node.places)
            sheet.cell(number, first_number + 1, sheet_value(node.target))
            _actual(sheet.cell(number, first_number + 2), node.actual)
            sheet.cell(number, first_number + 4, sheet_value(provenance.reason(node.id)))
            if node.score is None:
                sheet.cell(number, first_number + 3, ui("excluded", lang))
            continue
        if row.kind == "total":
            _numbers(sheet, number, first_number, node.weight, trace.total, trace.total_places)
        else:
            _numbers(sheet, number, first_number, node.weight, node.score, node.places)
        for column in range(1, width + 1):
            sheet.cell(number, column).font = Font(bold=True)
            sheet.cell(number, column).fill = _TOTAL_FILL
    last = first + len(rows) - 1

    # --- the grade ----------------------------------------------------------------------
    grade_row = last + 1 if graded(trace) else last  # a rank-only scheme: no grade row
    if graded(trace):
        sheet.cell(grade_row, 1, ui("form.grade", lang))
        sheet.merge_cells(start_row=grade_row, start_column=1, end_row=grade_row, end_column=depth)
        sheet.cell(grade_row, first_number, sheet_value(grade_label(trace, lang)))
        sheet.merge_cells(
            start_row=grade_row, start_column=first_number, end_row=grade_row, end_column=width
        )
        for column in range(1, width + 1):
            sheet.cell(grade_row, column).font = Font(bold=True)
    for row_cells in sheet.iter_rows(min_row=first, max_row=grade_row, max_col=width):
        for cell in row_cells:
            cell.border = _BOX
            if cell.alignment.horizontal is None:
                cell.alignment = _WRAP

    # --- signatures ---------------------------------------------------------------------
    sign_row = grade_row + 2
    signs = [
        (ui("form.filled_by", lang), form.get("filled_by", "")),
        (ui("form.reviewed_by", lang), form.get("reviewed_by", "")),
        (ui("form.phone", lang), form.get("phone", "")),
    ]
    for (start, end), (text, given) in zip(_thirds(width), signs, strict=True):
        sheet.cell(sign_row, start, sheet_value(f"{text}{ui('colon', lang)}{given}"))
        if end > start:
            sheet.merge_cells(
                start_row=sign_row, start_column=start, end_row=sign_row, end_column=end
            )
    sheet.cell(sign_row + 1, 1, f"{ui('form.seal', lang)}{ui('colon', lang)}")

    for row_cells in sheet.iter_rows(min_row=1, max_row=sheet.max_row):
        text_cells(row_cells)
    _widths(sheet, headers, depth)
    _print_setup(sheet, header_row, width)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _numbers(
    sheet: Any,
    row: int,
    column: int,
    weight: Fraction,
    score: Fraction | None,
    places: int | None,
) -> None:
    weight_cell = sheet.cell(row, column, _number(weight))
    weight_cell.number_format = "General"
    weight_cell.alignment = _RIGHT
    if score is not None:
        score_cell = sheet.cell(row, column + 3, _number(score))
        score_cell.number_format = _format(places)
        score_cell.alignment = _RIGHT


#: An actual value that is a plain number or percentage ("93%", "70", "4.80"): written as
#: the number it is, shown as it was given; anything else ("70项…") stays text.
_PLAIN: Final = re.compile(r"[+-]?\d+(?:\.(?P<places>\d+))?(?P<pct>%)?")


def _actual(cell: Any, text: str) -> None:
    """The actual value as a number with the format that shows it as given, else as text."""
    match = _PLAIN.fullmatch(text.strip())
    if match is None:
        cell.value = sheet_value(text)
        return
    cell.value = _number(parse_fact(text))
    places = len(match["places"] or "")
    cell.number_format = _format(places) + ("%" if match["pct"] else "")
    cell.alignment = _RIGHT


def _thirds(width: int) -> list[tuple[int, int]]:
    """Three spans of columns across the sheet (for the unit, year and date line)."""
    size = max(width // 3, 1)
    return [(1, size), (size + 1, 2 * size), (2 * size + 1, width)]


def _widths(sheet: Any, headers: list[str], depth: int) -> None:
    kinds = ["level"] * depth + ["weight", "target", "actual", "score", "reason"]
    widest = [_width(h) for h in headers]
    for row_cells in sheet.iter_rows(min_row=3, max_row=sheet.max_row, max_col=len(headers)):
        for index, cell in enumerate(row_cells):
            if isinstance(cell.value, str):
                widest[index] = max(widest[index], _width(cell.value))
            elif cell.value is not None:
                widest[index] = max(widest[index], len(str(cell.value)) + 1)
    for index, kind in enumerate(kinds):
        cap = _MAX_WIDTH.get(kind, 12)
        sheet.column_dimensions[get_column_letter(index + 1)].width = min(widest[index], cap) + 2


def _print_setup(sheet: Any, header_row: int, width: int) -> None:
    sheet.freeze_panes = sheet.cell(header_row + 1, 1)
    sheet.print_title_rows = f"{header_row}:{header_row}"
    setup = sheet.page_setup
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.orientation = "landscape" if width > 7 else "portrait"
    setup.fitToWidth = 1
    setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.print_options.horizontalCentered = True


def render_league_xlsx(table: LeagueTable, lang: Lang) -> bytes:
    """A league table as a workbook: one sheet, a row per unit, the header on every page.

    Totals and scores are numbers (shown as written, with their places); ranks are text
    (``=5`` is not a formula); everything else comes from *table* as it is.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "league"
    headers = [
        table.rank_label or ui("league.rank", lang),
        ui("league.unit", lang),
        ui("total", lang),
        *([ui("grade", lang)] if table.graded else []),
        *(f"{name} ({weight})" for _, name, weight in table.columns),
    ]
    if table.movers:
        headers += [ui("league.previous", lang), ui("league.movement", lang)]
    sheet.append([sheet_value(table.title)])
    sheet.append([sheet_value(h) for h in headers])
    text_cells(sheet[1])
    text_cells(sheet[2])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in table.rows:
        numbers = [row.total, *row.scores]
        rank: int | str = int(row.rank) if row.rank.isdigit() else sheet_value(row.rank)
        values: list[Any] = [rank, sheet_value(row.unit)]
        values += [_shown_number(numbers[0])]
        values += [sheet_value(row.grade)] if table.graded else []
        values += [_shown_number(text) for text in numbers[1:]]
        if table.movers:
            movement = ui("league.new", lang) if row.movement == "new" else row.movement or ""
            values += [sheet_value(row.previous or ""), sheet_value(movement)]
        sheet.append(values)
        text_cells(sheet[sheet.max_row])
        for column, text in enumerate(numbers, start=3):
            skip = 1 if table.graded and column > 3 else 0  # the grade column after the total
            target = sheet.cell(row=sheet.max_row, column=column + skip)
            places = len(text.partition(".")[2]) if "." in text else 0
            target.number_format = _format(places)
    sheet.print_title_rows = "2:2"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _shown_number(text: str) -> Decimal | str:
    """A decimal string as a number cell; ``—`` (no score) stays text."""
    try:
        return Decimal(text)
    except ArithmeticError:
        return str(sheet_value(text))
