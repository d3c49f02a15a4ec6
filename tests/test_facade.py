"""CompiledScheme's questions answer about the row asked for, and for the scheme compiled.

A row may have the scheme's own id; a scheme changed with ``model_copy`` is a new scheme;
a grade override that fired is the grade an audit expects.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

import perfrules
from perfrules._outcomes import Published
from perfrules.workflows._audit import audit

TWO_ROWS = (
    '[scheme]\nid = "a"\ntitle = "a"\nmax = 10\n[inputs]\nx = {}\n'
    '[indicators.a]\nweight = 5\nformula = "weight * x"\n'
    '[indicators.b]\nweight = 5\nformula = "weight * x"\n'
    '[[bands]]\nlabel = "pass"\nmin = 6\nmax = 10\n'
    '[[bands]]\nlabel = "fail"\nmin = 0\nmax = 6\n'
)


def test_a_row_named_like_the_scheme_is_asked_about_as_a_row():
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(TWO_ROWS, name="a.toml"))
    result = compiled.evaluate({"a": {"x": "0.2"}, "b": {"x": "1"}})
    assert compiled.exact_score(result, "a") == 1
    assert compiled.exact_score(result, None) == 6
    assert compiled.losses(result) == {"a": Fraction(4), "b": Fraction(0)}
    with pytest.raises(KeyError):
        compiled.exact_score(result, "no-such-row")


def test_a_ranking_by_a_row_named_like_the_scheme_ranks_by_that_row():
    text = TWO_ROWS + '[ranking]\nkeys = [{ by = "a", order = "desc" }]\n'
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="a.toml"))
    units = [
        {"unit": "u1", "indicators": {"a": {"x": "0.9"}, "b": {"x": "0.1"}}},  # a 4.5, total 5
        {"unit": "u2", "indicators": {"a": {"x": "0.5"}, "b": {"x": "1"}}},  # a 2.5, total 7.5
    ]
    first, second = compiled.evaluate_cohort(units)
    assert (first.rank.position, second.rank.position) == (1, 2)


def test_a_changed_copy_of_a_loaded_scheme_compiles_as_changed():
    scheme = perfrules.loads_scheme(TWO_ROWS, name="a.toml")
    copy = scheme.model_copy(update={"scheme": scheme.scheme.model_copy(update={"max": 10})})
    weighted = scheme.model_copy(
        update={
            "rounding": scheme.rounding.model_copy(update={"total": 0}),
        }
    )
    assert perfrules.compile_scheme(copy).scheme is copy
    compiled = perfrules.compile_scheme(weighted)
    assert compiled.plan.total_places == 0
    assert str(compiled.evaluate({"a": {"x": "0.33"}, "b": {"x": "0.33"}}).total) == "3"


def test_an_audit_expects_the_grade_an_override_gives():
    text = (
        TWO_ROWS.replace("[inputs]\nx = {}\n", '[inputs]\nx = {}\nmeasured = { type = "bool" }\n')
        + '[[grade_overrides]]\nlabel = "not demonstrated"\nwhen = "not measured"\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="a.toml"))
    facts = perfrules.loads_facts(
        '[indicators.a]\nx = "1"\n[indicators.b]\nx = "1"\n[shared]\nmeasured = false\n',
        format="toml",
    )
    published = Published(Fraction(10), "not demonstrated", {}, {})
    report = audit(compiled, facts, published)
    assert [f.id for f in report.findings] == []
    wrong = audit(compiled, facts, Published(Fraction(10), "pass", {}, {}))
    assert [(f.id, f.expected) for f in wrong.findings] == [("grade", "not demonstrated")]


def test_total_for_refuses_a_misspelt_row_and_takes_decimals():
    from decimal import Decimal

    compiled = perfrules.compile_scheme(perfrules.loads_scheme(TWO_ROWS, name="a.toml"))
    assert compiled.total_for({"a": Decimal("2.5"), "b": 5}) == Fraction("7.5")
    with pytest.raises(KeyError):
        compiled.total_for({"a": Fraction(1), "bb": Fraction(5)})
    assert compiled.grade_for(Decimal("6.0")).label == "pass"
