"""Properties of the engine on random schemes, checked against an independent reference.

The reference below computes every score with plain ``Fraction`` arithmetic and rounds with
``decimal.Decimal.quantize`` at 200 digits: it shares no code with the engine's evaluator,
rounding or aggregation.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.model import Scheme

MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
}

FORMULAS = {
    "rate": ("weight * x", lambda w, x, t: w * x),
    "capped": ("weight * min(x / t, 1)", lambda w, x, t: w * min(x / t, 1)),
    "ratio": ("weight * ratio(x, t)", lambda w, x, t: w * min(x / t, 1)),
    "reverse": (
        "weight * reverse_ratio(x, t)",
        lambda w, x, t: w if x == 0 else w * min(t / x, 1),
    ),
    "steps": (
        "max(weight - 2 * steps(t - x, 0.05), 0)",
        lambda w, x, t: max(w - 2 * ((t - x) // Fraction(1, 20) if t - x > 0 else 0), 0),
    ),
}


def reference_round(value: Fraction, places, mode: str) -> Fraction:
    if places == "none":
        return value
    with localcontext() as ctx:
        ctx.prec = 200
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return Fraction(exact.quantize(Decimal(1).scaleb(-places), rounding=MODES[mode]))


decimals = st.decimals(min_value=0, max_value=2, places=4, allow_nan=False, allow_infinity=False)
positive = st.decimals(
    min_value=Decimal("0.01"), max_value=2, places=3, allow_nan=False, allow_infinity=False
)
places = st.sampled_from([0, 1, 2, 3, "none"])


@st.composite
def schemes_and_facts(draw):
    leaves = []
    groups = {}
    indicators = {}
    facts = {}

    def make(parent, depth, budget):
        count = draw(st.integers(1, 3))
        kids = []
        for _ in range(count):
            node_id = f"n{len(groups) + len(indicators) + len(leaves)}"
            if depth < 3 and draw(st.booleans()):
                groups[node_id] = {"parent": parent} if parent else {}
                child_weight = make(node_id, depth + 1, budget)
                groups[node_id]["weight"] = child_weight
                kids.append(child_weight)
            else:
                weight = Decimal(draw(st.integers(1, 20)))
                kind = draw(st.sampled_from(sorted(FORMULAS)))
                entry = {"weight": weight, "formula": FORMULAS[kind][0], "clamp": True}
                if parent:
                    entry["parent"] = parent
                indicators[node_id] = entry
                facts[node_id] = {"x": str(draw(decimals)), "t": str(draw(positive))}
                leaves.append((node_id, kind))
                kids.append(weight)
        return sum(kids, Decimal(0))

    total = make(None, 1, 0)
    cuts = (
        sorted(set(draw(st.lists(st.integers(1, int(total) - 1), max_size=3))))
        if total > 1
        else []
    )
    edges = [Decimal(0), *map(Decimal, cuts), total]
    bands = [
        {"label": f"G{i}", "min": edges[i], "max": edges[i + 1]}
        for i in reversed(range(len(edges) - 1))
    ]
    rounding = {
        "mode": draw(st.sampled_from(sorted(MODES))),
        "indicator": draw(places),
        "group": draw(places),
        "total": draw(places),
    }
    data = {
        "scheme": {"id": "random", "title": "random", "max": total},
        "rounding": rounding,
        "bands": bands,
        "inputs": {"x": {}, "t": {}},
        "groups": groups,
        "indicators": indicators,
    }
    return data, facts, dict(leaves)


def _terminates(value: Fraction) -> bool:
    return (value * 10**60).denominator == 1


def reference(data, facts, kinds):
    """Independent computation of every node's score and the total."""
    mode = data["rounding"]["mode"]
    scores = {}
    children = {}
    for section in ("groups", "indicators"):
        for node_id, entry in data[section].items():
            children.setdefault(entry.get("parent"), []).append(node_id)

    def score(node_id):
        if node_id in data["indicators"]:
            entry = data["indicators"][node_id]
            w = Fraction(entry["weight"])
            x = Fraction(Decimal(facts[node_id]["x"]))
            t = Fraction(Decimal(facts[node_id]["t"]))
            value = min(max(FORMULAS[kinds[node_id]][1](w, x, t), 0), w)
            value = reference_round(value, data["rounding"]["indicator"], mode)
        else:
            value = sum((score(k) for k in children.get(node_id, [])), Fraction(0))
            value = reference_round(value, data["rounding"]["group"], mode)
        scores[node_id] = value
        return value

    total = sum((score(k) for k in children.get(None, [])), Fraction(0))
    return scores, reference_round(total, data["rounding"]["total"], mode)


@settings(max_examples=300)
@given(schemes_and_facts())
def test_engine_matches_an_independent_reference(case):
    data, facts, kinds = case
    compiled = perfrules.compile_scheme(Scheme.model_validate(data))
    result = compiled.evaluate(facts)
    scores, total = reference(data, facts, kinds)
    assert result.total_exact == total
    for node_id, expected in scores.items():
        assert result.trace.root.find(node_id).score == expected, node_id
        if (expected * 10**40).denominator == 1:  # terminating: the Decimal is exact too
            assert Fraction(result.scores[node_id]) == expected, node_id


@settings(max_examples=200)
@given(schemes_and_facts())
def test_invariants_of_every_result(case):
    data, facts, _ = case
    compiled = perfrules.compile_scheme(Scheme.model_validate(data))
    result = compiled.evaluate(facts)
    trace = result.trace
    mode = data["rounding"]["mode"]
    for node in trace.root.walk():
        # 0 <= score <= weight at every node
        assert 0 <= node.score <= node.weight, node.id
        # each group equals the declared aggregation of its children under the declared rounding
        if node.children:
            level = "total" if node.kind == "scheme" else "group"
            expected = reference_round(
                sum(c.score for c in node.children), data["rounding"][level], mode
            )
            assert node.score == expected, node.id
    # the grade matches the total
    grade = result.grade
    top = Fraction(data["scheme"]["max"])
    assert grade.min <= result.total_exact
    assert result.total_exact < grade.max or result.total_exact == grade.max == top
    # the fast path (exact Decimals, no trace) gives the same numbers as the traced path
    fast = compiled.evaluate(facts, trace=False)
    assert fast.total_exact == result.total_exact
    assert fast.grade == result.grade
    for node in trace.root.walk():
        if node.kind != "scheme":
            assert Fraction(fast.scores[node.id]) == node.score or not _terminates(node.score), (
                node.id
            )
    # identical inputs give identical JSON bytes
    assert compiled.evaluate(facts).trace.to_json() == trace.to_json()
    json.loads(trace.to_json())
