"""A ranked stream: every unit's rank without every unit's results held in memory.

No rank is known before the last unit is scored. The streamed batch therefore keeps, of
each scored chunk, only what the ranking reads — each ranked row's keys as exact integers
and its cohort as a number (:class:`RankKeys`: a few machine integers a unit) — and writes
its result rows to a temporary Arrow IPC file (:class:`Spill`). Once every unit is in, the
ranking's array form (``CompiledScheme.rank_positions``, the tie rule ``rank`` applies)
ranks them all, and the spilled rows are read back a chunk at a time, given their ``rank``
column and written out.

Needs the ``frame`` extra, as the streamed batch does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from perfrules.engine import CompiledScheme
from perfrules.workflows._arrow import bool_array, int_array, scalar
from perfrules.workflows._table import Ints, with_rank_column

__all__ = ["SPILL_PREFIX", "RankedSpill"]

#: Past this magnitude a key is not an ``int64`` (negated for a descending key, it must
#: still fit); the key is then numbered by the order of its distinct values instead.
_WIDE: Final = 2**62
#: How a spill file's name starts (it is removed at the end, whatever happens).
SPILL_PREFIX: Final = ".perfrules-ranked-"

#: A chunk's rows the ranking takes: ``(row, unit, keys, cohort key)``, rows counted
#: across chunks (``Chunk.rankable``).
Rankable = Sequence[tuple[int, str, tuple[Fraction | None, ...], str | None]]


class _KeyColumn:
    """One ranking key of every ranked row so far, as integers in the exact values' order.

    While every value is a decimal (its denominator divides a power of ten: a rounded
    score, a fact written with decimals) and fits, each is held as an ``int64`` over
    ``10 ** places`` (*places* grows when a value needs more, the values before scaled up
    with it). Otherwise each distinct value gets a number, renumbered by their exact order
    at the end: exact for any fraction, at the cost of one entry per distinct value.
    """

    __slots__ = ("codes", "missing", "parts", "places")

    def __init__(self) -> None:
        self.places = 0
        self.codes: dict[Fraction, int] | None = None  # numbered values, once they are
        self.parts: list[Ints] = []
        #: Per chunk: which values are missing, or how many values there are when none is.
        self.missing: list[Ints | int] = []

    def add(self, values: list[Fraction | None]) -> None:
        """Take one chunk's values of the key (``None``: missing, ranked after every value)."""
        gone = [v is None for v in values]
        self.missing.append(np.array(gone, dtype=np.bool_) if any(gone) else len(values))
        if self.codes is None:
            scaled = self._scaled(values)
            if scaled is not None:
                self.parts.append(scaled)
                return
            self._number_the_values()
        codes = self.codes
        assert codes is not None  # noqa: S101 - numbered just above
        self.parts.append(
            np.fromiter(
                (0 if v is None else codes.setdefault(v, len(codes)) for v in values),
                np.int64,
                len(values),
            )
        )

    def _scaled(self, values: list[Fraction | None]) -> Ints | None:
        """*values* as integers over ``10 ** places``, or ``None`` when they cannot be."""
        need = self.places
        for denominator in {v.denominator for v in values if v is not None}:
            places = _decimal_places(denominator)
            if places is None:
                return None
            need = max(need, places)
        if need > self.places:
            factor = 10 ** (need - self.places)
            if any(len(part) and int(np.abs(part).max()) * factor >= _WIDE for part in self.parts):
                return None
            self.parts = [part * factor for part in self.parts]
            self.places = need
        scale = 10**self.places
        whole = [0 if v is None else v.numerator * (scale // v.denominator) for v in values]
        if any(not -_WIDE < w < _WIDE for w in whole):
            return None
        return np.array(whole, dtype=np.int64)

    def _number_the_values(self) -> None:
        """Hold the values so far as numbers of their distinct values, from now on."""
        scale = 10**self.places
        codes: dict[Fraction, int] = {}
        numbered = []
        # The chunk being added has its flags already, not its values.
        for part, missing in zip(self.parts, self.missing[: len(self.parts)], strict=True):
            gone = [False] * missing if isinstance(missing, int) else missing.tolist()
            numbered.append(
                np.fromiter(
                    (
                        0 if out else codes.setdefault(Fraction(int(v), scale), len(codes))
                        for v, out in zip(part.tolist(), gone, strict=True)
                    ),
                    np.int64,
                    len(part),
                )
            )
        self.codes, self.parts = codes, numbered

    def finish(self) -> tuple[Ints, Ints]:
        """Every row's integer and missing flag; the integers ordered as the values are."""
        keys = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int64)
        missing = np.concatenate(
            [
                np.zeros(flags, dtype=np.bool_) if isinstance(flags, int) else flags
                for flags in self.missing
            ]
            or [np.zeros(0, dtype=np.bool_)]
        )
        self.parts, self.missing = [], []
        if self.codes:
            order = np.empty(len(self.codes), dtype=np.int64)
            order[[self.codes[v] for v in sorted(self.codes)]] = np.arange(len(self.codes))
            keys = order[keys]
        self.codes = None
        return keys, missing


def _decimal_places(denominator: int) -> int | None:
    """The places a fraction over *denominator* (in lowest terms) needs; ``None``: no decimal."""
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


class RankedSpill:
    """The result tables of a ranked stream, held on disk, and their rows' ranking keys.

    :meth:`add` takes each result table (without its ``rank`` column) in the order it is
    to be written, with the rows of it the ranking takes: the table goes to a temporary
    Arrow IPC file (*path*: beside the output, so that it is on the disk the output is),
    the keys to integer arrays — one per key (:class:`_KeyColumn`), a missing flag, a
    cohort number and the row in its table: the unit's name and its exact fractions are
    let go. :meth:`tables` then ranks every row at once and gives the tables back, one at a
    time, with their ``rank`` column. :meth:`close` closes the file, whatever happened
    (use the object as a context manager); its maker removes it.
    """

    def __init__(self, compiled: CompiledScheme, schema: pa.Schema, path: Path) -> None:
        """Nothing spilled yet; *schema* is the results' without ``rank``.

        *path* is an empty file of the caller's, which removes it (``temporary_file``).
        """
        ranking = compiled.scheme.ranking
        assert ranking is not None  # noqa: S101 - only a ranked stream spills
        self.compiled = compiled
        self.schema = schema
        self.mark = ranking.shared_mark
        self.columns = [_KeyColumn() for _ in ranking.keys]
        self.named: dict[str | None, int] = {}
        self.cohorts: list[Ints] = []
        #: Per table added: its number of rows, and the rows of it that are ranked (``None``:
        #: every row, in order).
        self.sizes: list[int] = []
        self.rows: list[Ints | None] = []
        self.path = path
        self._sink: Any = None
        self._writer: Any = None
        try:
            self._sink = pa.OSFile(str(path), "wb")
            self._writer = pa.ipc.new_stream(self._sink, schema)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        """The spill, closed on the way out."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the file."""
        self.close()

    def close(self) -> None:
        """Close the file (again: nothing)."""
        for closing in (self._writer, self._sink):
            if closing is not None:
                with contextlib.suppress(pa.ArrowException, OSError):
                    closing.close()
        self._writer = self._sink = None

    def add(self, table: pa.Table, rankable: Rankable = (), offset: int = 0) -> None:
        """Spill *table* (result rows, no ``rank``) and keep the keys of its *rankable* rows.

        *offset* is the table's first row among all (``rankable`` counts rows so).
        """
        self._writer.write_table(table.cast(self.schema))
        size = table.num_rows
        self.sizes.append(size)
        count = len(rankable)
        rows = np.fromiter((row - offset for row, _, _, _ in rankable), np.int64, count)
        every = count == size and bool((rows == np.arange(count)).all())
        self.rows.append(None if every else rows.astype(np.int32))
        named = self.named
        wide = np.int32 if len(named) + count < 2**31 else np.int64
        self.cohorts.append(
            np.fromiter(
                (named.setdefault(key, len(named)) for _, _, _, key in rankable), wide, count
            )
        )
        for k, column in enumerate(self.columns):
            column.add([keys[k] for _, _, keys, _ in rankable])

    def tables(self) -> Iterator[pa.Table]:
        """Every table added, in order, with its ``rank`` column (null where not ranked).

        Every ranked row is ranked at once, each cohort on its own, by
        ``CompiledScheme.rank_positions``. With ``[ranking] shared_mark`` the column is the
        rank as printed (``Rank.shown``: the mark before a shared position), else the
        positions.
        """
        self._writer.close()
        self._sink.close()
        self._writer = self._sink = None
        ranks = self._ranks()
        with pa.OSFile(str(self.path), "rb") as source:
            reader = pa.ipc.open_stream(source)
            for size, (rows, ranked) in zip(self.sizes, ranks, strict=True):
                batches = []
                got = 0
                while got < size:
                    batch = reader.read_next_batch()
                    batches.append(batch)
                    got += batch.num_rows
                table = pa.Table.from_batches(batches, schema=self.schema)
                yield with_rank_column(table, _placed(size, rows, ranked))

    def _ranks(self) -> Iterator[tuple[Ints | None, pa.Array]]:
        """Each table's ranked rows and their ranks (text with a ``shared_mark``)."""
        keys, missing = [], []
        for column in self.columns:
            values, flags = column.finish()
            keys.append(values)
            missing.append(flags)
        cohorts = np.concatenate(self.cohorts) if self.cohorts else np.zeros(0, np.int64)
        self.cohorts = []
        positions = np.asarray(self.compiled.rank_positions(keys, missing, cohorts), np.int64)
        shared = self.compiled.rank_shared(positions, cohorts) if self.mark else None
        del keys, missing, cohorts
        start = 0
        for size, rows in zip(self.sizes, self.rows, strict=True):
            end = start + (size if rows is None else len(rows))
            ranked: pa.Array = int_array(positions[start:end])
            if shared is not None:
                texts = pc.cast(ranked, pa.string())
                mark, nothing = scalar(self.mark), scalar("")  # not Python values: no pandas
                marked = pc.binary_join_element_wise(mark, texts, nothing)
                ranked = pc.if_else(bool_array(shared[start:end]), marked, texts)
            yield rows, ranked
            start = end


def _placed(size: int, rows: Ints | None, ranked: pa.Array) -> pa.Array:
    """A column of *size* rows: *ranked* at *rows* (``None``: every row), null elsewhere."""
    if rows is None:
        return ranked
    index = np.full(size, -1, dtype=np.int64)
    index[rows] = np.arange(len(rows))
    return ranked.take(int_array(index, present=index >= 0))
