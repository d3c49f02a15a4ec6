"""Normalisation as a declared step: every method worked by hand, its mistakes, its limits.

``[inputs.NAME] normalise`` desugars into cohort values and one formula per input
(``rules/_normalise.py``); these tests hold each method to values worked by hand, the tie
conventions (average rank, PERCENTRANK.INC), the z-score's correctly rounded square root,
the located rule-file errors and a cohort with no spread. ``tests/test_shapes.py`` holds the
four shapes to the same numbers.
"""

from __future__ import annotations

import io
import json
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.errors import FactsError, RuleFileError
from perfrules.reports.html import render_html
from perfrules.reports.text import make_console, render_explain
from perfrules.rules import normalised_values
from perfrules.workflows._diff import diff_schemes
from perfrules.workflows._invariants import cohort_violations

HEAD = """\
[scheme]
id = "idx"
title = "Index"
max = 1000

[rounding]
indicator = "none"
total = "none"
"""


def scheme_of(normalise: str, formula: str = "x", places: str = "") -> perfrules.Scheme:
    """One input ``x`` normalised as *normalise*, read by one indicator of weight 1000."""
    text = (
        HEAD
        + f"\n[inputs.x]\nnormalise = {normalise}\n\n"
        + f'[indicators.i]\nweight = 1000\nformula = "{formula}"\n{places}'
    )
    return perfrules.loads_scheme(text, name="idx.toml")


def scores(normalise: str, values: list[str], **kw: str) -> list[Fraction | str]:
    """Each unit's exact score (or its first error code), units u1, u2, ... giving *values*."""
    compiled = perfrules.compile_scheme(scheme_of(normalise, **kw))
    units = [{"unit": f"u{k}", "shared": {"x": v}} for k, v in enumerate(values, start=1)]
    out: list[Fraction | str] = []
    for result in compiled.evaluate_cohort(units):
        if isinstance(result, FactsError):
            out.append(result.diagnostics[0].code)
        else:
            out.append(compiled.exact_score(result, "i"))
    return out


F = Fraction


# --- each method, worked by hand --------------------------------------------------------
def test_minmax_over_the_cohort():
    # min 10, max 50: (x - 10) / 40
    assert scores('{ method = "minmax" }', ["10", "20", "50"]) == [0, F(1, 4), 1]


def test_minmax_reverse():
    assert scores('{ method = "minmax", direction = "reverse" }', ["10", "20", "50"]) == [
        1,
        F(3, 4),
        0,
    ]


def test_minmax_goalposts_clamp_and_scale():
    # HDI life expectancy: (x - 20) / 65, a value past a goalpost taken as it; × 100
    got = scores('{ method = "minmax", goalposts = [20, 85], scale = 100 }', ["70", "90", "10"])
    assert got == [F(5000, 65), 100, 0]


def test_minmax_goalposts_reverse():
    got = scores('{ method = "minmax", goalposts = [0, 8], direction = "reverse" }', ["2", "10"])
    assert got == [F(3, 4), 0]


def test_minmax_with_cap_winsorises_at_the_percentiles():
    # 0, 10, 20, 30, 400: P25 = 10, P75 = 30 (PERCENTILE.INC); 0 → 10, 400 → 30
    got = scores('{ method = "minmax", cap = [25, 75] }', ["0", "10", "20", "30", "400"])
    assert got == [0, 0, F(1, 2), 1, 1]


def test_zscore_is_the_correctly_rounded_value():
    # 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7; z(9) = 4 / sqrt(32/7)
    # = 1.870828693386970...; rounded to 4 places, 1.8708
    got = scores(
        '{ method = "zscore" }',
        ["2", "4", "4", "4", "5", "5", "7", "9"],
        formula="500 + x",
        places="places = 4",
    )
    assert got[7] == F("501.8708")
    assert got[4] == 500  # the mean itself: z exactly 0
    assert got[0] == F("498.5969")  # z = -3 / sqrt(32/7) = -1.403121...


