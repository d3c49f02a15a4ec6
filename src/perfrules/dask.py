"""Scoring a Dask DataFrame, partition by partition (``pip install 'perfrules[dask]'``).

>>> import dask.dataframe as dd
>>> import perfrules, perfrules.dask
>>> compiled = perfrules.compile_scheme(perfrules.load_scheme("scheme.toml"))  # doctest: +SKIP
>>> units = dd.read_csv("units-*.csv", dtype=str)  # doctest: +SKIP
>>> results = perfrules.dask.score_dask(compiled, units)  # doctest: +SKIP
>>> results.to_parquet("results/")  # doctest: +SKIP

Each partition is scored by the same code as :func:`perfrules.score_table` (arrays for the
regular rows, ``evaluate`` for the others), in whatever process Dask runs it: the scheme
travels to the workers as its validated model and is compiled there once. Cohort values are
taken first, over every partition (a reduction of the few columns they read), so a
partition's rows are scored against the whole cohort; ranks come last, from every
partition's totals. The results are the same, to the last digit and rank, as one process
scoring the whole table.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any, Final

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa

from perfrules.engine import CohortValues, CompiledScheme, compile_scheme
from perfrules.model import Scheme
from perfrules.workflows import (
    rank_rows,
    score_chunk,
    to_pandas,
)

__all__ = ["score_dask"]

_ROW: Final = "__perfrules_row"
_RANK: Final = "__perfrules_rank"
_COMPILED: dict[str, CompiledScheme] = {}


def _compiled(scheme: Scheme, sha256: str) -> CompiledScheme:
    """The scheme compiled once per worker process."""
    found = _COMPILED.get(sha256)
    if found is None:
        found = _COMPILED[sha256] = compile_scheme(scheme)
    return found


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _score_partition(
    frame: pd.DataFrame,
    scheme: Scheme,
    sha256: str,
    values: CohortValues | None,
    offsets: list[int],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    compiled = _compiled(scheme, sha256)
    number = partition_info["number"] if partition_info is not None else 0
    offset = offsets[number] if number < len(offsets) else 0
    chunk = score_chunk(compiled, _arrow(frame), values, offset=offset, first_row=offset + 1)
    out = to_pandas(chunk.table)
    out.insert(0, _ROW, range(offset, offset + len(out)))
    if chunk.ranked:
        keys = {row: (unit, keys, cohort) for row, unit, keys, cohort in chunk.rankable}
        out[_RANK] = [
            json.dumps(_keys_text(keys[row])) if row in keys else None for row in out[_ROW]
        ]
    out.index = frame.index
    return out


def _keys_text(entry: tuple[str, tuple[Fraction | None, ...], str | None]) -> list[Any]:
    unit, keys, cohort = entry
    return [unit, [None if k is None else f"{k.numerator}/{k.denominator}" for k in keys], cohort]


def _keys_back(text: str) -> tuple[str, tuple[Fraction | None, ...], str | None]:
    unit, keys, cohort = json.loads(text)
    return unit, tuple(None if k is None else Fraction(k) for k in keys), cohort


def _meta(compiled: CompiledScheme, frame: dd.DataFrame, values: CohortValues | None) -> Any:
    empty = frame._meta  # noqa: SLF001 - Dask's own empty frame of the right columns
    chunk = score_chunk(compiled, _arrow(empty), values)
    out = to_pandas(chunk.table)
    out.insert(0, _ROW, pd.Series([], dtype="int64"))
    if chunk.ranked:
        out[_RANK] = pd.Series([], dtype=object)
    return out


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def score_dask(compiled: CompiledScheme, units: dd.DataFrame) -> dd.DataFrame:
    """Score every row of a Dask DataFrame; a Dask DataFrame of results, partition by partition.

    The columns are those of :func:`perfrules.score_table`. Cohort values (when the scheme
    declares them) and ranks are computed here, eagerly, from every partition; the scores
    themselves stay lazy until the result is computed or written.
    """
    scheme = compiled.scheme
    frame: Any = units
    lengths = frame.map_partitions(len).compute()
    offsets = [0]
    for length in lengths:
        offsets.append(offsets[-1] + int(length))
    values = None
    if compiled.plan.has_cohort:
        wanted = [f"shared.{n}" for n in sorted(compiled.plan.cohort_reads)]
        present = [c for c in ["unit", "单位", *wanted] if c in frame.columns]
        shared = frame[present].compute()  # only the few columns the values read
        rows = [
            {
                "unit": record.get("unit", record.get("单位")) or f"row {i + 1}",
                "shared": {
                    k.removeprefix("shared."): v
                    for k, v in record.items()
                    if k.startswith("shared.") and not _empty(v)
                },
            }
            for i, record in enumerate(shared.to_dict("records"))
        ]
        values = compiled.cohort_values(rows)
    meta = _meta(compiled, frame, values)
    scored = frame.map_partitions(
        _score_partition, scheme, compiled.sha256, values, offsets, meta=meta
    )
    if scheme.ranking is None:
        done: dd.DataFrame = scored.drop(columns=[_ROW])
        return done
    scored = scored.persist()
    keyed = scored[[_ROW, _RANK]].compute()
    rankable = [
        (int(row), *_keys_back(text))
        for row, text in zip(keyed[_ROW], keyed[_RANK], strict=True)
        if isinstance(text, str)
    ]
    positions = {row: rank.position for row, rank in rank_rows(compiled, rankable).items()}
    meta_ranked = meta.drop(columns=[_RANK])
    at = list(meta_ranked.columns).index("errors")
    meta_ranked.insert(at, "rank", pd.Series([], dtype="Int64"))

    def attach(part: pd.DataFrame) -> pd.DataFrame:
        part = part.drop(columns=[_RANK])
        ranks = pd.array([positions.get(int(r)) for r in part[_ROW]], dtype="Int64")
        part.insert(list(part.columns).index("errors"), "rank", ranks)
        return part

    ranked: dd.DataFrame = scored.map_partitions(attach, meta=meta_ranked).drop(columns=[_ROW])
    return ranked
