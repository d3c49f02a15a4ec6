"""Rule-file checks at their edges: an empty band, a misspelt key of a ranking."""

from __future__ import annotations

from click.testing import CliRunner

from perfrules.cli import cli
from perfrules.rules._front import check_path

HEAD = """[scheme]
id = "edges"
title = "edges"
max = 10

[inputs]
x = {}
bid = {}

[indicators.a]
weight = 10
formula = "weight * x"

"""
BANDS = """[[bands]]
label = "pass"
min = 5
max = 10

[[bands]]
label = "fail"
min = 0
max = 5
"""


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), start=1) if needle in line)


def _found(tmp_path, text):
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    _, _, diagnostics = check_path(path)
    return [(d.code, d.line) for d in diagnostics]


def test_a_band_whose_minimum_is_its_maximum_is_refused_at_its_line(tmp_path):
    # [5, 5) holds no total: the bands still meet and cover [0, 10], but one is empty
    empty = '[[bands]]\nlabel = "empty"\nmin = 5\nmax = 5\n\n'
    text = HEAD + BANDS.replace('[[bands]]\nlabel = "fail"', empty + '[[bands]]\nlabel = "fail"')
    found = _found(tmp_path, text)
    at = _line(text, 'label = "empty"')
    assert [code for code, _ in found] == ["PR214"], found
    assert at <= found[0][1] <= at + 2, (found, at)
    assert _found(tmp_path, HEAD + BANDS) == []  # the same bands without it are fine


def test_a_misspelt_key_of_a_ranking_is_an_unknown_key_at_its_line(tmp_path):
    ranking = '\n[ranking]\nkeys = [{ by = "total" }]\ntie = "dense"\n'
    text = HEAD + BANDS + ranking
    assert _found(tmp_path, text) == [("PR101", _line(text, 'tie = "dense"'))]
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "scheme.toml"), "--lang", "en"])
    assert result.exit_code == 1
    assert "unknown key 'tie' in ranking" in result.output
    assert "did you mean 'ties'?" in result.output
    # ... and inside a key, and in a cohort value
    for typo, needle in (
        ('keys = [{ by = "total", ordr = "asc" }]', "ordr"),
        ('keys = [{ by = "total" }]\nwhere = "x > 0"\nlable = "rank"', "lable"),
    ):
        text = HEAD + BANDS + f"\n[ranking]\n{typo}\n"
        assert _found(tmp_path, text) == [("PR101", _line(text, needle))], typo
    cohort = '\n[cohort.values.low]\nstat = "min"\nof = "bid"\nwehre = "bid > 0"\n'
    text = HEAD.replace("weight * x", "weight * min(low / bid, 1)") + BANDS + cohort
    assert ("PR101", _line(text, "wehre")) in _found(tmp_path, text)
    # spelt right, the same scheme is accepted
    assert _found(tmp_path, HEAD + BANDS + ranking.replace("tie =", "ties =")) == []


def test_weights_of_thirty_digits_add_up_exactly():
    import pytest

    import perfrules

    def scheme(maximum: str, *weights: str) -> str:
        rows = "".join(
            f'[indicators.r{n}]\nweight = {w}\nformula = "weight * x"\n'
            for n, w in enumerate(weights)
        )
        return (
            f'[scheme]\nid = "w"\ntitle = "w"\nmax = {maximum}\n[inputs]\nx = {{}}\n'
            f'[[bands]]\nlabel = "A"\nmin = 0\nmax = {maximum}\n{rows}'
        )

    # 28 significant digits round this sum to exactly the maximum: it is not
    off = scheme("1", "0.500000000000000000000000000001", "0.5")
    with pytest.raises(perfrules.RuleFileError) as caught:
        perfrules.loads_scheme(off, name="w.toml")
    assert [d.code for d in caught.value.diagnostics] == ["PR202"]
    nines = "9" * 29 + ".9"  # thirty 9s: weights that add up to it are accepted
    perfrules.loads_scheme(scheme(nines, "9" * 29, "0.9"), name="w.toml")
