"""perfrules sensitivity: ranks under varied weights, exact weight sets, the CLI around it."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.cli import cli

pa = pytest.importorskip("pyarrow")
from perfrules.workflows import (  # noqa: E402 - after the frame extra is known
    SensitivityError,
    WeightRange,
    perturbed_weights,
    read_table,
    sensitivity,
)

SCHEME = """
[scheme]
id = "stability"
title = "Stability"
max = 100

[inputs]
x = {{ label = "x" }}
y = {{ label = "y" }}
z = {{ label = "z" }}

{ranking}

[[bands]]
label = "all"
min = 0
max = 100

[groups.g]
weight = 60

[indicators.a]
parent = "g"
weight = 30
formula = "weight * x / 100"

[indicators.b]
parent = "g"
weight = 30
formula = "weight * y / 100"

[indicators.c]
weight = 40
formula = "weight * z / 100"
"""
RANKING = '[ranking]\nkeys = [{ by = "total", order = "desc" }]\nties = "competition"'
UNITS = """unit,shared.x,shared.y,shared.z
far,100,100,100
p,90,40,50
q,40,90,50
r,60,60,55
s,50,50,40
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    scheme = tmp_path / "scheme.toml"
    scheme.write_text(SCHEME.format(ranking=RANKING), encoding="utf-8")
    units = tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    return scheme, units


def _run(scheme: Path, units: Path, **options: object) -> perfrules.workflows.Sensitivity:
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    return sensitivity(compiled, read_table(units), **options)  # type: ignore[arg-type]


def test_a_unit_far_ahead_keeps_rank_one_and_close_units_move(files: tuple[Path, Path]) -> None:
    result = _run(*files, vary=Decimal(40), samples=60, seed=3)
    by_unit = {u.unit: u for u in result.units}
    far = by_unit["far"]
    assert (far.rank, far.median, far.low, far.high, far.ranked) == (1, 1, 1, 1, 60)
    assert far.mover is None
    # p and q swap places when a and b move apart: their intervals are wider than one rank
    assert by_unit["p"].low != by_unit["p"].high
    assert by_unit["p"].mover in {"a", "b"}
    assert by_unit["p"].shift >= 1


def test_the_same_seed_gives_the_same_result(files: tuple[Path, Path]) -> None:
    one = _run(*files, vary=Decimal(30), samples=25, seed=7).to_dict()
    two = _run(*files, vary=Decimal(30), samples=25, seed=7).to_dict()
    assert one == two


def test_worker_processes_give_the_same_result(files: tuple[Path, Path]) -> None:
    here = _run(*files, vary=Decimal(30), samples=12, seed=5).to_dict()
    forked = _run(*files, vary=Decimal(30), samples=12, seed=5, jobs=2).to_dict()
    assert here == forked


def test_a_scheme_without_ranking_is_ranked_by_total(tmp_path: Path) -> None:
    scheme = tmp_path / "scheme.toml"
    scheme.write_text(SCHEME.format(ranking=""), encoding="utf-8")
    units = tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    result = _run(scheme, units, vary=Decimal(10), samples=5)
    assert result.ranking.startswith("total")
    assert {u.unit: u.rank for u in result.units}["far"] == 1


def _sums_hold(scheme: perfrules.Scheme, weights: dict[str, Decimal]) -> None:
    children: dict[str | None, Fraction] = {}
    for node_id, node in [*scheme.groups.items(), *scheme.indicators.items()]:
        children[node.parent] = children.get(node.parent, Fraction(0)) + Fraction(weights[node_id])
    for group_id in scheme.groups:
        assert children[group_id] == Fraction(weights[group_id]), group_id
    assert children[None] == Fraction(scheme.scheme.max)


def _nested(leaves: list[int]) -> str:
    """Two groups of leaves (weights in hundredths), the groups their sums, max their sum."""
    half = len(leaves) // 2
    parts = [leaves[:half], leaves[half:]]
    lines = [f'[scheme]\nid = "nested"\ntitle = "Nested"\nmax = {Decimal(sum(leaves)) / 100}']
    lines.append('[[bands]]\nlabel = "all"\nmin = 0\nmax = ' + str(Decimal(sum(leaves)) / 100))
    for g, part in enumerate(parts):
        lines.append(f"[groups.g{g}]\nweight = {Decimal(sum(part)) / 100}")
        for i, leaf in enumerate(part):
            lines.append(
                f'[indicators.i{g}_{i}]\nparent = "g{g}"\nweight = {Decimal(leaf) / 100}\n'
                'formula = "weight"'
            )
    return "\n\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None)
