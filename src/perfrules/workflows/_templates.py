"""Blank facts sheets (``perfrules template``): the layout ``facts._sheets`` reads back."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from perfrules.engine import CompiledScheme
from perfrules.facts._sheets import INFO_COLUMNS, LABELS, column_key
from perfrules.reports._safe import csv_text, sheet_value, text_cells
from perfrules.workflows._files import write_atomic

__all__ = ["template_rows", "write_template"]


def template_rows(compiled: CompiledScheme, lang: str = "zh") -> tuple[list[str], list[list[Any]]]:
    """The header and one row per indicator of a blank facts sheet for *compiled*."""
    inputs: list[str] = []
    for index in compiled.plan.leaves:
        leaf = compiled.plan.nodes[index].leaf
        assert leaf is not None  # noqa: S101
        for name in leaf.needs:
            if name not in leaf.params and name not in inputs:
                inputs.append(name)
    declared = compiled.scheme.inputs

    def head(key: str) -> str:
        if key in LABELS:
            return f"{LABELS[key][0]} {key}" if lang == "zh" else key
        label = declared[key].label if key in declared else ""
        return f"{label} {key}".strip()

    header = [head(k) for k in (*INFO_COLUMNS, *inputs, "na")]
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
            ]
        )
    return header, rows


def write_template(compiled: CompiledScheme, path: Path, lang: str = "zh") -> None:
    """Write a blank facts sheet (CSV or XLSX by *path*'s suffix), atomically."""
    header, rows = template_rows(compiled, lang)
    if path.suffix.lower() == ".csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow([csv_text(str(h)) for h in header])
        writer.writerows([csv_text(c) if isinstance(c, str) else c for c in row] for row in rows)
        write_atomic(path, "\ufeff" + text.getvalue())  # BOM: Excel opens UTF-8 CSV correctly
        return
    import openpyxl  # noqa: PLC0415 - optional extra
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.worksheet.datavalidation import DataValidation  # noqa: PLC0415

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "facts"
    sheet.append([sheet_value(h) for h in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    text_cells(sheet[1])
    for row in rows:
        sheet.append([sheet_value(v) for v in row])
        text_cells(sheet[sheet.max_row])
    widths = {1: 18, 2: 40, 3: 8, 4: 30}
    for column, width in widths.items():
        sheet.column_dimensions[openpyxl.utils.get_column_letter(column)].width = width
    keys = [column_key(h) for h in header]
    for column, key in enumerate(keys, start=1):
        declared = compiled.scheme.inputs.get(key)
        if (
            declared is not None
            and declared.type == "level"
            and declared.scale in compiled.scheme.scales
        ):
            labels = ",".join(
                level.label for level in compiled.scheme.scales[declared.scale].levels
            )
            letter = openpyxl.utils.get_column_letter(column)
            validation = DataValidation(type="list", formula1=f'"{labels}"', allow_blank=True)
            sheet.add_data_validation(validation)
            validation.add(f"{letter}2:{letter}{len(rows) + 1}")
    sheet.freeze_panes = "B2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    write_atomic(path, buffer.getvalue())
