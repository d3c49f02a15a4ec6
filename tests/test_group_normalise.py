"""A group's score normalised across the cohort: ``[groups.X] normalise = { ... }``.

The worked scheme: two groups of 60 and 40 points. ``econ`` (rows a and b, 30 each) is
min-max normalised over the cohort, ``soc`` (row c, 40) against the cohort's best. By hand,
for the units A (80, 70, 60), B (90, 60, 75), C (50, 85, 90):

    econ: A 24 + 21 = 45, B 27 + 18 = 45, C 15 + 25.5 = 40.5; min 40.5, max 45
          → A, B 60 × 4.5/4.5 = 60.00; C 0.00
    soc:  A 24, B 30, C 36; best 36 → A 40 × 24/36 = 26.67, B 33.33, C 40.00
    total A 86.67, B 93.33, C 40.00
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
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
from perfrules.workflows import diff_schemes, score_table
from perfrules.workflows._templates import template_rows

HEAD = """\
[scheme]
id = "gn"
title = "Group normalise"
version = "1.0.0"

[rounding]
mode = "half_up"
indicator = 2
group = 2
total = 2

[inputs]
a = { label = "A" }
b = { label = "B" }
c = { label = "C" }

"""
ECON = """\
[groups.econ]
name = "Economy"
weight = 60
normalise = NORM_ECON

[indicators.a_pts]
parent = "econ"
weight = 30
formula = "weight * clamp(a, 0, 100) / 100"

[indicators.b_pts]
parent = "econ"
weight = 30
formula = "weight * clamp(b, 0, 100) / 100"

"""
SOC = """\
[groups.soc]
name = "Social"
weight = 40
normalise = NORM_SOC

[indicators.c_pts]
parent = "soc"
weight = 40
formula = "weight * clamp(c, 0, 100) / 100"
"""
UNITS = [("A", "80", "70", "60"), ("B", "90", "60", "75"), ("C", "50", "85", "90")]


def text(econ: str = '{ method = "minmax" }', soc: str = '{ method = "distance_to_best" }'):
    return HEAD + ECON.replace("NORM_ECON", econ) + SOC.replace("NORM_SOC", soc)


def compiled(econ: str = '{ method = "minmax" }', soc: str = '{ method = "distance_to_best" }'):
    return perfrules.compile_scheme(perfrules.loads_scheme(text(econ, soc), name="gn.toml"))


def units(rows=UNITS) -> list[dict]:
    return [{"unit": u, "shared": {"a": a, "b": b, "c": c}} for u, a, b, c in rows]


def frame(rows=UNITS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit": [r[0] for r in rows],
            "shared.a": [r[1] for r in rows],
            "shared.b": [r[2] for r in rows],
            "shared.c": [r[3] for r in rows],
        }
    )


WANT = {"A": Decimal("86.67"), "B": Decimal("93.33"), "C": Decimal("40.00")}


def test_minmax_and_best_of_groups_in_every_shape(tmp_path: Path):
    scheme = compiled()
    results = scheme.evaluate_cohort(units())
    assert dict(zip(WANT, (r.total for r in results), strict=True)) == WANT
    assert [r.scores["econ__normalised"] for r in results] == [Decimal("60.00")] * 2 + [
        Decimal("0.00")
    ]
    assert [r.scores["soc__normalised"] for r in results] == [
        Decimal("26.67"),
        Decimal("33.33"),
        Decimal("40.00"),
    ]
    # the group keeps its own score (shown, not counted)
    assert [r.scores["econ"] for r in results] == [
        Decimal("45.00"),
        Decimal("45.00"),
        Decimal("40.50"),
    ]
    table = score_table(scheme, frame())
    assert dict(zip(table["unit"], table["total"], strict=True)) == WANT
    source = tmp_path / "units.csv"
    frame().to_csv(source, index=False)
    target = tmp_path / "out.csv"
    rules = tmp_path / "gn.toml"
    rules.write_text(text(), encoding="utf-8")
    run = CliRunner().invoke(cli, ["score", str(rules), str(source), "--out", str(target)])
    assert run.exit_code == 0, run.output
    written = pd.read_csv(target, dtype=str, encoding="utf-8-sig")
    assert dict(zip(written["unit"], written["total"], strict=True)) == {
        k: str(v) for k, v in WANT.items()
    }
    # the row follows its group, in the table's columns as in the tree; the values the
    # step takes are in the explanation, not columns (as for a normalised input)
    columns = list(written.columns)
    assert not [c for c in columns if c.endswith(("__min", "__max"))]
    assert columns.index("econ__normalised") == columns.index("b_pts") + 1
    assert columns.index("soc__normalised") == columns.index("c_pts") + 1


def test_the_same_as_the_stages_written_by_hand():
    """The declared step and the rule written out by hand score every unit alike."""
    by_hand = (
        HEAD
        + ECON.replace("normalise = NORM_ECON", "counted = false")
        + SOC.replace("normalise = NORM_SOC", "counted = false")
        + """
