"""Batches of any size: a CSV or Parquet file of units scored chunk by chunk.

The input is read in chunks of rows (pyarrow), every chunk scored as arrays
(``_table.score_chunk``) and written out before the next is read, so memory holds one chunk
and the per-unit totals (8 bytes a unit, for the median). A scheme with cohort values reads
the file twice: once for the values, once to score. A ranking needs every unit's total before
any rank is known: its chunks are kept until the end (memory grows with the file). JSON Lines
output explains every unit (one trace per line) and is written unit by unit too.

Needs the ``frame`` extra; the CLI falls back to the in-memory batch without it.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from perfrules.engine import CohortValues, CompiledScheme
from perfrules.errors import Diagnostic, FactsError
from perfrules.reports._safe import FORMULA_STARTS
from perfrules.workflows._batch import UnitResult, _unit_facts, _with_positions
from perfrules.workflows._files import atomic_stream
from perfrules.workflows._summary import Summary
from perfrules.workflows._table import (
    Chunk,
    cohort_pass,
    rank_rows,
    score_chunk,
    table_columns,
)

__all__ = ["STREAM_INPUTS", "STREAM_OUTPUTS", "StreamOutcome", "read_chunks", "stream_batch"]

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
    """What a streamed batch did: counts and the summary, not the units."""

    tally: Summary
    failed: list[UnitResult] = field(default_factory=list)

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
def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) unless the start of the file is not; then GB18030."""
    with path.open("rb") as stream:
        head = stream.read(1 << 20)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _header(path: Path, encoding: str) -> list[str]:
    with path.open(encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as f:
        return [cell.strip() for cell in next(csv.reader(f), [])]


def read_chunks(
    path: Path, rows: int = CHUNK_ROWS, bad_rows: list[Diagnostic] | None = None
) -> Iterator[pa.Table]:
    """The units of a wide CSV (every cell as text) or a Parquet file, *rows* at a time.

    A CSV row with more or fewer cells than the header is skipped and reported in
    *bad_rows* (PR417); a file pyarrow cannot read at all is a ``FactsError`` (PR105).
    """
    try:
        yield from _chunks(path, rows, bad_rows)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise FactsError(
            [Diagnostic("PR105", params={"file": str(path), "reason": reason}, file=str(path))]
        ) from None


def _chunks(path: Path, rows: int, bad_rows: list[Diagnostic] | None) -> Iterator[pa.Table]:
    if path.suffix.lower() == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield pa.Table.from_batches([batch])
        return
    encoding = _encoding(path)
    header = _header(path, encoding)
    # Column names given, the header row skipped: a BOM or a duplicate name cannot confuse
    # the reader, and every cell stays text (read exactly by the facts grammar, never as a
    # float).
    names = [name or f"column {i + 1}" for i, name in enumerate(header)]

    def skip(row: Any) -> str:
        if bad_rows is not None:
            params = {
                "got": row.actual_columns,
                "expected": row.expected_columns,
                "text": row.text[:80],
            }
            bad_rows.append(Diagnostic("PR417", (), params, file=str(path)))
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=names, skip_rows=1, encoding=encoding, block_size=1 << 23
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
    )
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


