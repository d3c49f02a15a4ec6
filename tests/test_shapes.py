"""Every shape of scoring gives the digits of ``evaluate()``, on random schemes and units.

Random schemes from :func:`perfrules.testing.schemes` (``fit``, rows and groups not counted,
not-applicable and missing policies, every rounding mode, places at every level including
``total = "none"``, cohort values and rankings) and random units from ``facts_for`` /
``cohorts_for``. For each unit the reference is ``compiled.evaluate()`` (``evaluate_cohort``
for a scheme scored in cohorts): its total, grade and every score, and the trace's tree of
exact scores. Each other shape must give the same:

- the trace tree (every node's score) and the result's Decimals;
- the trace JSON as written the short way, the general way (short cuts off) and from a
  ``Trace`` built from its parts, parsed and compared;
- ``compiled.gap(result)`` and the gap of a result made of plain values, against
  ``result.trace.gap``;
- ``perfrules.score_table`` on pyarrow, pandas and polars tables, with text columns and
  with numeric columns;
- the streamed batch (``stream_batch``, the path of ``perfrules score ... --out``) in chunks
  of 1, 7 and 65,536 rows, to CSV and Parquet, from CSV and Parquet; its JSON Lines traces;
  the command line itself (``perfrules score scheme.toml units.csv --out r.csv``) and its
  summary;
- the in-memory batch (``score_batch``) and its summary;
- ``evaluate_many(workers=2)`` against one process, ``evaluate_cohort`` against
  ``evaluate``;
- Dask, partition by partition, on the synchronous scheduler.

PERFRULES_SHAPES_EXAMPLES sets the number of schemes (20 by default; a long hunt uses
thousands).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest import mock

import dask
import dask.dataframe as dd
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import perfrules
import perfrules.dask
from perfrules.cli import cli
from perfrules.errors import FactsError
from perfrules.testing import cohorts_for, facts_for, scheme_toml, schemes
from perfrules.workflows._batch import score_batch
from perfrules.workflows._stream import stream_batch

EXAMPLES = int(os.environ.get("PERFRULES_SHAPES_EXAMPLES", "20"))
CHUNKS = (1, 7, 65_536)
JSON = ("--format", "json", "--lang", "en")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


# --- the units, as facts and as table rows ----------------------------------------------
def _cell(value: Any) -> str:
    """A fact as a table cell holds it (a level with a share becomes its label)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and "level" in value:
        return str(value["level"])
    return str(value)


def _plain_units(compiled: perfrules.CompiledScheme, drawn: list[dict[str, Any]]):
    """The drawn units with every fact as a table would give it, named u1, u2, ..."""
    units = []
    for number, facts in enumerate(drawn, start=1):
        indicators = {
            ident: {
                key: (value if key == "override" else _cell(value)) for key, value in own.items()
            }
            for ident, own in facts["indicators"].items()
        }
        shared = {name: _cell(value) for name, value in facts.get("shared", {}).items()}
        units.append({"unit": f"u{number}", "indicators": indicators, "shared": shared})
    return units


