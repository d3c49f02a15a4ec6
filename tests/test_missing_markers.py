"""Missing-data markers: "-", "/", "—", ".." are a missing value under every policy."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

import perfrules
from perfrules.errors import FactsError
from perfrules.reports import make_console, render_explain

RULES = """
[scheme]
id = "m"
title = "Markers"
max = 20

[rounding]
indicator = 2
total = 2

[defaults]
missing = "{policy}"
{markers}

[[bands]]
label = "all"
min = 0
max = 20

[inputs.actual]

[indicators.p]
weight = 10
formula = "weight * actual"

[indicators.q]
weight = 10
formula = "weight * actual"
"""


def _compiled(policy: str, markers: str = ""):
    text = RULES.format(policy=policy, markers=markers)
    return perfrules.compile_scheme(perfrules.loads_scheme(text, name="m.toml"))


def _facts(q: str) -> dict:
    return {"indicators": {"p": {"actual": "50%"}, "q": {"actual": q}}}


@pytest.mark.parametrize("marker", ["-", "/", "—", "..", " - ", "－"])
def test_a_marker_is_missing_not_unreadable(marker):
    with pytest.raises(FactsError) as info:
        _compiled("error").evaluate(_facts(marker))
    assert [d.code for d in info.value.diagnostics] == ["PR401"]


@pytest.mark.parametrize(
    ("policy", "total", "q"),
    [("zero", "5.00", "0.00"), ("full", "15.00", "10.00"), ("exclude", "10.00", None)],
)
def test_every_policy_reads_a_marker_as_missing(policy, total, q):
    result = _compiled(policy).evaluate(_facts(".."))
    assert result.total == Decimal(total)
    assert result.scores["q"] == (None if q is None else Decimal(q))
    leaf = json.loads(result.trace.to_json())["root"]["children"][1]
    assert [n["kind"] for n in leaf["notes"]] == [f"missing_{policy}"]


def test_the_trace_shows_the_marker_as_given():
    result = _compiled("zero").evaluate(_facts("—"))
    actual = next(i for i in result.trace.root.children[1].inputs if i.name == "actual")
    assert (actual.value, actual.text, actual.source) == (None, "—", "missing")


def test_na_stays_not_applicable_unless_listed():
    result = _compiled("zero").evaluate(_facts("n/a"))
    notes = [n.kind for n in result.trace.root.children[1].notes]
    assert notes == ["na_exclude"]
    listed = _compiled("zero", 'missing_markers = ["n/a"]').evaluate(_facts("n/a"))
    assert [n.kind for n in listed.trace.root.children[1].notes] == ["missing_zero"]


def test_markers_not_listed_are_unreadable():
    with pytest.raises(FactsError) as info:
        _compiled("zero", 'missing_markers = ["n/a"]').evaluate(_facts("-"))
    assert [d.code for d in info.value.diagnostics] == ["PR402"]


def test_a_table_reads_markers_as_evaluate_does():
    pa = pytest.importorskip("pyarrow")
    compiled = _compiled("zero")
    cells = ["-", "80%", "..", "/"]
    table = pa.table({"p.actual": ["50%"] * len(cells), "q.actual": cells})
    for cell, row in zip(cells, perfrules.score_table(compiled, table).to_pylist(), strict=True):
        assert Decimal(str(row["total"])) == compiled.evaluate(_facts(cell)).total


IMPUTED = RULES.replace("[inputs.actual]", "[inputs.actual]\nimpute = 0.6")


@pytest.mark.parametrize("given", ["..", "-", None])
def test_an_imputed_value_is_taken_and_marked_in_every_output(given):
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(IMPUTED.format(policy="error", markers=""), name="m.toml")
    )
    facts = _facts(given) if given is not None else {"indicators": {"p": {"actual": "50%"}}}
    result = compiled.evaluate(facts)
    assert result.scores["q"] == Decimal("6.00")
    assert result.total == Decimal("11.00")
    leaf = json.loads(result.trace.to_json())["root"]["children"][1]
    assert leaf["inputs"]["actual"]["source"] == "imputed"
    assert leaf["inputs"]["actual"]["value"] == "0.6"
    out = io.StringIO()
    render_explain(result.trace, ["q"], "en", make_console(out))
    assert "[imputed]" in out.getvalue()


def test_an_imputed_input_given_is_read_as_given():
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(IMPUTED.format(policy="error", markers=""), name="m.toml")
    )
    result = compiled.evaluate(_facts("80%"))
    leaf = json.loads(result.trace.to_json())["root"]["children"][1]
    assert leaf["inputs"]["actual"]["source"] == "facts"
    assert result.scores["q"] == Decimal("8.00")


def test_a_table_imputes_as_evaluate_does():
    pa = pytest.importorskip("pyarrow")
    compiled = perfrules.compile_scheme(
        perfrules.loads_scheme(IMPUTED.format(policy="error", markers=""), name="m.toml")
    )
    cells = ["-", "80%", ".."]
    table = pa.table({"p.actual": ["50%"] * len(cells), "q.actual": cells})
    for cell, row in zip(cells, perfrules.score_table(compiled, table).to_pylist(), strict=True):
        assert Decimal(str(row["total"])) == compiled.evaluate(_facts(cell)).total
