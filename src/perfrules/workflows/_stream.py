"""Batches of any size: a CSV or Parquet file of units scored chunk by chunk.

The input is read in chunks of rows (pyarrow), every chunk scored as arrays
(``_table.score_chunk``) and written out before the next is read, so memory holds a few
chunks, whatever the file's size: the totals are counted, not kept (``_summary.Summary``: one
counter a possible total gives the exact mean and median). A scheme with cohort values reads
the file twice: once for the values, once to score. No rank is known before the last unit:
a ranked batch writes each scored chunk's rows to a file beside the output and keeps of each
unit only its ranking keys, as integers (``_ranked.RankedSpill``), then ranks them all and
writes the rows back with their ranks. JSON Lines output explains every unit (one trace per
line) and is written unit by unit too.

Needs the ``frame`` extra; the CLI falls back to the in-memory batch without it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from perfrules._reading import encoding_error
from perfrules.engine import CohortValues, CompiledScheme
from perfrules.errors import Diagnostic, FactsError, Lang
from perfrules.facts import csv_encoding
from perfrules.reports import FORMULA_STARTS, SIGNED_NUMBER
from perfrules.workflows._arrow import (
    bool_array,
    bools,
    has_decimal64,
    narrow_parquet,
    parquet_writer,
    scalar,
    string_array,
    text_bytes,
)
from perfrules.workflows._arrow import valid as valid_rows
from perfrules.workflows._batch import (
    MAX_CELL_BYTES,
    MAX_COLUMNS,
    MAX_HEADER_CELL,
    CsvStyle,
    ErrorsWrite,
    UnitResult,
    _shared_problems,
    _unit_facts,
    _unknown_shared,
    _with_positions,
    check_header,
    error_rows,
    errors_writer,
    placed,
    unit_name,
)
from perfrules.workflows._files import STDOUT, atomic_stream, temporary_file, write_behind
from perfrules.workflows._ranked import SPILL_PREFIX, RankedSpill
from perfrules.workflows._summary import Summary
from perfrules.workflows._table import (
    Chunk,
    Ints,
    NumberedChunk,
    all_cohort_values,
    check_unit_column,
    decimal_type,
    has_nameless,
    numbered,
    readable_table,
    score_chunk,
    table_columns,
)

__all__ = [
    "STREAM_INPUTS",
    "STREAM_OUTPUTS",
    "BadRow",
    "CsvLayout",
    "StreamOutcome",
    "csv_layout",
    "csv_range",
    "csv_range_units",
    "decimal_type",
    "file_version",
    "read_chunks",
    "read_items",
    "result_schema",
    "score_csv_range",
    "score_parquet",
    "stream_batch",
    "write_parquet",
]

#: Inputs read chunk by chunk, and outputs written so.
STREAM_INPUTS: Final = (".csv", ".parquet")
STREAM_OUTPUTS: Final = (".csv", ".parquet", ".jsonl")
#: Rows per chunk: big enough for the arrays to pay, small enough to stay in cache-sized
#: memory (about 10 MB of input text for the seed's 17 indicators).
CHUNK_ROWS: Final = 65_536
#: Failed units kept with their diagnostics for the summary (the file has them all).
_FAILED_SHOWN: Final = 200


@dataclass
class StreamOutcome:
    """What a streamed batch did: counts and the summary, not the units.

    *report* gets every failing unit's problems (the ``--errors`` table), as they come.
    """

    tally: Summary
    failed: list[UnitResult] = field(default_factory=list)
    report: Callable[[str, Iterable[Diagnostic]], None] | None = None

    def fail(self, unit: str, diagnostics: Iterable[Diagnostic]) -> None:
        """Count a unit that failed, keep it for the summary and report its problems."""
        self.tally.add_failure()
        kept = list(diagnostics)
        if len(self.failed) < _FAILED_SHOWN:
            self.failed.append(UnitResult(unit, errors=kept))
        if self.report is not None:
            self.report(unit, kept)

    @property
    def units(self) -> int:
        """Units read (scored or not)."""
        return self.tally.units

    @property
    def failed_count(self) -> int:
        """Units that failed."""
        return self.tally.failed

    @property
    def scored_count(self) -> int:
        """Units that scored."""
        return self.tally.scored

    def summary(self, compiled: CompiledScheme) -> dict[str, Any]:
        """The same summary as an in-memory batch's (:class:`Summary`)."""
        del compiled  # the tally knows its scheme
        return self.tally.to_dict()


# --- reading ----------------------------------------------------------------------------
#: Bytes scanned for the header row; a longer header is refused before it is parsed.
MAX_HEADER_BYTES: Final = 1 << 20
#: A row longer than this is that unit's error, skipped as it is read (never held whole).
MAX_ROW_BYTES: Final = 16 << 20
#: Bytes read at a time: every block ends where a row does. A CSV's chunk is at most a
#: block (about 40,000 seed units): with a chunk being read, one scored and one written at
#: once, memory stays about the same from 100,000 units to millions. Measured on the
#: million-unit batch: 3 MiB is faster than 2 (the calls a chunk makes paid less often)
#: and as fast as 4, which holds a fifth more memory at its peak.
_BLOCK_BYTES: Final = 3 << 20
#: Bytes pyarrow parses at a time (in parallel) within a block read as text.
_PARSE_BYTES: Final = 1 << 20
_QUOTE, _COMMA, _LF, _CR = 0x22, 0x2C, 0x0A, 0x0D


@dataclass(frozen=True)
class BadRow:
    """A row of a CSV that is not a unit: its number (the header is 1) and its problem."""

    number: int
    unit: str
    diagnostic: Diagnostic


#: What a batch file yields: rows of units (with the number of the first), or a bad row.
Item = tuple[pa.Table, int] | BadRow


def _encoding(path: Path) -> str:
    """The file's encoding, decided by the one rule every CSV reading follows."""

    def blocks() -> Iterator[bytes]:
        with path.open("rb") as stream:
            while block := stream.read(_BLOCK_BYTES):
                yield block

    return csv_encoding(blocks)


def _limit(what: str, what_zh: str, limit: str, detail: str, **where: Any) -> Diagnostic:
    params = {"what": what, "what_zh": what_zh, "limit": limit, "detail": detail}
    return Diagnostic("PR418", (), params, **where)