def _rows(units: list[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for unit in units:
        row = {"unit": unit["unit"]}
        for ident, own in unit["indicators"].items():
            for key, value in own.items():
                if key == "override":
                    row[f"{ident}.override"] = str(value["score"])
                    row[f"{ident}.override_reason"] = str(value["reason"])
                else:
                    row[f"{ident}.{key}"] = value
        for name, value in unit["shared"].items():
            row[f"shared.{name}"] = value
        rows.append(row)
    return rows


def _columns(rows: list[dict[str, str]]) -> dict[str, list[str | None]]:
    names = list(dict.fromkeys(k for row in rows for k in row))
    return {name: [row.get(name) for row in rows] for name in names}


def _numeric(columns: dict[str, list[str | None]]) -> dict[str, list[Any]]:
    """Columns whose every cell is a plain decimal number as floats (as a spreadsheet gives)."""
    out: dict[str, list[Any]] = {}
    for name, cells in columns.items():
        present = [c for c in cells if c is not None]
        numeric = name != "unit" and present and all(NUMBER.fullmatch(c) for c in present)
        out[name] = [None if c is None else float(c) for c in cells] if numeric else cells
    return out


def _exact(columns: dict[str, list[str | None]]) -> pa.Table:
    """Number columns as exact types: whole numbers as int64, the others as decimal128."""
    arrays: dict[str, pa.Array] = {}
    for name, cells in columns.items():
        present = [c for c in cells if c is not None]
        arrays[name] = pa.array(cells, type=pa.string())
        if name == "unit" or not present or not all(NUMBER.fullmatch(c) for c in present):
            continue
        values = [None if c is None else Decimal(c) for c in cells]
        places = max(-v.as_tuple().exponent for v in values if v is not None)  # type: ignore[operator]
        if places == 0 and all(v is None or abs(v) < 2**63 for v in values):
            arrays[name] = pa.array([None if v is None else int(v) for v in values], pa.int64())
        elif all(
            v is None or len(v.as_tuple().digits) - v.as_tuple().exponent - places <= 38
            for v in values
        ):
            arrays[name] = pa.array(values, type=pa.decimal128(38, places))
    return pa.table(arrays)


def _tables(rows: list[dict[str, str]]) -> Iterator[tuple[str, Any]]:
    for kind, columns in (("text", _columns(rows)), ("numeric", _numeric(_columns(rows)))):
        yield f"pyarrow/{kind}", pa.table(columns)
        yield f"pandas/{kind}", pd.DataFrame(columns)
        yield f"polars/{kind}", pl.DataFrame(columns, strict=False)
    exact = _exact(_columns(rows))
    yield "pyarrow/int64 and decimal128", exact
    yield (
        "pandas/Int64 and Arrow decimals",
        exact.to_pandas(
            types_mapper=lambda t: (
                pd.Int64Dtype()
                if t == pa.int64()
                else (pd.ArrowDtype(t) if pa.types.is_decimal(t) else None)
            )
        ),
    )
    yield "polars/Int64 and Decimal", pl.from_arrow(exact)


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    columns = _columns(rows)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(list(columns))
        for row in rows:
            writer.writerow([row.get(name, "") for name in columns])


# --- what each unit must give -----------------------------------------------------------
class Want:
    """The reference for one unit: exact scores from evaluate() and its trace."""

    def __init__(self, outcome: Any) -> None:
        self.error = outcome if isinstance(outcome, FactsError) else None
        if self.error is not None:
            self.codes = {d.code for d in self.error.diagnostics}
            return
        result = outcome
        self.result = result
        trace = result.trace
        assert trace is not None
        self.total = result.total_exact
        self.grade = result.grade.label
        self.rank = result.rank
        self.scores = {n.id: n.score for n in trace.root.walk() if n.kind != "scheme"}
        self.gap = trace.gap
        # The result's own Decimals and the trace tell the same story.
        assert trace.total == result.total_exact
        assert trace.grade.label == result.grade.label
        assert close(result.total, result.total_exact)
        for ident, exact in self.scores.items():
            assert close(result.scores[ident], exact), ident
        leaves = {n.id for n in trace.root.leaves()}
        self.leaves = [i for i in self.scores if i in leaves]


def _terminates(value: Fraction, places: int = 20) -> bool:
    return (value * 10**places).denominator == 1


def empty(cell: Any) -> bool:
    """No value: None, an empty CSV cell, pandas' NaN or NA."""
    if cell is None or isinstance(cell, str):
        return cell in (None, "")
    return bool(pd.isna(cell))


def close(got: Any, exact: Fraction | None) -> bool:
    """*got* (a Decimal, text, a float cell) is *exact*: to the digit when the decimal ends,
    else its own rounding within 1e-4 (a repeating value has no last digit to write)."""
    if exact is None or empty(got):
        return exact is None and empty(got)
    if isinstance(got, str) and "/" in got:  # an unrounded value written exactly: a/b
        return Fraction(got) == exact
    value = Fraction(Decimal(str(got)))
    if _terminates(exact):
        return value == exact
    return abs(value - exact) < Fraction(1, 10**4)


def _codes(text: str | None) -> set[str]:
    return set(re.findall(r"PR\d{3}", text or ""))


def check_row(want: Want, row: dict[str, Any], where: str) -> None:
    """One output row (total, grade, one score per indicator, rank, errors) against *want*."""
    errors = None if empty(row.get("errors")) else row["errors"]
    if want.error is not None:
        assert errors, (where, row)
        assert empty(row["total"]), (where, row)
        assert want.codes <= _codes(errors), (where, want.codes, errors)
        return
    assert not errors, (where, errors)
    assert close(row["total"], want.total), (where, row["total"], want.total)
    assert row["grade"] == want.grade, (where, row["grade"], want.grade)
    for ident in want.leaves:
        cell = row[ident]
        assert close(cell, want.scores[ident]), (where, ident, cell, want.scores[ident])
    if want.rank is not None or "rank" in row:
        rank = None if empty(row.get("rank")) else int(row["rank"])
        position = None if want.rank is None else want.rank.position
        assert rank == position, (where, rank, position)


def check_rows(wants: list[Want], rows: list[dict[str, Any]], where: str) -> None:
    assert len(rows) == len(wants), where
    for number, (want, row) in enumerate(zip(wants, rows, strict=True), start=1):
        assert row["unit"] == f"u{number}", (where, row["unit"])
        check_row(want, row, f"{where} u{number}")


def check_result(want: Want, got: Any, where: str) -> None:
    """A Result (or FactsError) from another way of scoring against *want*."""
    if want.error is not None:
        assert isinstance(got, FactsError), (where, got)
        assert {d.code for d in got.diagnostics} == want.codes, where
        return
    assert not isinstance(got, FactsError), (where, [d.code for d in got.diagnostics])
    assert got.total_exact == want.total, where
    assert got.total == want.result.total, where
    assert got.grade.label == want.grade, where
    assert dict(got.scores) == dict(want.result.scores), where


def _rows_of(table: Any) -> list[dict[str, Any]]:
    if isinstance(table, pd.DataFrame):
        return table.to_dict("records")
    if isinstance(table, pl.DataFrame):
        return table.to_dicts()
    return table.to_pylist()


# --- the trace JSON, written three ways -------------------------------------------------
@contextlib.contextmanager
def general_writers(compiled: perfrules.CompiledScheme) -> Iterator[None]:
    """Trees and JSON built without their short cuts (as test_golden_traces switches them off):
    no group lists the rows it adds up, no plain path, rows written from their nodes."""
    from perfrules.engine import _assemble, _json, _layout, _tree

    layout = _layout._json_layout

    def without_short_cut(plan):
        return [(i, n, p, g and (g[0], (), *g[2:])) for i, n, p, g in layout(plan)]

    with pytest.MonkeyPatch.context() as patch:
        # every writer that reads the layouts; setattr fails on a name that is gone
        for module in (_layout, _tree, _json):
            patch.setattr(module, "_json_layout", without_short_cut)
            patch.setattr(module, "_plain_layout", lambda plan: None)  # nor the plain path
        patch.setattr(
            _assemble.Evaluation,
            "_plain_leaf_json",
            lambda self, node, record: self._traced_leaf_json(node, record)[0],
        )
        patch.setattr(  # and their nodes from the formula's traced function, not generated
            _tree.TreeParts,
            "_plain_leaf_trace",
            lambda self, node, record: self._leaf_parts(node, record)[0],
        )
        yield


def _from_parts(trace: perfrules.Trace) -> perfrules.Trace:
    return perfrules.Trace(
        root=trace.root,
        total=trace.total,
        max=trace.max,
        grade=trace.grade,
        bands=trace.bands,
        gap=trace.gap,
        provenance=trace.provenance,
        total_places=trace.total_places,
        rounding_mode=trace.rounding_mode,
        levels=trace.levels,
        cohort=trace.cohort,
    )


def first_difference(got: Any, want: Any, path: str = "") -> str | None:
    """Where two parsed JSON documents first differ, and how."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in list(want) + [k for k in got if k not in want]:
            found = first_difference(got.get(key), want.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if got == want else f"{path}: {got!r} != {want!r}"


def _json_scores(node: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    yield node["kind"], node["id"], node["score"]
    for child in node["children"]:
        yield from _json_scores(child)


def check_json(
    compiled: perfrules.CompiledScheme, want: Want, again: Any, where: str
) -> dict[str, Any]:
    """The short-way JSON tells the exact scores; the general way and the object writer
    give the same document. *again* re-scores the unit (under the general writers)."""
    trace = want.result.trace
    text = trace.to_json()
    document = json.loads(text)
    assert close(document["total"], want.total), where
    assert document["grade"]["label"] == want.grade, where
    for kind, ident, score in _json_scores(document["root"]):
        if kind != "scheme":
            assert close(score, want.scores[ident]), (where, ident, score)
    built = json.loads(_from_parts(trace).to_json())
    assert built == document, (where, "from parts", first_difference(built, document))
    with general_writers(compiled):
        slow = again().trace
        assert slow.root == trace.root, where
        general = json.loads(slow.to_json())
        assert general == document, (where, "general", first_difference(general, document))
    return document


# --- the summary of a batch -------------------------------------------------------------
def _counted_leaves(compiled: perfrules.CompiledScheme) -> set[str]:
    scheme = compiled.scheme

    def counted(ident: str | None) -> bool:
        while ident is not None:
            node = scheme.indicators.get(ident) or scheme.groups[ident]
            if not node.counted:
                return False
            ident = node.parent
        return True

    return {ident for ident in scheme.indicators if counted(ident)}


def check_summary(
    compiled: perfrules.CompiledScheme, wants: list[Want], summary: dict[str, Any], where: str
) -> None:
    scored = [w for w in wants if w.error is None]
    assert summary["units"] == len(wants), where
    assert summary["scored"] == len(scored), where
    # Every unit that scored is counted under its grade, an override's included.
    shown_grades = {label: count for label, count in summary["grades"].items() if count}
    wanted = dict(Counter(w.grade for w in scored)) if compiled.plan.grades else {}
    assert shown_grades == wanted, (where, shown_grades, wanted)
    if not scored:
        return
    mean = sum((w.total for w in scored), Fraction(0)) / len(scored)
    assert abs(Fraction(Decimal(summary["mean_total"])) - mean) <= Fraction(1, 20_000), (
        where,
        summary["mean_total"],
        mean,
    )
    counted = _counted_leaves(compiled)
    weights = {i: Fraction(v.weight) for i, v in compiled.scheme.indicators.items()}
    lost: dict[str, Fraction] = {}
    for want in scored:
        for ident in want.leaves:
            score = want.scores[ident]
            if ident in counted and score is not None:
                lost[ident] = lost.get(ident, Fraction(0)) + weights[ident] - score
    ranked = sorted(
        ((i, v / len(scored)) for i, v in lost.items() if v), key=lambda kv: (-kv[1], kv[0])
    )[:5]
    shown = [
        (row["id"], Fraction(Decimal(row["mean_lost"])))
        for row in summary["most_points_lost"]
        if Decimal(row["mean_lost"]) != 0
    ]
    assert [i for i, _ in shown] == [i for i, _ in ranked], (where, shown, ranked)
    for (_, got), (_, exact) in zip(shown, ranked, strict=True):
        assert abs(got - exact) <= Fraction(1, 20_000), (where, got, exact)


# --- the test ---------------------------------------------------------------------------
def _scored_together(compiled: perfrules.CompiledScheme) -> bool:
    return compiled.plan.has_cohort


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # each example scores a batch a dozen ways: stop at the first failure, and shrink it
    # only when asked (PERFRULES_SHAPES_SHRINK=1); the scheme and units are printed as drawn
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    + ([Phase.shrink] if os.environ.get("PERFRULES_SHAPES_SHRINK") else []),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_every_shape_gives_the_digits_of_evaluate(tmp_path_factory, data):
    scheme = data.draw(schemes(cohorts=True), label="scheme")
    compiled = perfrules.compile_scheme(scheme)
    if _scored_together(compiled):
        drawn = data.draw(cohorts_for(compiled, min_units=1, max_units=6), label="units")
    else:
        drawn = data.draw(st.lists(facts_for(compiled), min_size=1, max_size=6), label="units")
    check_every_shape(scheme, _plain_units(compiled, drawn), tmp_path_factory.mktemp("shapes"))


#: Normalised inputs of every method, read by rows of each rounding; with a cohort split by
#: ``lot`` and a ranking in the second, with neither in the first.
NORMALISED = (
    """
[scheme]
id = "norm"
title = "Normalised"

[rounding]
indicator = 4
total = 2

[inputs.a]
normalise = { method = "minmax", goalposts = [20, 85], scale = 100 }
[inputs.b]
normalise = { method = "minmax", direction = "reverse" }
[inputs.c]
normalise = { method = "zscore" }
[inputs.d]
normalise = { method = "rank", direction = "reverse" }
[inputs.e]
normalise = { method = "percentile" }

[indicators.a]
weight = 20
formula = "a / 5"
[indicators.b]
weight = 20
formula = "weight * b"
[indicators.c]
weight = 20
formula = "clamp(10 + 3 * c, 0, weight)"
[indicators.d]
weight = 20
formula = "min(d, weight)"
[indicators.e]
weight = 20
formula = "weight * e"
""",
    """
[scheme]
id = "norm-lots"
title = "Normalised, by lot"

[rounding]
indicator = 2
total = "none"

[inputs.a]
normalise = { method = "distance_to_best", direction = "reverse", scale = 100 }
[inputs.b]
normalise = { method = "minmax", cap = [10, 90] }
[inputs.c]
normalise = { method = "distance_to_target", target = 50 }

[cohort]
group_by = "lot"

[ranking]
keys = [{ by = "total" }]

[indicators.a]
weight = 40
formula = "clamp(a * 0.4, 0, weight)"
[indicators.b]
weight = 30
formula = "weight * b"
[indicators.c]
weight = 30
formula = "clamp(10 * c, 0, weight)"
""",
    """
[scheme]
id = "norm-ranks"
title = "Ranks and percentiles (the columnar path)"

[rounding]
indicator = 2
total = 2

[inputs.a]
normalise = { method = "rank" }
[inputs.b]
normalise = { method = "percentile", direction = "reverse", scale = 50 }
[inputs.c]
normalise = { method = "minmax" }

[indicators.a]
weight = 30
formula = "min(a * 4, weight)"
[indicators.b]
weight = 50
formula = "b"
[indicators.c]
weight = 20
formula = "weight * c"
""",
    """
[scheme]
id = "norm-best-100"
title = "Normalised pillars, then best = 100 (a pass over scores)"

[rounding]
indicator = 2
group = 2
total = 2

[inputs.a]
normalise = { method = "minmax", scale = 100 }
[inputs.b]
normalise = { method = "rank", direction = "reverse" }

[groups.raw]
weight = 100
counted = false

[indicators.a_points]
parent = "raw"
weight = 60
formula = "weight * a / 100"
[indicators.b_points]
parent = "raw"
weight = 40
formula = "min(weight, 10 * b)"

[cohort.values.best_raw]
stat = "max"
of = "raw"

[indicators.index]
weight = 100
formula = "100 * raw / best_raw if best_raw > 0 else 0"
""",
)
BANDS = """
[[bands]]
label = "high"
min = 60
max = 100
[[bands]]
label = "low"
min = 0
max = 60
"""
#: A value as a table gives it: numbers with ties, and now and then one that cannot be read.
NORMALISED_VALUE = st.integers(min_value=0, max_value=24).flatmap(
    lambda k: (
        st.just("abc")
        if k == 0
        else st.integers(min_value=1, max_value=12).map(str)
        if k % 2
        else st.decimals(min_value=1, max_value=100, places=1).map(str)
    )
)


@settings(
    max_examples=max(2, EXAMPLES // 4),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_normalised_inputs_agree_in_every_shape(tmp_path_factory, data):
    text = data.draw(st.sampled_from(NORMALISED), label="scheme")
    scheme = perfrules.loads_scheme(text + BANDS)
    names = sorted(scheme.inputs)
    drawn = data.draw(
        st.lists(
            st.fixed_dictionaries(dict.fromkeys(names, NORMALISED_VALUE)),
            min_size=1,
            max_size=7,
        ),
        label="units",
    )
    units = []
    for number, facts in enumerate(drawn, start=1):
        split = scheme.cohort is not None and scheme.cohort.group_by is not None
        shared = {**facts, "lot": "L1" if number % 3 else "L2"} if split else facts
        units.append({"unit": f"u{number}", "indicators": {}, "shared": shared})
    check_every_shape(scheme, units, tmp_path_factory.mktemp("normalised"))


def check_every_shape(
    scheme: perfrules.Scheme,
    units: list[dict[str, Any]],
    folder: Path,
    failures: list[tuple[str, str]] | None = None,
) -> None:
    """Score *units* every way there is and compare each with the reference.

    With *failures* (a long hunt) every shape is checked and each that disagrees is added as
    (shape, message); without, the first disagreement fails.
    """
    shape = _Shapes(failures)
    path = folder / "scheme.toml"
    path.write_text(scheme_toml(scheme), encoding="utf-8")
    written = perfrules.load_scheme(path)
    assert written.model_dump() == scheme.model_dump()
    compiled = perfrules.compile_scheme(written)
    together = _scored_together(compiled)

    # the reference: evaluate() (with the cohort's values), or evaluate_cohort()
    cohort = compiled.cohort_values(units) if together else None
    outcomes = (
        compiled.evaluate_cohort(units)
        if together
        else [_outcome(lambda u=u: compiled.evaluate(u)) for u in units]
    )
    wants = [Want(outcome) for outcome in outcomes]

    # one unit at a time: evaluate() against evaluate_cohort(), the JSON writers, the gap
    for position, (unit, want) in enumerate(zip(units, wants, strict=True)):
        where = f"u{position + 1}"
        with shape("evaluate alone / in a cohort"):
            if together:
                failed = cohort.problems.get(position)
                alone = failed or _outcome(lambda u=unit: compiled.evaluate(u, cohort=cohort))
            else:
                alone = compiled.evaluate_cohort([unit])[0]
            check_result(want, alone, f"{where} scored alone/together")
        if want.error is not None:
            continue
        again = (
            (lambda p=position: compiled.evaluate_cohort(units)[p])  # ranked as the reference
            if together
            else (lambda u=unit: compiled.evaluate(u))
        )
        with shape("trace JSON writers"):
            check_json(compiled, want, again, where)
        result = want.result
        with shape("gap"):
            assert compiled.gap(result) == want.gap, where
        with shape("gap of plain values"):
            plain = perfrules.Result(
                result.total, result.grade, dict(result.scores), None, result.total_exact
            )
            assert compiled.gap(plain) == want.gap, (where, compiled.gap(plain), want.gap)

    if not together:
        with shape("evaluate_many(workers=2)"):
            for want, got in zip(wants, compiled.evaluate_many(units, workers=2), strict=True):
                check_result(want, got, "evaluate_many(workers=2)")
                if want.error is None:
                    assert compiled.gap(got) == want.gap

    rows = _rows(units)
    for kind, table in _tables(rows):
        with shape(f"score_table {kind}"):
            check_rows(wants, _rows_of(perfrules.score_table(compiled, table)), kind)

    source = folder / "units.csv"
    _write_csv(source, rows)
    parquet_source = folder / "units.parquet"
    pq.write_table(pa.table(_columns(rows)), parquet_source)
    for chunk in CHUNKS:
        for origin in (source, parquet_source):
            target = folder / f"r{chunk}.csv"
            outcome = stream_batch(compiled, origin, target, rows=chunk)
            with shape(f"stream {origin.suffix} -> .csv"):
                check_rows(wants, _read_csv(target), f"stream {origin.suffix}, {chunk}")
            with shape("stream summary"):
                check_summary(compiled, wants, outcome.summary(compiled), f"stream {chunk}")
        target = folder / f"r{chunk}.parquet"
        stream_batch(compiled, source, target, rows=chunk)
        with shape("stream .csv -> .parquet"):
            check_rows(wants, pq.read_table(target).to_pylist(), f"stream parquet, {chunk}")
    if compiled.scheme.ranking is None:
        target = folder / "r.jsonl"
        stream_batch(compiled, source, target, rows=7)
        with shape("stream -> .jsonl"):
            _check_lines(wants, target, "stream -> jsonl")

    for suffix in (".csv", ".jsonl"):
        target = folder / f"cli{suffix}"
        run = CliRunner().invoke(
            cli, ["score", str(path), str(source), "--out", str(target), *JSON]
        )
        assert run.exit_code == (1 if any(w.error for w in wants) else 0), run.output
        with shape(f"cli summary {suffix}"):
            check_summary(compiled, wants, json.loads(run.stdout)["summary"], f"cli {suffix}")
        with shape(f"cli -> {suffix}"):
            if suffix == ".csv":
                check_rows(wants, _read_csv(target), "cli -> csv")
            else:
                _check_lines(wants, target, "cli -> jsonl")

    batch = score_batch(compiled, source, trace=True)
    with shape("in-memory batch"):
        for want, unit in zip(wants, batch.units, strict=True):
            check_result(want, unit.result or FactsError(unit.errors), f"batch {unit.unit}")
            if unit.result is not None and want.result.rank is not None:
                assert unit.result.rank == want.result.rank
    with shape("in-memory batch summary"):
        check_summary(compiled, wants, batch.summary(compiled), "in-memory batch")

    with shape("dask"):
        frame = dd.from_pandas(pd.DataFrame(_columns(rows)), npartitions=min(2, len(rows)))
        out = perfrules.dask.score_dask(compiled, frame).compute(scheduler="synchronous")
        check_rows(wants, out.to_dict("records"), "dask")
        # the workers compile the scheme as written: the columns score_table gives
        alone = perfrules.score_table(compiled, pd.DataFrame(_columns(rows)))
        assert list(out.columns) == list(alone.columns)
    with (
        shape("dask to_parquet"),
        dask.config.set(scheduler="synchronous"),
        mock.patch.object(perfrules.dask, "_PIECE_ROWS", 3),  # pieces within a partition
    ):
        results = folder / "dask-parquet"
        written = perfrules.dask.to_parquet(compiled, frame, results, overwrite=True)
        assert written == len(rows)
        check_rows(wants, pq.read_table(results).to_pylist(), "dask to_parquet")
    with shape("dask read_csv to_parquet"), dask.config.set(scheduler="synchronous"):
        # Each range of the file read, scored and written as one stream: three ranges or
        # so, the rows before each counted only where a failed unit names its row.
        units_csv = perfrules.dask.read_csv(source, blocksize=source.stat().st_size // 3 + 1)
        results = folder / "dask-csv-parquet"
        written = perfrules.dask.to_parquet(compiled, units_csv, results, overwrite=True)
        assert written == len(rows)
        got = pq.read_table(results).to_pylist()
        check_rows(wants, got, "dask read_csv to_parquet")
        texts = perfrules.dask.read_csv(source).compute()
        alone = _rows_of(
            perfrules.score_table(compiled, pa.Table.from_pandas(texts, preserve_index=False))
        )
        assert [row["errors"] for row in got] == [row["errors"] for row in alone]


class _Shapes:
    """``with shape(name):`` fails at once, or notes the failure and goes on (a hunt)."""

    def __init__(self, failures: list[tuple[str, str]] | None) -> None:
        self.failures = failures

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.failures is None:
            yield
            return
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - a hunt notes every disagreement
            self.failures.append((name, f"{type(exc).__name__}: {exc}".split("\n")[0]))


def _outcome(score) -> Any:
    try:
        return score()
    except FactsError as exc:
        return exc


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def _check_lines(wants: list[Want], path: Path, where: str) -> None:
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert len(lines) == len(wants), where
    for want, line in zip(wants, lines, strict=True):
        if want.error is not None:
            assert "errors" in line, (where, line)
            assert want.codes <= {e["code"] for e in line["errors"]}, where
            continue
        document = json.loads(want.result.trace.to_json())
        trace = line["trace"]
        for key in ("total", "grade", "root", "gap", "losses", "cohort"):
            got, expected = trace.get(key), document.get(key)
            assert got == expected, (where, line["unit"], key, first_difference(got, expected))


def hunt(examples: int) -> dict[str, list[str]]:
    """Check *examples* random schemes, every shape of each, and say which disagree.

    ``python tests/test_shapes.py 1000`` prints, for each shape that disagreed, how many
    schemes it disagreed on and the first message (the test itself stops at the first).
    """
    import tempfile

    found: dict[str, list[str]] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data):
        scheme = data.draw(schemes(cohorts=True))
        compiled = perfrules.compile_scheme(scheme)
        if _scored_together(compiled):
            drawn = data.draw(cohorts_for(compiled, min_units=1, max_units=6))
        else:
            drawn = data.draw(st.lists(facts_for(compiled), min_size=1, max_size=6))
        failures: list[tuple[str, str]] = []
        with tempfile.TemporaryDirectory() as folder:
            check_every_shape(scheme, _plain_units(compiled, drawn), Path(folder), failures)
        for name, message in dict(failures).items():
            found.setdefault(name, []).append(message)

    run()
    return found


if __name__ == "__main__":
    import sys

    for name, messages in sorted(hunt(int(sys.argv[1])).items()):
        print(f"{len(messages):5} {name}: {messages[0][:200]}")  # noqa: T201


def test_a_repeating_step_value_is_written_with_its_exact_form():
    text = (
        '[scheme]\nid = "r"\ntitle = "r"\nmax = 10\n[inputs]\nx = {}\nt = {}\n'
        '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n'
        '[indicators.a]\nweight = 10\nformula = "weight * min(x / t, 1)"\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="r.toml"))

    def steps() -> list[dict[str, Any]]:
        trace = compiled.evaluate({"a": {"x": "1", "t": "3"}}, trace=True).trace
        document = json.loads(trace.to_json())
        assert json.loads(_from_parts(trace).to_json()) == document
        return document["root"]["children"][0]["steps"]

    short = steps()
    with general_writers(compiled):
        general = steps()
    for found in (short, general):
        assert "1/3" in [step.get("exact") for step in found], found