def test_zscore_reverse_and_its_explanation():
    compiled = perfrules.compile_scheme(
        scheme_of('{ method = "zscore", direction = "reverse" }', places="places = 3")
    )
    units = [{"unit": u, "shared": {"x": v}} for u, v in (("a", 1), ("b", 2), ("c", 6))]
    results = compiled.evaluate_cohort(units)
    # mean 3, variance ((−2)² + (−1)² + 3²) / 2 = 7; reverse z(a) = 2 / sqrt(7) = 0.7559...
    assert compiled.exact_score(results[0], "i") == F("0.756")
    out = io.StringIO()
    render_explain(results[0].trace, ["i"], "en", make_console(out))
    text = out.getvalue()
    assert "x = 1 [shared]" in text  # the raw value stays shown
    assert "x__mean = 3 [cohort]" in text
    assert "x__variance = 7 [cohort]" in text
    assert "x = (x__mean - x) / sqrt(x__variance)" in text
    assert "normalise idx.toml:" in text  # where the step was declared
    values = {v.name: v for v in results[0].trace.cohort.values}
    assert values["x__mean"].label == "normalise x: zscore, mean"
    page = render_html(results[0].trace, "en")
    assert "x = (x__mean - x) / sqrt(x__variance) = ≈0.755928…" in page
    assert "normalise x: zscore, mean" in page
    document = json.loads(results[0].trace.to_json())
    leaf = document["root"]["children"][0]
    inputs = {name: given["source"] for name, given in leaf["inputs"].items()}
    assert inputs == {"x": "shared", "x__mean": "cohort", "x__variance": "cohort"}
    assert {"key": "normalise", "at": "idx.toml:11"} in leaf["sources"]
    assert [v["name"] for v in document["cohort"]["values"]] == ["x__mean", "x__variance"]

    # a scheme titled in Chinese labels them in Chinese
    def chinese(normalise: str, places: str = "") -> dict[str, str]:
        text = HEAD.replace('title = "Index"', 'title = "城市宜居指数"')
        text += f"\n[inputs.x]\nnormalise = {normalise}\n\n"
        text += f'[indicators.i]\nweight = 1000\nformula = "x"\n{places}'
        compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="zh.toml"))
        return {n: v.label for n, v in normalised_values(compiled.scheme).items()}

    labels = chinese('{ method = "zscore" }', places="places = 2")
    assert labels["x__mean"] == "x 按 zscore 标准化，均值"
    assert labels["x__variance"] == "x 按 zscore 标准化，方差"
    labels = chinese('{ method = "minmax", cap = [0.05, 0.95] }')
    assert labels["x__cap_high"] == "x 按 minmax 标准化，截尾于 P0.95"


def test_rank_shares_the_average_rank_of_ties():
    # 5, 7, 7, 9: ranks 1, 2.5, 2.5, 4 (1 = lowest); reverse: 4, 2.5, 2.5, 1
    assert scores('{ method = "rank" }', ["5", "7", "7", "9"]) == [1, F(5, 2), F(5, 2), 4]
    assert scores('{ method = "rank", direction = "reverse" }', ["5", "7", "7", "9"]) == [
        4,
        F(5, 2),
        F(5, 2),
        1,
    ]


def test_percentile_is_percentrank_inc():
    # PERCENTRANK.INC: below / (n - 1); ties share the lowest: 0, 1/3, 1/3, 1
    assert scores('{ method = "percentile" }', ["5", "7", "7", "9"]) == [0, F(1, 3), F(1, 3), 1]
    assert scores('{ method = "percentile", direction = "reverse" }', ["5", "7", "7", "9"]) == [
        1,
        F(1, 3),
        F(1, 3),
        0,
    ]
    assert scores('{ method = "percentile" }', ["5"]) == [1]  # Excel: a single value is 1


