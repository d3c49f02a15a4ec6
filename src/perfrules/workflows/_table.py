"""Scoring a table of units: a pandas or polars DataFrame or a pyarrow Table in, the same out.

One row per unit, columns as in a batch CSV (``unit``; ``<indicator id>`` for its actual
value or ``<indicator id>.<input>``; ``shared.<input>``). Every column is read once: its
distinct values are read by the facts grammar (so ``"80%"`` costs one parse however many rows
repeat it), then the rows the scalar scorer would take on its fast path are scored as integer
arrays (``engine._columns``) and the others one by one with ``evaluate``, which explains
their problems by row and column. Cohort values are taken in a first pass and ranks after
the totals. The result has exact decimal columns (``decimal128`` in Arrow, ``Decimal`` in
pandas and polars), never float64.

Needs the ``frame`` extra (numpy, pyarrow, narwhals); imported only when used.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from perfrules._numbers import format_number, is_terminating
from perfrules.engine import PER_UNIT, CohortValues, CompiledScheme, DataGaps, Stage, Staged
from perfrules.errors import Diagnostic, FactsError
from perfrules.facts import float_fact, number_pair, to_bool
from perfrules.trace import Result
from perfrules.workflows._arrow import (
    bool_array,
    bools,
    floats,
    int_array,
    ints,
    is_decimal64,
    scalar,
    string_array,
    text_bytes,
)
from perfrules.workflows._arrow import valid as _valid
from perfrules.workflows._batch import (
    _shared_problems,
    _unit_facts,
    _unknown_shared,
    _with_positions,
    check_header,
    names_a_unit,
    placed,
    refused,
    split_column,
    unit_name,
)

if TYPE_CHECKING:  # the type of CompiledScheme.score_columns
    from perfrules.engine import Arrays

__all__ = [
    "ERRORS_SCHEMA",
    "TABLE_SOURCE",
    "Chunk",
    "NumberedChunk",
    "Prepared",
    "all_cohort_values",
    "cohort_pass",
    "cohort_rows",
    "cohort_values_of",
    "decimal_type",
    "errors_table",
    "has_nameless",
    "numbered",
    "prepare_chunk",
    "rank_rows",
    "ranked_table",
    "score_arrow",
    "score_chunk",
    "score_table",
    "stage_pass",
    "table_columns",
    "to_pandas",
    "units_arrow",
    "with_rank_column",
]

#: How rows of a table are named in diagnostics (``table:ROW:COLUMN``).
TABLE_SOURCE: Final = "table"
_UNIT_COLUMNS: Final = ("unit", "单位")
_MISSING: Final = object()
Ints = np.ndarray[Any, Any]
#: The cohort values, each row's cohort key, and the rows left out of the values.
_Cohort = tuple[CohortValues, list[str | None], dict[int, FactsError]]


def score_table(compiled: CompiledScheme, table: Any, *, errors: bool = False) -> Any:
    """Score every row of *table*; return a table of the same kind with the results.

    Columns of the result: ``unit``, ``total``, ``grade``, the cohort's key and values and
    ``rank`` when the scheme declares them, one column per indicator (its rounded score, null
    when excluded), and ``errors`` (the row's problems, located at ``table:ROW:COLUMN``;
    null for a row that scored). Scores and totals are exact decimals.

    With *errors*, the pair ``(results, errors)``: the second a table of the same kind with
    one row per problem (:data:`ERRORS_SCHEMA`: ``row``, the row's position from 0, as in
    the results; ``column``, the name of the column it is about, null when it is about the
    row; ``code``; ``message``).

    Raises:
        TypeError: *table* is not a DataFrame or Table narwhals knows (a list, a dict,
            ``None``): the message says what it takes.
        FactsError: the table cannot hold units: more than 10,000 columns or a column name
            over 1,000 characters (``PR418``), a name given twice (``PR420``), a column of
            a type no fact is read from (``PR419``: bytes that are not UTF-8, complex
            numbers, periods, objects of other kinds; a unit column of lists or structs).
    """
    import narwhals.stable.v2 as nw  # noqa: PLC0415 - a stream of a file never needs it

    frame, arrow = _native_units(table)
    out, problems = _score_arrow(compiled, arrow)

    def native(result: pa.Table) -> Any:
        if frame.implementation is nw.Implementation.PANDAS:
            return to_pandas(result)
        return nw.from_arrow(result, backend=frame.implementation).to_native()

    return (native(out), native(problems)) if errors else native(out)


def _native_units(table: Any) -> tuple[Any, pa.Table]:
    """*table* (any DataFrame narwhals knows) as narwhals sees it, and as Arrow to score.

    Its header checked, each column of a type facts are read from (``FactsError`` naming
    the first that is not, as :func:`score_table` documents).
    """
    import narwhals.stable.v2 as nw  # noqa: PLC0415 - a stream of a file never needs it

    check_header(_names_of(table), TABLE_SOURCE)
    try:
        frame = nw.from_native(table, eager_only=True)
    except TypeError:
        msg = (
            "score_table takes a table of units (a pyarrow Table, a pandas or polars "
            f"DataFrame), not {type(table).__name__}; one unit's facts go to evaluate()"
        )
        raise TypeError(msg) from None
    return frame, readable_table(_to_arrow(frame), TABLE_SOURCE)


def units_arrow(table: Any) -> pa.Table:
    """The units of a DataFrame as Arrow, checked as :func:`score_table` checks them."""
    return _native_units(table)[1]


def to_pandas(table: pa.Table) -> Any:
    """A pandas DataFrame of results that keeps Arrow's exact types.

    Decimals stay ``decimal128`` columns (``pd.ArrowDtype``; each cell a ``Decimal``), a rank
    with gaps is ``Int64`` (pandas' default would make both float64 or untyped objects, which
    Parquet writers then cannot type).
    """
    import pandas as pd  # noqa: PLC0415 - only for pandas input

    def mapper(kind: pa.DataType) -> Any:
        if pa.types.is_decimal(kind):
            return pd.ArrowDtype(kind)
        return pd.Int64Dtype() if kind == pa.int64() else None

    return table.to_pandas(types_mapper=mapper)


# --- reading the columns ----------------------------------------------------------------
def _refused(code: str, params: dict[str, Any], source: str, column: int = 0) -> FactsError:
    return refused(code, params, source, column)


def check_unit_column(kind: pa.DataType, name: str, source: str) -> None:
    """The unit column must hold names: text or whole numbers (``PR419`` otherwise)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind):
        return
    if pa.types.is_null(kind):
        return
    params = {"column": name, "reason": f"unit names are text, not {kind}"}
    raise _refused("PR419", params, source)


def _names_of(table: Any) -> list[str]:
    """The column names of a DataFrame or Table, before anything is converted."""
    if isinstance(table, pa.Table):
        return [str(n) for n in table.column_names]
    columns = getattr(table, "columns", None)
    return [] if columns is None else [str(n) for n in list(columns)]


def _to_arrow(frame: Any) -> pa.Table:
    """The frame as Arrow; a column Arrow cannot take is read cell by cell or refused."""
    with contextlib.suppress(Exception):  # the column to blame is found below
        arrow: pa.Table = frame.to_arrow()
        return arrow
    arrays = [_column_to_arrow(frame, name) for name in frame.columns]
    return pa.table(arrays, names=[str(n) for n in frame.columns])


def _column_to_arrow(frame: Any, name: Any) -> pa.Array:
    series = frame.get_column(name)
    with contextlib.suppress(Exception):  # read another way below
        array: pa.Array = series.to_arrow()
        return array
    import narwhals.stable.v2 as nw  # noqa: PLC0415

    native = series.to_native()
    if str(getattr(native, "dtype", "")) == "object":
        return _object_cells(str(name), native.tolist())
    try:
        array = series.cast(nw.String).to_arrow()
    except Exception as exc:  # noqa: BLE001 - a type no fact is read from
        reason = f"{series.dtype} ({type(exc).__name__})"
        raise _refused("PR419", {"column": str(name), "reason": reason}, TABLE_SOURCE) from None
    return array


#: Python values a cell of an object column may hold, read as the facts grammar reads text.
_PLAIN: Final = (str, int, Decimal, Fraction, float, bool)


def _object_cells(name: str, cells: list[Any]) -> pa.Array:
    """An object column (pandas) of mixed plain values, every cell as text.

    ``[1, "80%"]`` or ``[1.5, Decimal("2")]`` are facts Arrow cannot put in one type; each
    cell is read as its text (a float by its shortest repr). Anything else (a dict, bytes,
    an object) names the column.
    """
    texts: list[str | None] = []
    for cell in cells:
        if cell is None or (isinstance(cell, float) and cell != cell):  # noqa: PLR0124 - NaN
            texts.append(None)
        elif isinstance(cell, bool):
            texts.append("true" if cell else "false")
        elif isinstance(cell, _PLAIN):
            texts.append(repr(cell) if isinstance(cell, float) else str(cell))
        else:
            reason = f"a cell holds a {type(cell).__name__}, not text or a number"
            raise _refused("PR419", {"column": name, "reason": reason}, TABLE_SOURCE)
    try:
        return pa.array(texts, type=pa.string())
    except (UnicodeError, pa.ArrowException):
        reason = "text that is not valid Unicode (a lone surrogate)"
        raise _refused("PR419", {"column": name, "reason": reason}, TABLE_SOURCE) from None


