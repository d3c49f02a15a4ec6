"""Cohorts: values taken over the units scored together, rankings, and how they are explained."""

from __future__ import annotations

import json
import tomllib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import perfrules
from perfrules._trace_json import trace_json
from perfrules.errors import FactsError, RuleFileError
from perfrules.testing import InvariantError, cohort_violations, cohorts_for, scheme_properties
from perfrules.workflows._batch import score_batch, write_results
from perfrules.workflows._packs import run_cases

ROOT = Path(__file__).resolve().parent.parent
PROCUREMENT = ROOT / "rules" / "cn" / "procurement-comprehensive-scoring" / "scheme.toml"
INDEX = ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml"

HEAD = """
[scheme]
id = "t"
title = "t"
max = 10

[[bands]]
label = "all"
min = 0
max = 10

[inputs]
x = {}
ok = { type = "bool" }
"""


def scheme(text: str) -> perfrules.CompiledScheme:
    return perfrules.compile_scheme(perfrules.loads_scheme(HEAD + text, name="t.toml"))


def unit(name: str, x: str, ok: bool = True, **shared: str) -> dict:
    return {"unit": name, "shared": {"x": x, "ok": ok, **shared}}


def values(result) -> dict[str, Fraction | None]:
    return {v.name: v.value for v in result.cohort.values}


# --- the rule file -----------------------------------------------------------------------
def test_every_mistake_in_cohort_and_ranking_is_reported_at_its_place():
    text = (
        HEAD
        + """
[cohort]
[cohort.values.low]
stat = "min"
of = "xx"
[cohort.values.n]
stat = "count"
of = "x"
[cohort.values.p]
stat = "percentile"
of = "x"
percentile = 120
[cohort.values.m]
stat = "mean"
of = "x"
where = "x + 1"

[ranking]
keys = [{ by = "totl" }, { by = "x", order = "asc" }]
where = "missing_fact"

[indicators.a]
weight = 10
formula = "min(x, weight)"
"""
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="t.toml")
    found = {(d.code, d.line) for d in caught.value.diagnostics}
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(n for n, line in enumerate(lines, start=1) if fragment in line)

    assert ("PR230", line_of('of = "xx"')) in found
    assert ("PR231", line_of('of = "x"')) in found  # count takes no of
    assert ("PR231", line_of("percentile = 120")) in found
    assert ("PR307", line_of('where = "x + 1"')) in found  # a number is not a condition
    assert ("PR232", line_of('{ by = "totl" }')) in found
    assert ("PR302", line_of('where = "missing_fact"')) in found
    by_code = {d.code: d for d in caught.value.diagnostics}
    assert by_code["PR230"].hint_text("en") == "did you mean 'x'?"
    assert by_code["PR232"].hint_text("en") == "did you mean 'total'?"


def test_a_cohort_value_cannot_share_a_name_and_a_key_must_be_unambiguous():
    text = (
        HEAD
        + """
[cohort.values.x]
stat = "max"
of = "x"

[ranking]
keys = [{ by = "a" }]

[inputs.a]

[indicators.a]
weight = 10
formula = "min(a, weight)"
"""
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="t.toml")
    codes = sorted(d.code for d in caught.value.diagnostics)
    assert codes == ["PR104", "PR233"]


# --- values ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stat", "extra", "want", "unit_name"),
    [
        ("min", "", Fraction(2), "b"),
        ("max", "", Fraction(9), "d"),
        ("sum", "", Fraction(20), None),
        ("mean", "", Fraction(5), None),
        ("median", "", Fraction(9, 2), None),  # 2, 4, 5, 9: between 4 and 5
        ("count", "", Fraction(4), None),
        ("percentile", "percentile = 25", Fraction(7, 2), None),  # rank 0.75: 2 + 0.75 × 2
        ("percentile", "percentile = 100", Fraction(9), "d"),
    ],
)
def test_each_statistic_is_exact_and_names_the_unit_that_gave_it(stat, extra, want, unit_name):
    of = "" if stat == "count" else 'of = "x"'
    compiled = scheme(f"""
[cohort.values.v]
stat = "{stat}"
{of}
{extra}

[indicators.a]
weight = 10
formula = "min(x, weight)"
""")
    units = [unit("a", "5"), unit("b", "2"), unit("c", "4"), unit("d", "9")]
    results = compiled.evaluate_cohort(units)
    taken = results[0].cohort.values[0]
    assert (taken.value, taken.unit, taken.units) == (want, unit_name, 4)


