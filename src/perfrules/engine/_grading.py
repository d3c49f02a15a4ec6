"""Grade bands, the order of lost points, and the gap to the next band.

Bands and the gap's rows are decided by the totals (``_totals``); the order of the rows that
lost points is decided here, for the trace (its ``losses`` and ``gap``) and for
:meth:`CompiledScheme.gap` alike, so a result with or without a trace names the same
indicators to improve.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from heapq import heapify, heappop
from itertools import repeat
from operator import add, floordiv, itemgetter, mul, neg
from typing import Any, Final, TypeVar, cast

from perfrules._numbers import exact_fraction
from perfrules.engine._plan import Plan
from perfrules.engine._totals import totals_of
from perfrules.trace import Gap, Grade

__all__ = [
    "LossOrder",
    "by_loss",
    "gap_for",
    "gap_function",
    "gap_of",
    "gap_rows",
    "grade_of",
    "loss_order",
]

#: A row that lost points: ``(lost numerator, lost denominator, node index, id, ...)``.
Row = TypeVar("Row", bound=tuple[Any, ...])


def grade_of(plan: Plan, position: int) -> Grade:
    """The :class:`Grade` of band *position* (without a label in a rank-only scheme)."""
    if plan.grades:
        return plan.grades[position]
    label, low, high, label_en = plan.bands[position]  # the one band of a rank-only scheme
    return Grade(label, low, high, label_en)


class LossOrder:
    """Rows that lost points, the most first (ties by id), over one common denominator.

    Attributes:
        rows: the rows, each ``(lost numerator, lost denominator, node index, id, ...)``.
        common: a common denominator of every row's lost points.
    """

    __slots__ = ("common", "rows")

    def __init__(self, rows: Sequence[Any], common: int) -> None:
        """Keep *rows*, already in order, and their *common* denominator."""
        self.rows = rows
        self.common = common

    def points(self) -> Iterator[int]:
        """Each row's lost points as a numerator over :attr:`common`, in order.

        Read lazily: the gap reads the first few (:meth:`Totals.fewest`).
        """
        rows = self.rows
        if isinstance(rows, _Lost):
            return rows.points()
        common = self.common
        return (row[0] * (common // row[1]) for row in rows)


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


def _loss_table(plan: Plan) -> tuple[tuple[int, str, int, int, int], ...]:
    """(index, id, weight numerator, weight denominator, id rank) of each counted row."""
    table = cast("tuple[tuple[int, str, int, int, int], ...] | None", plan.cache.get("losses"))
    if table is None:
        ranks = _id_ranks(plan)
        nodes = plan.nodes
        table = tuple(
            (i, nodes[i].id, nodes[i].weight.numerator, nodes[i].weight.denominator, ranks[i])
            for i in plan.counted_leaves
        )
        plan.cache["losses"] = table
    return table


class _Lost(Sequence[Any]):
    """Loss rows kept as their sorted keys, each row made when it is first read.

    For rows over one denominator *den*, every weight a whole number: a key is
    ``rank of the id - lost numerator × n`` (below zero exactly when the row lost points),
    from which the row is found again. The gap reads the first few rows; the JSON's losses
    read them all.
    """

    __slots__ = ("_by_rank", "_den", "_keys", "_made", "_n", "_values")

    def __init__(
        self,
        keys: list[int],
        den: int,
        n: int,
        by_rank: Sequence[tuple[int, str, int]],
        values: Sequence[Any],
    ) -> None:
        self._keys = keys
        self._den = den
        self._n = n
        self._by_rank = by_rank
        self._values = values
        self._made: list[Any] | None = None

    def _row(self, key: int) -> tuple[Any, ...]:
        lost, rank = divmod(key, self._n)  # key = rank - lost points × n, 0 <= rank < n
        i, ident, wn = self._by_rank[rank]
        values = self._values
        return (-lost, self._den, i, ident, wn, 1, values[2 * i], values[2 * i + 1])

    def points(self) -> Iterator[int]:
        """Each row's lost numerator over the one denominator, in order (made when read)."""
        return map(neg, map(floordiv, self._keys, repeat(self._n)))

    def _all(self) -> list[Any]:
        made = self._made
        if made is None:
            made = self._made = [self._row(key) for key in self._keys]
        return made

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, at: Any) -> Any:
        if self._made is not None:
            return self._made[at]
        if at.__class__ is int:
            return self._row(self._keys[at])
        n, den, by_rank, values = self._n, self._den, self._by_rank, self._values
        rows = []
        for key in self._keys[at]:  # what _row makes, without a call per row
            lost, rank = divmod(key, n)
            i, ident, wn = by_rank[rank]
            rows.append((-lost, den, i, ident, wn, 1, values[2 * i], values[2 * i + 1]))
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._all())


