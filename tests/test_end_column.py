"""Diagnostics say where the offending text ends: a key and its value, a formula's token."""

from __future__ import annotations

import json

from click.testing import CliRunner

from conftest import SEED
from perfrules.cli import cli
from perfrules.errors import Diagnostic
from perfrules.rules import check_path
from perfrules.rules._locate import locate

SCHEME = SEED / "scheme.toml"


def _spans(text):
    _, _, diagnostics = check_path(SCHEME, text, files=True)
    lines = text.split("\n")
    out = {}
    for d in diagnostics:
        assert d.end_line == d.line, d
        out[d.code] = lines[d.line - 1][d.column - 1 : d.end_column - 1]
    return out


def test_a_misspelt_key_spans_the_key_and_its_value():
    text = SCHEME.read_text(encoding="utf-8").replace("weight = 6", "weigth = 6   # six", 1)
    assert _spans(text)["PR101"] == "weigth = 6"


def test_a_formula_problem_spans_its_token():
    text = SCHEME.read_text(encoding="utf-8")
    assert _spans(text.replace("weight * min(", "weight * min（", 1))["PR308"] == "（"
    assert _spans(text.replace('"weight * min(', '"xweight * min(', 1))["PR302"] == "xweight"


def test_a_table_missing_a_key_spans_its_header_key():
    text = SCHEME.read_text(encoding="utf-8")
    header = '[indicators."数量-平安建设"]\n'
    start = text.index(header) + len(header)
    end = text.index("\n[", start)
    # the table keeps its name and loses every key: PR103 at the header
    spans = _spans(text[:start] + 'name = "x"\n' + text[end:])
    assert spans["PR103"] == '"数量-平安建设"'


def test_the_source_map_spans():
    source = locate('[a]\nid = "x"   # c\nlist = [\n  1,\n]\nt = { k = 10 }\n')
    assert source.span(("a", "id")) == (2, 1, 2, 9)
    assert source.span(("a", "list")) == (3, 1, 3, 5)  # the value runs on: the key alone
    assert source.span(("a", "t", "k")) == (6, 7, 6, 13)
    assert source.span(("a",)) == (1, 2, 1, 3)
    assert source.span(("b",)) == (0, 0, 0, 0)
    assert source.value_span(("a", "t", "k")) == (6, 11, 6, 13)


def test_to_dict_and_check_json_carry_the_end():
    located = Diagnostic("PR101", ("a",), {"key": "a"}).located(
        file="f.toml", line=3, column=2, end_line=3, end_column=5
    )
    entry = located.to_dict("en")
    assert (entry["line"], entry["column"], entry["end_line"], entry["end_column"]) == (3, 2, 3, 5)
    # the fields there were before keep their names and values
    assert {"code", "severity", "file", "line", "column", "key", "message", "hint"} <= set(entry)
    unlocated = Diagnostic("PR206").to_dict("en")
    assert unlocated["end_line"] is None
    assert unlocated["end_column"] is None


def test_check_format_json_gives_the_end(tmp_path, monkeypatch):
    text = SCHEME.read_text(encoding="utf-8").replace("weight = 6", "weigth = 6", 1)
    (tmp_path / "typo.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "typo.toml", "--format", "json"])
    [typo] = [d for d in json.loads(result.stdout) if d["code"] == "PR101"]
    line = text.split("\n")[typo["line"] - 1]
    assert line[typo["column"] - 1 : typo["end_column"] - 1] == "weigth = 6"
    assert typo["end_line"] == typo["line"]
