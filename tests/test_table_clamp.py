"""Scores outside [0, weight]: the array scorer clamps them as ``evaluate`` does, or refuses.

Under ``clamp`` a score below 0 or above its weight is clamped into [0, weight] and then
rounded; the array scorer does it on every row at once, so such rows stay on the array path.
Without ``clamp`` the row is refused (PR501). ``score_table`` must give ``evaluate``'s digits
on every row either way.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfrules

pa = pytest.importorskip("pyarrow")
from perfrules.workflows._table import (  # noqa: E402 - after the frame extra is known
    TABLE_SOURCE,
    prepare_chunk,
    readable_table,
)

#: Formulas that leave [0, weight] on some rows, above and below.
FORMULAS = (
    "x / 10",
    "weight - y / 4",
    "weight * x / y",
    "min(x, 3 * weight) - 1",
    "weight * (x - y) / 50",
)
CELLS = st.sampled_from(["0", "1", "3", "7.5", "12", "40", "55", "99", "250", "-4"])


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, dict[str, list[str]]]:
    count = draw(st.integers(1, 3))
    weights = draw(
        st.lists(
            st.sampled_from(["2.5", "4", "10", "12.25", "30"]), min_size=count, max_size=count
        )
    )
    total = sum(Decimal(w) for w in weights)
    places = draw(st.integers(0, 2))
    mode = draw(st.sampled_from(["half_up", "half_even", "down", "up"]))
    lines = [
        f'[scheme]\nid = "clamp"\ntitle = "Clamp"\nmax = {total}',
        f'[rounding]\nmode = "{mode}"\nindicator = {places}\ntotal = {draw(st.integers(0, 2))}',
        f"[defaults]\nclamp = {'true' if draw(st.booleans()) else 'false'}",
        '[inputs]\nx = { label = "x" }\ny = { label = "y" }',
        f'[[bands]]\nlabel = "all"\nmin = 0\nmax = {total}',
    ]
    for i, weight in enumerate(weights):
        formula = draw(st.sampled_from(FORMULAS))
        own = f"clamp = {'true' if draw(st.booleans()) else 'false'}\n" if i == 0 else ""
        lines.append(f'[indicators.i{i}]\n{own}weight = {weight}\nformula = "{formula}"')
    rows = draw(st.integers(1, 12))
    columns = {
        "unit": [f"u{r}" for r in range(rows)],
        "shared.x": draw(st.lists(CELLS, min_size=rows, max_size=rows)),
        "shared.y": draw(st.lists(CELLS, min_size=rows, max_size=rows)),
    }
    return "\n\n".join(lines) + "\n", columns


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_cases())
def test_score_table_clamps_as_evaluate_does(case: tuple[str, dict[str, list[str]]]) -> None:
    text, columns = case
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text))
    assert compiled.columnar().vectorised
    out = perfrules.score_table(compiled, pa.table(columns)).to_pylist()
    for row, got in enumerate(out):
        facts = {"shared": {"x": columns["shared.x"][row], "y": columns["shared.y"][row]}}
        try:
            result = compiled.evaluate(facts, trace=False)
        except perfrules.FactsError:
            assert got["errors"] is not None, (row, got)
            continue
        assert got["errors"] is None, (row, got)
        assert got["total"] == result.total, (row, got)
        for ident, score in result.scores.items():
            assert got[ident] == score, (row, ident, got)


def test_a_clamped_row_is_scored_as_arrays() -> None:
    """It does not go the long way: its scores come from the array scorer."""
    text = (
        '[scheme]\nid = "c"\ntitle = "C"\nmax = 10\n\n[defaults]\nclamp = true\n\n'
        '[inputs]\nx = { label = "x" }\n\n[[bands]]\nlabel = "all"\nmin = 0\nmax = 10\n\n'
        '[indicators.a]\nweight = 10\nformula = "x / 10"\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text))
    table = readable_table(
        pa.table({"unit": ["a", "b"], "shared.x": ["250", "-30"]}), TABLE_SOURCE
    )
    ready = prepare_chunk(compiled, table, None)
    arrays = compiled.score_columns(ready.inputs, ready.regular)
    assert arrays.regular.tolist() == [True, True]
    assert [int(v) for v in arrays.scores[0].tolist()] == [1000, 0]  # 10.00 and 0.00
