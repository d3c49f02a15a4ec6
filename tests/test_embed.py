"""Embedding: rule files and facts from text, confined extends, the how-to's handler runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import perfrules
from conftest import ROOT, SEED
from perfrules.errors import RuleFileError

SCHEME_TEXT = (SEED / "scheme.toml").read_text(encoding="utf-8")


def _body() -> str:
    facts = perfrules.load_facts(SEED / "facts.toml")
    indicators = {}
    for ident, values in facts.indicators.items():
        actual = values["actual"]
        indicators[ident] = {"actual": actual["value"] if isinstance(actual, dict) else actual}
    indicators["群众满意度"] = {"actual": 0.93}  # a JSON number, as a browser sends it
    return json.dumps({"indicators": indicators, "unit": "忻州"}, ensure_ascii=False)


def test_the_how_to_handler_runs_as_written():
    page = (ROOT / "docs" / "how-to" / "embed-in-python.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- embed-handler.*?-->\n```python\n(.*?)```", page, re.DOTALL)
    assert block is not None
    code = block[1]
    assert len([line for line in code.splitlines() if line.strip()]) <= 8
    scope = {"uploaded_text": SCHEME_TEXT}
    exec(code, scope)  # noqa: S102 - the documented example, run as written
    status, text = scope["score"](_body())
    assert status == 200
    trace = json.loads(text)
    assert (trace["total"], trace["grade"]["label"]) == ("89.25", "良好")
    assert trace["provenance"]["files"][0]["path"] == "2021.toml"
    status, text = scope["score"]('{"indicators": {"群众满意度": {"actual": 0.1e1}}}')
    assert status == 422
    assert {d["code"] for d in json.loads(text)} == {"PR401"}  # the other 16 are missing
    status, text = scope["score"]('{"indicatorz": {}}')
    assert (status, json.loads(text)[0]["code"]) == (422, "PR101")


def test_the_how_to_questions_to_the_scheme_run_as_written(monkeypatch):
    page = (ROOT / "docs" / "how-to" / "embed-in-python.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- embed-ask.*?-->\n```python\n(.*?)```", page, re.DOTALL)
    assert block is not None
    monkeypatch.chdir(ROOT)
    exec(block[1], {})  # noqa: S102 - the documented example, its asserts included


def test_json_numbers_are_read_exactly():
    facts = perfrules.loads_facts('{"indicators": {"a": {"x": 0.1}}}', format="json")
    assert str(facts.indicators["a"]["x"]) == "0.1"


def test_toml_and_csv_facts_from_text(seed_compiled):
    toml_text = (SEED / "facts.toml").read_text(encoding="utf-8")
    assert str(seed_compiled.evaluate(perfrules.loads_facts(toml_text)).total) == "89.25"
    with pytest.raises(ValueError, match="format"):
        perfrules.loads_facts("x", format="yaml")


@pytest.mark.parametrize(
    "target", ["/etc/passwd", "../../../../etc/passwd", "/dev/zero", "/proc/self/environ"]
)
def test_a_text_cannot_extend_a_file_of_the_server(target):
    text = f'extends = "{target}"\n[scheme]\nid = "x"\ntitle = "x"\n'
    with pytest.raises(RuleFileError) as info:
        perfrules.loads_scheme(text)
    extends = [d for d in info.value.diagnostics if d.path == ("extends",)]
    assert [d.code for d in extends] == ["PR105"]
    message = extends[0].message("en")
    assert "root:" not in message
    assert "no such rule file or pack here" in message  # the same words whether it exists


def test_a_root_confines_extends(tmp_path):
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "base.toml").write_text(SCHEME_TEXT, encoding="utf-8")
    child = 'extends = "base.toml"\n[scheme]\nid = "c"\ntitle = "c"\n'
    scheme = perfrules.loads_scheme(child, name="child.toml", root=tmp_path / "inner")
    assert len(scheme.indicators) == 17
    outside = 'extends = "../inner/base.toml"\n[scheme]\nid = "c"\ntitle = "c"\n'
    (tmp_path / "other").mkdir()
    path = tmp_path / "other" / "child.toml"
    path.write_text(outside, encoding="utf-8")
    with pytest.raises(RuleFileError) as info:  # by default, the rule file's own folder
        perfrules.load_scheme(path)
    refused = [d for d in info.value.diagnostics if d.code == "PR105"]
    assert len(refused) == 1
    assert "--root" in (refused[0].hint_text() or "")
    with pytest.raises(RuleFileError):
        perfrules.load_scheme(path, root=tmp_path / "other")
    assert len(perfrules.load_scheme(path, root=tmp_path).indicators) == 17


def test_a_pack_id_is_read_from_the_installed_pack_and_named_by_its_id(tmp_path):
    path = tmp_path / "2022.toml"
    path.write_text(
        'extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "c"\ntitle = "c"\n',
        encoding="utf-8",
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    names = [name for name, _ in compiled.plan.files]
    assert names == ["examples/xinzhou-zfw-2021/scheme.toml", "2022.toml"]
    assert len(compiled.scheme.indicators) == 17


def test_devices_are_never_read(tmp_path):
    path = tmp_path / "scheme.toml"
    path.write_text('extends = "/dev/zero"\n[scheme]\nid = "x"\ntitle = "x"\n', encoding="utf-8")
    with pytest.raises(RuleFileError) as info:
        perfrules.load_scheme(path)
    assert "PR105" in {d.code for d in info.value.diagnostics}
    assert Path("/dev/zero").exists()


def test_a_pack_linked_from_outside_the_root_is_not_a_pack_here(tmp_path):
    outside = tmp_path / "outside" / "evil"
    outside.mkdir(parents=True)
    (outside / "scheme.toml").write_text(SCHEME_TEXT, encoding="utf-8")
    project = tmp_path / "project"
    (project / "rules" / "mine").mkdir(parents=True)
    (project / "rules" / "evil").symlink_to(outside, target_is_directory=True)
    (project / "rules" / "local").mkdir()
    (project / "rules" / "local" / "scheme.toml").write_text(SCHEME_TEXT, encoding="utf-8")
    mine = project / "rules" / "mine" / "scheme.toml"
    for pack, allowed in (("evil", False), ("local", True)):
        mine.write_text(f'extends = "{pack}"\n[scheme]\nid = "m"\ntitle = "m"\n', "utf-8")
        if allowed:  # a pack of the checkout inside the root
            assert len(perfrules.load_scheme(mine, root=project).indicators) == 17
            continue
        with pytest.raises(RuleFileError) as info:
            perfrules.load_scheme(mine, root=project)
        assert "PR105" in {d.code for d in info.value.diagnostics}


@pytest.mark.parametrize("flag", ["no", "false", None, 1, 0.0])
def test_a_trace_flag_that_is_not_true_or_false_is_refused(seed_compiled, flag):
    # trace="no" is a true value: it would keep every trace silently. Each way in says so.
    facts = perfrules.load_facts(SEED / "facts.toml")
    with pytest.raises(TypeError, match=r"evaluate\(trace=\.\.\.\) takes True or False"):
        seed_compiled.evaluate(facts, trace=flag)
    with pytest.raises(TypeError, match=r"evaluate_many\(trace=\.\.\.\) takes True or False"):
        next(seed_compiled.evaluate_many([facts], trace=flag))
    with pytest.raises(TypeError, match=r"evaluate_cohort\(trace=\.\.\.\) takes True or False"):
        seed_compiled.evaluate_cohort([facts], trace=flag)
    assert seed_compiled.evaluate(facts, trace=False).trace is None
    assert seed_compiled.evaluate(facts, trace=True).trace is not None
