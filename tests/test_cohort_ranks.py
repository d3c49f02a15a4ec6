"""The ranking's two forms agree: ``rank`` on exact values, ``rank_positions`` on integers."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrules.engine._cohort import rank, rank_positions, rank_shared
from perfrules.model import Ranking, RankKey

np = pytest.importorskip("numpy")

#: A key value: missing, or a few small fractions (so that ties are frequent).
_VALUES = st.one_of(
    st.none(),
    st.builds(Fraction, st.integers(-6, 6), st.sampled_from([1, 2, 4])),
)


@st.composite
def _tables(
    draw: st.DrawFn,
) -> tuple[Ranking, list[tuple[Fraction | None, ...]], list[int]]:
    width = draw(st.integers(1, 3))
    keys = [
        RankKey(by=f"k{k}", order=draw(st.sampled_from(["asc", "desc"]))) for k in range(width)
    ]
    ties = draw(st.sampled_from(["competition", "dense", "ordinal"]))
    rows = draw(st.lists(st.tuples(*[_VALUES] * width), max_size=40))
    cohorts = draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)))
    return Ranking(keys=keys, ties=ties), rows, cohorts


def _integers(values: list[Fraction | None]) -> tuple[list[int], list[bool]]:
    """Each value times 4 (a whole number here), 0 where it is missing."""
    return [0 if v is None else int(v * 4) for v in values], [v is None for v in values]


@settings(max_examples=300, deadline=None)
@given(table=_tables(), wide=st.booleans())
def test_positions_are_the_ranks_positions(
    table: tuple[Ranking, list[tuple[Fraction | None, ...]], list[int]], wide: bool
) -> None:
    ranking, rows, cohorts = table
    expected = {}
    for cohort in set(cohorts):  # each cohort ranked on its own, its rows in their order
        members = [(i, f"u{i}", keys) for i, keys in enumerate(rows) if cohorts[i] == cohort]
        expected.update(rank(ranking, members))
    columns = [_integers([row[k] for row in rows]) for k in range(len(ranking.keys))]
    kind = object if wide else np.int64
    got = rank_positions(
        ranking,
        [np.array(values, dtype=kind) for values, _ in columns],
        [np.array(flags, dtype=np.bool_) for _, flags in columns],
        np.array(cohorts, dtype=np.int64),
    )
    assert got.tolist() == [expected[i].position for i in range(len(rows))]
    shared = rank_shared(ranking, got, np.array(cohorts, dtype=np.int64))
    assert shared.tolist() == [expected[i].shared for i in range(len(rows))]


def test_missing_values_sort_last_whichever_the_order() -> None:
    for order in ("asc", "desc"):
        ranking = Ranking(keys=[RankKey(by="x", order=order)], ties="competition")
        got = rank_positions(
            ranking, [np.array([5, 0, 7])], [np.array([False, True, False])], np.zeros(3)
        )
        assert got.tolist()[1] == 3
