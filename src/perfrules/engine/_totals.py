"""How scored rows become a total and a grade: the one owner of that rule.

:class:`Totals` decides, for one plan, everything between the rows' rounded scores and the
grade:

- which rows count (a row or group ``counted = false`` is shown, not added: the plan's
  ``counted_leaves`` and each node's ``children``);
- ``fit`` and renormalisation (rows not applicable are left out and the rest scaled to the
  maximum; ``fit = "cap"`` keeps the rows' own maximum and caps the total);
- every level's rounding (each node's ``places``, in the scheme's mode);
- band membership (``min`` inclusive, ``max`` exclusive, the band ending at the maximum
  holding it and any total rounded above it);
- the gap to the next band, found by running these same totals again on candidate rows, so
  raising the rows it lists reaches the band by construction.

Each rule is written once here, in the forms the shapes need: a scalar form on integer pairs
(the general path, the trace, the audit, the invariants), the generated scorer's inline
source (:meth:`Totals.band_source`), and an array form written with operators that numpy
arrays share with Python integers (the columnar scorer passes ``numpy.where``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Final

from perfrules._numbers import ROUNDING, round_fraction
from perfrules.engine._plan import Plan
from perfrules.expressions import (
    Approx,
    approximation,
    decide_with,
    ends,
    times,
    weighted_geomean,
)

__all__ = ["Totals", "totals_of"]

_ZERO: Final = Fraction(0)
#: ``where(condition, a, b)``: ``a if condition else b``, elementwise for arrays.
Where = Callable[[Any, Any, Any], Any]


def _scalar_where(condition: Any, a: Any, b: Any) -> Any:
    return a if condition else b


_ONE: Final = Fraction(1)


class Totals:
    """The totals of one plan: counted rows, fit, rounding at each level, bands, the gap.

    Attributes:
        plan: the compiled scheme.
        rows_weight: the weight of the counted rows (the rows' own maximum).
        scale_to: what a renormalised sum is scaled to: the maximum, or under
            ``fit = "cap"`` the rows' own maximum.
        capped: ``fit = "cap"``: the total never exceeds the maximum.
        always: the scorer renormalises every unit (the rows do not weigh the maximum, or
            the total is capped), not only those with rows left out.
        edges: each band as (low numerator, low denominator, high numerator, high
            denominator): ``min`` included, ``max`` not.
        top: the band ending at the maximum, which also holds the maximum and any total
            rounded above it.
    """

    __slots__ = (
        "_band",
        "_exact_groups",
        "_excess",
        "_factor_all",
        "_factor_all_pair",
        "_geometric",
        "_mode",
        "_reweight",
        "_scale",
        "_sum_band",
        "_top",
        "always",
        "capped",
        "edges",
        "plan",
        "rows_weight",
        "scale_to",
        "top",
    )

    def __init__(self, plan: Plan) -> None:
        """Derive the totals' constants from *plan* once."""
        self.plan = plan
        nodes = plan.nodes
        self.rows_weight = sum((nodes[i].weight for i in plan.counted_leaves), _ZERO)
        self.capped = plan.scheme.scheme.fit == "cap"
        self.scale_to = self.rows_weight if self.capped else plan.max
        self.always = self.rows_weight != plan.max or self.capped
        self.edges = tuple(
            (low.numerator, low.denominator, high.numerator, high.denominator)
            for _, low, high, _ in plan.bands
        )
        # A total at the maximum, or above it (rounding whole points of a fractional weight
        # can lift 2.5 to 3), belongs to the band that ends at the maximum: its end is
        # included. No other band holds such a total, so it is where a total in no band goes.
        self.top = next(
            (p for p, band in enumerate(plan.bands) if band[2] == plan.max),
            len(plan.bands) - 1,
        )
        self._mode = ROUNDING[plan.mode]
        self._band = self._band_function()
        self._factor_all = self.factor(self.rows_weight)
        self._factor_all_pair = (self._factor_all.numerator, self._factor_all.denominator)
        #: The maximum as integers, and the total's scale (None: not rounded), for the gap.
        self._top = (plan.max.numerator, plan.max.denominator)
        self._scale = None if plan.total_places is None else 10**plan.total_places
        self._exact_groups = self._groups_without_effect()
        self._geometric = any(node.aggregate == "geometric" for node in plan.nodes)
        self._reweight = any(node.aggregate == "reweight" for node in plan.nodes)
        # Full marks are a row's weight rounded to its places (2.5 to 0 places: 3 half-up,
        # 2 down): what raising a row to full marks adds beyond its lost points.
        self._excess: dict[int, Fraction] = {}
        for index in plan.counted_leaves:
            node = plan.nodes[index]
            beyond = self.rounded(node.weight, node.places) - node.weight
            if beyond:
                self._excess[index] = beyond
        self._sum_band = self._sum_band_function()

    # --- bands --------------------------------------------------------------------------
    def inside(self, position: int, num: Any, den: Any) -> Any:
        """Whether ``num / den`` (``den > 0``) lies in band *position*, its ``max`` excluded.

        (:meth:`band_of` puts the maximum in :attr:`top`.) Written with ``&``, so *num* and
        *den* may be integers or integer arrays.
        """
        low_num, low_den, high_num, high_den = self.edges[position]
        return (num * low_den >= low_num * den) & (num * high_den < high_num * den)

    def band_of(self, num: int, den: int) -> int:
        """The band (its position in the scheme) of the total ``num / den``.

        Run by the generated scorer's own statements (:meth:`band_source`), made into a
        function once per plan: the gap asks it for every candidate total.
        """
        return self._band(num, den)

    def _band_function(self) -> Callable[[int, int], int]:
        """:meth:`band_source` as a function of ``(num, den)``."""
        body = self.band_source("num", "den").replace("\n", "\n    ")
        namespace: dict[str, Any] = {"__builtins__": {}}
        source = f"def _band(num, den):\n    {body}\n    return band\n"
        exec(compile(source, "<perfrules bands>", "exec"), namespace)  # noqa: S102 - our own integers
        band: Callable[[int, int], int] = namespace["_band"]
        return band

    def band_of_each(self, num: Any, den: Any, start: Any, where: Where) -> Any:
        """:meth:`band_of` of every element (*start*: :attr:`top` on every row)."""
        band = start
        for position in reversed(range(len(self.edges))):
            band = where(self.inside(position, num, den), position, band)
        return band

    def band_source(self, num: str, den: str) -> str:
        """Python statements setting ``band`` to :meth:`band_of` of ``num / den``.

        The generated scorer inlines them; ``tests/test_totals.py`` holds both forms equal.
        """
        lines: list[str] = []
        for position, (low_num, low_den, high_num, high_den) in enumerate(self.edges):
            keyword = "if" if not lines else "elif"
            lines.append(
                f"{keyword} {_product(num, low_den)} >= {_product(low_num, den)} and "
                f"{_product(num, high_den)} < {_product(high_num, den)}: band = {position}"
            )
        lines.append(f"else: band = {self.top}" if lines else "band = 0")
        return "\n".join(lines)

    # --- fit and renormalisation ----------------------------------------------------------
    def left_out(self, scored: Callable[[int], bool]) -> Fraction:
        """The weight of the counted rows without a score (*scored* says, by node index).

        What renormalisation scales the rows' sum up from: the rows' weight less this.
        """
        nodes = self.plan.nodes
        if not self._reweight:
            return sum((nodes[i].weight for i in self.plan.counted_leaves if not scored(i)), _ZERO)

        def left(index: int) -> tuple[Fraction, bool]:  # (weight left out below, any scored)
            node = nodes[index]
            if node.kind == "indicator":
                given = scored(index)
                return (_ZERO if given else node.weight), given
            parts = [left(child) for child in node.children]
            any_scored = any(given for _, given in parts)
            if node.aggregate == "reweight" and any_scored:  # its scored rows take the rest
                return sum((w for w, given in parts if given), _ZERO), True
            return sum((w for w, _ in parts), _ZERO), any_scored

        return left(0)[0]

    def renormalise(self, num: int, den: int, excluded: Fraction) -> tuple[int, int]:
        """The counted rows' sum ``num / den`` as the total before its rounding.

        Rows left out (*excluded*: their weight) are renormalised: the sum is scaled from
        the weight still applicable to :attr:`scale_to`. Under ``fit = "cap"`` the result
        never exceeds the maximum.
        """
        value = self.finish(Fraction(num, den), self.rows_weight - excluded)
        return value.numerator, value.denominator

    def finish(self, value: Fraction, applicable: Fraction) -> Fraction:
        """The rows' sum *value*, of rows weighing *applicable*, as the unrounded total."""
        if applicable and applicable != self.scale_to:
            value = value * self.scale_to / applicable
        if self.capped and value > self.plan.max:
            value = self.plan.max
        return value

    def explain(self, value: Fraction, applicable: Fraction) -> tuple[Fraction, Fraction, bool]:
        """What the trace says of a root whose rows weigh *applicable* and add up to *value*.

        The sum renormalised (before the cap), what it was scaled to, and whether it was
        scaled at all.
        """
        if applicable and applicable != self.scale_to:
            return value * self.scale_to / applicable, self.scale_to, True
        return value, self.scale_to, False

    def factor(self, applicable: Fraction) -> Fraction:
        """What one point of a row weighs on the total when rows weighing *applicable* count."""
        if applicable and applicable is not self.scale_to and applicable != self.scale_to:
            return self.scale_to / applicable
        return _ONE

    def factor_left_out(self, excluded: Fraction) -> Fraction:
        """:meth:`factor` when counted rows weighing *excluded* are left out (not applicable)."""
        if not excluded:  # the usual case: made once
            return self._factor_all
        return self.factor(self.rows_weight - excluded)

    def factor_pair(self, excluded: Fraction) -> tuple[int, int]:
        """:meth:`factor_left_out` as its numerator and denominator."""
        if not excluded:  # the usual case: made once
            return self._factor_all_pair
        factor = self.factor(self.rows_weight - excluded)
        return factor.numerator, factor.denominator

    def finish_each(self, num: Any, den: int, where: Where) -> tuple[Any, int]:
        """:meth:`finish` of every row of integers over *den*, none of them excluded.

        The rows' sum is scaled by ``scale_to / rows_weight`` and, under ``fit = "cap"``,
        capped at the maximum; the result is integers over the returned denominator.
        """
        factor = self.scale_to / self.rows_weight if self.rows_weight else Fraction(1)
        if factor != 1:
            num, den = num * factor.numerator, den * factor.denominator
        if self.capped:
            top = self.plan.max
            common = den * top.denominator
            num = num * top.denominator
            ceiling = top.numerator * den
            num, den = where(num > ceiling, ceiling, num), common
        return num, den

    # --- rounding -------------------------------------------------------------------------
    def rounded(self, value: Fraction, places: int | None) -> Fraction:
        """*value* rounded to *places* (``None``: not rounded) in the scheme's mode."""
        if places is None:
            return value
        return round_fraction(value, places, self.plan.mode)

    # --- geometric groups -----------------------------------------------------------------
    def geometric(
        self, index: int, kids: Sequence[tuple[Fraction, Fraction]]
    ) -> tuple[Fraction, Fraction]:
        """Group *index*'s score from its scored children's (score, weight), geometrically.

        Its weight times the geometric mean of each child's share of its weight, weighted
        by the children's weights: ``W × Π (s / w) ** (w / Σ w)``, 0 when a share is 0.
        The value is irrational in general: it is computed with bounds to as many digits
        as the group's rounding needs, so the score is the correctly rounded true value.
        Returns the value before rounding (a close decimal when irrational) and the score.
        """
        node = self.plan.nodes[index]
        places = node.places
        kept = [(score, w) for score, w in kids if w > 0]
        # Children left out (not applicable) leave out their part of the group's weight,
        # as in a sum, so that the total's renormalisation counts it once.
        every = sum((self.plan.nodes[c].weight for c in node.children), _ZERO)
        kept_weight = sum((w for _, w in kept), _ZERO)
        weight = (
            node.weight if kept_weight == every or not every else node.weight * kept_weight / every
        )
        shares = [score / w for score, w in kept]
        weights = [w for _, w in kept]

        def compute(digits: int) -> Fraction | Approx:
            mean = weighted_geomean(shares, weights, digits) if kept else Fraction(0)
            if isinstance(mean, Approx):
                return Approx(mean.lo * weight, mean.hi * weight, ("*", mean.key, weight))
            return mean * weight

        def decide(value: Fraction | Approx) -> tuple[Fraction, Fraction | Approx] | None:
            low, high = ends(value)
            score = self.rounded(low, places)
            return (score, value) if score == self.rounded(high, places) else None

        (score, value), _ = decide_with(compute, decide, len(kept))
        before = approximation(value) if isinstance(value, Approx) else value
        return before, score

    def geometric_record(
        self, index: int, kids: Sequence[tuple[int, int] | None]
    ) -> tuple[int, int, int | None, bool]:
        """:meth:`geometric` as the generated scorer records it.

        *kids* are the children's scores as integer pairs (``None``: left out). The
        answer: the value before rounding as a pair, the score as an integer over the
        group's power of ten (``None`` when no child was scored) and whether one was.
        """
        node = self.plan.nodes[index]
        nodes = self.plan.nodes
        scored = [
            (Fraction(kid[0], kid[1]), nodes[child].weight)
            for child, kid in zip(node.children, kids, strict=True)
            if kid is not None and kid[0] is not None
        ]
        if not scored:
            return 0, 1, None, False
        before, score = self.geometric(index, scored)
        scale = 10 ** (node.places or 0)
        return (
            before.numerator,
            before.denominator,
            score.numerator * scale // score.denominator,
            True,
        )

    def reweighted(
        self, index: int, value: Fraction, kids: Sequence[bool]
    ) -> tuple[Fraction, Fraction, Fraction]:
        """A ``reweight`` group's sum of its scored children, scaled up to its weight.

        *kids* say which children scored. Returns the value, the weight of the scored
        children and of all of them (equal when nothing was left out).
        """
        nodes = self.plan.nodes
        children = nodes[index].children
        every = sum((nodes[c].weight for c in children), _ZERO)
        kept = sum((nodes[c].weight for c, s in zip(children, kids, strict=True) if s), _ZERO)
        if kept and kept != every:
            value = value * every / kept
        return value, kept, every

    def reweight_record(
        self, index: int, num: int, den: int, kids: Sequence[int | None], unit: Any
    ) -> tuple[int, int]:
        """:meth:`reweighted` as the generated scorer records it (some child left out).

        The weight the group takes back from the rows left out is no longer left out of
        the total: *unit*'s excluded weight (the renormalisation's) is reduced by it.
        """
        node = self.plan.nodes[index]
        value, kept, every = self.reweighted(
            index, Fraction(num, den), [kid is not None for kid in kids]
        )
        if kept and kept != every and unit is not None and node.counted:
            unit.excluded -= every - kept
        return value.numerator, value.denominator

    # --- the totals from rows -------------------------------------------------------------
    def record(
        self, scores: Mapping[int, Fraction | None]
    ) -> tuple[list[int | None], list[int], Fraction]:
        """Every node's score from the rows' rounded *scores*, as the scorer records them.

        *scores* are by node index (``None``: left out). The answer: scores and unrounded
        subtotals as integer pairs (by node, by group position) and the weight of the
        counted rows left out. A row absent from *scores* is left out; the root is ``None``
        when nothing counted.
        """
        plan = self.plan
        nodes = plan.nodes
        values: list[int | None] = [None, 1] * len(nodes)
        pres: list[int] = [0, 1] * len(plan.group_positions)
        excluded = self.left_out(lambda i: scores.get(i) is not None)
        for index in plan.post_order:
            node = nodes[index]
            if node.kind == "indicator":
                score = scores.get(index)
                if score is not None:
                    values[2 * index], values[2 * index + 1] = score.numerator, score.denominator
                continue
            kids = [
                Fraction(values[2 * c], values[2 * c + 1])  # type: ignore[arg-type]
                for c in node.children
                if values[2 * c] is not None
            ]
            if node.aggregate == "geometric" and kids:
                scored = [c for c in node.children if values[2 * c] is not None]
                pre, value = self.geometric(
                    index, [(k, nodes[c].weight) for k, c in zip(kids, scored, strict=True)]
                )
                at = 2 * plan.group_positions[index]
                pres[at], pres[at + 1] = pre.numerator, pre.denominator
                values[2 * index], values[2 * index + 1] = value.numerator, value.denominator
                continue
            pre = sum(kids, _ZERO)
            if node.aggregate == "reweight" and kids:
                flags = [values[2 * c] is not None for c in node.children]
                pre = self.reweighted(index, pre, flags)[0]
            at = 2 * plan.group_positions[index]
            pres[at], pres[at + 1] = pre.numerator, pre.denominator
            if not kids:
                continue
            if index == 0:
                value = self.rounded(
                    self.finish(pre, self.rows_weight - excluded), plan.total_places
                )
            else:
                value = self.rounded(pre, node.places)
            values[2 * index], values[2 * index + 1] = value.numerator, value.denominator
        return values, pres, excluded

    # --- the totals again, with rows raised -------------------------------------------------
    def _groups_without_effect(self) -> bool:
        """Whether no group's rounding can change its sum (then a total is linear in rows).

        A group's rounding has no effect when it is not rounded, or when every row below
        it is already held at no more places than it keeps.
        """
        nodes = self.plan.nodes
        scale: dict[int, int | None] = {}
        plain = True
        for index in self.plan.post_order:
            node = nodes[index]
            if node.kind == "indicator":
                scale[index] = node.places
                continue
            kids = [scale[c] for c in node.children]
            known = [k for k in kids if k is not None]
            widest = None if len(known) < len(kids) else max(known, default=0)
            if node.aggregate == "geometric":
                plain = False  # not a sum: the total is not linear in the rows
            if node.kind == "group" and node.places is not None:
                if widest is None or widest > node.places:
                    plain = False
                scale[index] = node.places
            else:
                scale[index] = widest
        return plain

    def fewest(
        self,
        position: int,
        values: Sequence[int | None],
        pres: Sequence[int],
        excluded: Fraction,
        rows: Sequence[tuple[Any, ...]],
        common: int,
        points: Iterable[int] | None = None,
    ) -> list[Any]:
        """The fewest of *rows* (in order) that, raised to full marks, reach the next band up.

        *rows* are loss rows (lost numerator, lost denominator, node index, ...) over the
        common denominator *common*, most points lost first; *points* (if given) their lost
        numerators over *common*, in the same order, read as far as needed. A row at full
        marks scores its weight rounded to its places (:attr:`full`), so raising it adds
        its lost points plus that rounding; rows it would add nothing to are passed over.
        Raising a row never lowers a total (sums, the rounding modes, renormalisation and
        the cap are all non-decreasing), so the answer is a prefix of the rows that can
        gain; none when even all of them fall short.
        """
        goal = position - 1
        excess = self._excess
        if excess:
            rows = [row for row in rows if Fraction(row[0], row[1]) + excess.get(row[2], 0) > 0]
        if self._geometric or self._reweight:
            count = self._fewest_rerun(goal, values, rows)
        elif self._exact_groups and not excess:
            if points is None:
                points = (row[0] * (common // row[1]) for row in rows)
            count = self._fewest_linear(goal, pres, excluded, points, common)
        else:
            count = self._fewest_walk(goal, values, pres, excluded, rows)
        return list(rows[:count])

    def _fewest_rerun(
        self, goal: int, values: Sequence[int | None], rows: Sequence[tuple[Any, ...]]
    ) -> int:
        """:meth:`fewest` under a geometric group: the whole totals again per row raised."""
        plan = self.plan
        scores: dict[int, Fraction | None] = {}
        for i in plan.counted_leaves:
            num, den = values[2 * i], values[2 * i + 1]
            scores[i] = None if num is None else Fraction(num, den)
        for count, row in enumerate(rows, start=1):
            node = plan.nodes[row[2]]
            scores[node.index] = self.rounded(node.weight, node.places)
            total = self.record(scores)[0]
            num, den = total[0], total[1]
            if num is not None and self.band_of(num, den) <= goal:  # type: ignore[arg-type]
                return count
        return 0

    def _fewest_walk(
        self,
        goal: int,
        values: Sequence[int | None],
        pres: Sequence[int],
        excluded: Fraction,
        rows: Sequence[tuple[Any, ...]],
    ) -> int:
        """:meth:`fewest` by raising the rows one by one, in integer pairs.

        Each time only the groups above the row raised are rounded again: linear in the
        rows times the depth.
        """
        plan = self.plan
        nodes = plan.nodes
        positions = plan.group_positions
        excess = self._excess
        quotient = self._mode.quotient
        moved: dict[int, tuple[int, int]] = {}  # each group's unrounded sum, raised so far
        shown: dict[int, tuple[int, int]] = {}  # each group's rounded score, raised so far
        factor = self.factor_left_out(excluded)
        fn, fd = factor.numerator, factor.denominator
        root = (pres[0], pres[1])
        for count, row in enumerate(rows, start=1):
            gain: tuple[int, int] = (row[0], row[1])
            beyond = excess.get(row[2])
            if beyond is not None:
                gain = _add(gain, (beyond.numerator, beyond.denominator))
            parent = nodes[row[2]].parent
            while parent > 0 and gain[0]:
                node = nodes[parent]
                at = 2 * positions[parent]
                before = _add(moved.get(parent) or (pres[at], pres[at + 1]), gain)
                old = shown.get(parent) or (values[2 * parent], values[2 * parent + 1])
                if node.places is None:
                    after = before
                else:
                    scale = 10**node.places
                    after = (quotient(before[0] * scale, before[1]), scale)
                moved[parent], shown[parent] = before, after
                gain = _add(after, (-old[0], old[1]))
                parent = node.parent
            root = _add(root, gain)
            if self._band_of_sum(root[0], root[1], fn, fd) <= goal:
                return count
        return 0

    def _fewest_linear(
        self,
        goal: int,
        pres: Sequence[int],
        excluded: Fraction,
        points: Iterable[int],
        common: int,
    ) -> int:
        """:meth:`fewest` when no group's rounding has an effect (a total linear in rows).

        The total is then the root's sum plus the raised rows' lost points (*points*, over
        *common*), scaled, capped and rounded. The rows that cover the shortfall before
        the total's rounding are found in integers; then the total is computed exactly
        (rounding included, in integers) one row fewer or more until it is the fewest that
        reach the band. Only as many points are read as that takes.
        """
        base_num, base_den = pres[0], pres[1]
        fn, fd = self.factor_pair(excluded)
        # the total with rows whose lost points add up to s / common raised: the band of
        # (start + s × base_den) / den, scaled by fn / fd
        start, den = base_num * common, base_den * common
        band_of_sum = self._sum_band  # what _band_of_sum runs
        # Before rounding and the cap, the total reaches the band's minimum once the lost
        # points raised make up (minimum × applicable / scaled to − the rows' sum).
        # needed = minimum / factor - base, over one denominator (no Fraction made)
        low_num, low_den = self.edges[goal][0], self.edges[goal][1]
        needed = low_num * fd * base_den - base_num * low_den * fn
        target = -(-(needed * common) // (low_den * fn * base_den))  # the ceiling
        sums = [0]  # the points of the first rows, by count
        read = iter(points)
        total = 0
        if total < target:
            for point in read:
                total += point
                sums.append(total)
                if total >= target:
                    break
        count = len(sums) - 1
        if band_of_sum(start + total * base_den, den, fn, fd) <= goal:
            # rounding up may need fewer rows
            while (
                count > 0 and band_of_sum(start + sums[count - 1] * base_den, den, fn, fd) <= goal
            ):
                count -= 1
            return count
        for point in read:  # rounding down, or the cap, may need more
            total += point
            count += 1
            if band_of_sum(start + total * base_den, den, fn, fd) <= goal:
                return count
        return 0

    def _band_of_sum(self, num: int, den: int, fn: int, fd: int) -> int:
        """The band of the total whose counted rows add up to ``num / den``, in integers.

        ``fn / fd`` (:meth:`factor`) scales the sum to the total before the cap and the
        total's rounding. Run by one function generated per plan (:meth:`_sum_band`).
        """
        return self._sum_band(num, den, fn, fd)

    def _sum_band_function(self) -> Callable[[int, int, int, int], int]:
        """:meth:`_band_of_sum` as one function generated per plan.

        The scaling, the cap, the total's rounding (the scorer's own statements,
        :meth:`RoundingMode.code`) and the band (:meth:`band_source`), without a call
        between them: the gap asks it for every candidate total.
        """
        lines = self.sum_band_lines()
        lines.append("return band")
        body = "".join(f"    {line}\n" for line in lines)
        source = f"def _sum_band(num, den, fn, fd):\n{body}"
        namespace = self.sum_band_namespace()
        exec(compile(source, "<perfrules totals>", "exec"), namespace)  # noqa: S102 - our own integers
        made: Callable[[int, int, int, int], int] = namespace["_sum_band"]
        return made

    def linear_gap(self) -> bool:
        """Whether :meth:`fewest` takes the linear way (:meth:`_fewest_linear`) for any row.

        No geometric or reweighted group, no group whose rounding has an effect and no row
        whose full marks round above its weight: the generated gap (``_grading``) is then
        made for the plan.
        """
        return (
            self._exact_groups and not self._excess and not self._geometric and not self._reweight
        )

    def sum_band_lines(self, factor: tuple[int, int] | None = None) -> list[str]:
        """The statements of :meth:`_band_of_sum`: ``band`` of ``num / den`` scaled by ``fn / fd``.

        They rebind ``num``, ``den``, ``x_`` and ``q_``, and read the names of
        :meth:`sum_band_namespace`; the generated gap (``_grading``) inlines them too, with
        the *factor* it knows (then ``fn`` and ``fd`` are not read).
        """
        if factor is None:
            lines = ["num = num * fn", "den = den * fd"]
        elif factor != (1, 1):  # a factor known when generated is written in
            lines = [f"num = num * {factor[0]}", f"den = den * {factor[1]}"]
        else:
            lines = []
        if self.capped:
            top_num, top_den = self._top
            lines.append(f"if num * {top_den} > {top_num} * den: num, den = {top_num}, {top_den}")
        scale = self._scale
        if scale is not None:
            lines.append(f"x_ = num * {scale}")
            lines.append("if x_ >= 0:")
            lines += ["    " + line for line in self._mode.code("q_", "x_", "den").split("\n")]
            lines.append("else: q_ = _QUOTIENT(x_, den)")
            lines.append(f"num, den = q_, {scale}")
        lines += self.band_source("num", "den").split("\n")
        return lines

    def sum_band_namespace(self) -> dict[str, Any]:
        """The names :meth:`sum_band_lines` read (a fresh dict each time)."""
        return {"__builtins__": {}, "divmod": divmod, "_QUOTIENT": self._mode.quotient}


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """``a + b`` of integer pairs (positive denominators), over the least common one."""
    if a[1] == b[1]:
        return a[0] + b[0], a[1]
    common = math.lcm(a[1], b[1])
    return a[0] * (common // a[1]) + b[0] * (common // b[1]), common


def totals_of(plan: Plan) -> Totals:
    """The :class:`Totals` of *plan*, made once and kept with it."""
    found = plan.cache.get("totals")
    if found is None:
        found = plan.cache.setdefault("totals", Totals(plan))
    assert isinstance(found, Totals)  # noqa: S101
    return found


def _product(x: object, y: object) -> str:
    """``x * y`` as generated code: two literal integers multiplied here, a 1 left out."""
    a, b = str(x), str(y)
    if a.lstrip("-").isdigit() and b.lstrip("-").isdigit():
        return f"({int(a) * int(b)})"
    return times(a, b)
