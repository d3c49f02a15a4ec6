"""Facts from spreadsheets: one unit per CSV file or XLSX sheet, one row per indicator.

The layout is the one ``perfrules template`` writes: a header row whose cells end with a key
(``编号 id``, ``指标 name``, ``权重 weight``, ``目标值 target_text``, one column per input such as
``业绩值 actual``, and ``不适用 na``), then one row per indicator. Only ``id``, the inputs and
``na`` are read; the other columns are there for the people filling the sheet in. A problem
is reported with the file (and sheet), the row and the column. XLSX needs the ``xlsx`` extra
(openpyxl), imported only here.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from perfrules._reading import encoding_error, read_file, within_budget
from perfrules.errors import Diagnostic, FactsError
from perfrules.facts._document import Facts
from perfrules.facts._values import float_fact
from perfrules.trace import REASON_PREFIX

if TYPE_CHECKING:  # imported where a workbook is read: a CSV or a TOML file never needs them
    import zipfile
    from xml.etree import ElementTree as ET

__all__ = [
    "FORM_CELLS",
    "INFO_COLUMNS",
    "LABELS",
    "REASON",
    "column_key",
    "csv_encoding",
    "csv_rows",
    "decode_csv",
    "load_sheet_facts",
    "loads_csv_facts",
    "workbook_units",
]

INFO_COLUMNS = ("id", "name", "weight", "target_text")
#: The column of the reasons for a deviation (偏差原因), kept in the facts' form by indicator.
REASON = "reason"
#: Labelled cells above the table (``填报单位 unit`` then the value in the next cell): the
#: unit, the year (the scheme's, shown) and the form's signature fields.
FORM_CELLS = ("unit", "year", "filled_by", "reviewed_by", "phone", "date")
#: Rows above the header a sheet may use for them.
MAX_PREAMBLE_ROWS: Final = 30
_LEVEL_COLUMN: Final = re.compile(r"level\d+")


@dataclass
class TablePositions:
    """Where each fact sits in a sheet: key path → (row, column); rows as text for display."""

    cells: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)
    rows: dict[int, str] = field(default_factory=dict)
    #: Where each cell of a row starts in its text (:attr:`rows`), by row.
    starts: dict[int, list[int]] = field(default_factory=dict)
    #: The row a whole unit is on (a batch CSV or table: one unit a row); 0 otherwise.
    row: int = 0

    def position(self, path: Sequence[str | int]) -> tuple[int, int]:
        """Row and column of *path* (or of its nearest ancestor; else the unit's row)."""
        probe = tuple(path)
        while probe:
            if probe in self.cells:
                return self.cells[probe]
            probe = probe[:-1]
        return (self.row, 0)

    def line_text(self, line: int) -> str | None:
        """The row as text."""
        return self.rows.get(line)

    def text_column(self, line: int, column: int) -> int:
        """Where cell *column* of row *line* starts in :meth:`line_text` (1-based; 0: unknown)."""
        starts = self.starts.get(line, [])
        return starts[column - 1] if 0 < column <= len(starts) else 0

    def add_row(self, line: int, cells: Sequence[object]) -> None:
        """Keep row *line* as text, its cells joined by `` | ``, and where each starts."""
        texts = [str(c) for c in cells]
        starts, at = [], 1
        for text in texts:
            starts.append(at)
            at += len(text) + len(_CELL_SEPARATOR)
        self.rows[line] = _CELL_SEPARATOR.join(texts)
        self.starts[line] = starts


#: Between the cells of a row shown as text.
_CELL_SEPARATOR: Final = " | "


def column_key(header: object) -> str:
    """The key a header cell ends with: ``业绩值 actual`` → ``actual``."""
    text = str(header or "").strip()
    return text.split()[-1] if text else ""


def _facts_from_rows(
    rows: Iterable[Sequence[Any]],
    name: str,
    digest: str,
    formulas: frozenset[tuple[int, int]] = frozenset(),
) -> Facts:
    """One unit's facts from rows; *formulas* are the (row, column) of formula cells."""
    diagnostics: list[Diagnostic] = []
    positions = TablePositions()
    indicators: dict[str, dict[str, Any]] = {}
    header: list[str] = []
    form: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        cells = ["" if c is None else c for c in row]
        positions.add_row(number, cells)
        if not header:
            keys = [column_key(c) for c in cells]
            if "id" in keys:
                header = keys
                continue
            if number < MAX_PREAMBLE_ROWS:  # a title, the unit, the signature fields
                form.update(_labelled(keys, cells))
                continue
            diagnostics.append(
                Diagnostic(
                    "PR103",
                    (),
                    {"table": name, "key": "id (编号)"},
                    file=name,
                    line=1,
                    column=1,
                )
            )
            break
        values = dict(zip(header, cells, strict=False))
        ident = str(values.get("id", "")).strip()
        if not ident:
            continue
        facts: dict[str, Any] = {}
        for column, (key, cell) in enumerate(zip(header, cells, strict=False), start=1):
            if (
                not key
                or key in INFO_COLUMNS
                or cell in ("", None)
                or _LEVEL_COLUMN.fullmatch(key)
            ):
                continue
            if key == REASON:
                form[REASON_PREFIX + ident] = _text(cell)
                continue
            if (number, column) in formulas:
                # The value a formula shows depends on a spreadsheet program having computed
                # it; perfrules scores what people typed, so it asks for the value.
                diagnostics.append(
                    Diagnostic(
                        "PR402",
                        ("indicators", ident, key),
                        {
                            "value": str(cell)[:60],
                            "expected": "a value, not a formula (paste it as values)",
                            "expected_zh": "数值，而不是公式（请以“粘贴为数值”填写）",
                        },
                        file=name,
                        line=number,
                        column=column,
                        excerpt=positions.rows[number],
                        excerpt_column=positions.text_column(number, column),
                    )
                )
                continue
            # A spreadsheet number is stored as a binary float: read its shortest decimal text,
            # which is what the person typed and sees.
            facts[key] = float_fact(cell) if isinstance(cell, float) else cell  # float-ok
            positions.cells[("indicators", ident, key)] = (number, column)
        positions.cells[("indicators", ident)] = (number, header.index("id") + 1)
        indicators[ident] = facts
    if not header and not diagnostics:
        diagnostics.append(
            Diagnostic(
                "PR103", (), {"table": name, "key": "id (编号)"}, file=name, line=1, column=1
            )
        )
    if diagnostics:
        raise FactsError(diagnostics)
    unit = form.pop("unit", "")
    form.pop("year", None)  # the scheme's year, shown to the department; the scheme decides
    return Facts(
        indicators=indicators,
        file=name,
        source=positions,
        sha256=digest,
        unit=unit,
        form={k: v for k, v in form.items() if v},
    )


def _text(cell: object) -> str:
    """A labelled cell's value as text (a date as ``2022-03-01``, a number as typed)."""
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat()
    if isinstance(cell, dt.date):
        return cell.isoformat()
    if isinstance(cell, float):
        shown = float_fact(cell)
        return "" if shown is None else format(shown, "f")
    return str(cell).strip()


def _labelled(keys: list[str], cells: list[Any]) -> dict[str, str]:
    """The form's fields of a row above the table: each label's value is in the next cell."""
    found = {}
    for index, key in enumerate(keys[:-1]):
        if key in FORM_CELLS:
            found[key] = _text(cells[index + 1])
    return found


#: Bytes looked at a time when deciding an encoding: a piece of plain ASCII is not decoded.
_PIECE_BYTES: Final = 1 << 16


def csv_encoding(blocks: Callable[[], Iterable[bytes]]) -> str:
    """The encoding of a CSV file given as blocks of bytes: ``"utf-8"`` or ``"gb18030"``.

    The one place that decides a CSV's encoding, for a file read whole and for one read in
    chunks. UTF-8 (with or without a BOM) unless the file is not valid UTF-8 *and* the
    whole of it is valid GB18030 *and* everything before its first non-UTF-8 byte is ASCII.
    Excel on Chinese Windows saves CSV in GBK, which GB18030 contains; but GB18030 decodes
    almost any bytes, so a file that already held Chinese in UTF-8 before a bad byte is
    UTF-8 with broken bytes (reported where they are), never read again as GBK garbage.
    *blocks* is called again for the second reading when GB18030 is tried. The reading
    stops at the first piece that is not ASCII and is UTF-8: from there on the answer is
    UTF-8 whatever follows (a Chinese header decides at once).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for block in blocks():
            for at in range(0, len(block), _PIECE_BYTES):
                piece = block[at : at + _PIECE_BYTES]
                if piece.isascii() and not decoder.getstate()[0]:
                    continue  # ASCII is UTF-8 as it is (no character was cut in two before it)
                try:
                    decoder.decode(piece)
                except UnicodeDecodeError as exc:
                    if not piece[: max(exc.start, 0)].isascii():
                        return "utf-8"
                    raise
                return "utf-8"  # UTF-8 that is not ASCII came before any bad byte
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        pass  # ASCII up to the first bad byte: GB18030, if the whole file reads as it
    else:
        return "utf-8"
    other = codecs.getincrementaldecoder("gb18030")()
    try:
        for block in blocks():
            other.decode(block)
        other.decode(b"", final=True)
    except UnicodeDecodeError:
        return "utf-8"
    return "gb18030"


def decode_csv(data: bytes, name: str) -> str:
    """The text of a CSV file read whole, in the encoding :func:`csv_encoding` decides.

    A file that is UTF-8 with a broken byte is ``PR108``, with its line and offset.
    """
    if csv_encoding(lambda: (data,)) == "gb18030":
        return data.decode("gb18030")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FactsError([encoding_error(data, name, exc)]) from None


def csv_rows(text: str, name: str) -> list[list[str]]:
    """The rows of a CSV text; a malformed one is ``PR100`` at its line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        raise FactsError(
            [
                Diagnostic(
                    "PR100",
                    params={"language": "CSV", "detail": str(exc)},
                    file=name,
                    line=reader.line_num,
                    column=1,
                )
            ]
        ) from None


def _csv_rows(data: bytes, name: str) -> list[list[str]]:
    return csv_rows(decode_csv(data, name), name)


def loads_csv_facts(text: str | bytes, name: str) -> Facts:
    """Facts of one unit from the text of a CSV sheet (the layout of ``perfrules template``).

    Bytes are decoded as a CSV file's are (:func:`decode_csv`); text and bytes have the budget
    of a file.
    """
    diagnostics: list[Diagnostic] = []
    if not within_budget(text, name, diagnostics):
        raise FactsError(diagnostics)
    if isinstance(text, str):
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return _facts_from_rows(csv_rows(text, name), name, digest)
    data = bytes(text)
    return _facts_from_rows(_csv_rows(data, name), name, hashlib.sha256(data).hexdigest())


def workbook_units(path: Path) -> Iterator[tuple[str, Facts | FactsError]]:
    """Every sheet of a workbook as one unit's facts, the workbook read once.

    Raises:
        FactsError: the file is not a readable workbook (``PR105``), or too large.
    """
    import openpyxl  # noqa: PLC0415 - optional extra

    diagnostics: list[Diagnostic] = []
    data = read_file(path, diagnostics)
    if data is None:
        raise FactsError(diagnostics)
    digest = hashlib.sha256(data).hexdigest()
    try:
        _check_workbook(data)
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - a damaged or hostile file is reported
        reason = str(exc)[:200] or type(exc).__name__
        raise FactsError(
            [Diagnostic("PR105", params={"file": str(path), "reason": reason}, file=str(path))]
        ) from None
    cells = _CellBudget()  # for the whole workbook
    try:
        for title in list(workbook.sheetnames):
            try:
                name, rows, formulas = _sheet_rows(workbook[title], path, cells)
                yield title, _facts_from_rows(rows, name, digest, formulas)
            except FactsError as exc:
                yield title, exc
            except Exception as exc:  # noqa: BLE001 - a damaged sheet is that unit's error
                reason = str(exc)[:200] or type(exc).__name__
                yield (
                    title,
                    FactsError(
                        [
                            Diagnostic(
                                "PR105", params={"file": f"{path}[{title}]", "reason": reason}
                            )
                        ]
                    ),
                )
    finally:
        workbook.close()


def load_sheet_facts(
    path: str | Path, sheet: str | None = None, root: Path | None = None
) -> Facts:
    """Facts of one unit from a CSV file or one sheet of an XLSX workbook (inside *root*).

    Raises:
        FactsError: unreadable file, missing ``id`` column, or missing openpyxl for XLSX.
    """
    file = Path(path)
    diagnostics: list[Diagnostic] = []
    data = read_file(file, diagnostics, root=root)
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
        name, rows, formulas = _read_sheet(openpyxl, data, sheet, file)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is reported, not raised
        # openpyxl and the XML parser below it raise many kinds of errors for a damaged file
        raise FactsError(
            [
                Diagnostic(
                    "PR105", params={"file": str(file), "reason": str(exc)[:200]}, file=str(file)
                )
            ]
        ) from None
    return _facts_from_rows(rows, name, digest, formulas)


#: Rows and columns read from one facts sheet: a unit has one row per indicator.
MAX_SHEET_ROWS: Final = 10_000
MAX_SHEET_COLUMNS: Final = 200
#: Bytes a workbook may expand to (an XLSX is a zip: 1 MiB can hold a gigabyte of XML).
MAX_WORKBOOK_BYTES: Final = 64 * 1024 * 1024


class _TooLargeError(ValueError):
    pass


def _read_sheet(
    openpyxl: Any, data: bytes, sheet: str | None, file: Path
) -> tuple[str, list[list[Any]], frozenset[tuple[int, int]]]:
    """The name, the rows and the formula cells of one sheet, within the limits."""
    _check_workbook(data)
    # Formulas as written (not their cached results): a formula cell is reported.
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
        return _sheet_rows(worksheet, file, _CellBudget())
    finally:
        workbook.close()


class _CellBudget:
    """The cells a workbook may still have read (``MAX_WORKBOOK_CELLS`` in all)."""

    def __init__(self) -> None:
        self.left = MAX_WORKBOOK_CELLS


def _sheet_rows(
    worksheet: Any, file: Path, cells: _CellBudget
) -> tuple[str, list[list[Any]], frozenset[tuple[int, int]]]:
    """A sheet's name, rows and formula cells, within the limits.

    The cells are counted against *cells* as they are read, the empty ones openpyxl pads
    a row with included: a sheet whose dimension says ``A1:GR9999`` yields two million.
    """
    name = f"{file}[{worksheet.title}]"
    rows: list[list[Any]] = []
    formulas: set[tuple[int, int]] = set()
    for number, row in enumerate(worksheet.iter_rows(), start=1):
        if number > MAX_SHEET_ROWS:
            raise _TooLargeError(f"more than {MAX_SHEET_ROWS:,} rows")
        values = []
        for column, cell in enumerate(row, start=1):
            if column > MAX_SHEET_COLUMNS:
                raise _TooLargeError(f"more than {MAX_SHEET_COLUMNS:,} columns")
            cells.left -= 1
            if cells.left < 0:
                raise _TooLargeError(
                    f"more than {MAX_WORKBOOK_CELLS:,} cells (the limit for a workbook)"
                )
            if getattr(cell, "data_type", None) == "f":
                formulas.add((number, column))
            value = getattr(cell, "value", None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = _percent(value, getattr(cell, "number_format", None) or "")
            values.append(value)
        rows.append(values)
    return name, rows, frozenset(formulas)


_QUOTED: Final = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')


def _percent(value: float, number_format: str) -> float | str:  # float-ok: a cell's value
    """A number as the cell shows it when its format is a percentage: 0.9 shown 90% is "90%".

    A cell formatted ``0%`` holds 0.9 for the 90% a person typed; read as 0.9 it would mean
    0.9 where 90% was meant. A ``%`` quoted in the format (``0"%"``) is a
    literal sign after the number as stored.
    """
    if "%" not in number_format:
        return value
    number = float_fact(value) if isinstance(value, float) else Decimal(value)
    if number is None or not number.is_finite():
        return value
    if "%" in _QUOTED.sub("", number_format):
        number *= 100
    text = format(number.normalize(), "f")
    return f"{text}%"


def _check_workbook(data: bytes) -> None:
    """Refuse a workbook past its budgets before openpyxl reads anything of it.

    A 75 KB workbook can declare 500,000 fonts, and a 59 KB one 10,000 sheets sharing one
    part: openpyxl reads its styles, its shared strings and its list of sheets whole, with a
    Python object for each element (15 s and 725 MiB for the fonts). So before it does:

    - the zip expands to at most ``MAX_WORKBOOK_BYTES``;
    - the workbook lists at most ``MAX_WORKBOOK_SHEETS`` sheets, each with its own part;
    - the parts read whole (every part but the sheets, which are read row by row and whose
      cells are counted as they are read) hold at most ``MAX_WORKBOOK_ELEMENTS`` XML
      elements together.
    """
    import zipfile  # noqa: PLC0415 - a CSV or a TOML file never needs it

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {member.filename: member for member in archive.infolist()}
        expanded = sum(member.file_size for member in members.values())
        if expanded > MAX_WORKBOOK_BYTES:
            raise _TooLargeError(
                f"it expands to {expanded:,} bytes (limit {MAX_WORKBOOK_BYTES:,})"
            )
        budget = _ElementBudget()
        types = _xml_part(archive, members, _CONTENT_TYPES, budget)
        workbook, whole = _DEFAULT_WORKBOOK, {_CONTENT_TYPES, _STYLES}
        for override in () if types is None else types.iter():
            kind = override.get("ContentType", "")
            part = override.get("PartName", "").lstrip("/")
            if _local(override.tag) == "Override" and kind in _WORKBOOK_TYPES:
                workbook = part
            if _local(override.tag) == "Override" and kind == _SHARED_STRINGS_TYPE:
                whole.add(part)
        folder, base = posixpath.split(workbook)
        relations = posixpath.join(folder, "_rels", base + ".rels")
        whole |= {workbook, relations}
        book = _xml_part(archive, members, workbook, budget)
        links = _xml_part(archive, members, relations, budget)
        sheets = set(_sheet_parts(book, links, folder)) - whole
        # The other parts are read whole: their elements are counted (not a picture's).
        for name in sorted(members.keys() - sheets - {_CONTENT_TYPES, workbook, relations}):
            if name in whole or name.lower().endswith((".xml", ".rels", ".vml")):
                _xml_part(archive, members, name, budget, parse=False)


#: Sheets a workbook may list (one unit each in a batch; each must have its own part).
MAX_WORKBOOK_SHEETS: Final = 1_000
#: XML elements of the parts of a workbook read whole (styles, shared strings, the list of
#: sheets, relationships, properties): openpyxl makes a Python object of each.
MAX_WORKBOOK_ELEMENTS: Final = 100_000
#: Cells read from a workbook in all, the empty ones a sheet's rows are padded with included.
MAX_WORKBOOK_CELLS: Final = 1_000_000
_CONTENT_TYPES: Final = "[Content_Types].xml"
_DEFAULT_WORKBOOK: Final = "xl/workbook.xml"
_STYLES: Final = "xl/styles.xml"
_SPREADSHEET: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml."
_WORKBOOK_TYPES: Final = frozenset(
    {
        _SPREADSHEET + "sheet.main+xml",
        _SPREADSHEET + "template.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        "application/vnd.ms-excel.template.macroEnabled.main+xml",
    }
)
_SHARED_STRINGS_TYPE: Final = _SPREADSHEET + "sharedStrings+xml"
_CHUNK: Final = 1024 * 1024


class _ElementBudget:
    """The XML elements the parts read whole may hold together."""

    def __init__(self) -> None:
        self.left = MAX_WORKBOOK_ELEMENTS

    def spend(self, name: str, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise _TooLargeError(
                f"{name}: the parts read whole hold more than {MAX_WORKBOOK_ELEMENTS:,} "
                "XML elements (styles, shared strings, sheets listed)"
            )


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def _xml_part(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    name: str,
    budget: _ElementBudget,
    *,
    parse: bool = True,
) -> ET.Element | None:
    """The part *name* parsed (``None`` if absent), its elements counted first.

    Elements are counted on the bytes, a chunk at a time, and counting stops as soon as
    the budget is spent: every ``<`` that opens a start tag (``</``, ``<?``, ``<!`` do not).
    """
    member = members.get(name)
    if member is None or member.is_dir():
        return None
    held: list[bytes] = []
    carry = b""
    with archive.open(member) as stream:
        while chunk := stream.read(_CHUNK):
            text = carry + chunk
            carry = text[-1:] if text.endswith(b"<") else b""
            counted = text[: len(text) - len(carry)]
            opens = counted.count(b"<")
            closes = counted.count(b"</") + counted.count(b"<?") + counted.count(b"<!")
            budget.spend(name, opens - closes)
            if parse:
                held.append(chunk)
    if not parse:
        return None
    from xml.etree import ElementTree as ET  # noqa: PLC0415 - a CSV or a TOML file never needs it

    return ET.fromstring(b"".join(held))  # noqa: S314 - counted above; expat caps entity growth


def _sheet_parts(book: ET.Element | None, links: ET.Element | None, parent: str) -> list[str]:
    """The part of every sheet the workbook lists, refused past the budget or when shared."""
    listed = [] if book is None else [e for e in book.iter() if _local(e.tag) == "sheet"]
    if len(listed) > MAX_WORKBOOK_SHEETS:
        raise _TooLargeError(f"it lists {len(listed):,} sheets (limit {MAX_WORKBOOK_SHEETS:,})")
    targets: dict[str, str] = {}
    for link in () if links is None else links.iter():
        if _local(link.tag) != "Relationship" or link.get("TargetMode") == "External":
            continue
        target = link.get("Target", "")
        # Resolved as openpyxl resolves it: from the root, or from the workbook's folder.
        resolved = target[1:] if target.startswith("/") else posixpath.join(parent, target)
        targets[link.get("Id", "")] = posixpath.normpath(resolved)
    parts: list[str] = []
    seen: set[str] = set()
    for sheet in listed:
        ident = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), "")
        part = targets.get(ident)
        if part is None:
            continue
        if part in seen:
            raise _TooLargeError(f"two sheets share the part {part} (each needs its own)")
        seen.add(part)
        parts.append(part)
    return parts


LABELS = {
    "id": ("编号", "id"),
    "name": ("指标", "name"),
    "weight": ("权重", "weight"),
    "target_text": ("目标值", "target_text"),
    "na": ("不适用（填写原因）", "na"),
}