def test_distance_to_best_and_to_target():
    assert scores('{ method = "distance_to_best", scale = 100 }', ["40", "80"]) == [50, 100]
    # reverse: the lowest is best (the lowest valid bid over the bid)
    assert scores('{ method = "distance_to_best", direction = "reverse" }', ["40", "80"]) == [
        1,
        F(1, 2),
    ]
    assert scores('{ method = "distance_to_target", target = 0.8 }', ["0.6", "1"]) == [
        F(3, 4),
        F(5, 4),
    ]
    assert scores(
        '{ method = "distance_to_target", target = 2, direction = "reverse" }', ["4"]
    ) == [F(1, 2)]


def test_named_formulas_read_the_normalised_value_conditions_the_raw_one():
    text = HEAD + textwrap.dedent(
        """
        [inputs.x]
        normalise = { method = "minmax" }
        [formulas]
        half = "x / 2"
        [[bands]]
        label = "any"
        min = 0
        max = 1000
        [[grade_overrides]]
        label = "big"
        when = "x > 40"
        [indicators.i]
        weight = 1000
        formula = "half"
        """
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="n.toml"))
    units = [{"unit": "a", "shared": {"x": 10}}, {"unit": "b", "shared": {"x": 50}}]
    a, b = compiled.evaluate_cohort(units)
    assert compiled.exact_score(a, "i") == 0
    assert compiled.exact_score(b, "i") == F(1, 2)
    assert a.grade.label == "any"
    assert b.grade.label == "big"  # the condition read 50, not 1


# --- a cohort with no spread, a value that cannot be read --------------------------------
def test_no_spread_is_a_stated_problem():
    assert scores('{ method = "minmax" }', ["7", "7"]) == ["PR428", "PR428"]
    assert scores('{ method = "zscore" }', ["7", "7"], places="places = 2") == ["PR428"] * 2
    assert scores('{ method = "zscore" }', ["7"], places="places = 2") == ["PR428"]
    # goalposts need no spread
    assert scores('{ method = "minmax", goalposts = [0, 10] }', ["7", "7"]) == [F(7, 10)] * 2
    # the distance to a best of 0
    assert scores('{ method = "distance_to_best" }', ["0", "0"]) == ["PR428", "PR428"]
    assert scores('{ method = "distance_to_best" }', ["0", "2"]) == [F(0), F(1)]
    compiled = perfrules.compile_scheme(scheme_of('{ method = "minmax" }'))
    (failed, _) = compiled.evaluate_cohort([{"unit": "a", "shared": {"x": 7}}] * 2)
    message = failed.diagnostics[0].message("en")
    assert "every unit gives 7" in message
    assert "minmax" in message


def test_no_spread_says_where():
    """Units in no cohorts are all scored together: the message says so, names no cohort."""
    compiled = perfrules.compile_scheme(scheme_of('{ method = "minmax" }'))
    (failed, _) = compiled.evaluate_cohort([{"unit": "a", "shared": {"x": 7}}] * 2)
    assert "among the units scored together" in failed.diagnostics[0].message("en")
    assert failed.diagnostics[0].message("zh").startswith("一同评分的对象中“x”")
    assert "群体“”" not in failed.diagnostics[0].message("zh")
    text = HEAD + '[cohort]\ngroup_by = "lot"\n\n[inputs.x]\nnormalise = { method = "minmax" }\n'
    text += '\n[indicators.i]\nweight = 1000\nformula = "x"\n'
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="idx.toml"))
    units = [{"unit": k, "shared": {"x": 7, "lot": "east"}} for k in "ab"]
    (failed, _) = compiled.evaluate_cohort(units)
    assert "by minmax in cohort 'east':" in failed.diagnostics[0].message("en")
    assert failed.diagnostics[0].message("zh").startswith("群体“east”中“x”")
    assert failed.diagnostics[0].params["cohort"] == "east"


def test_an_unreadable_value_is_left_out_and_fails():
    # "abc" cannot be read: left out of min and max (10, 30), and that unit fails
    assert scores('{ method = "minmax" }', ["10", "abc", "30", "20"]) == [
        0,
        "PR402",
        1,
        F(1, 2),
    ]


