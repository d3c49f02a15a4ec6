"""perfrules against an independent interpreter written from the docs (``oracle.py``).

Random rule files (every function, every policy, clamps, params, targets, places at every
level, all four rounding modes, named formulas, rows and groups ``counted = false``, ``fit``
normalise and cap with a maximum other than the rows', band edges at half points) and random facts (numbers, percentages,
fractions, bools, "N/A", missing values, overrides): perfrules and the oracle must agree on
every score, the total and the grade, or both refuse the facts. The oracle shares no code
with ``src/``, so a bug inside a function, a rounding mode or the aggregation shows here.
PERFRULES_ORACLE_EXAMPLES sets the number of schemes (200 by default).
"""

from __future__ import annotations

import os
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfrules
from oracle import Oracle, OracleError
from perfrules.errors import FactsError

EXAMPLES = int(os.environ.get("PERFRULES_ORACLE_EXAMPLES", "200"))

FORMULAS = [
    "weight * min(x, 1)",
    "capped",
    "weight * reverse_ratio(x, t)",
    "max(weight - weight / 4 * steps(1 - x, 0.05), 0)",
    'lookup(x, "[90%, 100%]", weight, "[0.6, 0.9)", weight * 0.6, "(0, 0.6)", weight / 5, 0)',
    'lookup(t, "=0", weight, ">=1", weight / 2)',
    "checklist(ok, weight / 2, x >= 0.5, weight / 3)",
    "weight * count(ok, x > 0.5, t > 0.5) / 3",
    "weight * missing(ok, x > 0.5) / 2",
    "clamp(weight * x, 0, weight)",
    "weight * abs(x - t) / (1 + abs(x - t))",
    "weight * floor(x * 10) / 10",
    "weight * ceil(x * 4) / 4",
    "weight if ok else weight * x",
    "weight * x / t if t > 0 else 0",
    "weight * x ** 2",
    "weight * 7 / 48 * x",
    "weight * (0.853 * x)",
    "clamp(weight * x, t, weight)",
]
X_VALUES = ["0", "0.25", "50%", "85.3%", "1", "70/88", "7/48", "1.2", "0.875", "N/A", 0, 1]
T_VALUES = ["0", "1", "88", "2/3", "0.5", "70"]
PLACES = [0, 1, 2, "none"]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@st.composite
def rule_files(draw: st.DrawFn) -> str:
    lines: list[str] = []
    entries: list[tuple[str, str, dict[str, Any]]] = []

    def make(parent: str | None, depth: int) -> Fraction:
        total = Fraction(0)
        made: list[tuple[dict[str, Any], Fraction]] = []
        for _ in range(draw(st.integers(1, 3))):
            node_id = f"n{len(entries)}"
            if depth < 3 and draw(st.booleans()):
                entry: dict[str, Any] = {"parent": parent} if parent else {}
                position = len(entries)
                entries.append(("groups", node_id, entry))
                weight = make(node_id, depth + 1)
                entry["weight"] = Decimal(weight.numerator) / weight.denominator
                if draw(st.integers(0, 3)) == 0:
                    entry["places"] = draw(st.sampled_from(PLACES))
                entries[position] = ("groups", node_id, entry)
            else:
                weight = Fraction(draw(st.sampled_from([1, 2, 2.5, 5, 6, 10])))
                entry = {
                    "weight": Decimal(weight.numerator) / weight.denominator,
                    "formula": draw(st.sampled_from(FORMULAS)),
                }
                if parent:
                    entry["parent"] = parent
                for key, options in (
                    ("missing", ["error", "zero", "full", "exclude"]),
                    ("na", ["error", "zero", "full", "exclude"]),
                    ("clamp", [True, False]),
                    ("places", PLACES),
                ):
                    if draw(st.booleans()):
                        entry[key] = draw(st.sampled_from(options))
                if draw(st.integers(0, 3)) == 0:
                    entry["params"] = {"t": draw(st.sampled_from([Decimal("0.5"), 1, 88]))}
                elif draw(st.integers(0, 3)) == 0:
                    entry["target"] = draw(st.sampled_from(["88", "90%", "2/3"]))
                entries.append(("indicators", node_id, entry))
            if draw(st.integers(0, 4)) == 0:  # shown and scored, not added up
                entry["counted"] = False
            else:
                total += weight
            made.append((entry, weight))
        if total == 0:  # every child shown but not counted: count the first
            first, weight = made[0]
            del first["counted"]
            total = weight
        return total

    weights = make(None, 1)
    fit = draw(st.sampled_from([None, "normalise", "cap"]))
    total = weights
    if fit is not None:  # rows out of another maximum than the total's (110 and 100)
        total = Fraction(draw(st.integers(max(1, int(weights) // 2), int(weights) * 2 + 1)))
    top = int(total)
    cuts = sorted(set(draw(st.lists(st.integers(1, max(top - 1, 1)), max_size=3))))
    halves = draw(st.lists(st.integers(0, max(top - 1, 0)), max_size=2))  # bands at x.5
    edges = sorted(
        {Fraction(0), *(Fraction(c) for c in cuts), *(c + Fraction(1, 2) for c in halves)}
        - {total}
    )
    edges = [e for e in edges if e < total] + [total]
    lines += [
        "[scheme]",
        'id = "oracle"',
        'title = "oracle"',
        f"max = {Decimal(total.numerator) / total.denominator}",
        *([f'fit = "{fit}"'] if fit else []),
        "",
        "[rounding]",
        f"mode = {_toml(draw(st.sampled_from(['half_up', 'half_even', 'down', 'up'])))}",
        f"indicator = {_toml(draw(st.sampled_from(PLACES)))}",
        f"group = {_toml(draw(st.sampled_from(PLACES)))}",
        f"total = {_toml(draw(st.sampled_from(PLACES)))}",
        "",
        "[defaults]",
        f"missing = {_toml(draw(st.sampled_from(['error', 'zero', 'exclude'])))}",
        f"clamp = {_toml(draw(st.booleans()))}",
        "",
        "[inputs]",
        "x = {}",
        "t = {}",
        'ok = { type = "bool" }',
        "",
        "[formulas]",
        'capped = "weight * ratio(x, t)"',
        "",
    ]
    for i in reversed(range(len(edges) - 1)):
        low, high = edges[i], edges[i + 1]
        lines += [
            "[[bands]]",
            f'label = "G{i}"',
            f"min = {Decimal(low.numerator) / low.denominator}",
            f"max = {Decimal(high.numerator) / high.denominator}",
            "",
        ]
    for section, node_id, entry in entries:
        lines.append(f"[{section}.{node_id}]")
        for key, value in entry.items():
            if key == "params":
                inner = ", ".join(f"{k} = {_toml(v)}" for k, v in value.items())
                lines.append(f"params = {{ {inner} }}")
            else:
                lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines)


@st.composite
def units(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    indicators: dict[str, dict[str, Any]] = {}
    for node_id in ids:
        own: dict[str, Any] = {}
        for name, values in (("x", X_VALUES), ("t", T_VALUES), ("ok", [True, False, "是", "否"])):
            if draw(st.integers(0, 9)) > 0:
                own[name] = draw(st.sampled_from(values))
        roll = draw(st.integers(0, 19))
        if roll == 0:
            own["na"] = "不适用"
        elif roll == 1:
            own["override"] = {"score": "0.5", "reason": "调减"}
        indicators[node_id] = own
    return {"indicators": indicators}


def _compare(compiled: perfrules.CompiledScheme, oracle: Oracle, facts: dict[str, Any]) -> None:
    try:
        expected = oracle.score(facts)
    except OracleError:
        expected = None
    try:
        result = compiled.evaluate(facts, trace=True)
    except FactsError as exc:
        assert expected is None, (facts, expected, [d.code for d in exc.diagnostics])
        return
    assert expected is not None, (facts, result.total)
    assert result.total_exact == expected["total"], facts
    assert result.grade.label == expected["grade"], facts
    for node_id, value in expected["scores"].items():
        got = result.scores[node_id]
        if value is None:
            assert got is None, (node_id, facts)
        elif (value * 10**40).denominator == 1:  # a Decimal holds it exactly
            assert Fraction(got) == value, (node_id, facts)
    # The trace explains the same numbers, and gap() agrees with it.
    trace = result.trace
    assert trace is not None
    assert trace.total == expected["total"]
    for node in trace.root.walk():
        if node.kind != "scheme":
            assert node.score == expected["scores"][node.id], (node.id, facts)
    assert compiled.gap(result) == trace.gap
    gap = trace.gap
    shown = None if gap is None else (gap.label, gap.min, gap.shortfall, tuple(gap.improve))
    if oracle.fit == "cap" and gap is not None and expected["gap"] is not None:
        # under a cap the points a row adds are not its loss alone: compare the rows
        shown = (*shown[:3], tuple(i for i, _ in shown[3]))
        want = expected["gap"]
        assert shown == (*want[:3], tuple(i for i, _ in want[3])), facts
    else:
        assert shown == expected["gap"], facts
    # ... and its losses are the rows that lost points, the most first, ties by id.
    losses = trace.to_dict()["losses"]
    assert [row["id"] for row in losses] == [i for i, _ in expected["losses"]], facts
    for row, (_, lost) in zip(losses, expected["losses"], strict=True):
        if (lost * 10**40).denominator == 1:  # written exactly
            assert Fraction(row["lost"]) == lost, (row, facts)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=rule_files(), data=st.data())
def test_perfrules_agrees_with_the_oracle(tmp_path_factory, text, data):
    path = Path(tmp_path_factory.mktemp("oracle")) / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    oracle = Oracle(text)
    ids = list(oracle.nodes)
    leaves = [i for i in ids if oracle.nodes[i].formula is not None]
    for _ in range(5):
        _compare(compiled, oracle, data.draw(units(leaves)))


def test_the_oracle_reproduces_the_seed():
    root = Path(__file__).resolve().parent.parent / "rules" / "examples" / "xinzhou-zfw-2021"
    import tomllib

    oracle = Oracle((root / "scheme.toml").read_text("utf-8"))
    facts = tomllib.loads((root / "facts.toml").read_text("utf-8"), parse_float=Decimal)
    facts["indicators"]["质量-市域治理"]["actual"] = "70"
    expected = oracle.score({"indicators": facts["indicators"]})
    assert expected["total"] == Fraction("89.25")
    assert expected["grade"] == "良好"


def test_a_total_at_the_maximum_is_graded_in_the_top_band(tmp_path):
    # every band's max is excluded but the top band's, which holds the scheme's max
    text = (
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\n[inputs]\nx = {}\n'
        '[[bands]]\nlabel = "A"\nmin = 9\nmax = 10\n'
        '[[bands]]\nlabel = "B"\nmin = 0\nmax = 9\n'
        '[indicators.a]\nweight = 10\nformula = "weight * x"\n'
    )
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    oracle = Oracle(text)
    for x, grade in (("1", "A"), ("0.9", "A"), ("0.899", "B")):
        facts = {"indicators": {"a": {"x": x}}}
        _compare(compiled, oracle, facts)
        assert compiled.evaluate(facts).grade.label == grade


def _rows(rows: list[tuple[str, int, str | None]]) -> str:
    """Indicators ``(id, weight, group)`` scoring ``weight * x``."""
    text = ""
    for node_id, weight, group in rows:
        text += f'[indicators.{node_id}]\nweight = {weight}\nformula = "weight * x"\n'
        if group is not None:
            text += f'parent = "{group}"\n'
    return text


# Where chance may not look: a gap that only the total's or a group's rounding decides.
# Each gap below is one row, where the points lost alone would need two or weigh less.
CHOSEN = [
    pytest.param(
        # 3.4 + 2.4 + 2.5 = 8.3; a at full marks makes 8.9, rounded to 9: band A
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\n[inputs]\nx = {}\n'
        "[rounding]\nindicator = 1\ntotal = 0\n"
        '[[bands]]\nlabel = "A"\nmin = 9\nmax = 10\n'
        '[[bands]]\nlabel = "B"\nmin = 0\nmax = 9\n'
        + _rows([("a", 4, None), ("b", 3, None), ("c", 3, None)]),
        {"a": "0.85", "b": "0.8", "c": "5/6"},
        id="the total's rounding",
    ),
    pytest.param(
        # G = 9.6 + 9.6 = 19.2, rounded to 19; a at full marks makes G 19.6, rounded to 20:
        # the total 20 + 9.7 reaches A
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 30\n[inputs]\nx = {}\n'
        "[rounding]\nindicator = 1\ngroup = 0\ntotal = 1\n"
        '[[bands]]\nlabel = "A"\nmin = 29.7\nmax = 30\n'
        '[[bands]]\nlabel = "B"\nmin = 0\nmax = 29.7\n'
        "[groups.G]\nweight = 20\n" + _rows([("a", 10, "G"), ("b", 10, "G"), ("c", 10, None)]),
        {"a": "0.96", "b": "0.96", "c": "0.97"},
        id="a group's rounding",
    ),
    pytest.param(
        # rows out of 5 scaled to 10: a at full marks adds its 2 lost points twice over
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\nfit = "normalise"\n[inputs]\nx = {}\n'
        '[[bands]]\nlabel = "A"\nmin = 8\nmax = 10\n'
        '[[bands]]\nlabel = "B"\nmin = 0\nmax = 8\n' + _rows([("a", 4, None), ("b", 1, None)]),
        {"a": "0.5", "b": "1"},
        id="the rows' sum scaled to the total",
    ),
    pytest.param(
        # c left out: a and b, out of 5, are scaled to 10, as above
        '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\n[inputs]\nx = {}\n'
        '[[bands]]\nlabel = "A"\nmin = 8\nmax = 10\n'
        '[[bands]]\nlabel = "B"\nmin = 0\nmax = 8\n'
        + _rows([("a", 4, None), ("b", 1, None), ("c", 5, None)]),
        {"a": "0.5", "b": "1", "c": "N/A"},
        id="a row left out",
    ),
]


@pytest.mark.parametrize(("text", "xs"), CHOSEN)
def test_perfrules_agrees_with_the_oracle_on_chosen_gaps(tmp_path, text, xs):
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    oracle = Oracle(text)
    facts = {"indicators": {node_id: {"x": x} for node_id, x in xs.items()}}
    _compare(compiled, oracle, facts)
    gap = compiled.evaluate(facts, trace=True).trace.gap
    assert gap is not None
    assert [node_id for node_id, _ in gap.improve] == ["a"]
