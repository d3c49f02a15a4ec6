"""Blank facts sheets (``perfrules template``): the layout ``facts._sheets`` reads back."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from perfrules._messages import ui
from perfrules.engine import CompiledScheme
from perfrules.errors import Lang
from perfrules.facts import INFO_COLUMNS, LABELS, REASON, column_key
from perfrules.reports import csv_text, level_headings, sheet_value, text_cells
from perfrules.workflows._files import write_atomic

__all__ = ["template_rows", "units_header", "write_template"]


def _facts_read(compiled: CompiledScheme) -> list[tuple[str, list[str]]]:
    """Each indicator's id and the facts it reads that a unit gives, in the scheme's order.

    Not its parameters, and not what is taken over the units (cohort values) or scored (a
    score a formula reads): those are not facts.
    """
    made = compiled.plan.cohort_names | compiled.plan.stages.own
    out: list[tuple[str, list[str]]] = []
    for index in compiled.plan.leaves:
        node = compiled.plan.nodes[index]
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        names = [n for n in leaf.needs if n not in leaf.params and n not in made]
        out.append((node.id, list(dict.fromkeys(names))))
    return out


def template_rows(
    compiled: CompiledScheme, lang: Lang = "zh"
) -> tuple[list[str], list[list[Any]]]:
    """The header and one row per indicator of a blank facts sheet for *compiled*."""
    inputs = list(dict.fromkeys(n for _, names in _facts_read(compiled) for n in names))
    declared = compiled.scheme.inputs

    def head(key: str) -> str:
        if key in LABELS:
            return f"{LABELS[key][0]} {key}" if lang == "zh" else key
        label = declared[key].label if key in declared else ""
        return f"{label} {key}".strip()

    header = [head(k) for k in (*INFO_COLUMNS, *inputs, "na")]
    header.append(_label(REASON, "form.reason", lang))
    rows = []
    for index in compiled.plan.leaves:
        node = compiled.plan.nodes[index]
        rows.append(
            [
                node.id,
                node.name,
                node.weight.numerator if node.weight.denominator == 1 else str(node.weight),
                node.target,
                *([""] * len(inputs)),
                "",
                "",
            ]
        )
    return header, rows


def units_header(compiled: CompiledScheme) -> list[str]:
    """The header of a units sheet: ``unit``, then a column for each fact a unit gives.

    The columns the batch reads (``perfrules score SCHEME units.csv``): ``shared.NAME`` for
    a fact the units are compared on (what the cohort values, the cohort split, the
    ranking keys and the imputations read) and one a grade override reads: a unit gives
    those once; ``ID.NAME`` for every other fact, each indicator's own (``actual`` read by
    every row is each row's own).
    """
    plan = compiled.plan
    read = _facts_read(compiled)
    across = plan.cohort_reads | plan.override_inputs
    group = compiled.scheme.cohort.group_by if compiled.scheme.cohort is not None else None
    shared = [group] if group is not None else []
    shared += [n for _, names in read for n in names if n in across]
    shared += sorted(across - {*shared, *plan.cohort_names})
    own = [f"{ident}.{n}" for ident, names in read for n in names if n not in shared]
    return ["unit", *(f"shared.{n}" for n in dict.fromkeys(shared)), *own]


def write_template(
    compiled: CompiledScheme, path: Path, lang: Lang = "zh", layout: str | None = None
) -> None:
    """Write a blank facts sheet (CSV or XLSX by *path*'s suffix), atomically.

    *layout* ``"form"`` is one unit's form, a row per indicator; ``"units"`` a CSV with a
    row per unit (:func:`units_header`), the batch's input. By default a CSV of a scheme
    whose units are scored together is the units sheet, anything else the form.
    """
    csv_out = path.suffix.lower() == ".csv"
    if layout is None:
        layout = "units" if csv_out and compiled.plan.has_cohort else "form"
    if layout == "units":
        if not csv_out:
            msg = "a units sheet (a row per unit) is a .csv file"
            raise ValueError(msg)
        text = io.StringIO()
        csv.writer(text).writerow(units_header(compiled))
        write_atomic(path, "\ufeff" + text.getvalue())
        return
    header, rows = template_rows(compiled, lang)
    if csv_out:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow([csv_text(str(h)) for h in header])
        writer.writerows([csv_text(c) if isinstance(c, str) else c for c in row] for row in rows)
        write_atomic(path, "\ufeff" + text.getvalue())  # BOM: Excel opens UTF-8 CSV correctly
        return
    write_atomic(path, _workbook(compiled, header, rows, lang))


def _workbook(
    compiled: CompiledScheme, header: list[str], rows: list[list[Any]], lang: Lang
) -> bytes:
    """The department's workbook: the form's layout, locked where the scheme decides.

    Above the table: the title, the unit and the year, the signature fields (each label
    followed by the cell to fill in). The table: one column per level of the tree (the
    groups' names merged down over their rows, as in the form), the id, weight and target,
    the inputs, ``na`` and the reasons for a deviation (偏差原因). The sheet is protected
    without a password: only the cells to fill in are unlocked. Set up for A4 printing.
    """
    import openpyxl  # noqa: PLC0415 - optional extra
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415
    from openpyxl.worksheet.datavalidation import DataValidation  # noqa: PLC0415

    plan = compiled.plan
    leaves = [plan.nodes[i] for i in plan.leaves]
    depth = max((leaf.depth for leaf in leaves), default=1)
    levels = level_headings(compiled.scheme.scheme.levels, depth, lang)
    keys = [column_key(h) for h in header]
    columns = [
        *(f"{title} level{n}" for n, title in enumerate(levels, start=1)),
        *(h for h, k in zip(header, keys, strict=True) if k != "name"),
    ]
    column_keys = [column_key(c) for c in columns]
    width = len(columns)
    editable = Protection(locked=False)
    thin = Side(style="thin", color="000000")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    fill = PatternFill("solid", fgColor="FFF2CC")  # the cells to fill in
    wrap = Alignment(wrap_text=True, vertical="center")

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "facts"
    sheet.cell(1, 1, sheet_value(compiled.scheme.scheme.title))
    sheet.cell(1, 1).font = Font(bold=True, size=14)
    sheet.cell(1, 1).alignment = Alignment(horizontal="center", vertical="center")
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    year = compiled.scheme.scheme.year
    fields: list[list[tuple[str, str, int | None]]] = [
        [("unit", "form.unit", None), ("year", "form.year", year)],
        [
            ("filled_by", "form.filled_by", None),
            ("reviewed_by", "form.reviewed_by", None),
            ("phone", "form.phone", None),
            ("date", "form.date", None),
        ],
    ]
    for row, line in enumerate(fields, start=2):
        span = max(width // len(line), 2)
        for n, (key, message, value) in enumerate(line):
            label = sheet.cell(row, 1 + n * span, _label(key, message, lang))
            label.font = Font(bold=True)
            label.alignment = wrap
            given = sheet.cell(row, 2 + n * span, value)
            given.border = box
            given.number_format = "@"  # 0350-…, a date as typed: text
            if key != "year":
                given.protection = editable
                given.fill = fill
            last = min((n + 1) * span, width)
            if last > 2 + n * span:
                sheet.merge_cells(
                    start_row=row, start_column=2 + n * span, end_row=row, end_column=last
                )
    head = len(fields) + 3
    for column, text in enumerate(columns, start=1):
        cell = sheet.cell(head, column, sheet_value(text))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = box
    filled = [k for k in column_keys if k not in INFO_COLUMNS and not k.startswith("level")]
    owners: list[list[int | None]] = []
    for offset, (leaf, values) in enumerate(zip(leaves, rows, strict=True)):
        number = head + 1 + offset
        chain = _groups_above(plan.nodes, leaf.parent)
        owner: list[int | None] = [None] * depth
        for group in chain:
            if group.depth <= depth:
                owner[group.depth - 1] = group.index
                sheet.cell(number, group.depth, sheet_value(group.name))
        sheet.cell(number, leaf.depth, sheet_value(leaf.name))
        if leaf.depth < depth:
            sheet.merge_cells(
                start_row=number, start_column=leaf.depth, end_row=number, end_column=depth
            )
        owners.append(owner)
        by_key = dict(zip(keys, values, strict=True))
        for column, key in enumerate(column_keys, start=1):
            cell = sheet.cell(number, column)
            if key in by_key and key != "name":
                cell.value = sheet_value(by_key[key])
            cell.border = box
            cell.alignment = wrap
            if key in filled:
                cell.protection = editable
                cell.fill = fill
        text_cells(sheet[number])
    _merge_down(sheet, owners, head + 1, depth)
    last_row = head + len(rows)
    for column, key in enumerate(column_keys, start=1):
        declared = compiled.scheme.inputs.get(key)
        if (
            declared is not None
            and declared.type == "level"
            and declared.scale in compiled.scheme.scales
        ):
            labels = ",".join(
                level.label for level in compiled.scheme.scales[declared.scale].levels
            )
            letter = get_column_letter(column)
            validation = DataValidation(type="list", formula1=f'"{labels}"', allow_blank=True)
            sheet.add_data_validation(validation)
            validation.add(f"{letter}{head + 1}:{letter}{last_row}")
    for column, key in enumerate(column_keys, start=1):
        wide = 16 if key.startswith("level") else _WIDTHS.get(key, 14)
        sheet.column_dimensions[get_column_letter(column)].width = wide
    sheet.row_dimensions[head].height = 32
    sheet.freeze_panes = sheet.cell(head + 1, depth + 2)
    sheet.print_title_rows = f"{head}:{head}"
    setup = sheet.page_setup
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.orientation = "landscape" if width > 7 else "portrait"
    setup.fitToWidth = 1
    setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    # Protected without a password: a guard against slips, not a lock (what is read back
    # is checked anyway). Columns and rows may still be resized.
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


#: Column widths (characters) of the template's columns by key.
_WIDTHS: Final = {"id": 16, "weight": 7, "target_text": 30, "na": 14, REASON: 30}


def _label(key: str, message: str, lang: Lang) -> str:
    """A labelled cell: the form's word, then the key the reader finds it by."""
    return f"{ui(message, lang)} {key}" if lang == "zh" else key


def _groups_above(nodes: Sequence[Any], parent: int) -> list[Any]:
    """The groups above a node, top first (the root, depth 0, left out)."""
    chain = []
    while parent >= 0 and nodes[parent].depth > 0:
        chain.append(nodes[parent])
        parent = nodes[parent].parent
    return chain[::-1]


def _merge_down(sheet: Any, owners: list[list[int | None]], first: int, depth: int) -> None:
    """Merge each group's name down over the consecutive rows under it."""
    for level in range(depth):
        start = 0
        while start < len(owners):
            group = owners[start][level]
            end = start
            while end + 1 < len(owners) and group is not None and owners[end + 1][level] == group:
                end += 1
            if group is not None and end > start:
                sheet.merge_cells(
                    start_row=first + start,
                    start_column=level + 1,
                    end_row=first + end,
                    end_column=level + 1,
                )
            start = end + 1
