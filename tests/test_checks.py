"""Rule-file diagnostics: every mistake reported at once, each at its own line, zh and en."""

from __future__ import annotations

from pathlib import Path

import pytest

import perfrules
from conftest import SEED
from perfrules.errors import RuleFileError
from perfrules.rules._front import check_path

SEED_TEXT = (SEED / "scheme.toml").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.split("\n"), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _write(tmp_path: Path, text: str, name: str = "scheme.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _replace_once(text: str, old: str, new: str, occurrence: int = 1) -> str:
    index = -1
    for _ in range(occurrence):
        index = text.index(old, index + 1)
    return text[:index] + new + text[index + len(old) :]


@pytest.fixture
def broken(tmp_path):
    """The seed scheme with five independent mistakes."""
    text = SEED_TEXT
    text = _replace_once(text, "weight = 30", "weight = 31")  # wrong weight (数量)
    text = text.replace("levels = [", "levles = [")  # misspelled key
    text = text.replace(
        'capped = "weight * min(actual / target, 1)"', 'capped = "weight * min(actual / target, 1"'
    )  # syntax error
    text = text.replace(
        'target = "≥90%"', 'target = "≥90%"\nformula = "weight * actaul"'
    )  # undefined
    text = text.replace("min = 60\nmax = 80", "min = 60\nmax = 85")  # overlapping bands
    return _write(tmp_path, text), text


class TestAllMistakesAtOnce:
    def test_each_mistake_is_reported_at_its_own_line(self, broken):
        path, text = broken
        _, _, diagnostics = check_path(path)
        found = {(d.code, d.line) for d in diagnostics}
        assert ("PR101", _line_of(text, "levles")) in found
        assert ("PR301", _line_of(text, "capped = ")) in found
        assert ("PR302", _line_of(text, "actaul")) in found
        assert ("PR211", _line_of(text, "max = 85")) in found
        assert ("PR201", _line_of(text, "weight = 31")) in found
        assert all(d.file == str(path) for d in diagnostics)

    def test_formula_errors_point_at_the_column_inside_the_formula(self, broken):
        path, text = broken
        _, _, diagnostics = check_path(path)
        syntax = next(d for d in diagnostics if d.code == "PR301")
        line = text.split("\n")[syntax.line - 1]
        assert line[syntax.column - 1] == "("
        unknown = next(d for d in diagnostics if d.code == "PR302")
        line = text.split("\n")[unknown.line - 1]
        assert line[unknown.column - 1 :].startswith("actaul")

    def test_load_scheme_raises_one_error_with_all_diagnostics(self, broken):
        path, _ = broken
        with pytest.raises(RuleFileError) as info:
            perfrules.load_scheme(path)
        codes = [d.code for d in info.value.errors]
        assert {"PR101", "PR301", "PR302", "PR211", "PR201"} <= set(codes)
        lines = [d.line for d in info.value.diagnostics]
        assert lines == sorted(lines)

    def test_messages_exist_in_both_languages(self, broken):
        path, _ = broken
        _, _, diagnostics = check_path(path)
        weights = next(
            d for d in diagnostics if d.code == "PR201" and d.params["parent"] == "数量"
        )
        assert weights.message("en") == (
            "weights under '数量' add up to 30, but '数量' has weight 31 "
            "(数量-平安建设 6, 数量-三零创建 6, 数量-综治中心 6, 数量-法学会 6, 数量-市域治理 6)"
        )
        assert weights.message("zh").startswith("“数量”下各项权重合计为 30，而“数量”的权重为 31")
        key = next(d for d in diagnostics if d.code == "PR101")
        assert key.hint_text("zh") == "是否应为“levels”？"

    def test_the_shipped_seed_has_no_diagnostics(self):
        _, _, diagnostics = check_path(SEED / "scheme.toml")
        assert diagnostics == []


MINIMAL = """
[scheme]
id = "t"
title = "t"
max = 10

[[bands]]
label = "A"
min = 5
max = 10

[[bands]]
label = "B"
min = 0
max = 5

[inputs]
x = {}

[groups.g]
weight = 10

[indicators.a]
parent = "g"
weight = 6
formula = "weight * x"

[indicators.b]
parent = "g"
weight = 4
formula = "weight * x"
"""


def _codes(tmp_path, text):
    _, _, diagnostics = check_path(_write(tmp_path, text))
    return [(d.code, d.line) for d in diagnostics]


class TestEachCheck:
    def test_minimal_scheme_is_clean(self, tmp_path):
        assert _codes(tmp_path, MINIMAL) == []

    @pytest.mark.parametrize(
        ("old", "new", "code"),
        [
            ("max = 10\n\n[[bands]]", "max = 10\nnot_a_key = 1\n\n[[bands]]", "PR101"),
            ("weight = 6", 'weight = "six"', "PR102"),
            ('title = "t"\n', "", "PR103"),
            ("[indicators.b]", "[indicators.g]", "PR104"),
            ('parent = "g"\nweight = 6', 'parent = "gg"\nweight = 6', "PR203"),
            ("[groups.g]\nweight = 10", '[groups.g]\nparent = "g"\nweight = 10', "PR204"),
            ("weight = 4", "weight = 3", "PR201"),
            ("[groups.g]\nweight = 10", "[groups.g]\nweight = 11", "PR202"),
            ('label = "B"\nmin = 0\nmax = 5', 'label = "B"\nmin = 0\nmax = 4', "PR210"),
            ('label = "B"\nmin = 0\nmax = 5', 'label = "B"\nmin = 0\nmax = 6', "PR211"),
            (
                'label = "A"\nmin = 5\nmax = 10\n\n[[bands]]\nlabel = "B"\nmin = 0\nmax = 5',
                'label = "B"\nmin = 0\nmax = 5\n\n[[bands]]\nlabel = "A"\nmin = 5\nmax = 10',
                "PR212",
            ),
            ('label = "B"\nmin = 0', 'label = "B"\nmin = 1', "PR213"),
            ('label = "A"\nmin = 5\nmax = 10', 'label = "A"\nmin = 5\nmax = 9', "PR213"),
            ('label = "B"', 'label = "A"', "PR216"),
            (
                'formula = "weight * x"\n\n[indicators.b]',
                'formula = "weight * (x"\n\n[indicators.b]',
                "PR301",
            ),
            (
                'formula = "weight * x"\n\n[indicators.b]',
                'formula = "weight * y"\n\n[indicators.b]',
                "PR302",
            ),
            (
                'formula = "weight * x"\n\n[indicators.b]',
                'formula = "foo(x)"\n\n[indicators.b]',
                "PR303",
            ),
            (
                'formula = "weight * x"\n\n[indicators.b]',
                'formula = "rate"\n\n[indicators.b]',
                "PR302",
            ),
            (
                'formula = "weight * x"\n\n[indicators.b]',
                'formula = "x > 1"\n\n[indicators.b]',
                "PR321",
            ),
            ("x = {}", 'x = { type = "level", scale = "nope" }', "PR220"),
            ("x = {}", "min = {}", "PR319"),
            ("[scheme]", "[scheme]\nid2 = 1", "PR101"),
            ("weight = 6", "weight = -6", "PR107"),
            ("max = 10\n\n[[bands]]", "max = 10\n\n[rounding]\ntotal = 20\n\n[[bands]]", "PR107"),
            ("weight = 6", "weight = 6.5\nplaces = 1", "PR201"),
            ("weight = 6", "weight = nan", "PR102"),
            ("[inputs]", '[[grade_overrides]]\nlabel = "X"\nwhen = "x + 1"\n\n[inputs]', "PR307"),
            ("[inputs]", '[[grade_overrides]]\nlabel = "X"\nwhen = "not y"\n\n[inputs]', "PR302"),
        ],
    )
    def test_mistake_is_reported(self, tmp_path, old, new, code):
        assert old in MINIMAL
        codes = [c for c, _ in _codes(tmp_path, MINIMAL.replace(old, new, 1))]
        assert code in codes, codes

    def test_toml_syntax_error_has_a_position(self, tmp_path):
        diagnostics = _codes(tmp_path, MINIMAL.replace('id = "t"', 'id = "t'))
        assert diagnostics == [("PR100", 3)]

    def test_unreadable_and_non_utf8_files(self, tmp_path):
        _, _, missing = check_path(tmp_path / "nope.toml")
        assert [d.code for d in missing] == ["PR105"]
        bad = tmp_path / "latin1.toml"
        bad.write_bytes(MINIMAL.replace('title = "t"', 'title = "caf\xe9"').encode("latin-1"))
        _, _, diagnostics = check_path(bad)
        assert [d.code for d in diagnostics] == ["PR108"]

    def test_byte_order_mark_is_accepted(self, tmp_path):
        path = tmp_path / "bom.toml"
        path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
        _, _, diagnostics = check_path(path)
        assert diagnostics == []

    def test_misspelled_key_does_not_cascade_into_a_weight_error(self, tmp_path):
        codes = [c for c, _ in _codes(tmp_path, MINIMAL.replace("weight = 4", "wieght = 4"))]
        assert "PR101" in codes
        assert "PR201" not in codes

    def test_a_broken_named_formula_is_reported_once(self, tmp_path):
        text = MINIMAL.replace("[inputs]", '[formulas]\nrate = "weight * (x"\n\n[inputs]')
        text = text.replace('formula = "weight * x"', 'formula = "rate"')
        codes = [c for c, _ in _codes(tmp_path, text)]
        assert codes == ["PR301"]


def test_huge_numbers_in_a_rule_file_are_located_errors(tmp_path):
    from perfrules.rules._front import check_path as check

    for written in ("1e99930", "1" * 5000, "0." + "0" * 40 + "1"):
        path = tmp_path / "scheme.toml"
        path.write_text(
            '[scheme]\nid = "s"\ntitle = "s"\nmax = 10\n[inputs]\nx = {}\n'
            '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n'
            f'[indicators.a]\nweight = {written}\nformula = "weight * x"\n',
            encoding="utf-8",
        )
        _, _, diagnostics = check(path)
        assert [d.line for d in diagnostics if d.severity == "error"] == [12], written[:20]


def test_deep_nesting_is_refused_before_anything_recurses(tmp_path):
    from perfrules.errors import FactsError
    from perfrules.rules._front import check_path as check

    deep_key = "[scheme]\nid = 'x'\ntitle = 'x'\n[" + ".".join(["a"] * 5000) + "]\nb = 1\n"
    deep_array = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
    for text, line in ((deep_key, 4), (deep_array, 0)):
        path = tmp_path / "scheme.toml"
        path.write_text(text, encoding="utf-8")
        _, _, diagnostics = check(path)
        assert [(d.code, d.line) for d in diagnostics] == [("PR100", line)]
    facts = tmp_path / "facts.json"
    facts.write_text('{"indicators": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(facts)
    assert [d.code for d in info.value.diagnostics] == ["PR100"]
    shallow = tmp_path / "shallow.json"
    shallow.write_text('{"shared": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}", encoding="utf-8")
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(shallow)
    assert [d.code for d in info.value.diagnostics] == ["PR100"]


def test_a_file_that_ends_too_early_is_located_at_its_last_line(tmp_path):
    from perfrules.rules._front import check_path as check

    path = tmp_path / "scheme.toml"
    path.write_text('[scheme]\nid = "x"\ntitle = ', encoding="utf-8")
    _, _, diagnostics = check(path)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("PR100", 3, 9)]


def test_deep_and_cyclic_group_chains_are_found_in_linear_time(tmp_path):
    from perfrules.rules._front import check_path as check

    lines = ['[scheme]\nid = "d"\ntitle = "d"\nmax = 1\n[inputs]\nx = {}\n']
    lines.append('[[bands]]\nlabel = "A"\nmin = 0\nmax = 1\n')
    lines.append("[groups.g0]\nweight = 1\n")
    for i in range(1, 5000):
        lines.append(f'[groups.g{i}]\nparent = "g{i - 1}"\nweight = 1\n')
    lines.append('[indicators.a]\nparent = "g4999"\nweight = 1\nformula = "weight * x"\n')
    lines.append(
        '[groups.c1]\nparent = "c2"\nweight = 1\n[groups.c2]\nparent = "c1"\nweight = 1\n'
    )
    path = tmp_path / "scheme.toml"
    path.write_text("".join(lines), encoding="utf-8")
    _, _, diagnostics = check(path)  # (the cycle check was cubic: this took minutes)
    codes = [d.code for d in diagnostics if d.severity == "error"]
    assert codes.count("PR207") == 1
    assert codes.count("PR204") == 1


def test_an_unknown_key_does_not_hide_the_weight_sum_of_its_group(tmp_path):
    # The entry used to be dropped with its unknown key, and its group's weight sum with it:
    # one error shown where two exist.
    path = tmp_path / "s.toml"
    path.write_text(
        '[scheme]\nid = "x"\ntitle = "x"\nmax = 10\n[inputs.actual]\n'
        '[[bands]]\nlabel = "a"\nmin = 0\nmax = 10\n'
        '[indicators.a]\nweight = 4\nformula = "weight * min(actual, 1)"\ncolour = "red"\n'
        '[indicators.b]\nweight = 4\nformula = "weight * min(actual, 1)"\n',
        encoding="utf-8",
    )
    _, _, diagnostics = check_path(path)
    assert sorted((d.code, d.line) for d in diagnostics) == [("PR101", 13), ("PR202", 4)]


def test_a_group_refused_for_its_weight_is_one_error_not_one_per_child(tmp_path):
    # A group whose weight is not a number is refused (PR102); its children used to add one
    # "not a declared group" error each, with a misleading did-you-mean.
    path = tmp_path / "s.toml"
    path.write_text(
        '[scheme]\nid = "x"\ntitle = "x"\nmax = 10\n[inputs.actual]\n'
        '[[bands]]\nlabel = "a"\nmin = 0\nmax = 10\n'
        '[groups.out]\nweight = "x10"\n'
        '[indicators.a]\nparent = "out"\nweight = 5\nformula = "weight * min(actual, 1)"\n'
        '[indicators.b]\nparent = "out"\nweight = 5\nformula = "weight * min(actual, 1)"\n'
        '[indicators.c]\nparent = "ou"\nweight = 5\nformula = "weight * min(actual, 1)"\n',
        encoding="utf-8",
    )
    _, _, diagnostics = check_path(path)
    assert sorted((d.code, d.line) for d in diagnostics if d.severity == "error") == [
        ("PR102", 11),
        ("PR203", 21),  # a parent that is declared nowhere is still an error
    ]
