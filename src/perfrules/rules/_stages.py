"""Stages: which rows read scores, and in which pass over the units each can be scored.

A formula may read a group's or an indicator's score by its id (the unit's own score), and
a cohort value may be taken over scores (``of = "total"`` or an id): the best total, the
mean of a group. Such a row can only be scored once the scores it reads are known, which
for a cohort value means once every unit of the cohort has been scored that far. This
module orders the rows into *passes*: pass 0 scores every row that reads facts only; pass
``k`` the rows that read a score or a value known after pass ``k - 1``. A row whose score
feeds what it reads is a circle, reported at its formula (``PR250``).

The order is the one owner of "what is known when": the engine builds the scheme scored in
each pass from it, and the checks report its circles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from perfrules.errors import Diagnostic
from perfrules.expressions import BUILTIN_NAMES, Expression
from perfrules.model import Scheme

__all__ = ["TOTAL", "Stages", "contributing_leaves", "order_stages", "score_names"]

#: ``of`` for a cohort value taken over each unit's total.
TOTAL: Final = "total"


@dataclass(frozen=True)
class Stages:
    """When each row, score and cohort value is known (empty for most schemes).

    Attributes:
        row_pass: the pass that scores each indicator that reads a score (others: 0).
        known_after: for each score read (an id, or ``"total"``), the pass after which it is
            known for every unit.
        values_after: for each cohort value taken over scores, likewise.
        own: the ids whose own score some formula reads.
        passes: the number of passes before the last (0: one pass, as before stages).
    """

    row_pass: Mapping[str, int] = field(default_factory=dict)
    known_after: Mapping[str, int] = field(default_factory=dict)
    values_after: Mapping[str, int] = field(default_factory=dict)
    own: frozenset[str] = frozenset()
    passes: int = 0

    def value_pass(self, name: str) -> int | None:
        """The pass after which cohort value *name* is known (``None``: taken over facts)."""
        return self.values_after.get(name)


def score_names(scheme: Scheme) -> frozenset[str]:
    """The ids a formula may read as the unit's own score (not shadowed by another name).

    An input, a named formula, a parameter, a cohort value or a built-in name of the same
    spelling is read as itself; only an id that is a valid name can be read.
    """
    taken = set(BUILTIN_NAMES) | set(scheme.inputs) | set(scheme.formulas)
    taken |= {n for i in scheme.indicators.values() for n in i.params}
    if scheme.cohort is not None:
        taken |= set(scheme.cohort.values)
    ids = [*scheme.groups, *scheme.indicators]
    return frozenset(i for i in ids if i.isidentifier() and i not in taken)


def contributing_leaves(scheme: Scheme, of: str) -> frozenset[str]:
    """The indicators whose scores reach the score of *of* (an id, or the total).

    A row not counted (and everything under it) reaches nothing above it.
    """
    if of in scheme.indicators:
        return frozenset({of})
    found: set[str] = set()
    for ident, indicator in scheme.indicators.items():
        counted = indicator.counted
        parent = indicator.parent
        while counted and parent is not None and parent != of:
            group = scheme.groups.get(parent)
            if group is None:
                counted = False
                break
            counted = group.counted
            parent = group.parent
        if counted and (parent == of or (of == TOTAL and parent is None)):
            found.add(ident)
    return frozenset(found)


def _shown(circle: list[str]) -> list[str]:
    """A circle as the message shows it: a row reading its own id's score is named once."""
    shown = [name for k, name in enumerate(circle) if k == 0 or name != circle[k - 1]]
    return shown if len(shown) > 1 else [*shown, *shown]  # a row reading itself: c → c


def order_stages(
    scheme: Scheme, expressions: Mapping[str, Expression]
) -> tuple[Stages, list[Diagnostic]]:
    """The passes of *scheme*, and a diagnostic for every row in a circle."""
    own_names = score_names(scheme)
    over_scores: dict[str, str] = {}  # cohort value -> the score it is taken over
    if scheme.cohort is not None:
        ids = {*scheme.groups, *scheme.indicators, TOTAL}
        for name, value in scheme.cohort.values.items():
            if value.of in ids and value.of not in scheme.inputs:
                over_scores[name] = value.of
    reads: dict[str, set[str]] = {}
    for ident, expression in expressions.items():
        names = expression.names
        wanted = {n for n in names if n in own_names} | {
            over_scores[n] for n in names if n in over_scores
        }
        if wanted:
            reads[ident] = wanted
    if not reads and not over_scores:
        return Stages(), []
    row_pass: dict[str, int] = {}
    known: dict[str, int] = {}
    circles: list[Diagnostic] = []
    reported: set[str] = set()

    def score_known(of: str, path: tuple[str, ...]) -> int | None:
        if of in known:
            return known[of]
        latest = 0
        for leaf in sorted(contributing_leaves(scheme, of)):
            at = row_known(leaf, path)
            if at is None:
                return None
            latest = max(latest, at)
        known[of] = latest
        return latest

    def row_known(leaf: str, path: tuple[str, ...]) -> int | None:
        if leaf in row_pass:
            return row_pass[leaf]
        if leaf not in reads:
            return 0
        rows = path[::2]  # the path alternates a row and the score it reads
        if leaf in rows:
            circle = _shown([*path[2 * rows.index(leaf) :], leaf])
            if leaf not in reported:
                reported.add(leaf)
                circles.append(
                    Diagnostic(
                        "PR250",
                        ("indicators", leaf, "formula"),
                        {"id": leaf, "circle": " → ".join(circle)},
                    )
                )
            return None
        latest = -1
        for of in sorted(reads[leaf]):
            at = score_known(of, (*path, leaf, of))
            if at is None:
                return None
            latest = max(latest, at)
        row_pass[leaf] = latest + 1
        return latest + 1

    for leaf in sorted(reads):
        row_known(leaf, ())
    if circles:
        return Stages(), circles
    known_after = {of: score_known(of, ()) or 0 for r in reads.values() for of in r}
    values_after = {name: score_known(of, ()) or 0 for name, of in over_scores.items()}
    own = frozenset(n for r in reads.values() for n in r if n in own_names)
    # A value over scores is taken after its pass even when no formula reads it (shown in
    # the trace only): there is a pass before the last to take it.
    passes = max(max(row_pass.values(), default=0), max(values_after.values(), default=-1) + 1)
    return Stages(row_pass, known_after, values_after, own, passes), []
