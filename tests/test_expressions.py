"""The expression language: exact values, steps, named formulas, located errors."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from perfrules.errors import ExpressionError, PerfrulesError
from perfrules.expressions import compile_expression, safe_eval

NUM = {"weight": "num", "actual": "num", "target": "num"}


def codes(text, names=None, formulas=None):
    with pytest.raises(ExpressionError) as info:
        safe_eval(text, names or {}, formulas)
    return info.value


class TestValues:
    def test_division_is_exact(self):
        assert safe_eval("6 * (7 / 48)") == Fraction(7, 8)

    def test_names_accept_decimal_strings_and_percentages(self):
        names = {"weight": 5, "actual": "85.3%"}
        assert safe_eval("weight * actual", names) == Fraction(4265, 1000)

    def test_capped_ratio_of_the_seed_row(self):
        value = safe_eval(
            "weight * min(actual / target, 1)", {"weight": 6, "actual": 70, "target": 88}
        )
        assert value == Fraction(105, 22)

    def test_literals_are_read_from_the_text_not_through_float(self):
        assert safe_eval("0.1 + 0.2") == Fraction(3, 10)
        assert safe_eval("1.005 * 1000") == Fraction(1005)

    def test_conditions_and_conditionals(self):
        assert safe_eval("1 if 0 < x <= 1 else 0", {"x": "50%"}) == 1
        assert safe_eval("x > 1 or not ok", {"x": 2, "ok": True}) is True

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("ratio(45, 50)", Fraction(9, 10)),
            ("ratio(60, 50)", Fraction(1)),
            ("reverse_ratio(110, 100)", Fraction(10, 11)),
            ("reverse_ratio(0, 100)", Fraction(1)),
            ("clamp(12, 0, 10)", Fraction(10)),
            ("steps(0.0073, 0.05)", Fraction(0)),
            ("steps(0.12, 0.05)", Fraction(2)),
            ("floor(2.7) + ceil(2.1)", Fraction(5)),
            ("abs(-3)", Fraction(3)),
            (
                'lookup(0.3994, "=0", 8, "(0, 10%]", 6, "(10%, 20%]", 4, "(20%, 30%]", 2, ">30%", 0)',
                0,
            ),
            ('lookup(0.1, "=0", 8, "(0, 10%]", 6, "(10%, 20%]", 4)', 6),
            ('lookup(2, "[0, 1)", 5, 1)', 1),
            ("count(true, false, true)", 2),
            ("missing(true, false, false)", 2),
            ("checklist(true, 1, false, 0.5, true, 0.5)", Fraction(3, 2)),
            ("2 ** -2", Fraction(1, 4)),
        ],
    )
    def test_function_library(self, text, expected):
        assert safe_eval(text.replace("true", "True").replace("false", "False")) == expected


class TestSteps:
    def test_the_477_row_is_explained_step_by_step(self):
        expression = compile_expression("weight * min(actual / target, 1)", NUM)
        value, steps = expression.explain(
            {"weight": Fraction(6), "actual": Fraction(70), "target": Fraction(88)}
        )
        assert value == Fraction(105, 22)
        assert [str(s) for s in steps] == [
            "actual / target = 70 / 88 = 0.795454…",
            "min(actual / target, 1) = min(0.795454…, 1) = 0.795454…",
            "weight * min(actual / target, 1) = 6 * 0.795454… = 4.772727…",
        ]

    def test_named_formulas_expand_and_are_recorded(self):
        expression = compile_expression(
            "capped", NUM, {"capped": "weight * min(ratio_, 1)", "ratio_": "actual / target"}
        )
        assert expression.formulas == ("capped", "ratio_")
        _, steps = expression.explain(
            {"weight": Fraction(6), "actual": Fraction(7), "target": Fraction(48)}
        )
        assert [s.formula for s in steps if s.formula] == ["ratio_", "capped"]
        assert str(steps[-1]) == "capped = weight * min(ratio_, 1) = 0.875"

    def test_untaken_branch_is_shown_as_not_evaluated(self):
        expression = compile_expression("1 if x > 0 else 2 / x", {"x": "num"})
        _, steps = expression.explain({"x": Fraction(1)})
        assert steps[-1].with_values() == "1 if true else …"


class TestErrors:
    def test_every_rejection_is_an_expression_error_and_a_perfrules_error(self):
        error = codes("1 / 0")
        assert isinstance(error, PerfrulesError)
        assert isinstance(error, ValueError)
        assert error.code == "PR316"

    @pytest.mark.parametrize(
        ("text", "code", "column"),
        [
            ("weight * (actual", "PR301", 10),
            ("weight * actaul", "PR302", 10),
            ("weight * mini(1, 2)", "PR303", 10),
            ("min()", "PR304", 1),
            ("weight.real", "PR306", 1),
            ("x[0]", "PR306", 1),
            ("weight + (1 > 0)", "PR307", 1),
            ("weight ** 0.5", "PR324", 1),
            ("1 % 2", "PR306", 1),
            ("weight（1）", "PR308", 7),
            ("", "PR322", 1),
        ],
    )
    def test_codes_and_columns(self, text, code, column):
        error = codes(text, {"weight": 6, "actual": 1, "x": 1})
        assert error.code == code
        assert error.column == column

    def test_columns_count_characters_not_bytes(self):
        error = codes("权重 * 业绩 + 未知", {"权重": 6, "业绩": 1})
        assert error.code == "PR302"
        assert error.column == 11
        assert error.params["name"] == "未知"

    def test_unknown_name_suggests_the_closest(self):
        error = codes("weight * actaul", {"weight": 6, "actual": 1})
        assert error.hint_text("en") == "did you mean 'actual'?"
        assert error.hint_text("zh") == "是否应为“actual”？"

    def test_division_by_zero_names_the_divisor(self):
        error = codes("weight * actual / (target - 88)", {"weight": 6, "actual": 1, "target": 88})
        assert error.code == "PR316"
        assert error.params["expr"] == "target - 88"

    def test_ratio_against_zero_target(self):
        error = codes("ratio(actual, target)", {"actual": 1, "target": 0})
        assert error.code == "PR316"
        assert error.params["expr"] == "target"

    def test_cycles_between_named_formulas(self):
        error = codes("a", {}, {"a": "b + 1", "b": "a * 2"})
        assert error.code == "PR305"
        assert "a → b → a" in error.message("en")

    def test_assignment_gets_a_hint(self):
        error = codes("weight = 3", {"weight": 6})
        assert error.code == "PR301"
        assert error.hint == "eq_not_assign"

    @pytest.mark.parametrize(
        "value", [0.5, float("nan"), Decimal("NaN"), Decimal("Infinity"), object()]
    )
    def test_bad_bound_values(self, value):
        error = codes("x", {"x": value})
        assert error.code == "PR320"

    def test_names_that_shadow_functions_are_refused(self):
        assert codes("min", {"min": 1}).code == "PR319"
        assert codes("_x", {"_x": 1}).code == "PR319"

    def test_lookup_spec_errors_are_located_at_the_spec(self):
        error = codes('lookup(1, "(0, 10%", 6)')
        assert error.code == "PR317"
        assert error.column == 11

    def test_lookup_without_a_matching_interval(self):
        assert codes('lookup(0.5, "(0, 10%]", 6)').code == "PR318"

    def test_text_result_is_refused(self):
        assert codes('"abc"').code == "PR321"