def _record_ends(data: bytes, parity: int = 0) -> Ints:
    """Where each row of *data* ends (just past its line break), quotes taken into account.

    A line break inside a quoted cell does not end the row. *parity* is 1 when *data*
    starts inside quotes. The scan is the one both the header and the rows are cut by.
    Only the line breaks and the quotes are looked at (a row has one break and most rows
    no quote): their positions, not a running count over every byte.
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    breaks: Ints = np.flatnonzero(codes == _LF)
    if data.find(b"\r") >= 0:
        returns = np.flatnonzero(codes == _CR)
        after = returns + 1
        lone = returns[(after >= len(codes)) | (codes[np.minimum(after, len(codes) - 1)] != _LF)]
        if len(lone):
            breaks = np.union1d(breaks, lone)
    if parity or data.find(b'"') >= 0:
        quotes = np.flatnonzero(codes == _QUOTE)
        breaks = breaks[((np.searchsorted(quotes, breaks) + parity) & 1) == 0]
    ends: Ints = breaks + 1
    return ends


def _read_header(stream: Any, path: Path, encoding: str) -> tuple[list[str], int]:
    """The header's column names and the bytes it takes (its line break included)."""
    name = str(path)
    head = stream.read(MAX_HEADER_BYTES + 1)
    ends = _record_ends(head)
    if len(ends):
        size = int(ends[0])
    elif len(head) > MAX_HEADER_BYTES:
        detail = "a header row longer than that cannot be a scheme's columns"
        raise FactsError(
            [_limit("the header", "表头", "1 MiB", detail, file=name, line=1, column=1)]
        )
    else:
        size = len(head)
    raw = head[:size]
    try:
        text = raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        raise FactsError([encoding_error(raw, name, exc)]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        cells = [cell.strip() for cell in next(reader, [])]
    except csv.Error:
        raise FactsError(
            [
                _limit(
                    "a header cell",
                    "表头单元格",
                    f"{MAX_HEADER_CELL:,} characters",
                    "one has more than 131,072",
                    file=name,
                    line=1,
                    column=1,
                )
            ]
        ) from None
    check_header(cells, name)
    return [cell or f"column {i + 1}" for i, cell in enumerate(cells)], size


def read_items(path: Path, rows: int = CHUNK_ROWS, *, numbered: bool = False) -> Iterator[Item]:
    """The units of a wide CSV (every cell as text) or a Parquet file, *rows* at a time.

    Each table of rows comes with the number of its first row (the header is row 1); a row
    that is not a unit (undecodable bytes, more or fewer cells than the header, a cell or a
    row over its budget) is a :class:`BadRow` in its place. A file that cannot be read at
    all (a header over budget, duplicate columns, not Parquet) is a ``FactsError``.

    *numbered*: a CSV's columns that :func:`numbered` numbers in its first block of rows
    come numbered (``dictionary<int32, string>``): the first block once read, the next
    as pyarrow parses them — no faster than numbering text once read (measured), but the
    text and its numbers are never held at once (the million-unit stream's peak: 221 MiB,
    not 259).
    """
    try:
        if path.suffix.lower() == ".parquet":
            yield from _parquet_items(path, rows)
        else:
            yield from _csv_items(path, rows, numbered)
    except (pa.ArrowException, OSError, MemoryError, UnicodeError) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> FactsError:
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return FactsError(
        [Diagnostic("PR105", params={"file": str(path), "reason": reason}, file=str(path))]
    )


def _unit_chunks(path: Path, rows: int) -> Iterator[NumberedChunk]:
    """The tables of :func:`read_items`, each with its first row's number; no bad row."""
    return (item for item in read_items(path, rows) if not isinstance(item, BadRow))


def read_chunks(
    path: Path, rows: int = CHUNK_ROWS, bad_rows: list[Diagnostic] | None = None
) -> Iterator[pa.Table]:
    """The tables of :func:`read_items`; the bad rows' problems go to *bad_rows*."""
    for item in read_items(path, rows):
        if isinstance(item, BadRow):
            if bad_rows is not None:
                bad_rows.append(item.diagnostic)
        else:
            yield item[0]


def _parquet_items(path: Path, rows: int) -> Iterator[Item]:
    source = open_parquet(path)
    number = 1
    for batch in source.iter_batches(batch_size=rows):
        table = readable_table(pa.Table.from_batches([batch]), str(path))
        yield table, number
        number += table.num_rows


def _csv_items(path: Path, rows: int, numbered: bool = False) -> Iterator[Item]:
    encoding = _encoding(path)
    with path.open("rb") as stream:
        names, size = _read_header(stream, path, encoding)
        stream.seek(size)
        reader = _Rows(path, names, encoding, rows, numbered)
        number, offset = 2, size
        for piece in _blocks(stream):
            if isinstance(piece, int):
                detail = f"{piece:,} bytes; its cells are not read"
                problem = _limit(
                    "a row",
                    "一行",
                    f"{MAX_ROW_BYTES >> 20} MiB",
                    detail,
                    file=str(path),
                    line=number,
                    column=1,
                )
                yield BadRow(number, unit_name(None, number), problem)
                number, offset = number + 1, offset + piece
                continue
            block, ends = piece
            yield from reader.items(block, number, offset, ends)
            number += reader.count
            offset += len(block)


def _blocks(stream: Any) -> Iterator[tuple[bytes, Ints] | int]:
    """Whole rows, a block of bytes at a time, with where its rows end.

    The last row's break may be missing at the end of the file. An int (its size) stands
    for a row over budget.
    """
    rest = b""
    skipping: int | None = None  # the quote parity inside a row being skipped
    skipped = 0
    while True:
        new = stream.read(_BLOCK_BYTES)
        if skipping is not None:
            ends = _record_ends(new, skipping)
            if not len(ends):
                skipped += len(new)
                skipping = (skipping + new.count(b'"')) & 1
                if new:
                    continue
                yield skipped
                return
            yield skipped + int(ends[0])
            new, skipping, skipped = new[int(ends[0]) :], None, 0
        ended = not new
        data = rest + new if rest else new
        del new  # the block and what it was read into are not held together
        ends = _record_ends(data)
        if not ended and len(ends) and ends[-1] == len(data) and data.endswith(b"\r"):
            ends = ends[:-1]  # the first half of a CRLF, perhaps: wait for the next byte
        cut = int(ends[-1]) if len(ends) else 0
        if ended:
            cut = len(data)
        rest = data[cut:]
        if cut:
            block = data if cut == len(data) else data[:cut]
            del data  # held while the block is read is the block alone, not a copy too
            yield block, ends
            del block
        else:
            del data
        if ended:
            return
        if len(rest) > MAX_ROW_BYTES:
            skipping, skipped, rest = rest.count(b'"') & 1, len(rest), b""


class _Rows:
    """Rows of a CSV's body, block by block: checked, decoded once, read by pyarrow."""

    def __init__(
        self, path: Path, names: list[str], encoding: str, rows: int, numbered: bool = False
    ) -> None:
        self.path = path
        self.names = names
        self.encoding = encoding
        self.rows = rows
        self.count = 0
        self.unit_at, _ = table_columns(names)
        self.numbered = numbered  # read_items' *numbered*
        #: How pyarrow parses each column from the second block on (the first decides).
        self.parsed: dict[str, pa.DataType] | None = None

    def items(
        self, block: bytes, first: int, offset: int, ends: Ints | None = None
    ) -> Iterator[Item]:
        """The items of one block of whole rows; ``count`` is then its number of rows.

        *ends* are where its rows end (:func:`_record_ends`), when the caller has them.
        """
        if ends is None:
            ends = _record_ends(block)
        if not len(ends) or ends[-1] != len(block):
            ends = np.append(ends, len(block))
        self.count = len(ends)
        whole = self._whole(block, ends)
        if whole is not None:
            # Every row a unit: the table as pyarrow read it, in pieces of *rows*.
            for at in range(0, whole.num_rows, self.rows):
                yield whole.slice(at, self.rows), first + at
            return
        starts = np.concatenate(([0], ends[:-1]))
        codes = np.frombuffer(block, dtype=np.uint8)
        commas = _outside(codes, _COMMA)
        cells = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
        lengths = ends - starts
        blank = set(_blank_rows(block, ends))
        suspects = set(np.flatnonzero(cells != len(self.names)).tolist())
        suspects |= set(np.flatnonzero(lengths > MAX_CELL_BYTES).tolist())
        try:
            text: str | None = block.decode(self.encoding)
        except UnicodeDecodeError:
            text, suspects = None, set(range(len(ends)))
        bad: dict[int, Diagnostic] = {}
        for r in sorted(suspects - blank):
            start, end = int(starts[r]), int(ends[r])
            inner = commas[np.searchsorted(commas, start) : np.searchsorted(commas, end)]
            found = self._check(block[start:end], first + r, offset + start, inner - start)
            if found is not None:
                bad[r] = found
        keep = [r for r in range(len(ends)) if r not in bad and r not in blank]
        body = block
        if bad:
            body, text = b"".join(block[starts[r] : ends[r]] for r in keep), None
        if self.encoding != "utf-8":
            body = (text if text is not None else body.decode(self.encoding)).encode()
        table = self._parse(body, len(keep))
        at = 0  # rows of *table* already given
        run: list[int] = []
        for r in range(len(ends)):
            if r in bad:
                yield from self._run(table, at, run, first)
                at, run = at + len(run), []
                yield self._bad(block[starts[r] : ends[r]], first + r, bad[r])
            elif r not in blank:
                run.append(r)
        yield from self._run(table, at, run, first)

    def _whole(self, block: bytes, ends: Ints) -> pa.Table | None:
        """The block's rows read by pyarrow when every one is a unit, else ``None``.

        The common block: UTF-8, no blank row, no row long enough to hold an oversized
        cell, and pyarrow reads as many rows as the scan found, each with a cell per column
        (pyarrow refuses a row with more or fewer, and bytes that are not UTF-8). Anything
        else goes the careful way, row by row, which finds and places the bad rows.
        """
        if self.encoding != "utf-8" or not len(ends):
            return None
        lengths = np.diff(ends, prepend=0)
        if int(lengths.max()) > MAX_CELL_BYTES:
            return None
        if _blank_rows(block, ends):
            return None  # a blank row: skipped, but it still counts in the row numbers
        quoted = block.find(b'"') >= 0
        if quoted:
            # A quote that pyarrow and the scan read differently (one inside a cell) can
            # change a row's cells: count them as the careful way does.
            codes = np.frombuffer(block, dtype=np.uint8)
            cells = np.diff(np.searchsorted(_outside(codes, _COMMA), ends), prepend=0) + 1
            if (cells != len(self.names)).any():
                return None
        try:
            table = self._read(block, quoted, self.parsed)
        except pa.ArrowInvalid:
            return None
        if table.num_rows != len(ends):
            return None
        if self.numbered and self.parsed is None:
            # The columns numbered in the first block are read numbered from the next on.
            table = numbered(table)
            self.parsed = {
                name: _BYTES_NUMBERED if pa.types.is_dictionary(kind) else kind
                for name, kind in zip(self.names, table.schema.types, strict=True)
            }
        return table

    def _read(
        self, body: bytes, quoted: bool, kinds: dict[str, pa.DataType] | None = None
    ) -> pa.Table:
        """*body* (whole rows, UTF-8) read by pyarrow, every cell as text.

        With *kinds*, a column of ``dictionary<int32, binary>`` is read numbered by its
        distinct cells (:func:`numbered`'s work, done as pyarrow parses), all in one
        piece: pieces would each have their own cells, to be merged. Its cells are then
        checked as UTF-8 once each, not once a row (a tenth of the parse's CPU), and the
        column is a ``dictionary<int32, string>`` as :func:`numbered` makes; a cell that is
        not UTF-8 is refused as pyarrow refuses one in a text column.
        """
        names = self.names
        size = _PARSE_BYTES if kinds is None else len(body) + 1
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=size),
            convert_options=pacsv.ConvertOptions(
                column_types=kinds or dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=quoted),
        )
        if kinds is None:
            return table
        columns = [
            _as_text(column) if column.type == _BYTES_NUMBERED else column
            for column in table.columns
        ]
        return pa.Table.from_arrays(columns, names=names)

    def _run(self, table: pa.Table, at: int, run: list[int], first: int) -> Iterator[Item]:
        """Good rows *run* (rows *at*… of *table*), in tables whose rows are numbered in order."""
        piece: list[int] = []
        for r in run:
            if piece and (r != piece[-1] + 1 or len(piece) == self.rows):
                yield table.slice(at, len(piece)), first + piece[0]
                at += len(piece)
                piece = []
            piece.append(r)
        if piece:
            yield table.slice(at, len(piece)), first + piece[0]

    def _check(self, raw: bytes, number: int, offset: int, commas: Ints) -> Diagnostic | None:
        """The problem of one suspect row, or ``None`` when it is a unit after all.

        *commas* are where the row's cells end (the commas outside quotes, from its start).
        """
        name = str(self.path)
        bounds = [-1, *commas.tolist(), len(raw.rstrip(b"\r\n"))]
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            if b - a - 1 > MAX_CELL_BYTES:
                detail = f"{b - a - 1:,} bytes; the cell is not read"
                where = {"file": name, "line": number, "column": i + 1}
                return _limit("a cell", "单元格", f"{MAX_CELL_BYTES >> 20} MiB", detail, **where)
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            cells = _cells(raw.decode(self.encoding, "surrogateescape"))
            column = next((i + 1 for i, c in enumerate(cells) if _escaped(c)), 1)
            params = {
                "file": name,
                "position": offset + exc.start,
                "byte": f"0x{raw[exc.start]:02X}",
            }
            return Diagnostic("PR108", (), params, file=name, line=number, column=column)
        got = len(bounds) - 1
        if got != len(self.names):
            params = {"got": got, "expected": len(self.names), "text": text.strip()[:80]}
            return Diagnostic("PR417", (), params, file=name, line=number, column=1)
        return None

    def _bad(self, raw: bytes, number: int, problem: Diagnostic) -> BadRow:
        """The row as a unit that failed, named by its unit cell when that can be read."""
        named = ""
        if self.unit_at is not None:
            cells = _cells(raw[:4096].decode(self.encoding, "replace"))
            if self.unit_at < len(cells):
                named = cells[self.unit_at].strip()[:80]
        return BadRow(number, unit_name(named, number), problem)

    def _parse(self, body: bytes, expected: int) -> pa.Table:
        """The rows of *body* (whole, checked rows in UTF-8), every cell as text."""
        names = self.names
        if expected:
            try:
                table = self._read(body, quoted=True)
            except pa.ArrowInvalid:
                table = None
            if table is not None and table.num_rows == expected:
                return table
        # The rows pyarrow would cut otherwise (a quote inside an unquoted cell): each
        # row by the csv module, as it was checked.
        rows = [_cells(line) for line in _split(body, expected)]
        return pa.table(
            {
                n: string_array([r[i] if i < len(r) else "" for r in rows])
                for i, n in enumerate(names)
            }
        )


