"""Property-test failures in the language asked for: `perfrules test --properties --lang zh`."""

from __future__ import annotations

import ast
import json
import re
import shutil
import tomllib
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from conftest import ROOT, SEED
from perfrules._messages import UI, template_fields, ui
from perfrules.cli import cli
from perfrules.testing import (
    InvariantError,
    Violation,
    check_scheme,
    cohort_violations,
    unit_violations,
)
from test_cohort import INDEX
from test_testing import GOOD

INVARIANTS = ROOT / "src" / "perfrules" / "workflows" / "_invariants.py"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _english_phrases() -> set[str]:
    """The words of every English invariant text, between the values it names."""
    phrases = set()
    for key, (en, _) in UI.items():
        if key.startswith("invariant."):
            for part in re.split(r"\{[^}]*\}", en):
                words = part.strip(" :,()")
                if " " in words and re.search(r"[a-z]{3}", words):
                    phrases.add(words)
    return phrases


def _no_english(text: str) -> None:
    found = [p for p in _english_phrases() if p in text]
    assert found == [], found


# --- the command line ------------------------------------------------------------------


def _defect_pack(tmp_path: Path) -> Path:
    """The seed with a formula that can give more than its weight."""
    pack = tmp_path / "pack"
    shutil.copytree(SEED, pack)
    scheme = pack / "scheme.toml"
    text = scheme.read_text("utf-8")
    broken = text.replace('"weight * min(actual, 1)"', '"weight * actual"', 1)
    assert broken != text
    scheme.write_text(broken, "utf-8")
    return pack


def _run(tmp_path: Path, pack: Path, *args: str):
    env = {"NO_COLOR": "1", "COLUMNS": "200", "PERFRULES_CACHE_DIR": str(tmp_path / "cache")}
    return CliRunner().invoke(
        cli, ["test", str(pack), "--properties", "--examples", "100", *args], env=env
    )


def test_a_failed_property_is_told_in_chinese(tmp_path):
    result = _run(tmp_path, _defect_pack(tmp_path), "--lang", "zh")
    assert result.exit_code == 1
    out = result.output
    assert "性质测试" in out
    assert "反例（事实文件）：" in out
    assert "counterexample" not in out
    violations = [line for line in out.splitlines() if line.startswith("[")]
    assert violations
    assert all(CHINESE.search(line) for line in violations)
    _no_english(out)
    # the diagnostics a violation names are in Chinese too (PR501: a score beyond its weight)
    assert "scored" not in out
    assert "outside" not in out
    # the counterexample is still a facts file
    facts = out.split("反例（事实文件）：\n", 1)[1].split("\n用例：", 1)[0]
    assert tomllib.loads(facts)["indicators"]


def test_the_json_keeps_english_failures_and_adds_chinese_messages(tmp_path):
    result = _run(tmp_path, _defect_pack(tmp_path), "--lang", "zh", "--format", "json")
    assert result.exit_code == 1
    [outcome] = [e["properties"] for e in json.loads(result.output) if "properties" in e]
    assert outcome["passed"] is False
    assert len(outcome["messages"]) == len(outcome["failures"]) >= 1
    assert all(CHINESE.search(m) for m in outcome["messages"])
    _no_english("\n".join(outcome["messages"]))
    phrases = _english_phrases()
    assert all(any(p in failure for p in phrases) for failure in outcome["failures"])
    # the English text is as it was: the failures, then the counterexample facts file
    message = outcome["message"]
    assert message.startswith("\n".join(outcome["failures"]))
    assert message.split("counterexample facts:\n", 1)[1] == outcome["counterexample"]
    assert tomllib.loads(outcome["counterexample"])["indicators"]


def test_a_failed_property_in_english_is_as_before(tmp_path):
    pack = _defect_pack(tmp_path)
    # the same cache: the second run replays the failure the first found
    document = json.loads(_run(tmp_path, pack, "--lang", "en", "--format", "json").output)
    [outcome] = [e["properties"] for e in document if "properties" in e]
    assert outcome["messages"] == outcome["failures"]
    text = _run(tmp_path, pack, "--lang", "en")
    assert text.exit_code == 1
    assert outcome["message"] in text.output
    assert "counterexample facts:" in text.output
    assert "反例" not in text.output
    assert "无法计分" not in text.output


