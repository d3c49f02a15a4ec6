"""Arrays read and made through their buffers give what pyarrow's own conversions give.

The batch's path reads Arrow arrays into numpy (and makes them back) from their buffers, so
that pyarrow never imports pandas (``workflows._arrow``); an offset (a slice), a null or a
width that the buffers hold differently must not change a value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrules.workflows import _arrow

_SLICES = st.tuples(st.integers(0, 20), st.integers(0, 40))


def _sliced(array: pa.Array, where: tuple[int, int]) -> pa.Array:
    start = min(where[0], len(array))
    return array.slice(start, where[1])


@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=60), _SLICES)
@settings(max_examples=200, deadline=None)
def test_flags_and_nulls_are_read_as_pyarrow_reads_them(values, where):
    array = _sliced(pa.array(values, pa.bool_()), where)
    cells = array.to_pylist()
    assert _arrow.bools(array).tolist() == [bool(v) for v in cells]
    assert _arrow.valid(array).tolist() == [v is not None for v in cells]
    chunked = pa.chunked_array([array, array])
    assert _arrow.bools(chunked).tolist() == [bool(v) for v in cells * 2]


_WIDTHS = st.sampled_from(
    [(pa.int8(), 7), (pa.int16(), 15), (pa.int32(), 31), (pa.int64(), 63), (pa.uint64(), 64)]
)


@given(_WIDTHS, st.data(), _SLICES, st.integers(0, 5))
@settings(max_examples=200, deadline=None)
def test_integers_and_floats_are_read_as_pyarrow_reads_them(width, data, where, fill):
    kind, bits = width
    fill = fill if bits == 64 else -fill  # a code's fill is -1; a number's 0
    low, high = (0, 2**bits - 1) if bits == 64 else (-(2**bits), 2**bits - 1)
    values = data.draw(st.lists(st.one_of(st.none(), st.integers(low, high)), max_size=60))
    array = _sliced(pa.array(values, kind), where)
    cells = array.to_pylist()
    assert _arrow.ints(array, fill=fill).tolist() == [fill if v is None else v for v in cells]
    floats = _sliced(pa.array([None if v is None else v / 7 for v in values]), where)
    assert _arrow.floats(floats).tolist() == [0.0 if v is None else v for v in floats.to_pylist()]


@given(
    st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), max_size=40),
    st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=40),
)
@settings(max_examples=200, deadline=None)
def test_arrays_made_from_buffers_hold_the_values_given(numbers, texts):
    present = np.array([v is not None for v in numbers], dtype=np.bool_)
    ints = np.array([0 if v is None else v for v in numbers], dtype=np.int64)
    assert _arrow.int_array(ints, present).to_pylist() == numbers
    flags = np.array([bool(v) for v in numbers], dtype=np.bool_)
    made = _arrow.bool_array(flags, present).to_pylist()
    assert made == [None if v is None else bool(v) for v in numbers]
    strings = _arrow.string_array(texts)
    strings.validate(full=True)
    assert strings.to_pylist() == texts
    assert _arrow.scalar("x").as_py() == "x"
    assert _arrow.scalar(True).as_py() is True
    assert _arrow.scalar(7).as_py() == 7


def test_decimal64_is_written_only_where_pyarrow_has_it(monkeypatch):
    # pyarrow before 18 has no decimal64 (nor its type test), and 18 to 21 have the type
    # but no Parquet writer for it: the choice then falls back to decimal128, never fails.
    assert not _arrow.is_decimal64(pa.decimal128(18, 2))
    assert not _arrow.is_decimal64(pa.int64())
    if hasattr(pa, "decimal64"):
        assert _arrow.is_decimal64(pa.decimal64(18, 2))

    def refused(*args, **options):
        raise pa.ArrowNotImplementedError("decimal64 to Parquet")

    with monkeypatch.context() as patched:
        _arrow.narrow_decimals.cache_clear()
        patched.setattr(_arrow, "parquet_writer", refused)
        assert _arrow.narrow_decimals() is False
    with monkeypatch.context() as patched:
        _arrow.narrow_decimals.cache_clear()
        patched.delattr(pa, "decimal64", raising=False)
        assert _arrow.narrow_decimals() is False
    _arrow.narrow_decimals.cache_clear()  # asked again, of the pyarrow as it is


def test_decimal64_columns_go_only_beside_types_a_reader_takes_back_alone():
    # Without Arrow's schema in the file, a dictionary, a time zone or a large string
    # would come back as something else: such a result keeps decimal128 (and the writer
    # refuses the mix rather than write it).
    plain = pa.schema([("unit", pa.string()), ("rank", pa.int64()), ("x", pa.decimal128(18, 2))])
    assert _arrow.narrow_parquet(plain) is _arrow.narrow_decimals()
    for odd in (
        pa.dictionary(pa.int32(), pa.string()),
        pa.timestamp("s", "UTC"),
        pa.large_string(),
    ):
        assert _arrow.narrow_parquet(plain.append(pa.field("odd", odd))) is False
    if _arrow.narrow_decimals():
        mixed = pa.schema([("x", pa.decimal64(18, 2)), ("odd", pa.large_string())])
        with pytest.raises(ValueError, match="decimal64"):
            _arrow.parquet_writer(pa.BufferOutputStream(), mixed)