def _loss_spec(plan: Plan) -> tuple[Any, ...] | None:
    """What :func:`loss_order`'s short cut reads, made once per plan.

    The counted rows' score numerators and denominators as two getters of the record, each
    rank's row as (index, id, weight), the keys at a score of zero by the rows' denominator
    (filled by :func:`_key_bases`), and the rows' weights and id ranks; ``None`` when a
    counted row's weight is not a whole number (or there is no counted row).
    """
    found = plan.cache.get("loss_spec", _UNSET)
    if found is _UNSET:
        table = _loss_table(plan)
        found = None
        if table and all(wd == 1 for _, _, _, wd, _ in table):
            by_rank: list[Any] = [None] * len(plan.nodes)
            for i, ident, wn, _, rank in table:
                by_rank[rank] = (i, ident, wn)
            nums = [2 * row[0] for row in table]
            getn = itemgetter(*nums) if len(nums) > 1 else lambda v, k=nums[0]: (v[k],)
            getd = (
                itemgetter(*[n + 1 for n in nums])
                if len(nums) > 1
                else lambda v, k=nums[0] + 1: (v[k],)
            )
            weights = tuple(row[2] for row in table)
            ranks = tuple(row[4] for row in table)
            found = (getn, getd, tuple(by_rank), {}, weights, ranks)
        found = plan.cache.setdefault("loss_spec", found)
    return cast("tuple[Any, ...] | None", found)


def _key_bases(
    bases: dict[int, tuple[int, ...]],
    weights: tuple[int, ...],
    ranks: tuple[int, ...],
    n: int,
    den: int,
) -> tuple[int, ...]:
    """Each counted row's loss key at a score of zero, over denominator *den* (kept by den).

    A row scoring ``sn / den`` loses ``weight × den - sn``; its key ``rank - lost × n`` is
    this base plus ``sn × n``: one multiplication and one addition per row.
    """
    found = tuple(rank - wn * den * n for wn, rank in zip(weights, ranks, strict=True))
    if len(bases) < _DENOMINATORS:
        bases[den] = found
    return found


#: How many denominators a plan's loss keys are kept for (rows share a few: 100, 10, 1).
_DENOMINATORS: Final = 8
_UNSET: Final = object()


def loss_order(plan: Plan, values: Sequence[Any]) -> LossOrder:
    """The counted rows that lost points, in :func:`by_loss` order, from a record's scores.

    *values* are the record's scores as integer pairs by node index (``None``: excluded,
    loses nothing from the total). Each row is (lost numerator, lost denominator, node
    index, id, weight numerator, weight denominator, score numerator, score denominator).
    Rows almost always share one denominator (the rounding's power of ten): then the rows
    are keyed as they are found and sorted once, without a second pass; when every row is
    scored over that one denominator and weighs a whole number, only the keys are made
    and each row is made from its key when read (:class:`_Lost`).
    """
    n = len(plan.nodes)
    spec = _loss_spec(plan)
    if spec is not None:
        getn, getd, by_rank, bases, weights, ranks = spec
        nums, dens = getn(values), getd(values)
        den = dens[0]
        if None not in nums and dens.count(den) == len(dens):
            base = bases.get(den) or _key_bases(bases, weights, ranks, n, den)
            # every row's key, losing or not: below zero exactly when it lost points
            keys = list(map(add, base, map(mul, nums, repeat(n))))
            keys.sort()
            del keys[bisect_left(keys, 0) :]
            return LossOrder(_Lost(keys, den, n, by_rank, values), den if keys else 1)
    rows = []
    keyed = {}
    first = 0
    for i, ident, wn, wd, rank in _loss_table(plan):
        sn = values[2 * i]
        if sn is not None:
            sd = values[2 * i + 1]
            num = wn * sd - sn * wd
            if num > 0:  # a row rounded above its weight (2.5 to 3) lost nothing
                den = wd * sd
                row = (num, den, i, ident, wn, wd, sn, sd)
                rows.append(row)
                keyed[rank - num * n] = row  # by_loss's key when every denominator is den
                if den != first:
                    first = den if not first else -1
    if first == -1:  # denominators differ
        return by_loss(plan, rows)
    return LossOrder([keyed[key] for key in sorted(keyed)], first or 1)


def gap_for(
    plan: Plan,
    position: int,
    total: Fraction,
    losses: LossOrder,
    excluded: Fraction,
    record: tuple[Sequence[int | None], Sequence[int]],
) -> Gap | None:
    """The next band up from band *position* and the fewest indicators that reach it.

    Args:
        plan: the compiled scheme.
        position: the band the total is in.
        total: the total.
        losses: the rows that lost points, from :func:`loss_order` or :func:`by_loss`.
        excluded: the weight of the counted rows left out (:meth:`Totals.left_out`). When
            the rows that count weigh other than what they are scaled to, the total was
            renormalised, and each lost point weighs ``max / their weight`` on the total.
        record: the scores and unrounded subtotals of the evaluation (integer pairs by node
            and by group position), on which the totals are run again.
    """
    return gap_of(plan, position, total.numerator, total.denominator, losses, excluded, record)


