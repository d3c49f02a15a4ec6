"""What an application embedding perfrules may hand it by mistake: each is a located error.

None where a unit was meant, keys that are not text, numpy's scalars, a body that never
arrived: never a traceback, never a file read from the server's folder, never a wrong number.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import perfrules
from perfrules.rules._locate import locate_json


def _ids(compiled: perfrules.CompiledScheme) -> list[str]:
    return list(compiled.scheme.indicators)


def test_keys_that_are_not_text_are_written_in_the_json_of_the_error(seed_compiled):
    facts = {"indicators": {(1, 2): {"actual": "90%"}, None: {}, 1.5: {}}}
    with pytest.raises(perfrules.FactsError) as caught:
        seed_compiled.evaluate(facts)
    problems = json.loads(caught.value.to_json("en"))
    unknown = {p["key"] for p in problems if p["code"] == "PR403"}
    assert unknown == {'indicators."(1, 2)"', "indicators.None", 'indicators."1.5"'}


@pytest.mark.parametrize("unit", [None, 5, [1, 2], "the indicators", {"indicators": [1]}])
def test_a_unit_that_is_not_a_table_is_pr410_alone_and_the_others_still_score(seed_compiled, unit):
    good = {i: {"actual": "90%"} for i in _ids(seed_compiled)}
    first, second, third = seed_compiled.evaluate_many([good, unit, good])
    assert first.total == third.total == Decimal("84.66")
    assert isinstance(second, perfrules.FactsError)
    assert [d.code for d in second.diagnostics] == ["PR410"]  # not every fact "missing" too


def _bid(name: str, bid: str) -> dict[str, object]:
    return {
        "unit": name,
        "shared": {"lot": "1", "bid": bid, "valid": True},
        "indicators": {"技术": {"marks": "40"}, "商务": {"marks": "15"}},
    }


def test_a_cohort_with_a_unit_that_is_not_a_table_scores_and_ranks_the_others():
    compiled = perfrules.compile_scheme(
        perfrules.load_pack("cn/procurement-comprehensive-scoring")
    )
    first, broken, second = compiled.evaluate_cohort(
        [_bid("甲", "950000"), None, _bid("乙", "1000000")]
    )
    assert [d.code for d in broken.diagnostics] == ["PR410"]
    assert (first.rank.position, second.rank.position) == (1, 2)
    assert first.total == Decimal("85.00")


def test_a_unit_that_is_not_a_table_among_units_scored_in_passes():
    compiled = perfrules.compile_scheme(perfrules.load_pack("examples/best-is-100"))
    units = [
        {"unit": "A", "shared": {"economy": "80", "social": "70", "environment": "60"}},
        None,
        {"unit": "B", "shared": {"economy": "90", "social": "60", "environment": "75"}},
    ]
    first, broken, second = compiled.evaluate_cohort(units)
    assert [d.code for d in broken.diagnostics] == ["PR410"]
    assert (first.total, second.total) == (Decimal("92.8"), Decimal("100.0"))


@pytest.mark.parametrize("body", [None, 5, {"indicators": {}}])
def test_text_that_never_arrived_is_a_type_error_and_no_file_of_the_server_is_read(
    tmp_path, monkeypatch, body
):
    monkeypatch.chdir(tmp_path)  # a server's folder holding files of the names used
    for name in ("facts.json", "facts.toml", "facts.csv", "mine.toml"):
        (tmp_path / name).write_text("secret = 1\n", "utf-8")
    for fmt in ("json", "toml", "csv"):
        with pytest.raises(TypeError, match="expected text or bytes"):
            perfrules.loads_facts(body, format=fmt)
    with pytest.raises(TypeError, match="expected text or bytes"):
        perfrules.loads_scheme(body, name="mine.toml")


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (
            "rules/examples/xinzhou-zfw-2021/scheme.toml",
            "not str: read it with perfrules.load_scheme",
        ),
        (None, "not NoneType"),
        ({"scheme": {}}, "not dict"),
    ],
)
def test_compiling_what_is_not_a_scheme_says_what_to_pass(given, words):
    with pytest.raises(TypeError, match="expected a Scheme") as caught:
        perfrules.compile_scheme(given)
    assert words in str(caught.value)


def test_numpy_integers_are_integers(seed_compiled):
    np = pytest.importorskip("numpy")
    ids = _ids(seed_compiled)
    plain = seed_compiled.evaluate({i: {"actual": 70} for i in ids})
    numpy = seed_compiled.evaluate({i: {"actual": np.int64(70)} for i in ids})
    assert numpy.total == plain.total
    assert numpy.trace.to_json() == plain.trace.to_json()
    assert perfrules.safe_eval("x / 8", {"x": np.int32(7)}) == Fraction(7, 8)


def test_numpy_floats_and_bools_are_still_refused(seed_compiled):
    np = pytest.importorskip("numpy")
    ids = _ids(seed_compiled)
    for value, code in ((np.float64(70), "PR409"), (np.bool_(True), "PR402")):
        with pytest.raises(perfrules.FactsError) as caught:
            seed_compiled.evaluate({i: {"actual": value} for i in ids})
        assert {d.code for d in caught.value.diagnostics} == {code}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (10**40, "below 10^30"),
        ("1" + "0" * 5000, "below 10^30"),
        ("0." + "1" * 40, "at most 30"),
        (Decimal("1E-40"), "at most 30 decimal places"),
        ("1/0", "divides by 0"),
        (Decimal("NaN"), "not a number"),
        (Decimal("-Infinity"), "not a number"),
        ([70], "list"),
        (None, "NoneType"),
    ],
)
def test_a_number_refused_says_why(seed_compiled, value, words):
    ids = _ids(seed_compiled)
    with pytest.raises(perfrules.FactsError) as caught:
        seed_compiled.evaluate({ids[0]: {"actual": value}} | {i: {"actual": 1} for i in ids[1:]})
    (problem,) = caught.value.diagnostics
    assert problem.code == "PR402"
    assert words in problem.hint_text("en")
    assert problem.hint_text("zh")
    assert len(problem.format("en")) < 300  # a 5,000-digit text is not repeated whole


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_a_json_body_is_located_and_not_called_a_float(seed_compiled, constant):
    ids = _ids(seed_compiled)
    rows = ",\n".join(f'"{i}": {{"actual": 1}}' for i in ids[1:])
    body = f'{{"indicators": {{\n"{ids[0]}": {{"actual": {constant}}},\n{rows}}}}}'
    facts = perfrules.loads_facts(body, format="json")
    with pytest.raises(perfrules.FactsError) as caught:
        seed_compiled.evaluate(facts)
    (problem,) = caught.value.diagnostics
    assert (problem.code, problem.line) == ("PR402", 2)
    assert "not a number a score can use" in problem.hint_text("en")


def test_problems_of_a_json_body_are_at_their_line_and_column(seed_compiled):
    body = (
        "{\n"
        '  "indicators": {\n'
        '    "\\u6570\\u91cf-\\u5e73\\u5b89\\u5efa\\u8bbe": {"actual": "0,9"},\n'
        '    "nosuch": {"actual": 1},\n'
        '    "数量-三零创建": [1, {"actul": 2}],\n'
        '    "数量-综治中心": {"actual": {"value": "1/0", "text": "\\"x\\""}}\n'
        "  }\n"
        "}\n"
    )
    with pytest.raises(perfrules.FactsError) as caught:
        seed_compiled.evaluate(perfrules.loads_facts(body.encode("utf-8-sig"), format="json"))
    located = {(d.code, d.key): (d.line, d.column) for d in caught.value.diagnostics if d.line}
    assert located == {
        ("PR402", 'indicators."数量-平安建设".actual'): (3, 47),  # the key, escapes decoded
        ("PR403", "indicators.nosuch"): (4, 5),
        ("PR410", 'indicators."数量-三零创建"'): (5, 5),
        ("PR401", 'indicators."数量-三零创建".actual'): (5, 5),
        ("PR402", 'indicators."数量-综治中心".actual'): (6, 17),
    }


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=4), _JSON, max_size=4), st.sampled_from([None, 0, 2]))
def test_every_member_of_any_json_document_is_located_at_its_key(document, indent):
    text = json.dumps(document, indent=indent, ensure_ascii=indent == 2)
    source_map = locate_json(text)
    pending: list[tuple[tuple[object, ...], object]] = [((), document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                line, column = source_map.keys[(*path, key)]
                row = text.split("\n")[line - 1]
                assert json.JSONDecoder().raw_decode(row, column - 1)[0] == key
                pending.append(((*path, key), item))
        elif isinstance(value, list):
            pending.extend(((*path, i), item) for i, item in enumerate(value))


def test_a_misspelt_top_level_key_of_plain_facts_is_pr101_not_ignored(seed_compiled):
    good = {i: {"actual": "90%"} for i in _ids(seed_compiled)}
    with pytest.raises(perfrules.FactsError) as caught:
        seed_compiled.evaluate({"indicators": good, "sharde": {"x": "1"}, "unit": "A"})
    (problem,) = caught.value.diagnostics
    assert (problem.code, problem.key) == ("PR101", "sharde")
    assert problem.hint_text("en") == "did you mean 'shared'?"
    # what a facts file may hold at the top, plain data may too
    form = {"indicators": good, "shared": {}, "unit": "A", "year": 2021, "form": {}}
    assert seed_compiled.evaluate(form).total == Decimal("84.66")


def test_a_misspelt_shared_table_cannot_leave_an_imputed_value_in_its_place():
    compiled = perfrules.compile_scheme(
        perfrules.load_pack("cn/procurement-comprehensive-scoring")
    )
    units = [_bid("甲", "950000"), _bid("乙", "1000000")]
    units[1]["Shared"] = units[1].pop("shared")
    first, second = compiled.evaluate_cohort(units)
    assert isinstance(second, perfrules.FactsError)
    assert "PR101" in {d.code for d in second.diagnostics}
    assert first.cohort.values[0].units == 1  # the misspelt unit is not among the values


def test_a_key_written_twice_in_a_json_body_is_refused_at_the_second(seed_compiled):
    body = '{"indicators": {\n  "a": {"actual": "90%"},\n  "b": {"actual": "1", "actual": "2"}}}'
    with pytest.raises(perfrules.FactsError) as caught:
        perfrules.loads_facts(body, format="json")
    (problem,) = caught.value.diagnostics
    assert (problem.code, problem.line, problem.column) == ("PR100", 3, 24)
    assert 'the key "actual" is written twice' in problem.message("en")
    assert '键 "actual" 重复出现' in problem.message("zh")
    # the same key in different objects is no repetition
    same = '{"indicators": {"a": {"actual": "1"}, "b": {"actual": "2"}}}'
    assert perfrules.loads_facts(same, format="json").indicators["b"]["actual"] == "2"


@pytest.mark.parametrize("table", [[1, 2], None, {"unit": ["a"]}, "units.csv"])
def test_score_table_given_no_table_says_what_it_takes(seed_compiled, table):
    with pytest.raises(TypeError) as caught:
        perfrules.score_table(seed_compiled, table)
    message = str(caught.value)
    assert "score_table takes a table of units" in message
    assert type(table).__name__ in message


def test_a_misspelt_shared_fact_is_refused_as_the_batch_refuses_it(tmp_path):
    """``gpd`` for ``gdp`` would leave ``gdp`` to the missing policy: PR421, said at once."""
    scheme = perfrules.load_pack("examples/ranking-index")
    compiled = perfrules.compile_scheme(scheme)
    units = [
        {"unit": "A", "shared": {"gdp": "12", "green": "45%", "pm25": "30"}},
        {"unit": "B", "shared": {"gpd": "10", "gdp": "10", "green": "50%", "pm25": "25"}},
    ]
    a, b = compiled.evaluate_cohort(units)
    assert isinstance(a, perfrules.Result)
    assert isinstance(b, perfrules.FactsError)
    [problem] = [d for d in b.diagnostics if d.code == "PR421"]
    assert problem.path == ("shared", "gpd")
    assert "did you mean 'gdp'?" in problem.format("en")
    # one unit's facts file: at the line of the key
    facts = tmp_path / "unit.toml"
    facts.write_text(
        '[shared]\ngdp = "12"\ngreen = "45%"\npm25 = "30"\npm2_5 = "31"\n', encoding="utf-8"
    )
    cohort = compiled.cohort_values([units[0]])
    with pytest.raises(perfrules.FactsError) as caught:
        compiled.evaluate(perfrules.load_facts(facts), cohort=cohort)
    [problem] = [d for d in caught.value.diagnostics if d.code == "PR421"]
    assert (problem.line, problem.column) == (5, 1)
    assert "'pm2_5'" in problem.message("en")
