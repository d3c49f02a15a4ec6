"""Shared fixtures: paths of the shipped examples and hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
MOF = ROOT / "rules" / "cn" / "mof-2020-project-self-eval"

# CI sets CI=true, which selects hypothesis's derandomised "ci" profile automatically.
settings.register_profile(
    "dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# benchmarks/mutation_check.py: a failure is all it needs to know, not the smallest one.
settings.register_profile(
    "mutants",
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
if not os.environ.get("CI"):
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def seed_scheme_path() -> Path:
    return SEED / "scheme.toml"


@pytest.fixture(scope="session")
def seed_facts_path() -> Path:
    return SEED / "facts.toml"


@pytest.fixture(scope="session")
def seed_compiled(seed_scheme_path: Path):
    import perfrules

    return perfrules.compile_scheme(perfrules.load_scheme(seed_scheme_path))


@pytest.fixture(scope="session")
def seed_result(seed_compiled, seed_facts_path: Path):
    import perfrules

    return seed_compiled.evaluate(perfrules.load_facts(seed_facts_path))
