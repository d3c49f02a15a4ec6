"""The trace JSON is byte-identical to the copy recorded before the evaluator was rebuilt.

``tests/data/golden-traces.jsonl`` holds 310 units over every shipped pack and a scheme that
exercises every policy, rounding point and function; each line has the facts and either the
trace JSON or the diagnostics (code and path) they gave. A deliberate change of the format
regenerates the file with ``tests/data/make_golden_traces.py`` and says why in its commit.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

import perfrules
from perfrules.errors import FactsError

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = [
    json.loads(line)
    for line in (ROOT / "tests" / "data" / "golden-traces.jsonl").read_text("utf-8").splitlines()
]


@cache
def compiled(relative: str) -> perfrules.CompiledScheme:
    return perfrules.compile_scheme(perfrules.load_scheme(relative))


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # provenance names the rule files as given, relative to the root


def test_the_corpus_covers_traces_and_errors():
    assert sum("trace" in entry for entry in GOLDEN) > 100
    assert sum("errors" in entry for entry in GOLDEN) > 100


@pytest.mark.parametrize("trace", [True, False], ids=["traced", "untraced"])
def test_every_unit_gives_the_recorded_bytes_or_errors(trace):
    mismatches = []
    for number, entry in enumerate(GOLDEN):
        scheme = compiled(entry["scheme"])
        try:
            result = scheme.evaluate(entry["facts"], trace=trace)
        except FactsError as exc:
            got = {"errors": [[d.code, list(map(str, d.path))] for d in exc.diagnostics]}
        else:
            if trace:
                got = {"trace": result.trace.to_json()}
            else:
                recorded = json.loads(entry.get("trace", "null") or "null")
                got = (
                    {"trace": entry.get("trace")}
                    if recorded
                    and (
                        str(result.total) == recorded["total"]
                        and result.grade.label == recorded["grade"]["label"]
                    )
                    else {"total": str(result.total)}
                )
        want = {key: entry[key] for key in ("trace", "errors") if key in entry}
        if got != want:
            mismatches.append((number, entry["scheme"]))
    assert mismatches == []


def test_a_trace_built_from_its_parts_writes_the_same_json():
    # The JSON is written from the evaluation's record; a Trace made from the tree of parts
    # (as an application might) goes through the object writer. Both must give the bytes.
    compared = 0
    for entry in GOLDEN:
        if "trace" not in entry:
            continue
        result = compiled(entry["scheme"]).evaluate(entry["facts"])
        lazy = result.trace
        built = perfrules.Trace(
            root=lazy.root,
            total=lazy.total,
            max=lazy.max,
            grade=lazy.grade,
            bands=lazy.bands,
            gap=lazy.gap,
            provenance=lazy.provenance,
            total_places=lazy.total_places,
            rounding_mode=lazy.rounding_mode,
            levels=lazy.levels,
        )
        assert built.to_json() == entry["trace"]
        compared += 1
    assert compared > 100


def test_groups_whose_rows_all_counted_are_built_as_the_general_path_builds_them(monkeypatch):
    # Trees and JSON take a short cut for a group whose counted rows all counted fully, one
    # for a unit whose every row was scored the plain way, and write such a row (its text
    # and its node) by the code generated for its formula's shape; with all of them turned
    # off (rows built from the formula's traced function) every node and every byte must
    # be the same; so must the gap without the function generated for it.
    from perfrules.engine import _assemble, _grading, _json, _layout, _tree

    entries = [e for e in GOLDEN if "trace" in e]
    fast = [compiled(e["scheme"]).evaluate(e["facts"]).trace for e in entries]
    trees = [trace.root for trace in fast]
    texts = [trace.to_json() for trace in fast]
    gaps = [trace.gap for trace in fast]
    layout = _layout._json_layout

    def without_short_cut(plan):  # no group lists the rows it adds up: all go the long way
        return [(i, n, p, g and (g[0], (), *g[2:])) for i, n, p, g in layout(plan)]

    # every writer that reads the layouts; setattr fails on a name that is gone
    for module in (_layout, _tree, _json):
        monkeypatch.setattr(module, "_json_layout", without_short_cut)
        monkeypatch.setattr(module, "_plain_layout", lambda plan: None)  # nor the plain path
    monkeypatch.setattr(  # rows written from their nodes
        _assemble.Evaluation,
        "_plain_leaf_json",
        lambda self, node, record: self._traced_leaf_json(node, record)[0],
    )
    monkeypatch.setattr(  # and their nodes from the formula's traced function, not generated
        _tree.TreeParts,
        "_plain_leaf_trace",
        lambda self, node, record: self._leaf_parts(node, record)[0],
    )
    monkeypatch.setattr(_grading, "gap_function", lambda plan: None)  # the general gap
    for entry, tree, text, gap in zip(entries, trees, texts, gaps, strict=True):
        slow = compiled(entry["scheme"]).evaluate(entry["facts"]).trace
        assert slow.root == tree
        assert slow.to_json() == text
        assert slow.gap == gap
    assert sum(gap is not None for gap in gaps) > 100
    assert sum(node.kind == "group" for tree in trees for node in tree.walk()) > 500


def test_every_memo_off_gives_the_same_bytes():
    # The writers must not lean on what they remembered: with every memo cleared and kept
    # from storing (as the benchmark measures), the same bytes.
    import gc

    from perfrules._numbers import Memo

    memos = [obj for obj in gc.get_objects() if isinstance(obj, Memo)]
    sizes = [memo.size for memo in memos]
    try:
        for memo in memos:
            memo.clear()
            memo.size = 0
        for entry in GOLDEN[::3]:
            if "trace" in entry:
                result = compiled(entry["scheme"]).evaluate(entry["facts"])
                assert result.trace.to_json() == entry["trace"]
        assert sum(len(memo) for memo in memos) == 0
    finally:
        for memo, size in zip(memos, sizes, strict=True):
            memo.size = size


def _exact_values(node: perfrules.NodeTrace):
    """Every exact number a node holds: weight, score, applicable, inputs, steps, roundings."""
    yield node.weight
    yield node.score
    yield node.applicable
    for given in node.inputs:
        yield given.value
    for step in node.steps:
        yield step.value
        yield from step.args
    for rounding in node.roundings:
        yield rounding.before
        yield rounding.after


def test_every_number_of_a_tree_is_a_fraction_in_lowest_terms():
    # The tree's Fractions are made without Fraction's constructor (from integer pairs known
    # to be reduced, or reduced by one gcd): each must be what Fraction(n, d) makes, or it
    # would compare and hash unlike the same value made the ordinary way.
    from decimal import Decimal
    from fractions import Fraction
    from math import gcd

    seed = compiled("rules/examples/xinzhou-zfw-2021/scheme.toml")
    ids = list(seed.scheme.indicators)
    # trailing zeros, whole numbers, a value over 1 (min takes 1), text and plain numbers
    given = [Decimal("0.500000"), Decimal("0.8"), Decimal(1), Decimal("1.25"), "80%", 3]
    units = [
        {i: {"actual": given[(k + n) % len(given)]} for n, i in enumerate(ids)} for k in range(6)
    ]
    entries = [compiled(e["scheme"]).evaluate(e["facts"]) for e in GOLDEN[::7] if "trace" in e]
    checked = 0
    for result in [seed.evaluate(unit) for unit in units] + entries:
        for node in result.trace.root.walk():
            for value in _exact_values(node):
                if value.__class__ is not Fraction:
                    continue
                num, den = value.numerator, value.denominator
                assert den > 0, (node.id, num, den)
                assert gcd(num, den) == 1, (node.id, num, den)
                assert hash(value) == hash(Fraction(num, den)), (node.id, value)
                checked += 1
    assert checked > 1000


def test_reading_trees_keeps_nothing_between_units():
    # A row's node is built from the unit's record each time: nothing is remembered per
    # value (a real batch never repeats its numbers), so reading many trees grows no memo.
    import gc

    from perfrules._numbers import Memo

    seed = compiled("rules/examples/xinzhou-zfw-2021/scheme.toml")
    ids = list(seed.scheme.indicators)
    seed.evaluate({i: {"actual": "50%"} for i in ids}).trace.root  # noqa: B018 - warm up
    results = [
        seed.evaluate({i: {"actual": f"0.{k:02d}{n:02d}"} for n, i in enumerate(ids)})
        for k in range(50)
    ]
    memos = [obj for obj in gc.get_objects() if isinstance(obj, Memo)]
    before = [len(memo) for memo in memos]
    for result in results:
        assert result.trace.root.score == result.total_exact
    assert [len(memo) for memo in memos] == before