def _texts(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def readable_table(arrow: pa.Table, source: str) -> pa.Table:
    """*arrow* with every column of a type facts are read from, or ``PR419`` naming one.

    Bytes become text when they are UTF-8; extension types (pandas periods and intervals)
    and bytes that are not UTF-8 are refused; the unit column must hold names. Lists and
    structs in other columns stay: their cells are that row's located error.
    """
    check_header([str(n) for n in arrow.column_names], source)
    unit_at, _ = table_columns([str(n) for n in arrow.column_names])
    columns = []
    for at, (entry, column) in enumerate(zip(arrow.schema, arrow.columns, strict=True)):
        kind = entry.type
        if isinstance(kind, pa.ExtensionType):
            reason = f"{kind} cells are not text or numbers"
            raise _refused("PR419", {"column": entry.name, "reason": reason}, source)
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            try:
                columns.append(column.cast(pa.string()))
            except pa.ArrowInvalid:
                reason = "bytes that are not UTF-8 text"
                raise _refused("PR419", {"column": entry.name, "reason": reason}, source) from None
            continue
        if _texts(kind):
            try:
                column.validate(full=True)  # a Parquet reader takes text bytes unchecked
            except pa.ArrowInvalid:
                reason = "text that is not valid UTF-8"
                raise _refused("PR419", {"column": entry.name, "reason": reason}, source) from None
        if at == unit_at and (
            pa.types.is_nested(kind)
            or (pa.types.is_dictionary(kind) and pa.types.is_nested(kind.value_type))
        ):
            check_unit_column(kind, entry.name, source)
        columns.append(column)
    return pa.table(columns, names=arrow.column_names)


class _Column:
    """One column's cells: codes into its distinct values (``-1`` for an empty cell).

    A column of numbers (integers, floats, decimals) keeps its Arrow array: its cells are
    read as integer pairs all at once (:func:`_number_arrays`), and its codes are made only
    if something asks for them (a condition or a cohort value read from it).
    """

    __slots__ = (
        "_codes",
        "_dictionary",
        "_distinct",
        "_flags",
        "_numbers",
        "_plain",
        "_present",
        "_read",
        "_rowwise",
        "array",
        "into",
        "name",
        "position",
    )

    def __init__(self, name: str, position: int, array: pa.ChunkedArray) -> None:
        self.name = name
        self.position = position
        encoded = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        if pa.types.is_dictionary(encoded.type) and not _texts(encoded.type):
            # Its values in row order (lists have no cast from a dictionary).
            encoded = encoded.dictionary.take(encoded.indices)
        self.array: pa.Array | None = encoded if _numeric(encoded.type) else None
        #: Where a float column's numerators are written (a share of one buffer for all
        #: the chunk's float columns: :func:`_float_room`), if anywhere.
        self.into: Ints | None = None
        self._codes: Ints | None = None
        self._distinct: list[Any] | None = None
        self._dictionary: pa.Array | None = None
        #: A text column's distinct values read as plain numbers at array speed, and the
        #: cells of the others (read in Python: by their code).
        self._plain: tuple[Ints, Ints, Ints] | None = None
        self._read: dict[int, Any] = {}
        self._numbers: Any = None
        self._flags: Any = None
        self._present: Any = None
        #: A text column of mostly distinct cells (fresh numbers): read row by row as
        #: arrays, its codes made only if something asks for them.
        self._rowwise: pa.Array | None = None
        if self.array is None:
            if _texts(encoded.type) and _mostly_distinct(encoded):
                self._rowwise = encoded
                found = _rowwise_numbers(encoded)
                if found is not None:
                    nums, dens, okay, present = found
                    self._numbers, self._present = (nums, dens, okay), present
                    return
            self._encode(encoded)

    def _encode(self, encoded: pa.Array) -> None:
        if pa.types.is_nested(encoded.type):
            # Lists and structs have no dictionary kernel: number their distinct values here
            # (none is a fact: the rows go the long way and say so).
            seen: dict[str, int] = {}
            cells = encoded.to_pylist()
            codes = [-1 if v is None else seen.setdefault(repr(v), len(seen)) for v in cells]
            firsts = {code: v for code, v in zip(codes, cells, strict=True) if code >= 0}
            self._codes = np.asarray(codes, dtype=np.int64)
            self._distinct = [_cell(firsts[k]) for k in range(len(seen))]
            empty = [i for i, v in enumerate(self._distinct) if v is _MISSING]
        else:
            if not pa.types.is_dictionary(encoded.type):  # numbered ahead (:func:`numbered`)
                encoded = encoded.dictionary_encode()
            self._codes = ints(encoded.indices, fill=-1)
            self._dictionary = encoded.dictionary
            if _texts(encoded.dictionary.type) and len(encoded.dictionary) > _FEW:
                # Plain numbers ("0.734521", "80%") at array speed; only the other texts
                # are read in Python (each once): is it empty, what does it say. A few
                # distinct cells ("80%" again, chunk after chunk) are each read as a fact.
                self._plain = _text_pairs(encoded.dictionary)
                others = np.flatnonzero(~self._plain[2]).tolist()
                self._read = {i: _cell(encoded.dictionary[i].as_py()) for i in others}
                empty = [i for i, v in self._read.items() if v is _MISSING]
            else:
                self._distinct = [_cell(v) for v in encoded.dictionary.to_pylist()]
                empty = [i for i, v in enumerate(self._distinct) if v is _MISSING]
        if empty:
            self._codes = np.where(np.isin(self._codes, empty), -1, self._codes)

    @property
    def codes(self) -> Ints:
        """Each row's code into :attr:`distinct` (``-1``: empty)."""
        if self._codes is None:
            kept = self.array if self.array is not None else self._rowwise
            assert kept is not None  # noqa: S101 - kept when the codes are not made
            self._encode(kept)
        assert self._codes is not None  # noqa: S101
        return self._codes

    @property
    def distinct(self) -> list[Any]:
        """The column's distinct cells, each as a fact (:func:`_cell`)."""
        _ = self.codes
        if self._distinct is None:
            assert self._dictionary is not None  # noqa: S101 - set with the codes
            self._distinct = [_cell(v) for v in self._dictionary.to_pylist()]
        return self._distinct

    def present(self) -> Ints:
        if self._present is None:
            self._present = (
                np.asarray(self.codes >= 0) if self.array is None else _valid(self.array)
            )
        found: Ints = self._present
        return found

    def row(self, index: int) -> Any:
        if self.array is not None:
            return _cell(self.array[index].as_py())
        code = int(self.codes[index])
        if code < 0:
            return _MISSING
        if self._distinct is None and self._dictionary is not None:
            return (
                self._read[code] if code in self._read else _cell(self._dictionary[code].as_py())
            )
        return self.distinct[code]


#: Distinct cells of a column read one by one as facts (remembered, chunk after chunk);
#: more are read as arrays (the arrays' few calls cost more than this many cells read).
_FEW: Final = 256
#: Text columns shorter than this are numbered by their distinct cells (cheap either way).
_ROWWISE_ROWS: Final = 4096
#: How many leading cells decide whether a text column is mostly distinct.
_SAMPLE: Final = 2048


def _mostly_distinct(texts: pa.Array) -> bool:
    """Whether most cells of a long text column differ (fresh numbers, not "37%" again).

    Numbering the distinct cells (a dictionary) pays when they repeat; when every cell is
    new it only doubles the work. Decided on the leading cells. A column numbered already
    (a dictionary) is read by its distinct cells.
    """
    if len(texts) < _ROWWISE_ROWS or pa.types.is_dictionary(texts.type):
        return False
    sample = texts.slice(0, _SAMPLE)
    distinct = pc.count_distinct(sample, mode="only_valid").as_py()
    return bool(distinct * 2 > len(sample))


def _rowwise_numbers(texts: pa.Array) -> tuple[Ints, Ints, Ints, Ints] | None:
    """A text column read row by row: pairs, readable mask and the rows with a cell.

    Plain decimals are read at array speed (:func:`_text_pairs`); the few other cells one
    by one as facts (:func:`_cell`, ``number_pair``), as the numbered path reads them.
    ``None`` when more than a few cells are not plain numbers (words, markers): those are
    better numbered by their distinct values.
    """
    n = len(texts)
    present = _valid(texts)
    fresh = _plain_decimals(texts, present)
    if fresh is not None:
        return (*fresh, present)
    nums, dens, okay = _text_pairs(texts)
    others = np.flatnonzero(present & ~okay).tolist()
    if len(others) > max(64, n // 50):
        return None
    if others:  # written below: arrays of our own (Arrow's may be read-only views)
        nums, dens, okay, present = nums.copy(), dens.copy(), okay.copy(), present.copy()
    pairs: dict[int, tuple[int, int]] = {}
    for row in others:
        value = _cell(texts[row].as_py())
        if value is _MISSING:
            present[row] = False
            continue
        pair = None if isinstance(value, bool) else number_pair(value)
        if pair is not None:
            pairs[row] = pair
    if any(max(abs(p[0]), p[1]) >= 2**62 for p in pairs.values()):
        nums, dens = nums.astype(object), dens.astype(object)
    for row, (num, den) in pairs.items():
        nums[row], dens[row] = num, den
        okay[row] = True
    return nums, dens, okay, present


def numbered(table: pa.Table, threads: int = 1) -> pa.Table:
    """*table* with each text column whose cells repeat numbered by its distinct cells.

    The first thing :class:`_Column` does with such a column (a dictionary), done
    beforehand: the stream numbers the next chunk in the thread that reads it, where
    pyarrow hashes without holding the interpreter, while this chunk is scored. The unit
    column and columns of mostly distinct cells (fresh numbers, read row by row) stay.
    With *threads* > 1 a long table's columns are numbered that many at a time.
    """
    names = [str(n) for n in table.column_names]
    unit_at, _ = table_columns(names)

    def one(at: int) -> pa.ChunkedArray | pa.Array:
        column = table.column(at)
        if at != unit_at and _texts(column.type) and not pa.types.is_dictionary(column.type):
            array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
            if not _mostly_distinct(array):
                return array.dictionary_encode()
        return column

    every = range(table.num_columns)
    if threads < 2 or table.num_rows < _THREADED_ROWS or len(every) < 2 * threads:
        return pa.Table.from_arrays([one(at) for at in every], names=table.column_names)
    with ThreadPoolExecutor(threads, thread_name_prefix="perfrules-number") as pool:
        columns = list(pool.map(one, every))
    return pa.Table.from_arrays(columns, names=table.column_names)


#: The fewest rows whose columns :func:`numbered` numbers in threads.
_THREADED_ROWS: Final = 4096


def _numeric(kind: pa.DataType) -> bool:
    """Integers, floats and decimals: read as arrays of integer pairs."""
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _cell(value: Any) -> Any:
    """A table cell as a fact: text stripped, a float by its shortest decimal text.

    A float NaN (a value in Arrow and polars, where null is the empty cell) becomes the
    text ``NaN``, which no number is read from: the row's error, at its cell. pandas' NaN
    in a float column is its empty cell and arrives here as null.
    """
    if value is None:
        return _MISSING
    if isinstance(value, str):
        text = value.strip()
        return text or _MISSING
    if isinstance(value, float):
        # A spreadsheet or a frame's float column: the digits a person typed, as XLSX cells are.
        read = float_fact(value)
        return "NaN" if read is None else read
    return value


def table_columns(names: Sequence[str]) -> tuple[int | None, dict[str, int]]:
    """The unit column's position and every other column by name."""
    unit = next((i for i, n in enumerate(names) if n in _UNIT_COLUMNS), None)
    return unit, {n: i for i, n in enumerate(names) if i != unit}


def _numbers(column: _Column) -> tuple[Ints, Ints, Ints]:
    """Numerators, denominators (one 0-d array when alike on every row) and a readable mask."""
    if column._numbers is None:  # noqa: SLF001
        column._numbers = _read_numbers(column)  # noqa: SLF001
    found: tuple[Ints, Ints, Ints] = column._numbers  # noqa: SLF001
    return found


def _read_numbers(column: _Column) -> tuple[Ints, Ints, Ints]:
    if column.array is not None:
        return _number_arrays(column.array, column.present(), column.into)
    plain = column._plain  # noqa: SLF001
    if plain is not None:
        return _text_numbers(column.codes, plain, column._read)  # noqa: SLF001
    nums, dens, okay = _distinct_numbers(column)
    codes = column.codes
    return nums[codes], dens if dens.ndim == 0 else dens[codes], okay[codes]


def _distinct_numbers(column: _Column) -> tuple[Ints, Ints, Ints]:
    """The pairs of a column's distinct cells, each read as a fact, then an empty cell's.

    Indexed by the codes (``-1``, an empty cell, takes the last). The denominators are one
    0-d array when every pair has the same (a row without a pair is not read).
    """
    pairs = [
        None if value is _MISSING or isinstance(value, bool) else number_pair(value)
        for value in column.distinct
    ]
    nums = [pair[0] if pair else 0 for pair in pairs]
    okay = np.array([*(pair is not None for pair in pairs), False], dtype=np.bool_)
    dens = {pair[1] for pair in pairs if pair}
    if len(dens) <= 1 and max(dens, default=1) < 2**62:
        return _table_of(nums), np.asarray(max(dens, default=1), dtype=np.int64), okay
    return _table_of(nums), _table_of([pair[1] if pair else 1 for pair in pairs], 1), okay


def _coded(column: _Column) -> tuple[tuple[Any, ...], Ints] | None:
    """A column of a few distinct cells as an operand read through its codes.

    ``("coded", codes, ("num", numerators, denominators))`` over the distinct cells
    (``score_arrays`` scores an indicator once a value when all it reads are so), and each
    row's readable flag; ``None`` for a column of numbers or of many distinct cells.
    """
    if column.array is not None or column._rowwise is not None:  # noqa: SLF001
        return None
    codes = column.codes
    if column._plain is not None or 2 * len(column.distinct) > len(codes):  # noqa: SLF001
        return None
    nums, dens, okay = _distinct_numbers(column)
    return ("coded", codes, ("num", nums, dens)), okay[codes]


#: 10**0 .. 10**22: exact as doubles (10**23 is not).
_TENS_FLOAT: Final = np.array([10.0**j for j in range(23)], dtype=np.float64)
#: 10**0 .. 10**18 as int64.
_TENS_INT: Final = np.array([10**j for j in range(19)], dtype=np.int64)
#: The denominator of every cell of a column of whole numbers (a 0-d array: one for all).
_ONE: Final = np.asarray(1, dtype=np.int64)
#: Floats read at array speed: magnitudes from 1e-8 up to 1e18 (beyond, one by one).
_FLOAT_LOW: Final = 1e-8
_FLOAT_HIGH: Final = 1e18


#: Text read at array speed: a plain decimal of at most 18 digits, perhaps a percentage
#: ("80%", "-0.734521"); the facts grammar reads these alike (``_PLAIN`` in facts._values).
_PLAIN_TEXT: Final = r"^[+-]?[0-9]+(\.[0-9]+)?%?$"


#: The bytes of a column of plain decimal texts without a percent sign: "+-.0123456789".
_DECIMAL_BYTES: Final = np.zeros(256, dtype=np.bool_)
_DECIMAL_BYTES[list(b"+-.0123456789")] = True
_SIGNS: Final = np.frombuffer(b"+-", dtype=np.uint8)


#: The least buffer :func:`_float_room` makes (numpy maps large pages from 4 MiB).
_ROOM_BYTES: Final = 4 << 20


def _float_room(columns: Iterable[_Column], n: int) -> None:
    """One buffer for the numerators of every float column of a chunk, a share each.

    Their numerators live as long as each other; one allocation this large is mapped in
    large pages, where one per column pays a page fault every 4 KiB (more than reading
    the column). Only for chunks where that is so (the buffer past 4 MiB).
    """
    floating = [c for c in columns if c.array is not None and pa.types.is_floating(c.array.type)]
    if len(floating) * n * 8 < _ROOM_BYTES:
        return
    room = np.empty((len(floating), n), dtype=np.int64)
    for k, column in enumerate(floating):
        column.into = room[k]


def _plain_decimals(texts: pa.Array, present: Ints) -> tuple[Ints, Ints, Ints] | None:
    """A text column whose every cell is a plain decimal, read by one Arrow decimal cast.

    Fresh numbers as a CSV gives them ("0.734521", "-12.5"): when the column's bytes are
    only signs, digits and points, Arrow's cast to ``decimal128(38, P)`` (*P* the most
    places a cell has) reads them all, the denominator ``10**P`` shared by every row. Arrow
    also reads ``.5`` and ``5.`` (not plain for the facts grammar): a point first, after a
    sign or last is looked for and sends the column the long way, as do a cell Arrow
    refuses (``1.2.3``, ``+-1``), more than 18 places or a value past int64. ``None`` then:
    :func:`_text_pairs` reads the column cell by cell.
    """
    n = len(texts)
    if not n or not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        return None
    width = np.int32 if pa.types.is_string(texts.type) else np.int64
    _, offsets_buffer, data_buffer = texts.buffers()
    if offsets_buffer is None or data_buffer is None:
        return None
    offsets: Ints = np.frombuffer(
        offsets_buffer, width, n + 1, texts.offset * np.dtype(width).itemsize
    )
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buffer, np.uint8, last - first, first)
    if not _DECIMAL_BYTES[data].all():
        return None
    starts = offsets[:-1] - first
    length = offsets[1:] - offsets[:-1]
    if not present.all():  # a null's cell is read as "0" by nothing: never looked at
        length = np.where(present, length, 1)
    if (length == 0).any():
        return None
    point = ints(pc.find_substring(texts, "."), fill=-1)
    signed = np.isin(data[starts], _SIGNS) if present.all() else np.zeros(n, np.bool_)
    if not present.all():
        signed[present] = np.isin(data[starts[present]], _SIGNS)
    has_point = point >= 0
    # "5." and ".5", "+.5": Arrow reads them, the facts grammar does not (as plain numbers)
    if (has_point & ((point == length - 1) | (point == signed))).any():
        return None
    places = int((np.where(has_point, length - point - 1, 0)).max())
    if places > 18:
        return None
    try:
        decimals = pc.cast(texts, pa.decimal128(38, places))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    words = np.frombuffer(decimals.buffers()[1], np.int64, 2 * n, 16 * decimals.offset)
    low, high = words[0::2], words[1::2]
    if not present.all():
        low, high = np.where(present, low, 0), np.where(present, high, 0)
    if not ((not high.any() and low.min() >= 0) or bool((high == (low >> 63)).all())):
        return None
    return low, np.asarray(_TENS_INT[places]), present.copy()


def _text_pairs(texts: pa.Array) -> tuple[Ints, Ints, Ints]:
    """Numerators, denominators and a mask of the *texts* that are plain decimal numbers.

    The others (words, spaces, exponents, more than 18 digits) are left to the facts
    grammar (mask False). One regular expression without groups picks the plain ones;
    Arrow's string kernels and integer cast read them.
    """
    n = len(texts)
    plain = pc.match_substring_regex(texts, _PLAIN_TEXT)
    okay = bools(plain)  # a null cell is not plain
    if not okay.any():
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64), okay
    zero = scalar("0")
    every = bool(okay.all())
    kept = texts if every else pc.if_else(bool_array(okay), texts, zero)  # plain ASCII now
    percent = bools(pc.ends_with(kept, "%"))
    body = pc.replace_substring(kept, "%", "") if percent.any() else kept
    length = ints(pc.binary_length(body))
    point = ints(pc.find_substring(body, "."))
    places = np.where(point >= 0, length - point - 1, 0)
    plus = bools(pc.starts_with(body, "+"))
    signed = plus | bools(pc.starts_with(body, "-"))
    okay &= (length - signed - (point >= 0)) <= 18  # int64 holds 18 digits
    okay &= places + 2 * percent <= 18  # and the denominator, 10 ** places (* 100 for %)
    whole = pc.replace_substring(body, ".", "") if (point >= 0).any() else body
    unsigned = pc.ascii_ltrim(whole, characters="+") if plus.any() else whole
    digits = unsigned if every and okay.all() else pc.if_else(bool_array(okay), unsigned, zero)
    nums = ints(pc.cast(digits, pa.int64()))
    places = places * okay
    dens = _TENS_INT[places] * (1 + 99 * (percent & okay))
    return nums, dens, okay


