"""perfrules: compute and explain scores under configurable weighted scoring schemes.

>>> import perfrules
>>> scheme = perfrules.load_scheme("rules/examples/xinzhou-zfw-2021/scheme.toml")
>>> compiled = perfrules.compile_scheme(scheme)
>>> result = compiled.evaluate(perfrules.load_facts("rules/examples/xinzhou-zfw-2021/facts.toml"))
>>> str(result.total), result.grade.label
('89.25', '良好')

The names below are imported the first time they are read (PEP 562): ``import perfrules``
loads neither pydantic nor the engine, so a command or a script that needs one part does
not pay for the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # the names as the type checker and editors see them
    from perfrules import errors, expressions, model, trace
    from perfrules.engine import CohortValues, CompiledScheme, compile_scheme
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
    from perfrules.rules._front import check_path, load_pack, load_scheme, loads_scheme
    from perfrules.trace import Result, Trace
    from perfrules.workflows._packs import InstalledPack, packs

    __version__: str

#: Each exported name: the module it comes from (a sub-module itself when the name is one).
_EXPORTS: Final = {
    "CohortValues": "perfrules.engine",
    "CompiledScheme": "perfrules.engine",
    "compile_scheme": "perfrules.engine",
    "Diagnostic": "perfrules.errors",
    "ExpressionError": "perfrules.errors",
    "FactsError": "perfrules.errors",
    "PerfrulesError": "perfrules.errors",
    "RuleFileError": "perfrules.errors",
    "safe_eval": "perfrules.expressions",
    "Facts": "perfrules.facts",
    "load_facts": "perfrules.facts",
    "loads_facts": "perfrules.facts",
    "Scheme": "perfrules.model",
    "check_path": "perfrules.rules._front",
    "load_pack": "perfrules.rules._front",
    "load_scheme": "perfrules.rules._front",
    "loads_scheme": "perfrules.rules._front",
    "Result": "perfrules.trace",
    "Trace": "perfrules.trace",
    "InstalledPack": "perfrules.workflows._packs",
    "packs": "perfrules.workflows._packs",
}
_MODULES: Final = frozenset({"errors", "expressions", "model", "trace"})


def __getattr__(name: str) -> Any:
    """Import an exported name the first time it is read, and keep it."""
    if name in _MODULES:
        value: Any = importlib.import_module(f"perfrules.{name}")
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name == "__version__":
        value = importlib.import_module("perfrules.engine").VERSION
    else:
        msg = f"module 'perfrules' has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def score_table(compiled: CompiledScheme, table: object) -> object:
    """Score every row of a table of units; return a table of the same kind.

    *table* is a pandas or polars DataFrame or a pyarrow Table, one row per unit, with the
    columns of a batch CSV (``unit``, ``<indicator id>`` or ``<indicator id>.<input>``,
    ``shared.<input>``). The result has ``unit``, ``total``, ``grade``, the cohort and
    ``rank`` where the scheme declares them, one column per indicator and ``errors``;
    scores are exact decimals. Numeric columns (integers, floats, decimals) are read as
    arrays, text columns once per distinct value. Rows the scalar scorer takes on its fast
    path are scored as integer arrays; the others one by one, each problem located at
    ``table:ROW:COLUMN``. Needs ``pip install 'perfrules[frame]'`` (numpy, pyarrow,
    narwhals).
    """
    from perfrules.workflows._table import score_table as run  # noqa: PLC0415 - optional extra

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