def gap_of(
    plan: Plan,
    position: int,
    total_num: int,
    total_den: int,
    losses: LossOrder | Callable[[], LossOrder],
    excluded: Fraction,
    record: tuple[Sequence[int | None], Sequence[int]],
) -> Gap | None:
    """:func:`gap_for` of the total ``total_num / total_den`` (no Fraction of it made)."""
    found = gap_rows(plan, position, total_num, total_den, losses, excluded, record)
    if found is None:
        return None
    band, sn, sd, rows, fn, fd = found
    label, low, _, _ = plan.bands[band]
    if fn != fd:  # each lost point weighs fn / fd on the total
        rows = [(row[0] * fn, row[1] * fd, *row[2:]) for row in rows]
    improve = tuple([(row[3], exact_fraction(row[0], row[1])) for row in rows])
    return tuple.__new__(Gap, (label, low, exact_fraction(sn, sd), improve))


def gap_rows(
    plan: Plan,
    position: int,
    total_num: int,
    total_den: int,
    losses: LossOrder | Callable[[], LossOrder],
    excluded: Fraction,
    record: tuple[Sequence[int | None], Sequence[int]],
) -> tuple[int, int, int, list[Any], int, int] | None:
    """:func:`gap_for` in integers.

    The answer is (band, shortfall numerator and denominator, the rows to raise, and the
    factor ``fn / fd`` each lost point weighs on the total). The rows are the fewest of
    the losses, most points lost first, that reach the band when raised to full marks, as
    the totals decide it (:meth:`Totals.fewest`: every rounding, renormalisation and cap
    included). No rows when even all of them do not suffice; ``None`` in the top band.

    *losses* may be a function giving them, asked only when the plan's generated gap
    (:func:`gap_function`) does not answer by itself: it keys the rows, finds the fewest
    and checks the band in one body, for a unit none of whose counted rows is left out
    and whose rows share one denominator. Losses already made (the JSON writes them too)
    are read the general way instead of keyed again.
    """
    if position == 0:
        return None
    values, pres = record
    if not excluded and not isinstance(losses, LossOrder):
        fast = gap_function(plan)
        if fast is not None:
            found = fast(values, pres, position, total_num, total_den)
            if found is not _SLOW:
                return cast("tuple[int, int, int, list[Any], int, int]", found)
    if not isinstance(losses, LossOrder):
        losses = losses()
    totals = totals_of(plan)
    low_num, low_den = totals.edges[position - 1][0], totals.edges[position - 1][1]
    sn = low_num * total_den - total_num * low_den
    sd = low_den * total_den
    fn, fd = totals.factor_pair(excluded)
    rows = totals.fewest(
        position, values, pres, excluded, losses.rows, losses.common, losses.points()
    )
    return position - 1, sn, sd, rows, fn, fd


#: What the generated gap answers when it cannot (rows over different denominators, or a
#: counted row left out): :func:`gap_rows` then takes the general way.
_SLOW: Final = object()

#: Up to how many counted rows the generated gap writes each row's key as its own term.
_UNROLLED: Final = 64

GapFunction = Callable[[Sequence[Any], Sequence[int], int, int, int], Any]


def gap_function(plan: Plan) -> GapFunction | None:
    """:func:`gap_rows` for a unit with no counted row left out, generated once per plan.

    ``None`` when the plan's gap is not linear in its rows (:meth:`Totals.linear_gap`) or a
    counted row weighs other than a whole number. The function takes (scores, unrounded
    subtotals, band, total numerator, total denominator) and in one body keys the counted
    rows as :func:`loss_order` does (over their one denominator: ``rank of the id - lost
    × n``), orders the keys (sorted; for many rows a heap, each taken off when read),
    finds the fewest rows as :meth:`Totals.fewest` does, with the totals' own band
    statements (:meth:`Totals.sum_band_lines`) inlined, and makes only the rows it names.
    It answers ``_SLOW`` when the rows' denominators differ or one is left out.
    """
    found = plan.cache.get("gap_function", _UNSET)
    if found is _UNSET:
        found = _make_gap_function(plan)
        found = plan.cache.setdefault("gap_function", found)
    return cast("GapFunction | None", found)