def test_a_unit_alone_is_refused():
    compiled = perfrules.compile_scheme(scheme_of('{ method = "minmax" }'))
    with pytest.raises(FactsError) as caught:
        compiled.evaluate({"shared": {"x": 1}})
    assert caught.value.diagnostics[0].code == "PR413"


# --- rule-file mistakes, located, all at once --------------------------------------------
BAD = """\
[scheme]
id = "bad"
title = "Bad"

[inputs.a]
normalise = { method = "minmux" }
[inputs.b]
normalise = { method = "minmax", goalposts = [85, 20] }
[inputs.c]
type = "bool"
normalise = { method = "zscore" }
[inputs.d]
normalise = { method = "rank", target = 3 }
[inputs.e]
normalise = { method = "distance_to_target" }
[inputs.f]
normalise = { method = "minmax", cap = [5] }
[inputs.g]
normalise = { method = "minmax" }
[inputs.g__min]
[inputs.h]
normalise = { method = "zscore", cap = [5, 95] }
[inputs.k]
normalise = { method = "minmax", scale = 0 }
[inputs.m]
normalise = { method = "zscore", goalposts = [0, 1] }

[indicators.x]
weight = 100
formula = "b + d + e + f + g + g__min + h + k + m"
"""


def test_every_mistake_at_its_line_and_column(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        perfrules.load_scheme(path)
    found = [(d.code, d.line, d.column) for d in caught.value.diagnostics]
    assert found == [
        ("PR102", 6, 15),  # unknown method
        ("PR260", 8, 34),  # goalposts decreasing
        ("PR260", 11, 1),  # a bool input
        ("PR260", 13, 32),  # target without distance_to_target
        ("PR260", 15, 1),  # distance_to_target without target
        ("PR260", 17, 34),  # cap of one percentile
        ("PR104", 19, 1),  # g__min, the generated lowest of g, is already an input
        ("PR260", 22, 34),  # cap with zscore
        ("PR260", 24, 34),  # scale 0
        ("PR260", 26, 34),  # goalposts with zscore
    ]


def test_normalise_on_a_parameter_is_refused():
    text = HEAD + (
        '\n[inputs.x]\nnormalise = { method = "minmax" }\n\n'
        '[indicators.i]\nweight = 1000\nformula = "weight * x"\nparams = { x = 3 }\n'
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="p.toml")
    assert [d.code for d in caught.value.diagnostics] == ["PR260"]


def test_a_z_score_row_must_be_rounded():
    with pytest.raises(RuleFileError) as caught:
        scheme_of('{ method = "zscore" }')  # indicator = "none"
    assert [d.code for d in caught.value.diagnostics] == ["PR237"]


def test_a_scheme_without_normalise_keeps_its_hash():
    seed = perfrules.load_pack("examples/xinzhou-zfw-2021")
    compiled = perfrules.compile_scheme(seed)
    assert not compiled.plan.cohort_rules
    assert compiled.plan.sha256 == perfrules.compile_scheme(seed).plan.sha256


# --- the cohort stats underneath, declared directly --------------------------------------
def test_variance_rank_and_percentrank_as_cohort_values():
    text = HEAD + textwrap.dedent(
        """
        [inputs.x]
        [cohort.values.v]
        stat = "variance"
        of = "x"
        [cohort.values.r]
        stat = "rank"
        of = "x"
        order = "desc"
        [cohort.values.p]
        stat = "percentrank"
        of = "x"
        [indicators.i]
        weight = 1000
        formula = "v + r + p"
        """
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="c.toml"))
    units = [{"unit": u, "shared": {"x": v}} for u, v in (("a", 1), ("b", 3), ("c", 3))]
    results = compiled.evaluate_cohort(units)
    # variance of 1, 3, 3: mean 7/3, ((16 + 4 + 4) / 9) / 2 = 4/3
    got = [{v.name: v.value for v in r.trace.cohort.values} for r in results]
    assert [g["v"] for g in got] == [F(4, 3)] * 3
    assert [g["r"] for g in got] == [3, F(3, 2), F(3, 2)]
    assert [g["p"] for g in got] == [0, F(1, 2), F(1, 2)]
    assert cohort_violations(compiled, units, results) == []


