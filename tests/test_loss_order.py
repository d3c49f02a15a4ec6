"""The order of lost points is one order, however it is found.

``loss_order`` keeps only sorted keys when every counted row weighs a whole number and is
scored over one denominator, and makes each row from its key when read; otherwise it makes
every row. Both must give exactly the rows :func:`by_loss` orders, read in any way.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.engine._grading import by_loss, loss_order
from perfrules.testing import facts_for, schemes

SEED = "rules/examples/xinzhou-zfw-2021"


def expected(plan, values):
    """Every counted row that lost points, made one by one, in by_loss's order."""
    rows = []
    for i in plan.counted_leaves:
        sn, sd = values[2 * i], values[2 * i + 1]
        if sn is None:
            continue
        weight = plan.nodes[i].weight
        wn, wd = weight.numerator, weight.denominator
        num = wn * sd - sn * wd
        if num > 0:
            rows.append((num, wd * sd, i, plan.nodes[i].id, wn, wd, sn, sd))
    return list(by_loss(plan, rows).rows)


def check(compiled, facts):
    """loss_order's rows, read one by one, as a prefix and all, are the expected rows."""
    plan = compiled.plan
    values = compiled.evaluate(facts)._source.out[2]
    want = expected(plan, values)
    order = loss_order(plan, values)
    assert len(order.rows) == len(want)
    assert [order.rows[k] for k in range(len(want))] == want  # one at a time
    assert order.rows[: len(want) // 2] == want[: len(want) // 2]  # a prefix
    assert list(order.rows) == want  # all of them
    assert bool(order.rows) == bool(want)
    for row in want:  # every row's loss is a whole number over the common denominator
        assert (Fraction(row[0], row[1]) * order.common).denominator == 1
    # what the gap reads: each row's lost points over the common denominator, in order
    points = list(loss_order(plan, values).points())
    assert points == [row[0] * order.common // row[1] for row in want]
    return order


def test_the_seed_s_rows_over_one_denominator_keep_their_order():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    names = list(compiled.scheme.indicators)
    for step in range(1, 40):
        actual = {
            ident: {"actual": f"0.{(step * 37 + n * 11) % 100:02d}"}
            for n, ident in enumerate(names)
        }
        order = check(compiled, {"indicators": actual})
        assert order.rows.__class__ is not list  # the keys only, rows made when read


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_schemes_keep_their_loss_order(data):
    compiled = perfrules.compile_scheme(data.draw(schemes(), label="scheme"))
    facts = data.draw(facts_for(compiled), label="facts")
    try:
        check(compiled, facts)
    except perfrules.errors.FactsError:
        return