def test_a_mean_that_does_not_terminate_stays_exact_and_where_picks_the_units():
    compiled = scheme("""
[cohort.values.avg]
stat = "mean"
of = "x"
where = "ok"

[indicators.a]
weight = 10
formula = "weight * avg / 10"
places = 4
""")
    units = [unit("a", "1"), unit("b", "1"), unit("c", "2"), unit("z", "100", ok=False)]
    results = compiled.evaluate_cohort(units)
    assert values(results[0]) == {"avg": Fraction(4, 3)}
    assert results[0].cohort.values[0].units == 3
    assert str(results[0].scores["a"]) == "1.3333"
    document = json.loads(results[0].trace.to_json())
    taken = document["cohort"]["values"][0]
    assert (taken["value"], taken["exact"], taken["units"]) == (
        "1.333333333333333333333333333",
        "4/3",
        3,
    )


def test_a_unit_scored_alone_is_refused_with_a_way_out():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    with pytest.raises(FactsError) as caught:
        compiled.evaluate({"shared": {"lot": "1", "bid": "1", "valid": True}})
    (problem,) = caught.value.diagnostics
    assert problem.code == "PR413"
    assert "lowest_valid_bid" in problem.message("en")
    assert "evaluate_cohort" in problem.hint_text("en")


def test_a_unit_cannot_give_a_cohort_value_itself():
    compiled = scheme("""
[cohort.values.best]
stat = "max"
of = "x"

[indicators.a]
weight = 10
formula = "weight * x / best"
""")
    forged = {"unit": "f", "shared": {"x": "1", "best": "1"}, "indicators": {"a": {"best": "1"}}}
    results = compiled.evaluate_cohort([unit("a", "2"), forged])
    assert not isinstance(results[0], FactsError)
    assert sorted((d.code, d.path) for d in results[1].diagnostics) == [
        ("PR414", ("indicators", "a", "best")),
        ("PR414", ("shared", "best")),
    ]


def test_a_cohort_without_a_qualifying_unit_and_a_unit_without_its_cohort_fail_alone():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))

    def bidder(name, lot, bid, valid):
        facts = {"shared": {"bid": bid, "valid": valid}, "unit": name}
        if lot is not None:
            facts["shared"]["lot"] = lot
        facts["indicators"] = {"技术": {"marks": "40"}, "商务": {"marks": "15"}}
        return facts

    results = compiled.evaluate_cohort(
        [
            bidder("a", "1", "100", True),
            bidder("b", None, "90", True),
            bidder("c", "2", "80", False),
        ]
    )
    assert str(results[0].total) == "85.00"
    assert [d.code for d in results[1].diagnostics] == ["PR416"]
    assert [d.code for d in results[2].diagnostics] == ["PR415"]


def test_a_stream_scored_with_its_values_equals_the_cohort_scored_at_once():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(INDEX))
    units = [
        {"unit": name, "shared": {"gdp": g, "green": s, "pm25": p}}
        for name, g, s, p in [
            ("a", "12", "45%", "30"),
            ("b", "10", "50%", "25"),
            ("c", "8", "40%", "40"),
        ]
    ]
    together = compiled.evaluate_cohort(units)
    taken = compiled.cohort_values(iter(units))  # one pass, nothing kept but the values
    assert taken.units == 3
    assert not taken.problems
    for facts, result in zip(units, together, strict=True):
        alone = compiled.evaluate(facts, cohort=taken)
        assert alone.total_exact == result.total_exact
        assert alone.cohort.values == result.cohort.values
        assert alone.rank is None  # ranks need every unit's total: evaluate_cohort


