"""Arrow arrays to numpy arrays and back, through their buffers.

pyarrow imports pandas, when it is installed, the first time it is asked to convert Python
values or numpy arrays (``pa.array``, ``pa.scalar``, a compute function given a Python
value) or to make a numpy array of its own (``Array.to_numpy``, ``np.asarray(array)``):
a fifth of a second or more, whether or not anything uses pandas. A batch never does, so
the batch's path reads and makes arrays from their buffers instead, which is also the
fastest way there is. The values are the same as pyarrow's conversions give.

Needs the ``frame`` extra (numpy, pyarrow); imported only when used.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa

__all__ = [
    "bool_array",
    "bools",
    "floats",
    "has_decimal64",
    "int_array",
    "ints",
    "is_decimal64",
    "narrow_decimals",
    "narrow_parquet",
    "parquet_writer",
    "scalar",
    "string_array",
    "text_bytes",
    "valid",
]

Ints = np.ndarray[Any, Any]

#: numpy's type of each Arrow integer type.
_INTEGERS: Final = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
}


def parquet_writer(sink: Any, schema: pa.Schema) -> Any:
    """A ``pyarrow.parquet.ParquetWriter`` of result tables in *schema* into *sink*.

    The one way a batch writes its results to Parquet. The ``unit`` column names each unit
    once, so it is written plain: a dictionary of it would hold every cell, built for
    nothing and given up when it grows past a page (without it the file is smaller and
    written faster). Every other column repeats few values and keeps its dictionary. A
    decimal of 18 digits (``decimal_type``'s narrowest) is stored as an ``INT64``, as Spark
    and Presto store one: its statistics are compared as integers, and a reader takes it
    three times as fast as 16-byte decimals.

    A schema with ``decimal64`` columns (:func:`narrow_decimals`) is written without
    Arrow's own copy of it, so that a reader takes the file's Parquet types: each such
    column is read back as ``decimal128(18, P)``, the same columns and values as a
    ``decimal128`` table writes (the file only lacks the ``ARROW:schema`` metadata). Its
    other columns must be of types that come back so (:func:`narrow_parquet`).
    """
    import pyarrow.parquet as pq  # noqa: PLC0415 - the writer's own module, when it writes

    dictionary = [name for name in schema.names if name != "unit"]
    narrow = has_decimal64(schema)
    if narrow and not all(_plain_parquet(field.type) for field in schema):
        raise ValueError(f"decimal64 beside a type read back otherwise: {schema}")
    return pq.ParquetWriter(
        sink,
        schema,
        use_dictionary=dictionary,
        store_decimal_as_integer=True,
        store_schema=not narrow,
    )


def narrow_parquet(schema: pa.Schema) -> bool:
    """Whether a result of *schema* is written to Parquet with ``decimal64`` columns.

    Where this pyarrow writes them (:func:`narrow_decimals`) and every other column is of
    a type that a reader takes back from the Parquet file alone (text, whole numbers,
    floats, booleans, decimals): the Arrow schema, which would say what else a column
    was (a dictionary, a time zone, a large string), is not written beside them.
    """
    return narrow_decimals() and all(_plain_parquet(field.type) for field in schema)


def _plain_parquet(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    )


def has_decimal64(schema: pa.Schema) -> bool:
    """Whether *schema* has a ``decimal64`` column (results scored into 8-byte values)."""
    return any(is_decimal64(field.type) for field in schema)


def is_decimal64(kind: pa.DataType) -> bool:
    """Whether *kind* is a ``decimal64`` (pyarrow before 18 has no such type, nor its test)."""
    return bool(pa.types.is_decimal(kind) and kind.byte_width == 8)


@functools.cache
def narrow_decimals() -> bool:
    """Whether this pyarrow writes ``decimal64`` columns to Parquet as :func:`parquet_writer` does.

    A decimal of 18 digits is stored as an ``INT64`` either way; from a ``decimal64``
    column (8 bytes a value, the integers as they are) pyarrow writes it a fifth faster
    than from a ``decimal128`` one, and the scores are written into it without the 16-byte
    words. pyarrow has the type since version 18; whether its Parquet writer takes it, and
    its reader gives the same ``decimal128(18, P)`` back, is tried once, on one value.
    """
    import pyarrow.parquet as pq  # noqa: PLC0415 - the writer's own module, when it writes

    if not hasattr(pa, "decimal64"):
        return False
    value = pa.py_buffer(np.array([125], dtype=np.int64))
    table = pa.table({"v": pa.Array.from_buffers(pa.decimal64(18, 2), 1, [None, value])})
    wide = pa.py_buffer(np.array([125, 0], dtype=np.int64))
    want = pa.Array.from_buffers(pa.decimal128(18, 2), 1, [None, wide])
    sink = pa.BufferOutputStream()
    try:
        with parquet_writer(sink, table.schema) as writer:
            writer.write_table(table)
        # (``read_table`` would import pandas, for its metadata)
        file = pq.ParquetFile(pa.BufferReader(sink.getvalue()))
        back = file.read(use_pandas_metadata=False).column("v")
    except (pa.ArrowException, TypeError, ValueError):
        return False
    return bool(back.type == want.type and back.chunk(0).equals(want))


def _bits(buffer: pa.Buffer, offset: int, n: int) -> Ints:
    """*n* bits of a bitmap from bit *offset* (Arrow's order: the least bit first)."""
    first = offset // 8
    data = np.frombuffer(buffer, dtype=np.uint8, count=(offset + n + 7) // 8 - first, offset=first)
    start = offset - 8 * first
    flags: Ints = np.unpackbits(data, bitorder="little")[start : start + n].view(np.bool_)
    return flags


def _one(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def valid(array: pa.Array | pa.ChunkedArray) -> Ints:
    """The rows of *array* that are not null."""
    array = _one(array)
    n = len(array)
    if array.null_count == 0:
        return np.ones(n, dtype=np.bool_)
    if pa.types.is_null(array.type):
        return np.zeros(n, dtype=np.bool_)
    bitmap = array.buffers()[0]
    assert bitmap is not None  # noqa: S101 - an array with nulls has its bitmap
    return _bits(bitmap, array.offset, n)


def bools(array: pa.Array | pa.ChunkedArray) -> Ints:
    """A boolean array's values, False where null."""
    array = _one(array)
    n = len(array)
    data = array.buffers()[1]
    if data is None or not n:
        return np.zeros(n, dtype=np.bool_)
    flags = _bits(data, array.offset, n)
    return flags & valid(array) if array.null_count else flags.copy()


def ints(array: pa.Array | pa.ChunkedArray, fill: int = 0) -> Ints:
    """An integer array's values as int64 (uint64 as it is), *fill* where null."""
    array = _one(array)
    n = len(array)
    kind = _INTEGERS[array.type]
    data = array.buffers()[1]
    if data is None or not n:
        return np.zeros(n, dtype=np.int64)
    width = np.dtype(kind).itemsize
    values = np.frombuffer(data, dtype=kind, count=n, offset=array.offset * width)
    wide = values.astype(np.uint64 if kind == np.uint64 else np.int64)
    if array.null_count:
        wide[~valid(array)] = fill
    return wide


def floats(array: pa.Array | pa.ChunkedArray) -> Ints:
    """A floating-point array's values as float64, 0.0 where null."""
    array = _one(array)
    n = len(array)
    if array.type != pa.float64():
        array = array.cast(pa.float64())
    data = array.buffers()[1]
    if data is None or not n:
        return np.zeros(n, dtype=np.float64)
    values = np.frombuffer(data, dtype=np.float64, count=n, offset=array.offset * 8).copy()
    if array.null_count:
        values[~valid(array)] = 0.0
    return values


def text_bytes(array: pa.Array) -> tuple[Ints, Ints]:
    """A string array's bytes and where each cell starts in them.

    The bytes are every cell's (null or not) one after another; the *n* + 1 offsets end
    with where the bytes end.
    """
    wide = np.int32 if pa.types.is_string(array.type) else np.int64
    n = len(array)
    if not n:
        return np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    offsets = np.frombuffer(
        array.buffers()[1], dtype=wide, count=n + 1, offset=array.offset * np.dtype(wide).itemsize
    )
    data = array.buffers()[2]
    first, last = int(offsets[0]), int(offsets[-1])
    codes = np.frombuffer(data, dtype=np.uint8)[first:last] if data is not None else np.zeros(0)
    return codes.astype(np.uint8, copy=False), offsets - first


def _bitmap(flags: Ints | None) -> tuple[pa.Buffer | None, int]:
    if flags is None or flags.all():
        return None, 0
    return pa.py_buffer(np.packbits(flags, bitorder="little")), int(len(flags) - flags.sum())


def int_array(
    values: Ints, present: Ints | None = None, kind: pa.DataType | None = None
) -> pa.Array:
    """An Arrow integer array of *values* (int64 unless *kind*), null where not *present*."""
    kind = kind or pa.int64()
    data = np.ascontiguousarray(values, dtype=_INTEGERS[kind])
    bitmap, nulls = _bitmap(present)
    return pa.Array.from_buffers(kind, len(data), [bitmap, pa.py_buffer(data)], null_count=nulls)


def bool_array(flags: Ints, present: Ints | None = None) -> pa.Array:
    """An Arrow boolean array of *flags*, null where not *present*."""
    data = pa.py_buffer(np.packbits(np.asarray(flags, dtype=np.bool_), bitorder="little"))
    bitmap, nulls = _bitmap(present)
    return pa.Array.from_buffers(pa.bool_(), len(flags), [bitmap, data], null_count=nulls)


def string_array(values: Sequence[str | None]) -> pa.Array:
    """An Arrow string array of *values* (``None`` is null)."""
    values = list(values)
    n = len(values)
    missing = values.count(None)
    if missing == n:
        return pa.nulls(n, pa.string())
    encoded = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    data = b"".join(encoded)
    kind = pa.string() if len(data) < 2**31 else pa.large_string()
    width = np.int32 if kind == pa.string() else np.int64
    present = np.array([v is not None for v in values], dtype=np.bool_) if missing else None
    bitmap, nulls = _bitmap(present)
    buffers = [bitmap, pa.py_buffer(offsets.astype(width)), pa.py_buffer(data)]
    return pa.Array.from_buffers(kind, n, buffers, null_count=nulls)


def scalar(value: str | bool | int) -> pa.Scalar:
    """An Arrow scalar (string, boolean or int64) to give a compute function."""
    if isinstance(value, str):
        found: pa.Scalar = string_array([value])[0]
    elif isinstance(value, bool):
        found = bool_array(np.array([value]))[0]
    else:
        found = int_array(np.array([value], dtype=np.int64))[0]
    return found
