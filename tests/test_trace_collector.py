"""A large explanation is built without the garbage collector running, and its state kept.

The tree holds no cycle, so a collection during the build finds nothing; with thousands of
rows, collections set off mid-build would move every node to the oldest generation and
make the next full collections visit the whole heap (``docs/explanation/evaluator.md``).
"""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest

import perfrules


def _wide(n: int) -> str:
    lines = ["[scheme]", 'id = "wide"', 'title = "wide"', f"max = {n}"]
    lines += ["[rounding]", "indicator = 2", "total = 2", "[defaults]"]
    lines += ['formula = "weight * min(actual, 1)"', 'missing = "exclude"', "[inputs]"]
    lines += ["actual = {}"]
    for label, low, high in (("A", 90, 100), ("B", 60, 90), ("C", 0, 60)):
        lines += ["[[bands]]", f'label = "{label}"', f"min = {n * low // 100}"]
        lines.append(f"max = {n * high // 100}")
    for i in range(n):
        lines += [f"[indicators.r{i}]", "weight = 1"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("wide") / "wide.toml"
    path.write_text(_wide(400), encoding="utf-8")
    return perfrules.compile_scheme(perfrules.load_scheme(path))


def _facts(n: int, left_out: int | None = None) -> dict[str, object]:
    rows = {f"r{i}": {"actual": Decimal(f"0.{i % 97 + 3:03d}17")} for i in range(n)}
    if left_out is not None:
        del rows[f"r{left_out}"]  # excluded: the tree is built the general way
    return {"indicators": rows}


@pytest.mark.parametrize("left_out", [None, 7])
def test_building_a_wide_tree_sets_off_no_collection(compiled, left_out):
    result = compiled.evaluate(_facts(400, left_out))
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        root = result.trace.root
    finally:
        gc.callbacks.remove(count)
    assert len(list(root.walk())) == 401  # 400 rows and the root: thousands of objects
    assert collections == []
    assert gc.isenabled()


def test_the_collector_is_left_as_it_was(compiled):
    gc.disable()
    try:
        assert compiled.evaluate(_facts(400)).trace.root.score is not None
        assert not gc.isenabled()  # an application that paused it keeps it paused
    finally:
        gc.enable()