def test_a_scheme_that_holds_has_empty_failures(tmp_path):
    result = _run(tmp_path, SEED, "--lang", "zh", "--format", "json", "--examples", "5")
    assert result.exit_code == 0
    [outcome] = [e["properties"] for e in json.loads(result.output) if "properties" in e]
    assert outcome == {
        "passed": True,
        "examples": outcome["examples"],
        "message": "",
        "failures": [],
        "messages": [],
        "counterexample": None,
    }


# --- every violation can say itself in Chinese -------------------------------------------


def _calls() -> list[ast.Call]:
    tree = ast.parse(INVARIANTS.read_text("utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _keys(call: ast.Call) -> list[str]:
    """The text keys a ``Violation.of`` call names (an f-string's for each direction)."""
    key = call.args[2]
    if isinstance(key, ast.Constant):
        return [key.value]
    assert isinstance(key, ast.JoinedStr), ast.unparse(key)
    stem = "".join(v.value for v in key.values if isinstance(v, ast.Constant))
    return [stem + direction for direction in ("positive", "reverse")]


def _of_calls() -> list[ast.Call]:
    return [
        c
        for c in _calls()
        if isinstance(c.func, ast.Attribute)
        and c.func.attr == "of"
        and isinstance(c.func.value, ast.Name)
        and c.func.value.id == "Violation"
    ]


def test_every_violation_is_made_from_the_message_table():
    direct = [
        ast.unparse(c)
        for c in _calls()
        if isinstance(c.func, ast.Name) and c.func.id == "Violation"
    ]
    assert direct == []  # each goes through Violation.of, with a key of the table
    assert len(_of_calls()) >= 20


@pytest.mark.parametrize("call", _of_calls(), ids=lambda c: f"line{c.lineno}-{'/'.join(_keys(c))}")
def test_each_construction_site_says_itself_in_both_languages(call):
    params = {k.arg: "1" for k in call.keywords if k.arg is not None}
    for key in _keys(call):
        en, zh = UI[key]
        assert template_fields(en) <= set(params), key  # the site gives every value
        assert template_fields(zh) <= set(params), key
        said = Violation.of("bounds", "a", key, **params)
        assert said.message == ui(key, "en", **params)
        assert said.message_in("zh") == ui(key, "zh", **params)
        if key == "invariant.diagnostic":  # a diagnostic's own message, in either language
            assert [k.arg for k in call.keywords] == ["where", "problem"]
            continue
        assert CHINESE.search(zh), key
        assert said.message_in("zh") != said.message


def test_a_violation_says_itself_in_chinese_and_in_english_as_before():
    v = Violation.of("bounds", "a", "invariant.bounds", score=Fraction(36, 5), weight=6)
    assert str(v) == "[bounds] a: score 7.2 is outside [0, 6]"
    assert v.text("zh") == "[bounds] a: 得分 7.2 超出 [0, 6]"
    assert v == Violation("bounds", "a", "score 7.2 is outside [0, 6]")
    plain = Violation("scores", None, "a message of one's own")
    assert plain.text("zh") == "[scores] a message of one's own"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "invariant", "zh"),
    [
        ("weight = 40", "weight = 41", "weights", "一级指标权重合计为 101"),
        ("min = 60\nmax = 80", "min = 60\nmax = 80.5", "bands", "重叠"),
        ("indicator = 2\ntotal = 2", "indicator = 3\ntotal = 2", "double_rounding", "两次进位"),
    ],
)
def test_static_violations_in_chinese(tmp_path, old, new, invariant, zh):
    path = _write(tmp_path, GOOD.replace(old, new))
    violations = check_scheme(path)
    assert [v.invariant for v in violations] == [invariant]
    assert zh in violations[0].text("zh")
    _no_english(violations[0].text("zh"))
    assert violations[0].message_in("en") == violations[0].message


