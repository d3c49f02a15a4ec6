"""perfrules: compute and explain scores under configurable weighted scoring schemes.

>>> import perfrules
>>> scheme = perfrules.load_scheme("rules/examples/xinzhou-zfw-2021/scheme.toml")
>>> compiled = perfrules.compile_scheme(scheme)
>>> result = compiled.evaluate(perfrules.load_facts("rules/examples/xinzhou-zfw-2021/facts.toml"))
>>> str(result.total), result.grade.label
('89.25', '良好')
"""

from __future__ import annotations

from perfrules import errors, expressions, model, trace
from perfrules.engine import VERSION, CohortValues, CompiledScheme, compile_scheme
from perfrules.errors import (
    Diagnostic,
    ExpressionError,
    FactsError,
    PerfrulesError,
    RuleFileError,
)
from perfrules.expressions import safe_eval
from perfrules.facts import Facts, load_facts, loads_facts
from perfrules.model import Scheme
from perfrules.rules import check_path, load_pack, load_scheme, loads_scheme
from perfrules.trace import Result, Trace
from perfrules.workflows import InstalledPack, packs

__version__ = VERSION


def score_table(compiled: CompiledScheme, table: object) -> object:
    """Score every row of a table of units; return a table of the same kind.

    *table* is a pandas or polars DataFrame or a pyarrow Table, one row per unit, with the
    columns of a batch CSV (``unit``, ``<indicator id>`` or ``<indicator id>.<input>``,
    ``shared.<input>``). The result has ``unit``, ``total``, ``grade``, the cohort and
    ``rank`` where the scheme declares them, one column per indicator and ``errors``;
    scores are exact decimals. Rows the scalar scorer takes on its fast path are scored as
    integer arrays; the others one by one, each problem located at ``table:ROW:COLUMN``.
    Needs ``pip install 'perfrules[frame]'`` (numpy, pyarrow, narwhals).
    """
    from perfrules.workflows import score_table as run  # noqa: PLC0415 - optional extra

    return run(compiled, table)


__all__ = [
    "CohortValues",
    "CompiledScheme",
    "Diagnostic",
    "ExpressionError",
    "Facts",
    "FactsError",
    "InstalledPack",
    "PerfrulesError",
    "Result",
    "RuleFileError",
    "Scheme",
    "Trace",
    "__version__",
    "check_path",
    "compile_scheme",
    "errors",
    "expressions",
    "load_facts",
    "load_pack",
    "load_scheme",
    "loads_facts",
    "loads_scheme",
    "model",
    "packs",
    "safe_eval",
    "score_table",
    "trace",
]
