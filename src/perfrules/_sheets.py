"""Facts from spreadsheets: one unit per CSV file or XLSX sheet, one row per indicator.

The layout is the one ``perfrules template`` writes: a header row whose cells end with a key
(``编号 id``, ``指标 name``, ``权重 weight``, ``目标值 target_text``, one column per input such as
``业绩值 actual``, and ``不适用 na``), then one row per indicator. Only ``id``, the inputs and
``na`` are read; the other columns are there for the people filling the sheet in. A problem
is reported with the file (and sheet), the row and the column. XLSX needs the ``xlsx`` extra
(openpyxl), imported only here.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from perfrules._files import write_atomic
from perfrules._loader import read_bytes
from perfrules.engine import CompiledScheme
from perfrules.errors import Diagnostic, FactsError
from perfrules.facts import Facts
from perfrules.facts import load_facts as load_document_facts

__all__ = ["load_facts", "load_sheet_facts", "template_rows", "write_template"]

_INFO_COLUMNS = ("id", "name", "weight", "target_text")


@dataclass
class TablePositions:
    """Where each fact sits in a sheet: key path → (row, column); rows as text for display."""

    cells: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)
    rows: dict[int, str] = field(default_factory=dict)

    def position(self, path: Sequence[str | int]) -> tuple[int, int]:
        """Row and column of *path* (or of its nearest ancestor)."""
        probe = tuple(path)
        while probe:
            if probe in self.cells:
                return self.cells[probe]
            probe = probe[:-1]
        return (0, 0)

    def line_text(self, line: int) -> str | None:
        """The row as text."""
        return self.rows.get(line)


def _key(header: object) -> str:
    text = str(header or "").strip()
    return text.split()[-1] if text else ""


def _facts_from_rows(rows: Iterable[Sequence[Any]], name: str, digest: str) -> Facts:
    diagnostics: list[Diagnostic] = []
    positions = TablePositions()
    indicators: dict[str, dict[str, Any]] = {}
    header: list[str] = []
    for number, row in enumerate(rows, start=1):
        cells = ["" if c is None else c for c in row]
        positions.rows[number] = " | ".join(str(c) for c in cells)
        if not header:
            header = [_key(c) for c in cells]
            if "id" not in header:
                diagnostics.append(
                    Diagnostic(
                        "PR103",
                        (),
                        {"table": name, "key": "id (编号)"},
                        file=name,
                        line=number,
                        column=1,
                    )
                )
                break
            continue
        values = dict(zip(header, cells, strict=False))
        ident = str(values.get("id", "")).strip()
        if not ident:
            continue
        facts: dict[str, Any] = {}
        for column, (key, cell) in enumerate(zip(header, cells, strict=False), start=1):
            if not key or key in _INFO_COLUMNS or cell in ("", None):
                continue
            # A spreadsheet number is stored as a binary float: read its shortest decimal text,
            # which is what the person typed and sees.
            facts[key] = Decimal(repr(cell)) if isinstance(cell, float) else cell  # float-ok
            positions.cells[("indicators", ident, key)] = (number, column)
        positions.cells[("indicators", ident)] = (number, 1)
        indicators[ident] = facts
    if diagnostics:
        raise FactsError(diagnostics)
    return Facts(indicators=indicators, file=name, source=positions, sha256=digest)


def _csv_rows(data: bytes, name: str) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")  # Excel on Chinese Windows saves CSV in GBK
        except UnicodeDecodeError as exc:
            raise FactsError(
                [Diagnostic("PR108", params={"file": name, "position": exc.start}, file=name)]
            ) from None
    return list(csv.reader(io.StringIO(text)))


def load_sheet_facts(path: str | Path, sheet: str | None = None) -> Facts:
    """Facts of one unit from a CSV file or one sheet of an XLSX workbook.

    Raises:
        FactsError: unreadable file, missing ``id`` column, or missing openpyxl for XLSX.
    """
    file = Path(path)
    diagnostics: list[Diagnostic] = []
    data = read_bytes(file, diagnostics)
    if data is None:
        raise FactsError(diagnostics)
    digest = hashlib.sha256(data).hexdigest()
    if file.suffix.lower() == ".csv":
        return _facts_from_rows(_csv_rows(data, str(file)), str(file), digest)
    try:
        import openpyxl  # noqa: PLC0415 - optional extra
    except ImportError:
        raise FactsError(
            [
                Diagnostic(
                    "PR105",
                    params={
                        "file": str(file),
                        "reason": "reading .xlsx needs: pip install 'perfrules[xlsx]'",
                    },
                    file=str(file),
                )
            ]
        ) from None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is reported, not raised
        raise FactsError(
            [
                Diagnostic(
                    "PR105", params={"file": str(file), "reason": str(exc)[:200]}, file=str(file)
                )
            ]
        ) from None
    worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
    name = f"{file}[{worksheet.title}]"
    rows = [list(r) for r in worksheet.iter_rows(values_only=True)]
    workbook.close()
    return _facts_from_rows(rows, name, digest)


_LABELS = {
    "id": ("编号", "id"),
    "name": ("指标", "name"),
    "weight": ("权重", "weight"),
    "target_text": ("目标值", "target_text"),
    "na": ("不适用（填写原因）", "na"),
}


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
        if key in _LABELS:
            return f"{_LABELS[key][0]} {key}" if lang == "zh" else key
        label = declared[key].label if key in declared else ""
        return f"{label} {key}".strip()

    header = [head(k) for k in (*_INFO_COLUMNS, *inputs, "na")]
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
        writer.writerow(header)
        writer.writerows(rows)
        write_atomic(path, "\ufeff" + text.getvalue())  # BOM: Excel opens UTF-8 CSV correctly
        return
    import openpyxl  # noqa: PLC0415 - optional extra
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.worksheet.datavalidation import DataValidation  # noqa: PLC0415

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "facts"
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    widths = {1: 18, 2: 40, 3: 8, 4: 30}
    for column, width in widths.items():
        sheet.column_dimensions[openpyxl.utils.get_column_letter(column)].width = width
    keys = [_key(h) for h in header]
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


def load_facts(path: str | Path, sheet: str | None = None) -> Facts:
    """Read one unit's facts: TOML, JSON, CSV or XLSX (by the file's suffix).

    Raises:
        FactsError: the file cannot be read, with located diagnostics.
    """
    if Path(path).suffix.lower() in (".csv", ".xlsx", ".xlsm"):
        return load_sheet_facts(path, sheet)
    return load_document_facts(path)