def test_rank_refuses_where_and_order_goes_with_rank_only():
    text = HEAD + textwrap.dedent(
        """
        [inputs.x]
        [inputs.ok]
        type = "bool"
        [cohort.values.r]
        stat = "rank"
        of = "x"
        where = "ok"
        [cohort.values.m]
        stat = "max"
        of = "x"
        order = "desc"
        [indicators.i]
        weight = 1000
        formula = "r + m"
        """
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="c.toml")
    assert [(d.code, d.path[-1]) for d in caught.value.diagnostics] == [
        ("PR231", "where"),
        ("PR231", "order"),
    ]


# --- properties ---------------------------------------------------------------------------
MINMAX = perfrules.compile_scheme(scheme_of('{ method = "minmax" }'))
REVERSE = perfrules.compile_scheme(scheme_of('{ method = "minmax", direction = "reverse" }'))
values = st.lists(
    st.fractions(min_value=-1000, max_value=1000, max_denominator=100), min_size=2, max_size=8
).filter(lambda xs: len(set(xs)) > 1)


@settings(max_examples=60, deadline=None)
@given(xs=values)
def test_minmax_lies_in_0_1_and_follows_the_raw_value(xs):
    units = [{"unit": f"u{k}", "shared": {"x": str(x)}} for k, x in enumerate(xs)]
    for compiled, sign in ((MINMAX, 1), (REVERSE, -1)):
        results = compiled.evaluate_cohort(units)
        got = [compiled.exact_score(r, "i") for r in results]
        assert all(0 <= g <= 1 for g in got)
        assert min(got) == 0
        assert max(got) == 1
        for a, ga in zip(xs, got, strict=True):
            for b, gb in zip(xs, got, strict=True):
                if a < b:  # monotone (reverse: antitone), and strictly
                    assert (gb - ga) * sign > 0
        assert cohort_violations(compiled, units, results) == []


def test_diff_names_a_changed_normalisation():
    before = scheme_of('{ method = "minmax", goalposts = [0, 50] }')
    after = scheme_of('{ method = "minmax", goalposts = [0, 60], direction = "reverse" }')
    (change,) = diff_schemes(before, after)
    assert (change.kind, change.section, change.id, change.key) == (
        "changed",
        "inputs",
        "x",
        "normalise",
    )
    assert change.old == "normalise = minmax, goalposts [0, 50]"
    assert change.new == "normalise = minmax, goalposts [0, 60], direction reverse"


def test_an_indicators_own_fact_for_a_normalised_input_is_refused_in_every_shape():
    rounded = scheme_of('{ method = "minmax" }', places="places = 2")
    rounded = rounded.model_copy(
        update={"rounding": rounded.rounding.model_copy(update={"total": 2})}
    )
    compiled = perfrules.compile_scheme(rounded)
    assert compiled.columnar().vectorised  # the table's rows go the short way but for b
    units = [
        {"unit": "a", "shared": {"x": 10}},
        {"unit": "b", "shared": {"x": 30}, "indicators": {"i": {"x": 20}}},
        {"unit": "c", "shared": {"x": 20}},
    ]
    _, b, c = compiled.evaluate_cohort(units)
    assert [d.code for d in b.diagnostics] == ["PR429"]
    assert compiled.exact_score(c, "i") == F(1, 2)  # b's shared 30 is still the highest
    table = perfrules.score_table(
        compiled,
        pa.table(
            {
                "unit": ["a", "b", "c"],
                "shared.x": ["10", "30", "20"],
                "i": [None, "20", None],  # the row's shown input, x
            }
        ),
    )
    assert table.column("i").to_pylist() == [Decimal("0.00"), None, Decimal("0.50")]
    assert "PR429" in table.column("errors").to_pylist()[1]
    # fixed goalposts take nothing over the cohort: an own fact is as good as a shared one
    fixed = perfrules.compile_scheme(scheme_of('{ method = "minmax", goalposts = [0, 40] }'))
    assert fixed.evaluate({"indicators": {"i": {"x": 10}}}).total == Decimal("0.25")


