"""Sensitivity's array path gives the full path's totals and ranks, weight set by weight set.

The array path (``_Columns``) reads the table once and scores each weight set with the
engine's array scorer, the rows it does not take the full way, and ranks integer keys; the
full path (``_Exact``) compiles a copy per weight set and scores and ranks it like
``score_table``. Generated schemes mix formulas whose rows leave the array scorer under some
weights and not others (a score above its weight, a missing fact, a division by zero),
rankings by total, by an indicator and by a fact, every tie rule, ``where``, cohorts.
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfrules

pa = pytest.importorskip("pyarrow")
np = pytest.importorskip("numpy")
from perfrules.engine import with_weights  # noqa: E402 - after the frame extra is known
from perfrules.workflows import _sensitivity as sens  # noqa: E402
from perfrules.workflows._table import (  # noqa: E402
    TABLE_SOURCE,
    cohort_pass,
    readable_table,
    score_chunk,
)

ROOT = Path(__file__).resolve().parent.parent
RANKING_INDEX = ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml"

#: Formulas: linear in the weight or not, some leaving [0, weight] on some rows.
FORMULAS = (
    "weight * x / 100",
    "min(x / 10, weight)",
    "x / 10",
    "weight * x / y",
    "weight - y / 4",
    "weight * max(x, y) / 100 if z > 2 else weight / 2",
)
#: Cells: small numbers (ties are frequent), an empty cell (a missing fact) and a zero.
CELLS = st.sampled_from(["0", "1", "2", "3", "5", "8", "13", "40", "55", "100", ""])


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, pa.Table]:
    count = draw(st.integers(2, 4))
    weights = draw(st.lists(st.integers(1, 40), min_size=count, max_size=count))
    places = draw(st.integers(0, 2))
    total_places = draw(st.integers(0, 2))
    mode = draw(st.sampled_from(["half_up", "half_even", "down", "up"]))
    missing = draw(st.sampled_from(["error", "zero", "exclude", "full"]))
    clamp = "true" if draw(st.booleans()) else "false"
    lines = [
        f'[scheme]\nid = "gen"\ntitle = "Generated"\nmax = {sum(weights)}',
        f'[rounding]\nmode = "{mode}"\nindicator = {places}\ntotal = {total_places}',
        f'[defaults]\nmissing = "{missing}"\nclamp = {clamp}',
        '[inputs]\nx = { label = "x" }\ny = { label = "y" }\nz = { label = "z" }',
    ]
    grouped = count >= 3 and draw(st.booleans())
    if grouped:
        group_places = draw(st.sampled_from(["", "places = 1\n", "places = 0\n"]))
        lines.append(f"[groups.g]\n{group_places}weight = {weights[0] + weights[1]}")
    ids = []
    for i, weight in enumerate(weights):
        formula = draw(st.sampled_from(FORMULAS))
        parent = 'parent = "g"\n' if grouped and i < 2 else ""
        lines.append(f'[indicators.i{i}]\n{parent}weight = {weight}\nformula = "{formula}"')
        ids.append(f"i{i}")
    keys = []
    for _ in range(draw(st.integers(1, 3))):
        by = draw(st.sampled_from(["total", "total", ids[-1], "g" if grouped else "z", "z"]))
        keys.append(f'{{ by = "{by}", order = "{draw(st.sampled_from(["asc", "desc"]))}" }}')
    ranking = [
        f"[ranking]\nkeys = [{', '.join(keys)}]",
        f'ties = "{draw(st.sampled_from(["competition", "dense", "ordinal"]))}"',
    ]
    if draw(st.booleans()):
        ranking.append('where = "z > 1"')
    lines.append("\n".join(ranking))
    cohorts = draw(st.booleans())
    if cohorts:
        lines.append('[cohort]\ngroup_by = "lot"')
    text = "\n\n".join(lines) + "\n"
    rows = draw(st.integers(1, 14))
    columns = {
        "unit": [f"u{r}" for r in range(rows)],
        "shared.x": draw(st.lists(CELLS, min_size=rows, max_size=rows)),
        "shared.y": draw(st.lists(CELLS, min_size=rows, max_size=rows)),
        "shared.z": draw(st.lists(CELLS, min_size=rows, max_size=rows)),
    }
    if cohorts:
        columns["shared.lot"] = draw(
            st.lists(st.sampled_from(["a", "b"]), min_size=rows, max_size=rows)
        )
    return text, pa.table(columns)


def _both_ways(
    scheme: perfrules.Scheme, table: pa.Table, weight_sets: list[dict[str, Decimal]]
) -> None:
    """Every weight set: the array path's totals and ranks are the full path's."""
    ranked, _ = sens._ranked_scheme(scheme)
    compiled = perfrules.compile_scheme(ranked)
    assert compiled.columnar().vectorised
    table = readable_table(table, TABLE_SOURCE)
    values = cohort_pass(compiled, [(table, 1)])
    fast = sens._Columns(compiled, table, values)
    full = sens._Exact(ranked, table, values)
    for weights in weight_sets:
        got = fast.sample(weights)
        chunk = score_chunk(perfrules.compile_scheme(with_weights(ranked, weights)), table, values)
        assert got.scored.tolist() == chunk.scored.tolist()
        assert chunk.scale == got.scale
        mine = [
            int(v) for v, ok in zip(got.totals.tolist(), got.scored.tolist(), strict=True) if ok
        ]
        theirs = [
            int(v)
            for v, ok in zip(chunk.totals.tolist(), chunk.scored.tolist(), strict=True)
            if ok
        ]
        assert mine == theirs
        assert got.ranks.tolist() == full(weights).tolist()


def _weight_sets(scheme: perfrules.Scheme, seed: int, count: int) -> list[dict[str, Decimal]]:
    rng = random.Random(seed)
    declared = {k: v.weight for k, v in [*scheme.groups.items(), *scheme.indicators.items()]}
    return [
        declared,
        *(sens.perturbed_weights(scheme, rng, vary=Decimal(60)) for _ in range(count)),
    ]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=_cases(), seed=st.integers(0, 2**16))
def test_array_path_equals_full_path(case: tuple[str, pa.Table], seed: int) -> None:
    text, table = case
    scheme = perfrules.loads_scheme(text)
    _both_ways(scheme, table, _weight_sets(scheme, seed, 4))


def test_the_ranking_index_example_both_ways() -> None:
    scheme = perfrules.load_scheme(RANKING_INDEX)
    rng = random.Random(5)
    n = 400
    table = pa.table(
        {
            "unit": [f"C{i}" for i in range(n)],
            # few distinct values: many tied totals
            "shared.gdp": [str(rng.randint(50, 60) / 10) for _ in range(n)],
            "shared.green": [f"{rng.randint(20, 25)}%" for _ in range(n)],
            # a missing value and an unreadable one: rows the full way takes
            "shared.pm25": ["", "n/a?", *(str(rng.randint(15, 20)) for _ in range(n - 2))],
        }
    )
    _both_ways(scheme, table, _weight_sets(scheme, 11, 12))


def test_a_wrong_fast_path_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above sees a fast path that ranks the other way round."""
    scheme = perfrules.load_scheme(RANKING_INDEX)
    table = pa.table(
        {
            "unit": ["A", "B", "C"],
            "shared.gdp": ["12", "10", "8"],
            "shared.green": ["45%", "50%", "40%"],
            "shared.pm25": ["30", "25", "40"],
        }
    )
    real = sens._Columns.sample

    def reversed_ranks(self: sens._Columns, weights: dict[str, Decimal]) -> sens._Sample:
        got = real(self, weights)
        ranks = got.ranks.copy()
        ranks[ranks > 0] = ranks.max() + 1 - ranks[ranks > 0]
        return sens._Sample(got.totals, got.scale, got.scored, ranks)

    monkeypatch.setattr(sens._Columns, "sample", reversed_ranks)
    with pytest.raises(AssertionError):
        _both_ways(scheme, table, _weight_sets(scheme, 1, 1))


