"""score_table on columns of numbers: integers, floats and decimals read as arrays, exactly.

Each cell must read as the long way reads it (``number_pair`` of the cell as a fact; a
float by its shortest decimal text), whatever the library the table comes from.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.errors import FactsError
from perfrules.facts._values import number_pair
from perfrules.workflows import _table
from perfrules.workflows._batch import _unit_facts
from perfrules.workflows._table import _MISSING, _cell, _Column, _number_arrays, _numbers

SMALL = perfrules.compile_scheme(
    perfrules.loads_scheme(
        """
[scheme]
id = "w"
title = "w"
max = 10
[inputs]
x = {}
[[bands]]
label = "all"
min = 0
max = 10
[indicators.a]
weight = 10
formula = "weight * min(max(x, 0), 1)"
places = 10
""",
        name="w.toml",
    )
)
EDGE_FLOATS = [0.1, 1e-5, 1e20, -0.0, 0.3, 2.5, 1e-8, 9.999999999999999e-9, 0.1 + 0.2, 1e300]


def small_want(cell: Any) -> Any:
    """What evaluate() gives for one cell of column ``a.x`` (a float by its shortest text)."""
    value = Decimal(repr(cell)) if isinstance(cell, float) else cell
    data, _ = _unit_facts({"unit": "u", "a.x": "" if value is None else value}, SMALL)
    try:
        return SMALL.evaluate(data, trace=False)
    except FactsError as exc:
        return exc


def assert_small_rows(cells: list[Any], out: Any) -> list[dict[str, Any]]:
    got = nw.from_native(out, eager_only=True).to_arrow().to_pylist()
    assert len(got) == len(cells)
    for cell, row in zip(cells, got, strict=True):
        want = small_want(cell)
        if isinstance(want, FactsError):
            assert row["errors"] is not None, cell
            continue
        assert row["errors"] is None, (cell, row["errors"])
        assert row["a"] == want.scores["a"], cell
    return got


def table_of(cells: list[Any], kind: pa.DataType | None = None) -> pa.Table:
    units = [f"u{i}" for i in range(len(cells))]
    return pa.table({"unit": units, "a.x": pa.array(cells, type=kind)})


@pytest.mark.parametrize("kind", ["pyarrow", "pandas", "pandas nullable", "polars"])
def test_float_columns_read_each_float_as_its_shortest_decimal(kind):
    cells = [*EDGE_FLOATS, -2.75, None]
    table = table_of(cells)
    native = {
        "pyarrow": table,
        "pandas": table.to_pandas(),
        "pandas nullable": table.to_pandas().convert_dtypes(),
        "polars": pl.from_arrow(table),
    }[kind]
    got = assert_small_rows(cells, perfrules.score_table(SMALL, native))
    assert str(got[1]["a"]) == "0.0001000000"  # 1e-5, exactly
    assert str(got[8]["a"]) == "3.0000000000"  # 0.30000000000000004 is more than 0.3
    assert "PR402" in got[9]["errors"]  # 1e300 is past 10**30
    assert "PR401" in got[11]["errors"]  # an empty cell: the fact is missing


@pytest.mark.parametrize("kind", ["pyarrow", "polars"])
def test_a_float_nan_or_infinity_is_an_error_at_its_cell(kind):
    cells = [0.5, float("nan"), float("inf"), float("-inf"), None]
    table = table_of(cells)
    native = table if kind == "pyarrow" else pl.from_arrow(table)
    out = perfrules.score_table(SMALL, native)
    rows = nw.from_native(out, eager_only=True).to_arrow().to_pylist()
    assert str(rows[0]["a"]) == "5.0000000000"
    for number, row in enumerate(rows[1:4], start=2):
        assert row["errors"].startswith(f"table:{number}:2: error[PR402]"), row["errors"]
    assert "PR401" in rows[4]["errors"]  # null: the fact is missing


def test_pandas_nan_is_an_empty_cell():
    frame = pd.DataFrame({"unit": ["a", "b"], "a.x": [0.5, float("nan")]})
    rows = perfrules.score_table(SMALL, frame).to_dict("records")
    assert str(rows[0]["a"]) == "5.0000000000"
    assert "PR401" in rows[1]["errors"]


@pytest.mark.parametrize(
    ("kind", "cells"),
    [
        (pa.int8(), [0, 1, -1, None, 127]),
        (pa.int64(), [0, 1, 2**62, -(2**63), None]),
        (pa.uint64(), [0, 1, 2**64 - 1, None]),
        (pa.float32(), [0.5, 0.1, None, 3.0]),
        (pa.decimal128(9, 3), [Decimal("0.125"), Decimal("-1.000"), None]),
        (pa.decimal128(38, 2), [Decimal("0.50"), Decimal(10**35) / 100, Decimal("-0.01"), None]),
        (pa.decimal128(38, 20), [Decimal("0.5"), Decimal("1E-20"), None]),
        (pa.decimal128(38, 35), [Decimal("0.5"), Decimal("1E-32"), None]),
        (pa.decimal256(40, 2), [Decimal("0.25"), None]),
    ],
    ids=str,
)
def test_integer_and_decimal_columns_are_read_exactly(kind, cells):
    table = table_of(cells, kind)
    assert_small_rows(table.column("a.x").to_pylist(), perfrules.score_table(SMALL, table))


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_nullable_integer_and_decimal_columns_of_frames(kind):
    cells = [1, None, 0]
    decimals = [Decimal("0.25"), None, Decimal("0.125")]
    if kind == "pandas":
        ints = pd.DataFrame({"unit": ["a", "b", "c"], "a.x": pd.array(cells, dtype="Int64")})
        decs = pd.DataFrame(
            {
                "unit": ["a", "b", "c"],
                "a.x": pd.array(decimals, pd.ArrowDtype(pa.decimal128(9, 3))),
            }
        )
    else:
        ints = pl.DataFrame(
            {"unit": ["a", "b", "c"], "a.x": cells}, schema_overrides={"a.x": pl.Int64}
        )
        decs = pl.DataFrame({"unit": ["a", "b", "c"], "a.x": decimals})
    assert_small_rows(cells, perfrules.score_table(SMALL, ints))
    assert_small_rows(decimals, perfrules.score_table(SMALL, decs))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(),
            st.decimals(places=6, allow_nan=False, allow_infinity=False).map(float),
            st.integers(-(10**15), 10**15).map(lambda n: n / 10**7),
            st.sampled_from(EDGE_FLOATS),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_float_arrays_equal_the_cell_by_cell_reading(values):
    array = pa.array(values, type=pa.float64())
    nums, dens, okay = _number_arrays(array, np.ones(len(values), dtype=np.bool_))
    dens = np.broadcast_to(dens, (len(values),))
    for value, num, den, ok in zip(
        values, nums.tolist(), dens.tolist(), okay.tolist(), strict=True
    ):
        want = number_pair(_cell(value))
        assert ok == (want is not None), value
        if want is not None:
            assert Fraction(int(num), int(den)) == Fraction(*want), value


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.decimals(places=4, min_value=-(10**30), max_value=10**30)),
        min_size=1,
        max_size=30,
    )
)
def test_decimal_arrays_equal_the_cell_by_cell_reading(values):
    array = pa.array(values, type=pa.decimal128(38, 4))
    present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    nums, dens, okay = _number_arrays(array, present)
    dens = np.broadcast_to(dens, (len(values),))
    for cell, num, den, ok in zip(
        array.to_pylist(), nums.tolist(), dens.tolist(), okay.tolist(), strict=True
    ):
        want = None if cell is None else number_pair(_cell(cell))
        assert ok == (want is not None), cell
        if want is not None:
            assert Fraction(int(num), int(den)) == Fraction(*want), cell


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[+-]?[0-9]{1,20}(\.[0-9]{1,20})?%?", fullmatch=True),
            st.text(alphabet="0123456789.+-% eE٣", max_size=8),
            st.none(),
        ),
        min_size=1,
        max_size=30,
    )
)
@example(texts=["1.00000000000000000%", "0.5%"])  # 10**17 * 100 is past int64
@pytest.mark.parametrize("few", [0, _table._FEW], ids=["as-arrays", "one-by-one"])
def test_text_arrays_equal_the_cell_by_cell_reading(few, texts):
    # The distinct cells of a text column are read as arrays when there are many, and
    # one by one when few: either way as the facts grammar reads each cell.
    table = pa.table(
        {"unit": [f"u{i}" for i in range(len(texts))], "a.x": pa.array(texts, pa.string())}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_table, "_FEW", few)
        column = _Column("a.x", 1, table.column(1))
        nums, dens, okay = _numbers(column)
    dens = np.broadcast_to(dens, (len(texts),))
    for text, num, den, ok in zip(texts, nums.tolist(), dens.tolist(), okay.tolist(), strict=True):
        cell = _cell(text)
        want = None if cell is _MISSING else number_pair(cell)
        assert ok == (want is not None), text
        if want is not None:
            assert Fraction(int(num), int(den)) == Fraction(*want), text
        assert column.row(texts.index(text)) == cell


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[+-]?[0-9]{1,20}(\.[0-9]{1,20})?%?", fullmatch=True),
            st.text(alphabet="0123456789.+-% eE٣", max_size=8),
            st.sampled_from(["", "  ", "-", "n/a", " 12 ", "1e3", "9" * 30]),
            st.none(),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 4999),
)
def test_a_long_column_of_fresh_texts_is_read_row_by_row_alike(texts, at):
    # Mostly distinct plain numbers (read row by row, no numbering of distinct cells),
    # with the drawn cells among them.
    cells: list[str | None] = [f"0.{k:06d}" for k in range(5000)]
    for offset, text in enumerate(texts):
        cells[(at + 97 * offset) % 5000] = text
    column = _Column("a.x", 1, pa.chunked_array([pa.array(cells, pa.string())]))
    assert column._rowwise is not None  # the path under test
    nums, dens, okay = _numbers(column)
    dens = np.broadcast_to(dens, (len(cells),))  # one for every row when alike
    present = column.present()
    for row, text in enumerate(cells):
        cell = _cell(text)
        want = None if cell is _MISSING else number_pair(cell)
        assert okay[row] == (want is not None), text
        assert present[row] == (cell is not _MISSING), text
        if want is not None:
            assert Fraction(int(nums[row]), int(dens[row])) == Fraction(*want), text
    # the codes, asked for afterwards, number the same cells
    assert [column.row(r) for r in range(0, 5000, 499)] == [
        _cell(cells[r]) for r in range(0, 5000, 499)
    ]


def _assert_read_alike(array: pa.Array) -> None:
    """Every cell of *array* read by the arrays as the long way reads it."""
    present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    nums, dens, okay = _number_arrays(array, present)
    dens = np.broadcast_to(dens, (len(array),))
    for row, cell in enumerate(array.to_pylist()):
        want = None if cell is None else number_pair(_cell(cell))
        assert bool(okay[row]) == (want is not None), cell
        if want is not None:
            assert Fraction(int(nums[row]), int(dens[row])) == Fraction(*want), cell


@pytest.mark.parametrize(
    ("kind", "cells"),
    [
        (pa.int64(), [5, -3, 2**62, -(2**63), 0, 7, 11]),
        (pa.float64(), [0.734521, -73.4521, 0.5, 1.0, 0.0, 12.25, 0.000001]),
        (pa.float64(), [0.734521, float("nan"), 0.5, float("inf"), 0.1, 0.2, 0.3]),
        (pa.decimal128(18, 6), [Decimal("0.734521"), Decimal("1.5"), Decimal(0)] * 3),
        (pa.decimal128(18, 6), [Decimal("-0.734521"), Decimal("-1.5"), Decimal(-2)] * 3),
        (pa.decimal128(18, 6), [Decimal("-0.734521"), Decimal("1.5"), Decimal(0)] * 3),
        (pa.decimal128(38, 0), [Decimal(2**63), Decimal(1), Decimal(-(2**63) - 1), Decimal(5)]),
        (pa.decimal128(38, 0), [Decimal(2**64 + 3), Decimal(7), Decimal(2), Decimal(5)]),
        (pa.decimal128(38, 0), [Decimal(-(2**63) - 1), Decimal(7), Decimal(2), Decimal(5)]),
    ],
    ids=str,
)
def test_columns_read_in_place_equal_the_cell_by_cell_reading(kind, cells):
    # int64, float64 and decimal128 columns without nulls are read from Arrow's own buffer:
    # a slice of a longer array (its offset), negative values and values past int64 too.
    whole = pa.array([*cells, *cells], type=kind)
    for array in (whole, whole.slice(3, len(cells)), whole.slice(1)):
        _assert_read_alike(array)


def test_a_fresh_float_column_read_with_one_number_of_places_equals_the_cell_by_cell_reading():
    # Every value six places (the path that reads a column with one multiplication), then
    # the same column with values of other shapes among them (those rows the long way).
    rng = np.random.default_rng(7)
    six = (rng.integers(-(10**9), 10**9, 3000) / 10**6).tolist()
    _assert_read_alike(pa.array(six, pa.float64()))
    mixed = list(six)
    odd = [0.1 + 0.2, 1e-9, 1e20, 2.5e-7, -0.0, 1 / 3]
    for at, value in zip(range(5, 3000, 500), odd, strict=True):
        mixed[at] = value
    _assert_read_alike(pa.array(mixed, pa.float64()))


@pytest.mark.parametrize("mode", ["half_up", "half_even", "down", "up"])
@pytest.mark.parametrize("kind", [pa.float64(), pa.decimal128(18, 4), pa.string()])
def test_ties_round_on_the_arrays_as_evaluate_rounds_them(mode, kind):
    # A column of one number of places rounded with one division (its places and the
    # score's taken together): ties on both sides, in every mode, as the scalar path.
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(
            f"""