#: How a numbered column is parsed: its cells as bytes, checked as UTF-8 once each.
_BYTES_NUMBERED: Final = pa.dictionary(pa.int32(), pa.binary())


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    """A ``dictionary<int32, binary>`` column as ``dictionary<int32, string>``, no copy.

    Raises ``pa.ArrowInvalid`` for a cell that is not UTF-8.
    """
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return pa.DictionaryArray.from_arrays(array.indices, array.dictionary.cast(pa.string()))


def _blank_rows(block: bytes, ends: Ints) -> list[int]:
    """The rows of *block* (ending at *ends*) that hold nothing but a line break: not units.

    They are skipped; they still count in the numbers of the lines after them.
    """
    lengths = np.diff(ends, prepend=0)
    short = np.flatnonzero(lengths <= 2).tolist()
    return [r for r in short if not block[int(ends[r] - lengths[r]) : int(ends[r])].strip(b"\r\n")]


# --- a byte range of a CSV (one partition of a file read in parallel) --------------------
@dataclass(frozen=True)
class CsvLayout:
    """What every byte range of one CSV needs: its column names, encoding and sizes.

    *body* is the byte its first row starts at (past the header), *size* the file's bytes.
    """

    path: Path
    names: tuple[str, ...]
    encoding: str
    body: int
    size: int


def csv_layout(path: Path) -> CsvLayout:
    """The header and encoding of a wide CSV, read and checked as :func:`read_items` does."""
    try:
        encoding = _encoding(path)
        with path.open("rb") as stream:
            names, body = _read_header(stream, path, encoding)
        size = path.stat().st_size
    except (OSError, MemoryError, UnicodeError) as exc:
        raise _unreadable(path, exc) from None
    return CsvLayout(path, tuple(names), encoding, body, size)


def csv_range(layout: CsvLayout, start: int, end: int) -> pa.Table:
    """The units whose rows start at a byte in ``[start, end)`` of the file, cells as text.

    Ranges that tile the file give every row once, in order: a row is cut at a line break
    outside quotes. Where the range's first row starts is decided by :func:`_start_parity`
    (the quotes before the range counted when one is near its start). Its rows are read as
    :func:`read_items` reads a block (pyarrow, in parallel, every cell as text). A row that
    is not a unit raises ``FactsError`` with each such row's problem, located at its line:
    the rows before are counted then, on that path only.
    """
    path, body = layout.path, layout.body
    start, end = max(start, body), min(end, layout.size)
    reader = _Rows(path, list(layout.names), layout.encoding, 1 << 62)
    none = pa.table({name: pa.nulls(0, pa.string()) for name in dict.fromkeys(layout.names)})
    if start >= end:
        return none
    try:
        with path.open("rb") as stream:
            counted = _start_parity(stream, layout, start)
            data, ends, over = _range_rows(stream, start, end, counted or 0)
            items = None if over is not None else _range_items(reader, data, ends, start)
            # Taken to start outside quotes: inside after all (a cell over its budget)?
            if (
                counted is None
                and (items is None or _bad(items))
                and _parity(stream, body, start - 1)
            ):
                data, ends, over = _range_rows(stream, start, end, 1)
                items = None if over is not None else _range_items(reader, data, ends, start)
            if over is not None:  # a row over budget, from byte *over* of *data* on
                _refused_range(stream, layout, start - 1 + over, len(data) - over)
            if items is None or _bad(items):
                first = int(ends[0])
                _refused_range(stream, layout, start - 1 + first, None, data[first : ends[-1]])
            tables = [item[0] for item in items if not isinstance(item, BadRow)]
    except (pa.ArrowException, OSError, MemoryError, UnicodeError) as exc:
        raise _unreadable(path, exc) from None
    return pa.concat_tables(tables) if tables else none


def _bad(items: list[Item]) -> bool:
    return any(isinstance(item, BadRow) for item in items)


def _start_parity(stream: Any, layout: CsvLayout, start: int) -> int | None:
    """The quote parity at byte *start* - 1, where a range's first row is looked for.

    0 past the header. Counted (the file read from its header on) when a quote is within a
    cell's budget of *start* - 1. Else ``None``: taken to be outside quotes, nothing before
    the range read. Were it inside a quoted cell after all, that cell would reach from
    before *start* - 1 past every byte looked at: over its budget (``MAX_CELL_BYTES``), an
    error the range the cell's row starts in raises.
    """
    if start <= layout.body:
        return 0
    stop = min(layout.size, start + MAX_CELL_BYTES + 1)
    stream.seek(start - 1)
    if b'"' in stream.read(stop - start + 1):
        return _parity(stream, layout.body, start - 1)
    return None


