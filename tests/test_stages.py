"""Stages: cohort values over scores and rows reading scores, in every shape.

The worked scheme (``data/stages/best100.toml``): each city's weighted sum of two rows
(``raw``, shown but not counted), the best sum of the cohort (``best``, a value over
``raw``), and the one counted row ``index = 100 × raw / best``. By hand:

    A: gdp 12 → 60 × 12/20 = 36.00; green 45 → 40 × 45/60 = 30.00; raw 66.00
    B: gdp 10 → 30.00;              green 50 → 40 × 50/60 = 33.33; raw 63.33
    C: gdp  8 → 24.00;              green 40 → 40 × 40/60 = 26.67; raw 50.67
    best = 66.00 (A); index A 100.00, B 6333/66 = 95.954… → 95.95, C 5067/66 = 76.772… → 76.77
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.dask import score_dask
from perfrules.errors import RuleFileError
from perfrules.workflows import cohort_violations, score_table, unit_violations

BEST = Path(__file__).parent / "data" / "stages" / "best100.toml"
CITIES = [("A", "12", "45"), ("B", "10", "50"), ("C", "8", "40")]
WANT = {"A": Decimal("100.00"), "B": Decimal("95.95"), "C": Decimal("76.77")}


def units(rows=CITIES, **extra: str) -> list[dict]:
    return [{"unit": u, "shared": {"gdp": g, "green": r, **extra}} for u, g, r in rows]


def frame(rows=CITIES) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit": [r[0] for r in rows],
            "shared.gdp": [r[1] for r in rows],
            "shared.green": [r[2] for r in rows],
        }
    )


def compiled(path: Path = BEST) -> perfrules.CompiledScheme:
    return perfrules.compile_scheme(perfrules.load_scheme(path))


def test_best_is_100_in_every_shape(tmp_path):
    scheme = compiled()
    results = scheme.evaluate_cohort(units())
    assert dict(zip(WANT, (r.total for r in results), strict=True)) == WANT
    assert [r.rank.position for r in results] == [1, 2, 3]
    # the table
    table = score_table(scheme, frame())
    assert dict(zip(table["unit"], table["total"], strict=True)) == WANT
    # Dask, two partitions (the pass over scores meets across them)
    with dask.config.set(scheduler="sync"):
        out = score_dask(scheme, dd.from_pandas(frame(), npartitions=2)).compute()
    assert dict(zip(out["unit"], out["total"], strict=True)) == WANT
    # the streamed command line, read once per pass
    source = tmp_path / "units.csv"
    frame().to_csv(source, index=False)
    target = tmp_path / "out.csv"
    run = CliRunner().invoke(cli, ["score", str(BEST), str(source), "--out", str(target)])
    assert run.exit_code == 0, run.output
    written = pd.read_csv(target, dtype=str, encoding="utf-8-sig")
    assert dict(zip(written["unit"], written["total"], strict=True)) == {
        k: str(v) for k, v in WANT.items()
    }


def test_the_trace_names_the_score_read_and_the_unit_that_gave_the_value():
    b = compiled().evaluate_cohort(units())[1]
    index = b.trace.root.find("index")
    sources = {i.name: i.source for i in index.inputs}
    assert sources == {"raw": "score", "best": "cohort"}
    (best,) = b.trace.cohort.values  # noqa: PD011 - a tuple of cohort values
    assert (best.of, best.value, best.unit, best.units) == ("raw", 66, "A", 3)
    parsed = json.loads(b.trace.to_json())
    text = json.dumps(parsed)
    assert '"source": "score"' in text
    assert parsed["cohort"]["values"][0]["of"] == "raw"


def test_a_unit_that_fails_is_left_out_of_the_value_over_scores():
    rows = [*CITIES, ("D", "oops", "70")]
    results = compiled().evaluate_cohort(units(rows))
    assert isinstance(results[3], perfrules.FactsError)
    assert [r.total for r in results[:3]] == list(WANT.values())  # D's 70 % green never counted


def test_minmax_of_totals_per_cohort():
    text = (
        BEST.read_text(encoding="utf-8")
        .replace(
            '[cohort.values.best]\nstat = "max"\nof = "raw"\n',
            '[cohort]\ngroup_by = "lot"\n\n[cohort.values.best]\nstat = "max"\nof = "raw"\n\n'
            '[cohort.values.worst]\nstat = "min"\nof = "raw"\n',
        )
        .replace(
            'formula = "100 * raw / best"', 'formula = "100 * (raw - worst) / (best - worst)"'
        )
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="minmax.toml"))
    rows = [*units(), *units([("D", "20", "60"), ("E", "0", "30")])]
    for r, lot in zip(rows, ["1", "1", "1", "2", "2"], strict=True):
        r["shared"]["lot"] = lot
    results = scheme.evaluate_cohort(rows)
    # lot 1: worst C 50.67, best A 66.00: B = 100 × 12.66 / 15.33 = 82.583… → 82.58
    # lot 2: D 100.00 (best), E 20.00 (worst)
    assert [r.total for r in results] == [
        Decimal("100.00"),
        Decimal("82.58"),
        Decimal("0.00"),
        Decimal("100.00"),
        Decimal("0.00"),
    ]
    assert results[1].trace.cohort.cohort == "1"


def test_a_cohort_of_equal_units_cannot_be_rescaled_and_says_why():
    text = (
        BEST.read_text(encoding="utf-8")
        .replace(
            '[cohort.values.best]\nstat = "max"\nof = "raw"\n',
            '[cohort.values.best]\nstat = "max"\nof = "raw"\n\n'
            '[cohort.values.worst]\nstat = "min"\nof = "raw"\n',
        )
        .replace(
            'formula = "100 * raw / best"', 'formula = "100 * (raw - worst) / (best - worst)"'
        )
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="minmax.toml"))
    results = scheme.evaluate_cohort(units([("A", "10", "30"), ("B", "10", "30")]))
    for result in results:
        assert isinstance(result, perfrules.FactsError)
        assert "PR316" in {d.code for d in result.diagnostics}


def test_a_value_over_the_total_is_read_by_a_row_not_counted():
    text = BEST.read_text(encoding="utf-8") + (
        '\n[cohort.values.top]\nstat = "max"\nof = "total"\n\n'
        "[indicators.behind]\n"
        'name = "Points behind the best total"\nweight = 100\ncounted = false\n'
        'formula = "top - index"\n'
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="behind.toml"))
    assert scheme.plan.stages.passes == 2  # raw, then the index, then the gap to the top
    results = scheme.evaluate_cohort(units())
    assert [r.total for r in results] == list(WANT.values())
    assert [r.scores["behind"] for r in results] == [
        Decimal("0.00"),
        Decimal("4.05"),
        Decimal("23.23"),
    ]
    table = score_table(scheme, frame())
    assert list(table["behind"]) == [Decimal("0.00"), Decimal("4.05"), Decimal("23.23")]


def test_a_row_reading_a_score_that_needs_its_own_is_a_circle_at_its_formula():
    text = BEST.read_text(encoding="utf-8").replace(
        '[cohort.values.best]\nstat = "max"\nof = "raw"\n',
        '[cohort.values.best]\nstat = "max"\nof = "total"\n',
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="circle.toml")
    (diagnostic,) = [d for d in caught.value.diagnostics if d.code == "PR250"]
    assert diagnostic.path == ("indicators", "index", "formula")
    assert diagnostic.line == text.splitlines().index('formula = "100 * raw / best"') + 1
    assert "index → total → index" in diagnostic.message()


def test_a_row_inside_the_group_it_reads_is_a_circle():
    text = BEST.read_text(encoding="utf-8").replace(
        'formula = "weight * clamp(green / 60, 0, 1)"',
        'formula = "weight * clamp(raw / 100, 0, 1)"',
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="inside.toml")
    codes = [(d.code, d.path) for d in caught.value.diagnostics]
    assert ("PR250", ("indicators", "green_score", "formula")) in codes


def test_a_value_over_a_name_that_is_no_score_or_input_is_located():
    text = BEST.read_text(encoding="utf-8").replace('of = "raw"', 'of = "rawe"')
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="typo.toml")
    (diagnostic,) = [d for d in caught.value.diagnostics if d.code == "PR230"]
    assert diagnostic.path == ("cohort", "values", "best", "of")
    assert "raw" in diagnostic.message()  # did you mean


def test_schemes_without_scores_read_have_one_pass():
    index = compiled(Path(__file__).parent.parent / "rules/examples/ranking-index/scheme.toml")
    assert index.plan.stages.passes == 0
    assert index.stages == ()


def test_explain_adds_up_only_the_counted_rows(tmp_path):
    source = tmp_path / "units.csv"
    frame().to_csv(source, index=False)
    run = CliRunner().invoke(
        cli, ["explain", str(BEST), str(source), "--unit", "B", "--lang", "en"]
    )
    assert run.exit_code == 0, run.output
    total = next(line for line in run.output.splitlines() if line.startswith("Total ="))
    assert total == "Total = 95.95 = 95.95 / 100"  # not the weighted sum shown beside it
    assert "raw = 63.33 [score]" in run.output
    assert "best: 66 (max of raw over 3 unit(s), from A)" in run.output


def test_a_table_reads_own_scores_from_the_pass_before_as_arrays():
    scheme = compiled()
    assert scheme.columnar().vectorised  # the index row's raw comes from the pass before
    rows = [(f"U{i}", str(i % 21), f"{(i * 7) % 61}") for i in range(60)]
    rows[5] = ("U5", " 10 ", "50")  # a cell the arrays leave to the long way
    want = [r.total for r in scheme.evaluate_cohort(units(rows))]
    table = score_table(scheme, frame(rows))
    assert list(table["total"]) == want


def test_a_row_with_a_target_from_its_parameters_can_read_a_score():
    # A later row keeps its parameters in the earlier pass (its target text is derived
    # from them), though it scores 0 there.
    text = BEST.read_text(encoding="utf-8").replace(
        'formula = "100 * raw / best"',
        'formula = "min(100 * raw / best, cap)"\n'
        'params = { cap = 100 }\ntarget_text = "=at most {cap}"',
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="params.toml"))
    assert [r.total for r in scheme.evaluate_cohort(units())] == list(WANT.values())
    assert scheme.stages[0].compiled.scheme.indicators["index"].target == "at most 100"


def test_a_row_may_read_another_rows_score_without_any_cohort():
    text = BEST.read_text(encoding="utf-8")
    text = text[: text.index("[cohort.values.best]")] + (
        '[indicators.index]\nweight = 100\nformula = "weight * clamp(raw / 70, 0, 1)"\n'
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="own.toml"))
    assert not scheme.plan.has_cohort
    result = scheme.evaluate({"shared": {"gdp": "10", "green": "50"}})
    assert result.total == Decimal("90.47")  # 100 × 63.33 / 70 = 90.4714…
    table = score_table(scheme, frame())
    assert list(table["total"]) == [Decimal("94.29"), Decimal("90.47"), Decimal("72.39")]


def test_sensitivity_takes_values_over_scores_again_for_each_weight_set():
    from perfrules.workflows import sensitivity

    scheme = compiled()
    # A leads on GDP, B on green: which has the best weighted sum depends on the weights.
    rows = [("A", "20", "0"), ("B", "0", "60")]
    rows += [(f"U{i}", str(i % 10), str(i % 30)) for i in range(38)]
    table = pa.Table.from_pandas(frame(rows), preserve_index=False)
    result = sensitivity(scheme, table, samples=20, vary=Decimal(30), seed=3, jobs=1)
    # Under other weights the best weighted sum is another: with the declared weights'
    # best kept, A's index would pass 100 whenever GDP weighs more, and A would fail.
    assert all(u.ranked == 20 for u in result.units)
    assert {u.rank for u in result.units} >= {1}


def test_imputed_values_are_kept_through_the_passes(tmp_path):
    # B's GDP is missing ("-"): the mean of the others, (12 + 8) / 2 = 10, as before.
    text = BEST.read_text(encoding="utf-8").replace("gdp = {}", 'gdp = { impute = "cohort_mean" }')
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="imputed.toml"))
    rows = [("A", "12", "45"), ("B", "-", "50"), ("C", "8", "40")]
    results = scheme.evaluate_cohort(units(rows))
    assert [r.total for r in results] == list(WANT.values())
    b = next(i for i in results[1].trace.root.find("gdp_score").inputs if i.name == "gdp")
    assert (b.value, b.source) == (10, "imputed")
    table = score_table(scheme, frame(rows))
    assert list(table["total"]) == list(WANT.values())
    assert list(table["imputed"].fillna("")) == ["", "gdp", ""]
    with dask.config.set(scheduler="sync"):
        out = score_dask(scheme, dd.from_pandas(frame(rows), npartitions=2)).compute()
    assert list(out["total"]) == list(WANT.values())


def test_two_rows_reading_each_other_are_one_circle_reported_beside_other_mistakes():
    text = BEST.read_text(encoding="utf-8") + (
        '\n[indicators.a]\nweight = 10\ncounted = false\nformula = "b"\n'
        '\n[indicators.b]\nweight = 10\ncounted = false\nformula = "a + nonsense"\n'
        '\n[indicators.c]\nweight = 10\ncounted = false\nformula = "c"\n'
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="circles.toml")
    messages = {d.code: [] for d in caught.value.diagnostics}
    for d in caught.value.diagnostics:
        messages[d.code].append(d.message())
    assert "PR302" in messages  # the unknown name, and in the same round the circle:
    assert any(m.endswith(": c → c") for m in messages["PR250"])


def test_a_missing_marker_in_a_fact_a_cohort_value_takes_is_missing_not_unreadable():
    rows = [("A", "12", "45"), ("B", "-", "50"), ("C", "8", "40")]
    text = BEST.read_text(encoding="utf-8") + (
        '\n[cohort.values.top_gdp]\nstat = "max"\nof = "gdp"\n'
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="marker.toml"))
    results = scheme.evaluate_cohort(units(rows))
    assert isinstance(results[1], perfrules.FactsError)
    assert [d.code for d in results[1].diagnostics] == ["PR401"]


def test_an_input_whose_declaration_is_broken_is_not_also_an_unknown_name():
    text = BEST.read_text(encoding="utf-8").replace(
        "gdp = {}", 'gdp = { normalise = { method = "minmx" } }'
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="broken.toml")
    codes = [d.code for d in caught.value.diagnostics]
    assert "PR302" not in codes
    assert codes  # the declaration's own mistake


def test_a_pass_taken_a_chunk_at_a_time_equals_the_pass_over_the_whole_table():
    from perfrules.workflows._table import all_cohort_values

    text = BEST.read_text(encoding="utf-8") + (
        '\n[cohort.values.middle]\nstat = "median"\nof = "raw"\n'
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="median.toml"))
    rows = [(f"U{i}", str(i % 21), str((i * 7) % 61)) for i in range(30)]
    arrow = pa.Table.from_pandas(frame(rows), preserve_index=False)
    whole = all_cohort_values(scheme, lambda: [(arrow, 1)])
    one_by_one = all_cohort_values(scheme, lambda: [(arrow.slice(i, 1), i + 1) for i in range(30)])
    assert whole.by_cohort == one_by_one.by_cohort
    assert {v.name: v.value for v in whole.values(None)} == {
        v.name: v.value for v in scheme.cohort_values(units(rows)).values(None)
    }


def test_a_value_over_scores_that_no_formula_reads_is_still_taken_and_shown(tmp_path):
    text = BEST.read_text(encoding="utf-8") + (
        '\n[cohort.values.top_index]\nlabel = "Best index"\nstat = "max"\nof = "index"\n'
    )
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(text, name="shown.toml"))
    results = scheme.evaluate_cohort(units())
    assert [r.total for r in results] == list(WANT.values())
    shown = results[2].trace.cohort.values  # noqa: PD011 - a tuple of cohort values
    (top,) = [v for v in shown if v.name == "top_index"]
    assert (top.value, top.unit) == (100, "A")
    table = score_table(scheme, frame())
    assert list(table["total"]) == list(WANT.values())
    assert list(table["top_index"]) == ["100", "100", "100"]


def test_a_broken_cohort_value_is_reported_once_with_the_rest_of_the_section():
    """Its own mistakes, not also "unknown name" where it is read; its siblings still checked."""
    text = BEST.read_text(encoding="utf-8").replace(
        '[cohort.values.best]\nstat = "max"\nof = "raw"\n',
        '[cohort]\ngroup_by = 3\n\n[cohort.values.best]\nstat = "maxx"\nof = "raw"\n\n'
        '[cohort.values.other]\nstat = "min"\nof = "nowhere"\n',
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="rounds.toml")
    found = sorted((d.code, ".".join(map(str, d.path))) for d in caught.value.diagnostics)
    assert found == [
        ("PR102", "cohort.group_by"),
        ("PR102", "cohort.values.best.stat"),
        ("PR230", "cohort.values.other.of"),
    ]


# --- the properties of a scheme with values over scores ----------------------------------
def test_the_cohort_check_takes_values_over_scores_from_the_scores():
    """best = max of raw over the units' scores, recomputed here, not over a fact "raw"."""
    scheme = compiled()
    results = scheme.evaluate_cohort(units())
    assert cohort_violations(scheme, units(), results) == []


