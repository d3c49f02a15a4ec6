"""Scoring a Dask DataFrame, partition by partition (``pip install 'perfrules[dask]'``).

:func:`read_csv` reads a wide CSV of units into partitions of Arrow text (one byte range
each, parsed by pyarrow in several threads, as ``perfrules score`` reads a file);
:func:`score_dask` scores any Dask DataFrame of units.

Each partition is scored by the same code as :func:`perfrules.score_table` (arrays for the
regular rows, ``evaluate`` for the others), in whatever process Dask runs it: the scheme
travels to the workers as its validated model and is compiled there once. A partition is
turned into Arrow once and scored; its first row's number (for diagnostics) is the sum of
the lengths of the partitions before it, a chain of small tasks in the same graph — no
pass over the data to count rows. Cohort values are a reduction over every partition (each
reads the few columns they need; the values are taken where they meet), so a partition's
rows are scored against the whole cohort; ranks are a reduction over every partition's
scored rows. The results are the same, to the last digit and rank, as one process scoring
the whole table.
"""

from __future__ import annotations

import operator
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from dask.delayed import delayed

from perfrules.engine import CohortValues, CompiledScheme, Staged, compile_scheme
from perfrules.errors import FactsError
from perfrules.model import Scheme
from perfrules.workflows import (
    CsvLayout,
    cohort_rows,
    cohort_values_of,
    csv_layout,
    csv_range,
    numbered,
    pass_failures,
    rank_rows,
    score_chunk,
    to_pandas,
)

__all__ = ["read_csv", "score_dask"]

_COMPILED: dict[str, CompiledScheme] = {}
#: One partition's rows the ranking takes: (row, unit, keys, cohort).
_Rankable = list[tuple[int, str, tuple[Fraction | None, ...], str | None]]
_RANK: Final = "rank"
#: Bytes of the CSV a partition of :func:`read_csv` reads.
BLOCKSIZE: Final = 32 << 20
#: Threads a partition's text columns are numbered in.
_THREADS: Final = 2


def _compiled(scheme: Scheme, sha256: str) -> CompiledScheme:
    """The scheme compiled once per worker process."""
    found = _COMPILED.get(sha256)
    if found is None:
        found = _COMPILED[sha256] = compile_scheme(scheme)
    return found


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """A partition as Arrow: zero-copy for Arrow-backed columns (:func:`read_csv`'s)."""
    return pa.Table.from_pandas(frame, preserve_index=False)


def _scorable(frame: pd.DataFrame) -> pa.Table:
    """A partition as Arrow, its text columns that repeat numbered (``numbered``) in threads.

    pyarrow hashes without holding the interpreter: the columns are numbered two at once,
    where one process numbers the next chunk while it scores this one.
    """
    return numbered(_arrow(frame), _THREADS)


def _read_part(span: tuple[int, int], layout: CsvLayout) -> pd.DataFrame:
    """One byte range of the CSV as a partition: every column Arrow text, zero-copy."""
    table = csv_range(layout, *span)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def read_csv(path: str | Path, *, blocksize: int = BLOCKSIZE) -> dd.DataFrame:
    r"""A wide CSV of units as a Dask DataFrame, every cell as text, for :func:`score_dask`.

    The file is read as ``perfrules score`` reads it: the header and the encoding at once
    (a bad header is a ``FactsError`` here), each partition a range of *blocksize* bytes
    cut at line breaks outside quotes and parsed by pyarrow in several threads. Its
    columns are Arrow text (``pd.ArrowDtype(pa.string())``): :func:`score_dask` takes them
    without a copy. Nothing is read to count rows. A range with a quote in it first reads
    the file before it (where the quotes stand decides where its rows start).

    Args:
        path: a local CSV file, one row per unit (for many files, or files elsewhere, use
            ``dd.read_csv(..., engine="pyarrow", dtype="string[pyarrow]")``).
        blocksize: bytes per partition (a partition holds the rows that start in its bytes).

    Returns:
        A lazy Dask DataFrame: a partition per range (its index from 0), computed when it
        is scored or written.

    Raises:
        FactsError: the file cannot be read, or its header is not a table's (as
            ``perfrules score``). A row that is not a unit (more or fewer cells than the
            header, bytes not in its encoding, a cell or a row over its budget) raises
            ``FactsError`` when its partition is computed, located at its line.

    Examples:
        >>> import pathlib, tempfile
        >>> import perfrules.dask
        >>> compiled = perfrules.compile_scheme(perfrules.load_pack("examples/ranking-index"))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "cities.csv"
        >>> _ = path.write_text(
        ...     "unit,shared.gdp,shared.green,shared.pm25\nA,12,45%,30\nB,10,50%,25\n"
        ... )
        >>> units = perfrules.dask.read_csv(path)
        >>> perfrules.dask.score_dask(compiled, units).compute()["rank"].tolist()
        [2, 1]
    """
    layout = csv_layout(Path(path))
    step = max(int(blocksize), 1)
    spans = [(at, at + step) for at in range(layout.body, max(layout.size, layout.body + 1), step)]
    kind = pd.ArrowDtype(pa.string())
    meta = pd.DataFrame({name: pd.Series([], dtype=kind) for name in layout.names})
    result: dd.DataFrame = dd.from_map(  # type: ignore[no-untyped-call]
        _read_part,
        spans,
        layout=layout,
        meta=meta,
        label="perfrules-read-csv",
        enforce_metadata=False,
    )
    return result