def csv_range_units(layout: CsvLayout, start: int, end: int) -> int:
    """How many rows :func:`csv_range` gives for the range, most often without reading them.

    The rows that start in the range are the line breaks before them, counted
    (:func:`_line_feeds`) where nothing but a row's end can be a line break: no quote in
    the range (nor a quoted cell around its start, :func:`_start_parity`), no carriage
    return but in a CRLF, no blank row. Else the rows are found as :func:`csv_range`
    finds them, without parsing their cells. A range with a row that is not a unit gives
    a count :func:`csv_range` would refuse: the range raises when it is read.
    """
    path, body = layout.path, layout.body
    start, end = max(start, body), min(end, layout.size)
    if start >= end:
        return 0
    try:
        with path.open("rb", buffering=0) as stream:
            counted = _start_parity(stream, layout, start)
            if counted != 1:
                # A row starts after each line feed at bytes start - 1 to end - 2.
                feeds = _line_feeds(stream, start - 1, end - 1, min(end + 1, layout.size))
                if feeds is not None:
                    return feeds
            data, ends, over = _range_rows(stream, start, end, counted or 0)
    except (OSError, MemoryError) as exc:
        raise _unreadable(path, exc) from None
    if over is not None or len(ends) < 2:
        return max(len(ends) - 1, 0)
    first = int(ends[0])
    rows = ends[1:] - first
    return len(rows) - len(_blank_rows(data[first : int(ends[-1])], rows))


#: Bytes :func:`_line_feeds` looks at a time (its arrays stay in the processor's cache).
_COUNT_BYTES: Final = 1 << 20


def _line_feeds(stream: Any, low: int, high: int, stop: int) -> int | None:
    """The line feeds at bytes ``[low, high)``, when each ends a row; else ``None``.

    Each does when bytes ``[low, stop)`` hold no quote, no carriage return but before a
    line feed, and no blank row (a line feed after a line feed, or after a CRLF). Read a
    piece at a time into one buffer, the last two bytes of each kept before the next.
    """
    buffer = bytearray(_COUNT_BYTES + 2)
    codes = np.frombuffer(buffer, dtype=np.uint8)
    buffer[:2] = b"__"  # no line break before *low* is looked at
    stream.seek(low)
    at, feeds = low, 0
    while at < stop:
        size = stream.readinto(memoryview(buffer)[2 : 2 + min(_COUNT_BYTES, stop - at)])
        if not size:
            break
        if buffer.find(b'"', 2, 2 + size) >= 0:
            return None
        piece = codes[: 2 + size]
        breaks = np.flatnonzero(piece == _LF)
        feeds += int(np.count_nonzero((breaks >= 2) & (breaks < high - at + 2)))
        gaps = np.diff(breaks)
        if (gaps == 1).any():
            return None  # a blank row
        if buffer.find(b"\r", 1, 1 + size) >= 0:
            # Each carriage return looked at where the byte after it is (the last one of a
            # piece with the next): as many as the line feeds after one.
            returns = np.count_nonzero(piece[1 : 1 + size] == _CR)
            if returns != np.count_nonzero(piece[breaks[breaks >= 2] - 1] == _CR):
                return None  # a lone carriage return
            if ((gaps == 2) & (piece[breaks[:-1] + 1] == _CR)).any():
                return None  # a blank row in CRLF
        buffer[:2] = buffer[size : size + 2]
        at += size
    return feeds


class _Careful(Exception):  # noqa: N818 - a signal, not an error
    """A range :func:`_range_tables` does not read as it goes: :func:`csv_range` reads it."""


def _range_tables(layout: CsvLayout, start: int, end: int) -> Iterator[pa.Table]:
    """The rows of :func:`csv_range` (*start*, *end*), a block at a time, each read when taken.

    Numbered as :func:`read_items` numbers a file's blocks. Where the first row starts is
    decided as :func:`csv_range` decides it (:func:`_start_parity`). Raises
    :class:`_Careful` at a row that is not a unit (or a read that fails), for
    :func:`csv_range` to place its problem.
    """
    path, body = layout.path, layout.body
    start, end = max(start, body), min(end, layout.size)
    if start >= end:
        return
    reader = _Rows(path, list(layout.names), layout.encoding, CHUNK_ROWS, numbered=True)
    try:
        with path.open("rb") as stream:
            at = body
            if start > body:
                parity = _start_parity(stream, layout, start) or 0
                _, ends, over = _range_rows(stream, start, start + 1, parity)
                if over is not None:
                    raise _Careful
                if not len(ends):  # inside a row over budget that started before: none
                    return
                at = start - 1 + int(ends[0])
            stream.seek(at)
            for piece in _blocks(stream):
                if at >= end:
                    return
                if isinstance(piece, int):
                    raise _Careful
                block, ends = piece
                if not len(ends) or ends[-1] != len(block):  # the file's last row
                    ends = np.append(ends, len(block))
                # The rows that start before *end*: the first, and those after a row end.
                keep = 1 + int(np.searchsorted(ends[:-1], end - at))
                if keep < len(ends):
                    block, ends = block[: int(ends[keep - 1])], ends[:keep]
                for item in reader.items(block, 0, at, ends):
                    if isinstance(item, BadRow):
                        raise _Careful
                    yield numbered(item[0])
                at += len(block)
    except (pa.ArrowException, OSError, MemoryError, UnicodeError):
        raise _Careful from None


#: Bytes read past a range's end for its last row's end (read on if that row is longer).
_RANGE_TAIL: Final = 1 << 16


def _range_rows(stream: Any, start: int, end: int, parity: int) -> tuple[bytes, Ints, int | None]:
    """Bytes from *start* - 1 on, and where the rows starting in ``[start, end)`` lie in them.

    *parity* is 1 when byte *start* - 1 is inside quotes. The rows run from the first row
    end at or after *start* - 1 to the first at or after *end* (the end of the file ends
    the last row). With the bytes, the ends of the rows (positions in them past each
    row's line break, the first where the first row starts) and where a row over budget
    starts (``None``: none is).
    """
    stream.seek(start - 1)
    wanted = end - start + 1  # data's index of byte *end*
    data = stream.read(wanted + _RANGE_TAIL)  # the last row's end too, most often
    while True:
        ends = _record_ends(data, parity)
        if len(ends) and ends[-1] == len(data) and data.endswith(b"\r"):
            ends = ends[:-1]  # the first half of a CRLF, perhaps: read the next byte
        after = ends[ends >= wanted]
        if len(after):
            cut = int(after[0])
            break
        more = stream.read(_PARSE_BYTES)
        if not more:
            cut = len(data)
            break
        data += more
        if len(data) - wanted > MAX_ROW_BYTES:  # the last row is over budget
            if not len(ends):  # and started before the range: none starts in it
                return data, np.zeros(0, dtype=np.int64), None
            return data, ends[:1], int(ends[-1])
    kept: Ints = ends[ends <= cut] if len(after) else ends
    if not len(kept) or kept[-1] != cut:  # the end of the file ends the last row
        kept = np.append(kept, cut)
    return data, kept, None


def _range_items(reader: _Rows, data: bytes, ends: Ints, start: int) -> list[Item]:
    """The rows of a range (*data* read from *start* - 1, *ends* of :func:`_range_rows`)."""
    if len(ends) < 2:
        return []
    first = int(ends[0])
    return list(reader.items(data[first : int(ends[-1])], 0, start - 1 + first, ends[1:] - first))


def _before(stream: Any, body: int, until: int) -> tuple[int, int]:
    """The quote parity at byte *until* and the rows that end before it, read from *body*."""
    stream.seek(body)
    parity = rows = 0
    left, carry = until - body, b""
    while left > 0:
        piece = stream.read(min(_BLOCK_BYTES, left))
        if not piece:
            break
        left -= len(piece)
        piece, carry = carry + piece, b""
        if left > 0 and piece.endswith(b"\r"):  # a CRLF across two pieces is one break
            piece, carry = piece[:-1], b"\r"
        rows += len(_record_ends(piece, parity))
        parity = (parity + piece.count(b'"')) & 1
    return parity, rows


#: A file as it is now: what :func:`file_version` gives.
FileVersion = tuple[int, int, int, int, int]


def file_version(file: Path | int) -> FileVersion:
    """A file (a path, or an open file's descriptor) as it is now, for what is kept of it.

    Its device, inode, size and times of change: that of its contents and that of its
    status, which no one can set. A file rewritten in place to the same size, its time of
    change put back (``cp -p``) or too coarse to tell (FAT, SMB), is another version.
    """
    facts = os.fstat(file) if isinstance(file, int) else file.stat()
    return (facts.st_dev, facts.st_ino, facts.st_size, facts.st_mtime_ns, facts.st_ctime_ns)


#: Quote parities already counted, per file version (:func:`file_version`):
#: byte → the parity there. The ranges of a file that a process reads each count on from
#: the nearest byte counted before theirs, not from the header: a file quoted throughout
#: is read once over, not once per range (which grew with the square of its size).
_PARITIES: dict[FileVersion, dict[int, int]] = {}
_PARITIES_LOCK: Final = threading.Lock()  # a threaded scheduler's ranges share them
#: Files whose parities are kept (the oldest let go first); bytes kept a file, at most.
_PARITY_FILES: Final = 8
_PARITY_MARKS: Final = 4096