[indicators.econ_n]
parent = "econ"
weight = 60
formula = "weight * (econ - lo) / (hi - lo)"

[indicators.soc_n]
weight = 40
formula = "weight * soc / best"

[cohort.values.lo]
stat = "min"
of = "econ"

[cohort.values.hi]
stat = "max"
of = "econ"

[cohort.values.best]
stat = "max"
of = "soc"
"""
    ).replace('[indicators.econ_n]\nparent = "econ"\n', "[indicators.econ_n]\n")
    hand = perfrules.compile_scheme(perfrules.loads_scheme(by_hand, name="hand.toml"))
    rows = [
        (f"u{k}", str(a), str(b), str(c))
        for k, (a, b, c) in enumerate([(12, 99, 3), (55, 55, 55), (100, 0, 47), (7, 81, 100)])
    ]
    declared = [r.total_exact for r in compiled().evaluate_cohort(units(rows))]
    written = [r.total_exact for r in hand.evaluate_cohort(units(rows))]
    assert declared == written
    assert len(set(declared)) == len(declared)  # not all equal by chance


def test_goalposts_target_and_cap():
    # goalposts in the group's points: econ 45 → (45 - 40) / (50 - 40) = 0.5 → 30.00
    scheme = compiled(econ='{ method = "minmax", goalposts = [40, 50] }')
    a = scheme.evaluate_cohort(units())[0]
    assert a.scores["econ__normalised"] == Decimal("30.00")
    # beyond the target the group gets its whole weight, not more: soc 24 / 30 → 32.00,
    # B 30 / 30 → 40.00, C 36 / 30 → 40.00
    scheme = compiled(soc='{ method = "distance_to_target", target = 30 }')
    got = [r.scores["soc__normalised"] for r in scheme.evaluate_cohort(units())]
    assert got == [Decimal("32.00"), Decimal("40.00"), Decimal("40.00")]
    # winsorised at the cohort's percentiles first (P0 and P50 of 24, 30, 36: 24 and 30)
    scheme = compiled(soc='{ method = "minmax", cap = [0, 50] }')
    got = [scheme.exact_score(r, "soc__normalised") for r in scheme.evaluate_cohort(units())]
    assert got == [Fraction(0), Fraction(40), Fraction(40)]


def test_explained_as_a_row_reading_the_group():
    scheme = compiled()
    c = scheme.evaluate_cohort(units())[2]
    node = c.trace.root.find("soc__normalised")
    assert node.name == "Social (normalised)"
    assert node.formula == "weight * (soc / soc__max)"
    assert {i.name: i.source for i in node.inputs} == {
        "weight": "weight",
        "soc": "score",
        "soc__max": "cohort",
    }
    values = {v.name: (v.of, v.value, v.unit) for v in c.trace.cohort.values}  # noqa: PD011
    assert values["soc__max"] == ("soc", 36, "C")
    assert values["econ__min"] == ("econ", Fraction(81, 2), "C")
    # the row cites the group's lines: its weight and its normalise
    places = dict(c.trace.root.find("econ__normalised").sources)
    lines = text().splitlines()
    assert places["weight"] == f"gn.toml:{lines.index('weight = 60') + 1}"
    where = lines.index('normalise = { method = "minmax" }') + 1
    assert places["normalise"] == f"gn.toml:{where}"


def test_the_scheme_as_written_and_as_scored():
    written = perfrules.loads_scheme(text(), name="gn.toml")
    assert sorted(written.indicators) == ["a_pts", "b_pts", "c_pts"]
    assert written.groups["econ"].counted
    scheme = perfrules.compile_scheme(written)
    assert scheme.scheme.groups["econ"].counted is False
    assert scheme.scheme.indicators["econ__normalised"].weight == 60
    # what was scored can be compiled again: the step is not written out twice
    again = perfrules.compile_scheme(scheme.scheme)
    assert [r.total for r in again.evaluate_cohort(units())] == list(WANT.values())


def test_the_row_takes_a_name():
    scheme = compiled(econ='{ method = "minmax", name = "经济（标准化）" }')
    assert scheme.evaluate_cohort(units())[0].trace.root.find("econ__normalised").name == (
        "经济（标准化）"
    )


def test_every_mistake_at_its_key():
    bad = text(
        econ='{ method = "zscore" }',
        soc='{ method = "distance_to_best", direction = "reverse", scale = 100 }',
    ).replace(
        'a = { label = "A" }', 'a = { label = "A", normalise = { method = "minmax", name = "x" } }'
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(bad, name="bad.toml")
    lines = bad.splitlines()
    found = sorted((d.code, d.path, d.line) for d in caught.value.diagnostics)
    econ_line = lines.index('normalise = { method = "zscore" }') + 1
    soc_line = next(k for k, line in enumerate(lines, 1) if "reverse" in line)
    a_line = lines.index('a = { label = "A", normalise = { method = "minmax", name = "x" } }') + 1
    assert found == [
        ("PR260", ("inputs", "a", "normalise", "name"), a_line),
        ("PR261", ("groups", "econ", "normalise", "method"), econ_line),
        ("PR261", ("groups", "soc", "normalise", "direction"), soc_line),
        ("PR261", ("groups", "soc", "normalise", "scale"), soc_line),
    ]
    messages = [d.message("en") for d in caught.value.diagnostics if d.code == "PR261"]
    assert any("group 'econ' cannot be normalised so" in m for m in messages)


def test_a_name_already_taken_is_refused():
    clash = text() + '\n[indicators.econ__normalised]\nweight = 0\nformula = "0"\n'
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(clash, name="clash.toml")
    codes = [(d.code, d.path) for d in caught.value.diagnostics]
    assert ("PR104", ("groups", "econ", "normalise")) in codes


def test_no_spread_fails_the_units_and_says_why(tmp_path: Path):
    same = [("A", "80", "70", "60"), ("B", "80", "70", "75")]
    scheme = compiled()
    results = scheme.evaluate_cohort(units(same))
    assert [r.diagnostics[0].code for r in results] == ["PR428", "PR428"]
    message = results[0].diagnostics[0].message("en")
    assert (
        "'econ' cannot be normalised by minmax among the units scored together: every unit gives 45"
        in message
    )
    table = score_table(scheme, frame(same))
    assert all("PR428" in e and "every unit gives 45" in e for e in table["errors"])
    # each at its unit's row, though no one fact is to blame
    assert [e.split(": ")[0] for e in table["errors"]] == ["table:1:1", "table:2:1"]
    # the distance to a best of 0
    nothing = [("A", "80", "70", "0"), ("B", "80", "60", "0")]
    failed = compiled(econ='{ method = "minmax", goalposts = [0, 60] }').evaluate_cohort(
        units(nothing)
    )
    assert [r.diagnostics[0].code for r in failed] == ["PR428", "PR428"]
    assert (
        "'soc' cannot be normalised by distance_to_best among the units scored together: the best value is 0"
        in (failed[0].diagnostics[0].message("en"))
    )
    # goalposts need no spread
    fixed = compiled(econ='{ method = "minmax", goalposts = [0, 60] }')
    assert [r.scores["econ__normalised"] for r in fixed.evaluate_cohort(units(same))] == [
        Decimal("45.00")
    ] * 2


def test_diff_names_the_changed_step():
    old = perfrules.loads_scheme(text(), name="old.toml")
    new = perfrules.loads_scheme(
        text(econ='{ method = "minmax", goalposts = [0, 60] }'), name="new.toml"
    )
    changes = [(c.section, c.id, c.key, c.old, c.new) for c in diff_schemes(old, new)]
    assert changes == [
        (
            "groups",
            "econ",
            "normalise",
            "normalise = minmax",
            "normalise = minmax, goalposts [0, 60]",
        )
    ]


def test_the_blank_sheet_asks_for_facts_only():
    """A score a formula reads and a value taken over the units are not columns to fill."""
    header, rows = template_rows(compiled(), lang="en")
    assert [h.split()[-1] for h in header[4:-2]] == ["a", "b", "c"]
    assert [r[0] for r in rows] == [
        "a_pts",
        "b_pts",
        "econ__normalised",
        "c_pts",
        "soc__normalised",
    ]
    best = perfrules.compile_scheme(perfrules.load_pack("examples/best-is-100"))
    header, _ = template_rows(best, lang="en")
    assert not {"raw", "best_raw"} & {h.split()[-1] for h in header}


def test_a_group_whose_id_cannot_be_read_as_its_score_is_refused():
    """An id that is also an input's name (its row would read the input) or not a name."""
    clash = (
        text().replace("[groups.econ]", "[groups.a]").replace('parent = "econ"', 'parent = "a"')
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(clash, name="clash.toml")
    assert [(d.code, d.path) for d in caught.value.diagnostics] == [
        ("PR261", ("groups", "a", "normalise"))
    ]
    assert "rename the group" in caught.value.diagnostics[0].message("en")
    hyphen = (
        text()
        .replace("[groups.soc]", '[groups."so-c"]')
        .replace('parent = "soc"', 'parent = "so-c"')
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(hyphen, name="hyphen.toml")
    assert [(d.code, d.path) for d in caught.value.diagnostics] == [
        ("PR261", ("groups", "so-c", "normalise"))
    ]


def test_every_mistake_of_the_step_and_the_file_at_once():
    bad = text(
        econ='{ method = "zscore", direction = "reverse", goalposts = [1] }',
        soc='{ method = "distance_to_target", target = -30 }',
    ).replace("weight = 40\nformula", "weight = 30\nformula")  # c_pts: soc adds up to 30
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(bad, name="bad.toml")
    found = sorted((d.code, d.path[-1]) for d in caught.value.diagnostics)
    assert found == [
        ("PR201", "weight"),
        ("PR261", "direction"),
        ("PR261", "goalposts"),
        ("PR261", "method"),
        ("PR261", "target"),
    ]
    # a wrong value inside the table keeps the group, so its weights are still checked
    typo = text(econ='{ method = "minmaxx" }').replace(
        "weight = 40\nformula", "weight = 30\nformula"
    )
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(typo, name="typo.toml")
    found = sorted((d.code, ".".join(map(str, d.path))) for d in caught.value.diagnostics)
    assert found == [("PR102", "groups.econ.normalise.method"), ("PR201", "groups.soc.weight")]


def test_goalposts_are_in_the_groups_points():
    with pytest.raises(RuleFileError) as caught:
        perfrules.loads_scheme(
            text(econ='{ method = "minmax", goalposts = [0, 600] }'), name="g.toml"
        )
    (problem,) = caught.value.diagnostics
    assert problem.path == ("groups", "econ", "normalise", "goalposts")
    assert "from 0 to its weight 60" in problem.message("en")


def test_the_rows_name_follows_the_groups_language():
    chinese = text().replace('name = "Economy"', 'name = "经济发展"')
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(chinese, name="zh.toml"))
    assert scheme.scheme.indicators["econ__normalised"].name == "经济发展（标准化）"
    assert scheme.scheme.indicators["soc__normalised"].name == "Social (normalised)"
    # the cohort values it takes are labelled in that language too
    values = scheme.scheme.cohort.values  # noqa: PD011
    assert values["econ__min"].label == "econ 按 minmax 标准化，最小值"
    assert values["econ__max"].label == "econ 按 minmax 标准化，最大值"
    english = perfrules.compile_scheme(perfrules.loads_scheme(text(), name="en.toml"))
    labels = {n: v.label for n, v in english.scheme.cohort.values.items()}  # noqa: PD011
    assert labels["econ__min"] == "normalise econ: minmax, lowest"


def test_diff_reads_the_schemes_as_written(tmp_path: Path):
    old, new = tmp_path / "old.toml", tmp_path / "new.toml"
    old.write_text(text(), encoding="utf-8")
    new.write_text(text().replace('normalise = { method = "minmax" }\n', ""), encoding="utf-8")
    run = CliRunner().invoke(cli, ["diff", str(old), str(new), "--lang", "en"])
    assert run.exit_code == 0, run.output
    assert "normalise" in run.output
    assert "counted" not in run.output  # the row written out is not the author's change
    assert "cohort" not in run.output


def test_a_unit_failing_an_earlier_pass_keeps_its_own_reason(tmp_path: Path):
    """A and B score their row outside its weight in the first pass; only C is left to
    normalise by, so C has no range — but A and B say what is wrong with them."""
    over = text().replace(
        'formula = "weight * clamp(a, 0, 100) / 100"', 'formula = "weight * a / 100"'
    )
    rows = [("A", "150", "70", "60"), ("B", "200", "60", "75"), ("C", "50", "85", "90")]
    scheme = perfrules.compile_scheme(perfrules.loads_scheme(over, name="over.toml"))
    want = ["PR501", "PR501", "PR428"]
    assert [r.diagnostics[0].code for r in scheme.evaluate_cohort(units(rows))] == want
    table = score_table(scheme, frame(rows))
    assert [e.split("error[")[1][:5] for e in table["errors"]] == want
    with dask.config.set(scheduler="sync"):
        out = score_dask(scheme, dd.from_pandas(frame(rows), npartitions=2)).compute()
    assert [e.split("error[")[1][:5] for e in out["errors"]] == want
    source, target, rules = tmp_path / "u.csv", tmp_path / "o.csv", tmp_path / "over.toml"
    frame(rows).to_csv(source, index=False)
    rules.write_text(over, encoding="utf-8")
    run = CliRunner().invoke(cli, ["score", str(rules), str(source), "--out", str(target)])
    assert run.exit_code == 1, run.output
    written = pd.read_csv(target, dtype=str, encoding="utf-8-sig")
    assert [e.split(": ")[0].rsplit("/", 1)[-1] for e in written["errors"]] == [
        "u.csv:2:1",
        "u.csv:3:1",
        "u.csv:4:1",
    ]
    assert [e.split("error[")[1][:5] for e in written["errors"]] == want


def test_sensitivity_says_a_group_is_not_an_input_to_vary():
    from perfrules.workflows import _sensitivity as sens

    table = pa.table(
        {
            "unit": ["A", "B"],
            "shared.a": ["1", "2"],
            "shared.b": ["1", "2"],
            "shared.c": ["1", "2"],
        }
    )
    with pytest.raises(sens.SensitivityError, match="that is a group"):
        sens.sensitivity(
            compiled(),
            table,
            choices=[sens.Choice.parse("normalise", "econ=minmax,distance_to_best")],
        )