def _make_gap_function(plan: Plan) -> GapFunction | None:
    """The source of :func:`gap_function`'s function, compiled (``None``: none made)."""
    totals = totals_of(plan)
    spec = _loss_spec(plan)
    if spec is None or not totals.linear_gap():
        return None
    getn, getd, by_rank, bases, weights, ranks = spec
    table = _loss_table(plan)
    n = len(plan.nodes)
    fn, fd = totals.factor_pair(Fraction(0))
    lines = []
    if len(table) <= _UNROLLED:
        first = 2 * table[0][0] + 1
        lines.append(f"d = values[{first}]")
        tests = [f"values[{2 * row[0] + 1}] != d" for row in table[1:]]
        if tests:
            lines.append(f"if {' or '.join(tests)}: return _SLOW")
        terms = ", ".join(
            f"{rank} + {n} * (values[{2 * i}] - {wn} * d)" for i, _, wn, _, rank in table
        )
        # a row left out has no score: None in the arithmetic (no test per row)
        lines += ["try:", f"    keys = [{terms}]", "except _TYPE_ERROR:", "    return _SLOW"]
    else:
        lines += [
            "nums = _GETN(values)",
            "dens = _GETD(values)",
            "d = dens[0]",
            "if None in nums or dens.count(d) != len(dens): return _SLOW",
            "base = _BASES.get(d) or _KEY_BASES(_BASES, _WEIGHTS, _RANKS, n, d)",
            "keys = list(map(_ADD, base, map(_MUL, nums, _REPEAT(n))))",
        ]
    if len(table) <= _UNROLLED:  # the rows in order, those that lost points (below zero)
        lines += ["keys.sort()", "del keys[_BISECT(keys, 0):]", "rows = len(keys)"]
        more, take, taken = "count < rows", ["key = keys[count]"], "keys"
    else:  # many rows, few read: a heap, each row taken off it when read
        lines += ["_HEAPIFY(keys)", "taken = []", "rows = 0 if keys[0] >= 0 else -1"]
        more, take, taken = (
            "keys and keys[0] < 0",
            ["key = _POP(keys)", "taken.append(key)"],
            "taken",
        )
    lines += [
        "common = d if rows else 1",
        "goal = position - 1",
        "low_num, low_den = _LOWS[goal]",
        f"fn = {fn}",
        f"fd = {fd}",
        # Totals._fewest_linear, over the rows' one denominator
        "base_num = pres[0]",
        "base_den = pres[1]",
        "start = base_num * common",
        "den0 = base_den * common",
        "needed = low_num * fd * base_den - base_num * low_den * fn",
        "target = -(-(needed * common) // (low_den * fn * base_den))",
        "count = 0",
        "total = 0",
        f"while {more} and total < target:",
        *["    " + line for line in take],
        "    total -= key // n",
        "    count += 1",
    ]
    band = totals.sum_band_lines((fn, fd))

    def check(num: str, indent: str) -> list[str]:
        return [f"{indent}num = {num}", f"{indent}den = den0"] + [indent + line for line in band]

    lines += check("start + total * base_den", "")
    lines += [
        "if band <= goal:",  # rounding up may need fewer rows
        "    while count > 0:",
        f"        before = total + {taken}[count - 1] // n",
        *check("start + before * base_den", "        "),
        "        if band > goal: break",
        "        count -= 1",
        "        total = before",
        "else:",  # rounding down, or the cap, may need more
        "    while True:",
        f"        if not ({more}):",
        "            count = 0",
        "            break",
        *["        " + line for line in take],
        "        total -= key // n",
        "        count += 1",
        *check("start + total * base_den", "        "),
        "        if band <= goal: break",
        "found = []",
        f"for key in {taken}[:count]:",  # each row as _Lost makes it
        "    lost, rank = divmod(key, n)",
        "    i, ident, wn = _BY_RANK[rank]",
        "    found.append((-lost, d, i, ident, wn, 1, values[2 * i], values[2 * i + 1]))",
        "shortfall = low_num * total_den - total_num * low_den",
        "return goal, shortfall, low_den * total_den, found, fn, fd",
    ]
    body = "".join(f"    {line}\n" for line in lines)
    source = f"def _gap(values, pres, position, total_num, total_den):\n    n = {n}\n{body}"
    namespace = totals.sum_band_namespace()
    namespace.update(
        {
            "len": len,
            "list": list,
            "map": map,
            "_SLOW": _SLOW,
            "_BISECT": bisect_left,
            "_HEAPIFY": heapify,
            "_POP": heappop,
            "_LOWS": tuple((edge[0], edge[1]) for edge in totals.edges),
            "_TYPE_ERROR": TypeError,
            "_BY_RANK": by_rank,
            "_GETN": getn,
            "_GETD": getd,
            "_BASES": bases,
            "_KEY_BASES": _key_bases,
            "_WEIGHTS": weights,
            "_RANKS": ranks,
            "_ADD": add,
            "_MUL": mul,
            "_REPEAT": repeat,
        }
    )
    exec(compile(source, "<perfrules gap>", "exec"), namespace)  # noqa: S102 - our own integers
    made: GapFunction = namespace["_gap"]
    return made