def _parity(stream: Any, body: int, until: int) -> int:
    """The quote parity at byte *until*, read from *body* (:func:`_before` without the rows)."""
    key = file_version(stream.fileno())
    at, parity = body, 0
    with _PARITIES_LOCK:
        for mark, known in _PARITIES.get(key, {}).items():
            if at < mark <= until:
                at, parity = mark, known
    stream.seek(at)
    left = until - at
    while left > 0:
        piece = stream.read(min(_BLOCK_BYTES, left))
        if not piece:
            return parity  # the file is shorter than it was: nothing kept
        left -= len(piece)
        parity = (parity + piece.count(b'"')) & 1
    with _PARITIES_LOCK:
        if key not in _PARITIES:
            while len(_PARITIES) >= _PARITY_FILES:
                del _PARITIES[next(iter(_PARITIES))]
            _PARITIES[key] = {}
        marks = _PARITIES[key]
        if len(marks) < _PARITY_MARKS:
            marks[until] = parity
    return parity


def _refused_range(
    stream: Any, layout: CsvLayout, at: int, oversized: int | None, block: bytes = b""
) -> NoReturn:
    """The problems of a range's rows that are not units, located at their lines: raised."""
    _, before = _before(stream, layout.body, at)
    number = before + 2  # the header is row 1
    if oversized is not None:
        detail = f"{oversized:,} bytes; its cells are not read"
        limit = f"{MAX_ROW_BYTES >> 20} MiB"
        where = {"file": str(layout.path), "line": number, "column": 1}
        raise FactsError([_limit("a row", "一行", limit, detail, **where)])
    reader = _Rows(layout.path, list(layout.names), layout.encoding, 1 << 62)
    bad = [item.diagnostic for item in reader.items(block, number, at) if isinstance(item, BadRow)]
    raise FactsError(bad)


def _outside(codes: Ints, byte: int) -> Ints:
    """Where *byte* occurs in *codes* outside quotes (an even number of quotes before it)."""
    found: Ints = np.flatnonzero(codes == byte)
    quotes = np.flatnonzero(codes == _QUOTE)
    if len(quotes):
        found = found[(np.searchsorted(quotes, found) & 1) == 0]
    return found


def _split(body: bytes, expected: int) -> list[str]:
    ends = _record_ends(body)
    if not len(ends) or ends[-1] != len(body):
        ends = np.append(ends, len(body))
    starts = np.concatenate(([0], ends[:-1]))
    lines = [body[int(a) : int(b)].decode() for a, b in zip(starts, ends, strict=True)]
    return [line for line in lines if line.strip("\r\n")][:expected]


def _cells(text: str) -> list[str]:
    """The cells of one row's text, as the csv module reads them (a whole row, one record)."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return [text]


def _escaped(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


# --- writing ----------------------------------------------------------------------------
#: A text cell that starts as a formula would (``FORMULA_STARTS``), as one pattern, and
#: the first bytes (UTF-8) such a cell can have.
_FORMULA: Final = "^(" + "|".join(re.escape(start) for start in FORMULA_STARTS) + ")"
_FORMULA_BYTES: Final = np.zeros(256, dtype=np.bool_)
_FORMULA_BYTES[[start.encode()[0] for start in FORMULA_STARTS]] = True


def _inert(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text cells that Excel would take as a formula get a leading ``'`` (as ``csv_text``)."""
    if array.null_count == len(array) or not _may_start_formula(array):
        return array
    starts = bools(pc.match_substring_regex(array, _FORMULA))  # a null cell does not
    if starts.any():  # a signed number is no formula (csv_text's rule)
        starts &= ~bools(pc.match_substring_regex(array, SIGNED_NUMBER))
    if not starts.any():
        return array
    quoted = pc.binary_join_element_wise(scalar("'"), array, scalar(""))
    return pc.if_else(bool_array(starts), quoted, array)


def _may_start_formula(array: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a cell may start as a formula would: the pattern is asked only then.

    Told by each cell's first byte (a null cell's too, which can only say yes wrongly).
    """
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    for chunk in chunks:
        codes, offsets = text_bytes(chunk)
        starts = offsets[:-1][offsets[:-1] < offsets[1:]]  # cells of at least one byte
        if _FORMULA_BYTES[codes[starts]].any():
            return True
    return False


def _for_csv(table: pa.Table) -> pa.Table:
    columns = [
        _inert(column) if pa.types.is_string(column.type) else column for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _csv_names(names: Sequence[str]) -> list[str]:
    """The header's names, inert as the cells are (:func:`_inert`)."""
    return [_inert(string_array([name]))[0].as_py() for name in names]


#: A decimal column is written through a table of its texts when its values span at most
#: this many steps (a score between 0 and its weight, a total up to the scheme's max).
_SPAN: Final = 1 << 20


def _csv_header(names: Sequence[str], eol: str) -> bytes:
    """The header row as pyarrow's CSV writer quotes it (every name in quotes)."""
    quoted = ['"' + name.replace('"', '""') + '"' for name in names]
    return (",".join(quoted) + eol).encode()


def _csv_rows(table: pa.Table, eol: str, written: _Written | None = None) -> pa.Buffer | bytes:
    """The rows of *table* as CSV text, the bytes pyarrow's writer gives (quoting "needed").

    Text in quotes (a quote doubled), numbers bare, an empty cell for null. Each column
    becomes texts, each with the comma or line break after it, and where each cell's text
    is among them; one take then lays every row's cells out in order. A decimal column of
    scores has few distinct values: each is written once (by the cast pyarrow's writer
    uses) and taken as often as it occurs. A column of another type is left to pyarrow's
    writer, for the whole table. *written* keeps a decimal's texts for the next chunk.
    """
    n, k = table.num_rows, table.num_columns
    if not n or not k:
        return b""
    texts: list[pa.Array] = []
    order = np.empty((n, k), dtype=np.int64)  # each row's cells, a column at a time
    base = 0
    for at, column in enumerate(table.columns):
        after = eol if at == k - 1 else ","
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        found = _cell_texts(array, after, written)
        if found is None:
            out = io.BytesIO()
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed", eol=eol)
            pacsv.write_csv(table, out, write_options=options)
            return out.getvalue()
        values, index = found
        if index is None:
            order[:, at] = np.arange(base, base + n)
        else:
            np.add(index, base, out=order[:, at])
        texts.append(values)
        base += len(values)
    size = sum(_text_bytes(t) for t in texts)
    kind = pa.string() if size < 2**31 else pa.large_string()
    joined = pa.concat_arrays([t.cast(kind) for t in texts])
    flat = order.ravel()  # already in row order: no copy
    rows = joined.take(pa.Array.from_buffers(pa.int64(), n * k, [None, pa.py_buffer(flat)]))
    wide = np.int32 if kind == pa.string() else np.int64
    offsets = np.frombuffer(rows.buffers()[1], dtype=wide)
    first, last = int(offsets[rows.offset]), int(offsets[rows.offset + n * k])
    return rows.buffers()[2].slice(first, last - first)


def _text_bytes(texts: pa.Array) -> int:
    """The bytes of the texts of a string array (from its offsets)."""
    if not len(texts):
        return 0
    wide = np.int32 if texts.type == pa.string() else np.int64
    offsets = np.frombuffer(texts.buffers()[1], dtype=wide)
    return int(offsets[texts.offset + len(texts)] - offsets[texts.offset])


def _cell_texts(
    array: pa.Array, after: str, written: _Written | None = None
) -> tuple[pa.Array, Ints | None] | None:
    """Texts of *array*'s cells, each followed by *after*, and which is each row's.

    The index is ``None`` when the texts are the rows' own, in order; the whole is
    ``None`` for a type pyarrow's writer has to write. *written*: :func:`_decimal_texts`.
    """
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if array.null_count == len(array):
            return string_array([after]), np.zeros(len(array), dtype=np.int64)
        if (text_bytes(array)[0] == _QUOTE).any():  # a null's bytes can only say yes wrongly
            array = pc.replace_substring(array, '"', '""')
        quoted = pc.binary_join_element_wise(scalar('"'), array, scalar('"' + after), scalar(""))
        return pc.fill_null(quoted, scalar(after)), None
    if pa.types.is_decimal(kind):
        by_index = _decimal_texts(array, after, written)
        if by_index is not None:
            return by_index
    elif not pa.types.is_integer(kind):
        return None
    texts = pc.binary_join_element_wise(pc.cast(array, pa.string()), scalar(after), scalar(""))
    return pc.fill_null(texts, scalar(after)), None


#: Texts of decimal values already written, by type and what follows each: the least
#: value and the texts from it on (the text of a null last).
_Written = dict[tuple[pa.DataType, str], tuple[int, pa.Array]]


