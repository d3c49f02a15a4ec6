"""The generated scorer: shapes shared, inline code equal to the registry's functions."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules._numbers import ROUNDING
from perfrules.expressions import FUNCTIONS, build_program, never_above
from perfrules.testing import formulas, numbers

pairs = st.tuples(st.integers(-(10**6), 10**6), st.integers(1, 10**6))


@given(st.lists(pairs, min_size=1, max_size=5))
@example([(3, 2), (1, 1)])  # min(x, 1): the literal 1s are not multiplied by
@example([(1, 1), (-5, 1), (1, 3)])
def test_inline_min_and_max_choose_as_the_functions_do(args):
    for name in ("min", "max"):
        function = FUNCTIONS[name]
        assert function.inline is not None
        lines: list[str] = []
        num, den = function.inline(lines.append, "t", [(str(n), str(d)) for n, d in args])
        scope: dict[str, int] = {}
        exec("\n".join(lines), {"__builtins__": {}}, scope)  # noqa: S102 - our own generated lines
        assert (scope[num], scope[den]) == function.impl(*args)


@given(st.integers(0, 10**12), st.integers(1, 10**6), st.sampled_from(sorted(ROUNDING)))
def test_inline_rounding_equals_the_registry(num, den, mode):
    rounding = ROUNDING[mode]
    scope: dict[str, int] = {"n": num, "d": den}
    exec(rounding.code("q", "n", "d"), {"__builtins__": {}, "divmod": divmod}, scope)  # noqa: S102
    assert scope["q"] == rounding.quotient(num, den)
    assert Fraction(scope["q"]) == round(Fraction(num, den)) or mode != "half_even"
    # As the scorer writes it: the value times a power of ten, over a product.
    scope = {"n": num, "d": den}
    code = rounding.code("q", "n * 100", "d * 3")
    exec(code, {"__builtins__": {}, "divmod": divmod}, scope)  # noqa: S102
    assert scope["q"] == rounding.quotient(num * 100, den * 3)


@given(
    st.lists(st.integers(0, 2**60), min_size=1, max_size=30),
    st.integers(1, 2**40),
    st.sampled_from(sorted(ROUNDING)),
)
@example([0, 1, 2, 3, 5, 7, 2**60], 2, "half_even")  # ties to either side
@example([0, 1, 2, 3, 5, 7, 2**60], 2, "half_up")
@example([0, 1, 99, 100, 101, 150, 250], 100, "up")
def test_rounding_over_one_shared_denominator_equals_the_registry(nums, den, mode):
    # The array scorer's single floor division gives each element what magnitude() gives.
    rounding = ROUNDING[mode]
    got = rounding.over(np.array(nums, dtype=np.int64), den)
    assert np.asarray(got).tolist() == [rounding.magnitude(n, den) for n in nums]


def test_indicators_of_one_shape_share_one_function(seed_compiled):
    source = seed_compiled.kernel.source
    # 17 indicators: 16 read "actual" with one formula, one also reads a target of 88
    assert source.count("\ndef _L") + source.startswith("def _L") == 2
    assert "def _kernel(src, ind, shared, T=True):" in source


def test_rows_of_one_weight_share_its_objects_in_every_trace(seed_compiled, seed_result):
    # A unit's trace stores its rows' weight, and the weight as an input, in every row:
    # one object per distinct weight, not one per row (thousands of rows touch one).
    plan = seed_compiled.plan
    by_value: dict[Fraction, set[int]] = {}
    for node in plan.nodes:
        by_value.setdefault(node.weight, set()).add(id(node.weight))
    assert any(len(ids) == 1 for value, ids in by_value.items() if value == 5)
    assert all(len(ids) == 1 for ids in by_value.values())
    leaves = list(seed_result.trace.root.leaves())
    for value in {leaf.weight for leaf in leaves}:
        same = [leaf for leaf in leaves if leaf.weight == value]
        assert len({id(leaf.weight) for leaf in same}) == 1
        inputs = [i for leaf in same for i in leaf.inputs if i.name == "weight"]
        assert inputs, value
        assert len({id(i) for i in inputs}) == 1, value


def test_rule_file_text_never_appears_in_the_generated_source(seed_compiled):
    source = seed_compiled.kernel.source
    for indicator in seed_compiled.scheme.indicators.values():
        assert indicator.name not in source
    for ident in seed_compiled.scheme.indicators:
        assert ident not in source


def test_a_named_formula_compiles_once(tmp_path):
    rows = "\n".join(f'[indicators.r{i}]\nweight = 1\nformula = "capped"\n' for i in range(50))
    path = tmp_path / "scheme.toml"
    path.write_text(
        '[scheme]\nid = "s"\ntitle = "s"\nmax = 50\n[inputs]\nx = {}\n'
        '[formulas]\ncapped = "weight * min(x, 1)"\n'
        '[[bands]]\nlabel = "A"\nmin = 0\nmax = 50\n' + rows,
        encoding="utf-8",
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    expressions = {id(compiled.plan.nodes[i].leaf.expression) for i in compiled.plan.leaves}
    assert len(expressions) == 1
    assert compiled.kernel.source.count("def _L") == 1


@pytest.mark.parametrize(
    ("formula", "proved"),
    [
        ("weight * min(x, 1)", True),
        ("min(x / 88, 1) * weight", True),
        ("min(x, weight)", True),
        ("weight * min(x, 0.5, y)", True),
        ("weight if x > 1 else weight * min(x, 1)", True),
        ("max(weight * min(x, 1), min(y, weight))", True),
        ("weight * (1 if x > 0 else 0.5)", True),
        ("weight * min(x, 1.5)", False),
        ("weight * max(x, 1)", False),
        ("weight * x", False),
        ("2 * weight * min(x, 1)", False),
        ("max(weight, x)", False),
        ("weight * min(x, 1) + 1", False),
        ("x", False),
    ],
)
def test_a_formula_is_proved_within_its_weight_only_by_its_shape(formula, proved):
    # Such a formula is checked only for its sign when scored; one the shape does not
    # bound keeps the check against its weight.
    program = build_program(formula, {"x": "num", "y": "num", "weight": "num"})
    assert never_above(program.tree, "weight") is proved


_NUMBERS = ("x", "y", "0", "1", "0.5", "2", "1.01", "-3", "x / 88", "1 - y", "weight")
#: Shapes of a value at most 1 (``{u}``) or of a score at most its weight (``{c}``), each
#: with a part (``{a}``) that may be anything: near misses of either are drawn as often.
_SHAPES = {
    "u": (
        "min({a}, {u})",
        "min({u}, {a})",
        "max({u}, {u})",
        "max({u}, {a})",
        "({u} if flag else {u})",
        "({u} if x > y else {a})",
    ),
    "c": (
        "weight * {u}",
        "{u} * weight",
        "min({a}, {c})",
        "min({c}, {a})",
        "max({c}, {c})",
        "max({c}, {a})",
        "({c} if flag else {c})",
        "({a} if x > y else {c})",
        "{c} + {a}",
        "{c} * {a}",
        "-{c}",
        "{c} / 2",
        "weight * {a}",
        "weight + {u}",
        "weight / {u}",
    ),
}


@st.composite
def _capped_or_not(draw: st.DrawFn, kind: str = "c", depth: int = 3) -> str:
    """A formula shaped like the ways of capping a score at its weight, or nearly so."""
    if kind == "a" or depth == 0 or draw(st.integers(0, 3)) == 0:
        if kind == "a" and depth and draw(st.booleans()):
            kind = draw(st.sampled_from(["u", "c"]))
        else:
            return draw(st.sampled_from(("weight",) if kind == "c" else _NUMBERS))
    shape = draw(st.sampled_from(_SHAPES[kind]))
    parts = [draw(_capped_or_not(p, depth - 1)) for p in re.findall(r"\{(\w)\}", shape)]
    return re.sub(r"\{\w\}", lambda _: parts.pop(0), shape)


@settings(max_examples=300, deadline=None)
@given(
    _capped_or_not(),
    st.fractions(0, 100, max_denominator=8),
    st.fractions(-5, 5, max_denominator=8),
    st.fractions(-5, 5, max_denominator=8),
    st.booleans(),
)
@example("weight * 1.01", Fraction(1), Fraction(0), Fraction(0), False)
@example("weight * (1 if flag else 1.5)", Fraction(1), Fraction(0), Fraction(0), False)
@example("min(x, 1) * weight * x", Fraction(1), Fraction(-2), Fraction(0), False)
@example("weight / 0.5", Fraction(1), Fraction(0), Fraction(0), False)
@example("weight + min(x, 1)", Fraction(1), Fraction(1), Fraction(0), False)
def test_a_formula_proved_within_its_weight_never_exceeds_it(text, weight, x, y, flag):
    # The scorer checks a proved formula for its sign alone: on any inputs and any weight
    # a rule file may write (not negative), its value must not exceed the weight.
    program = build_program(text, {"x": "num", "y": "num", "flag": "bool", "weight": "num"})
    if not never_above(program.tree, "weight"):
        return  # checked against its weight as it is scored
    try:
        value = perfrules.safe_eval(text, {"weight": weight, "x": x, "y": y, "flag": flag})
    except perfrules.ExpressionError:  # dividing by zero: the general path's
        return
    assert value <= weight


@pytest.mark.parametrize("cap", ["1", "1.5"])
def test_a_score_above_its_weight_is_refused_unless_the_formula_caps_it(tmp_path, cap):
    # weight * min(x, 1.5) can give 1.5 × the weight: the scorer must still refuse it.
    path = tmp_path / "scheme.toml"
    path.write_text(
        '[scheme]\nid = "s"\ntitle = "s"\nmax = 10\n[inputs]\nx = {}\n'
        '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n'
        f'[indicators.a]\nweight = 10\nformula = "weight * min(x, {cap})"\n',
        encoding="utf-8",
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    assert compiled.evaluate({"a": {"x": "0.8"}}, trace=False).total == Decimal("8.00")
    assert ("vn * wd > wn * vd" in compiled.kernel.source) is (cap != "1")
    if cap == "1":
        assert compiled.evaluate({"a": {"x": "1.2"}}, trace=False).total == Decimal("10.00")
    else:
        with pytest.raises(perfrules.FactsError) as caught:
            compiled.evaluate({"a": {"x": "1.2"}}, trace=False)
        assert [d.code for d in caught.value.diagnostics] == ["PR501"]  # above its weight
    with pytest.raises(perfrules.FactsError):  # below zero: refused either way
        compiled.evaluate({"a": {"x": "-0.5"}}, trace=False)


def test_compiling_a_loaded_scheme_does_not_check_it_again(monkeypatch, seed_scheme_path):
    scheme = perfrules.load_scheme(seed_scheme_path)

    def fail(*args, **kwargs):
        raise AssertionError("checked twice")

    monkeypatch.setattr("perfrules.rules._front.check_scheme", fail)
    facts = perfrules.load_facts(seed_scheme_path.with_name("facts.toml"))
    assert str(perfrules.compile_scheme(scheme).evaluate(facts).total) == "89.25"


def test_one_registry_of_rounding_modes_feeds_the_model_and_the_schema():
    import json
    import typing
    from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP

    from perfrules._numbers import ROUNDING, RoundingModeName

    assert typing.get_args(RoundingModeName) == tuple(ROUNDING)
    schema = json.dumps(perfrules.model.Scheme.model_json_schema(), ensure_ascii=False)
    for name in ROUNDING:
        assert f'"{name}"' in schema
    assert {m.decimal for m in ROUNDING.values()} == {
        ROUND_HALF_UP,
        ROUND_HALF_EVEN,
        ROUND_DOWN,
        ROUND_UP,
    }


def test_a_group_of_thousands_of_rows_compiles_and_adds_up():
    # One "a + b + ..." chain of 3,000 terms used to exhaust the compiler's stack (exit 3).
    rows = "".join(
        f'[indicators.i{n}]\nweight = 1\nformula = "weight * min(x, 1)"\n' for n in range(3000)
    )
    text = (
        '[scheme]\nid = "b"\ntitle = "b"\nmax = 3000\n[inputs.x]\n'
        f'[[bands]]\nlabel = "a"\nmin = 0\nmax = 3000\n{rows}'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="big.toml"))
    result = compiled.evaluate({"shared": {"x": "50%"}, "indicators": {}}, trace=False)
    assert str(result.total) == "1500.00"


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("trace", [False, True])
def test_a_group_of_rows_shown_only_adds_nothing_when_every_row_scored(nested, trace):
    # A weight-0 group whose rows are all ``counted = false`` has no score (None) even
    # when every row scored: the "every row scored" shortcut must not add it as a number.
    outer = "[groups.h]\nweight = 0\nplaces = 2\n" if nested else ""
    parent = 'parent = "h"\n' if nested else ""
    text = (
        '[scheme]\nid = "s"\ntitle = "s"\nmax = 10\n[inputs]\nx = {}\n'
        '[defaults]\nformula = "weight * x"\n'
        '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n'
        f"{outer}[groups.g]\nweight = 0\nplaces = 2\n{parent}"
        '[indicators.a]\nparent = "g"\nweight = 0\ncounted = false\n'
        "[indicators.b]\nweight = 10\n"
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="s.toml"))
    result = compiled.evaluate({"a": {"x": "50%"}, "b": {"x": "50%"}}, trace=trace)
    assert result.total == Decimal("5.00")
    assert result.scores["g"] is None
    assert result.scores["a"] == Decimal("0.00")


def test_a_trace_too_large_to_use_is_refused_at_the_row_that_crosses_the_limit(monkeypatch):
    from perfrules.engine import _json

    rows = "".join(
        f'[indicators.i{n}]\nweight = 1\nformula = "weight * min(big / (big + x), 1)"\n'
        for n in range(40)
    )
    text = (
        '[scheme]\nid = "b"\ntitle = "b"\nmax = 40\n[inputs.x]\n'
        '[formulas]\nbig = "(x + 1/3) ** 90"\n'  # a number of ~300 digits in every step
        f'[[bands]]\nlabel = "a"\nmin = 0\nmax = 40\n{rows}'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="big.toml"))
    result = compiled.evaluate({"shared": {"x": "7/3"}, "indicators": {}})
    full = len(result.trace.to_json())
    monkeypatch.setattr(_json, "MAX_TRACE_CHARS", full // 2)
    again = compiled.evaluate({"shared": {"x": "7/3"}, "indicators": {}})
    with pytest.raises(perfrules.FactsError) as caught:
        again.trace.to_json()
    (problem,) = caught.value.diagnostics
    assert problem.code == "PR504"
    assert problem.path[:1] == ("indicators",)


def _big_scheme(rows: int) -> str:
    body = "".join(
        f'[indicators.i{n}]\nweight = 1\nformula = "weight * min(big / (big + x), 1)"\n'
        for n in range(rows)
    )
    return (
        f'[scheme]\nid = "b"\ntitle = "b"\nmax = {rows}\n[inputs.x]\n'
        '[formulas]\nbig = "(x + 1/3) ** 100"\n'  # ~4,000-bit numbers in every step
        f'[[bands]]\nlabel = "a"\nmin = 0\nmax = {rows}\n{body}'
    )


def test_a_scheme_whose_trace_could_outgrow_the_limit_is_refused_when_checked():
    # 500 such rows wrote 315 MB of trace JSON (2 GB of memory) for each unit, and every
    # unit of a batch did it again; now the rule file is refused, located, in milliseconds.
    perfrules.loads_scheme(_big_scheme(100), name="big.toml")  # 12 MB at most: accepted
    with pytest.raises(perfrules.RuleFileError) as caught:
        perfrules.loads_scheme(_big_scheme(600), name="big.toml")
    (problem,) = caught.value.diagnostics
    assert problem.code == "PR235"
    assert problem.path[:1] == ("indicators",)
    assert problem.path[-1] == "formula"
    assert problem.line > 0
    assert "64 Mi" in problem.message("en")


EXTREMES = [
    Fraction(10**30 - 1),
    -Fraction(10**30 - 1),
    Fraction(1, 10**30),
    Fraction(10**60 - 1, 10**30),
    Fraction(-123456789, 7),
]
SCOPE_TEXT = '[inputs]\nx = {}\ny = {}\nz = {}\nflag = { type = "bool" }\n'


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=formulas(well_formed=True),
    values=st.lists(st.one_of(numbers(), st.sampled_from(EXTREMES)), min_size=3, max_size=3),
    flag=st.booleans(),
)
def test_a_trace_never_outgrows_the_bound_its_scheme_was_checked_against(text, values, flag):
    from perfrules.rules import checked
    from perfrules.rules._checks import trace_bound

    rule_file = (
        '[scheme]\nid = "b"\ntitle = "b"\nmax = 10\n[[bands]]\nlabel = "a"\nmin = 0\nmax = 10\n'
        f"{SCOPE_TEXT}[indicators.a]\nweight = 10\nclamp = true\nformula = {json.dumps(text)}\n"
    )
    try:
        scheme = perfrules.loads_scheme(rule_file, name="bound.toml")
    except perfrules.RuleFileError:
        return  # a condition, or a formula outside the limits
    shared = {name: str(value) for name, value in zip("xyz", values, strict=True)}
    try:
        result = perfrules.compile_scheme(scheme).evaluate({"shared": {**shared, "flag": flag}})
    except perfrules.FactsError:
        return  # division by zero, a number past 4,096 bits
    bound, _, _ = trace_bound(scheme, checked(scheme).result.expressions)
    written = len(result.trace.to_json())
    assert written <= bound, (text, shared)


def test_rule_file_text_never_appears_in_the_generated_explanation(seed_compiled):
    # The explanation is generated code too: ids, names, targets, formulas and input names
    # are bound as constants, never written into its source.
    from perfrules.engine._explain import explainers

    sources = {explainer.source for explainer, _ in explainers(seed_compiled.plan).values()}
    assert len(sources) == 2  # one per shape, as the scorer's functions
    scheme = seed_compiled.scheme
    texts = {*scheme.indicators, *scheme.formulas.values(), *scheme.inputs}
    for indicator in scheme.indicators.values():
        texts |= {indicator.name, indicator.target or ""}
    for source in sources:
        for text in texts - {""}:
            assert f"'{text}" not in source
            assert f'"{text}' not in source


def test_the_explanation_shows_each_number_as_the_scorer_read_it():
    # the traced record carries each number as read (pair and a Decimal's text), in the
    # order of the inputs read as numbers; a condition between them and a default taken
    # must not shift the next one's place
    text = (
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\n'
        '[inputs]\nx = {}\nflag = { type = "bool" }\ny = {}\nz = {}\n'
        "[indicators.a]\nweight = 10\nparams = { y = 0.5 }\n"
        'formula = "weight * min(x * y + z, 1) if flag else 0"\n'
        '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="t.toml"))
    cases = [
        ({"x": Decimal("0.40"), "flag": True, "z": "25%"}, ("0.40", "0.5", "25%")),
        (
            {"x": 2, "flag": True, "y": Decimal("0.125"), "z": Decimal("1E-2")},
            ("2", "0.125", "0.01"),
        ),
        ({"x": "80%", "flag": True, "y": 1, "z": 0}, ("80%", "1", "0")),
    ]
    for facts, texts in cases:
        result = compiled.evaluate({"a": facts})
        assert result._source.out[1][0].__class__ is tuple  # scored the plain way
        node = result.trace.root.find("a")
        shown = {i.name: i for i in node.inputs}
        assert (shown["x"].text, shown["y"].text, shown["z"].text) == texts
        for name in ("x", "y", "z"):
            assert shown[name].value == Fraction(Decimal(shown[name].text.rstrip("%"))) / (
                100 if shown[name].text.endswith("%") else 1
            )
        data = result.trace.to_dict()["root"]["children"][0]
        assert [data["inputs"][n]["text"] for n in ("x", "y", "z")] == list(texts)
        assert node.score == Fraction(str(result.scores["a"]))


def test_equal_rounded_scores_share_one_fraction_and_any_other_is_made_exactly():
    # A score rounded to the plan's places is one of a finite set (0 to weight × 100 over
    # 100): rows and groups share its Fraction across rows and units. A score past the
    # table (15.42 is entry 1,542 of a table of 1,001) or over other places (one) is made.
    rows = "".join(
        f'[indicators.r{i}]\nparent = "g"\nweight = 1\nformula = "weight * actual"\n'
        for i in range(10)
    )
    text = (
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 35\n[rounding]\nindicator = 2\n'
        "[inputs]\nactual = {}\n"
        "[groups.g]\nweight = 10\n[groups.solo]\nweight = 2\n[groups.wide]\nweight = 20\n"
        + rows
        + '[indicators.one]\nparent = "solo"\nweight = 2\nformula = "weight * actual"\n'
        + '[indicators.big]\nparent = "wide"\nweight = 20\nformula = "weight * actual"\n'
        + '[indicators.tenths]\nweight = 3\nplaces = 1\nformula = "weight * actual"\n'
        + '[[bands]]\nlabel = "A"\nmin = 0\nmax = 35\n'
    )
    compiled = perfrules.compile_scheme(perfrules.loads_scheme(text, name="t.toml"))
    units = [
        {
            **{f"r{i}": {"actual": Decimal(f"0.5{k}{i}")} for i in range(10)},
            "one": {"actual": Decimal("0.25")},
            "big": {"actual": Decimal(f"0.77{k}")},
            "tenths": {"actual": Decimal(f"0.4{k}")},
        }
        for k in range(1, 4)
    ]
    big = iter([Fraction("15.42"), Fraction("15.44"), Fraction("15.46")])
    tenths = iter([Fraction("1.2"), Fraction("1.3"), Fraction("1.3")])
    shared: dict[Fraction, set[int]] = {}
    for unit in units:
        result = compiled.evaluate(unit)
        assert result._source._plain()  # the generated builders, not the general path
        for node in result.trace.root.walk():
            if node.kind == "scheme":
                continue
            want = Fraction(str(result.scores[node.id]))
            assert node.score == want, node.id
            assert (node.score.numerator, node.score.denominator) == (
                want.numerator,
                want.denominator,
            )
            if node.roundings:
                assert node.roundings[0].after is node.score
            if node.id.startswith("r") or node.id in ("one", "solo"):
                shared.setdefault(node.score, set()).add(id(node.score))
        found = result.trace.root.find
        assert (found("big").score, found("tenths").score) == (next(big), next(tenths))
        assert found("wide").score == found("big").score
        assert 5 < found("g").score < 6
    # thirty rows score 0.51 to 0.54, a row and its group of one 0.50, the groups of ten
    # 5.xx: one object for each value, in every unit
    assert Fraction(1, 2) in shared
    assert {Fraction(n, 100) for n in (51, 52, 53, 54)} <= set(shared)
    assert all(len(ids) == 1 for ids in shared.values())
    # a group's sum (5.xx over 100) too: two evaluations, one object
    first, again = (compiled.evaluate(units[0]).trace.root.find("g") for _ in range(2))
    assert first.score is again.score