def _length(frame: pd.DataFrame) -> int:
    return len(frame)


def _cohort_part(frame: pd.DataFrame, scheme: Scheme, sha256: str) -> list[dict[str, Any] | None]:
    """The cohort pass over one partition: what it reads of each row."""
    return cohort_rows(_compiled(scheme, sha256), _arrow(frame))


def _cohort_values(
    scheme: Scheme, sha256: str, *parts: list[dict[str, Any] | None]
) -> CohortValues:
    """Where the partitions' rows meet: the cohort values over all of them, in row order."""
    return cohort_values_of(_compiled(scheme, sha256), (row for part in parts for row in part))


def _stage_part(
    frame: pd.DataFrame,
    scheme: Scheme,
    sha256: str,
    values: CohortValues,
    at: int,
    offset: int,
) -> tuple[list[Staged], dict[int, FactsError]]:
    """One partition scored by pass *at* of a scheme whose values are over scores.

    With the units it failed (by position among all rows), which fail with that reason.
    """
    stage = _compiled(scheme, sha256).stages[at]
    arrow = _scorable(frame)
    chunk = score_chunk(
        stage.compiled, arrow, values, offset=offset, first_row=offset + 1, stage=stage
    )
    return chunk.staged, pass_failures(chunk, offset)


def _take_stage(
    scheme: Scheme,
    sha256: str,
    values: CohortValues,
    at: int,
    *parts: tuple[list[Staged], dict[int, FactsError]],
) -> CohortValues:
    """Where pass *at*'s partitions meet: the values taken over their scores."""
    stage = _compiled(scheme, sha256).stages[at]
    failed = {row: error for _, part in parts for row, error in part.items()}
    return stage.take(values, (row for rows, _ in parts for row in rows), failed)


def _score_part(
    frame: pd.DataFrame,
    scheme: Scheme,
    sha256: str,
    values: CohortValues | None,
    offset: int,
) -> tuple[pd.DataFrame, _Rankable]:
    """One partition scored (its rows numbered from *offset*), with its rankable rows."""
    compiled = _compiled(scheme, sha256)
    arrow = _scorable(frame)
    chunk = score_chunk(compiled, arrow, values, offset=offset, first_row=offset + 1)
    out = to_pandas(chunk.table)
    out.index = frame.index
    return out, chunk.rankable


def _table_of(scored: tuple[pd.DataFrame, _Rankable]) -> pd.DataFrame:
    return scored[0]


def _ranks(scheme: Scheme, sha256: str, *parts: tuple[pd.DataFrame, _Rankable]) -> dict[int, int]:
    """The ranking, where the partitions' scored rows meet: each ranked row's position."""
    rankable = (row for _, rows in parts for row in rows)
    return {r: rank.position for r, rank in rank_rows(_compiled(scheme, sha256), rankable).items()}


def _with_ranks(
    scored: tuple[pd.DataFrame, _Rankable], ranks: dict[int, int], offset: int
) -> pd.DataFrame:
    """A scored partition with its ``rank`` column (before ``errors``)."""
    out = scored[0].copy()
    column = pd.array([ranks.get(offset + r) for r in range(len(out))], dtype="Int64")
    out.insert(list(out.columns).index("errors"), _RANK, column)
    return out