CLAMPED = """
[scheme]
id = "clamped"
title = "Clamped"
max = 30

[rounding]
indicator = 1
total = 1

[defaults]
clamp = true
missing = "zero"

[inputs]
x = { label = "x" }
y = { label = "y" }

[ranking]
keys = [{ by = "total", order = "desc" }, { by = "y", order = "asc" }]
ties = "dense"

[indicators.a]
weight = 10
formula = "x / 10"

[indicators.b]
weight = 20
formula = "weight * y / 100"
"""


def test_the_exact_keys_answer_is_the_full_paths() -> None:
    """``_by_fractions`` (taken should a key of the full way not be a whole number of
    places) ranks as the full path does, rows of both ways together."""
    ranked, _ = sens._ranked_scheme(perfrules.loads_scheme(CLAMPED))
    compiled = perfrules.compile_scheme(ranked)
    table = readable_table(
        pa.table(
            {
                "unit": list("ABCDEF"),
                "shared.x": ["50", "", "90", "250", "", "7"],  # B and E: no x, 0 points
                "shared.y": ["50", "40", "60", "10", "55", "50"],
            }
        ),
        TABLE_SOURCE,
    )
    values = cohort_pass(compiled, [(table, 1)])
    fast = sens._Columns(compiled, table, values)
    full = sens._Exact(ranked, table, values)
    for weights in _weight_sets(ranked, 3, 5):
        ready = fast.ready
        arrays = compiled.score_columns(ready.inputs, ready.regular, weights=weights)
        regular = arrays.regular & ~ready.refused
        rest = np.flatnonzero(~regular & ~fast.never)
        assert rest.tolist() == [1, 4]  # the rows without x go the full way
        chunk = fast._long_way(weights, rest)
        got = fast._by_fractions(
            arrays, regular & fast.takes, chunk, rest, (arrays.scores[0], regular)
        )
        assert got.ranks.tolist() == full(weights).tolist()
        assert fast.sample(weights).ranks.tolist() == full(weights).tolist()


