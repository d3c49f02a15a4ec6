"""Units scored in worker processes: each compiles the scheme once, results come back in order.

A worker sends back each unit's raw record (scores, subtotals, band), not its trace; the
parent makes lazy results of them, so a result from a worker answers like any other
(totals, grades, the gap) without an explanation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from perfrules.engine._assemble import Evaluation
from perfrules.engine._general import Unit
from perfrules.engine._plan import build_plan
from perfrules.errors import FactsError
from perfrules.facts import Facts
from perfrules.model import Scheme
from perfrules.rules import checked
from perfrules.trace import Result

if TYPE_CHECKING:
    from perfrules.engine._scheme import CompiledScheme

__all__ = ["evaluate_in_processes"]

_NOTHING_EXCLUDED: Final = Fraction(0)

_WORKER: dict[str, Any] = {}


def _init_worker(kind: type[CompiledScheme], scheme: Scheme) -> None:
    """Compile *scheme* once in this worker process (*kind*: the compiled scheme's class)."""
    _WORKER["compiled"] = kind(build_plan(checked(scheme)))


#: Units per task sent to a worker process, and tasks in flight per worker: enough to keep
#: every worker busy, few enough that memory holds a few thousand units whatever the input.
_CHUNK: Final = 512
_IN_FLIGHT: Final = 2


def _score_chunk_in_worker(chunk: list[Any]) -> list[Any]:
    """Score a chunk; each unit's raw values (or its diagnostics), small to send back."""
    compiled: CompiledScheme = _WORKER["compiled"]
    records: list[Any] = []
    for facts in chunk:
        try:
            result = compiled.evaluate(facts, trace=False)
        except FactsError as exc:
            records.append(list(exc.diagnostics))
            continue
        out = result._source.out  # type: ignore[union-attr]  # noqa: SLF001 - our own result
        unit = out[0]
        excluded = unit.excluded if unit is not None else _NOTHING_EXCLUDED
        records.append((out[2], out[3], out[4], out[5], out[6], excluded))
    return records


def evaluate_in_processes(
    compiled: CompiledScheme, units: Iterable[Facts | Mapping[str, Any]], workers: int
) -> Iterator[Result | FactsError]:
    """Chunks of units scored in *workers* processes, a bounded number in flight, in order."""
    from collections import deque  # noqa: PLC0415 - only for this option
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    from itertools import islice  # noqa: PLC0415

    plan = compiled.plan
    source = iter(units)
    with ProcessPoolExecutor(
        max_workers=workers,
        initializer=_init_worker,
        initargs=(type(compiled), compiled.scheme),
    ) as pool:
        pending: deque[tuple[list[Any], Any]] = deque()

        def submit() -> None:
            chunk = list(islice(source, _CHUNK))
            if chunk:
                pending.append((chunk, pool.submit(_score_chunk_in_worker, chunk)))

        for _ in range(_IN_FLIGHT * workers):
            submit()
        while pending:
            chunk, future = pending.popleft()
            records = future.result()
            submit()
            for facts, record in zip(chunk, records, strict=True):
                if isinstance(record, list):
                    yield FactsError(record)
                    continue
                values, pres, renormalised, band, override, excluded = record
                unit = None
                if excluded:
                    unit = Unit(None)
                    unit.excluded = excluded
                out = (unit, None, values, pres, renormalised, band, override)
                yield Result.lazy(Evaluation(plan, facts, out, want_trace=False))
