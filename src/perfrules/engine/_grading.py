"""Grade bands and the gap to the next one.

The band is chosen in one place, the generated scorer (``_kernel.bands``); the gap is
decided here, for the trace and for :meth:`CompiledScheme.gap` alike, so a result with or
without a trace names the same indicators to improve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

from perfrules.engine._plan import Plan
from perfrules.trace import Gap, Grade

__all__ = ["fewest", "gap_for", "grade_of"]


def grade_of(plan: Plan, position: int) -> Grade:
    """The :class:`Grade` of band *position*."""
    return plan.grades[position]


def gap_for(
    plan: Plan,
    position: int,
    total: Fraction,
    leaf_scores: Iterable[tuple[str, Fraction, Fraction | None]],
    applicable: Fraction,
) -> Gap | None:
    """The next band up from band *position* and the fewest indicators that reach it.

    Args:
        plan: the compiled scheme.
        position: the band the total is in.
        total: the total.
        leaf_scores: ``(id, weight, score)`` of every indicator (score ``None`` when
            excluded).
        applicable: the weight of the indicators not excluded. When it differs from the
            scheme's maximum the total was renormalised, and each lost point weighs
            ``max / applicable`` on the total.
    """
    if position == 0:
        return None
    label, low, _, _ = plan.bands[position - 1]
    shortfall = low - total
    factor = plan.max / applicable if applicable and applicable != plan.max else None
    losses = []
    for ident, weight, score in leaf_scores:
        if score is not None and score != weight:
            lost = weight - score
            losses.append((ident, lost * factor if factor is not None else lost))
    return Gap(label, low, shortfall, fewest(losses, shortfall))


def fewest(
    losses: list[tuple[str, Fraction]], shortfall: Fraction
) -> tuple[tuple[str, Fraction], ...]:
    """The fewest (id, lost points) whose points cover *shortfall*: the biggest losses first.

    Raising an indicator to full marks adds at most its lost points to the total, so taking
    the largest losses first needs the fewest indicators (ties by id, for stable output).
    Empty when even all of them do not suffice.
    """
    if not losses:
        return ()
    # Compare as integers over a common denominator: Fraction comparisons are slow.
    common = math.lcm(*(lost.denominator for _, lost in losses))
    ranked = sorted(
        losses, key=lambda item: (-item[1].numerator * (common // item[1].denominator), item[0])
    )
    chosen: list[tuple[str, Fraction]] = []
    covered = Fraction(0)
    for ident, lost in ranked:
        if covered >= shortfall:
            break
        chosen.append((ident, lost))
        covered += lost
    return tuple(chosen) if covered >= shortfall else ()
