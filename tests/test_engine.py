"""Scoring: the seed reproduced, policies for missing and N/A facts, overrides, errors."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

import perfrules
from perfrules.engine._plan import content_hash
from perfrules.errors import FactsError, RuleFileError
from perfrules.trace import NodeTrace

SEED_SCORES = {
    "数量-平安建设": "4.8",
    "数量-三零创建": "4.8",
    "数量-综治中心": "5.1",
    "数量-法学会": "5.1",
    "数量-市域治理": "5.4",
    "质量-平安建设": "5.4",
    "质量-三零创建": "5.4",
    "质量-综治中心": "5.4",
    "质量-法学会": "5.4",
    "质量-市域治理": "4.77",
    "时效-平安建设": "5.7",
    "时效-三零创建": "5.64",
    "时效-综治中心": "5.64",
    "时效-法学会": "5.7",
    "时效-市域治理": "5.7",
    "社会效益-履职效果": "4.65",
    "群众满意度": "4.65",
}


class TestSeed:
    def test_total_grade_and_every_published_row(self, seed_result):
        assert seed_result.total == Decimal("89.25")
        assert seed_result.grade.label == "良好"
        leaves = list(seed_result.trace.root.leaves())
        assert len(leaves) == 17
        for leaf in leaves:
            assert Decimal(seed_result.scores[leaf.id]) == Decimal(SEED_SCORES[leaf.id]), leaf.id

    def test_subtotals_match_the_report(self, seed_result):
        assert seed_result.scores["数量"] == Decimal("25.20")
        assert seed_result.scores["质量"] == Decimal("26.37")
        assert seed_result.scores["时效"] == Decimal("28.38")

    def test_gap_to_the_next_band(self, seed_result):
        gap = seed_result.trace.gap
        assert (gap.label, gap.shortfall) == ("优秀", Fraction(3, 4))

    def test_the_477_row_is_explained(self, seed_result):
        node = seed_result.trace.root.find("质量-市域治理")
        assert [str(s) for s in node.steps][:3] == [
            "actual / target = 70 / 88 = 0.795454…",
            "min(actual / target, 1) = min(0.795454…, 1) = 0.795454…",
            "weight * min(actual / target, 1) = 6 * 0.795454… = 4.772727…",
        ]
        (rounding,) = node.roundings
        assert (rounding.before, rounding.after) == (Fraction(105, 22), Fraction(477, 100))
        assert node.actual == "70项任务完成率达70%。"

    def test_json_contract(self, seed_result):
        document = json.loads(seed_result.trace.to_json())
        assert document["format"] == "perfrules.trace/1"
        assert document["total"] == "89.25"
        assert document["grade"]["label"] == "良好"
        assert document["grade"]["min"] == "80"
        assert document["gap"] == {
            "next": "优秀",
            "min": "90",
            "shortfall": "0.75",
            "improve": [{"id": "质量-市域治理", "lost": "1.23"}],
        }
        provenance = document["provenance"]
        assert provenance["scheme"]["id"] == "xinzhou-zfw-2021"
        assert len(provenance["scheme"]["sha256"]) == 64
        assert len(provenance["facts"]["sha256"]) == 64
        leaf = document["root"]["children"][0]["children"][1]["children"][4]
        assert leaf["id"] == "质量-市域治理"
        assert set(leaf) >= {
            "id",
            "name",
            "weight",
            "score",
            "children",
            "formula",
            "inputs",
            "steps",
            "roundings",
            "notes",
        }
        assert leaf["score"] == "4.77"
        assert leaf["roundings"] == [
            {
                "places": 2,
                "mode": "half_up",
                "before": "4.772727272727272727272727273",
                "after": "4.77",
                "before_exact": "105/22",
            }
        ]
        assert leaf["steps"][0] == {
            "expr": "actual / target",
            "with": "70 / 88",
            "value": "0.7954545454545454545454545455",
            "exact": "35/44",
        }

    def test_identical_inputs_give_identical_bytes(self, seed_compiled, seed_facts_path):
        first = seed_compiled.evaluate(perfrules.load_facts(seed_facts_path)).trace.to_json()
        again = perfrules.compile_scheme(
            perfrules.load_scheme(seed_compiled.plan.scheme._source.main)
        ).evaluate(perfrules.load_facts(seed_facts_path))
        assert again.trace.to_json() == first

    def test_provenance_never_carries_an_absolute_path(self, seed_scheme_path, seed_facts_path):
        compiled = perfrules.compile_scheme(perfrules.load_scheme(seed_scheme_path.resolve()))
        trace = compiled.evaluate(perfrules.load_facts(seed_facts_path.resolve())).trace
        provenance = json.loads(trace.to_json())["provenance"]
        assert [f["path"] for f in provenance["files"]] == ["scheme.toml"]
        assert provenance["facts"]["path"] == "facts.toml"

    def test_threads_share_one_compiled_scheme(self, seed_compiled, seed_facts_path):
        facts = perfrules.load_facts(seed_facts_path)
        results: list[str] = []

        def work():
            for _ in range(20):
                results.append(seed_compiled.evaluate(facts).trace.to_json())

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 160
        assert len(set(results)) == 1

    def test_trace_can_be_skipped(self, seed_compiled, seed_facts_path):
        result = seed_compiled.evaluate(perfrules.load_facts(seed_facts_path), trace=False)
        assert result.trace is None
        assert result.total == Decimal("89.25")


def scheme_text(**overrides: str) -> str:
    indicator_extra = overrides.get("extra", "")
    defaults = overrides.get("defaults", "")
    rounding = overrides.get("rounding", "")
    return f"""
