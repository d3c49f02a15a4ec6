"""Grade bands, the order of lost points, and the gap to the next band.

The band is chosen in one place, the generated scorer (``_kernel.bands``); the order of the
rows that lost points and the gap are decided here, for the trace (its ``losses`` and
``gap``) and for :meth:`CompiledScheme.gap` alike, so a result with or without a trace names
the same indicators to improve.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, TypeVar, cast

from perfrules._numbers import fraction
from perfrules.engine._plan import Plan
from perfrules.trace import Gap, Grade

__all__ = ["LossOrder", "by_loss", "gap_for", "grade_of"]

#: A row that lost points: ``(lost numerator, lost denominator, node index, id, ...)``.
Row = TypeVar("Row", bound=tuple[Any, ...])


def grade_of(plan: Plan, position: int) -> Grade:
    """The :class:`Grade` of band *position*."""
    return plan.grades[position]


class LossOrder:
    """Rows that lost points, the most first (ties by id), over one common denominator.

    Attributes:
        rows: the rows, each ``(lost numerator, lost denominator, node index, id, ...)``.
        common: a common denominator of every row's lost points.
    """

    __slots__ = ("common", "rows")

    def __init__(self, rows: list[Any], common: int) -> None:
        """Keep *rows*, already in order, and their *common* denominator."""
        self.rows = rows
        self.common = common


def _id_ranks(plan: Plan) -> list[int]:
    """Each node's position among the plan's ids in sorted order (by node index)."""
    ranks = cast("list[int] | None", plan.cache.get("id_ranks"))
    if ranks is None:
        nodes = plan.nodes
        ranks = [0] * len(nodes)
        for rank, index in enumerate(sorted(range(len(nodes)), key=lambda i: nodes[i].id)):
            ranks[index] = rank
        plan.cache["id_ranks"] = ranks
    return ranks


def by_loss(plan: Plan, rows: list[Row]) -> LossOrder:
    """*rows* (unsorted, each lost > 0) in order: the most points lost first, ties by id.

    One sort on one integer per row — ``-lost × common × n + rank of the id`` — shared by
    the trace's ``losses`` and the gap (two orders of the same rows could disagree).
    """
    if not rows:
        return LossOrder(rows, 1)
    denominators = {row[1] for row in rows}  # rows share a few: 100, 10, 1
    common = denominators.pop() if len(denominators) == 1 else math.lcm(*denominators)
    ranks = _id_ranks(plan)
    n = len(ranks)
    keys = [ranks[row[2]] - row[0] * (common // row[1]) * n for row in rows]
    order = sorted(range(len(rows)), key=keys.__getitem__)
    return LossOrder([rows[k] for k in order], common)


def gap_for(
    plan: Plan,
    position: int,
    total: Fraction,
    losses: LossOrder,
    applicable: Fraction,
) -> Gap | None:
    """The next band up from band *position* and the fewest indicators that reach it.

    Args:
        plan: the compiled scheme.
        position: the band the total is in.
        total: the total.
        losses: the rows that lost points, from :func:`by_loss`.
        applicable: the weight of the indicators not excluded. When it differs from the
            scheme's maximum the total was renormalised, and each lost point weighs
            ``max / applicable`` on the total.

    Raising an indicator to full marks adds at most its lost points to the total, so taking
    the largest losses first needs the fewest indicators. ``improve`` is empty when even all
    of them do not suffice.
    """
    if position == 0:
        return None
    label, low, _, _ = plan.bands[position - 1]
    shortfall = low - total
    fn = fd = 1
    if applicable is not plan.max and applicable and applicable != plan.max:
        # each lost point weighs max / applicable
        factor = plan.max / applicable
        fn, fd = factor.numerator, factor.denominator
    return Gap(label, low, shortfall, _fewest(losses, shortfall, fn, fd))


def _fewest(
    losses: LossOrder, shortfall: Fraction, fn: int, fd: int
) -> tuple[tuple[str, Fraction], ...]:
    """The first rows whose lost points, times ``fn / fd``, cover *shortfall* (in integers).

    ``Σ lost × fn / fd ≥ shortfall`` ⇔ ``covered × fn × sd ≥ sn × common × fd`` where
    ``covered`` is ``Σ lost × common``.
    """
    if not losses.rows:
        return ()
    common = losses.common
    need = shortfall.numerator * common * fd
    scale = fn * shortfall.denominator
    chosen: list[tuple[str, Fraction]] = []
    covered = 0
    for row in losses.rows:
        if covered * scale >= need:
            break
        num, den = row[0], row[1]
        chosen.append((row[3], fraction(num, den) if fn == fd else Fraction(num * fn, den * fd)))
        covered += num * (common // den)
    return tuple(chosen) if covered * scale >= need else ()