def _decimal_texts(
    array: pa.Array, after: str, written: _Written | None = None
) -> tuple[pa.Array, Ints] | None:
    """A decimal128 column as the texts of its span of values (if small) and an index.

    With *written*, the texts of the chunks before are taken again where they cover this
    chunk's span (a score's values, chunk after chunk), and kept for the next.
    """
    n = len(array)
    kind = array.type
    if not pa.types.is_decimal128(kind) or not n:
        return None
    data = array.buffers()[1]
    words = np.frombuffer(data, dtype=np.int64)[2 * array.offset : 2 * (array.offset + n)]
    low, high = words[0::2], words[1::2]
    valid = valid_rows(array)
    present = low[valid] if array.null_count else low
    if not np.array_equal(high[valid] if array.null_count else high, present >> 63):
        return None  # wider than int64
    least = int(present.min()) if len(present) else 0
    top = int(present.max()) + 1 if len(present) else 0
    if top - least > _SPAN:
        return None
    key = (kind, after)
    kept = written.get(key) if written is not None else None
    start, end = (kept[0], kept[0] + len(kept[1]) - 1) if kept is not None else (least, top)
    # The texts kept serve while they are not many more than this chunk's own (every
    # chunk's texts are copied into its rows' table).
    wide = 2 * (top - least) + 1024
    if kept is not None and start <= least and top <= end and end - start <= wide:
        least, texts = kept
    else:
        if max(top, end) - min(least, start) <= wide:  # the texts kept, and this chunk's
            least, top = min(least, start), max(top, end)
        texts = _span_texts(kind, least, top, after)
        if written is not None:
            written[key] = (least, texts)
    index = low - least
    if array.null_count:
        index[~valid] = len(texts) - 1
    return texts, index


def _span_texts(kind: pa.DataType, least: int, top: int, after: str) -> pa.Array:
    """The texts of the decimals *least* .. *top* - 1 (unscaled), then a null's: *after*."""
    span = top - least
    steps = np.arange(least, top, dtype=np.int64)
    every = np.empty(2 * span, dtype=np.int64)
    every[0::2], every[1::2] = steps, steps >> 63
    values = pa.Array.from_buffers(kind, span, [None, pa.py_buffer(every)])
    texts = pc.binary_join_element_wise(pc.cast(values, pa.string()), scalar(after), scalar(""))
    return pa.concat_arrays([texts, string_array([after])])


def result_schema(compiled: CompiledScheme, schema: pa.Schema, parquet: bool = False) -> pa.Schema:
    """*schema* with every decimal column as wide as :func:`decimal_type` says.

    For a *parquet* file, a column of 18 digits is a ``decimal64`` where the writer takes
    one (:func:`narrow_parquet`): the same columns and values read back, written faster;
    the chunks are then scored into such columns (``has_decimal64`` of the schema).
    """
    narrow = parquet and narrow_parquet(schema)
    fields = [
        field.with_type(decimal_type(compiled, field.type.scale, narrow))
        if pa.types.is_decimal(field.type)
        else field
        for field in schema
    ]
    return pa.schema(fields)


class _Writer:
    """Writes result tables to the target, in its format, every chunk in *schema*."""

    def __init__(self, stream: Any, suffix: str, schema: pa.Schema, style: CsvStyle) -> None:
        self.stream = stream
        self.suffix = suffix
        self.inner: Any = None
        self.schema = schema
        self.style = style
        self.started = False
        self.written: _Written = {}  # a decimal column's texts, for the chunks after
        self.behind = 0  # the bytes the system was asked to write to disk

    def write(self, table: pa.Table) -> None:
        # Every chunk in the scheme's types (a column of nulls only is cast to them).
        table = table.cast(self.schema)
        if self.suffix == ".csv":
            table = _for_csv(table)
            if not self.started:
                self.stream.write(self.style.prefix.encode())
                names = _csv_names(table.column_names)
                self.stream.write(_csv_header(names, self.style.eol))
                self.started = True
            self.stream.write(_csv_rows(table, self.style.eol, self.written))
        else:
            if self.inner is None:
                self.inner = parquet_writer(self.stream, self.schema)
            self.inner.write_table(table)
        self.behind = write_behind(self.stream, self.behind)

    def close(self) -> None:
        if self.inner is not None:
            inner, self.inner = self.inner, None
            inner.close()

    def abandon(self) -> None:
        """A writer left by a failure closed while its file is open (it is removed after).

        Left to the garbage collector, pyarrow's writer would close into a closed file.
        """
        with contextlib.suppress(Exception):
            self.close()


# --- the batch --------------------------------------------------------------------------
_T = TypeVar("_T")
#: Chunks read ahead of the one being scored, and written behind it: one keeps the three
#: threads busy (a second held more memory at a million units, for no speed).
_AHEAD: Final = 1


