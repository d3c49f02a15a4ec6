"""score_table: a table of units scored as arrays equals evaluate() on every row."""

from __future__ import annotations

import os
import random
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.engine._columns import columnar_plan
from perfrules.errors import FactsError
from perfrules.testing import cohorts_for
from perfrules.workflows._batch import _unit_facts
from test_oracle import rule_files, units

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
PROCUREMENT = ROOT / "rules" / "cn" / "procurement-comprehensive-scoring" / "scheme.toml"


def seed_compiled() -> perfrules.CompiledScheme:
    return perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))


def seed_rows(count: int) -> list[dict[str, Any]]:
    facts = perfrules.load_facts(SEED / "facts.toml")
    base = {}
    for ident, values in facts.indicators.items():
        for key, value in values.items():
            base[f"{ident}.{key}"] = str(value["value"] if isinstance(value, dict) else value)
    rows = []
    for n in range(count):
        row = {"unit": f"u{n}", **base}
        if n:  # the first is the seed's own unit
            row["群众满意度.actual"] = f"{80 + n % 21}%"
            row["质量-市域治理.actual"] = str(40 + n % 60)
        rows.append(row)
    return rows


def expected(compiled: perfrules.CompiledScheme, row: dict[str, Any]) -> Any:
    """What evaluate() gives for the facts the row stands for (the batch CSV's reading)."""
    cells = {k: ("" if v is None else v) for k, v in row.items()}
    data, _ = _unit_facts(cells, compiled)
    try:
        return compiled.evaluate(data, trace=False)
    except FactsError as exc:
        return exc


def assert_rows_equal(compiled: perfrules.CompiledScheme, rows: list[dict[str, Any]], out: Any):
    ids = [compiled.plan.nodes[i].id for i in compiled.plan.leaves]
    got = nw.from_native(out, eager_only=True).to_arrow().to_pylist()
    assert len(got) == len(rows)
    for row, result in zip(rows, got, strict=True):
        want = expected(compiled, row)
        if isinstance(want, FactsError):
            assert result["errors"] is not None, row
            assert result["total"] is None
            assert {d.code for d in want.diagnostics} <= set(
                re.findall(r"PR\d{3}", result["errors"])
            )
            continue
        assert result["errors"] is None, (row, result["errors"])
        assert result["grade"] == want.grade.label, row
        if compiled.plan.total_places is None:  # exact text, never cut to places
            assert Fraction(result["total"]) == want.total_exact, row
        else:
            assert str(result["total"]) == str(want.total), row
        for ident in ids:
            score = compiled.exact_score(want, ident)
            cell = result[ident]
            if score is None:
                assert cell is None
            else:
                assert Fraction(str(cell)) == score, (ident, row)


# --- the three kinds of table ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pyarrow", "pandas", "polars"])
def test_each_kind_of_table_comes_back_as_its_kind_with_exact_decimals(kind):
    compiled = seed_compiled()
    rows = seed_rows(50)
    table = pa.Table.from_pylist(rows)
    native = {"pyarrow": table, "pandas": table.to_pandas(), "polars": pl.from_arrow(table)}[kind]
    out = perfrules.score_table(compiled, native)
    assert type(out) is type(native)
    assert_rows_equal(compiled, rows, out)
    first = nw.from_native(out, eager_only=True).to_arrow().to_pylist()[0]
    assert str(first["total"]) == "89.25"
    assert first["grade"] == "良好"
    if kind == "pyarrow":
        assert out.schema.field("total").type == pa.decimal128(18, 2)  # 100 points, 2 places
    elif kind == "pandas":
        assert isinstance(out["total"].iloc[0], Decimal)
    else:
        assert out.schema["total"] == pl.Decimal(18, 2)


def test_bad_rows_are_reported_by_row_and_column_and_the_others_scored():
    compiled = seed_compiled()
    rows = seed_rows(6)
    rows[2]["群众满意度.actual"] = "0,93"  # a decimal comma: refused, with a suggestion
    rows[4]["nonsense.actual"] = "1"
    for row in rows:
        row.setdefault("nonsense.actual", None)
    table = pa.Table.from_pylist(rows)
    out = perfrules.score_table(compiled, table).to_pylist()
    column = list(rows[0]).index("群众满意度.actual") + 1
    assert out[2]["errors"].startswith(f"table:3:{column}: error[PR402]")
    assert "PR403" in out[4]["errors"]
    assert [r["errors"] is None for r in out] == [True, True, False, True, False, True]
    assert_rows_equal(compiled, rows, table_out(compiled, table))


def table_out(compiled, table):
    return perfrules.score_table(compiled, table)