# --- ranking -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ties", "want"),
    [
        ("competition", [2, 1, 2, 4]),
        ("dense", [2, 1, 2, 3]),
        ("ordinal", [2, 1, 3, 4]),
    ],
)
def test_tie_rules(ties, want):
    compiled = scheme(f"""
[ranking]
keys = [{{ by = "total" }}]
ties = "{ties}"

[indicators.a]
weight = 10
formula = "min(x, weight)"
""")
    results = compiled.evaluate_cohort(
        [unit("a", "5"), unit("b", "7"), unit("c", "5"), unit("d", "1")]
    )
    assert [r.rank.position for r in results] == want
    assert results[0].rank.tied_with == ("c",)
    assert results[1].rank.tied_with == ()


def test_a_long_tie_lists_a_hundred_units_and_counts_the_rest():
    # Each unit used to list every other tied unit, found by a scan of the whole cohort:
    # 8,000 units took 24 s and a million equal units could never finish.
    compiled = scheme("""
[ranking]
keys = [{ by = "total" }]

[indicators.a]
weight = 10
formula = "min(x, weight)"
""")
    units = [unit(f"u{n}", "5") for n in range(250)] + [unit("best", "9")]
    results = compiled.evaluate_cohort(units)
    first, late = results[0].rank, results[200].rank
    assert (first.position, late.position, results[-1].rank.position) == (2, 2, 1)
    assert first.tied_count == late.tied_count == 249
    assert first.tied_with == tuple(f"u{n}" for n in range(1, 101))  # itself left out
    assert late.tied_with == tuple(f"u{n}" for n in range(100))
    assert results[150].rank.tied_with is late.tied_with  # one tuple for the whole run
    document = json.loads(results[200].trace.to_json())["cohort"]["rank"]
    assert list(document)[-3:] == ["tied_with", "tied_count", "decided_by"]
    assert document["tied_count"] == 249
    from perfrules.reports.markdown import render_markdown

    assert "u99 and 149 more" in render_markdown(results[200].trace, "en")
    assert cohort_violations(compiled, units, results) == []
    cohort = results[200].cohort
    miscounted = cohort._replace(rank=cohort.rank._replace(tied_count=248))
    results[200] = perfrules.Result(
        results[200].total,
        results[200].grade,
        dict(results[200].scores),
        None,
        results[200].total_exact,
        miscounted,
    )
    assert [v.invariant for v in cohort_violations(compiled, units, results)] == ["ranking"]


def test_ties_are_broken_by_the_next_key_and_the_deciding_key_is_named():
    compiled = scheme("""
[inputs.y]

[ranking]
keys = [{ by = "total" }, { by = "y", order = "asc" }]
where = "ok"

[indicators.a]
weight = 10
formula = "min(x, weight)"
""")
    results = compiled.evaluate_cohort(
        [
            unit("a", "5", y="3"),
            unit("b", "5", y="2"),
            unit("c", "9", ok=False, y="1"),  # not ranked
            unit("d", "5"),  # no y: after every value
        ]
    )
    assert [r.rank.position if r.rank else None for r in results] == [2, 1, None, 3]
    assert results[1].rank.decided_by == "y"
    assert results[1].rank.of == 3
    assert results[3].rank.keys[1].value is None
    document = json.loads(results[0].trace.to_json())
    assert document["cohort"]["rank"] == {
        "position": 2,
        "of": 3,
        "ties": "competition",
        "keys": [
            {"by": "total", "order": "desc", "value": "5"},
            {"by": "y", "order": "asc", "value": "3"},
        ],
        "tied_with": [],
        "decided_by": "y",
    }
    assert json.loads(results[2].trace.to_json())["cohort"]["rank"] is None


def test_units_are_ranked_within_their_cohort():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    units = [
        {
            "unit": f"{lot}{n}",
            "shared": {"lot": lot, "bid": str(100 + n), "valid": True},
            "indicators": {"技术": {"marks": "40"}, "商务": {"marks": "15"}},
        }
        for lot in "xy"
        for n in range(3)
    ]
    results = compiled.evaluate_cohort(units)
    assert [(r.cohort.cohort, r.rank.position, r.rank.of) for r in results] == [
        ("x", 1, 3),
        ("x", 2, 3),
        ("x", 3, 3),
        ("y", 1, 3),
        ("y", 2, 3),
        ("y", 3, 3),
    ]