def _ahead(items: Iterator[_T], depth: int = _AHEAD) -> Iterator[_T]:
    """*items* (never ``None``), taken by another thread up to *depth* ahead of their use.

    pyarrow and numpy let go of the interpreter while they parse and compute, so the next
    block is read while this one is scored: two cores do the work of one batch. At most
    *depth* items wait, so memory still holds a few chunks, whatever the file's size.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="perfrules-read") as pool:
        pending: deque[Future[_T | None]] = deque(
            pool.submit(next, items, None) for _ in range(depth)
        )
        try:
            while (item := pending.popleft().result()) is not None:
                pending.append(pool.submit(next, items, None))
                yield item
                del item  # not held while the next one is waited for
        finally:
            for waiting in pending:
                waiting.cancel()
    close = getattr(items, "close", None)
    if close is not None:
        close()


class _Behind:
    """A writer's calls made in order by another thread, at most *depth* waiting.

    A failure (a full disk) is raised by the next call, or by :meth:`finish`.
    """

    def __init__(self, writer: _Writer, depth: int = _AHEAD) -> None:
        self.writer = writer
        self.depth = depth
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perfrules-write")
        self.pending: deque[Future[None]] = deque()

    def write(self, table: pa.Table) -> None:
        while len(self.pending) >= self.depth:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(self.writer.write, table))

    def finish(self) -> None:
        """Wait for every write, then close the writer (a Parquet footer)."""
        try:
            while self.pending:
                self.pending.popleft().result()
            self.writer.close()
        finally:
            self.stop()

    def stop(self) -> None:
        """No more calls: those waiting cancelled, the writer closed if it was not."""
        for waiting in self.pending:
            waiting.cancel()
        self.pool.shutdown(wait=True)
        self.writer.abandon()


def write_parquet(target: Path, schema: pa.Schema, tables: Iterable[pa.Table]) -> int:
    """Result tables written to the Parquet file *target* as *tables* makes them; its rows.

    Each table is written (a row group, in *schema*'s types) by another thread while the
    next is made: a generator that scores the next piece of a partition scores it while
    pyarrow writes this one, as :func:`stream_batch` does. No table: a file of no rows,
    with the columns. *target* is written atomically.
    """
    rows = 0
    with atomic_stream(target) as stream:
        writer = _Behind(_Writer(stream, ".parquet", schema, CsvStyle()))
        try:
            for table in tables:
                writer.write(table)
                rows += table.num_rows
            if not rows:
                writer.write(_empty(schema))
            writer.finish()
        finally:
            writer.stop()
    return rows


def score_parquet(
    compiled: CompiledScheme,
    table: pa.Table,
    values: CohortValues | None,
    target: Path,
    schema: pa.Schema,
    *,
    offset: int | Callable[[], int] = 0,
    rows: int = CHUNK_ROWS,
) -> int:
    """*table*'s units scored into the Parquet file *target* (in *schema*); its rows.

    The pipeline of :func:`stream_batch` over a table in memory: a piece of *rows* is
    numbered (:func:`numbered`) by another thread while this one is scored, and written
    by a third while the next is scored, so one call keeps the cores busy. The rows are
    numbered from *offset* (``table:ROW:COLUMN`` in diagnostics counts from *offset* + 1), or
    from a function counting the rows before, called if a unit fails (:func:`_score_pieces`).
    """
    pieces = (table.slice(at, rows) for at in range(0, table.num_rows, rows))
    return _score_pieces(
        compiled, _ahead(numbered(piece) for piece in pieces), values, target, schema, offset
    )


def _score_pieces(
    compiled: CompiledScheme,
    pieces: Iterator[pa.Table],
    values: CohortValues | None,
    target: Path,
    schema: pa.Schema,
    offset: int | Callable[[], int],
) -> int:
    """*pieces* scored (rows numbered from *offset*) into the Parquet file *target*; its rows.

    *offset* may be a function that counts the rows before the pieces: it is called when
    a unit first fails (its problems name its row, ``table:ROW:COLUMN``) and that piece's
    problems are moved down (``Chunk.moved_down``), or before a piece with a unit named by
    its row (``row N``, ``unit_name``) is scored: the only cells that depend on the
    number. Until then the rows are numbered from 0. Cohort values (kept by row) take the
    number at once.
    """
    before = offset if callable(offset) else None
    first = 0 if callable(offset) else offset
    if before is not None and values is not None:
        first, before = before(), None

    scored_narrow = has_decimal64(schema)

    def results() -> Iterator[pa.Table]:
        nonlocal before
        at = first
        for piece in pieces:
            if before is not None and has_nameless(piece):
                rows, before = before(), None
                at += rows
            chunk = score_chunk(
                compiled, piece, values, offset=at, first_row=at + 1, narrow=scored_narrow
            )
            table = chunk.table
            if chunk.failures and before is not None:
                rows, before = before(), None
                table, at = chunk.moved_down(rows), at + rows
            yield table
            at += piece.num_rows

    return write_parquet(target, schema, results())


def score_csv_range(
    compiled: CompiledScheme,
    layout: CsvLayout,
    start: int,
    end: int,
    values: CohortValues | None,
    target: Path,
    schema: pa.Schema,
    *,
    offset: int | Callable[[], int] = 0,
) -> int:
    """The units of :func:`csv_range` (*start*, *end*) scored into the Parquet file *target*.

    As :func:`stream_batch` scores a file: a block of the range is read, parsed and
    numbered by one thread while the last is scored, and written by another, so reading
    overlaps scoring and writing (one process's pipeline, over a byte range). The rows
    and results are those of :func:`score_parquet` of :func:`csv_range`, which a range is
    scored by when it cannot be read as it goes (a row that is not a unit: its problem
    raised as ``csv_range`` raises it, located at its line). *offset*: the rows before
    the range, or a function counting them, called only if a unit fails.
    """
    try:
        tables = _ahead(_range_tables(layout, start, end))
        return _score_pieces(compiled, tables, values, target, schema, offset)
    except _Careful:
        table = csv_range(layout, start, end)
        return score_parquet(compiled, table, values, target, schema, offset=offset)


def stream_batch(
    compiled: CompiledScheme,
    source: Path,
    target: Path,
    *,
    rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    style: CsvStyle | None = None,
    errors: Path | None = None,
    lang: Lang = "en",
) -> StreamOutcome:
    """Score every unit of *source* (.csv, .parquet) into *target* (.csv, .parquet, .jsonl).

    *target* ``-`` is CSV on standard output; *style* is how a CSV is written. With
    *errors*, every failing unit's problems are written there too, as they come, as the
    in-memory batch's errors table (``ERROR_COLUMNS``; messages and hints in *lang*).

    The target is written atomically: until the end it keeps its old contents. A row that
    is not a unit (:class:`BadRow`) is written in its place with its problem.
    """
    with contextlib.ExitStack() as files:
        report = None
        if errors is not None:
            write = files.enter_context(errors_writer(errors, style))
            report = partial(_report, write, lang)
        return _stream_batch(compiled, source, target, rows, progress, style, report)


def _report(write: ErrorsWrite, lang: Lang, unit: str, diagnostics: Iterable[Diagnostic]) -> None:
    write(error_rows(unit, diagnostics, lang))


def _stream_batch(
    compiled: CompiledScheme,
    source: Path,
    target: Path,
    rows: int,
    progress: Callable[[int], None] | None,
    style: CsvStyle | None,
    report: Callable[[str, Iterable[Diagnostic]], None] | None,
) -> StreamOutcome:
    suffix = ".csv" if str(target) == STDOUT else target.suffix.lower()
    values = (
        all_cohort_values(compiled, lambda: _unit_chunks(source, rows))
        if _cohort(compiled)
        else None
    )
    outcome = StreamOutcome(Summary(compiled), report=report)
    with atomic_stream(target) as stream, contextlib.ExitStack() as files:
        empty = score_chunk(compiled, _no_rows(source), values).with_ranks({})
        schema = result_schema(compiled, empty.schema, parquet=suffix == ".parquet")
        narrow = has_decimal64(schema)  # the chunks scored into the schema's decimal64
        writer = _Behind(_Writer(stream, suffix, schema, style or CsvStyle()))
        files.callback(writer.stop)
        spill = (
            files.enter_context(_spill(compiled, schema, target))
            if compiled.scheme.ranking is not None and suffix != ".jsonl"
            else None
        )
        offset = 0
        items = read_items(source, rows, numbered=suffix != ".jsonl")
        for item in _ahead(items if suffix == ".jsonl" else _numbered(items)):
            if isinstance(item, BadRow):
                _count_bad(item, outcome)
                if suffix == ".jsonl":
                    _bad_line(item, stream)
                elif spill is not None:
                    spill.add(_bad_table(item, schema).drop_columns(["rank"]))
                else:
                    writer.write(_bad_table(item, schema))
                continue
            chunk_table, number = item
            if suffix == ".jsonl":
                # *first_row* is added to a row's position among all rows read
                first_row = number - offset
                _explain_chunk(
                    compiled, chunk_table, values, stream, outcome, offset, first_row, str(source)
                )
            else:
                chunk = score_chunk(
                    compiled,
                    chunk_table,
                    values,
                    offset=offset,
                    first_row=number,
                    label=str(source),
                    narrow=narrow,
                )
                _count(chunk, outcome)
                if spill is not None:
                    spill.add(chunk.table, chunk.rankable, offset)
                else:
                    writer.write(chunk.table)
                del chunk
            offset += chunk_table.num_rows
            del item, chunk_table  # the rows read are let go before the next are waited for
            if progress is not None:
                progress(outcome.units)
        if spill is not None:
            # Every unit's keys are in: rank them all, then write the rows spilled.
            for table in spill.tables():
                writer.write(table)
        if outcome.units == 0 and suffix != ".jsonl":
            # No unit at all: still a file with the columns (a header, a Parquet schema).
            writer.write(_empty(schema))
        writer.finish()
    return outcome


@contextlib.contextmanager
def _spill(compiled: CompiledScheme, schema: pa.Schema, target: Path) -> Iterator[RankedSpill]:
    """Where a ranked stream's results wait for their ranks: a file beside the output.

    The file is removed whatever happens, an interrupt while it is being made included.
    """
    folder = Path(tempfile.gettempdir()) if str(target) == STDOUT else target.resolve().parent
    # Only this process reads it: 0600, whatever the mode of the output it becomes part of.
    with temporary_file(folder, SPILL_PREFIX, ".arrows", 0o600) as (stream, path):
        stream.close()  # the spill writes it through Arrow's own file
        with RankedSpill(compiled, schema.remove(schema.get_field_index("rank")), path) as spill:
            yield spill


def _numbered(items: Iterator[Item]) -> Iterator[Item]:
    """*items* with their text columns numbered (``_table.numbered``), as they are read."""
    with contextlib.closing(items):  # type: ignore[type-var]
        for item in items:
            yield item if isinstance(item, BadRow) else (numbered(item[0]), item[1])


def _empty(schema: pa.Schema) -> pa.Table:
    """A table of no rows (one empty chunk a column: pyarrow fills in none from Python)."""
    return pa.Table.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def _count_bad(item: BadRow, outcome: StreamOutcome) -> None:
    outcome.fail(item.unit, [item.diagnostic])


def _bad_table(item: BadRow, schema: pa.Schema) -> pa.Table:
    """A row that is not a unit, as a result row: its name and its problem."""
    row = {"unit": item.unit, "errors": item.diagnostic.format("en")}
    columns = [
        string_array([row[f.name]]) if f.name in row else pa.nulls(1, f.type) for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _bad_line(item: BadRow, stream: Any) -> None:
    line = {"unit": item.unit, "errors": [item.diagnostic.to_dict("en")]}
    stream.write((json.dumps(line, ensure_ascii=False) + "\n").encode())


def _no_rows(source: Path) -> pa.Table:
    """An empty table with the columns of *source*."""
    if source.suffix.lower() == ".parquet":
        try:
            return _empty(open_parquet(source).schema_arrow)
        except (pa.ArrowException, UnicodeError) as exc:
            raise _unreadable(source, exc) from None
    try:
        with source.open("rb") as stream:
            names, _ = _read_header(stream, source, _encoding(source))
    except OSError as exc:
        raise _unreadable(source, exc) from None
    return pa.table({name: pa.nulls(0, pa.string()) for name in names})


#: Bytes one Parquet page may expand to, and values a dictionary page may hold: a page is
#: decoded whole, so a 1 KB file could otherwise ask for gigabytes.
MAX_PAGE_BYTES: Final = 64 << 20
MAX_DICTIONARY_VALUES: Final = 1 << 20
#: Bytes of a Parquet file's footer (its schema and row groups).
MAX_FOOTER_BYTES: Final = 16 << 20


def open_parquet(path: Path) -> pq.ParquetFile:
    """A Parquet file to read units from, its columns and pages checked before any row is read.

    Every page header is read (without its data) and a page that would expand past
    :data:`MAX_PAGE_BYTES`, or a dictionary of more than :data:`MAX_DICTIONARY_VALUES`
    values, refuses the file (``PR418``) before pyarrow allocates for it.
    """
    try:
        source = pq.ParquetFile(
            path,
            thrift_string_size_limit=MAX_FOOTER_BYTES,
            thrift_container_size_limit=MAX_COLUMNS * 16,
        )
        names = source.schema_arrow.names
        _check_pages(path, names)
    except (pa.ArrowException, OSError, MemoryError, UnicodeError) as exc:
        # A damaged footer can hold names that are not UTF-8, or sizes nothing can hold.
        raise _unreadable(path, exc) from None
    check_header(names, str(path))
    unit_at, _ = table_columns(names)
    if unit_at is not None:
        field = source.schema_arrow.field(unit_at)
        check_unit_column(field.type, field.name, str(path))
    return source


def _check_pages(path: Path, names: list[str]) -> None:
    """Refuse a page or a dictionary over budget, from the footer and the page headers alone.

    The footer is read here too (Thrift compact), not through pyarrow's metadata objects:
    a damaged footer can make those abort the process where the reader itself raises.
    """
    name = str(path)
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        stream.seek(max(size - 8, 0))
        tail = stream.read(8)
        length = int.from_bytes(tail[:4], "little")
        if size < 12 or tail[4:] != b"PAR1" or length > min(MAX_FOOTER_BYTES, size - 12):
            msg = "not a Parquet file, or its footer is damaged"
            raise pa.ArrowInvalid(msg)
        stream.seek(size - 8 - length)
        footer, _ = read_thrift(stream.read(length))
        for group in _items_of(footer.get(4)):
            for at, chunk in enumerate(_items_of(group.get(1))):
                meta = chunk.get(3) if isinstance(chunk, dict) else None
                if not isinstance(meta, dict):
                    continue  # a column in another file: pyarrow refuses it
                column = names[at] if at < len(names) else f"column {at + 1}"
                where = {"file": name, "column": at + 1}
                _check_chunk(stream, meta, column, where)


def _items_of(value: Any) -> list[dict[int, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _check_chunk(stream: Any, meta: dict[int, Any], column: str, where: dict[str, Any]) -> None:
    """Walk one column chunk's page headers (``ColumnMetaData`` fields 7, 9 and 11)."""
    first, dictionary_at, total = meta.get(9), meta.get(11), meta.get(7)
    if not isinstance(first, int) or not isinstance(total, int):
        msg = f"a damaged footer for column '{column}'"
        raise pa.ArrowInvalid(msg)
    start: int = first
    if isinstance(dictionary_at, int) and dictionary_at > 0:
        start = min(start, dictionary_at)
    end = start + total
    while start < end:
        stream.seek(start)
        header, size = read_thrift(stream.read(_PAGE_HEADER_BYTES))
        dictionary = header.get(7)
        expanded = header.get(2, 0)
        stored = header.get(3, 0)
        values = dictionary.get(1, 0) if isinstance(dictionary, dict) else 0
        if not all(type(v) is int for v in (expanded, stored, values)) or stored < 0:
            msg = f"a damaged page header in column '{column}'"
            raise pa.ArrowInvalid(msg)
        if not 0 <= expanded <= MAX_PAGE_BYTES:
            detail = f"a page of column '{column}' would expand to {expanded:,} bytes"
            raise FactsError(
                [_limit("a Parquet page", "Parquet 数据页", "64 MiB", detail, **where)]
            )
        if not 0 <= values <= MAX_DICTIONARY_VALUES:
            detail = f"column '{column}' has a dictionary of {values:,} values"
            limit = f"{MAX_DICTIONARY_VALUES:,} values"
            problem = _limit("a Parquet dictionary", "Parquet 字典", limit, detail, **where)
            raise FactsError([problem])
        start += size + stored


#: Bytes read for one page header (its statistics may hold a min and a max value).
_PAGE_HEADER_BYTES: Final = 1 << 16


def read_thrift(data: bytes) -> tuple[dict[int, Any], int]:
    """A Thrift compact-protocol struct from the start of *data*, and the bytes it took.

    Integers, bytes, lists and nested structs are kept by field id; maps and doubles are
    skipped. Enough to read a Parquet footer and page headers without reading any page.
    """
    at = 0

    def byte() -> int:
        nonlocal at
        if at >= len(data):
            msg = "a page header cut short"
            raise pa.ArrowInvalid(msg)
        at += 1
        return data[at - 1]

    def varint() -> int:
        value = shift = 0
        while True:
            b = byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 70:
                msg = "a varint too long in a page header"
                raise pa.ArrowInvalid(msg)

    def zigzag() -> int:
        n = varint()
        return (n >> 1) ^ -(n & 1)

    def value(kind: int, depth: int) -> Any:
        nonlocal at
        if depth > 32:
            msg = "a footer or page header nested too deeply"
            raise pa.ArrowInvalid(msg)
        if kind in (1, 2):
            return kind == 1
        if kind == 3:
            return byte()
        if kind in (4, 5, 6):
            return zigzag()
        if kind == 7:
            at += 8
            return None
        if kind == 8:
            length = varint()  # read before *at* moves past the text
            at += length
            return data[at - length : at]
        if kind in (9, 10):
            head = byte()
            count = head >> 4 if head >> 4 != 15 else varint()
            if count > len(data):
                msg = "a list longer than its bytes"
                raise pa.ArrowInvalid(msg)
            if head & 0x0F in (1, 2):  # a bool in a list takes a byte of its own
                return [byte() == 1 for _ in range(count)]
            return [value(head & 0x0F, depth + 1) for _ in range(count)]
        if kind == 11:
            count = varint()
            if count:
                types = byte()
                for _ in range(count):
                    value(types >> 4, depth + 1)
                    value(types & 0x0F, depth + 1)
            return None
        if kind == 12:
            return struct(depth + 1)
        msg = f"an unknown type {kind} in a page header"
        raise pa.ArrowInvalid(msg)

    def struct(depth: int) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = byte()
            if head == 0:
                return fields
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else zigzag()
            fields[last] = value(kind, depth)

    found = struct(0)
    if at > len(data):
        msg = "a page header cut short"
        raise pa.ArrowInvalid(msg)
    return found, at


def _cohort(compiled: CompiledScheme) -> bool:
    return compiled.plan.has_cohort


def _count(chunk: Chunk, outcome: StreamOutcome) -> None:
    """Add a chunk's units to the summary."""
    for row in sorted(chunk.failures):
        outcome.fail(chunk.unit(row), chunk.failures[row].diagnostics)
    totals = chunk.totals[chunk.scored]
    if chunk.scale is not None and totals.dtype != object:
        outcome.tally.add_totals(chunk.grades, totals, chunk.lost)
    else:
        outcome.tally.add_chunk(
            chunk.grades, totals if chunk.scale is not None else totals.tolist(), chunk.lost
        )


def _explain_chunk(
    compiled: CompiledScheme,
    table: pa.Table,
    values: CohortValues | None,
    stream: Any,
    outcome: StreamOutcome,
    offset: int,
    first_row: int,
    label: str,
) -> None:
    """JSON Lines: every unit of the chunk with its whole trace, one line each."""
    if compiled.scheme.ranking is not None:
        msg = "a ranking needs every unit's total: write .csv or .parquet, then explain a unit"
        params = {"key": "--out", "detail": msg, "detail_zh": msg}
        raise FactsError([Diagnostic("PR107", (), params)])
    names = [str(c) for c in table.column_names]
    unit_at, _ = table_columns(names)
    unknown = _unknown_shared(names, compiled)
    rows = table.to_pylist()
    lines = []
    for r, row in enumerate(rows):
        position = offset + r
        named = row.get(names[unit_at]) if unit_at is not None else None
        unit = unit_name(named, position + first_row)
        cells = {k: ("" if v is None else v) for k, v in row.items()}
        where = (label, position + first_row)
        try:
            refused = _shared_problems(cells, unknown, where) if unknown else None
            if refused is not None:
                raise refused
            data, columns = _unit_facts(cells, compiled)
            facts = _with_positions(data, columns, where, unit)
            failed = values.problems.get(position) if values is not None else None
            if failed is not None:
                raise placed(failed, facts)
            result = compiled.evaluate(facts, cohort=values)
        except FactsError as exc:
            outcome.fail(unit, exc.diagnostics)
            errors = [d.to_dict("en") for d in exc.diagnostics]
            lines.append(json.dumps({"unit": unit, "errors": errors}, ensure_ascii=False))
            continue
        outcome.tally.add(result)
        assert result.trace is not None  # noqa: S101
        trace = json.loads(result.trace.to_json())
        lines.append(json.dumps({"unit": unit, "trace": trace}, ensure_ascii=False))
    stream.write(("\n".join(lines) + "\n").encode())
