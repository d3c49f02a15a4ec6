"""From the raw record of an evaluation to the result's parts and its trace.

The generated scorer returns plain tuples (see ``_kernel``); :class:`Evaluation` turns them
into the total, the grade, the scores (``_record``) and — only when someone reads it — the
:class:`~perfrules.trace.Trace`, as a tree (``_tree``) or as JSON (``_json``). Steps are
re-derived from the recorded inputs by the formula's traced function, and must end at the
value the scorer recorded.
"""

from __future__ import annotations

from perfrules.engine._json import JsonParts
from perfrules.engine._layout import LeafRecord
from perfrules.engine._record import VERSION, decimal_of
from perfrules.trace import Trace

__all__ = ["VERSION", "Evaluation", "LeafRecord", "decimal_of"]


class Evaluation(JsonParts):
    """The raw record of one evaluation; its result's parts, its tree and its JSON."""

    __slots__ = ()

    def trace(self) -> Trace | None:
        """The explanation; its tree and JSON are built from the record when first read."""
        if not self.want_trace:
            return None
        plan = self.plan
        return Trace.lazy(
            self,
            total=self.total_exact(),
            maximum=plan.max,
            grade=self.grade(),
            bands=plan.grades,
            total_places=plan.total_places,
            rounding_mode=plan.mode,
            levels=tuple(plan.scheme.scheme.levels),
            cohort=self.cohort(),
        )