def test_numbers_too_large_for_int64_stay_exact():
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(
            """
[scheme]
id = "w"
title = "w"
max = 10
[inputs]
x = {}
t = {}
[[bands]]
label = "all"
min = 0
max = 10
[indicators.a]
weight = 10
formula = "weight * min(x / t, 1)"
places = 4
""",
            name="w.toml",
        )
    )
    rows = [
        {
            "unit": "big",
            "a.x": "123456789012345678901234567",
            "a.t": "987654321098765432109876543",
        },
        {"unit": "small", "a.x": "1", "a.t": "3"},
    ]
    out = perfrules.score_table(compiled, pa.Table.from_pylist(rows)).to_pylist()
    assert str(out[0]["a"]) == "1.2500"  # 10 × 0.12499999886… → 1.2500
    assert str(out[1]["a"]) == "3.3333"
    assert_rows_equal(compiled, rows, table_out(compiled, pa.Table.from_pylist(rows)))


def test_float_columns_are_read_by_their_shortest_decimal_text():
    compiled = seed_compiled()
    rows = seed_rows(3)
    frame = pd.DataFrame(rows)
    frame["质量-市域治理.actual"] = [70.0, 66.5, 88.0]  # pandas read it as float64
    out = perfrules.score_table(compiled, frame)
    as_text = [
        {**r, "质量-市域治理.actual": repr(v)}
        for r, v in zip(rows, [70.0, 66.5, 88.0], strict=True)
    ]
    assert_rows_equal(compiled, as_text, out)


def test_a_cohort_table_is_scored_and_ranked_like_evaluate_cohort():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    rows = [
        {
            "unit": u,
            "shared.lot": lot,
            "shared.bid": bid,
            "shared.valid": ok,
            "技术.marks": t,
            "商务.marks": c,
        }
        for u, lot, bid, ok, t, c in [
            ("甲", "1", "980000", "是", "42.5", "16"),
            ("乙", "1", "950000", "是", "40", "17"),
            ("丙", "1", "900000", "否", "45", "18"),
            ("丁", "1", "1000000", "是", "44", "15.5"),
            ("戊", "2", "500000", "是", "40", "15"),
            ("己", None, "500000", "是", "40", "15"),
        ]
    ]
    out = perfrules.score_table(compiled, pa.Table.from_pylist(rows)).to_pylist()
    facts = [
        _unit_facts({k: v or "" for k, v in r.items()}, compiled)[0] | {"unit": r["unit"]}
        for r in rows
    ]
    together = compiled.evaluate_cohort(facts)
    for row, want in zip(out, together, strict=True):
        if isinstance(want, FactsError):
            assert "PR416" in row["errors"]
            continue
        assert str(row["total"]) == str(want.total)
        assert row["rank"] == (want.rank.position if want.rank else None)
        assert row["lot"] == want.cohort.cohort
        (base,) = want.cohort.values  # noqa: PD011 - a tuple of cohort values
        assert row["lowest_valid_bid"] == str(base.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cohort_tables_equal_evaluate_cohort(data):
    compiled = PROCUREMENT_COMPILED
    units = data.draw(cohorts_for(compiled, min_units=1, max_units=8))
    rows = []
    for unit in units:
        row = {"unit": unit["unit"]}
        row.update({f"shared.{k}": str(v) for k, v in unit["shared"].items()})
        for ident, own in unit["indicators"].items():
            row.update({f"{ident}.{k}": str(v) for k, v in own.items()})
        rows.append(row)
    names = sorted({k for row in rows for k in row})
    out = perfrules.score_table(
        compiled, pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows])
    )
    together = compiled.evaluate_cohort(units)
    for got, want in zip(out.to_pylist(), together, strict=True):
        if isinstance(want, FactsError):
            assert got["errors"] is not None
            continue
        assert got["errors"] is None, got["errors"]
        assert str(got["total"]) == str(want.total)
        assert got["rank"] == (want.rank.position if want.rank else None)
        assert [str(got[i]) for i in ("价格", "技术", "商务")] == [
            str(want.scores[i]) for i in ("价格", "技术", "商务")
        ]


PROCUREMENT_COMPILED = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))


def test_schemes_the_arrays_cannot_take_say_why_and_still_score():
    omb = perfrules.compile_scheme(perfrules.load_scheme(ROOT / "rules/us/omb-part/scheme.toml"))
    assert columnar_plan(omb.plan, omb.types).reason == "grade overrides"
    seed = seed_compiled()
    assert columnar_plan(seed.plan, seed.types).reason is None
    rows = [
        {
            "unit": "a",
            **{f"{i}.answer": "是" for i in omb.scheme.indicators},
            "shared.has_measures": "是",
        },
        {
            "unit": "b",
            **{f"{i}.answer": "否" for i in omb.scheme.indicators},
            "shared.has_measures": "否",
        },
    ]
    assert_rows_equal(omb, rows, perfrules.score_table(omb, pa.Table.from_pylist(rows)))


