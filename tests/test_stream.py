"""Batches of any size: CSV and Parquet scored chunk by chunk, written atomically."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.cli import cli
from perfrules.reports import FORMULA_STARTS, csv_text
from perfrules.workflows import _stream
from perfrules.workflows._stream import stream_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021" / "scheme.toml"
PROCUREMENT = ROOT / "rules" / "cn" / "procurement-comprehensive-scoring" / "scheme.toml"


def seed_ids() -> list[tuple[str, bool]]:
    scheme = perfrules.load_scheme(SEED)
    return [(i, ind.formula == "capped") for i, ind in scheme.indicators.items()]


def write_units(
    path: Path, count: int, *, encoding: str = "utf-8", bad: dict[int, str] | None = None
) -> list[list[str]]:
    rng = random.Random(5)
    ids = seed_ids()
    rows = []
    with path.open("w", newline="", encoding=encoding) as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", *(i for i, _ in ids)])
        for n in range(count):
            row = [
                f"单位{n}",
                *(str(rng.randint(0, 88)) if c else f"{rng.randint(0, 100)}%" for _, c in ids),
            ]
            if bad and n in bad:
                row[1] = bad[n]
            rows.append(row)
            writer.writerow(row)
    return rows


def evaluate_row(compiled: perfrules.CompiledScheme, row: list[str]):
    ids = seed_ids()
    return compiled.evaluate(
        {"indicators": {ident: {"actual": row[k + 1]} for k, (ident, _) in enumerate(ids)}},
        trace=False,
    )


def test_a_batch_over_a_mebibyte_scores_from_the_cli(tmp_path):
    source = tmp_path / "units.csv"
    rows = write_units(source, 15_000, bad={7: "0,93"})
    assert source.stat().st_size > 1024 * 1024  # over the in-memory limit
    target = tmp_path / "results.csv"
    run = CliRunner().invoke(
        cli, ["score", str(SEED), str(source), "--out", str(target), "--lang", "en"]
    )
    assert run.exit_code == 1, run.output  # one unit failed: the answer is "no"
    assert "15000 units" not in run.output
    assert "14999 units scored, 1 failed" in run.output
    assert f"{source}:9:2: error[PR402]" in run.output  # header is row 1, unit 7 is row 9
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    with target.open(encoding="utf-8-sig", newline="") as stream:
        out = list(csv.DictReader(stream))
    assert len(out) == 15_000
    for n in (0, 1, 8, 9_999, 14_999):
        want = evaluate_row(compiled, rows[n])
        assert (out[n]["unit"], out[n]["total"], out[n]["grade"]) == (
            f"单位{n}",
            str(want.total),
            want.grade.label,
        )
    assert out[7]["total"] == ""
    assert "PR402" in out[7]["errors"]


def write_bids(
    path: Path, count: int, *, lots: int = 2, marks: tuple[str, ...] = ("40", "44")
) -> list[dict[str, str]]:
    """Bids for the procurement pack (lots, a valid flag, marks), written as a CSV."""
    rng = random.Random(2)
    rows = [
        {
            "unit": f"b{i}",
            "shared.lot": str(i % lots),
            "shared.bid": str(rng.choice([900, 950, 980, 1000])),
            "shared.valid": rng.choice(["是", "否", "是"]),
            "技术.marks": rng.choice(marks),
            "商务.marks": rng.choice(["15", "17"]),
        }
        for i in range(count)
    ]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_chunks_cohorts_and_ranks_equal_scoring_all_at_once(tmp_path):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    source = tmp_path / "bids.csv"
    rows = write_bids(source, 23)
    target = tmp_path / "out.parquet"
    outcome = stream_batch(compiled, source, target, rows=5)  # five chunks
    assert outcome.units == 23
    got = pq.read_table(target)
    assert got.schema.field("total").type == pa.decimal128(18, 2)
    # a short decimal is stored as the integer it is over 10**places, as Spark stores one
    stored = pq.ParquetFile(target).schema.column(got.schema.get_field_index("total"))
    assert stored.physical_type == "INT64"
    at_once = perfrules.score_table(compiled, pa.Table.from_pylist(rows))
    assert got.to_pylist() == at_once.to_pylist()


def test_columns_read_numbered_after_the_first_block_score_as_text_does(tmp_path, monkeypatch):
    # The stream reads a column numbered (as pyarrow parses) from its second block on when
    # the first block's cells repeat. A column that repeats at first and later holds fresh
    # numbers, words or empty cells must still score exactly as the same cells as text.
    ids = seed_ids()
    rng = random.Random(11)
    rows = []
    for n in range(600):
        if n < 50:  # the first block: few distinct cells
            cells = ["88" if capped else "37%" for _, capped in ids]
        else:
            cells = [
                f"{rng.uniform(0, 90):.4f}" if capped else f"{rng.uniform(0, 101):.3f}%"
                for _, capped in ids
            ]
        rows.append(
            {"unit": f"u{n}", **{ident: cell for (ident, _), cell in zip(ids, cells, strict=True)}}
        )
    rows[300][ids[0][0]] = "x"  # a word: that unit's error
    rows[301][ids[1][0]] = ""  # an empty cell: a missing fact
    source = tmp_path / "units.csv"
    with source.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    monkeypatch.setattr(_stream, "_BLOCK_BYTES", 4096)  # about 30 rows a block
    kinds = [
        item[0].schema.field(ids[0][0]).type
        for item in _stream.read_items(source, numbered=True)
        if not isinstance(item, _stream.BadRow)
    ]
    # The first block numbered once read (which columns, decided there), the next as parsed.
    assert set(kinds) == {pa.dictionary(pa.int32(), pa.string())}
    assert all(
        item[0].schema.field(ids[0][0]).type == pa.string()
        for item in _stream.read_items(source)
        if not isinstance(item, _stream.BadRow)
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    target = tmp_path / "out.parquet"
    outcome = stream_batch(compiled, source, target)
    assert (outcome.units, outcome.failed_count) == (600, 2)
    at_once = perfrules.score_table(compiled, pa.Table.from_pylist(rows))
    got = pq.read_table(target)
    # The errors say where: a file's line in one, a table's row in the other.
    assert got.drop_columns(["errors"]).equals(at_once.drop_columns(["errors"]))
    codes = [re.findall(r"PR\d+", text or "") for text in got.column("errors").to_pylist()]
    assert codes == [re.findall(r"PR\d+", t or "") for t in at_once.column("errors").to_pylist()]
    assert codes[300] == ["PR402"]
    assert codes[301]


def test_json_lines_carry_each_units_trace(tmp_path):
    source = tmp_path / "units.csv"
    rows = write_units(source, 30)
    target = tmp_path / "out.jsonl"
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    outcome = stream_batch(compiled, source, target, rows=7)
    assert outcome.units == 30
    lines = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert len(lines) == 30
    want = compiled.evaluate(
        {"indicators": {i: {"actual": rows[3][k + 1]} for k, (i, _) in enumerate(seed_ids())}}
    )
    assert lines[3]["unit"] == "单位3"
    assert lines[3]["trace"]["total"] == str(want.total)
    assert lines[3]["trace"]["root"] == json.loads(want.trace.to_json())["root"]


def test_a_failure_midway_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    source = tmp_path / "units.csv"
    write_units(source, 20)
    target = tmp_path / "out.csv"
    target.write_text("old results\n", encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    calls = []
    real = _stream.score_chunk

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(_stream, "score_chunk", failing)
    with pytest.raises(RuntimeError):
        stream_batch(compiled, source, target, rows=8)
    assert target.read_text("utf-8") == "old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "units.csv"]


def test_text_cells_cannot_become_formulas_and_gb18030_is_read(tmp_path):
    source = tmp_path / "units.csv"
    rows = write_units(source, 3, encoding="gb18030")
    text = source.read_text("gb18030").replace("单位1", "=HYPERLINK(1)")
    source.write_text(text, encoding="gb18030")
    target = tmp_path / "out.csv"
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    stream_batch(compiled, source, target)
    with target.open(encoding="utf-8-sig", newline="") as stream:
        out = list(csv.DictReader(stream))
    assert [r["unit"] for r in out] == ["单位0", "'=HYPERLINK(1)", "单位2"]
    assert out[2]["total"] == str(evaluate_row(compiled, rows[2]).total)


def test_a_missing_batch_file_is_a_located_usage_error(tmp_path):
    missing = tmp_path / "units.csv"
    run = CliRunner().invoke(
        cli, ["score", str(SEED), str(missing), "--out", str(tmp_path / "o.csv")]
    )
    assert run.exit_code == 2, run.output
    assert "PR105" in run.output
    assert "internal error" not in run.output


def test_json_lines_of_a_ranked_batch_carry_the_ranks(tmp_path):
    source = tmp_path / "bids.csv"
    source.write_text(
        "unit,shared.lot,shared.bid,shared.valid,技术.marks,商务.marks\n"
        "甲,1,980000,是,42.5,16\n乙,1,950000,是,40,17\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.jsonl"
    run = CliRunner().invoke(cli, ["score", str(PROCUREMENT), str(source), "--out", str(target)])
    assert run.exit_code == 0, run.output
    lines = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert [line["trace"]["cohort"]["rank"]["position"] for line in lines] == [1, 2]


def test_a_file_of_no_units_gives_a_file_with_the_columns(tmp_path):
    source = tmp_path / "units.csv"
    write_units(source, 0)
    target = tmp_path / "out.csv"
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    assert stream_batch(compiled, source, target).units == 0
    header = target.read_text("utf-8-sig").splitlines()
    assert header[0].startswith('"unit","total","grade"')
    assert len(header) == 1


def test_malformed_batch_files_are_reported_never_an_internal_error(tmp_path):
    broken = tmp_path / "units.parquet"
    broken.write_bytes(b"not a parquet file")
    out = str(tmp_path / "o.csv")
    run = CliRunner().invoke(cli, ["score", str(SEED), str(broken), "--out", out])
    assert run.exit_code == 2
    assert "PR105" in run.output
    assert "internal error" not in run.output
    source = tmp_path / "units.csv"
    write_units(source, 3)
    lines = source.read_text("utf-8").splitlines()
    lines[2] += ",extra,cells"  # the second unit has two cells too many
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = CliRunner().invoke(cli, ["score", str(SEED), str(source), "--out", out, "--lang", "en"])
    assert run.exit_code == 1, run.output
    assert "2 units scored, 1 failed" in run.output
    said = " ".join(run.output.split())
    assert "error[PR417]: a row has 20 cells where the header has 18" in said
    assert f"{source}:3:1" in said  # the row's own line: header 1, unit 0 on line 2
    with Path(out).open(encoding="utf-8-sig") as stream:
        written = list(csv.DictReader(stream))
    # The failed row keeps its place in the results, with its problem.
    assert [row["unit"] for row in written] == ["单位0", "单位1", "单位2"]
    assert "PR417" in written[1]["errors"]


_CELLS = st.sampled_from(
    ["1", "80%", "", " ", "x", '"a,b"', '"a""b"', '"line\nbreak"', 'a"b', '"', "单位", "\xff"]
)


@given(
    rows=st.lists(st.lists(_CELLS, min_size=2, max_size=4), max_size=12),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    blank=st.sets(st.integers(0, 12), max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_the_quick_reading_of_a_block_equals_the_careful_one(tmp_path_factory, rows, eol, blank):
    # A block read whole by pyarrow must give what the row-by-row reading gives: the same
    # tables, numbered alike, and the same bad rows in their places.
    lines = [",".join(row) for row in rows]
    for at in sorted(blank, reverse=True):
        lines.insert(min(at, len(lines)), "")
    body = eol.join(lines).encode().replace("\xff".encode(), b"\xff")  # a byte not UTF-8
    path = tmp_path_factory.mktemp("block") / "units.csv"
    path.write_bytes(b"unit,a,b\n" + body)

    def items() -> list[tuple[str, int, object]]:
        found: list[tuple[str, int, object]] = []
        try:
            for item in _stream.read_items(path, rows=3):
                if isinstance(item, _stream.BadRow):
                    found.append(("bad", item.number, (item.unit, item.diagnostic.code)))
                else:
                    found.append(("rows", item[1], item[0].to_pylist()))
        except perfrules.FactsError as exc:
            found.append(("refused", 0, [d.code for d in exc.diagnostics]))
        return found

    quick = items()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_stream._Rows, "_whole", lambda *_: None)
        careful = items()
    assert quick == careful


_TEXTS = st.one_of(st.none(), st.text(alphabet='a"\n,\r 单=', max_size=5))
_UNSCALED = st.one_of(st.none(), st.integers(-(10**6), 10**6), st.integers(-(10**37), 10**37))


@given(
    texts=st.lists(_TEXTS, min_size=0, max_size=8),
    unscaled=st.lists(_UNSCALED, min_size=8, max_size=8),
    scale=st.integers(0, 6),
    eol=st.sampled_from(["\n", "\r\n"]),
)
@settings(max_examples=300, deadline=None)
def test_result_rows_are_written_as_pyarrows_csv_writer_writes_them(texts, unscaled, scale, eol):
    # The streamed CSV is written by laying out each column's texts, not by pyarrow's
    # writer: the bytes must be the same (quotes, nulls, decimals of any size and sign).
    n = len(texts)
    kind = pa.decimal128(38, scale)
    values = [None if v is None else Decimal(v).scaleb(-scale) for v in unscaled[:n]]
    table = pa.table(
        {
            "unit": pa.array(texts, pa.string()),
            "total": pa.array(values, kind),
            "rank": pa.array([None if v is None else v % 7 for v in unscaled[:n]], pa.int64()),
            "wide": pa.array(values, pa.decimal256(76, scale)),
            "errors": pa.array(texts[::-1], pa.string()),
        }
    )
    out = io.BytesIO()
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed", eol=eol)
    pacsv.write_csv(table, out, write_options=options)
    assert bytes(_stream._csv_rows(table, eol)) == out.getvalue()
    # Chunk after chunk, a decimal's texts are taken again from the chunks before (where
    # they cover this chunk's values): the bytes stay pyarrow's.
    written: dict[object, object] = {}
    parts = [table.slice(n // 2), table.slice(0, n // 2), table]
    for part in parts:
        each = io.BytesIO()
        pacsv.write_csv(part, each, write_options=options)
        assert bytes(_stream._csv_rows(part, eol, written)) == each.getvalue()
    header = io.BytesIO()
    pacsv.write_csv(table.slice(0, 0), header, write_options=pacsv.WriteOptions(eol=eol))
    assert _stream._csv_header(table.column_names, eol) == header.getvalue()


def test_a_text_that_starts_as_a_formula_is_made_inert_only_where_it_does():
    # Which cells the formula pattern is asked about is told by their first byte: a cell
    # starting with any of FORMULA_STARTS (one of several bytes in UTF-8) still gets its
    # leading quote, and a column with none is left as it is.
    starts = ["=1", "+1+1", "-2+3", "-1e5", "@a", "\tx", "\rx", "＝1", "＋1", "－1", "＠a"]
    # a signed number is read as that number, never a formula: it stays as it is
    plain = ["a", "単", "1=", "", None, "'=", "x-", "-5", "+2.50", "-0.125"]
    column = pa.array(plain + starts, pa.string())
    got = _stream._inert(column).to_pylist()
    assert got[: len(plain)] == plain
    assert got[len(plain) :] == ["'" + text for text in starts]
    untouched = pa.array(plain, pa.string())
    assert _stream._inert(untouched) is untouched
    assert _stream._inert(pa.chunked_array([untouched, column])).to_pylist() == plain + got


_CELLS = st.lists(
    st.one_of(st.none(), st.text(st.sampled_from(["a", "単", '"', ",", "'", *FORMULA_STARTS]))),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_CELLS, st.integers(0, 12), st.integers(0, 12), st.integers(0, 12))
def test_cells_of_a_slice_or_under_a_null_are_made_inert_and_quoted_as_each_cell_is(
    cells, start, length, cut
):
    # The writer reads a column's bytes (its first bytes for the formula check, any quote
    # for the quoting) through its offsets: a slice starts inside its buffers, and a null
    # cell may still span bytes. Either way every cell is written as csv_text says.
    start = min(start, len(cells))
    sliced = pa.array(cells, pa.string()).slice(start, length)
    kept = cells[start : start + length]
    want = [None if c is None else csv_text(c) for c in kept]
    assert _stream._inert(sliced).to_pylist() == want
    halves = pa.chunked_array([sliced.slice(0, cut), sliced.slice(cut)], pa.string())
    assert _stream._inert(halves).to_pylist() == want
    texts, index = _stream._cell_texts(sliced, ",")
    written = texts.to_pylist() if index is None else [texts[int(i)].as_py() for i in index]
    assert written == ["," if c is None else '"' + c.replace('"', '""') + '",' for c in kept]
    # The even cells made null over their own bytes (the buffers kept as they are).
    valid = [c is not None and (i - start) % 2 == 1 for i, c in enumerate(cells)]
    bitmap = pa.array(valid, pa.bool_()).buffers()[1]
    nulled = pa.Array.from_buffers(
        pa.string(), len(sliced), [bitmap, *sliced.buffers()[1:]], offset=sliced.offset
    )
    assert _stream._inert(nulled).to_pylist() == [w if i % 2 else None for i, w in enumerate(want)]


def test_a_crlf_cut_in_two_by_a_block_does_not_shift_the_row_numbers(tmp_path, monkeypatch):
    # Rows end in CRLF; when a block ends between the CR and the LF, the LF must not
    # count as a blank row of its own: a bad row later on keeps its own number.
    header = "unit,a,b\r\n"
    rows = [f"u{i},1,2\r\n" for i in range(6)]
    rows[4] = "u4,1\r\n"  # one cell short: row 6 of the file
    path = tmp_path / "units.csv"
    path.write_bytes((header + "".join(rows)).encode())
    monkeypatch.setattr(_stream, "_BLOCK_BYTES", len(rows[0]) - 1)  # cut before each LF
    bad = [item for item in _stream.read_items(path) if isinstance(item, _stream.BadRow)]
    assert [(item.number, item.unit) for item in bad] == [(6, "u4")]


def test_a_parquet_output_failing_part_way_closes_its_writer(tmp_path, monkeypatch):
    # Left open, pyarrow's writer is closed by the garbage collector into the closed file:
    # an exception Python can only print. Closed with the temporary file, nothing is left.
    import gc
    import itertools
    import sys

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    source = tmp_path / "units.csv"
    write_units(source, 40)
    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    real, calls = _stream.score_chunk, itertools.count()

    def fails_on_the_third(*args, **options):
        if next(calls) == 3:  # the first call scores no row (the output's columns)
            raise OSError("no space left on the device")
        return real(*args, **options)

    monkeypatch.setattr(_stream, "score_chunk", fails_on_the_third)
    with pytest.raises(OSError, match="no space"):
        stream_batch(compiled, source, tmp_path / "out.parquet", rows=10)
    gc.collect()
    assert ignored == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["units.csv"]


def test_parquet_results_write_the_unit_column_without_a_dictionary(tmp_path):
    # Each unit is named once: a dictionary of the names is built for nothing (a bigger
    # file, written slower). The other columns repeat few values and keep theirs. The
    # streamed batch and the batch in memory write their files the same way.
    from perfrules.workflows import score_batch, write_results

    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    source = tmp_path / "units.csv"
    write_units(source, 50)
    streamed, in_memory = tmp_path / "streamed.parquet", tmp_path / "memory.parquet"
    stream_batch(compiled, source, streamed)
    write_results(score_batch(compiled, source), compiled, in_memory)
    for path in (streamed, in_memory):
        metadata = pq.ParquetFile(path).metadata
        group = metadata.row_group(0)
        dictionaries = {
            group.column(i).path_in_schema: group.column(i).has_dictionary_page
            for i in range(group.num_columns)
        }
        assert dictionaries.pop("unit") is False, path.name
        assert set(dictionaries.values()) == {True}, (path.name, dictionaries)
        assert pq.read_table(path).column("unit").to_pylist()[:2] == ["单位0", "单位1"]


def test_a_unit_without_a_name_is_named_by_its_row_in_every_chunk(tmp_path):
    # A unit without a name (an empty cell, spaces only) is named by the row its problems
    # give: the file's row (the header is row 1), in whichever chunk it is, in the
    # results, the summary and JSON Lines alike, as a row that is not a unit is named.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    source = tmp_path / "units.csv"
    failing = (1, 6, 9)  # in the first, second and third chunks of four rows
    rows = write_units(source, 11, bad=dict.fromkeys(failing, "not a number"))
    nameless = {1: "", 3: "   ", 6: "", 9: "\u3000"}  # 3 scores; U+3000 is a space too
    for n, cell in nameless.items():
        rows[n][0] = cell
    with source.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows([["unit", *(i for i, _ in seed_ids())], *rows])
    names = [f"row {n + 2}" if n in nameless else row[0] for n, row in enumerate(rows)]
    for suffix in (".csv", ".parquet"):
        target = tmp_path / f"out{suffix}"
        outcome = stream_batch(compiled, source, target, rows=4)
        assert [failed.unit for failed in outcome.failed] == [names[n] for n in failing]
        if suffix == ".csv":
            with target.open(encoding="utf-8-sig", newline="") as stream:
                written = [row["unit"] for row in csv.DictReader(stream)]
        else:
            written = pq.read_table(target).column("unit").to_pylist()
        assert written == names
    lines = tmp_path / "out.jsonl"
    stream_batch(compiled, source, lines, rows=4)
    named = [json.loads(line)["unit"] for line in lines.read_text("utf-8").splitlines()]
    assert named == names


def test_a_cohort_value_names_a_nameless_unit_as_its_results_do(tmp_path):
    # The unit a best value is taken from, when it has no name, is the row the results
    # name it by, whatever chunk the cohort pass read it in.
    text = (ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml").read_text("utf-8")
    head, _, rest = text.partition("[ranking]")
    scheme = tmp_path / "scheme.toml"
    scheme.write_text(head + "[[bands]]" + rest.partition("[[bands]]")[2], "utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    source = tmp_path / "cities.csv"
    source.write_text(
        "unit,shared.gdp,shared.green,shared.pm25\n"
        "A,9,0.4,30\nB,8,0.3,40\nC,7,0.5,35\n,12,0.2,50\nE,6,0.45,20\n",
        "utf-8",
    )
    lines = tmp_path / "out.jsonl"
    stream_batch(compiled, source, lines, rows=2)
    units = [json.loads(line) for line in lines.read_text("utf-8").splitlines()]
    assert [u["unit"] for u in units] == ["A", "B", "C", "row 5", "E"]
    best = {v["name"]: v for v in units[0]["trace"]["cohort"]["values"]}
    assert best["best_gdp"]["unit"] == "row 5"  # line 5 of the file, the header line 1


_BLANKS = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


_CELL_CHARACTERS = st.sampled_from(_BLANKS + "ab单") | st.characters(exclude_categories=["Cs"])


@given(st.lists(st.none() | st.text(_CELL_CHARACTERS, max_size=4)))
@example(list(_BLANKS))
@example([blank + " a" for blank in _BLANKS])
@settings(max_examples=300, deadline=None)
def test_a_column_s_nameless_cells_are_those_the_one_rule_finds(cells):
    # The rule over a column looks at first bytes only; it must agree with names_a_unit.
    from perfrules.workflows._batch import names_a_unit
    from perfrules.workflows._table import nameless

    got = nameless(pa.array(cells, pa.string())).tolist()
    assert got == [not names_a_unit(cell) for cell in cells]
    assert not any(names_a_unit(blank) for blank in _BLANKS)


@pytest.mark.parametrize("scheme", [SEED, PROCUREMENT])  # plain; cohorts, ranks, marks
def test_parquet_results_are_the_same_file_from_8_or_16_byte_decimals(
    tmp_path, monkeypatch, scheme
):
    # Where pyarrow's Parquet writer takes decimal64 (22 on), the stream scores into 8-byte
    # columns and writes them without Arrow's copy of the schema: a reader gets the same
    # decimal128(18, 2) columns, nulls and values as from the 16-byte columns of before.
    from perfrules.workflows import _arrow

    major = int(pa.__version__.split(".")[0])
    narrowed = _arrow.narrow_decimals()
    assert narrowed is (major >= 22)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    source = tmp_path / "units.csv"
    if scheme == SEED:
        write_units(source, 120, bad={3: "abc", 70: "-5%"})  # two units that fail
    else:
        write_bids(source, 120, lots=3, marks=("40", "44", "x"))  # "x": a unit that fails
    # What reaches the writer: scored into decimal64 already, not cast to it there.
    reaching: list[pa.DataType] = []
    write = _stream._Writer.write

    def spied(self, table):
        reaching.append(table.schema.field("total").type)
        return write(self, table)

    monkeypatch.setattr(_stream._Writer, "write", spied)
    narrow, wide = tmp_path / "narrow.parquet", tmp_path / "wide.parquet"
    stream_batch(compiled, source, narrow, rows=50)
    assert set(reaching) == {pa.decimal64(18, 2) if narrowed else pa.decimal128(18, 2)}
    monkeypatch.setattr(_arrow, "narrow_decimals", lambda: False)
    reaching.clear()
    stream_batch(compiled, source, wide, rows=50)
    assert set(reaching) == {pa.decimal128(18, 2)}
    first, second = pq.read_table(narrow), pq.read_table(wide)
    assert first.schema == second.schema
    assert first.schema.field("total").type == pa.decimal128(18, 2)
    assert first.equals(second)
    assert first.column("total").null_count > 0
    stored = pq.ParquetFile(narrow).schema
    decimals = [i for i, kind in enumerate(first.schema.types) if pa.types.is_decimal(kind)]
    assert {stored.column(i).physical_type for i in decimals} == {"INT64"}
    # the narrow path was taken: no Arrow schema in the file (it would say decimal64)
    arrow_schema = b"ARROW:schema"
    assert (arrow_schema in (pq.read_metadata(narrow).metadata or {})) is not narrowed
    assert arrow_schema in pq.read_metadata(wide).metadata
    at_once = perfrules.score_table(compiled, _as_text(source))
    assert first.drop_columns(["errors"]).equals(at_once.drop_columns(["errors"]))


def _as_text(source: Path) -> pa.Table:
    """A CSV read as the stream reads it: every cell text, an empty one empty."""
    names = source.read_text(encoding="utf-8").splitlines()[0].split(",")
    types = dict.fromkeys(names, pa.string())
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    return pacsv.read_csv(source, convert_options=options)


def test_a_cell_not_utf8_in_a_numbered_column_loses_only_its_unit(tmp_path, monkeypatch):
    # From the second block on, a column of repeating cells is parsed numbered, its cells
    # as bytes checked as UTF-8 once each: a bad byte there still costs its unit alone,
    # said at its line and cell, and every other unit of that block scores.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    source = tmp_path / "units.csv"
    rows = write_units(source, 400, bad={300: "BAD"})
    source.write_bytes(source.read_bytes().replace(b"BAD", b"\xff%"))
    monkeypatch.setattr(_stream, "_BLOCK_BYTES", 4096)  # about 40 rows a block
    kinds = [
        item[0].schema.field(seed_ids()[0][0]).type
        for item in _stream.read_items(source, numbered=True)
        if not isinstance(item, _stream.BadRow)
    ]
    # every block numbered but the one the bad row is in, read the careful way (as text)
    numbered = pa.dictionary(pa.int32(), pa.string())
    assert len(kinds) > 5
    assert kinds.count(numbered) >= len(kinds) - 2
    target = tmp_path / "out.csv"
    outcome = stream_batch(compiled, source, target)
    assert (outcome.units, outcome.failed_count) == (400, 1)
    (problem,) = outcome.failed[0].errors
    assert (problem.code, problem.line, problem.column) == ("PR108", 302, 2)
    with target.open(encoding="utf-8", newline="") as stream:
        got = list(csv.DictReader(stream))
    assert got[300]["total"] == ""
    assert "PR108" in got[300]["errors"]
    for n in (0, 299, 301, 399):
        assert got[n]["total"] == str(evaluate_row(compiled, rows[n]).total), n
