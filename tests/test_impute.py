"""Missing facts imputed from the other units: the cohort's mean or median, the group's.

The values are worked by hand below; every shape (``evaluate_cohort``, ``score_table``,
the streamed CLI, Dask) must give them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
import perfrules.dask
from perfrules.cli import cli
from perfrules.errors import FactsError, RuleFileError

RULES = """
[scheme]
id = "imp"
title = "Imputation"

[defaults]
missing = "{missing}"

[inputs]
gdp = {{ label = "GDP", impute = "cohort_mean" }}
green = {{ label = "green", impute = {{ method = "group_mean", by = "region" }} }}
pm = {{ label = "pm", impute = "cohort_median" }}

[indicators.a]
weight = 40
formula = "weight * min(gdp / 20, 1)"

[indicators.b]
weight = 30
formula = "weight * green"

[indicators.c]
weight = 30
formula = "weight * max(0, 1 - pm / 100)"

[ranking]
keys = [{{ by = "total" }}]
{ranking}
"""

# A gives everything; B misses gdp; C misses green ("-") and pm (".."); E is alone in
# its region and misses green.
UNITS = """unit,shared.region,shared.gdp,shared.green,shared.pm
A,north,10,50%,30
B,north,-,40%,20
C,south,14,-,..
D,south,12,60%,40
E,east,8,-,50
"""

# By hand. gdp: mean of 10, 14, 12, 8 = 11, so B's a = 40 × 11/20 = 22.
# green: C's region (south) gives only D's 60%: b = 30 × 0.6 = 18; E's region gives none,
# so the cohort's mean of 50%, 40%, 60% = 50%: b = 15.
# pm: median of 30, 20, 40, 50 = 35, so C's c = 30 × 0.65 = 19.5.
TOTALS = {
    "A": Decimal("56.00"),  # 20 + 15 + 21
    "B": Decimal("58.00"),  # 22 + 12 + 24
    "C": Decimal("65.50"),  # 28 + 18 + 19.5
    "D": Decimal("60.00"),  # 24 + 18 + 18
    "E": Decimal("46.00"),  # 16 + 15 + 15
}
RANKS = {"C": 1, "D": 2, "B": 3, "A": 4, "E": 5}


def _write(tmp_path: Path, missing: str = "error", ranking: str = "") -> Path:
    path = tmp_path / "imp.toml"
    path.write_text(RULES.format(missing=missing, ranking=ranking), encoding="utf-8")
    (tmp_path / "units.csv").write_text(UNITS, encoding="utf-8")
    return path


def _compiled(tmp_path: Path, **kwargs: str) -> perfrules.CompiledScheme:
    return perfrules.compile_scheme(perfrules.load_scheme(_write(tmp_path, **kwargs)))


def _units(text: str = UNITS) -> list[dict]:
    lines = text.strip().splitlines()
    names = lines[0].split(",")
    units = []
    for line in lines[1:]:
        cells = dict(zip(names, line.split(","), strict=True))
        shared = {k.removeprefix("shared."): v for k, v in cells.items() if k != "unit"}
        units.append({"unit": cells["unit"], "shared": shared})
    return units


def _by_unit(compiled: perfrules.CompiledScheme, units: list[dict]) -> dict:
    results = compiled.evaluate_cohort(units)
    return {u["unit"]: r for u, r in zip(units, results, strict=True)}


def _frame(text: str = UNITS) -> pd.DataFrame:
    rows = [line.split(",") for line in text.strip().splitlines()]
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_hand_worked_values_and_ranks(tmp_path):
    compiled = _compiled(tmp_path)
    results = _by_unit(compiled, _units())
    assert {u: r.total for u, r in results.items()} == TOTALS
    assert {u: r.rank.position for u, r in results.items()} == RANKS


def test_the_trace_says_what_was_imputed_how_and_from_how_many(tmp_path):
    compiled = _compiled(tmp_path)
    results = _by_unit(compiled, _units())
    c = results["C"].trace.to_dict()
    b = next(n for n in c["root"]["children"] if n["id"] == "b")
    assert b["inputs"]["green"] == {"value": "0.6", "text": "0.6", "source": "imputed"}
    assert [n["kind"] for n in b["notes"]] == ["imputed"]
    assert b["notes"][0]["params"]["units"] == "1"
    values = {v["name"]: v for v in c["cohort"]["values"]}
    assert values["impute.green"]["value"] == "0.6"
    assert values["impute.green"]["units"] == 1
    assert values["impute.green"]["where"] == 'region == "south"'
    assert values["impute.pm"]["stat"] == "median"
    assert values["impute.pm"]["value"] == "35"
    # E's region gives no green: the cohort's mean, over the three units that give it
    e = {v["name"]: v for v in results["E"].trace.to_dict()["cohort"]["values"]}
    assert e["impute.green"]["value"] == "0.5"
    assert e["impute.green"]["units"] == 3
    assert e["impute.green"]["where"] is None
    # A unit that gives every fact reads them as given
    a = results["A"].trace.to_dict()["root"]["children"]
    assert {n["inputs"]["gdp"]["source"] for n in a if "gdp" in n["inputs"]} == {"shared"}


def test_explain_marks_the_imputed_value(tmp_path):
    path = _write(tmp_path)
    out = CliRunner().invoke(
        cli,
        ["explain", str(path), str(tmp_path / "units.csv"), "--unit", "C", "b", "--lang", "en"],
    )
    assert out.exit_code == 0, out.output
    assert "green = 0.6 [imputed]" in out.output
    assert 'the mean of the 1 unit(s) of the group region == "south" that give it' in out.output


def test_every_shape_gives_the_hand_worked_values(tmp_path):
    compiled = _compiled(tmp_path)
    table = perfrules.score_table(compiled, _frame())
    assert dict(zip(table["unit"], table["total"], strict=True)) == TOTALS
    assert dict(zip(table["unit"], table["rank"], strict=True)) == RANKS
    parts = dd.from_pandas(_frame(), npartitions=3)
    frame = perfrules.dask.score_dask(compiled, parts).compute()
    assert dict(zip(frame["unit"], frame["total"], strict=True)) == TOTALS
    assert dict(zip(frame["unit"], frame["rank"], strict=True)) == RANKS
    out = tmp_path / "out.csv"
    run = CliRunner().invoke(
        cli,
        ["score", str(tmp_path / "imp.toml"), str(tmp_path / "units.csv"), "--out", str(out)],
    )
    assert run.exit_code == 0, run.output
    rows = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert {u: Decimal(t) for u, t in zip(rows["unit"], rows["total"], strict=True)} == TOTALS
    assert {u: int(r) for u, r in zip(rows["unit"], rows["rank"], strict=True)} == RANKS


def test_a_marker_in_an_indicators_own_facts_is_imputed(tmp_path):
    compiled = _compiled(tmp_path)
    units = _units()
    units[0]["indicators"] = {"a": {"gdp": ".."}}  # A's own gdp for a: missing
    results = compiled.evaluate_cohort(units)
    # the mean is taken over shared facts: 11 (A's shared 10 still counts)
    assert results[0].scores["a"] == Decimal("22.00")


def test_no_unit_giving_the_fact_leaves_the_missing_policy(tmp_path):
    compiled = _compiled(tmp_path, missing="zero")
    units = _units()
    for unit in units:
        unit["shared"]["pm"] = "-"
    results = compiled.evaluate_cohort(units)
    c = results[0].trace.to_dict()["root"]["children"][2]
    assert c["score"] == "0.00"
    assert [n["kind"] for n in c["notes"]] == ["missing_zero"]
    names = {v["name"] for v in results[0].trace.to_dict()["cohort"]["values"]}
    assert "impute.pm" not in names
    failed = _compiled(tmp_path, missing="error").evaluate_cohort(units)
    assert all(isinstance(r, FactsError) for r in failed)
    assert {d.code for r in failed for d in r.diagnostics} == {"PR401"}


def test_a_unit_alone_is_scored_with_its_cohort(tmp_path):
    compiled = _compiled(tmp_path)
    with pytest.raises(FactsError) as info:
        compiled.evaluate(_units()[0])
    [diagnostic] = info.value.diagnostics
    assert diagnostic.code == "PR413"
    assert "impute.gdp" in diagnostic.format("en")
    values = compiled.cohort_values(_units())
    assert compiled.evaluate(_units()[1], cohort=values).total == TOTALS["B"]


def test_a_cohort_value_over_an_imputed_fact_leaves_out_units_without_it(tmp_path):
    text = RULES.format(missing="error", ranking="") + (
        '\n[cohort.values.best_gdp]\nstat = "max"\nof = "gdp"\n'
        "\n[indicators.d]\nweight = 0\ncounted = false\n"
        'formula = "weight * gdp / best_gdp"\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="imp.toml"))
    results = compiled.evaluate_cohort(_units())
    assert all(not isinstance(r, FactsError) for r in results)
    values = {v.name: v for v in results[1].trace.cohort.values}  # noqa: PD011
    assert values["best_gdp"].value == 14
    assert values["best_gdp"].units == 4  # B gives no gdp: not taken, not failed


BAD = """[scheme]
id = "imp"
title = "Imputation"