[scheme]
id = "t"
title = "t"
max = 10

{rounding}

[defaults]
formula = "weight * x"
{defaults}

[[bands]]
label = "A"
min = 5
max = 10

[[bands]]
label = "B"
min = 0
max = 5

[inputs]
x = {{}}
target = {{}}
q = {{ type = "level", scale = "mof" }}
ok = {{ type = "bool" }}

[scales.mof]
levels = [
  {{ label = "达成", min = 0.8, max = 1, default = 1 }},
  {{ label = "部分达成", min = 0.6, max = 0.8, default = 0.7 }},
  {{ label = "未达成", min = 0, max = 0.6 }},
]

[indicators.a]
weight = 6
{indicator_extra}

[indicators.b]
weight = 4
"""


def compiled_from(tmp_path: Path, **overrides: str):
    path = tmp_path / "scheme.toml"
    path.write_text(scheme_text(**overrides), encoding="utf-8")
    return perfrules.compile_scheme(perfrules.load_scheme(path))


class TestPolicies:
    def test_missing_fact_is_an_error_by_default(self, tmp_path):
        compiled = compiled_from(tmp_path)
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"b": {"x": "50%"}})
        (diagnostic,) = info.value.diagnostics
        assert diagnostic.code == "PR401"
        assert diagnostic.params == {"indicator": "a", "fact": "x"}

    @pytest.mark.parametrize(
        ("policy", "total", "status"),
        [("zero", "2.00", "zero"), ("full", "8.00", "full"), ("exclude", "5.00", "excluded")],
    )
    def test_missing_policies(self, tmp_path, policy, total, status):
        compiled = compiled_from(tmp_path, extra=f'missing = "{policy}"')
        result = compiled.evaluate({"b": {"x": "50%"}})
        assert str(result.total) == total
        assert result.trace.root.find("a").status == status

    def test_not_applicable_is_excluded_and_the_total_renormalised(self, tmp_path):
        compiled = compiled_from(tmp_path)
        result = compiled.evaluate({"a": {"x": "N/A"}, "b": {"x": "50%"}})
        # b scores 2 of 4 applicable points → 2 / 4 × 10 = 5
        assert result.total == Decimal("5.00")
        assert result.scores["a"] is None
        assert result.trace.root.notes[0].kind == "renormalised"
        # the note renders in both languages, also in the JSON trace
        note = json.loads(result.trace.to_json())["root"]["notes"][0]
        assert note["en"] == "renormalised: 2 of 4 applicable points × 10/4"
        assert note["zh"] == "按适用指标折算：2 ÷ 4 × 10"

    def test_lost_points_weigh_more_when_rows_are_excluded(self, tmp_path):
        compiled = compiled_from(tmp_path)
        result = compiled.evaluate({"a": {"x": "N/A"}, "b": {"x": "25%"}})
        # b keeps 1 of 4 points; renormalised 1 / 4 × 10 = 2.5, so band A is 2.5 away
        gap = result.trace.gap
        assert (gap.label, gap.shortfall) == ("A", Fraction(5, 2))
        # the 3 points b lost count 3 × 10/4 = 7.5 on the renormalised total
        assert gap.improve == (("b", Fraction(15, 2)),)

    @pytest.mark.parametrize("places", ['"none"', "2"])
    def test_a_row_left_out_is_left_out_of_its_sum_rounded_or_not(self, tmp_path, places):
        # An unrounded row that is not applicable is held as (None, 1), not None: the
        # scorer's "every row scored" shortcut must not take it for a score when its
        # group, left with no row, is summed with the others.
        path = tmp_path / "scheme.toml"
        path.write_text(
            '[scheme]\nid = "s"\ntitle = "s"\nmax = 10\n[inputs]\nx = {}\n'
            '[defaults]\nformula = "weight * x"\n'
            '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n'
            "[groups.g]\nweight = 6\nplaces = 2\n"
            f'[indicators.a]\nparent = "g"\nweight = 6\nplaces = {places}\n'
            "[indicators.b]\nweight = 4\n",
            encoding="utf-8",
        )
        compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
        result = compiled.evaluate({"a": {"x": "N/A"}, "b": {"x": "50%"}}, trace=False)
        assert result.total == Decimal("5.00")  # 2 of 4 applicable points × 10/4
        assert result.scores["a"] is None
        assert result.scores["g"] is None
        whole = compiled.evaluate({"a": {"x": "50%"}, "b": {"x": "50%"}}, trace=False)
        assert whole.total == Decimal("5.00")

    def test_not_applicable_can_be_forbidden(self, tmp_path):
        compiled = compiled_from(tmp_path, extra='na = "error"')
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"a": {"na": "no such work this year"}, "b": {"x": 1}})
        assert [d.code for d in info.value.diagnostics] == ["PR411"]

    def test_override_needs_a_reason(self, tmp_path):
        compiled = compiled_from(tmp_path)
        ok = compiled.evaluate(
            {
                "a": {"x": 1, "override": {"score": "5.4", "reason": "目标设定偏低，适度调减"}},
                "b": {"x": 1},
            }
        )
        assert ok.scores["a"] == Decimal("5.40")
        note = ok.trace.root.find("a").notes[0]
        assert note.kind == "override"
        assert note.params["computed"] == "6"
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"a": {"x": 1, "override": {"score": 5}}, "b": {"x": 1}})
        assert [d.code for d in info.value.diagnostics] == ["PR407"]

    def test_score_above_weight_is_an_error_unless_clamped(self, tmp_path):
        compiled = compiled_from(tmp_path)
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"a": {"x": "120%"}, "b": {"x": 1}})
        assert [d.code for d in info.value.diagnostics] == ["PR501"]
        clamped = compiled_from(tmp_path, extra="clamp = true").evaluate(
            {"a": {"x": "120%"}, "b": {"x": 1}}
        )
        assert clamped.scores["a"] == Decimal("6.00")

    @pytest.mark.parametrize(
        ("x", "said", "hint"),
        [
            ("380/300", "'a' scored 7.6, outside [0, 6]", "min(..., weight)"),
            ("19/9", "'a' scored 12.666666…, outside [0, 6]", "min(..., weight)"),
            ("-1/7", "'a' scored -0.857142…, outside [0, 6]", "max(..., 0)"),
        ],
    )
    def test_a_score_outside_its_weight_is_said_short_with_the_way_back(
        self, tmp_path, x, said, hint
    ):
        compiled = compiled_from(tmp_path)
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"a": {"x": x}, "b": {"x": 1}})
        (problem,) = info.value.diagnostics
        assert problem.message("en") == said
        assert hint in (problem.hint_text("en") or "")

    def test_qualitative_levels(self, tmp_path):
        compiled = compiled_from(tmp_path, extra='formula = "weight * q"')
        result = compiled.evaluate({"a": {"q": "部分达成"}, "b": {"x": 1}})
        assert result.scores["a"] == Decimal("4.20")
        chosen = compiled.evaluate(
            {"a": {"q": {"level": "部分达成", "share": "65%"}}, "b": {"x": 1}}
        )
        assert chosen.scores["a"] == Decimal("3.90")
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"a": {"q": {"level": "部分达成", "share": "90%"}}, "b": {"x": 1}})
        assert [d.code for d in info.value.diagnostics] == ["PR406"]
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"a": {"q": "优秀"}, "b": {"x": 1}})
        assert [d.code for d in info.value.diagnostics] == ["PR405"]

    def test_rounding_order_is_declared(self, tmp_path):
        facts = {"a": {"x": "0.1235"}, "b": {"x": "0.1235"}}
        rows_first = compiled_from(tmp_path).evaluate(facts)
        assert rows_first.scores["a"] == Decimal("0.74")  # 0.741 → 0.74
        assert rows_first.total == Decimal("1.23")  # 0.74 + 0.49
        sum_first = compiled_from(
            tmp_path, rounding='[rounding]\nindicator = "none"\ntotal = 2'
        ).evaluate(facts)
        assert sum_first.total == Decimal("1.24")  # 1.235 → 1.24


class TestFactsErrors:
    def test_five_bad_values_are_all_reported_with_their_lines(self, tmp_path, seed_compiled):
        facts = tmp_path / "facts.toml"
        facts.write_text(
            "\n".join(
                [
                    "[indicators]",
                    '"数量-平安建设" = { actual = "eighty" }',
                    '"数量-三零创建" = { actual = true }',
                    '"数量-综治中心" = { actaul = "85%" }',
                    '"数量-法学会" = { actual = "85%" }',
                    '"数量-市域治理" = { actual = 0.9e400 }',
                    '"不存在" = { actual = "1" }',
                ]
            ),
            encoding="utf-8",
        )
        with pytest.raises(FactsError) as info:
            seed_compiled.evaluate(perfrules.load_facts(facts))
        found = {(d.code, d.line) for d in info.value.diagnostics}
        assert ("PR402", 2) in found
        assert ("PR402", 3) in found
        assert ("PR404", 4) in found
        assert ("PR402", 6) in found
        assert ("PR403", 7) in found
        assert all(d.file == str(facts) for d in info.value.diagnostics)

    def test_floats_are_refused_with_a_hint(self, seed_compiled):
        with pytest.raises(FactsError) as info:
            seed_compiled.evaluate({"群众满意度": {"actual": 0.93}})
        assert "PR409" in [d.code for d in info.value.diagnostics]

    @pytest.mark.parametrize("formula", ["weight * ratio(x, y)", "weight * min(x / y, 1)"])
    def test_a_rule_file_constant_divisor_of_0_is_refused_when_read(self, tmp_path, formula):
        # No unit could be scored, and each would be told its facts divide by zero.
        with pytest.raises(RuleFileError) as info:
            compiled_from(tmp_path, extra=f'formula = "{formula}"\nparams = {{ y = 0 }}')
        (diagnostic,) = [d for d in info.value.diagnostics if d.severity == "error"]
        assert diagnostic.code == "PR240"
        assert diagnostic.path == ("indicators", "a", "params", "y")
        assert (diagnostic.line, diagnostic.column) == (39, 12)  # at the 0's key
        assert diagnostic.hint == "divisor_zero"
        assert formula in diagnostic.format("en")

    @pytest.mark.parametrize(
        ("formula", "score"),
        [
            ("weight * (x / y if y != 0 else 1)", "6.00"),
            ("weight if y == 0 or x / y > 1 else 0", "6.00"),
            ("weight * ratio(x, y) if y > 0 else weight", "6.00"),
        ],
    )
    def test_a_division_the_formula_guards_is_not_refused(self, tmp_path, formula, score):
        # Computed only when y is not 0: the rule file's 0 never divides.
        compiled = compiled_from(tmp_path, extra=f'formula = "{formula}"\nparams = {{ y = 0 }}')
        result = compiled.evaluate({"a": {"x": 1}, "b": {"x": 1}})
        assert str(result.scores["a"]) == score

    def test_a_divisor_of_0_in_weight_or_an_input_s_default(self, tmp_path):
        path = tmp_path / "scheme.toml"
        text = scheme_text(extra='formula = "x / weight"')
        path.write_text(text.replace("weight = 6", "weight = 0", 1), encoding="utf-8")
        _, _, diagnostics = perfrules.check_path(path)
        assert [(d.code, d.path) for d in diagnostics if d.code == "PR240"] == [
            ("PR240", ("indicators", "a", "weight"))
        ]
        # a declared input's params value is a default a unit may replace: a warning, and a
        # unit that does not replace it fails at its facts, told where the 0 came from
        extra = 'formula = "weight * ratio(x, target)"\nparams = { target = 0 }'
        path.write_text(scheme_text(extra=extra), encoding="utf-8")
        _, _, diagnostics = perfrules.check_path(path)
        assert [(d.code, d.severity) for d in diagnostics] == [("PR241", "warning")]
        compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
        given = compiled.evaluate({"a": {"x": 1, "target": 2}, "b": {"x": 1}})
        assert given.scores["a"] == Decimal("3.00")
        with pytest.raises(FactsError) as info:
            compiled.evaluate({"a": {"x": 1}, "b": {"x": 1}})
        (diagnostic,) = info.value.diagnostics
        assert diagnostic.code == "PR316"
        assert diagnostic.path == ("indicators", "a")  # the default is the rule file's
        assert diagnostic.hint == "divides_by_param"
        assert "give the unit its own target, or correct params" in diagnostic.format("en")

    @pytest.mark.parametrize(
        ("facts", "path"),
        [
            ({"a": {"x": 1, "target": 0}, "b": {"x": 1}}, ("indicators", "a", "target")),
            (
                {"shared": {"target": 0}, "indicators": {"a": {"x": 1}, "b": {"x": 1}}},
                ("shared", "target"),
            ),
        ],
    )
    def test_a_fact_divided_by_is_where_a_division_by_zero_is_placed(self, tmp_path, facts, path):
        # The fact that is 0 is what to correct: the problem is placed at it (its line in a
        # facts file, its cell in a table), the indicator's own or a shared one.
        compiled = compiled_from(tmp_path, extra='formula = "weight * min(x / target, 1)"')
        with pytest.raises(FactsError) as info:
            compiled.evaluate(facts)
        (diagnostic,) = info.value.diagnostics
        assert diagnostic.code == "PR316"
        assert diagnostic.path == path
        assert diagnostic.params["expr"] == "target"
        # several formulas may divide by one shared fact: each problem says whose it is
        assert diagnostic.hint_text("en") == (
            "the formula of 'a' divides by it: weight * min(x / target, 1)"
        )

    def test_shared_facts_and_target_text(self, tmp_path):
        compiled = compiled_from(
            tmp_path, extra='formula = "weight * min(x / target, 1)"\ntarget = "≥90%"'
        )
        result = compiled.evaluate({"shared": {"x": "45%"}, "indicators": {}})
        assert result.scores["a"] == Decimal("3.00")  # 6 × 0.45/0.9
        sources = {i.name: i.source for i in result.trace.root.find("a").inputs}
        assert sources == {"weight": "weight", "x": "shared", "target": "target"}


def test_gap_agrees_with_the_trace_when_rows_are_excluded(tmp_path):
    # One row not applicable, another at 10 %: both say "raise b, 9 points" (3.6 x 10/4).
    import pickle

    compiled = compiled_from(tmp_path)
    result = compiled.evaluate({"a": {"x": "N/A"}, "b": {"x": "10%"}})
    assert result.trace.gap.improve == (("b", Fraction(9)),)
    assert compiled.gap(result) == result.trace.gap
    untraced = compiled.evaluate({"a": {"x": "N/A"}, "b": {"x": "10%"}}, trace=False)
    assert compiled.gap(untraced) == result.trace.gap
    from_a_worker = pickle.loads(pickle.dumps(untraced))  # noqa: S301 - our own bytes
    assert compiled.gap(from_a_worker) == result.trace.gap


def test_a_missing_indicator_is_not_placed_at_another_ones_header(tmp_path):
    import re

    pack = Path(__file__).resolve().parent.parent / "rules" / "cn" / "mof-2020-project-self-eval"
    text = (pack / "facts-example.toml").read_text(encoding="utf-8")
    path = tmp_path / "facts.toml"
    path.write_text(re.sub(r'\[indicators\."数量-2"\][^\[]*', "", text), encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(pack / "scheme.toml"))
    with pytest.raises(FactsError) as info:
        compiled.evaluate(perfrules.load_facts(path))
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.code, diagnostic.params["indicator"], diagnostic.line) == (
        "PR401",
        "数量-2",
        0,
    )


def test_rows_keep_their_rule_file_order_when_groups_and_indicators_are_siblings(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text(
        '[scheme]\nid = "m"\ntitle = "m"\nmax = 3\n[inputs.x]\n'
        '[[bands]]\nlabel = "a"\nmin = 0\nmax = 3\n'
        '[indicators.first]\nweight = 1\nformula = "weight"\n'
        "[groups.middle]\nweight = 1\n"
        '[indicators.inside]\nparent = "middle"\nweight = 1\nformula = "weight"\n'
        '[indicators.last]\nweight = 1\nformula = "weight"\n',
        encoding="utf-8",
    )
    plan = perfrules.compile_scheme(perfrules.load_scheme(path)).plan
    assert [plan.nodes[i].id for i in plan.nodes[0].shown] == ["first", "middle", "last"]


def test_positions_are_found_only_when_something_needs_them(tmp_path, seed_scheme_path):
    # Scanning a rule file for positions is a third of reading a large one: a scheme that
    # loads cleanly and scores without a trace never scans; the first trace does, once.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(seed_scheme_path))
    (source_map,) = compiled.scheme._source.maps.values()
    facts = perfrules.load_facts(seed_scheme_path.parent / "facts.toml")
    assert str(compiled.evaluate(facts, trace=False).total) == "89.25"
    assert source_map._keys is None
    assert "sha256" not in compiled.plan.cache
    document = json.loads(compiled.evaluate(facts).trace.to_json())
    assert source_map._keys is not None
    weight = document["root"]["children"][0]["sources"][0]
    line = int(weight["at"].rsplit(":", 1)[1])
    group = document["root"]["children"][0]["id"]
    text = seed_scheme_path.read_text(encoding="utf-8").split("\n")
    assert text[line - 1].startswith("weight")
    assert any(f'[groups."{group}"]' in row or f"[groups.{group}]" in row for row in text[:line])
    assert document["provenance"]["scheme"]["sha256"] == content_hash(compiled.scheme)


def test_walk_is_pre_order_however_deep_the_tree():
    # a tree deeper than the walk's own recursion goes (and than Python's stack allows)
    def node(ident, children=()):
        return NodeTrace(ident, "", "group", 0, Fraction(1), None, None, "scored", children)

    root = node("leaf")
    for level in range(3000):
        root = node(f"g{level}", (node(f"a{level}"), root, node(f"z{level}")))

    def reference(top):
        stack = [top]
        while stack:
            current = stack.pop()
            yield current.id
            stack.extend(current.children[::-1])

    assert [n.id for n in root.walk()] == list(reference(root))
    assert root.find("leaf") is not None
    assert [n.id for n in root.leaves()] == []  # every node here is a group
