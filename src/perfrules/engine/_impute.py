"""What a unit's data lacks: the inputs imputed for it, and how many of its indicators it gave.

The one owner of both for every shape: ``evaluate_cohort`` and the tables
(``score_table``, the streamed batch, Dask) ask :func:`data_gaps` of a unit's facts, so
the ``imputed`` column, the trace and the ranking's ``min_available`` agree.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from perfrules.engine._kernel import EMPTY
from perfrules.engine._plan import MISSING, Plan, find_fact
from perfrules.facts import marks_not_applicable
from perfrules.trace import Unranked

__all__ = ["DataGaps", "data_gaps", "unranked"]


class DataGaps(NamedTuple):
    """A unit's missing data.

    Attributes:
        imputed: the inputs it did not give that were imputed (declared value, or taken
            over the units that give them), sorted.
        given: its counted indicators whose every fact it gave (a missing or imputed fact
            is not given; params and the target text are the scheme's, not facts).
        of: its counted indicators that read a fact (those marked not applicable left out).
    """

    imputed: tuple[str, ...]
    given: int
    of: int

    @property
    def available(self) -> Fraction:
        """The share of its indicators it gave every fact of (1 when none reads one)."""
        return Fraction(self.given, self.of) if self.of else Fraction(1)


def data_gaps(
    plan: Plan,
    marks_missing: Callable[[Any], bool],
    indicators: Any,
    shared: Any,
    pooled: Container[str],
) -> DataGaps:
    """The gaps in one unit's facts (*indicators* by id, *shared*).

    *marks_missing* tells a missing marker (``-``, ``..``); *pooled* are the inputs its
    cohort has a value to impute with (``Cohorts.imputations_of``).
    """
    own_facts = indicators if isinstance(indicators, Mapping) else EMPTY
    shared = shared if isinstance(shared, Mapping) else EMPTY
    imputed: set[str] = set()
    given = of = 0
    inputs = plan.scheme.inputs
    counted = frozenset(plan.counted_leaves)
    for index in plan.leaves:
        node = plan.nodes[index]
        leaf = node.leaf
        assert leaf is not None  # noqa: S101
        own = own_facts.get(node.id, EMPTY)
        if not isinstance(own, Mapping):
            own = EMPTY
        if "na" in own and marks_not_applicable(own["na"]):
            continue
        reads = [
            name
            for name in leaf.needs
            if name in inputs
            and name not in leaf.params
            and not (name == "target" and leaf.target_value is not None)
        ]
        whole = True
        for name in reads:
            raw, _ = find_fact(name, own, shared, plan.bound_sources)
            if raw is MISSING or marks_missing(raw):
                whole = False
                if name in leaf.imputed or (name in leaf.pooled and name in pooled):
                    imputed.add(name)
        if reads and index in counted:
            of += 1
            given += whole
    return DataGaps(tuple(sorted(imputed)), given, of)


def unranked(plan: Plan, gaps: DataGaps) -> Unranked | None:
    """Why the ranking leaves out a unit with these *gaps* (``None``: it does not)."""
    ranking = plan.scheme.ranking
    if ranking is None or ranking.min_available is None:
        return None
    share = plan.cache.get("min_available")
    if not isinstance(share, Fraction):
        share = plan.cache.setdefault("min_available", Fraction(ranking.min_available))
        assert isinstance(share, Fraction)  # noqa: S101
    # given / of >= share, in integers (of = 0: nothing to give, available)
    if not gaps.of or gaps.given * share.denominator >= share.numerator * gaps.of:
        return None
    return Unranked(gaps.given, gaps.of, share)