def test_sensitivity_of_the_example_is_the_same_either_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole result (medians, intervals, strongest weights) of the shipped example."""
    compiled = perfrules.compile_scheme(perfrules.load_scheme(RANKING_INDEX))
    rng = random.Random(2)
    n = 300
    table = pa.table(
        {
            "unit": [f"C{i}" for i in range(n)],
            "shared.gdp": [str(rng.randint(50, 70) / 10) for _ in range(n)],
            "shared.green": [f"{rng.randint(20, 30)}%" for _ in range(n)],
            "shared.pm25": ["", *(str(rng.randint(15, 25)) for _ in range(n - 1))],
        }
    )
    options = {"vary": Decimal(25), "samples": 30, "seed": 9}
    fast = sens.sensitivity(compiled, table, **options)  # type: ignore[arg-type]

    def full_path(compiled: perfrules.CompiledScheme, table: pa.Table, values: object) -> object:
        return sens._Exact(compiled.scheme, table, values)  # type: ignore[arg-type]

    monkeypatch.setattr(sens, "_Columns", full_path)
    full = sens.sensitivity(compiled, table, **options)  # type: ignore[arg-type]
    assert fast.to_dict() == full.to_dict()
    assert any(u.low != u.high for u in fast.units)
    assert fast.failed  # the unit without a PM2.5


def _nearest_rank(ranks: list[int], percent: int) -> int:
    """The nearest-rank percentile of sorted *ranks*, as the report defines it."""
    k = max(1, -(-percent * len(ranks) // 100))
    return ranks[k - 1]


@settings(max_examples=200, deadline=None)
@given(
    table=st.integers(1, 6).flatmap(
        lambda units: st.lists(
            st.lists(st.integers(0, 5), min_size=units, max_size=units), min_size=1, max_size=25
        )
    ),
    percent=st.integers(0, 100),
)
def test_percentiles_are_nearest_ranks_over_the_ranked_samples(
    table: list[list[int]], percent: int
) -> None:
    counts, (got,) = sens._percentiles(np.array(table, dtype=np.int32), (percent,))
    for unit in range(len(table[0])):
        ranks = sorted(row[unit] for row in table if row[unit] > 0)
        assert counts[unit] == len(ranks)
        if ranks:
            assert got[unit] == _nearest_rank(ranks, percent)


@settings(max_examples=200, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 5), st.integers(1, 4)).flatmap(
        lambda s: st.tuples(
            st.lists(st.integers(0, 6), min_size=s[0], max_size=s[0]),
            st.lists(
                st.lists(st.integers(0, 6), min_size=s[0], max_size=s[0]),
                min_size=2 * s[1],
                max_size=2 * s[1],
            ),
        )
    )
)
def test_the_strongest_weight_is_the_first_that_moves_a_unit_most(
    shape: tuple[list[int], list[list[int]]],
) -> None:
    base, oat = shape
    settings_ = [
        sens.WeightSetting(f"w{i}", f"w{i}", Decimal(1), Decimal(0), Decimal(2))
        for i in range(len(oat) // 2)
    ]
    groups = [(w.id, (2 * i, 2 * i + 1)) for i, w in enumerate(settings_)]
    movers, shifts = sens._movers(
        np.array(base, dtype=np.int32), groups, np.array(oat, dtype=np.int32)
    )
    for unit, rank in enumerate(base):
        best, most = None, 0
        for i, setting in enumerate(settings_):
            moved = [abs(r - rank) for r in (oat[2 * i][unit], oat[2 * i + 1][unit]) if r]
            if rank and max(moved, default=0) > most:
                best, most = setting.id, max(moved)
        assert (movers[unit], shifts[unit]) == (best, most)


CHOICE_RULES = """
[scheme]
id = "choice"
title = "Choice"