[scheme]
id = "t"
title = "t"
max = 10
[rounding]
mode = "{mode}"
indicator = 2
total = 1
[inputs]
x = {{}}
[[bands]]
label = "all"
min = 0
max = 10
[indicators.a]
weight = 10
formula = "weight * min(x, 1)"
""",
            name="t.toml",
        )
    )
    values = ["0.0125", "0.0135", "0.0005", "0.0015", "0.0999", "0.0004", "0.1", "0.0675"]
    cells: list[Any] = (
        [float(v) for v in values]
        if kind == pa.float64()
        else [Decimal(v) for v in values]
        if pa.types.is_decimal(kind)
        else values
    )
    table = pa.table({"unit": [f"u{i}" for i in range(len(cells))], "a.x": pa.array(cells, kind)})
    out = perfrules.score_table(compiled, table).to_pylist()
    for value, row in zip(values, out, strict=True):
        want = compiled.evaluate({"indicators": {"a": {"x": Decimal(value)}}}, trace=False)
        assert row["errors"] is None, row["errors"]
        assert (row["a"], row["total"]) == (want.scores["a"], want.total), (value, row)


@pytest.mark.parametrize("room", [True, False], ids=["one-buffer", "a-buffer-each"])
def test_a_default_input_and_a_six_place_column_score_as_evaluate_scores_them(
    seed_compiled, monkeypatch, room
):
    # The seed reads "actual" from each column and its capped indicator's target from the
    # rule file (no column): a constant on every row, and min() of a column and 1. The
    # float columns' numerators share one buffer in a large table (here in any).
    if room:
        monkeypatch.setattr(_table, "_ROOM_BYTES", 0)
    ids = list(seed_compiled.scheme.indicators)
    rng = np.random.default_rng(11)
    columns = {i: (rng.integers(0, 1_300_000, 400) / 10**6).tolist() for i in ids}
    for ident in ids:
        columns[ident][:4] = [0.0, 1.0, 0.004999, 0.875]
    table = pa.table({"unit": [f"u{r}" for r in range(400)], **columns})
    out = perfrules.score_table(seed_compiled, table).to_pylist()
    for r, row in enumerate(out):
        facts = {"indicators": {i: {"actual": Decimal(repr(columns[i][r]))} for i in ids}}
        want = seed_compiled.evaluate(facts, trace=False)
        assert row["errors"] is None, row["errors"]
        assert row["total"] == want.total
        assert all(row[i] == want.scores[i] for i in ids), r


@pytest.mark.parametrize(
    "odd",
    [
        None,
        ".5",
        "5.",
        "+.5",
        "-.5",
        "1e3",
        "1.2.3",
        "+-1",
        "",
        "-",
        "0.1234567890123456789",  # 19 places
        "99999999999999999999",  # past int64
        "-10000000000000",  # past int64 over 10**6, its low word positive
        "-9223372036854775808",
        "+12.5",
        "-0",
        "0007.250",
        " 1.5",
        "12%",
    ],
)
@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("negatives", [True, False])
def test_a_column_of_plain_decimal_texts_read_by_one_cast_equals_the_cell_by_cell_reading(
    odd, kind, negatives
):
    # Fresh decimal texts, negative ones among them, are read by one cast to decimal128;
    # one odd cell anywhere (a form Arrow reads and the facts grammar does not, or the
    # reverse, or a value past what the cast holds) reads as the grammar reads it.
    cells: list[str | None] = [
        f"{'-' if negatives and k % 7 == 1 else ''}{k % 97}.{k:06d}" for k in range(5000)
    ]
    for at in (0, 2500, 4999):
        cells[at] = odd
    whole = pa.array(["1.5", *cells, "22.75"], kind)
    for array in (whole.slice(1, 5000), pa.array(cells, kind)):
        column = _Column("a.x", 1, pa.chunked_array([array]))
        # the cast reads a column of plain decimals (and nulls), a slice of one too
        plain = odd is None or odd in {"+12.5", "-0", "0007.250"}
        present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        assert (_table._plain_decimals(array, present) is not None) == plain
        nums, dens, okay = _numbers(column)
        dens = np.broadcast_to(dens, (len(cells),))
        present = column.present()
        for row in (*range(0, 5000, 251), 2500, 4999):
            cell = _cell(cells[row])
            want = None if cell is _MISSING else number_pair(cell)
            assert bool(okay[row]) == (want is not None), cells[row]
            assert bool(present[row]) == (cell is not _MISSING), cells[row]
            if want is not None:
                assert Fraction(int(nums[row]), int(dens[row])) == Fraction(*want), cells[row]
