"""The passes of a scheme whose rows read scores: the scheme scored in each, and what it gives.

``rules._stages`` orders the rows into passes. Here each pass before the last becomes a
scheme of its own: the same tree, every row of a later pass scoring 0 (it reads nothing, so
nothing it would read is needed), the cohort values not yet known left out. Scoring it
gives every score the later passes read — its rows are the real ones, because a score read
by a later pass never depends on a later row (a circle is a rule-file error, ``PR250``).

Every shape scores the passes alike: each unit of the set is scored by
:attr:`Stage.compiled` with the values known so far, :meth:`Stage.keys` reads what it
gives, and :meth:`Stage.take` takes the cohort values over it (:class:`Taking`, as the
values over facts). A unit's own scores (a formula reading ``raw``, a group's id) come from
the last pass before, scored again inside :meth:`CompiledScheme.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from perfrules.engine._cohort import CohortValues, Taking, holds
from perfrules.engine._general import Unit
from perfrules.errors import FactsError
from perfrules.model import CohortValue as CohortValueRule
from perfrules.model import Scheme
from perfrules.rules import TOTAL, Stages

if TYPE_CHECKING:
    from perfrules.engine._scheme import CompiledScheme

__all__ = ["Stage", "Taken", "stage_scheme"]

#: A unit scored by a pass: (position, unit name, what the pass gives of it, cohort key).
Staged = tuple[int, str, tuple[Fraction | None, ...] | None, str | None]


def stage_scheme(scheme: Scheme, stages: Stages, at: int) -> Scheme:
    """The scheme scored in pass *at*: later rows score 0, values not yet known left out."""
    indicators = {
        ident: (
            indicator.model_copy(update={"formula": "0"})
            if stages.row_pass.get(ident, 0) > at
            else indicator
        )
        for ident, indicator in scheme.indicators.items()
    }
    update: dict[str, Any] = {"indicators": indicators}
    if scheme.cohort is not None:
        known = {
            name: value
            for name, value in scheme.cohort.values.items()
            if (stages.value_pass(name) is None or stages.value_pass(name) < at)  # type: ignore[operator]
        }
        update["cohort"] = scheme.cohort.model_copy(update={"values": known})
    return scheme.model_copy(update=update)


class Stage:
    """One pass before the last: the scheme it scores, and the cohort values taken after it.

    Attributes:
        index: the pass (from 0).
        compiled: the scheme scored in this pass.
        takes: the cohort values taken over the scores this pass gives, by name.
    """

    __slots__ = ("compiled", "index", "owner", "takes")

    def __init__(
        self,
        index: int,
        compiled: CompiledScheme,
        takes: Mapping[str, CohortValueRule],
        owner: CompiledScheme,
    ) -> None:
        """Pass *index* of *owner*."""
        self.index = index
        self.compiled = compiled
        self.takes = dict(takes)
        self.owner = owner

    def keys(
        self, shared: Mapping[str, Any], score: Callable[[str | None], Fraction | None]
    ) -> tuple[Fraction | None, ...]:
        """What each value taken after this pass reads of one scored unit.

        *score* gives the unit's exact score of a group or indicator by id, its total for
        ``None``. ``None`` for a value whose ``where`` does not hold or a score the unit
        does not have (an excluded row): the unit is left out of that value.
        """
        conditions = self.owner.plan.cohort_conditions
        probe = Unit(None)
        read = self.owner.read_shared
        keys: list[Fraction | None] = []
        for name, rule in self.takes.items():
            condition = conditions.get(name)
            if condition is not None and not holds(
                condition, shared, read, probe, f"cohort.values.{name}"
            ):
                keys.append(None)
                continue
            keys.append(score(None if rule.of == TOTAL else rule.of))
        return tuple(keys)

    def take(
        self,
        known: CohortValues,
        rows: Iterable[Staged],
        failed: Mapping[int, FactsError] | None = None,
    ) -> CohortValues:
        """*known* with the values taken over *rows* (units scored by this pass, in order).

        A row without keys (the unit failed) is left out, as the values over facts leave
        out a unit whose facts cannot be read; *failed* are why (by position), kept among
        the problems so the unit fails with its own reason, not with a later pass's (a
        value it was left out of).
        """
        taking = self.taking(known)
        taking.add(rows)
        taking.fail(failed or {})
        return taking.result()

    def taking(self, known: CohortValues) -> Taken:
        """The values of this pass being taken, a chunk of units at a time (memory flat)."""
        return Taken(self, known)


class Taken:
    """A pass's values being taken over units given a chunk at a time (:meth:`Stage.taking`).

    Keeps what each value's stat needs (:class:`Taking`), not the units.
    """

    __slots__ = ("entries", "failed", "known", "stage")

    def __init__(self, stage: Stage, known: CohortValues) -> None:
        """Nothing taken yet; *known* are the values already taken."""
        self.stage = stage
        self.known = known
        self.failed: dict[int, FactsError] = {}
        self.entries: dict[str | None, dict[str, Taking]] = {
            key: {n: Taking(r) for n, r in stage.takes.items()} for key in known.by_cohort
        }

    def add(self, rows: Iterable[Staged]) -> None:
        """Take the units *rows* (in order)."""
        takes = self.stage.takes
        for _, unit, keys, cohort_key in rows:
            into = self.entries.get(cohort_key)
            if into is None:
                into = self.entries[cohort_key] = {n: Taking(r) for n, r in takes.items()}
            if keys is None:
                continue
            for (name, _), value in zip(takes.items(), keys, strict=True):
                if value is not None:
                    into[name].add(value, unit)

    def fail(self, failed: Mapping[int, FactsError]) -> None:
        """Units this pass could not score (by position), and why: their own problems."""
        self.failed.update(failed)

    def result(self) -> CohortValues:
        """The values known before, with this pass's (and the units it failed)."""
        known = self.known
        by_cohort = dict(known.by_cohort)
        cohort = self.stage.owner.scheme.cohort
        declared = {name: k for k, name in enumerate(cohort.values if cohort else ())}
        for key, found in self.entries.items():
            taken = tuple(taking.result(name) for name, taking in found.items())
            values = (*by_cohort.get(key, ()), *taken)
            by_cohort[key] = tuple(sorted(values, key=lambda v: declared.get(v.name, 0)))
        problems = {**self.failed, **known.problems} if self.failed else None
        return known.but(by_cohort=by_cohort, problems=problems)
