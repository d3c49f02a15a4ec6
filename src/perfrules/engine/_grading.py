"""Grade bands and the gap to the next one.

The band is chosen in one place, the generated scorer (``_kernel.bands``); the gap is
decided here, for the trace and for :meth:`CompiledScheme.gap` alike, so a result with or
without a trace names the same indicators to improve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from operator import itemgetter

from perfrules.engine._plan import Plan
from perfrules.trace import Gap, Grade

__all__ = ["fewest", "gap_for", "grade_of", "lost_pairs"]

_DENOMINATOR = itemgetter(2)


def grade_of(plan: Plan, position: int) -> Grade:
    """The :class:`Grade` of band *position*."""
    return plan.grades[position]


def gap_for(
    plan: Plan,
    position: int,
    total: Fraction,
    losses: list[tuple[str, int, int]],
    applicable: Fraction,
) -> Gap | None:
    """The next band up from band *position* and the fewest indicators that reach it.

    Args:
        plan: the compiled scheme.
        position: the band the total is in.
        total: the total.
        losses: ``(id, numerator, denominator)`` of ``weight - score`` for every counted
            indicator that lost points (integers, unreduced: no Fraction made per row).
        applicable: the weight of the indicators not excluded. When it differs from the
            scheme's maximum the total was renormalised, and each lost point weighs
            ``max / applicable`` on the total.
    """
    if position == 0:
        return None
    label, low, _, _ = plan.bands[position - 1]
    shortfall = low - total
    if applicable and applicable != plan.max:  # each lost point weighs max / applicable
        factor = plan.max / applicable
        fn, fd = factor.numerator, factor.denominator
        losses = [(ident, num * fn, den * fd) for ident, num, den in losses]
    return Gap(label, low, shortfall, fewest(losses, shortfall))


def lost_pairs(
    rows: Iterable[tuple[str, int, int, int | None, int]],
) -> list[tuple[str, int, int]]:
    """``(id, numerator, denominator)`` of ``weight - score`` for the rows that lost points.

    *rows* are ``(id, weight numerator, weight denominator, score numerator, score
    denominator)``; a score numerator ``None`` is an excluded row (it loses nothing).
    """
    losses = []
    for ident, wn, wd, sn, sd in rows:
        if sn is not None:
            num = wn * sd - sn * wd
            if num:
                losses.append((ident, num, wd * sd))
    return losses


def fewest(
    losses: list[tuple[str, int, int]], shortfall: Fraction
) -> tuple[tuple[str, Fraction], ...]:
    """The fewest (id, lost points) whose points cover *shortfall*: the biggest losses first.

    *losses* are (id, numerator, positive denominator). Raising an indicator to full marks
    adds at most its lost points to the total, so taking the largest losses first needs the
    fewest indicators (ties by id, for stable output). Empty when even all of them do not
    suffice. Compared as integers over one common denominator.
    """
    if not losses:
        return ()
    denominators = set(map(_DENOMINATOR, losses))  # rows share a few: 100, 10, 1
    denominators.add(shortfall.denominator)
    common = math.lcm(*denominators)
    need = shortfall.numerator * (common // shortfall.denominator)
    scaled = sorted([(-num * (common // den), ident, num, den) for ident, num, den in losses])
    chosen: list[tuple[str, Fraction]] = []
    covered = 0
    for negative, ident, num, den in scaled:
        if covered >= need:
            break
        chosen.append((ident, Fraction(num, den)))
        covered -= negative
    return tuple(chosen) if covered >= need else ()