def test_a_normalised_input_no_formula_reads_is_not_asked_for():
    text = HEAD + textwrap.dedent(
        """
        [inputs.x]
        normalise = { method = "minmax" }
        [inputs.unused]
        normalise = { method = "zscore" }
        [indicators.i]
        weight = 1000
        formula = "x"
        """
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="u.toml"))
    assert set(compiled.plan.cohort_rules) == {"x__min", "x__max"}
    units = [{"unit": "a", "shared": {"x": 1}}, {"unit": "b", "shared": {"x": 3}}]
    assert [r.total for r in compiled.evaluate_cohort(units)] == [0, 1]


RANK = perfrules.compile_scheme(scheme_of('{ method = "rank" }'))
PERCENTILE = perfrules.compile_scheme(
    scheme_of('{ method = "percentile", direction = "reverse" }')
)


@settings(max_examples=60, deadline=None)
@given(xs=st.lists(st.integers(min_value=-5, max_value=5).map(F), min_size=1, max_size=9))
def test_ranks_add_up_and_percentiles_follow_the_value(xs):
    units = [{"unit": f"u{k}", "shared": {"x": str(x)}} for k, x in enumerate(xs)]
    n = len(xs)
    ranks = [RANK.exact_score(r, "i") for r in RANK.evaluate_cohort(units)]
    assert sum(ranks) == F(n * (n + 1), 2)  # average ranks of ties keep the sum
    shares = [PERCENTILE.exact_score(r, "i") for r in PERCENTILE.evaluate_cohort(units)]
    assert all(0 <= s <= 1 for s in shares)
    for a, ra, sa in zip(xs, ranks, shares, strict=True):
        for b, rb, sb in zip(xs, ranks, shares, strict=True):
            assert (a < b) == (ra < rb)  # rank: strictly with the value
            assert (a < b) == (sa > sb) or n == 1  # reverse percentile: strictly against it


def test_rank_is_taken_over_an_input_not_a_score():
    text = HEAD + textwrap.dedent(
        """
        [inputs.x]
        [cohort.values.r]
        stat = "rank"
        of = "total"
        [indicators.i]
        weight = 1000
        formula = "x"
        """
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="c.toml")
    assert [(d.code, d.path[-1]) for d in caught.value.diagnostics] == [("PR231", "of")]


def test_a_missing_normalised_fact_is_named_once_by_its_step():
    compiled = perfrules.compile_scheme(scheme_of('{ method = "minmax" }'))
    units = [
        {"unit": "a", "shared": {"x": "1"}},
        {"unit": "b", "shared": {}},
        {"unit": "c", "shared": {"x": "3"}},
    ]
    failed = compiled.evaluate_cohort(units)[1]
    assert isinstance(failed, FactsError)
    messages = [d.message() for d in failed.diagnostics]
    assert len(messages) == 1  # not once for its min and again for its max
    assert "inputs.x.normalise" in messages[0]
    assert "__m" not in messages[0]


def test_a_value_imputed_by_number_is_normalised_not_taken_over():
    """impute = 4 fills B's missing x for its formula; the cohort's ends are A's and C's."""
    text = (
        HEAD
        + '\n[inputs.x]\nimpute = 4\nnormalise = { method = "minmax" }\n\n'
        + '[indicators.i]\nweight = 1000\nformula = "1000 * x"\n\n'
        + '[cohort.values.best]\nstat = "max"\nof = "x"\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="imp.toml"))
    units = [{"unit": u, "shared": {"x": v}} for u, v in [("A", "2"), ("B", "-"), ("C", "6")]]
    results = compiled.evaluate_cohort(units)
    assert [compiled.exact_score(r, "i") for r in results] == [F(0), F(500), F(1000)]
    assert {v.name: (v.value, v.units) for v in results[1].trace.cohort.values} == {
        "x__min": (2, 2),
        "x__max": (6, 2),
        "best": (6, 2),
    }