[inputs]
gdp = { impute = "cohort_mode" }
green = { impute = { method = "group_mean" } }
pm = { impute = { method = "cohort_median", by = "region" } }
ok = { type = "bool", impute = "cohort_mean" }
x = { impute = { method = "group_mean", by = "x" } }

[indicators.a]
weight = 100
formula = "weight * green * pm * x if ok else 0"

[ranking]
keys = [{ by = "total" }]
min_available = 1.5
"""


def test_every_mistake_in_imputation_is_located_at_once():
    with pytest.raises(RuleFileError) as info:
        perfrules.loads_scheme(BAD, name="bad.toml")
    found = [(d.code, d.line, d.column) for d in info.value.diagnostics]
    assert found == [
        ("PR102", 6, 9),
        ("PR246", 7, 11),
        ("PR246", 8, 45),
        ("PR245", 9, 23),
        ("PR246", 10, 41),
        ("PR247", 18, 1),
    ]


# --- a property: an imputed value is the statistic of the values given -------------------
_CELLS = st.one_of(
    st.sampled_from(["-", "..", ""]),
    st.integers(0, 100).map(lambda n: str(Decimal(n) / 100)),
)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(_CELLS, min_size=1, max_size=9),
    regions=st.lists(st.sampled_from(["north", "south", ""]), min_size=9, max_size=9),
)
def test_an_imputed_value_is_the_mean_or_median_of_the_values_given(cells, regions):
    text = RULES.format(missing="zero", ranking="")
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="imp.toml"))
    units = []
    for number, cell in enumerate(cells):
        shared = {"gdp": cell, "green": cell, "pm": cell, "region": regions[number]}
        units.append({"unit": f"u{number}", "shared": {k: v for k, v in shared.items() if v}})
    given_values = [Fraction(c) for c in cells if c not in ("-", "..", "")]
    results = compiled.evaluate_cohort(units)
    for number, result in enumerate(results):
        assert not isinstance(result, FactsError)
        values = {v.name: v for v in result.trace.cohort.values}  # noqa: PD011
        if not given_values:
            assert not values
            continue
        low, high = min(given_values), max(given_values)
        mean = sum(given_values, Fraction(0)) / len(given_values)
        assert values["impute.gdp"].value == mean
        assert low <= values["impute.pm"].value <= high
        assert values["impute.pm"].units == len(given_values)
        region = regions[number]
        group = [
            Fraction(c)
            for c, r in zip(cells, regions, strict=False)
            if r == region and c not in ("-", "..", "")
        ]
        want = sum(group, Fraction(0)) / len(group) if region and group else mean
        assert values["impute.green"].value == want
        assert low <= values["impute.green"].value <= high


def test_the_table_lists_what_each_unit_had_imputed(tmp_path):
    compiled = _compiled(tmp_path)
    table = perfrules.score_table(compiled, _frame())
    imputed = [None if pd.isna(cell) else cell for cell in table["imputed"]]
    assert dict(zip(table["unit"], imputed, strict=True)) == {
        "A": None,
        "B": "gdp",
        "C": "green pm",
        "D": None,
        "E": "green",
    }


# --- a data-availability threshold: below it, scored but not ranked ------------------------
# A gives every fact (3 of 3 indicators), D too; B misses gdp, E green (2 of 3 each, below
# 75%); C misses green and pm (1 of 3). Ranked: D (60) first, A (56) second.
THRESHOLD = "min_available = 0.75"
RANKED = {"A": 2, "D": 1}
UNRANKED = {"B": (2, 3), "C": (1, 3), "E": (2, 3)}
REASON = "not ranked: the facts of {} of its {} indicators are given, below the 75% required"


def test_a_unit_below_the_threshold_is_scored_not_ranked(tmp_path):
    compiled = _compiled(tmp_path, ranking=THRESHOLD)
    results = _by_unit(compiled, _units())
    assert {u: r.total for u, r in results.items()} == TOTALS  # scored all the same
    assert {u: r.rank.position for u, r in results.items() if r.rank} == RANKED
    assert {results["A"].rank.of, results["D"].rank.of} == {2}
    for unit, (count, of) in UNRANKED.items():
        cohort = results[unit].trace.to_dict()["cohort"]
        assert cohort["rank"] is None
        assert cohort["unranked"]["given"] == count
        assert cohort["unranked"]["of"] == of
        assert cohort["unranked"]["min_available"] == "0.75"
        assert cohort["unranked"]["en"] == REASON.format(count, of)
    assert "unranked" not in results["A"].trace.to_dict()["cohort"]


def test_every_shape_leaves_the_same_units_unranked(tmp_path):
    compiled = _compiled(tmp_path, ranking=THRESHOLD)
    want_ranks = {u: RANKED.get(u) for u in TOTALS}
    want_reasons = {u: REASON.format(*UNRANKED[u]) if u in UNRANKED else None for u in TOTALS}

    def check(units, ranks, reasons, where):
        pairs = zip(units, ranks, strict=True)
        got_ranks = {u: None if pd.isna(r) or r == "" else int(r) for u, r in pairs}
        pairs = zip(units, reasons, strict=True)
        got_reasons = {u: None if pd.isna(r) or r == "" else r for u, r in pairs}
        assert got_ranks == want_ranks, where
        assert got_reasons == want_reasons, where

    table = perfrules.score_table(compiled, _frame())
    check(table["unit"], table["rank"], table["unranked"], "score_table")
    frame = perfrules.dask.score_dask(compiled, dd.from_pandas(_frame(), npartitions=2)).compute()
    check(frame["unit"], frame["rank"], frame["unranked"], "dask")
    out = tmp_path / "out.csv"
    run = CliRunner().invoke(
        cli,
        ["score", str(tmp_path / "imp.toml"), str(tmp_path / "units.csv"), "--out", str(out)],
    )
    assert run.exit_code == 0, run.output
    rows = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    check(rows["unit"], rows["rank"], rows["unranked"], "stream")


def test_explain_and_reports_give_the_reason(tmp_path):
    path = _write(tmp_path, ranking=THRESHOLD)
    out = CliRunner().invoke(
        cli, ["explain", str(path), str(tmp_path / "units.csv"), "--unit", "C", "--lang", "en"]
    )
    assert out.exit_code == 0, out.output
    assert REASON.format(1, 3) in out.output
    zh = CliRunner().invoke(
        cli, ["explain", str(path), str(tmp_path / "units.csv"), "--unit", "C", "--lang", "zh"]
    )
    assert "不参与排名：3 项指标中仅 1 项的数据完整，低于要求的 75%" in zh.output


@settings(max_examples=40, deadline=None)
@given(
    cells=st.lists(st.sampled_from(["-", "0.5", "0.2", "0.9", ""]), min_size=3, max_size=18),
    share=st.sampled_from(["0.3", "0.5", "2/3", "0.75", "1"]),
)
def test_a_unit_below_the_threshold_is_never_ranked(cells, share):
    threshold = f"min_available = {Fraction(share).numerator / Fraction(share).denominator!r}"
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(RULES.format(missing="zero", ranking=threshold), name="t.toml")
    )
    units = []
    for number in range(len(cells) // 3):
        gdp, green, pm = cells[3 * number : 3 * number + 3]
        shared = {"gdp": gdp, "green": green, "pm": pm, "region": "r"}
        units.append({"unit": f"u{number}", "shared": {k: v for k, v in shared.items() if v}})
    minimum = Fraction(compiled.scheme.ranking.min_available)
    for unit, result in zip(units, compiled.evaluate_cohort(units), strict=True):
        given = sum(1 for k in ("gdp", "green", "pm") if unit["shared"].get(k, "-") != "-")
        if Fraction(given, 3) < minimum:
            assert result.rank is None
            assert result.cohort.unranked is not None
        else:
            assert result.rank is not None
            assert result.cohort.unranked is None


def test_xlsx_results_and_json_lines_carry_imputed_and_unranked(tmp_path):
    import openpyxl

    path = _write(tmp_path, ranking=THRESHOLD)
    xlsx = tmp_path / "out.xlsx"
    run = CliRunner().invoke(
        cli, ["score", str(path), str(tmp_path / "units.csv"), "--out", str(xlsx)]
    )
    assert run.exit_code == 0, run.output
    rows = list(openpyxl.load_workbook(xlsx)["summary"].iter_rows(values_only=True))
    header = rows[0]
    table = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert {u: r["imputed"] for u, r in table.items()} == {
        "A": None,
        "B": "gdp",
        "C": "green pm",
        "D": None,
        "E": "green",
    }
    assert {u: r["rank"] for u, r in table.items()} == {u: RANKED.get(u) for u in TOTALS}
    assert table["C"]["unranked"] == REASON.format(1, 3)
    lines = tmp_path / "out.jsonl"
    run = CliRunner().invoke(
        cli, ["score", str(path), str(tmp_path / "units.csv"), "--out", str(lines)]
    )
    assert run.exit_code == 0, run.output
    traces = {
        entry["unit"]: entry["trace"]["cohort"]
        for entry in map(json.loads, lines.read_text(encoding="utf-8").splitlines())
    }
    assert traces["C"]["imputed"] == ["green", "pm"]
    assert "imputed" not in traces["A"]
    assert traces["C"]["unranked"]["given"] == 1
    assert traces["C"]["rank"] is None


def test_diff_shows_a_changed_imputation_and_threshold():
    from perfrules.workflows import diff_schemes

    old = perfrules.loads_scheme(RULES.format(missing="error", ranking=THRESHOLD), name="o.toml")
    text = RULES.format(missing="error", ranking="min_available = 0.5")
    text = text.replace('impute = "cohort_mean"', 'impute = "cohort_median"')
    text = text.replace('by = "region"', 'by = "size"')
    new = perfrules.loads_scheme(text, name="n.toml")
    found = {(c.section, c.id, c.key, c.old, c.new) for c in diff_schemes(old, new)}
    assert found == {
        ("inputs", "gdp", "impute", "cohort_mean", "cohort_median"),
        (
            "inputs",
            "green",
            "impute",
            "{method = group_mean, by = region}",
            "{method = group_mean, by = size}",
        ),
        ("ranking", "min_available", "min_available", "0.75", "0.5"),
    }


def test_the_properties_recompute_every_imputed_value(tmp_path):
    from perfrules.testing import scheme_properties
    from perfrules.workflows import cohort_violations

    text = RULES.format(missing="zero", ranking=THRESHOLD)
    text = text.replace('"weight * green"', '"weight * min(green, 1)"')  # any share drawn
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="p.toml"))
    scheme_properties(compiled, max_examples=25)()  # raises InvariantError on a violation
    units = _units()
    assert cohort_violations(compiled, units) == []
    # a unit imputed with the wrong value is caught: C's group mean swapped for the cohort's
    results = compiled.evaluate_cohort(units)
    corfe = results[2].cohort
    taken = corfe.values  # noqa: PD011 - the cohort's values, not a frame's
    wrong = [v._replace(value=Fraction(1, 2)) if v.name == "impute.green" else v for v in taken]
    results[2]._cohort = corfe._replace(values=tuple(wrong))
    found = cohort_violations(compiled, units, results)
    assert [(v.invariant, v.node) for v in found] == [("imputation", "green")]
    assert "unit C: the mean of green should be 0.6, the engine imputed 0.5" in found[0].message


def test_the_league_table_says_who_is_not_ranked_for_want_of_data(tmp_path):
    path = _write(tmp_path, ranking=THRESHOLD)
    page = tmp_path / "league.html"
    run = CliRunner().invoke(
        cli, ["score", str(path), str(tmp_path / "units.csv"), "--out", str(page), "--lang", "en"]
    )
    assert run.exit_code == 0, run.output
    html = page.read_text(encoding="utf-8")
    assert "not ranked: B (2/3 &lt; 75%); C (1/3 &lt; 75%); E (2/3 &lt; 75%)" in html


def test_a_unit_scored_with_its_cohorts_values_lists_what_was_imputed(tmp_path):
    compiled = _compiled(tmp_path)
    units = _units()
    values = compiled.cohort_values(units)
    alone = compiled.evaluate(units[2], cohort=values)
    together = compiled.evaluate_cohort(units)[2]
    assert alone.cohort.imputed == together.cohort.imputed == ("green", "pm")
    assert json.loads(alone.trace.to_json())["cohort"]["imputed"] == ["green", "pm"]


def test_sensitivity_never_ranks_a_unit_below_the_threshold(tmp_path):
    from perfrules.workflows import sensitivity

    # No imputation, empty cells scored 0: the rows the array scorer takes, too.
    rules = RULES.format(missing="zero", ranking=THRESHOLD)
    for declared in ('impute = "cohort_mean" ', 'impute = "cohort_median" '):
        rules = rules.replace(", " + declared, " ")
    rules = rules.replace(', impute = { method = "group_mean", by = "region" } ', " ")
    assert "impute" not in rules
    path = tmp_path / "zero.toml"
    path.write_text(rules, encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    assert compiled.columnar().vectorised
    frame = _frame(UNITS.replace(",-,", ",,").replace(",..", ",")).drop(columns="shared.region")
    table = pa.Table.from_pandas(frame)
    result = sensitivity(compiled, table, samples=10, vary=Decimal(20), seed=1, jobs=1)
    assert {u.unit for u in result.units if u.ranked} == set(RANKED)
    assert {u.unit: u.rank for u in result.units if u.rank} == RANKED