def test_a_chained_comparison_compares_each_operand_with_the_next():
    # 0 < x < 1 is 0 < x and x < 1: the arrays must compare x with 1, not 0 with 1
    text = (
        '[scheme]\nid = "c"\ntitle = "c"\nmax = 10\n[inputs]\nx = {}\n'
        '[[bands]]\nlabel = "A"\nmin = 5\nmax = 10\n'
        '[[bands]]\nlabel = "B"\nmin = 0\nmax = 5\n'
        '[indicators.a]\nweight = 10\nformula = "weight if 0 < x < 1 else 0"\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="c.toml"))
    assert columnar_plan(compiled.plan, compiled.types).reason is None
    rows = [{"unit": f"u{n}", "a.x": x} for n, x in enumerate(["0.5", "2", "0", "1", "-1"])]
    out = perfrules.score_table(compiled, table_of(rows))
    assert [str(r["total"]) for r in out.to_pylist()] == ["10.00", "0.00", "0.00", "0.00", "0.00"]
    assert_rows_equal(compiled, rows, out)


# --- equal to evaluate() on random schemes and tables ------------------------------------
def _vectorisable(text: str, *, keep_none: bool = False) -> str:
    """Mostly a scheme the array scorer takes; with *keep_none*, unrounded levels stay (the
    scalar path scores those rows, and the table must still write every total exactly)."""
    text = text.replace("weight * x ** 2", "weight * x * x")
    if keep_none:
        return text
    return re.sub(r'^(indicator|total|places) = "none"$', r"\1 = 2", text, flags=re.MULTILINE)


HUGE = [
    "123456789012345678901234567",
    "-99999999999999999999999999.9",
    "1/999999999999999999999999999",
    "0.000000000000000000000000001",
    "4611686018427387904",
]
EXAMPLES = int(os.environ.get("PERFRULES_TABLE_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rule_files(), data=st.data())
def test_score_table_equals_evaluate_on_every_row(text, data):
    keep_none = data.draw(st.integers(0, 3)) == 0
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(_vectorisable(text, keep_none=keep_none), name="r.toml")
    )
    ids = [compiled.plan.nodes[i].id for i in compiled.plan.leaves]
    rows = []
    for n in range(data.draw(st.integers(1, 25))):
        unit = data.draw(units(ids))
        row: dict[str, Any] = {"unit": f"u{n}"}
        for ident in ids:
            own = unit["indicators"][ident]
            override = own.get("override")
            if override is not None:
                row[f"{ident}.override"] = override["score"]
                row[f"{ident}.override_reason"] = override["reason"]
            for name in ("x", "t", "ok", "na"):
                value = own.get(name)
                if name in ("x", "t") and value is not None and data.draw(st.integers(0, 9)) == 0:
                    value = data.draw(st.sampled_from(HUGE))  # past int64: Python integers
                row[f"{ident}.{name}"] = None if value is None else str(value)
        rows.append(row)
    out = perfrules.score_table(compiled, table_of(rows))
    assert_rows_equal(compiled, rows, out)


def table_of(rows: list[dict[str, Any]]) -> pa.Table:
    """Every column any row has (``from_pylist`` would take the first row's keys only)."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({name: [row.get(name) for row in rows] for name in names})


def test_nested_cells_and_missing_rows_are_located_not_raised():
    compiled = seed_compiled()
    table = pa.table({"unit": ["u"], "群众满意度.actual": pa.array([[1, 2]])})
    errors = perfrules.score_table(compiled, table).to_pylist()[0]["errors"]
    assert "table:1:2: error[PR402]: cannot read [1, 2] as a number" in errors
    # the indicators the row does not give are missing on that row, not nowhere
    assert "table:1:1: error[PR401]: indicator '数量-平安建设' needs fact 'actual'" in errors


def test_numbering_columns_in_threads_gives_the_table_numbered_in_one():
    # Dask's partitions number their text columns two at a time (numbered(table, 2)): the
    # columns must come back in their places, each numbered or left as one thread does.
    from perfrules.workflows import numbered

    n = 5000  # enough rows for threads
    rng = random.Random(3)
    repeating = [rng.choice(["37%", "88", "", "N/A"]) for _ in range(n)]
    table = pa.table(
        {
            "a.x": repeating,
            "unit": [f"u{i}" for i in range(n)],
            "b.x": [f"{rng.uniform(0, 90):.4f}" for _ in range(n)],  # mostly distinct
            "c.x": pa.chunked_array([repeating[: n // 2], repeating[n // 2 :][::-1]]),
            "d.x": list(range(n)),
            "e.x": pa.array(repeating[::-1]).dictionary_encode(),
            "f.x": ["80%"] * n,
        }
    )
    one = numbered(table)
    two = numbered(table, 2)
    assert two.column_names == table.column_names
    assert two.schema.types == one.schema.types
    assert [pa.types.is_dictionary(t) for t in two.schema.types] == [
        True, False, False, True, False, True, True
    ]  # fmt: skip
    assert two.to_pylist() == one.to_pylist() == table.to_pylist()