def _number_arrays(
    array: pa.Array, present: Ints, into: Ints | None = None
) -> tuple[Ints, Ints, Ints]:
    """A column of integers, floats or decimals as numerators, denominators and a mask.

    Each cell is read as :func:`_cell` and ``number_pair`` read it (the mask says where a
    pair was read), as arrays: an integer is itself over 1; a decimal its unscaled integer
    over ``10 ** scale``; a float the shortest decimal that reads back as the same float
    (:func:`_float_pairs`). The cells the arrays do not cover (a float of 16 or 17 digits
    or outside 1e-8..1e18, a decimal wider than int64) are read one by one by the same
    functions, so the result is theirs on every cell.
    """
    n = len(array)
    kind = array.type
    nums: Ints
    dens: Ints
    if pa.types.is_integer(kind):
        if kind == pa.int64() and not array.null_count and n:
            # The column's own buffer, read in place (never written to): no copy.
            view: Ints = np.frombuffer(array.buffers()[1], np.int64, n, 8 * array.offset)
            return view, _ONE, present
        values = ints(array)
        if values.dtype == np.uint64 and n and int(values.max()) >= 2**62:
            return values.astype(object), _ONE, present
        return values.astype(np.int64, copy=False), _ONE, present
    if pa.types.is_floating(kind):
        nums, dens, okay = _float_column(_float_values(array), present, into)
    else:
        nums, dens, okay = _decimal_pairs(array, present)
    rest = np.flatnonzero(present & ~okay)
    if rest.size:
        dens = np.array(np.broadcast_to(dens, (n,)))
        # One by one, as the long way reads them (exact at any magnitude; NaN and infinity
        # read as nothing: the row's located error).
        pairs = [number_pair(_cell(array[int(r)].as_py())) for r in rest.tolist()]
        wide = any(p is not None and max(abs(p[0]), p[1]) >= 2**62 for p in pairs)
        if wide:
            nums, dens = nums.astype(object), dens.astype(object)
        for r, pair in zip(rest.tolist(), pairs, strict=True):
            if pair is not None:
                nums[r], dens[r] = pair
                okay[r] = True
    return nums, dens, okay


def _float_values(array: pa.Array) -> Ints:
    """A float column's values: its own buffer read in place when it is float64 without nulls."""
    n = len(array)
    if array.type == pa.float64() and not array.null_count and n:
        view: Ints = np.frombuffer(array.buffers()[1], np.float64, n, 8 * array.offset)
        return view
    return floats(array)