# --- the trace ---------------------------------------------------------------------------
def test_the_trace_written_from_the_record_equals_the_trace_written_from_its_parts():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    units = [
        {
            "unit": name,
            "shared": {"lot": "1", "bid": bid, "valid": True},
            "indicators": {"技术": {"marks": "40"}, "商务": {"marks": "15"}},
        }
        for name, bid in [("a", "950000"), ("b", "980000")]
    ]
    for result in compiled.evaluate_cohort(units):
        trace = result.trace
        assert trace.to_json() == trace_json(trace)
        inputs = {i.name: i.source for i in trace.root.find("价格").inputs}
        assert inputs["lowest_valid_bid"] == "cohort"


def test_schemes_without_cohorts_keep_their_hash_and_trace():
    # The hash of a scheme without [cohort] or [ranking] does not see the new sections.
    compiled = perfrules.compile_scheme(
        perfrules.load_scheme(ROOT / "rules/examples/xinzhou-zfw-2021/scheme.toml")
    )
    document = json.loads(
        compiled.evaluate(
            perfrules.load_facts(ROOT / "rules/examples/xinzhou-zfw-2021/facts.toml")
        ).trace.to_json()
    )
    assert "cohort" not in document
    assert compiled.evaluate_cohort([{}])[0].__class__ is FactsError  # still scores units