def test_unit_violations_in_chinese(tmp_path):
    exceeds = _write(
        tmp_path,
        GOOD.replace(
            'formula = "weight * ratio(actual, target)"', 'formula = "weight * actual / target"'
        ),
    )
    facts = {"a": {"actual": "150"}, "b": {"actual": "70"}, "c": {"actual": "0.5"}}
    [scores] = unit_violations(exceeds, facts)
    assert scores.invariant == "scores"
    assert scores.text("zh").startswith("[scores] 有效的事实无法计分：PR501 ")
    assert "outside" not in scores.text("zh")  # the diagnostic in Chinese too
    assert "outside" in str(scores)
    facts = {"a": {"actual": "100"}, "b": {"actual": "70"}, "c": {"actual": "0.5"}}
    [fails] = unit_violations(exceeds, facts)
    assert fails.text("zh").startswith("[monotonic] a: actual 从 100 提高到 110 后无法计分：PR501")
    assert "outside" not in fails.text("zh")
    reverse = _write(
        tmp_path,
        GOOD.replace(
            'formula = "weight * reverse_ratio(actual, target)"',
            'formula = "weight * ratio(actual, target)"',
        ),
    )
    [raised] = unit_violations(reverse, facts)
    assert raised.text("zh") == (
        "[monotonic] b: actual 从 70 提高到 77，反向指标的得分反而从 26.25 升到 28.88"
    )


def test_engine_slips_are_told_in_chinese(tmp_path, monkeypatch):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(_write(tmp_path, GOOD)))
    facts = {"a": {"actual": "100"}, "b": {"actual": "80"}, "c": {"actual": "1"}}
    evaluate = compiled.evaluate
    traced = 0

    def slipping(facts, *, trace=True, cohort=None):
        nonlocal traced
        result = evaluate(facts, trace=trace, cohort=cohort)
        traced += trace
        if not trace:  # the fast path a point lower
            total = result.total_exact - 1
            return perfrules.Result(result.total - 1, result.grade, {}, None, total, None)
        if traced == 2:  # the second traced run: no trace at all
            return perfrules.Result(result.total, result.grade, {}, None, result.total_exact, None)
        return result

    monkeypatch.setattr(compiled, "evaluate", slipping)
    worse = compiled.scheme.bands[1].label
    monkeypatch.setattr(compiled, "grade_for", lambda total: compiled.scheme.bands[1])
    said = {v.invariant: v.text("zh") for v in unit_violations(compiled, facts, monotonic=False)}
    assert said == {
        "grade": f"[grade] 总分 100 评为“优”，而其所在区间的等级为“{worse}”",
        "determinism": "[determinism] 相同的输入得出了不同的 JSON",
        "fast_path": (
            "[fast_path] 不记录计算过程时得 99.00，记录计算过程时得 100.00（evaluate(trace=False)）"
        ),
    }


def test_cohort_violations_in_chinese():
    units = [
        {"unit": n, "shared": {"gdp": g, "green": "1%", "pm25": "1"}}
        for n, g in [("a", "1"), ("b", "2")]
    ]
    compiled = perfrules.compile_scheme(perfrules.load_scheme(INDEX))
    results = compiled.evaluate_cohort(units)

    def plain(result, cohort):
        return perfrules.Result(
            result.total, result.grade, dict(result.scores), None, result.total_exact, cohort
        )

    first = results[0].cohort
    both_first = first._replace(rank=first.rank._replace(position=1))
    wrong_value = both_first._replace(
        values=(first.values[0]._replace(value=Fraction(3)), *first.values[1:])
    )
    tampered = [plain(results[0], wrong_value), plain(results[1], results[1].cohort)]
    error = InvariantError(cohort_violations(compiled, units, tampered), units=units)
    text = error.text("zh")
    # The statistic is named in Chinese, as the report names it; in English as written.
    assert "[cohort] best_gdp: 群体 -：2 个对象的 最大值 应为 2，引擎计算为 3" in text
    assert "max over 2 unit(s) should be 2" in str(error)
    assert "[ranking] a: 名次为 1，但按排名依据有 1 个对象更优（competition：应为 2）" in text
    _no_english(text)
    assert "反例（各单位）：\n[[case.units]]" in text
    assert text.split("反例（各单位）：\n", 1)[1] == error.counterexample
    assert str(error).split("counterexample units:\n", 1)[1] == error.counterexample