[rounding]
indicator = 2
total = 2

[inputs.x]
normalise = {{ method = "{method}" }}

[inputs.y]
normalise = {{ method = "minmax" }}

[indicators.a]
weight = 50
formula = "weight * x"

[indicators.b]
weight = 50
formula = "weight * y"

[ranking]
keys = [{{ by = "total" }}]
"""


def _choice_scheme(method: str) -> perfrules.CompiledScheme:
    text = CHOICE_RULES.format(method=method)
    return perfrules.compile_scheme(perfrules.loads_scheme(text, name="choice.toml"))


def _ranks(compiled: perfrules.CompiledScheme, table: pa.Table) -> dict[str, int]:
    scored = perfrules.score_table(compiled, table)
    return dict(zip(scored["unit"].to_pylist(), scored["rank"].to_pylist(), strict=True))


def test_a_normalisation_choice_ranks_each_sample_as_that_variant_does() -> None:
    # x: far ahead for A by min-max, one place ahead by percentile; y favours B and C.
    table = pa.table(
        {
            "unit": ["A", "B", "C", "D"],
            "shared.x": ["100", "12", "11", "10"],
            "shared.y": ["0", "70", "100", "20"],
        }
    )
    ranks = {m: _ranks(_choice_scheme(m), table) for m in ("minmax", "percentile")}
    assert ranks["minmax"] != ranks["percentile"]  # the choice matters here
    choice = sens.Choice.parse("normalise", "x=minmax,percentile")
    result = sens.sensitivity(
        _choice_scheme("minmax"), table, samples=30, seed=5, choices=[choice]
    )
    for unit in result.units:
        seen = {ranks["minmax"][unit.unit], ranks["percentile"][unit.unit]}
        assert {unit.low, unit.median, unit.high} <= seen
        assert unit.rank == ranks["minmax"][unit.unit]
        moved = abs(ranks["percentile"][unit.unit] - ranks["minmax"][unit.unit])
        assert unit.shift == moved
        assert unit.mover == (choice.key("percentile") if moved else None)
    assert result.to_dict()["choices"] == [
        {"kind": "normalise", "input": "x", "options": ["minmax", "percentile"]}
    ]
    assert result.names()[choice.key("percentile")] == "x normalised by percentile"
    assert result.choice_texts() == ["x normalised by: minmax | percentile"]
    from perfrules.reports.sensitivity import render_sensitivity_html

    assert "<li>x normalised by: minmax | percentile</li>" in render_sensitivity_html(result, "en")


def test_a_choice_the_scheme_does_not_declare_is_refused() -> None:
    declared = _choice_scheme("minmax")
    table = pa.table({"unit": ["A"], "shared.x": ["1"], "shared.y": ["2"]})
    with pytest.raises(sens.SensitivityError, match="no number input"):
        sens.sensitivity(declared, table, choices=[sens.Choice.parse("impute", "z=cohort_mean")])
    with pytest.raises(sens.SensitivityError, match="not one of"):
        sens.Choice.parse("normalise", "x=minmax,best")


IMPUTE_RULES = """
[scheme]
id = "impute-choice"
title = "Impute choice"