def _float_column(x: Ints, present: Ints, into: Ints | None = None) -> tuple[Ints, Ints, Ints]:
    """A float column read with one number of places, *P*, guessed from a sample of it.

    Where ``q = rint(x × 10**P)`` has at most 15 digits and ``q / 10**P`` reads back as
    ``x`` (checked exactly), ``q / 10**P`` is a decimal of at most 15 digits that reads as
    ``x``, so it is the value of ``x``'s shortest decimal (no two such decimals read as the
    same double). A column typed with a few places (0.25, 73.4521) is read by these few
    operations — one multiplication, one rounding, one check, and the least and greatest
    ``q`` for the 15 digits of all at once; its other rows by :func:`_float_pairs`.
    """
    n = x.shape[0]
    places = _places_hint(x, present)
    scale = _TENS_FLOAT[places]
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and infinity fail the check
        q = np.multiply(x, scale)
        np.rint(q, out=q)
        if n and present.all() and q.min() > -1e15 and q.max() < 1e15:  # NaN: False
            nums = q.astype(np.int64) if into is None else into
            if into is not None:
                np.copyto(nums, q, casting="unsafe")  # whole numbers: exact
            okay = np.equal(np.divide(q, scale, out=q), x)  # q is not needed after
            if okay.all():
                return nums, np.asarray(_TENS_INT[places]), okay
            np.multiply(nums, scale, out=q)  # q again, for the rows of other shapes
        okay = present & (np.abs(q) < 1e15) & (q / scale == x)
    if not okay.all():
        q = np.where(okay, q, 0.0)
    nums = q.astype(np.int64)
    dens = np.asarray(_TENS_INT[places])
    rest = np.flatnonzero(present & ~okay)
    if rest.size:
        dens = np.full(n, dens, dtype=np.int64)
        more_nums, more_dens, more_okay = _float_pairs(x[rest], present[rest])
        nums[rest], dens[rest] = more_nums, more_dens
        okay[rest] = more_okay
    return nums, dens, okay


def _places_hint(x: Ints, present: Ints, sample: int = 64) -> int:
    """The most places a sample of the column needs, each value read back with fewest places.

    For each sampled float the fewest places *P* (0 to 15) at which ``rint(x × 10**P)``
    has at most 15 digits and reads back as ``x``, tried all at once; a value no *P* reads
    (16 or 17 digits, NaN) does not count. Only a guess: :func:`_float_column` checks
    every row.
    """
    rows = np.flatnonzero(present) if not present.all() else None
    size = x.shape[0] if rows is None else rows.size
    picked = np.linspace(0, size - 1, min(size, sample)).astype(np.int64)
    values = x[picked if rows is None else rows[picked]]
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.rint(values[np.newaxis, :] * _TENS_FLOAT[:16, np.newaxis])
        reads = (np.abs(q) < 1e15) & (q / _TENS_FLOAT[:16, np.newaxis] == values)
    fewest = np.argmax(reads, axis=0)[reads.any(axis=0)]
    return int(fewest.max()) if fewest.size else 0


def _float_pairs(x: Ints, present: Ints) -> tuple[Ints, Ints, Ints]:
    """Floats as the shortest decimals that read back as them, where that takes 15 digits.

    A decimal of at most 15 significant digits is recovered from its nearest double by
    rounding that double to 15 digits (doubles carry 15.95), and no other decimal of 15
    digits or fewer reads as the same double. So: scale ``|x|`` by the power of ten that
    gives it 15 digits, round to an integer ``q``, and keep ``q / 10**k`` where it reads
    back as ``x`` — checked exactly, since both are exact doubles and IEEE arithmetic
    rounds correctly — then drop ``q``'s trailing zeros. Every step is exact for
    magnitudes from 1e-8 to 1e18 (powers of ten up to 10**22 are exact doubles); the rows
    that fail the check (16 or 17 digits) or lie outside are left to the caller (mask
    False). No step branches on a row (a mask is a factor of 0 or 1): that is what keeps
    it at a few nanoseconds a value.
    """
    magnitude = np.abs(x)
    usable = present & (magnitude >= _FLOAT_LOW) & (magnitude < _FLOAT_HIGH)
    # NaN and infinity become 1e-8 and 1e18 here (fmax and fmin skip NaN); never used.
    scaled = np.fmin(np.fmax(magnitude, _FLOAT_LOW), _FLOAT_HIGH)
    k = 14 - np.floor(np.log10(scaled)).astype(np.int64)
    up = _TENS_FLOAT[np.clip(k, 0, 22)]
    down = _TENS_FLOAT[np.clip(-k, 0, 22)]
    q = np.rint(scaled * up / down)  # one of up and down is 1: one rounding
    # 15 digits (log10 may be one off next to a power of ten: such rows are left over)
    okay = usable & (q >= 1e14) & (q < 1e15) & (q / up * down == scaled)
    for j in (8, 4, 2, 1):  # strip trailing zeros (each quotient is exact, or not whole)
        shorter = q / _TENS_FLOAT[j]
        whole = shorter == np.floor(shorter)
        q += (shorter - q) * whole
        k -= j * whole
    okay &= k <= 18
    k *= okay
    digits = (q * okay).astype(np.int64)
    nums = digits * _TENS_INT[np.clip(-k, 0, 18)]
    nums *= 1 - 2 * (x < 0)
    dens = _TENS_INT[np.clip(k, 0, 18)]
    return nums, dens, okay | (present & (x == 0))


def _decimal_pairs(array: pa.Array, present: Ints) -> tuple[Ints, Ints, Ints]:
    """decimal128 cells as their unscaled integers over ``10 ** scale`` where int64 holds them."""
    n = len(array)
    kind = array.type
    if not pa.types.is_decimal128(kind) or not 0 <= kind.scale <= 18 or n == 0:
        return np.zeros(n, dtype=np.int64), _ONE, np.zeros(n, dtype=np.bool_)
    data = array.buffers()[1]
    words = np.frombuffer(data, dtype=np.int64)[2 * array.offset : 2 * (array.offset + n)]
    low, high = words[0::2], words[1::2]
    den = np.asarray(_TENS_INT[kind.scale])
    if not array.null_count and (
        (not high.any() and low.min() >= 0) or bool((high == (low >> 63)).all())
    ):
        # Every value fits int64 (no negative one, or each high word only its low word's
        # sign): the low words as they lie in the buffer, read in place.
        return low, den, present
    # The value fits int64 where the high word only extends the low word's sign.
    okay = present & (high == (low >> 63))
    nums = low * okay
    return nums, den, okay


def _text_numbers(
    codes: Ints, plain: tuple[Ints, Ints, Ints], read: Mapping[int, Any]
) -> tuple[Ints, Ints, Ints]:
    """A text column's pairs: its plain numbers' from arrays, the others' from their cells."""
    nums, dens, okay = (part.copy() for part in plain)
    pairs = {i: None if v is _MISSING else number_pair(v) for i, v in read.items()}
    if any(p is not None and max(abs(p[0]), p[1]) >= 2**62 for p in pairs.values()):
        nums, dens = nums.astype(object), dens.astype(object)
    for i, pair in pairs.items():
        if pair is not None:
            nums[i], dens[i] = pair
            okay[i] = True
    return (
        np.append(nums, 0)[codes],  # code -1 takes the fill at the end
        np.append(dens, 1)[codes],
        np.append(okay, False)[codes],
    )


def _flags(column: _Column) -> tuple[Ints, Ints]:
    if column._flags is None:  # noqa: SLF001
        column._flags = _read_flags(column)  # noqa: SLF001
    found: tuple[Ints, Ints] = column._flags  # noqa: SLF001
    return found


def _read_flags(column: _Column) -> tuple[Ints, Ints]:
    values: list[bool] = []
    okay: list[bool] = []
    for value in column.distinct:
        flag = to_bool(value) if value is not _MISSING else None
        values.append(bool(flag))
        okay.append(flag is not None)
    return _take_flags(values, column.codes), _take_flags(okay, column.codes)


def _table_of(values: list[int], fill: int = 0) -> Ints:
    """*values* then *fill* (which code -1 takes), as int64 unless one is too wide."""
    limit = 2**62
    wide = bool(values) and (max(values) >= limit or min(values) <= -limit)
    return np.array([*values, fill], dtype=object if wide else np.int64)


def _take_flags(values: list[bool], codes: Ints) -> Ints:
    table = np.array([*values, False], dtype=np.bool_)
    return table[codes]


# --- scoring ----------------------------------------------------------------------------
def score_arrow(compiled: CompiledScheme, arrow: pa.Table) -> pa.Table:
    """:func:`score_table` on a pyarrow Table."""
    out, _ = _score_arrow(compiled, readable_table(arrow, TABLE_SOURCE))
    return out