def _meta(compiled: CompiledScheme, frame: dd.DataFrame, values: Any) -> pd.DataFrame:
    empty = frame._meta  # noqa: SLF001 - Dask's own empty frame of the right columns
    chunk = score_chunk(compiled, _arrow(empty), None if values is None else _no_values(compiled))
    out = to_pandas(chunk.table)
    if compiled.scheme.ranking is not None:
        out.insert(list(out.columns).index("errors"), _RANK, pd.Series([], dtype="Int64"))
    return out


def _no_values(compiled: CompiledScheme) -> CohortValues:
    """Cohort values over no unit: enough to give the result's columns their types."""
    return compiled.cohort_values([])


def score_dask(compiled: CompiledScheme, units: dd.DataFrame) -> dd.DataFrame:
    """Score every row of a Dask DataFrame; a Dask DataFrame of results, partition by partition.

    The columns are those of :func:`perfrules.score_table`. Nothing is computed here: the
    cohort values (when the scheme declares them) and the ranks are reductions in the
    returned frame's graph, computed with it (the cohort pass reads every partition before
    the first is scored; ranking holds every scored partition until the ranks are known).

    Args:
        compiled: the scheme, compiled once here; the workers compile it again from its
            validated model, once per process.
        units: one row per unit, with the columns of :func:`perfrules.score_table` (read
            CSVs with ``dtype=str`` and ``keep_default_na=False``, so values stay as typed).

    Returns:
        A lazy Dask DataFrame of the results, one row per unit in the order of *units*,
        equal to :func:`perfrules.score_table` of the whole table (ranks included); a row's
        problems are in its ``errors`` column, located at ``table:ROW:COLUMN`` with rows
        numbered across partitions.

    Raises:
        FactsError: the columns cannot hold units (as :func:`perfrules.score_table`).

    Examples:
        >>> import dask.dataframe as dd
        >>> import pandas as pd
        >>> import perfrules.dask
        >>> compiled = perfrules.compile_scheme(perfrules.load_pack("examples/ranking-index"))
        >>> cities = pd.DataFrame(
        ...     {
        ...         "unit": ["A", "B", "C"],
        ...         "shared.gdp": ["12", "10", "8"],
        ...         "shared.green": ["45%", "50%", "40%"],
        ...         "shared.pm25": ["30", "25", "40"],
        ...     }
        ... )
        >>> units = dd.from_pandas(cities, npartitions=2)  # or dd.read_csv(..., dtype=str)
        >>> results = perfrules.dask.score_dask(compiled, units).compute()
        >>> results[["unit", "total", "rank"]].to_numpy().tolist()
        [['A', Decimal('92.00'), 2], ['B', Decimal('93.33'), 1], ['C', Decimal('69.42'), 3]]
    """
    sha256 = compiled.sha256
    # The scheme is one named piece of the graph, pickled once (not tokenized per task).
    scheme = delayed(compiled.scheme, name=f"perfrules-scheme-{sha256}")
    frame: Any = units
    parts = frame.to_delayed()

    lengths = [delayed(_length, pure=True)(part) for part in parts]
    offsets: list[Any] = [0]
    for length in lengths[:-1]:
        offsets.append(delayed(operator.add, pure=True)(offsets[-1], length))
    values = None
    if compiled.plan.has_cohort:
        rows = [delayed(_cohort_part, pure=True)(part, scheme, sha256) for part in parts]
        values = delayed(_cohort_values, pure=True)(scheme, sha256, *rows)
        for at in range(len(compiled.stages)):  # values over scores: a pass each
            staged = [
                delayed(_stage_part, pure=True)(part, scheme, sha256, values, at, offset)
                for part, offset in zip(parts, offsets, strict=True)
            ]
            values = delayed(_take_stage, pure=True)(scheme, sha256, values, at, *staged)
    scored = [
        delayed(_score_part, pure=True)(part, scheme, sha256, values, offset)
        for part, offset in zip(parts, offsets, strict=True)
    ]
    meta = _meta(compiled, frame, values)
    if compiled.scheme.ranking is None:
        tables = [delayed(_table_of, pure=True)(one) for one in scored]
    else:
        ranks = delayed(_ranks, pure=True)(scheme, sha256, *scored)
        tables = [
            delayed(_with_ranks, pure=True)(one, ranks, offset)
            for one, offset in zip(scored, offsets, strict=True)
        ]
    result: dd.DataFrame = dd.from_delayed(tables, meta=meta, verify_meta=False)
    return result
