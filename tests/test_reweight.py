"""``aggregate = "reweight"``: a group whose rows are left out shares their weight among the others.

The scheme (``data/reweight/rw.toml``): groups A (reweight) and B (sum), 50 each, two rows of
30 and 20 in each, ``missing = "exclude"``. By hand, with a2 missing, a1 = 30 × 0.5 = 15,
b1 = 30, b2 = 10:

    reweight: A = 15 × 50 / 30 = 25; total = 25 + 40 = 65 (nothing left out of the total)
    sum:      A = 15; the total renormalised, (15 + 40) × 100 / 80 = 68.75
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.testing import scheme_properties
from perfrules.workflows import score_table

RW = Path(__file__).parent / "data" / "reweight" / "rw.toml"
FACTS = {"a1": {"x": "0.5"}, "b1": {"x": "1"}, "b2": {"x": "0.5"}}


def compiled(aggregate: str = "reweight") -> perfrules.CompiledScheme:
    text = RW.read_text(encoding="utf-8").replace('"reweight"', f'"{aggregate}"')
    return perfrules.compile_scheme(perfrules.loads_scheme(text, name="rw.toml"))


def test_the_group_takes_back_the_weight_of_its_rows_left_out():
    result = compiled().evaluate(FACTS)
    assert result.total == Decimal("65.00")
    assert result.scores["A"] == Decimal("25.00")
    assert compiled("sum").evaluate(FACTS).total == Decimal("68.75")


def test_a_group_with_every_row_left_out_is_left_out_of_the_total():
    facts = {"b1": {"x": "1"}, "b2": {"x": "0.5"}}
    result = compiled().evaluate(facts)
    assert result.scores["A"] is None
    assert result.total == Decimal("80.00")  # 40 × 100 / 50


def test_the_trace_says_how_the_group_was_scaled_and_the_total_is_not_renormalised():
    trace = compiled().evaluate(FACTS).trace
    a = trace.root.find("A")
    (note,) = [n for n in a.notes if n.kind == "reweighted"]
    assert dict(note.params) == {"sum": "15", "applicable": "30", "weight": "50"}
    assert not [n for n in trace.root.notes if n.kind == "renormalised"]
    parsed = json.loads(trace.to_json())
    assert parsed["total"] == "65.00"


def test_every_shape_agrees(tmp_path):
    scheme = compiled()
    rows = {"unit": ["u1", "u2"], "a1": ["0.5", "1"], "a2": ["", "0.25"]}
    rows |= {"b1": ["1", "1"], "b2": ["0.5", ""]}
    frame = pd.DataFrame(rows)
    want = [
        scheme.evaluate({k: {"x": v} for k, v in r.items() if k != "unit" and v}).total
        for r in frame.to_dict("records")
    ]
    # u2: A = 30 + 5 (nothing left out); B = 30, a plain sum, so b2's 20 is left out of the
    # total: (35 + 30) × 100 / 80 = 81.25.
    assert want == [Decimal("65.00"), Decimal("81.25")]
    assert list(score_table(scheme, frame)["total"]) == want
    source = tmp_path / "units.csv"
    frame.to_csv(source, index=False)
    target = tmp_path / "out.csv"
    run = CliRunner().invoke(cli, ["score", str(RW), str(source), "--out", str(target)])
    assert run.exit_code == 0, run.output
    written = pd.read_csv(target, dtype=str, encoding="utf-8-sig")
    assert list(written["total"]) == [str(w) for w in want]


def test_the_properties_hold():
    scheme_properties(compiled(), max_examples=200)()  # raises on a broken invariant


def test_diff_shows_a_changed_aggregation():
    from perfrules.workflows._diff import diff_schemes

    (change,) = diff_schemes(compiled("sum").scheme, compiled().scheme)
    assert (change.section, change.id, change.key, change.old, change.new) == (
        "groups",
        "A",
        "aggregate",
        "sum",
        "reweight",
    )
