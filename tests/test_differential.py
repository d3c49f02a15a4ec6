"""Differential test: the generated pair code and the reference (simpleeval) evaluator agree.

Random well-formed and ill-formed formulas, random facts: identical values and identical
error codes on both paths, and the traced function gives the same value. The reference does
its own arithmetic on Fractions; the functions it calls are the registry's (the independent
check of the functions themselves is ``test_oracle.py``). The number of examples is
PERFRULES_DIFF_EXAMPLES (1,000 by default; the documented long run uses 20,000).
"""

from __future__ import annotations

import os
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfrules.errors import ExpressionError
from perfrules.expressions import compile_expression
from perfrules.testing import formulas, numbers

EXAMPLES = int(os.environ.get("PERFRULES_DIFF_EXAMPLES", "1000"))
SCOPE = {"x": "num", "y": "num", "z": "num", "flag": "bool"}


def outcome(run, names):
    try:
        value = run(names)
    except ExpressionError as exc:
        return ("error", exc.code)
    except ZeroDivisionError:
        return ("error", "PR316")
    return ("value", value)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    text=formulas(),
    x=numbers(),
    y=numbers(),
    z=numbers(),
    flag=st.booleans(),
)
def test_fast_path_agrees_with_the_reference(text, x, y, z, flag):
    try:
        expression = compile_expression(text, SCOPE)
    except ExpressionError as exc:
        assert exc.code.startswith("PR3")
        assert 0 <= exc.offset <= len(text)
        return
    names = {"x": x, "y": y, "z": z, "flag": flag}
    fast = outcome(expression.run_unchecked, names)
    reference = outcome(expression.evaluate_reference, names)
    assert fast == reference, (text, names)
    public = outcome(expression.evaluate, names)
    assert public == reference
    if reference[0] == "value":
        value, _ = expression.explain(names)
        assert value == reference[1]
        assert isinstance(value, bool | Fraction)