# --- writing ----------------------------------------------------------------------------
def _inert(array: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Text cells that Excel would take as a formula get a leading ``'`` (as ``csv_text``)."""
    if array.null_count == len(array):
        return array
    starts = None
    for prefix in FORMULA_STARTS:
        hit = pc.starts_with(array, prefix)
        starts = hit if starts is None else pc.or_(starts, hit)
    quoted = pc.binary_join_element_wise("'", array, "")
    return pc.if_else(pc.fill_null(starts, fill_value=False), quoted, array)


def _for_csv(table: pa.Table) -> pa.Table:
    columns = [
        _inert(column) if pa.types.is_string(column.type) else column for column in table.columns
    ]
    names = [_inert(pa.array([name]))[0].as_py() for name in table.column_names]
    return pa.table(columns, names=names)


class _Writer:
    """Writes result tables to the target, in its format."""

    def __init__(self, stream: Any, suffix: str) -> None:
        self.stream = stream
        self.suffix = suffix
        self.inner: Any = None
        self.schema: Any = None

    def write(self, table: pa.Table) -> None:
        if self.suffix == ".csv":
            table = _for_csv(table)
            if self.inner is None:
                self.stream.write("\ufeff".encode())  # Excel reads UTF-8 with a BOM
                self.schema = table.schema
                self.inner = pacsv.CSVWriter(
                    self.stream,
                    table.schema,
                    write_options=pacsv.WriteOptions(quoting_style="needed"),
                )
        elif self.inner is None:
            self.schema = table.schema
            self.inner = pq.ParquetWriter(self.stream, table.schema)
        # Every chunk in the first chunk's types (a column of nulls only is cast to them).
        self.inner.write_table(table.cast(self.schema))

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


# --- the batch --------------------------------------------------------------------------
def stream_batch(
    compiled: CompiledScheme,
    source: Path,
    target: Path,
    *,
    rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> StreamOutcome:
    """Score every unit of *source* (.csv, .parquet) into *target* (.csv, .parquet, .jsonl).

    The target is written atomically: until the end it keeps its old contents.
    """
    suffix = target.suffix.lower()
    first_row = 2 if source.suffix.lower() == ".csv" else 1
    values = cohort_pass(compiled, read_chunks(source, rows)) if _cohort(compiled) else None
    outcome = StreamOutcome(Summary(compiled))
    kept: list[Chunk] = []
    bad: list[Diagnostic] = []
    with atomic_stream(target) as stream:
        writer = _Writer(stream, suffix)
        offset = 0
        for chunk_table in read_chunks(source, rows, bad):
            if suffix == ".jsonl":
                _explain_chunk(
                    compiled, chunk_table, values, stream, outcome, offset, first_row, str(source)
                )
            else:
                chunk = score_chunk(
                    compiled,
                    chunk_table,
                    values,
                    offset=offset,
                    first_row=offset + first_row,
                    label=str(source),
                )
                _count(chunk, outcome)
                if chunk.ranked:
                    kept.append(chunk)
                else:
                    writer.write(chunk.table)
            offset += chunk_table.num_rows
            if progress is not None:
                progress(offset)
        if kept:
            ranks = rank_rows(compiled, (row for chunk in kept for row in chunk.rankable))
            start = 0
            for chunk in kept:
                writer.write(chunk.with_ranks(ranks, start))
                start += chunk.table.num_rows
        if offset == 0 and suffix != ".jsonl":
            # No unit at all: still a file with the columns (a header, a Parquet schema).
            empty = score_chunk(compiled, _no_rows(source), values)
            writer.write(empty.with_ranks({}))
        writer.close()
    # Rows whose cells do not match the header were skipped: each is a unit that failed.
    outcome.tally.add_failure(len(bad))
    for problem in bad[:_FAILED_SHOWN]:
        outcome.failed.append(UnitResult(f"({problem.params['text']})", errors=[problem]))
    return outcome


def _no_rows(source: Path) -> pa.Table:
    """An empty table with the columns of *source*."""
    if source.suffix.lower() == ".parquet":
        return pq.ParquetFile(source).schema_arrow.empty_table()
    names = _header(source, _encoding(source))
    return pa.table({name: pa.array([], type=pa.string()) for name in names})


def _cohort(compiled: CompiledScheme) -> bool:
    return compiled.scheme.cohort is not None or compiled.scheme.ranking is not None


def _count(chunk: Chunk, outcome: StreamOutcome) -> None:
    """Add a chunk's units to the summary."""
    table = chunk.table
    outcome.tally.add_failure(len(chunk.failures))
    for row, error in chunk.failures.items():
        if len(outcome.failed) < _FAILED_SHOWN:
            unit = table.column("unit")[row].as_py()
            outcome.failed.append(UnitResult(unit, errors=list(error.diagnostics)))
    grades: dict[str, int] = {}
    counts = pc.value_counts(table.column("grade").combine_chunks())
    for item in counts.to_pylist():
        if item["values"] is not None:
            grades[item["values"]] = item["counts"]
    totals = chunk.totals[chunk.scored]
    outcome.tally.add_chunk(
        grades, totals if chunk.scale is not None else totals.tolist(), chunk.lost
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
    rows = table.to_pylist()
    lines = []
    for r, row in enumerate(rows):
        position = offset + r
        named = row.get(names[unit_at]) if unit_at is not None else None
        unit = str(named) if named else f"row {position + first_row}"
        cells = {k: ("" if v is None else v) for k, v in row.items()}
        data, columns = _unit_facts(cells, compiled)
        facts = _with_positions(data, columns, (label, position + first_row), unit)
        try:
            failed = values.problems.get(position) if values is not None else None
            if failed is not None:
                raise failed
            result = compiled.evaluate(facts, cohort=values)
        except FactsError as exc:
            outcome.tally.add_failure()
            if len(outcome.failed) < _FAILED_SHOWN:
                outcome.failed.append(UnitResult(unit, errors=list(exc.diagnostics)))
            errors = [d.to_dict("en") for d in exc.diagnostics]
            lines.append(json.dumps({"unit": unit, "errors": errors}, ensure_ascii=False))
            continue
        outcome.tally.add(result)
        assert result.trace is not None  # noqa: S101
        trace = json.loads(result.trace.to_json())
        lines.append(json.dumps({"unit": unit, "trace": trace}, ensure_ascii=False))
    stream.write(("\n".join(lines) + "\n").encode())