def pillars(*rows: tuple[str, str, str, str]) -> list[dict]:
    """Units of the shipped best-is-100 pack: each pillar a fact of its own row."""
    return [
        {
            "unit": unit,
            "indicators": {
                "economy_points": {"economy": e},
                "social_points": {"social": s},
                "environment_points": {"environment": v},
            },
        }
        for unit, e, s, v in rows
    ]


def test_a_unit_is_varied_with_the_values_over_scores_taken_again():
    """Raising the best unit's pillar raises the best with it: held, the index passes 100."""
    scheme = perfrules.compile_scheme(perfrules.load_pack("examples/best-is-100"))
    cities = pillars(("A", "80", "70", "60"), ("B", "50", "50", "50"))
    values = scheme.cohort_values(cities)
    fixed = unit_violations(scheme, cities[0], cohort=values)
    assert {v.invariant for v in fixed} == {"monotonic"}
    assert "outside [0, 100]" in fixed[0].message

    def retake(facts):
        return scheme.cohort_values([facts, *cities[1:]])

    assert unit_violations(scheme, cities[0], cohort=values, retake=retake) == []


def test_a_division_by_a_cohort_value_of_0_is_the_cohorts_not_the_units():
    scheme = compiled()
    zero = units([("A", "0", "0")])
    values = scheme.cohort_values(zero)
    assert unit_violations(scheme, zero[0], cohort=values) == []  # best = 0: no index
    # a division by a unit's own fact stays a violation
    text = BEST.read_text(encoding="utf-8").replace(
        'formula = "100 * raw / best"', 'formula = "100 * raw / best + 0 / gdp"'
    )
    own = perfrules.compile_scheme(perfrules.loads_scheme(text, name="own.toml"))
    zero = units([("A", "0", "10")])
    found = unit_violations(own, zero[0], cohort=own.cohort_values(zero))
    assert [v.invariant for v in found] == ["scores"]
