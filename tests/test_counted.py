"""Rows shown and scored but not counted (``counted = false``): the form's 预算执行率 row."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import perfrules
from perfrules._trace_json import trace_json
from perfrules.errors import RuleFileError
from perfrules.rules._front import check_path
from perfrules.testing import scheme_properties, unit_violations

SCHEME = Path(__file__).resolve().parent / "data" / "counted-row.toml"
FACTS = {
    "indicators": {
        "预算执行率": {"rate": "76%"},
        "数量": {"actual": "100%"},
        "质量": {"actual": "90%"},
        "社会效益": {"actual": "85%"},
        "满意度": {"actual": "95%"},
    }
}


@pytest.fixture(scope="module")
def compiled():
    return perfrules.compile_scheme(perfrules.load_scheme(SCHEME))


def test_the_row_is_scored_and_shown_but_the_total_is_the_counted_rows(compiled):
    result = compiled.evaluate(FACTS)
    assert str(result.total) == "91.00"  # 25 + 22.5 + 34 + 9.5; the 7.60 is not added
    assert str(result.scores["预算执行率"]) == "7.60"
    row = result.trace.root.find("预算执行率")
    assert [n.kind for n in row.notes] == ["not_counted"]
    document = json.loads(result.trace.to_json())
    assert document["root"]["children"][0]["id"] == "预算执行率"  # shown where it is written
    assert document["root"]["children"][0]["notes"][0]["kind"] == "not_counted"
    assert "预算执行率" not in [loss["id"] for loss in document["losses"]]
    assert result.trace.to_json() == trace_json(result.trace)  # written from its parts alike


def test_the_weights_that_must_add_up_are_the_counted_ones():
    text = SCHEME.read_text("utf-8")
    perfrules.loads_scheme(text, name="form.toml")  # 50 + 40 + 10 = 100: no problem
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text.replace("counted = false\n", ""), name="form.toml")
    assert [d.code for d in caught.value.diagnostics] == ["PR202"]  # 110 against 100


def test_a_row_not_counted_and_not_applicable_changes_nothing(compiled):
    facts = json.loads(json.dumps(FACTS))
    facts["indicators"]["预算执行率"] = {"na": "本年无预算"}
    result = compiled.evaluate(facts)
    assert str(result.total) == "91.00"  # no renormalisation: it never counted
    assert result.scores["预算执行率"] is None
    assert [n.kind for n in result.trace.root.notes] == []


def test_the_gap_never_asks_to_raise_a_row_that_does_not_count(compiled):
    facts = json.loads(json.dumps(FACTS))
    facts["indicators"]["满意度"] = {"actual": "10%"}
    facts["indicators"]["预算执行率"] = {"rate": "0%"}
    result = compiled.evaluate(facts)
    improve = [ident for ident, _ in result.trace.gap.improve]
    assert improve
    assert "预算执行率" not in improve
    assert compiled.gap(result) == result.trace.gap


def test_a_row_not_counted_and_not_applicable_changes_nothing_in_the_gap(compiled):
    # a counted row left out too: the rows renormalised from are the counted ones, so the
    # gap's rows weigh as they would if the row not counted were scored
    scored = json.loads(json.dumps(FACTS))
    scored["indicators"]["满意度"] = {"actual": "10%"}
    scored["indicators"]["社会效益"] = {"na": "本年无此项"}
    left_out = json.loads(json.dumps(scored))
    left_out["indicators"]["预算执行率"] = {"na": "本年无预算"}
    want = compiled.evaluate(scored)
    got = compiled.evaluate(left_out)
    assert got.trace.gap is not None
    assert got.trace.gap == want.trace.gap
    assert compiled.gap(got) == want.trace.gap
    assert json.loads(got.trace.to_json())["gap"] == json.loads(want.trace.to_json())["gap"]


def test_invariants_and_the_table_path_take_it_into_account(compiled):
    assert unit_violations(compiled, FACTS) == []
    scheme_properties(compiled, max_examples=50)()
    row = {"unit": "u"}
    for ident, values in FACTS["indicators"].items():
        row.update({f"{ident}.{k}": v for k, v in values.items()})
    out = perfrules.score_table(compiled, pa.Table.from_pylist([row])).to_pylist()[0]
    assert out["total"] == Decimal("91.00")
    assert out["预算执行率"] == Decimal("7.60")


def test_a_group_not_counted_keeps_its_subtotal():
    text = SCHEME.read_text("utf-8").replace("counted = false\n", "")
    text = text.replace(
        '[groups."满意度指标"]\nweight = 10', '[groups."满意度指标"]\nweight = 10\ncounted = false'
    )
    text = text.replace("max = 100", "max = 100\n", 1).replace(
        '[indicators."预算执行率"]\nweight = 10', '[indicators."预算执行率"]\nweight = 10'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="g.toml"))
    result = compiled.evaluate(FACTS)
    assert str(result.scores["满意度指标"]) == "9.50"
    assert str(result.total) == "89.10"  # 7.6 + 47.5 + 34; 满意度 shown, not added


FIT = Path(__file__).resolve().parent / "data" / "fit-cap.toml"


@pytest.mark.parametrize(
    ("fit", "facts", "total", "notes"),
    [
        ("cap", {"a": {"actual": "100%"}, "b": {"actual": "100%"}}, "100.00", ["total_capped"]),
        ("cap", {"a": {"actual": "100%"}, "b": {"actual": "50%"}}, "85.00", []),
        ("cap", {"a": {"actual": "50%"}, "b": {"na": "x"}}, "55.00", ["renormalised"]),
        (
            "normalise",
            {"a": {"actual": "100%"}, "b": {"actual": "50%"}},
            "77.27",
            ["renormalised"],
        ),
    ],
)
def test_rows_out_of_110_and_a_total_out_of_100(fit, facts, total, notes):
    text = FIT.read_text("utf-8").replace('fit = "cap"', f'fit = "{fit}"')
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="fit.toml"))
    result = compiled.evaluate(facts)
    assert str(result.total) == total
    assert [n.kind for n in result.trace.root.notes] == notes
    assert unit_violations(compiled, facts) == []
    row = {"unit": "u", **{f"{k}.{n}": v for k, own in facts.items() for n, v in own.items()}}
    out = perfrules.score_table(compiled, pa.Table.from_pylist([row])).to_pylist()[0]
    assert str(out["total"]) == total  # the arrays (normalise) and the rows (cap) agree


def test_without_fit_rows_of_110_are_an_error():
    text = FIT.read_text("utf-8").replace('fit = "cap"\n', "")
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="fit.toml")
    assert [d.code for d in caught.value.diagnostics] == ["PR202"]


def test_a_weight_0_branch_warns_once_with_the_way_out():
    text = SCHEME.read_text("utf-8").replace(
        '[indicators."预算执行率"]\nweight = 10\nformula = "weight * min(rate, 1)"\ncounted = false',
        '[groups."预算"]\nweight = 0\n[indicators."预算执行率"]\nparent = "预算"\nweight = 0\n'
        'formula = "weight * min(rate, 1)"\nna = "exclude"',
    )
    _, _, diagnostics = check_path(Path("form.toml"), text)
    warnings = [d for d in diagnostics if d.code == "PR223"]
    assert [d.params["id"] for d in warnings] == ["预算"]  # not its row again
    assert "counted = false" in warnings[0].hint_text("en")


def test_a_counted_group_of_rows_none_counted_cannot_add_up():
    text = SCHEME.read_text("utf-8").replace(
        '[indicators."满意度"]\nparent = "满意度指标"\nweight = 10',
        '[indicators."满意度"]\nparent = "满意度指标"\nweight = 10\ncounted = false',
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(text, name="form.toml")
    assert [(d.code, d.params["parent"]) for d in caught.value.diagnostics] == [
        ("PR201", "满意度指标")
    ]


def test_text_and_markdown_reports_mark_the_row_not_counted_and_do_not_list_its_loss(compiled):
    import io

    from rich.console import Console

    from perfrules.reports.markdown import render_markdown
    from perfrules.reports.text import render_score_table

    facts = json.loads(json.dumps(FACTS))
    facts["indicators"]["预算执行率"] = {"rate": "10%"}  # loses 9 of 10: the most, not counted
    trace = compiled.evaluate(facts).trace
    assert trace.losses[0][0].id != "预算执行率"
    assert "预算执行率" not in [node.id for node, _ in trace.losses]
    markdown = render_markdown(trace, "zh")
    row = next(line for line in markdown.splitlines() if "预算执行率" in line and "|" in line)
    assert "| (10) |" in row
    assert "（分值）：仅列示并计分，不计入总分" in markdown
    losses = markdown.split("失分")[-1]
    assert "预算执行率" not in losses
    out = io.StringIO()
    render_score_table(trace, "en", Console(file=out, width=200, no_color=True))
    text = out.getvalue()
    assert "(10)" in text
    assert "(weight): shown and scored, not counted in the total" in text
