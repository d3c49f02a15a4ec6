"""The gap keeps its promise: the rows it lists, at full marks, reach the next band.

For random schemes (``fit`` normalise and cap, rows and groups not counted, every policy,
every rounding mode and places at every level) and random units, whenever the trace's gap
lists rows to improve, giving each listed row full marks (an override of its weight) makes
the total reach the band (``total >= gap.min``, the grade that band or a higher one), and no
shorter start of the list does (the fewest rows, largest losses first). When the gap lists
no rows, not even every row that lost points reaches the band.
PERFRULES_GAP_EXAMPLES sets the number of examples (150 by default).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.errors import FactsError
from perfrules.testing import facts_for, schemes

EXAMPLES = int(os.environ.get("PERFRULES_GAP_EXAMPLES", "150"))


def raised(
    compiled: perfrules.CompiledScheme,
    facts: dict[str, Any],
    complete: dict[str, Any],
    rows: list[str],
) -> perfrules.Result:
    """*facts* with each of *rows* given full marks by an override of its weight.

    A row scored by a policy (a missing value, not applicable) gets values to score from
    (*complete*), as an override replaces a score the formula gave.
    """
    indicators = {k: dict(v) for k, v in facts["indicators"].items()}
    for ident in rows:
        own = indicators[ident]
        if "na" in own or any(name not in own for name in complete["indicators"][ident]):
            own = dict(complete["indicators"][ident])
        weight = compiled.scheme.indicators[ident].weight
        indicators[ident] = {**own, "override": {"score": str(weight), "reason": "gap test"}}
    return compiled.evaluate({"indicators": indicators, "shared": facts["shared"]}, trace=False)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_the_rows_the_gap_lists_reach_the_next_band_and_no_fewer_do(data):
    compiled = perfrules.compile_scheme(data.draw(schemes(), label="scheme"))
    facts = data.draw(facts_for(compiled), label="facts")
    complete = data.draw(facts_for(compiled, allow_missing=False, allow_na=False))
    try:
        result = compiled.evaluate(facts)
    except FactsError:
        assume(False)
    trace = result.trace
    gap = trace.gap
    assume(gap is not None)
    labels = [band.label for band in trace.bands]  # the highest first
    rows = [ident for ident, _ in gap.improve]
    if not rows:
        # nothing reaches the band: not even every row that lost points at full marks
        losing = [row["id"] for row in trace.to_dict()["losses"]]
        assert raised(compiled, facts, complete, losing).total_exact < gap.min, losing
        return
    reached = raised(compiled, facts, complete, rows)
    assert reached.total_exact >= gap.min, (rows, str(reached.total), gap)
    assert labels.index(reached.grade.label) <= labels.index(gap.label), (rows, gap)
    for count in range(len(rows)):  # the fewest: no shorter start of the list suffices
        shorter = raised(compiled, facts, complete, rows[:count])
        assert shorter.total_exact < gap.min, (rows[:count], str(shorter.total), gap)
