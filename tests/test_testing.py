"""perfrules.testing: it passes good schemes and catches seeded defects with runnable facts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from conftest import MOF, ROOT, SEED
from perfrules.errors import FactsError
from perfrules.testing import (
    InvariantError,
    check_scheme,
    facts_for,
    scheme_properties,
    schemes,
    unit_violations,
)

GOOD = """
[scheme]
id = "t"
title = "t"
max = 100

[rounding]
indicator = 2
total = 2

[[bands]]
label = "优"
min = 90
max = 100

[[bands]]
label = "良"
min = 80
max = 90

[[bands]]
label = "中"
min = 60
max = 80

[[bands]]
label = "差"
min = 0
max = 60

[inputs]
actual = {}
target = {}

[groups.out]
weight = 60

[indicators.a]
parent = "out"
weight = 30
formula = "weight * ratio(actual, target)"
target = "100"

[indicators.b]
parent = "out"
weight = 30
formula = "weight * reverse_ratio(actual, target)"
target = "80"
direction = "reverse"

[indicators.c]
weight = 40
formula = "weight * min(actual, 1)"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _failure(path: Path, examples: int = 300) -> InvariantError:
    test = scheme_properties(path, max_examples=examples)
    with pytest.raises(InvariantError) as info:
        test()
    return info.value


def _replays(path: Path, error: InvariantError, tmp_path: Path) -> list[str]:
    """The counterexample, written as a facts file and loaded again, breaks the same invariant."""
    assert error.facts is not None
    facts_file = tmp_path / "counterexample.toml"
    facts_file.write_text(str(error).split("counterexample facts:\n", 1)[1], encoding="utf-8")
    facts = perfrules.load_facts(facts_file)
    return [v.invariant for v in unit_violations(path, facts)]


class TestGoodSchemes:
    def test_the_good_scheme_passes(self, tmp_path):
        scheme_properties(_write(tmp_path, GOOD), max_examples=150)()

    @pytest.mark.parametrize("path", [SEED / "scheme.toml", MOF / "scheme.toml"])
    def test_shipped_schemes_pass(self, path):
        scheme_properties(path, max_examples=100)()

    def test_static_check_of_a_good_scheme_is_empty(self, tmp_path):
        assert check_scheme(_write(tmp_path, GOOD)) == []


class TestSeededDefects:
    def test_weights_adding_to_101(self, tmp_path):
        path = _write(tmp_path, GOOD.replace("weight = 40", "weight = 41"))
        (violation,) = check_scheme(path)
        assert violation.invariant == "weights"
        assert "PR202" in violation.message

    def test_bands_overlapping_at_80(self, tmp_path):
        path = _write(tmp_path, GOOD.replace("min = 60\nmax = 80", "min = 60\nmax = 80.5"))
        violations = check_scheme(path)
        assert [v.invariant for v in violations] == ["bands"]
        assert "overlap" in violations[0].message

    def test_formula_that_can_exceed_its_weight(self, tmp_path):
        path = _write(
            tmp_path,
            GOOD.replace(
                'formula = "weight * ratio(actual, target)"',
                'formula = "weight * actual / target"',
            ),
        )
        error = _failure(path)
        assert {v.invariant for v in error.violations} & {"scores", "monotonic"}
        assert "PR501" in str(error)
        # the counterexample is a facts file that reproduces the failure
        facts_file = tmp_path / "counterexample.toml"
        facts_file.write_text(str(error).split("counterexample facts:\n", 1)[1], encoding="utf-8")
        compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
        invariants = [
            v.invariant for v in unit_violations(compiled, perfrules.load_facts(facts_file))
        ]
        assert invariants
        if "scores" in invariants:
            with pytest.raises(FactsError):
                compiled.evaluate(perfrules.load_facts(facts_file))

    def test_reverse_indicator_written_as_positive(self, tmp_path):
        path = _write(
            tmp_path,
            GOOD.replace(
                'formula = "weight * reverse_ratio(actual, target)"',
                'formula = "weight * ratio(actual, target)"',
            ),
        )
        error = _failure(path)
        assert [v.invariant for v in error.violations] == ["monotonic"]
        assert "raises the score of a reverse indicator" in str(error)
        assert "monotonic" in _replays(path, error, tmp_path)

    def test_rounding_rule_that_double_rounds(self, tmp_path):
        path = _write(
            tmp_path,
            GOOD.replace("indicator = 2\ntotal = 2", "indicator = 3\ntotal = 2"),
        )
        assert [v.invariant for v in check_scheme(path)] == ["double_rounding"]
        error = _failure(path, examples=500)
        assert "double_rounding" in [v.invariant for v in error.violations]
        assert "double_rounding" in _replays(path, error, tmp_path)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_schemes_satisfy_every_invariant(data):
    scheme = data.draw(schemes())
    compiled = perfrules.compile_scheme(scheme)
    facts = data.draw(facts_for(compiled))
    # random schemes may round to more places first, then fewer: not a defect of the engine
    violations = [v for v in unit_violations(compiled, facts) if v.invariant != "double_rounding"]
    assert violations == [], violations


@settings(max_examples=20, deadline=None)
@given(facts_for(SEED / "scheme.toml"))
def test_facts_for_the_seed_always_score(facts):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    result = compiled.evaluate(facts)
    assert 0 <= result.total_exact <= 100


def test_the_core_library_works_without_hypothesis(tmp_path):
    script = tmp_path / "no_hypothesis.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys

            class Block:
                def find_spec(self, name, path=None, target=None):
                    if name == "hypothesis" or name.startswith("hypothesis."):
                        raise ImportError("hypothesis is not installed")
                    return None

            sys.meta_path.insert(0, Block())
            import perfrules
            from perfrules.cli import cli
            compiled = perfrules.compile_scheme(perfrules.load_scheme({str(SEED / "scheme.toml")!r}))
            assert str(compiled.evaluate(perfrules.load_facts({str(SEED / "facts.toml")!r})).total) == "89.25"
            assert "hypothesis" not in sys.modules
            try:
                import perfrules.testing
            except ImportError:
                print("core ok without hypothesis")
            """
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "core ok without hypothesis"