def _score_arrow(compiled: CompiledScheme, arrow: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The results of a readable Arrow table, and its errors table."""
    values = (
        all_cohort_values(compiled, lambda: [(arrow, 1)]) if compiled.plan.has_cohort else None
    )
    chunk = score_chunk(compiled, arrow, values)
    names = [str(n) for n in arrow.column_names]
    return chunk.with_ranks(rank_rows(compiled, chunk.rankable)), errors_table(
        chunk.failures, names
    )


#: The errors table of :func:`score_table`: one row per problem.
ERRORS_SCHEMA: Final = pa.schema(
    [
        ("row", pa.int64()),
        ("column", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
    ]
)


def errors_table(
    failures: Mapping[int, FactsError], names: Sequence[str], offset: int = 0
) -> pa.Table:
    """The problems of the failed rows as a table (:data:`ERRORS_SCHEMA`).

    *failures* are by row of a chunk whose columns are *names*; *offset* is the chunk's
    first row in the whole table. A problem's column is its diagnostic's (1-based) column
    named; null when it is about the whole row.
    """
    rows: list[int] = []
    columns: list[str | None] = []
    codes: list[str] = []
    messages: list[str] = []
    for row in sorted(failures):
        for d in failures[row].diagnostics:
            rows.append(offset + row)
            columns.append(names[d.column - 1] if 0 < d.column <= len(names) else None)
            codes.append(d.code)
            messages.append(d.message("en"))
    return pa.table([rows, columns, codes, messages], schema=ERRORS_SCHEMA)


def unknown_shared_rows(
    compiled: CompiledScheme, names: Sequence[str], columns: Mapping[str, Any], n: int
) -> tuple[dict[str, tuple[int, str, str]], Ints]:
    """``shared.*`` columns of *names* that the scheme does not read, and the rows filling one.

    Which columns is the batch reader's rule (``_unknown_shared``); each such row is refused
    with ``PR421`` when it is scored (``_shared_problems``) and left out of cohort values.
    """
    unknown = _unknown_shared(names, compiled)
    rows = np.zeros(n, dtype=np.bool_)
    for key in unknown:
        column = columns.get(key)
        if column is not None:
            rows |= column.present()
    return unknown, rows


@dataclass
class Chunk:
    """One scored chunk of a table.

    Attributes:
        table: the result rows (without ``rank``).
        failures: the rows (from 0 in the chunk) whose facts failed, with their problems.
        rankable: ``(row, unit, keys, cohort)`` of every row the ranking takes.
        totals: each row's total as an integer over ``scale`` (failed: 0), or as an exact
            ``Fraction`` when the scheme does not round its total (``scale`` is ``None``).
        scored: the rows that scored.
        ranked: the scheme ranks its units (the table gets a ``rank`` column).
        scale: ``10 ** total_places``, or ``None``.
        lost: the points each counted indicator lost, summed over the rows that scored.
    """

    table: pa.Table
    failures: dict[int, FactsError]
    rankable: list[tuple[int, str, tuple[Fraction | None, ...], str | None]]
    totals: Ints
    scored: Ints
    ranked: bool
    scale: int | None = None
    lost: dict[str, Fraction] = field(default_factory=dict)
    #: ``[ranking] shared_mark``: the ``rank`` column is text as published (``=5``).
    rank_mark: str = ""
    #: Scored by a pass before the last: what it gives of each unit that scored
    #: (:meth:`Stage.keys`), for the values taken after it.
    staged: list[Staged] = field(default_factory=list)
    #: Each row's unit name (``row N`` for a row without one).
    units: _UnitNames | None = None
    #: How many of the rows that scored have each grade (a label none has is left out).
    grades: dict[str, int] = field(default_factory=dict)

    def unit(self, row: int) -> str:
        """The unit name of *row* (from 0 in the chunk), as its problems name it."""
        if self.units is not None:
            return self.units[row]
        return str(self.table.column("unit")[row].as_py())

    def moved_down(self, rows: int, label: str = TABLE_SOURCE) -> pa.Table:
        """The table as if scored *rows* rows further down the table *label* names.

        Only a failed unit's problems say where its row is (``table:ROW:COLUMN``), so a
        chunk scored before the rows above it were counted is placed by those alone.
        Not for a chunk with cohort values: they are kept by row.
        """
        if not self.failures:
            return self.table
        texts = self.table.column("errors").to_pylist()
        for row, error in self.failures.items():
            moved = FactsError(
                [_moved(d, rows) if d.file == label else d for d in error.diagnostics]
            )
            texts[row] = _error_text(moved.diagnostics)  # in the order a FactsError keeps
        at = self.table.column_names.index("errors")
        return self.table.set_column(at, "errors", string_array(texts))

    def with_ranks(self, ranks: Mapping[int, Any], offset: int = 0) -> pa.Table:
        """The table with its ``rank`` column (rows numbered from *offset*), if it ranks."""
        if not self.ranked:
            return self.table
        return ranked_table(self.table, ranks, offset, self.rank_mark)


def _error_text(diagnostics: Iterable[Diagnostic]) -> str:
    """A failed unit's cell of the ``errors`` column: its problems, in English."""
    return "; ".join(d.format("en") for d in diagnostics)


def _moved(diagnostic: Diagnostic, rows: int) -> Diagnostic:
    """A problem located *rows* rows further down its table."""
    end = diagnostic.end_line + rows if diagnostic.end_line else 0
    return replace(diagnostic, line=diagnostic.line + rows, end_line=end)


def ranked_table(table: pa.Table, ranks: Mapping[int, Any], offset: int, mark: str) -> pa.Table:
    """Result rows (numbered from *offset*) with their ``rank`` column, where results put it.

    *ranks* are :class:`~perfrules.trace.Rank` by row (:func:`rank_rows`); a row not in
    them is not ranked (null). With *mark* (``[ranking] shared_mark``) the column is text as
    published (``=5``), else each rank's position.
    """
    rows = range(offset, offset + table.num_rows)
    if mark:
        shown = [ranks[r].shown if r in ranks else None for r in rows]
        return with_rank_column(table, string_array(shown))
    present = np.fromiter((r in ranks for r in rows), dtype=np.bool_, count=len(rows))
    positions = np.fromiter(
        (ranks[r].position if r in ranks else 0 for r in rows), dtype=np.int64, count=len(rows)
    )
    return with_rank_column(table, int_array(positions, present))


def with_rank_column(table: pa.Table, column: pa.Array) -> pa.Table:
    """A result table (:attr:`Chunk.table`) with its ``rank`` column, where results put it.

    *column* is one rank a row (null where the row is not ranked): positions (``int64``),
    or the ranks as the table prints them (text, ``[ranking] shared_mark``).
    """
    return table.add_column(table.column_names.index("errors"), "rank", column)


def rank_rows(
    compiled: CompiledScheme,
    rankable: Iterable[tuple[int, str, tuple[Fraction | None, ...], str | None]],
) -> dict[int, Any]:
    """Ranks of the rankable rows, per cohort (``{}`` without a ranking)."""
    return compiled.rank(rankable)


#: A chunk of a table and the number of its first row (``score_chunk``'s *first_row*).
NumberedChunk = tuple[pa.Table, int]


def cohort_pass(compiled: CompiledScheme, chunks: Iterable[NumberedChunk]) -> CohortValues:
    """The first pass over every chunk: the values over facts (rows numbered across chunks)."""
    return cohort_values_of(
        compiled,
        (row for arrow, first in chunks for row in cohort_rows(compiled, arrow, first)),
    )


def all_cohort_values(
    compiled: CompiledScheme, chunks: Callable[[], Iterable[NumberedChunk]]
) -> CohortValues:
    """Every cohort value: over facts (:func:`cohort_pass`), then each pass over scores.

    *chunks* gives the table's chunks, each with its first row's number, afresh for each
    pass (a file is read again, so memory stays flat in the number of units).
    """
    values = cohort_pass(compiled, chunks())
    for stage in compiled.stages:
        values = stage_pass(stage, values, chunks())
    return values


def stage_pass(
    stage: Stage, values: CohortValues, chunks: Iterable[NumberedChunk]
) -> CohortValues:
    """*values* with those taken after *stage*: every chunk scored by the pass's scheme.

    Each chunk's units are taken as it is scored, so memory stays flat in their number
    (a median or percentile keeps each unit's value, as over facts).
    """
    taking = stage.taking(values)
    offset = 0
    for arrow, first in chunks:
        chunk = score_chunk(
            stage.compiled, arrow, values, offset=offset, first_row=first, stage=stage
        )
        taking.add(chunk.staged)
        taking.fail(pass_failures(chunk, offset))
        offset += arrow.num_rows
    return taking.result()


def pass_failures(chunk: Chunk, offset: int) -> dict[int, FactsError]:
    """The units a pass before the last failed, by position among all rows, unplaced.

    They fail with that reason in the last pass, placed there at their row of the file
    (a pass reads the chunks without knowing their lines).
    """
    return {
        offset + row: FactsError(
            [d.located(file=None, line=0, column=0) for d in error.diagnostics]
        )
        for row, error in chunk.failures.items()
    }


def cohort_rows(
    compiled: CompiledScheme, arrow: pa.Table, first_row: int = 1
) -> list[dict[str, Any] | None]:
    """What the cohort pass reads of each row of *arrow*: its unit and the shared facts.

    ``None`` for a row refused for a ``shared.*`` column nothing reads: it is left out of
    the values, as the in-memory batch leaves it out. *first_row* numbers the rows, as
    :func:`score_chunk`'s does, for the units named by their row.
    """
    wanted = compiled.plan.cohort_reads
    n = arrow.num_rows
    names = [str(c) for c in arrow.column_names]
    unit_at, by_name = table_columns(names)
    unknown = _unknown_shared(names, compiled)
    columns = {
        name: _Column(name, i, arrow.column(i))
        for name, i in by_name.items()
        if name.startswith("shared.")
        and (name.removeprefix("shared.") in wanted or name in unknown)
    }
    _, refused_rows = unknown_shared_rows(compiled, names, columns, n)
    units = _UnitNames(arrow.column(unit_at) if unit_at is not None else None, n, first_row)
    return [
        None if refused_rows[r] else {"unit": units[r], "shared": shared}
        for r, shared in enumerate(_shared_rows(columns, wanted, n))
    ]


def cohort_values_of(
    compiled: CompiledScheme, rows: Iterable[dict[str, Any] | None]
) -> CohortValues:
    """The cohort values over *rows* (as :func:`cohort_rows` gives them, in row order).

    A row that is ``None`` is left out; the problems of the others keep their row numbers.
    """
    left_out: list[int] = []  # rows not given to the values, in order

    def given() -> Iterable[dict[str, Any]]:
        for position, row in enumerate(rows):
            if row is None:
                left_out.append(position)
            else:
                yield row

    values = compiled.facts_values(given())
    if not left_out:
        return values
    problems = {_row_of(p, left_out): error for p, error in values.problems.items()}
    return values.but(problems=problems)


def _row_of(position: int, left_out: list[int]) -> int:
    """The row of the *position*-th unit given to the values (from 0), *left_out* skipped.

    The least row with ``position`` rows before it not left out: a fixed point reached
    from below (*left_out* is sorted).
    """
    row = position
    while (following := position + bisect.bisect_right(left_out, row)) != row:
        row = following
    return row


@dataclass
class Prepared:
    """One chunk of a table read for scoring: what no weight changes.

    Attributes:
        names: the columns in table order.
        columns: every column but the unit's, by name, each read once.
        units: each row's unit name.
        cohort: the cohort values, each row's cohort key and the rows left out of them.
        inputs: each indicator's operands (by node index), read in the lookup order.
        regular: the rows whose every cell was read plainly (the array scorer may take them).
        unknown: the ``shared.*`` columns nothing reads.
        refused: the rows filling one of them (refused with ``PR421``).
    """

    names: list[str]
    columns: dict[str, _Column]
    units: _UnitNames
    cohort: _Cohort | None
    inputs: dict[int, dict[str, tuple[Any, ...]]]
    regular: Ints
    unknown: dict[str, tuple[int, str, str]]
    refused: Ints


def prepare_chunk(
    compiled: CompiledScheme,
    arrow: pa.Table,
    values: CohortValues | None,
    *,
    offset: int = 0,
    first_row: int = 1,
) -> Prepared:
    """Read one chunk for :func:`score_chunk`: its columns, operands and regular rows."""
    n = arrow.num_rows
    names = [str(c) for c in arrow.column_names]
    unit_at, by_name = table_columns(names)
    columns = {name: _Column(name, i, arrow.column(i)) for name, i in by_name.items()}
    _float_room(columns.values(), n)
    units = _UnitNames(arrow.column(unit_at) if unit_at is not None else None, n, first_row)
    cohort = None
    if values is not None:
        shared = _shared_rows(columns, compiled.plan.cohort_reads, n)
        keys = [compiled.cohort_key(s, compiled.problems()) for s in shared]
        problems = {
            r: values.problems[offset + r] for r in range(n) if offset + r in values.problems
        }
        cohort = (values, keys, problems)
    inputs, regular, unknown, refused_rows = _operands(compiled, columns, cohort, names, n)
    return Prepared(names, columns, units, cohort, inputs, regular, unknown, refused_rows)


def _operands(
    compiled: CompiledScheme,
    columns: Mapping[str, _Column],
    cohort: _Cohort | None,
    names: Sequence[str],
    n: int,
) -> tuple[dict[int, dict[str, tuple[Any, ...]]], Ints, Any, Ints]:
    """Each indicator's operands, the rows read plainly, and the rows refused (PR421)."""
    plan = compiled.plan
    columnar = compiled.columnar()
    regular = np.full(n, columnar.vectorised, dtype=np.bool_)
    inputs: dict[int, dict[str, tuple[Any, ...]]] = {}
    if columnar.vectorised:
        regular &= _known_columns_only(compiled, columns, n)
        scores = _own_scores(compiled, columns, cohort, names, n) if plan.stages.own else {}
        for index in plan.leaves:
            inputs[index] = {}
            node = plan.nodes[index]
            leaf = node.leaf
            assert leaf is not None  # noqa: S101
            for name in leaf.needs:
                found = scores.get(name)
                if found is None:
                    found = _operand(compiled, columns, node.id, leaf, name, cohort, n)
                operand, okay = found
                inputs[index][name] = operand
                regular &= okay
    if cohort is not None:
        for position in cohort[2]:
            regular[position] = False
    # A row giving a shared fact nothing reads is refused (PR421): the long way says so.
    unknown, refused_rows = unknown_shared_rows(compiled, names, columns, n)
    regular &= ~refused_rows
    return inputs, regular, unknown, refused_rows


def _own_scores(
    compiled: CompiledScheme,
    columns: Mapping[str, _Column],
    cohort: _Cohort | None,
    names: Sequence[str],
    n: int,
) -> dict[str, tuple[tuple[Any, ...], Ints]]:
    """The unit's own scores its formulas read, as operands: the pass before, as arrays.

    Read where that pass scored the row as arrays; the other rows go the long way, where
    :meth:`CompiledScheme.evaluate` scores the pass before for the unit itself.
    """
    before = compiled.stages[-1].compiled
    inputs, regular, _, refused = _operands(before, columns, cohort, names, n)
    arrays = before.score_columns(inputs, regular) if before.columnar().vectorised else None
    found: dict[str, tuple[tuple[Any, ...], Ints]] = {}
    for name in compiled.plan.stages.own:
        if arrays is None:
            found[name] = (("num", np.zeros(n, dtype=np.int64), _ONE), np.zeros(n, np.bool_))
            continue
        index = before.plan.by_id[name]
        scale = np.asarray(10 ** arrays.scales[index], dtype=np.int64)
        found[name] = (("num", arrays.scores[index], scale), arrays.regular & ~refused)
    return found


def score_chunk(
    compiled: CompiledScheme,
    arrow: pa.Table,
    values: CohortValues | None,
    *,
    offset: int = 0,
    first_row: int = 1,
    label: str = TABLE_SOURCE,
    stage: Stage | None = None,
    narrow: bool = False,
) -> Chunk:
    """Score one chunk of a table with the cohort values taken over all of them.

    *offset* is the chunk's first row among all (cohort problems are kept by that number);
    *first_row* is how diagnostics number the chunk's first row (2 for a CSV with a header);
    *label* names the table in them (the file it was read from). With *stage*, *compiled*
    is that pass's scheme and the chunk's ``staged`` rows say what it gives of each unit
    (its ``rankable`` are none: only the last pass is ranked). With *narrow*, the decimal
    columns of 18 digits are ``decimal64`` (:func:`decimal_type`): for a Parquet writer.
    """
    plan = compiled.plan
    n = arrow.num_rows
    ready = prepare_chunk(compiled, arrow, values, offset=offset, first_row=first_row)
    columns, units, cohort, refused_rows = ready.columns, ready.units, ready.cohort, ready.refused
    regular = ready.regular
    vectorised = compiled.columnar().vectorised
    # The result's decimal columns, where the arrays write their scores.
    slab = _result_slab(compiled, n, narrow)
    arrays = compiled.score_columns(ready.inputs, regular, out=slab.low()) if vectorised else None
    if arrays is not None:
        regular = arrays.regular & ~refused_rows
    scalar: dict[int, Result | FactsError] = {}
    place = _Place(ready.names, units, first_row, label, ready.unknown)
    for row in np.flatnonzero(~regular).tolist():
        scalar[row] = _score_row(compiled, columns, place, row, cohort)
    gaps = _gaps(compiled, columns, ready.names, values, n)
    rankable = (  # a pass before the last gives its values, no rank
        _rankable(compiled, columns, units, arrays, scalar, cohort, n, offset, gaps)
        if stage is None
        else []
    )
    staged = (
        [] if stage is None else _staged(stage, columns, units, arrays, scalar, cohort, n, offset)
    )
    table, totals, scored, lost, grades = _result_table(
        compiled, units, arrays, scalar, cohort, n, gaps, slab, narrow
    )
    failures = {r: o for r, o in scalar.items() if isinstance(o, FactsError)}
    ranked = compiled.scheme.ranking is not None
    places = plan.total_places
    scale = None if places is None else 10**places
    ranking = compiled.scheme.ranking
    mark = "" if ranking is None else ranking.shared_mark
    return Chunk(
        table, failures, rankable, totals, scored, ranked, scale, lost, mark, staged, units, grades
    )


def _known_columns_only(compiled: CompiledScheme, columns: Mapping[str, _Column], n: int) -> Ints:
    """Rows with a value in a column the fast path does not read go the long way."""
    plan = compiled.plan
    declared = set(compiled.scheme.inputs)
    fine = np.ones(n, dtype=np.bool_)
    for name, column in columns.items():
        if name.startswith("shared."):
            continue
        ident, key = split_column(name, plan.by_id)
        index = plan.by_id.get(ident)
        node = plan.nodes[index] if index is not None else None
        leaf = node.leaf if node is not None else None
        # A normalised input taken across the cohort is a shared fact: an indicator's own
        # cell for it is refused (PR429), the long way.
        own = key or (leaf.show if leaf is not None else None)
        if (
            leaf is not None
            and own not in plan.shared_only
            and (not key or key in declared or key in leaf.needs or key == "note")
        ):
            continue
        fine &= ~column.present()
    return fine


def _operand(
    compiled: CompiledScheme,
    columns: Mapping[str, _Column],
    ident: str,
    leaf: Any,
    name: str,
    cohort: _Cohort | None,
    n: int,
) -> tuple[tuple[Any, ...], Ints]:
    """The operand of input *name* of indicator *ident* on every row, and where it was read.

    Resolved in the engine's lookup order (``find_fact``): the indicator's own cell, else
    the shared cell, else the cohort value, else the leaf's default (``Leaf.default``).
    """
    kind = compiled.types.get(name, "number")
    show = leaf.show or "actual"
    own = columns.get(f"{ident}.{name}") or (columns.get(ident) if name == show else None)
    shared = columns.get(f"shared.{name}")
    sources = [c for c in (own, shared) if c is not None]
    found = leaf.default(name)
    default = None if found is None else found[0]
    if kind == "bool":
        value = np.zeros(n, dtype=np.bool_)
        okay = np.zeros(n, dtype=np.bool_)
        taken = np.zeros(n, dtype=np.bool_)
        for column in sources:
            here = column.present() & ~taken
            flags, readable = _flags(column)
            value = np.where(here, flags, value)
            okay |= here & readable
            taken |= here
        if isinstance(default, bool):
            value = np.where(taken, value, default)
            okay |= ~taken
        return ("bool", value), okay
    cohort_value = cohort is not None and name in compiled.plan.cohort_names
    if not sources and not cohort_value and default is not None and not isinstance(default, bool):
        # No column gives it: the leaf's default on every row, one number (a constant).
        fraction = Fraction(default)
        return (
            "num",
            np.asarray(fraction.numerator, dtype=_int_or_object(fraction.numerator)),
            np.asarray(fraction.denominator, dtype=_int_or_object(fraction.denominator)),
        ), np.ones(n, dtype=np.bool_)
    if len(sources) == 1 and not cohort_value:
        # One column: its pairs as they are, where every row has a cell or none needs one
        # (its empty cells are then not read: those rows go the long way).
        column = sources[0]
        if default is None or column.present().all():
            coded = _coded(column)
            if coded is not None:
                return coded
            nums, dens, readable = _numbers(column)
            return ("num", nums, dens), readable
    num = np.zeros(n, dtype=np.int64)
    den = np.ones(n, dtype=np.int64)
    okay = np.zeros(n, dtype=np.bool_)
    taken = np.zeros(n, dtype=np.bool_)
    for column in sources:
        here = column.present() & ~taken
        nums, dens, readable = _numbers(column)
        if object in (nums.dtype, num.dtype):
            num, nums = num.astype(object), nums.astype(object)
            den, dens = den.astype(object), dens.astype(object)
        num, den = np.where(here, nums, num), np.where(here, dens, den)
        okay |= here & readable
        taken |= here
    if cohort is not None and name in compiled.plan.cohort_names:
        values, keys, _ = cohort
        per_key: dict[str | None, tuple[int, int] | None] = {}
        for key, taken_values in values.by_cohort.items():
            found = next((v.value for v in taken_values if v.name == name), None)
            per_key[key] = None if found is None else (found.numerator, found.denominator)
        rule = compiled.plan.cohort_rules[name]
        pairs = (
            _own_places(values, name, rule, keys, columns, n)
            if rule.stat in PER_UNIT
            else [per_key.get(k) for k in keys]
        )
        nums_c = np.array([p[0] if p else 0 for p in pairs], dtype=object)
        dens_c = np.array([p[1] if p else 1 for p in pairs], dtype=object)
        have = np.array([p is not None for p in pairs], dtype=np.bool_)
        if all(abs(x) < 2**62 for x in (*nums_c.tolist(), *dens_c.tolist())):
            nums_c, dens_c = nums_c.astype(np.int64), dens_c.astype(np.int64)
        else:
            num, den = num.astype(object), den.astype(object)
        # A unit's own cell for a cohort value is refused (PR414): the long way says so.
        okay = ~taken & have
        num, den = np.where(taken, num, nums_c), np.where(taken, den, dens_c)
        return ("num", num, den), okay
    if default is not None and not isinstance(default, bool):
        fraction = Fraction(default)
        num = np.where(taken, num, fraction.numerator)
        den = np.where(taken, den, fraction.denominator)
        okay |= ~taken
    return ("num", num, den), okay


def _int_or_object(value: int) -> Any:
    """int64 for a value well inside it, else Python integers."""
    return np.int64 if abs(value) < 2**62 else object


def _own_places(
    values: CohortValues,
    name: str,
    rule: Any,
    keys: Sequence[str | None],
    columns: Mapping[str, _Column],
    n: int,
) -> list[tuple[int, int] | None]:
    """Each row's own cohort value *name* (rank, percentrank), as an exact pair.

    The row's shared fact placed among its cohort's values (``CohortValues.place``, as the
    scalar path binds it); ``None`` where it cannot be read (that row goes the long way).
    """
    column = columns.get(f"shared.{rule.of}")
    if column is None:
        return [None] * n
    nums, dens, readable = _numbers(column)
    dens = np.broadcast_to(dens, (n,))
    taken = {key: {v.name: v for v in found}.get(name) for key, found in values.by_cohort.items()}
    out: list[tuple[int, int] | None] = []
    for row, key in enumerate(keys):
        value = taken.get(key)
        if value is None or not readable[row]:
            out.append(None)
            continue
        own = Fraction(int(nums[row]), int(dens[row]))
        placed = values.place(key, value, rule.order, own)
        out.append(None if placed is None else (placed.numerator, placed.denominator))
    return out


def _shared_rows(
    columns: Mapping[str, _Column], wanted: Iterable[str], n: int
) -> list[dict[str, Any]]:
    """The shared facts *wanted* of every row, as plain dicts."""
    picked = [(name, columns[f"shared.{name}"]) for name in wanted if f"shared.{name}" in columns]
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, column in picked:
        distinct = column.distinct
        for r, code in enumerate(column.codes.tolist()):
            if code >= 0:
                rows[r][name] = distinct[code]
    return rows


class _UnitNames:
    """Each row's unit name, read only for the rows that need it (and for the output).

    A row without a name is named by :func:`unit_name` with the number its problems give
    it (``first_row`` on), in whichever chunk or partition it is.
    """

    def __init__(self, column: pa.ChunkedArray | None, n: int, first_row: int = 1) -> None:
        self.n = n
        self.first_row = first_row
        self.array = column.combine_chunks().cast(pa.string()) if column is not None else None
        self._names: list[str | None] | None = None

    def __getitem__(self, row: int) -> str:
        if self._names is None:
            self._names = self.array.to_pylist() if self.array is not None else [None] * self.n
        name = self._names[row]
        return unit_name(name, self.first_row + row)

    def column(self) -> pa.Array:
        """Every row's name, as the results' ``unit`` column."""
        if self.array is None or nameless(self.array).any():
            return string_array([self[r] for r in range(self.n)])
        return self.array


#: The first byte of every character ``str.strip`` removes: ASCII white space and
#: ``\x1c``-``\x1f``, and the lead byte of U+0085, U+00A0, U+1680, U+2000-U+200A,
#: U+2028, U+2029, U+202F, U+205F and U+3000 in UTF-8.
_SPACE_LEADS: Final = np.zeros(256, dtype=np.bool_)
_SPACE_LEADS[list(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\xc2\xe1\xe2\xe3")] = True


def nameless(array: pa.Array | pa.ChunkedArray) -> Ints:
    """Which cells of a unit column name no unit (:func:`names_a_unit`, the one rule).

    Only a cell that may not (missing, empty, or starting with a byte white space starts
    with) is looked at in Python: a column of names costs a look at each first byte.
    """
    texts = (array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array).cast(
        pa.string()
    )
    codes, offsets = text_bytes(texts)
    starts, lengths = offsets[:-1], np.diff(offsets)
    maybe = (lengths == 0) | ~_valid(texts)
    filled = ~maybe
    maybe[filled] = _SPACE_LEADS[codes[starts[filled]]]
    out = np.zeros(len(texts), dtype=np.bool_)
    for row in np.flatnonzero(maybe).tolist():
        out[row] = not names_a_unit(texts[row].as_py())
    return out


def has_nameless(arrow: pa.Table) -> bool:
    """Whether a unit of *arrow* is named by its row (no unit column, or a cell naming none)."""
    unit_at, _ = table_columns([str(c) for c in arrow.column_names])
    return unit_at is None or bool(nameless(arrow.column(unit_at)).any())


@dataclass(frozen=True)
class _Place:
    """How the rows of a chunk are named and placed in diagnostics.

    Attributes:
        names: the columns in table order (the unit column too).
        units: each row's unit name.
        first_row: the number of the chunk's first row.
        label: the table's name (``table``, or the file it was read from).
        unknown: the ``shared.*`` columns nothing reads (``_unknown_shared``).
    """

    names: Sequence[str]
    units: _UnitNames
    first_row: int
    label: str
    unknown: Mapping[str, tuple[int, str, str]]


def _score_row(
    compiled: CompiledScheme,
    columns: Mapping[str, _Column],
    place: _Place,
    row: int,
    cohort: _Cohort | None,
) -> Result | FactsError:
    """One row the long way: every problem explained at its row and column."""
    # Every column in table order (the unit column too), so positions are the table's own.
    cells: dict[str, Any] = {}
    for name in place.names:
        column = columns.get(name)
        cell = _MISSING if column is None else column.row(row)
        cells[name] = "" if cell is _MISSING else cell
    where = (place.label, row + place.first_row)
    refused_here = _shared_problems(cells, dict(place.unknown), where) if place.unknown else None
    if refused_here is not None:
        return refused_here
    data, positions = _unit_facts(cells, compiled)
    facts = _with_positions(data, positions, where, place.units[row])
    if cohort is not None and row in cohort[2]:
        return placed(cohort[2][row], facts)
    try:
        return compiled.evaluate(
            facts, trace=False, cohort=cohort[0] if cohort is not None else None
        )
    except FactsError as exc:
        return exc


def _gaps(
    compiled: CompiledScheme,
    columns: Mapping[str, _Column],
    names: Sequence[str],
    values: CohortValues | None,
    n: int,
) -> list[DataGaps] | None:
    """Each row's missing data (:meth:`CompiledScheme.data_gaps`), when the scheme asks.

    Only a scheme that imputes or ranks with ``min_available`` reads every row's facts
    for it; the others pay nothing.
    """
    ranking = compiled.scheme.ranking
    if not compiled.imputes and (ranking is None or ranking.min_available is None):
        return None
    read = [(name, columns.get(name)) for name in names]
    out = []
    for row in range(n):
        cells: dict[str, Any] = {}
        for name, column in read:
            cell = _MISSING if column is None else column.row(row)
            cells[name] = "" if cell is _MISSING else cell
        data, _ = _unit_facts(cells, compiled)
        out.append(compiled.data_gaps(data, values))
    return out


def _rankable(
    compiled: CompiledScheme,
    columns: Mapping[str, _Column],
    units: _UnitNames,
    arrays: Arrays | None,
    scalar: Mapping[int, Result | FactsError],
    cohort: _Cohort | None,
    n: int,
    offset: int,
    gaps: Sequence[DataGaps] | None = None,
) -> list[tuple[int, str, tuple[Fraction | None, ...], str | None]]:
    """``(row, unit, keys, cohort)`` of the rows the ranking takes (rows from *offset*).

    A row whose *gaps* fall below ``[ranking] min_available`` is not taken.
    """
    ranking = compiled.scheme.ranking
    if ranking is None:
        return []
    keys_of = cohort[1] if cohort is not None else [None] * n
    rows: list[tuple[int, str, tuple[Fraction | None, ...], str | None]] = []
    reads = compiled.plan.cohort_reads
    for row, shared, score in _scored_rows(compiled, columns, arrays, scalar, n, reads):
        if gaps is not None and compiled.unranked(gaps[row]) is not None:
            continue
        keys = compiled.rank_keys(shared, score)
        if keys is not None:
            rows.append((offset + row, units[row], keys, keys_of[row]))
    return rows


def _staged(
    stage: Stage,
    columns: Mapping[str, _Column],
    units: _UnitNames,
    arrays: Arrays | None,
    scalar: Mapping[int, Result | FactsError],
    cohort: _Cohort | None,
    n: int,
    offset: int,
) -> list[Staged]:
    """What a pass gives of each row that scored (rows from *offset*), for :meth:`Stage.take`."""
    keys_of = cohort[1] if cohort is not None else [None] * n
    reads = stage.owner.plan.cohort_reads  # the values' where conditions read the owner's
    return [
        (offset + row, units[row], stage.keys(shared, score), keys_of[row])
        for row, shared, score in _scored_rows(stage.compiled, columns, arrays, scalar, n, reads)
    ]


def _scored_rows(
    compiled: CompiledScheme,
    columns: Mapping[str, _Column],
    arrays: Arrays | None,
    scalar: Mapping[int, Result | FactsError],
    n: int,
    reads: Iterable[str],
) -> Iterator[tuple[int, dict[str, Any], Callable[[str | None], Fraction | None]]]:
    """Each row that scored: its position, its shared facts *reads*, its exact scores by id."""
    shared = _shared_rows(columns, reads, n)
    for row in range(n):
        outcome = scalar.get(row)
        if not isinstance(outcome, FactsError):
            yield row, shared[row], partial(_score_of, compiled, arrays, outcome, row)


def _score_of(
    compiled: CompiledScheme,
    arrays: Arrays | None,
    outcome: Result | FactsError | None,
    row: int,
    ident: str | None,
) -> Fraction | None:
    """:func:`_score` of the group or indicator *ident* (``None``: the total)."""
    index = 0 if ident is None else compiled.plan.by_id[ident]
    return _score(compiled, arrays, outcome, row, index)


def _score(
    compiled: CompiledScheme,
    arrays: Arrays | None,
    outcome: Result | FactsError | None,
    row: int,
    index: int,
) -> Fraction | None:
    """The exact score of node *index* (0: the total) on *row*."""
    if outcome is None:
        assert arrays is not None  # noqa: S101
        return Fraction(int(arrays.scores[index][row]), 10 ** arrays.scales[index])
    assert isinstance(outcome, Result)  # noqa: S101
    return compiled.exact_score(outcome, None if index == 0 else compiled.plan.nodes[index].id)


# --- the result table -------------------------------------------------------------------
def _gap_columns(
    compiled: CompiledScheme,
    gaps: Sequence[DataGaps],
    scored: Ints,
    columns: dict[str, pa.Array],
) -> None:
    """``imputed`` (the inputs imputed, by name) and ``unranked`` (why not ranked), as asked.

    ``imputed`` when the scheme imputes; ``unranked`` when it ranks with ``min_available``:
    empty for a unit ranked or failed, else the reason.
    """
    flags = scored.tolist()
    if compiled.imputes:
        imputed = [" ".join(g.imputed) or None for g in gaps]
        columns["imputed"] = string_array(
            [text if ok else None for text, ok in zip(imputed, flags, strict=True)]
        )
    ranking = compiled.scheme.ranking
    if ranking is not None and ranking.min_available is not None:
        reasons = []
        for gap, ok in zip(gaps, flags, strict=True):
            why = compiled.unranked(gap) if ok else None
            reasons.append(None if why is None else why.text("en"))
        columns["unranked"] = string_array(reasons)


class _Slab:
    """One zeroed buffer for the decimal columns of a result, a column for each node given.

    A result's columns live as long as each other; one allocation this large is mapped in
    large pages (numpy asks for them past 4 MiB), where a fresh buffer per column costs a
    page fault every 4 KiB (about as much as building the column). A value takes *size*
    words: 2 for a ``decimal128`` column, zeroed, so a column of values none of which is
    negative has its high words written already; 1 for a ``decimal64`` one. The array
    scorer writes each node's scores straight into its column's low words (:meth:`low`).
    """

    def __init__(self, n: int, nodes: Sequence[int], size: int = 2) -> None:
        self.n = n
        self.size = size
        self.words = np.zeros(size * n * len(nodes), dtype=np.int64)
        self.at = {index: k for k, index in enumerate(nodes)}

    def column(self, index: int) -> Ints:
        """Node *index*'s ``size * n`` words: little-endian 128- or 64-bit values."""
        start = self.size * self.n * self.at[index]
        return self.words[start : start + self.size * self.n]

    def low(self) -> dict[int, Ints]:
        """Each node's low words, as one int64 a row (where its scores are written)."""
        return {index: self.column(index)[0 :: self.size] for index in self.at}


def _result_slab(compiled: CompiledScheme, n: int, narrow: bool = False) -> _Slab:
    """The slab of a result: the total and every rounded indicator (decimal columns).

    *narrow*: the columns of 18 digits are ``decimal64`` (:func:`decimal_type`), a word a
    value, when every one is; else two words a value (where a ``decimal64`` column among
    them is made in words of its own).
    """
    plan = compiled.plan
    places = {i: plan.nodes[i].places for i in plan.leaves if plan.nodes[i].places is not None}
    if plan.total_places is not None:
        places = {0: plan.total_places, **places}
    kinds = (decimal_type(compiled, p or 0, narrow) for p in places.values())
    size = 1 if narrow and all(is_decimal64(kind) for kind in kinds) else 2
    return _Slab(n, list(places), size)


#: A whole int64 holds 18 digits: a decimal column of at most 18 is stored as one in
#: Parquet (``store_decimal_as_integer``), half the bytes of 38 digits, read as integers.
_INT64_DIGITS: Final = 18


def decimal_type(compiled: CompiledScheme, places: int, narrow: bool = False) -> pa.DataType:
    """The type of a decimal result column: it holds every score the scheme can produce.

    A score lies in ``[0, weight]`` and a total within the weights below it, so the
    scheme's max and its indicators' weights bound every score. The narrowest of three
    precisions that holds their digits and *places*: 18 (a Parquet ``INT64``, as Spark and
    Presto write a short decimal), 38 (``decimal128``) or 76 (``decimal256``; rule-file
    numbers have at most 30 digits before the point). A scheme of 100 points to two places
    takes ``decimal128(18, 2)``, whatever the batch holds; ``decimal64(18, 2)`` with
    *narrow*, for a Parquet writer that takes it (:func:`narrow_decimals`: the same file).
    The bound's digits are counted once per scheme (every chunk of a batch asks).
    """
    plan = compiled.plan
    whole = plan.cache.get("score_digits")
    if whole is None:
        bound = max(plan.max, plan.leaf_weights.get(0, plan.max), *(n.weight for n in plan.nodes))
        whole = plan.cache["score_digits"] = len(str(int(bound))) + 1  # rounding up: a digit
    digits = cast("int", whole) + places
    if digits <= _INT64_DIGITS:
        if narrow:
            return pa.decimal64(_INT64_DIGITS, places)
        return pa.decimal128(_INT64_DIGITS, places)
    if digits <= 38:
        return pa.decimal128(38, places)
    return pa.decimal256(76, places)


def _decimals(
    ints: Ints,
    places: int,
    valid: Ints,
    words: Ints | None = None,
    kind: pa.DataType | None = None,
) -> pa.Array:
    """Exact decimal values from integers over ``10 ** places`` (nulls where not valid).

    *words* is the column's place in a :class:`_Slab` (its low words may hold *ints*
    already, written there by the array scorer). *kind* is the column's type
    (:func:`decimal_type`); a value it cannot hold (none, while scores keep within their
    weights) makes the column ``decimal128(38)`` or ``decimal256(76)``, which a writer's
    cast to the scheme's type then refuses. A ``decimal64`` column's *words* are its
    values, one a row.
    """
    n = ints.shape[0]
    if kind is not None and is_decimal64(kind) and ints.dtype != object:
        if words is None or words.shape[0] != n:
            words = np.zeros(n, dtype=np.int64)
        every = bool(valid.all())
        if not every:
            np.multiply(ints, valid, out=words)
        elif not np.shares_memory(ints, words):
            words[:] = ints
        if n and max(int(words.max()), -int(words.min())) >= 10**kind.precision:
            return _decimals(words, places, valid)  # decimal128(38): two words a value
        bitmap = None if every else pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = 0 if bitmap is None else int(n - valid.sum())
        return pa.Array.from_buffers(kind, n, [bitmap, pa.py_buffer(words)], null_count=nulls)
    if kind is None or not pa.types.is_decimal128(kind):
        kind, words = pa.decimal128(38, places), None
    if ints.dtype != object:
        every = bool(valid.all())
        # Little-endian 128-bit two's complement: the value's word, then its sign's.
        if words is None:
            words = np.zeros(2 * n, dtype=np.int64)
        low = words[0::2]
        if not every:
            np.multiply(ints, valid, out=low)
        elif not np.shares_memory(ints, low):
            low[:] = ints
        if n:
            least, most = int(low.min()), int(low.max())
            if least < 0:
                np.right_shift(low, 63, out=words[1::2])
            if max(most, -least) >= 10**kind.precision:
                kind = pa.decimal128(38, places)
        bitmap = None if every else pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = 0 if bitmap is None else int(n - valid.sum())
        data = pa.py_buffer(words)
        return pa.Array.from_buffers(kind, n, [bitmap, data], null_count=nulls)
    wide = [int(v) if ok else 0 for v, ok in zip(ints.tolist(), valid.tolist(), strict=True)]
    size, most = 16, max((abs(v) for v in wide), default=0)
    if most >= 10**kind.precision:
        kind = pa.decimal128(38, places)
    if most >= 10**38:
        kind, size = pa.decimal256(76, places), 32  # past decimal128: the writers widen
    # Each value as Arrow keeps it: little-endian two's complement, 16 or 32 bytes.
    data = pa.py_buffer(b"".join(v.to_bytes(size, "little", signed=True) for v in wide))
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if bitmap is None else int(n - valid.sum())
    return pa.Array.from_buffers(kind, n, [bitmap, data], null_count=nulls)


def _exact_text(value: Fraction | None) -> str | None:
    if value is None:
        return None
    return (
        format_number(value) if is_terminating(value) else f"{value.numerator}/{value.denominator}"
    )


def _result_table(
    compiled: CompiledScheme,
    units: _UnitNames,
    arrays: Arrays | None,
    scalar: Mapping[int, Result | FactsError],
    cohort: _Cohort | None,
    n: int,
    gaps: Sequence[DataGaps] | None = None,
    slab: _Slab | None = None,
    narrow: bool = False,
) -> tuple[pa.Table, Ints, Ints, dict[str, Fraction], dict[str, int]]:
    plan = compiled.plan
    scored = np.ones(n, dtype=np.bool_)
    scored[[r for r, outcome in scalar.items() if isinstance(outcome, FactsError)]] = False
    columns: dict[str, pa.Array] = {"unit": units.column()}

    def node_ints(index: int, places: int) -> tuple[Ints, Ints]:
        if arrays is not None and not scalar:  # every row scored as arrays: read, not copied
            return arrays.scores[index], scored
        values = np.zeros(n, dtype=np.int64) if arrays is None else arrays.scores[index].copy()
        valid = scored.copy()
        for row, outcome in scalar.items():
            if isinstance(outcome, FactsError):
                continue
            value = _score(compiled, arrays, outcome, row, index)
            if value is None:
                valid[row] = False
                continue
            whole = value * 10**places
            assert whole.denominator == 1  # noqa: S101 - a score rounded to *places*
            if values.dtype != object and abs(whole.numerator) >= 2**62:
                values = values.astype(object)
            values[row] = whole.numerator
        return values, valid

    def exact_column(index: int) -> tuple[pa.Array, list[Fraction | None]]:
        exact = [
            _score(compiled, arrays, scalar.get(r), r, index) if scored[r] else None
            for r in range(n)
        ]
        return string_array([_exact_text(v) for v in exact]), exact

    lost: dict[str, Fraction] = {}
    total_places = plan.total_places
    if slab is None:
        slab = _result_slab(compiled, n, narrow)
    if total_places is None:  # exact text, never cut to a number of places
        columns["total"], exact_totals = exact_column(0)
        totals = np.array(
            [v if v is not None else Fraction(0) for v in exact_totals], dtype=object
        )
    else:
        totals, valid = node_ints(0, total_places)
        columns["total"] = _decimals(
            totals,
            total_places,
            valid,
            slab.column(0),
            decimal_type(compiled, total_places, narrow),
        )
    labels = [band[0] for band in plan.bands]
    codes = (
        np.zeros(n, dtype=np.int32) if arrays is None else np.asarray(arrays.band, dtype=np.int32)
    )
    for row, outcome in scalar.items():
        if isinstance(outcome, Result):
            label = outcome.grade.label  # a grade override's label is not a band's
            if label not in labels:
                labels.append(label)
            codes[row] = labels.index(label)
    grade_codes = int_array(codes, scored, pa.int32())
    # The grades of the rows that scored, counted by their codes (not by their texts).
    grades: dict[str, int] = {}
    each = np.bincount(codes[scored], minlength=len(labels)).tolist()
    for label, count in zip(labels, each, strict=True):
        if count:  # two bands may share a label
            grades[label] = grades.get(label, 0) + count
    columns["grade"] = pa.DictionaryArray.from_arrays(grade_codes, string_array(labels)).cast(
        pa.string()
    )
    counted = frozenset(plan.counted_leaves)
    everyone = int(scored.sum())  # the rows that scored, counted once for every column
    for index in plan.leaves:
        node = plan.nodes[index]
        if node.places is None:
            columns[node.id], exact = exact_column(index)
            present = [v for v in exact if v is not None]
            lost_here = node.weight * len(present) - sum(present, Fraction(0))
            seen = len(present)
        else:
            ints, valid = node_ints(index, node.places)
            kind = decimal_type(compiled, node.places, narrow)
            columns[node.id] = _decimals(ints, node.places, valid, slab.column(index), kind)
            count = everyone if valid is scored else int(valid.sum())
            kept = ints if count == n else ints[valid]
            summed = int(kept.sum()) if kept.dtype != object else sum(kept.tolist())
            lost_here = node.weight * count - Fraction(summed, 10**node.places)
            seen = count
        if index in counted and seen:
            lost[node.id] = lost_here
    declared = compiled.written.cohort  # as written: not the values a step writes out
    if cohort is not None and declared is not None:
        values, keys, problems = cohort
        if declared.group_by is not None:
            columns[declared.group_by] = string_array(keys)
        for name in declared.values:  # noqa: PD011 - the rule file's cohort values
            texts = []
            for row, key in enumerate(keys):
                taken = values.values(key) if row not in problems else None
                found = next((v.value for v in taken or () if v.name == name), None)
                texts.append(_exact_text(found))
            columns[name] = string_array(texts)
    if gaps is not None:
        _gap_columns(compiled, gaps, scored, columns)
    errors: list[str | None] = [None] * n
    for row, outcome in scalar.items():
        if isinstance(outcome, FactsError):
            errors[row] = _error_text(outcome.diagnostics)
    columns["errors"] = string_array(errors) if scored.sum() < n else pa.nulls(n, pa.string())
    return pa.table(columns), totals, scored, lost, grades