# --- batch and cases ---------------------------------------------------------------------
def test_a_batch_csv_of_bids_is_scored_ranked_and_written_with_its_cohort(tmp_path):
    source = tmp_path / "bids.csv"
    source.write_text(
        "unit,shared.lot,shared.bid,shared.valid,技术.marks,商务.marks\n"
        "甲,1,980000,是,42.5,16\n"
        "乙,1,950000,是,40,17\n"
        "丙,1,900000,否,45,18\n"
        "丁,1,1000000,是,44,15.5\n"
        "戊,2,500000,是,40,15\n",
        encoding="utf-8",
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    outcome = score_batch(compiled, source)
    out = tmp_path / "out.csv"
    write_results(outcome, compiled, out)
    rows = [line.split(",") for line in out.read_text("utf-8-sig").splitlines()]
    assert rows[0] == [
        "unit",
        "total",
        "grade",
        "价格",
        "技术",
        "商务",
        "lot",
        "lowest_valid_bid",
        "rank",
        "errors",
    ]
    assert [(r[0], r[1], r[6], r[7], r[8]) for r in rows[1:]] == [
        ("甲", "87.58", "1", "950000", "2"),
        ("乙", "87.00", "1", "950000", "3"),
        ("丙", "63.00", "1", "950000", ""),
        ("丁", "88.00", "1", "950000", "1"),
        ("戊", "85.00", "2", "500000", "1"),
    ]
    # the trace names the unit that gave the base, by its row's unit name
    traced = score_batch(compiled, source, trace=True)
    assert traced.units[0].result.trace.cohort.values[0].unit == "乙"


def test_a_case_of_one_unit_for_a_cohort_scheme_is_located(tmp_path):
    pack = tmp_path / "pack"
    (pack / "cases").mkdir(parents=True)
    (pack / "scheme.toml").write_text(PROCUREMENT.read_text("utf-8"), encoding="utf-8")
    (pack / "cases" / "c.toml").write_text(
        '[[case]]\nname = "alone"\nfacts = { shared = { bid = "1" } }\n[case.expect]\ntotal = "1"\n',
        encoding="utf-8",
    )
    _, results = run_cases(pack)
    (result,) = results
    assert not result.passed
    assert "c.toml:3:1: error[PR234]" in result.failures[0]


def test_a_wrong_rank_in_a_case_fails_and_shows_the_keys(tmp_path):
    pack = tmp_path / "pack"
    (pack / "cases").mkdir(parents=True)
    (pack / "scheme.toml").write_text(INDEX.read_text("utf-8"), encoding="utf-8")
    (pack / "cases" / "c.toml").write_text(
        """
[[case]]
name = "two"
[[case.units]]
unit = "a"
shared = { gdp = "1", green = "1%", pm25 = "1" }
[[case.units]]
unit = "b"
shared = { gdp = "2", green = "1%", pm25 = "1" }
[case.expect.units.a]
rank = 1
""",
        encoding="utf-8",
    )
    _, (result,) = run_cases(pack)
    assert result.failures == ["a: rank expected 1, got 2"]
    assert any("total (desc)" in line for line in result.details)


# --- properties --------------------------------------------------------------------------
PROCUREMENT_COMPILED = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(units=cohorts_for(PROCUREMENT_COMPILED, min_units=1, max_units=6))
def test_the_lowest_valid_bid_gets_the_full_price_score_and_invalid_bids_are_not_ranked(units):
    results = PROCUREMENT_COMPILED.evaluate_cohort(units)
    assert cohort_violations(PROCUREMENT_COMPILED, units, results) == []
    for facts, result in zip(units, results, strict=True):
        valid = facts["shared"]["valid"]
        if isinstance(result, FactsError):
            # only a lot without any valid bid has no base price
            assert [d.code for d in result.diagnostics] == ["PR415"]
            continue
        base = result.cohort.values[0].value
        if valid and Fraction(facts["shared"]["bid"]) == base:
            assert result.scores["价格"] == 30
        if not valid:
            assert result.rank is None
            assert result.scores["价格"] == 0


def test_cohort_invariants_catch_a_wrong_rank():
    units = [
        {"unit": n, "shared": {"gdp": g, "green": "1%", "pm25": "1"}}
        for n, g in [("a", "1"), ("b", "2")]
    ]
    compiled = perfrules.compile_scheme(perfrules.load_scheme(INDEX))
    results = compiled.evaluate_cohort(units)
    assert cohort_violations(compiled, units, results) == []

    def plain(result, cohort):
        return perfrules.Result(
            result.total, result.grade, dict(result.scores), None, result.total_exact, cohort
        )

    first = results[0].cohort
    both_first = first._replace(rank=first.rank._replace(position=1))  # as if a is first too
    tampered = [plain(results[0], both_first), plain(results[1], results[1].cohort)]
    assert [v.invariant for v in cohort_violations(compiled, units, tampered)] == ["ranking"]
    wrong_value = first._replace(
        values=(first.values[0]._replace(value=Fraction(3)), *first.values[1:])
    )
    tampered = [plain(results[0], wrong_value), plain(results[1], results[1].cohort)]
    assert [(v.invariant, v.node) for v in cohort_violations(compiled, units, tampered)] == [
        ("cohort", "best_gdp")
    ]


def test_scheme_properties_search_whole_cohorts_and_show_them_as_case_units():
    scheme_properties(INDEX, max_examples=30)()  # the shipped index holds
    over = (
        HEAD
        + """
[cohort.values.low]
stat = "min"
of = "x"

[indicators.a]
weight = 10
formula = "weight * x / low / 10"
"""
    )
    with pytest.raises(InvariantError) as caught:
        scheme_properties(perfrules.loads_scheme(over, name="t.toml"), max_examples=100)()
    text = str(caught.value)
    assert "PR501" in text  # a unit above the lowest scores above its weight
    shown = text.split("counterexample units:\n", 1)[1]
    parsed = tomllib.loads(shown)
    assert all("shared" in u and u["unit"].startswith("u") for u in parsed["case"]["units"])


def test_reports_say_which_base_and_which_rank(tmp_path):
    from perfrules.reports.html import render_html
    from perfrules.reports.markdown import render_markdown

    compiled = perfrules.compile_scheme(perfrules.load_scheme(PROCUREMENT))
    units = [
        {
            "unit": name,
            "shared": {"lot": "1", "bid": bid, "valid": True},
            "indicators": {"技术": {"marks": "40"}, "商务": {"marks": "15"}},
        }
        for name, bid in [("甲", "950000"), ("乙", "980000")]
    ]
    trace = compiled.evaluate_cohort(units)[1].trace
    markdown = render_markdown(trace, "zh")
    assert (
        "- 评标基准价：950000（2 个对象中 bid 的最小值，条件 valid and bid &gt; 0，取自 甲）"
        in markdown
    )
    assert "排名：第 2 名，共 2 名（total desc = 84.08, bid asc = 980000" in markdown
    english = render_markdown(trace, "en")
    assert (
        "评标基准价: 950000 (min of bid over 2 unit(s), where valid and bid &gt; 0, from 甲)"
        in english
    )
    page = render_html(trace, "zh")
    assert '<ul class="cohort" id="cohort"><li>所在组：1</li>' in page