[rounding]
indicator = 2
total = 2

[inputs]
x = {{ impute = {impute} }}

[indicators.a]
weight = 100
formula = "weight * clamp(x / 100, 0, 1)"

[ranking]
keys = [{{ by = "total" }}]
"""


def test_an_imputation_choice_ranks_each_sample_as_that_variant_does() -> None:
    # E's x is missing: the mean of the others is 40 (B's), the median 30: E second or third.
    table = pa.table(
        {"unit": ["A", "B", "C", "D", "E"], "shared.x": ["90", "40", "20", "10", "-"]}
    )

    def compiled(impute: str) -> perfrules.CompiledScheme:
        text = IMPUTE_RULES.format(impute=impute)
        return perfrules.compile_scheme(perfrules.loads_scheme(text, name="imp.toml"))

    mean, median = (
        _ranks(compiled('"cohort_mean"'), table),
        _ranks(compiled('"cohort_median"'), table),
    )
    assert (mean["E"], median["E"]) == (2, 3)
    choice = sens.Choice.parse("impute", "x=cohort_mean,cohort_median,0")
    result = sens.sensitivity(
        compiled('"cohort_mean"'), table, samples=40, seed=2, choices=[choice]
    )
    e = next(u for u in result.units if u.unit == "E")
    assert (e.rank, e.low, e.high) == (2, 2, 5)  # at 0, E is last
    assert (e.mover, e.shift) == (choice.key("0"), 3)


def test_a_scheme_whose_only_weight_follows_its_group_says_nothing_varies() -> None:
    root = Path(__file__).resolve().parent.parent
    hdi = perfrules.compile_scheme(
        perfrules.load_scheme(root / "rules/un/hdi-2023-24/scheme.toml")
    )
    table = pa.table(
        {
            "unit": ["A"],
            "shared.life_expectancy": ["70"],
            "shared.expected_schooling": ["12"],
            "shared.mean_schooling": ["9"],
            "shared.gni_per_capita": ["9000"],
        }
    )
    with pytest.raises(sens.SensitivityError, match="nothing varies"):
        sens.sensitivity(hdi, table, vary=Decimal(20), samples=5)


def test_an_option_the_formulas_do_not_suit_is_refused() -> None:
    # Ranks 1..4 read as a share of the weight give scores up to 4 × 50: outside the weight.
    table = pa.table(
        {
            "unit": ["A", "B", "C", "D"],
            "shared.x": ["100", "12", "11", "10"],
            "shared.y": ["0", "70", "100", "20"],
        }
    )
    choice = sens.Choice.parse("normalise", "x=minmax,rank")
    with pytest.raises(sens.SensitivityError, match="do not suit that option"):
        sens.sensitivity(_choice_scheme("minmax"), table, samples=5, choices=[choice])


def test_a_number_to_impute_has_the_limits_of_a_rule_files_numbers() -> None:
    with pytest.raises(sens.SensitivityError, match="below 10"):
        sens.Choice.parse("impute", "x=cohort_mean,1e999999999")
    assert sens.Choice.parse("impute", "x=0.5,none").options == ("0.5", "none")
