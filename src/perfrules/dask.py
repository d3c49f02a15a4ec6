"""Scoring a Dask DataFrame, partition by partition (``pip install 'perfrules[dask]'``).

:func:`read_csv` reads a wide CSV of units into partitions of Arrow text (one byte range
each, parsed by pyarrow in several threads, as ``perfrules score`` reads a file);
:func:`score_dask` scores any Dask DataFrame of units into a Dask DataFrame of results;
:func:`to_parquet` scores it into a folder of Parquet files, one a partition, each scored
and written as Arrow in one task (a piece written while the next is scored).

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

import contextlib
import errno
import operator
import os
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from dask.base import compute
from dask.delayed import delayed

from perfrules.engine import CohortValues, CompiledScheme, Staged, compile_scheme
from perfrules.errors import FactsError
from perfrules.model import Scheme
from perfrules.trace import Rank
from perfrules.workflows import (
    CsvLayout,
    cohort_rows,
    cohort_values_of,
    csv_layout,
    csv_range,
    csv_range_units,
    file_version,
    new_folder,
    numbered,
    pass_failures,
    rank_rows,
    ranked_table,
    result_schema,
    score_chunk,
    score_csv_range,
    score_parquet,
    to_pandas,
    units_arrow,
    write_parquet,
)

__all__ = ["read_csv", "score_dask", "to_parquet"]

_COMPILED: dict[str, CompiledScheme] = {}
#: One partition's rows the ranking takes: (row, unit, keys, cohort).
_Rankable = list[tuple[int, str, tuple[Fraction | None, ...], str | None]]
_RANK: Final = "rank"
#: Bytes of the CSV a partition of :func:`read_csv` reads.
BLOCKSIZE: Final = 32 << 20
#: Threads a partition's text columns are numbered in.
_THREADS: Final = 2
#: Rows :func:`to_parquet` scores at a time: each piece is written while the next is
#: scored (a partition of :func:`read_csv` is about 100,000 units of the seed's 17).
_PIECE_ROWS: Final = 1 << 15
#: The files :func:`to_parquet` writes, and what it may replace.
_PART: Final = "part.{:0{}d}.parquet"


def _compiled(scheme: Scheme, sha256: str) -> CompiledScheme:
    """The scheme compiled once per worker process."""
    found = _COMPILED.get(sha256)
    if found is None:
        found = _COMPILED[sha256] = compile_scheme(scheme)
    return found


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """A partition as Arrow: zero-copy for Arrow-backed columns (:func:`read_csv`'s).

    Columns of text, numbers or nothing are taken as they are; anything else (a name
    given twice, bytes, periods, complex numbers) is checked as ``score_table`` checks a
    table: a ``FactsError`` naming the column, or its cells read one by one.
    """
    try:
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
    except Exception:  # noqa: BLE001 - the column to blame is found the careful way
        return units_arrow(frame)
    if all(_plain(kind) for kind in arrow.schema.types):
        return arrow
    return units_arrow(frame)


def _plain(kind: pa.DataType) -> bool:
    """A column type a partition's facts are read from as it is."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def _scorable(frame: pd.DataFrame) -> pa.Table:
    """A partition as Arrow, its text columns that repeat numbered (``numbered``) in threads.

    pyarrow hashes without holding the interpreter: the columns are numbered two at once,
    where one process numbers the next chunk while it scores this one.
    """
    return numbered(_arrow(frame), _THREADS)


@dataclass(frozen=True)
class _CsvSource:
    """What :func:`read_csv` made a frame of: the file's layout, each partition's bytes.

    *name* is the frame's name as returned: an operation on the frame (a column added,
    rows taken) gives it another name, and its partitions are no longer these ranges.
    """

    layout: CsvLayout
    spans: tuple[tuple[int, int], ...]
    name: str


#: The attribute :func:`read_csv` keeps its :class:`_CsvSource` in.
_SOURCE: Final = "_perfrules_csv_source"


def _csv_source(units: dd.DataFrame) -> _CsvSource | None:
    """The ranges *units* reads, when it is a frame as :func:`read_csv` returned it."""
    source = units.__dict__.get(_SOURCE)
    if isinstance(source, _CsvSource) and units._name == source.name:  # noqa: SLF001
        return source
    return None


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
    without a copy. Nothing is read to count rows. A range with a quote within a cell's
    budget (1 MiB) of its start first reads the file before it (where the quotes stand
    decides where its rows start).

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
    # For to_parquet: a frame taken as it is read reads, scores and writes each range as
    # one stream. Not a column: set on the object, gone from any frame made from it.
    object.__setattr__(result, _SOURCE, _CsvSource(layout, tuple(spans), result._name))  # noqa: SLF001
    return result


def _length(frame: pd.DataFrame) -> int:
    return len(frame)


def _cohort_part(
    frame: pd.DataFrame, scheme: Scheme, sha256: str, offset: int
) -> list[dict[str, Any] | None]:
    """The cohort pass over one partition: what it reads of each row (rows from *offset*)."""
    return cohort_rows(_compiled(scheme, sha256), _arrow(frame), offset + 1)


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


@dataclass(frozen=True)
class _Scored:
    """One partition scored: its result rows (no rank) as Arrow, its index, its rankables."""

    table: pa.Table
    index: pd.Index
    rankable: _Rankable


def _score_part(
    frame: pd.DataFrame,
    scheme: Scheme,
    sha256: str,
    values: CohortValues | None,
    offset: int,
) -> _Scored:
    """One partition scored (its rows numbered from *offset*), with its rankable rows."""
    compiled = _compiled(scheme, sha256)
    chunk = score_chunk(compiled, _scorable(frame), values, offset=offset, first_row=offset + 1)
    return _Scored(chunk.table, frame.index, chunk.rankable)


def _frame(table: pa.Table, index: pd.Index) -> pd.DataFrame:
    out = to_pandas(table)
    out.index = index
    return out


def _table_of(scored: _Scored) -> pd.DataFrame:
    return _frame(scored.table, scored.index)


def _ranks(scheme: Scheme, sha256: str, *parts: _Scored) -> dict[int, Rank]:
    """The ranking, where the partitions' scored rows meet: each ranked row's rank.

    Only what the ``rank`` column shows travels on (not each unit's keys and ties).
    """
    rankable = (row for part in parts for row in part.rankable)
    ranks = rank_rows(_compiled(scheme, sha256), rankable).items()
    return {r: rank._replace(keys=(), tied_with=()) for r, rank in ranks}


def _ranked(scored: _Scored, ranks: dict[int, Rank], offset: int, mark: str) -> pa.Table:
    """A scored partition with its ``rank`` column, as :func:`perfrules.score_table` has it."""
    return ranked_table(scored.table, ranks, offset, mark)


def _with_ranks(scored: _Scored, ranks: dict[int, Rank], offset: int, mark: str) -> pd.DataFrame:
    return _frame(_ranked(scored, ranks, offset, mark), scored.index)


def _empty_result(compiled: CompiledScheme, frame: dd.DataFrame, values: Any) -> pa.Table:
    """The results of no unit, with the columns and types of every partition's."""
    empty = frame._meta  # noqa: SLF001 - Dask's own empty frame of the right columns
    chunk = score_chunk(compiled, _arrow(empty), None if values is None else _no_values(compiled))
    return chunk.with_ranks({})


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
    graph = _graph(compiled, units)
    meta = to_pandas(_empty_result(compiled, units, graph.values))
    scored = graph.scored()
    ranking = compiled.scheme.ranking
    if ranking is None:
        tables = [delayed(_table_of, pure=True)(one) for one in scored]
    else:
        ranks = delayed(_ranks, pure=True)(graph.scheme, graph.sha256, *scored)
        tables = [
            delayed(_with_ranks, pure=True)(one, ranks, offset, ranking.shared_mark)
            for one, offset in zip(scored, graph.offsets, strict=True)
        ]
    result: dd.DataFrame = dd.from_delayed(tables, meta=meta, verify_meta=False)
    return result


@dataclass(frozen=True)
class _Graph:
    """What scoring a Dask DataFrame's partitions takes, as pieces of a Dask graph.

    The scheme (one named piece, pickled once, not tokenized per task), each partition,
    its first row's number (the lengths of the partitions before it, a chain of small
    tasks), and the cohort values (a reduction over every partition, pass by pass), or
    ``None`` when the scheme declares none.
    """

    scheme: Any
    sha256: str
    parts: list[Any]
    offsets: list[Any]
    values: Any

    def scored(self) -> list[Any]:
        """Each partition scored (``_Scored``), its rows numbered across partitions."""
        return [
            delayed(_score_part, pure=True)(part, self.scheme, self.sha256, self.values, offset)
            for part, offset in zip(self.parts, self.offsets, strict=True)
        ]


def _graph(compiled: CompiledScheme, units: dd.DataFrame) -> _Graph:
    sha256 = compiled.sha256
    scheme = delayed(compiled.written, name=f"perfrules-scheme-{sha256}")
    frame: Any = units
    parts = frame.to_delayed()
    lengths = [delayed(_length, pure=True)(part) for part in parts]
    offsets: list[Any] = [0]
    for length in lengths[:-1]:
        offsets.append(delayed(operator.add, pure=True)(offsets[-1], length))
    values = None
    if compiled.plan.has_cohort:
        rows = [
            delayed(_cohort_part, pure=True)(part, scheme, sha256, offset)
            for part, offset in zip(parts, offsets, strict=True)
        ]
        values = delayed(_cohort_values, pure=True)(scheme, sha256, *rows)
        for at in range(len(compiled.stages)):  # values over scores: a pass each
            staged = [
                delayed(_stage_part, pure=True)(part, scheme, sha256, values, at, offset)
                for part, offset in zip(parts, offsets, strict=True)
            ]
            values = delayed(_take_stage, pure=True)(scheme, sha256, values, at, *staged)
    return _Graph(scheme, sha256, parts, offsets, values)


def _write_part(
    frame: pd.DataFrame,
    scheme: Scheme,
    sha256: str,
    values: CohortValues | None,
    offset: int,
    file: Path,
    schema: pa.Schema,
) -> int:
    """One partition scored into the Parquet file *file*; its rows.

    As one process scores a file (``score_parquet``): piece by piece, the next piece
    numbered and the last written while this one is scored, so the one thread a task
    has keeps two cores busy.
    """
    compiled = _compiled(scheme, sha256)
    return score_parquet(
        compiled, _arrow(frame), values, file, schema, offset=offset, rows=_PIECE_ROWS
    )


def _write_range(
    span: tuple[int, int],
    step: int,
    layout: CsvLayout,
    scheme: Scheme,
    sha256: str,
    values: CohortValues | None,
    offset: int | None,
    file: Path,
    schema: pa.Schema,
) -> int:
    """One range of a CSV read, scored and written to the Parquet file *file*; its rows.

    As one process streams a file (``score_csv_range``): a block read and numbered while
    the last is scored, another written, so reading overlaps the rest in a task too.
    *offset* ``None``: the rows before are counted if a unit fails (ranges of *step*).
    """
    compiled = _compiled(scheme, sha256)
    start = span[0]
    before = offset if offset is not None else (lambda: _units_before(layout, start, step))
    return score_csv_range(compiled, layout, *span, values, file, schema, offset=before)


def _write_ranked(
    scored: _Scored, ranks: dict[int, Rank], offset: int, mark: str, file: Path, schema: pa.Schema
) -> int:
    """A scored partition, with its ranks, written to the Parquet file *file*; its rows."""
    return write_parquet(file, schema, [_ranked(scored, ranks, offset, mark)])


#: Rows in a range of a file, counted in this process: (layout, version, start, end).
_UNITS: dict[tuple[CsvLayout, tuple[int, ...], int, int], int] = {}


def _units_before(layout: CsvLayout, start: int, step: int) -> int:
    """The rows of the ranges of *step* bytes before byte *start* (each counted once here)."""
    version = file_version(layout.path)
    rows = 0
    for at in range(layout.body, start, step):
        key = (layout, version, at, at + step)
        if key not in _UNITS:
            if len(_UNITS) > 1 << 16:
                _UNITS.clear()
            _UNITS[key] = csv_range_units(layout, at, at + step)
        rows += _UNITS[key]
    return int(rows)


def _write_ranges(graph: _Graph, source: _CsvSource, files: list[Path], schema: pa.Schema) -> int:
    """Each range of a :func:`read_csv` frame read, scored and written as one stream; the rows.

    A failed unit's problems name its row (``table:ROW:COLUMN``), so a range with one needs
    the number of rows before it. With cohort values the cohort pass counts them as it
    reads every range. Without, no range waits for another: a range counts the rows
    before it when a unit of it first fails (``csv_range_units``: line breaks counted, not
    rows parsed; each range once in a process).
    """
    spans, layout = source.spans, source.layout
    offsets: list[Any] = graph.offsets
    if graph.values is None:  # noqa: PD011 - the graph's cohort values, not pandas'
        offsets = [None] * len(spans)
    step = spans[0][1] - spans[0][0]
    writes = [
        delayed(_write_range, pure=False)(
            span, step, layout, graph.scheme, graph.sha256, graph.values, offset, file, schema
        )
        for span, offset, file in zip(spans, offsets, files, strict=True)
    ]
    return sum(compute(*writes))  # type: ignore[no-untyped-call]


def _is_part(entry: Path) -> bool:
    """A file :func:`to_parquet` (or Dask's own writer) names a partition's results."""
    name = entry.name
    return (
        name.startswith("part.")
        and name.endswith(".parquet")
        and name[5:-8].isdigit()
        and entry.is_file()
        and not entry.is_symlink()
    )


def _refusal(target: Path, overwrite: bool) -> str | None:
    """Why :func:`to_parquet` must not replace *target*, or ``None``."""
    if not os.path.lexists(target):
        return None
    if target.name in {"", ".", ".."} or os.path.ismount(target):
        # A rename would fail on it after every partition is written.
        return "cannot be replaced (the current folder, or a mount point): name a folder in it"
    if target.is_dir() and not target.is_symlink():
        entries = list(target.iterdir())
        if not entries:
            return None
        if all(_is_part(entry) for entry in entries):
            if overwrite:
                return None
            return "holds results already (pass overwrite=True to replace them)"
        return "holds files other than part.N.parquet: not replaced"
    return "is not a folder"


def _check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target :func:`to_parquet` must not replace (``FileExistsError``).

    Or one it cannot make (``FileNotFoundError``): the folder it is in must exist.
    """
    if not target.parent.is_dir():
        msg = f"{target.parent} is not a folder: make it first, the results go in {target}"
        raise FileNotFoundError(msg)
    reason = _refusal(target, overwrite)
    if reason is not None:
        raise FileExistsError(f"{target} {reason}")


#: What renaming a folder onto *target* fails with when something is there.
_TAKEN: Final = frozenset({errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR})


def _commit(folder: Path, target: Path, overwrite: bool) -> None:
    """The finished *folder* renamed to *target*, checked again as it is now.

    The run may have taken hours since :func:`_check_target`, and another run or a person
    may have written to *target* meanwhile. Without *overwrite* (or with nothing there) an
    empty folder is removed and the new one renamed to its name, both of which the system
    refuses where there is a folder that is not empty: a run that finished first keeps its
    results. With *overwrite*, the old folder is moved aside first, checked where nothing
    can write into it any more, and put back if it holds anything but results; the old
    results are removed only when the new are in place.
    """
    if not overwrite or not os.path.lexists(target):
        if target.is_dir() and not target.is_symlink():
            with contextlib.suppress(OSError):  # an empty folder (rmdir refuses a filled one)
                target.rmdir()
        try:
            folder.replace(target)
        except OSError as error:
            if error.errno not in _TAKEN:
                raise
            why = _refusal(target, overwrite) or "was taken while the results were written"
            raise FileExistsError(f"{target} {why}") from error
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    old.rmdir()
    target.replace(old)
    try:
        reason = _refusal(old, overwrite)
        if reason is None:
            folder.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            old.replace(target)
        raise
    if reason is not None:
        old.replace(target)
        raise FileExistsError(f"{target} {reason}")
    shutil.rmtree(old, ignore_errors=True)


def _discard(folder: Path) -> None:
    """The folder of a failed run removed.

    A scheduler may still be running partitions when the first failure is raised: the
    folder is renamed first, so none of them can write a file into it again.
    """
    trash = Path(tempfile.mkdtemp(prefix=f"{folder.name}.failed.", dir=folder.parent))
    trash.rmdir()
    try:
        folder.replace(trash)
    except OSError:
        trash = folder
    shutil.rmtree(trash, ignore_errors=True)


def to_parquet(
    compiled: CompiledScheme,
    units: dd.DataFrame,
    path: str | Path,
    *,
    overwrite: bool = False,
) -> int:
    """Score every row of a Dask DataFrame into a folder of Parquet files, one a partition.

    The results are those of :func:`score_dask` (the same rows, columns and ranks, the
    decimals as wide as ``perfrules score`` writes them), written without a detour
    through pandas: each partition is read, scored and written as Arrow, and pyarrow
    writes one piece of it while the next is scored, in the same task, whatever the
    scheduler. A scheme with a ``[ranking]`` cannot: each partition's results are kept,
    as :func:`score_dask` keeps them, until every partition is scored and the ranks are
    known, and then written whole. Computed now, with the scheduler in effect
    (``dask.config.set``, a ``distributed`` client).

    The folder appears whole or not at all: the files are written to a new folder beside
    it, renamed to *path* when every partition is written (a failing partition removes
    it, and *path* keeps what it had). Read it back with ``pyarrow.parquet.read_table``,
    ``dd.read_parquet`` or ``polars.read_parquet(path / "*.parquet")``: the files sort in
    row order.

    Args:
        compiled: the scheme (see :func:`score_dask`).
        units: one row per unit (see :func:`score_dask`).
        path: a folder to create; an empty folder; or, with *overwrite*, a folder of
            results (only ``part.N.parquet`` files), replaced. The workers write beside
            it, so it must be a path every worker sees.
        overwrite: replace a folder of results.

    Returns:
        The number of rows written (one per unit, failed units included: their
        problems are in the ``errors`` column).

    Raises:
        FileExistsError: *path* is a file, a link, a mount point or the current folder
            (neither can be renamed), a folder holding other files, or a folder of
            results without *overwrite*: when the run begins, or when its results are
            ready (another run or a person wrote there meanwhile; what they wrote stays,
            and nothing of this run's).
        FileNotFoundError: the folder *path* is in does not exist.
        FactsError: the columns cannot hold units, or (with :func:`read_csv`) a row that
            is not a unit; nothing is written.

    Examples:
        >>> import pathlib, tempfile
        >>> import pandas as pd, pyarrow.parquet as pq
        >>> import dask.dataframe as dd
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
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "results"
        >>> perfrules.dask.to_parquet(compiled, dd.from_pandas(cities, npartitions=2), folder)
        3
        >>> sorted(entry.name for entry in folder.iterdir())
        ['part.0.parquet', 'part.1.parquet']
        >>> pq.read_table(folder, columns=["unit", "rank"]).to_pylist()[0]
        {'unit': 'A', 'rank': 2}
    """
    target = Path(path)
    _check_target(target, overwrite)
    graph = _graph(compiled, units)
    # A ranked partition's rows are scored before the ranks are known (``score_dask``'s
    # pieces, 16-byte decimals): written as they are, not cast to decimal64 (the same
    # file either way; the cast would cost more than the faster write saves).
    schema = result_schema(
        compiled,
        _empty_result(compiled, units, graph.values).schema,
        parquet=compiled.scheme.ranking is None,
    )
    width = len(str(max(len(graph.parts) - 1, 0)))
    # With a plain mkdir's mode, for workers of the group to write in.
    folder = new_folder(target.parent, f".{target.name}.")
    try:
        files = [folder / _PART.format(at, width) for at in range(len(graph.parts))]
        ranking = compiled.scheme.ranking
        source = _csv_source(units)
        if ranking is not None:
            scored = graph.scored()
            ranks = delayed(_ranks, pure=True)(graph.scheme, graph.sha256, *scored)
            writes = [
                delayed(_write_ranked, pure=False)(
                    one, ranks, offset, ranking.shared_mark, file, schema
                )
                for one, offset, file in zip(scored, graph.offsets, files, strict=True)
            ]
            rows = sum(compute(*writes))  # type: ignore[no-untyped-call]
        elif source is not None and len(source.spans) == len(files):
            rows = _write_ranges(graph, source, files, schema)
        else:
            writes = [
                delayed(_write_part, pure=False)(
                    part, graph.scheme, graph.sha256, graph.values, offset, file, schema
                )
                for part, offset, file in zip(graph.parts, graph.offsets, files, strict=True)
            ]
            rows = sum(compute(*writes))  # type: ignore[no-untyped-call]
        _commit(folder, target, overwrite)
    except BaseException:
        _discard(folder)
        raise
    return int(rows)
