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
    from perfrules.rules import check_path, load_pack, load_scheme, loads_scheme
    from perfrules.trace import Result, Trace
    from perfrules.workflows import InstalledPack, packs

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
    "check_path": "perfrules.rules",
    "load_pack": "perfrules.rules",
    "load_scheme": "perfrules.rules",
    "loads_scheme": "perfrules.rules",
    "Result": "perfrules.trace",
    "Trace": "perfrules.trace",
    "InstalledPack": "perfrules.workflows",
    "packs": "perfrules.workflows",
}
_MODULES: Final = frozenset({"errors", "expressions", "model", "trace"})


def __getattr__(name: str) -> Any:
    """Import an exported name the first time it is read, and keep it."""
    if name in _MODULES:
        value: Any = importlib.import_module(f"perfrules.{name}")
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name == "__version__":
        value = importlib.import_module("perfrules._version").__version__
    else:
        msg = f"module 'perfrules' has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def score_table(compiled: CompiledScheme, table: object, *, errors: bool = False) -> object:
    """Score every row of a table of units; return a table of the same kind.

    Numeric columns (integers, floats, decimals) are read as arrays, text columns once per
    distinct value. Needs ``pip install 'perfrules[frame]'`` (numpy, pyarrow, narwhals).

    Args:
        compiled: the scheme, compiled once (:func:`compile_scheme`).
        table: a pandas or polars DataFrame or a pyarrow Table, one row per unit, with the
            columns of a batch CSV: ``unit``, ``<indicator id>`` (its actual value) or
            ``<indicator id>.<input>``, and ``shared.<input>``. Read CSVs as text
            (``dtype=str`` in pandas) so that ``0.90`` stays what was typed.
        errors: also return the problems as a table of their own.

    Returns:
        A table of the same kind as *table*, with the columns ``unit``, ``total``,
        ``grade``, the cohort's key and values and ``rank`` where the scheme declares them,
        one column per indicator and ``errors`` (the row's problems as text, located at
        ``table:ROW:COLUMN``; null for a row that scored). Scores are exact decimals
        (``decimal128`` in Arrow, ``Decimal`` in pandas and polars), never floats; every
        row equals :meth:`CompiledScheme.evaluate` of the same facts.

        With ``errors=True``, the pair ``(results, errors)``; *errors* is a table of the
        same kind with one row per problem: ``row`` (the row's position from 0, as in the
        results), ``column`` (the name of the column it is about; null when it is about
        the row, such as a missing fact), ``code`` and ``message``.

    Raises:
        FactsError: the table cannot hold units: over 10,000 columns or a column name over
            1,000 characters (``PR418``), a name given twice (``PR420``), a column of a type
            no fact is read from (``PR419``). A row's own problems never raise.
        TypeError: *table* is not a DataFrame or Table.

    Examples:
        >>> import pandas as pd  # doctest: +SKIP
        >>> results, errors = perfrules.score_table(  # doctest: +SKIP
        ...     compiled, pd.read_csv("units.csv", dtype=str), errors=True
        ... )
        >>> errors[["row", "column", "code"]]  # doctest: +SKIP
           row        column   code
        0    2  shared.bid  PR402
    """
    from perfrules.workflows import score_table as run  # noqa: PLC0415 - optional extra

    return run(compiled, table, errors=errors)


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