@given(
    leaves=st.lists(st.integers(min_value=1, max_value=5000), min_size=2, max_size=7),
    vary=st.integers(min_value=1, max_value=9999).map(lambda v: Decimal(v) / 100),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_perturbed_weights_keep_every_sum_exact(
    leaves: list[int], vary: Decimal, seed: int
) -> None:
    scheme = perfrules.loads_scheme(_nested(leaves))
    weights = perturbed_weights(scheme, random.Random(seed), vary=vary)
    _sums_hold(scheme, weights)
    assert all(w == w.quantize(Decimal("0.01")) for w in weights.values())
    # and the scheme's own checks take it
    varied = scheme.model_copy(
        update={
            "groups": {
                k: g.model_copy(update={"weight": weights[k]}) for k, g in scheme.groups.items()
            },
            "indicators": {
                k: i.model_copy(update={"weight": weights[k]})
                for k, i in scheme.indicators.items()
            },
        }
    )
    perfrules.compile_scheme(varied)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    low=st.integers(10, 25),
    width=st.integers(0, 20),
)
def test_declared_ranges_are_respected(seed: int, low: int, width: int) -> None:
    scheme = perfrules.loads_scheme(SCHEME.format(ranking=RANKING))
    bounds = WeightRange("a", Decimal(low), Decimal(low + width))
    weights = perturbed_weights(scheme, random.Random(seed), vary=Decimal(20), ranges=[bounds])
    assert bounds.low <= weights["a"] <= bounds.high
    _sums_hold(scheme, weights)


def test_ranges_alone_vary_only_their_weight_and_its_siblings(files: tuple[Path, Path]) -> None:
    result = _run(*files, ranges=[WeightRange("a", Decimal(10), Decimal(50))], samples=10)
    assert [(w.id, w.low, w.high) for w in result.weights] == [("a", 10, 50)]


def test_ranges_that_cannot_be_met_are_refused(files: tuple[Path, Path]) -> None:
    with pytest.raises(SensitivityError, match="cannot be met"):
        _run(*files, ranges=[WeightRange("a", Decimal(70), Decimal(80))], samples=3)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("nope=1:2", "no counted group or indicator has that id"),
        ("a=5:3", "above HIGH"),
        ("a=x:3", "decimals"),
        ("a5", "ID=LOW:HIGH"),
    ],
)
def test_a_bad_range_is_a_usage_error(files: tuple[Path, Path], option: str, message: str) -> None:
    scheme, units = files
    result = CliRunner().invoke(
        cli, ["sensitivity", str(scheme), str(units), "--range", option, "--samples", "3"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_nothing_to_vary_is_a_usage_error(files: tuple[Path, Path]) -> None:
    scheme, units = files
    result = CliRunner().invoke(cli, ["sensitivity", str(scheme), str(units)])
    assert result.exit_code == 2
    assert "nothing varies" in result.stderr


def test_json_is_the_library_result(files: tuple[Path, Path]) -> None:
    scheme, units = files
    args = ["sensitivity", str(scheme), str(units), "--vary", "25", "--samples", "15"]
    result = CliRunner().invoke(cli, [*args, "--seed", "4", "--format", "json"])
    assert result.exit_code == 0, result.output
    expected = _run(scheme, units, vary=Decimal(25), samples=15, seed=4).to_dict()
    assert json.loads(result.stdout) == expected


def test_text_and_html_lay_out_the_numbers(files: tuple[Path, Path], tmp_path: Path) -> None:
    scheme, units = files
    out = tmp_path / "stability.html"
    args = ["sensitivity", str(scheme), str(units), "--vary", "40", "--samples", "20"]
    result = CliRunner().invoke(cli, [*args, "--seed", "3", "--out", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    library = _run(scheme, units, vary=Decimal(40), samples=20, seed=3)
    p = {u.unit: u for u in library.units}["p"]
    row = next(line for line in result.stdout.splitlines() if line.startswith("p "))
    assert f"{p.low}–{p.high}" in row
    page = out.read_text(encoding="utf-8")
    assert "<svg" in page
    assert page.count("<line ") == len(library.units)
    assert f"{p.low}–{p.high}" in page


def test_out_must_be_html(files: tuple[Path, Path]) -> None:
    scheme, units = files
    args = ["sensitivity", str(scheme), str(units), "--vary", "5", "--out", "x.pdf"]
    assert CliRunner().invoke(cli, args).exit_code == 2


def test_progress_counts_every_weight_set(files: tuple[Path, Path]) -> None:
    seen: list[tuple[int, int]] = []
    result = _run(*files, vary=Decimal(10), samples=6, progress=lambda d, t: seen.append((d, t)))
    total = 6 + 1 + 2 * len(result.weights)
    assert seen == [(done, total) for done in range(1, total + 1)]


def test_a_weight_alone_in_its_group_follows_the_group(tmp_path: Path) -> None:
    text = SCHEME.format(ranking=RANKING).replace(
        "[indicators.c]\nweight = 40",
        '[groups.h]\nweight = 40\n\n[indicators.c]\nparent = "h"\nweight = 40',
    )
    scheme = tmp_path / "scheme.toml"
    scheme.write_text(text, encoding="utf-8")
    units = tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    result = _run(scheme, units, vary=Decimal(10), samples=5)
    assert [w.id for w in result.weights] == ["g", "h", "a", "b"]
    weights = perturbed_weights(perfrules.load_scheme(scheme), random.Random(1), vary=Decimal(10))
    assert weights["c"] == weights["h"]
