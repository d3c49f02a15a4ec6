"""Batch scoring: many units from one file or folder, results to CSV, JSONL or XLSX.

Inputs: a CSV with one row per unit (a ``unit`` column, then ``<indicator id>`` for the
indicator's actual value or ``<indicator id>.<input>``, ``<indicator id>.na``, an
``<indicator id>.override`` with its ``.override_reason``, and ``shared.<input>``); an XLSX
workbook with one sheet per unit (the ``perfrules template`` layout); or a folder of facts
files (TOML, JSON, single-unit CSV, XLSX). One unit's bad facts never stop the others: they
are collected with the unit and the location. Output files are written atomically.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import re
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import MAX_PREC, Context, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from perfrules._numbers import format_number
from perfrules._reading import (
    MAX_FILE_BYTES,
    folder_members,
    is_folder,
    printable_name,
    read_file,
    regular_file,
)
from perfrules.engine import CompiledScheme
from perfrules.errors import Diagnostic, FactsError, Lang
from perfrules.facts import Facts, csv_encoding, csv_rows, format_of, load_facts, workbook_units
from perfrules.reports import csv_text, sheet_value, text_cells
from perfrules.trace import Result
from perfrules.workflows._files import STDOUT, atomic_stream, write_atomic
from perfrules.workflows._summary import Summary

__all__ = [
    "CSV_EOLS",
    "ERROR_COLUMNS",
    "MAX_CELL_BYTES",
    "MAX_COLUMNS",
    "MAX_HEADER_CELL",
    "BatchOutcome",
    "CsvStyle",
    "ErrorsWrite",
    "check_header",
    "error_rows",
    "errors_writer",
    "names_a_unit",
    "placed",
    "read_units",
    "refused",
    "score_batch",
    "split_column",
    "unit_name",
    "write_results",
]


def names_a_unit(cell: object) -> bool:
    """Whether a unit cell names a unit: not missing, not empty, not spaces only."""
    return cell is not None and bool(str(cell).strip())


def unit_name(named: object, number: int) -> str:
    """A unit's name: its unit cell, or ``row N`` when it names none (:func:`names_a_unit`).

    *number* is the row as the unit's problems number it: a CSV file's row (the header is
    row 1), or a table's row counted from 1. Every shape of batch names a unit so, in its
    results, its summary and its ``--errors`` table.
    """
    return str(named) if names_a_unit(named) else f"row {number}"


#: Line endings of a CSV result, by name (``--csv-eol``).
CSV_EOLS = {"lf": "\n", "crlf": "\r\n"}


@dataclass(frozen=True)
class CsvStyle:
    """How a CSV result is written, the same by the in-memory and the streamed writer.

    A UTF-8 byte-order mark first (Excel needs it to read UTF-8), and the line ending.
    """

    bom: bool = True
    eol: str = "\n"

    @property
    def prefix(self) -> str:
        """What the file starts with."""
        return "\ufeff" if self.bom else ""


#: Units above this many get no sheet of their own in an XLSX result (the summary has them).
MAX_UNIT_SHEETS = 100


@dataclass
class UnitResult:
    """One unit's outcome in a batch."""

    unit: str
    result: Result | None = None
    errors: list[Diagnostic] = field(default_factory=list)


@dataclass
class BatchOutcome:
    """Every unit's outcome and the summary."""

    units: list[UnitResult]

    @property
    def scored(self) -> list[UnitResult]:
        """The units that scored."""
        return [u for u in self.units if u.result is not None]

    @property
    def failed(self) -> list[UnitResult]:
        """The units whose facts could not be scored."""
        return [u for u in self.units if u.result is None]

    def summary(self, compiled: CompiledScheme) -> dict[str, Any]:
        """Grade distribution, mean and median total, the indicators losing most points."""
        tally = Summary(compiled)
        for unit in self.units:
            if unit.result is None:
                tally.add_failure()
            else:
                tally.add(unit.result)
        return tally.to_dict()


#: Budgets of a table of units (a DataFrame, a Parquet file, a batch CSV), checked at the door.
MAX_COLUMNS: Final = 10_000
#: Characters of a column name: ids and input names are short.
MAX_HEADER_CELL: Final = 1_000
#: Bytes of one cell (the size of a whole facts file).
MAX_CELL_BYTES: Final = 1 << 20


def refused(code: str, params: dict[str, Any], source: str, column: int = 0) -> FactsError:
    """A table refused whole: *code* at *source* (line 1 and *column* when one is named)."""
    line = 1 if column else 0
    return FactsError([Diagnostic(code, (), params, file=source, line=line, column=column)])


def check_header(names: Sequence[str], source: str) -> None:
    """Refuse a header over its budgets or naming a column twice (``PR418``, ``PR420``)."""
    if len(names) > MAX_COLUMNS:
        params = {
            "what": "the header",
            "what_zh": "表头",
            "limit": f"{MAX_COLUMNS:,} columns",
            "detail": f"it has {len(names):,}",
        }
        raise refused("PR418", params, source, 1)
    for i, name in enumerate(names):
        if len(name) > MAX_HEADER_CELL:
            params = {
                "what": "a column name",
                "what_zh": "列名",
                "limit": f"{MAX_HEADER_CELL:,} characters",
                "detail": f"{len(name):,} characters",
            }
            raise refused("PR418", params, source, i + 1)
    seen: dict[str, int] = {}
    twice: list[str] = []
    for i, name in enumerate(names):
        if name and seen.setdefault(name, i) != i and name not in twice:
            twice.append(name)
    if twice:
        shown = ", ".join(f"'{n}'" for n in twice[:10])
        column = next(i for i, n in enumerate(names) if n == twice[0] and seen[n] != i) + 1
        raise refused("PR420", {"names": shown}, source, column)


#: The columns of a batch's errors table (``--errors FILE``, the errors sheet of XLSX
#: results): one row per problem, ``file:row:column`` as in its message (null when none).
ERROR_COLUMNS: Final = ("unit", "file", "row", "column", "code", "message", "hint")


def error_rows(
    unit: str, diagnostics: Iterable[Diagnostic], lang: Lang = "en"
) -> list[dict[str, Any]]:
    """The rows of the errors table for one unit's *diagnostics* (:data:`ERROR_COLUMNS`)."""
    return [
        {
            "unit": unit,
            "file": d.file or None,
            "row": d.line or None,
            "column": d.column or None,
            "code": d.code,
            "message": d.message(lang),
            "hint": d.hint_text(lang),  # what to write instead (did you mean '0.93'?)
        }
        for d in diagnostics
    ]


#: Writes rows of :func:`error_rows` to an errors table.
ErrorsWrite = Callable[[Iterable[dict[str, Any]]], None]


@contextlib.contextmanager
def errors_writer(path: Path, style: CsvStyle | None = None) -> Iterator[ErrorsWrite]:
    """An errors table at *path*, written row by row: JSON Lines for ``.jsonl``, else CSV.

    The file appears, whole, when the block ends without an exception (written
    atomically, like the results); the block gets the function that appends rows.
    """
    style = style or CsvStyle()
    lines = path.suffix.lower() == ".jsonl"
    with atomic_stream(path) as stream:

        def write_csv(rows: Iterable[Iterable[str]]) -> None:
            text = io.StringIO()
            csv.writer(text, lineterminator=style.eol).writerows(rows)
            stream.write(text.getvalue().encode())

        def write(rows: Iterable[dict[str, Any]]) -> None:
            if lines:
                text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                stream.write(text.encode())
            else:
                write_csv(
                    [csv_text("" if row[k] is None else str(row[k])) for k in ERROR_COLUMNS]
                    for row in rows
                )

        if not lines:
            stream.write(style.prefix.encode())
            write_csv([ERROR_COLUMNS])
        yield write


def placed(error: FactsError, facts: Facts) -> FactsError:
    """*error* with each problem that has no place placed in *facts* (one row of a table).

    A cohort's first pass reads every unit's shared facts before any unit is scored; the
    problems it keeps are placed here, at the row and column of the cell they are about.
    """
    if all(d.file is not None for d in error.diagnostics):
        return error
    diagnostics = []
    for d in error.diagnostics:
        if d.file is None:
            file, line, column, excerpt = facts.position(d.path)
            d = d.located(  # noqa: PLW2901
                file=file,
                line=line,
                column=column,
                excerpt=excerpt,
                excerpt_column=facts.excerpt_column(line, column),
            )
        diagnostics.append(d)
    return FactsError(diagnostics)


def _dec(value: Any) -> str:
    from fractions import Fraction  # noqa: PLC0415

    from perfrules._numbers import format_number, round_fraction  # noqa: PLC0415

    return format_number(round_fraction(Fraction(value), 4, "half_up"))


def _wide_rows(path: Path) -> Iterator[tuple[str, dict[str, Any] | FactsError, tuple[str, int]]]:
    """The rows of a batch CSV read whole: each row's cells, or the error of that row."""
    diagnostics: list[Diagnostic] = []
    data = read_file(path, diagnostics)
    if data is None:
        # Too large for the in-memory reading: the chunked one takes any size.
        raise FactsError(
            [
                dataclasses.replace(d, hint="batch_frame") if d.code == "PR106" else d
                for d in diagnostics
            ]
        )
    name = str(path)
    if csv_encoding(lambda: (data,)) == "gb18030":
        text = data.decode("gb18030")
    else:
        # Bytes that are not UTF-8 kept as escapes: they are their row's error, not the file's.
        text = data.decode("utf-8-sig", "surrogateescape")
    bad_bytes = iter(_ESCAPED.finditer(text))
    rows = iter(csv_rows(text, name))
    header = [h.strip() for h in next(rows, [])]
    if any(_ESCAPED.search(h) for h in header):
        data.decode("utf-8-sig")  # raises at the first bad byte, reported below
    check_header(header, name)
    for number, row in enumerate(rows, start=2):
        values = dict(zip(header, row, strict=False))
        unit = unit_name(values.get("unit") or values.get("单位"), number)
        escaped = [i for i, cell in enumerate(row) if _ESCAPED.search(cell)]
        if escaped:
            first = next(bad_bytes)
            for _ in range(sum(len(_ESCAPED.findall(row[i])) for i in escaped) - 1):
                next(bad_bytes, None)
            offset = len(text[: first.start()].encode("utf-8", "surrogateescape"))
            offset += 3 if data.startswith(b"\xef\xbb\xbf") else 0
            params = {"file": name, "position": offset, "byte": f"0x{data[offset]:02X}"}
            problem = Diagnostic(
                "PR108", (), params, file=name, line=number, column=escaped[0] + 1
            )
            yield _ESCAPED.sub("\ufffd", unit), FactsError([problem]), (name, number)
            continue
        yield unit, values, (name, number)


#: A byte that was not UTF-8, kept by the ``surrogateescape`` error handler.
_ESCAPED: Final = re.compile("[\udc80-\udcff]")


def _unknown_shared(
    header: Iterable[str], compiled: CompiledScheme
) -> dict[str, tuple[int, str, str]]:
    """``shared.NAME`` columns of *header* that the scheme does not read.

    By column name: (1-based column, NAME, the closest name it reads or ``""``), as the
    plan says (:meth:`Plan.unknown_shared`, what ``evaluate`` refuses too).
    """
    shared = {
        key.removeprefix("shared."): (column, key)
        for column, key in enumerate(header, start=1)
        if key.startswith("shared.")
    }
    return {
        shared[name][1]: (shared[name][0], name, close)
        for name, close in compiled.plan.unknown_shared(shared).items()
    }


def _shared_problems(
    values: dict[str, Any], unknown: dict[str, tuple[int, str, str]], where: tuple[str, int]
) -> FactsError | None:
    """``PR421`` for each filled cell of an unknown ``shared.NAME`` column of one row."""
    problems = [
        Diagnostic(
            "PR421",
            ("shared", name),
            {"name": name, "suggestion": suggestion},
            "did_you_mean" if suggestion else None,
            file=where[0],
            line=where[1],
            column=column,
        )
        for key, (column, name, suggestion) in unknown.items()
        if values.get(key) not in ("", None)
    ]
    return FactsError(problems) if problems else None


def split_column(name: str, ids: Container[str]) -> tuple[str, str]:
    """A batch column ``ID.NAME`` as (indicator id, fact name); ``ID`` alone as (id, "").

    An id may hold dots itself (``1.1.answer`` is fact ``answer`` of indicator ``1.1``):
    the name is split after the longest id of *ids* it starts with. A name no id starts
    with is split at its first dot, and its id is then reported as unknown.
    """
    if name in ids:
        return name, ""
    at = name.rfind(".")
    while at > 0:
        if name[:at] in ids:
            return name[:at], name[at + 1 :]
        at = name.rfind(".", 0, at)
    ident, _, fact = name.partition(".")
    return ident, fact


def _unit_facts(
    values: dict[str, Any], compiled: CompiledScheme
) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The facts of one CSV row, and the column of each fact (1-based)."""
    indicators: dict[str, dict[str, Any]] = {}
    shared: dict[str, Any] = {}
    columns: dict[tuple[str, ...], int] = {}
    for column, (key, value) in enumerate(values.items(), start=1):
        if key in ("unit", "单位"):
            continue
        empty = value in ("", None)
        if key.startswith("shared."):
            if not empty:
                shared[key.removeprefix("shared.")] = value
            # An empty cell gives nothing, but a fact found missing is missing there.
            _place(columns, ("shared", key.removeprefix("shared.")), column, empty=empty)
            continue
        ident, name = split_column(key, compiled.plan.by_id)
        if empty:
            _place(columns, ("indicators", ident, name or _shown(compiled, ident)), column)
            continue
        if name in ("override", "override_reason"):
            # A manual score and its reason in two columns: the override table of facts files.
            table = indicators.setdefault(ident, {}).setdefault("override", {})
            table["score" if name == "override" else "reason"] = value
            columns[("indicators", ident, "override")] = column
            columns.setdefault(("indicators", ident), column)
            continue
        name = name or _shown(compiled, ident)
        indicators.setdefault(ident, {})[name] = value
        columns[("indicators", ident, name)] = column
        columns.setdefault(("indicators", ident), column)
    return {"indicators": indicators, "shared": shared}, columns


def _shown(compiled: CompiledScheme, ident: str) -> str:
    """The input a column named by the indicator alone gives: its ``show``, else ``actual``."""
    index = compiled.plan.by_id.get(ident)
    leaf = compiled.plan.nodes[index].leaf if index is not None else None
    return (leaf.show if leaf is not None else None) or "actual"


def _place(
    columns: dict[tuple[str, ...], int], path: tuple[str, ...], column: int, *, empty: bool = True
) -> None:
    """Note *path* at *column*; an empty cell never moves a fact given in another column."""
    if empty:
        columns.setdefault(path, column)
    else:
        columns[path] = column


def read_units(
    source: str | Path, compiled: CompiledScheme
) -> Iterator[tuple[str, Facts | dict[str, Any] | FactsError, tuple[str, int]]]:
    """Every unit in *source*, lazily: (unit name, facts or the error reading them, where).

    A folder is the root of its units: a member that is a link leading out of it (to
    ``/etc/passwd``, to a file elsewhere), a FIFO, a device or a name that is not UTF-8 is
    that unit's ``PR105``, refused before anything of it is read; a folder of more than
    ``MAX_FOLDER_ENTRIES`` entries is refused whole.
    """
    path = Path(source)
    if is_folder(path):
        problems: list[Diagnostic] = []
        members = folder_members(path, problems)  # at most MAX_FOLDER_ENTRIES
        if members is None:
            raise FactsError(problems)
        for item in members:
            if format_of(item) is None:
                continue
            shown = printable_name(item.name)
            if shown != item.name:  # its bytes are not UTF-8: no output could name it
                named = str(path / shown)
                reason = "its name is not UTF-8"
                problem = Diagnostic("PR105", params={"file": named, "reason": reason}, file=named)
                yield Path(shown).stem, FactsError([problem]), (named, 0)
                continue
            try:
                facts = load_facts(item, root=path)
                yield facts.unit or item.stem, facts, (str(item), 0)
            except FactsError as exc:
                yield item.stem, exc, (str(item), 0)
        return
    kind = format_of(path)
    if path.suffix.lower() == ".parquet" or (
        kind is not None and kind.name == "csv" and _large(path)
    ):
        yield from _chunked_units(path, compiled)
        return
    if kind is not None and kind.name == "csv":
        unknown: dict[str, tuple[int, str, str]] | None = None
        for unit, values, where in _wide_rows(path):
            if isinstance(values, FactsError):
                yield unit, values, where
                continue
            if unknown is None:
                unknown = _unknown_shared(values, compiled)
            refused = _shared_problems(values, unknown, where) if unknown else None
            if refused is not None:
                yield unit, refused, where
                continue
            data, columns = _unit_facts(values, compiled)
            yield unit, _with_positions(data, columns, where, unit), where
        return
    if kind is not None and kind.name == "xlsx":
        for name, facts_or_error in workbook_units(path):  # the workbook is read once
            yield name, facts_or_error, (f"{path}[{name}]", 0)
        return
    facts = load_facts(path)
    yield facts.unit or path.stem, facts, (str(path), 0)


def _large(path: Path) -> bool:
    """A wide CSV over the facts-file size limit, which only the chunked reader takes."""
    return regular_file(path) and path.stat().st_size > MAX_FILE_BYTES and _frame_available()


def _frame_available() -> bool:
    try:
        import perfrules.workflows._stream  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _chunked_units(
    path: Path, compiled: CompiledScheme
) -> Iterator[tuple[str, Facts | dict[str, Any] | FactsError, tuple[str, int]]]:
    """Units of a CSV of any size or a Parquet file, read in chunks (the ``frame`` extra)."""
    try:
        from perfrules.workflows._stream import BadRow, read_items  # noqa: PLC0415
    except ImportError:
        raise FactsError(
            [
                Diagnostic(
                    "PR105",
                    params={"file": str(path), "reason": "needs pip install 'perfrules[frame]'"},
                    file=str(path),
                )
            ]
        ) from None
    unknown: dict[str, tuple[int, str, str]] | None = None
    for item in read_items(path):
        if isinstance(item, BadRow):
            yield item.unit, FactsError([item.diagnostic]), (str(path), item.number)
            continue
        table, number = item
        for row in table.to_pylist():
            cells = {str(k): ("" if v is None else v) for k, v in row.items()}
            unit = unit_name(cells.get("unit") or cells.get("单位"), number)
            if unknown is None:
                unknown = _unknown_shared(cells, compiled)
            refused = _shared_problems(cells, unknown, (str(path), number)) if unknown else None
            if refused is not None:
                yield unit, refused, (str(path), number)
                number += 1
                continue
            data, columns = _unit_facts(cells, compiled)
            where = (str(path), number)
            yield unit, _with_positions(data, columns, where, unit), where
            number += 1


def _with_positions(
    data: dict[str, Any], columns: dict[tuple[str, ...], int], where: tuple[str, int], unit: str
) -> Facts:
    """Facts of one CSV row, each located at its row and column."""
    from perfrules.facts import TablePositions  # noqa: PLC0415

    row = where[1]
    cells: dict[tuple[str | int, ...], tuple[int, int]] = {
        path: (row, column) for path, column in columns.items()
    }
    cells[("indicators",)] = (row, 1)
    cells[("shared",)] = (row, 0)  # a shared fact without a column: the row
    positions = TablePositions(cells=cells, rows={}, row=row)
    return Facts(
        indicators=data["indicators"],
        shared=data["shared"],
        unit=unit,
        file=where[0],
        source=positions,
    )


def score_batch(
    compiled: CompiledScheme,
    source: str | Path,
    *,
    trace: bool = False,
    progress: Callable[[int], None] | None = None,
    traced: str | None = None,
) -> BatchOutcome:
    """Score every unit of *source*; bad units are kept with their diagnostics.

    A scheme with ``[cohort]`` values or a ``[ranking]`` scores all the units together:
    the values are taken over every readable unit, then each is scored and ranked.
    *traced* names the one unit whose trace is kept (the others are scored without one),
    whatever *trace* says.
    """
    if compiled.plan.has_cohort:
        return _score_cohort(compiled, source, trace=trace, progress=progress, traced=traced)
    units: list[UnitResult] = []
    for unit, facts, _ in read_units(source, compiled):
        if isinstance(facts, FactsError):
            units.append(UnitResult(unit, errors=list(facts.diagnostics)))
        else:
            explained = trace if traced is None else unit == traced
            try:
                units.append(UnitResult(unit, compiled.evaluate(facts, trace=explained)))
            except FactsError as exc:
                units.append(UnitResult(unit, errors=list(exc.diagnostics)))
        if progress is not None:
            progress(len(units))
    return BatchOutcome(units)


def _score_cohort(
    compiled: CompiledScheme,
    source: str | Path,
    *,
    trace: bool,
    progress: Callable[[int], None] | None,
    traced: str | None = None,
) -> BatchOutcome:
    units: list[UnitResult] = []
    readable: list[tuple[int, Facts | dict[str, Any]]] = []
    explained: set[int] = set()  # among the readable units, those whose trace is kept
    for unit, facts, _ in read_units(source, compiled):
        if isinstance(facts, FactsError):
            units.append(UnitResult(unit, errors=list(facts.diagnostics)))
            continue
        named = facts
        if isinstance(facts, Facts) and not facts.unit:
            named = dataclasses.replace(facts, unit=unit)  # named in the cohort's explanations
        if unit == traced:
            explained.add(len(readable))
        readable.append((len(units), named))
        units.append(UnitResult(unit))
    results = compiled.evaluate_cohort(
        (facts for _, facts in readable),
        trace=trace,
        traced=None if traced is None else explained,
    )
    for (position, _), result in zip(readable, results, strict=True):
        if isinstance(result, FactsError):
            units[position].errors = list(result.diagnostics)
        else:
            units[position].result = result
    if progress is not None:
        progress(len(units))
    return BatchOutcome(units)


def _cohort_columns(compiled: CompiledScheme) -> list[str]:
    """Extra result columns of a cohort scheme: its values, then the rank."""
    scheme = compiled.scheme
    declared = compiled.written.cohort  # as written: not the values a step writes out
    columns = []
    if declared is not None:
        if declared.group_by is not None:
            columns.append(declared.group_by)
        columns.extend(declared.values)
    if compiled.imputes and compiled.plan.has_cohort:
        columns.append("imputed")  # the inputs imputed for the unit
    if scheme.ranking is not None and scheme.ranking.min_available is not None:
        columns.append("unranked")  # why the unit is not ranked
    return [*columns, "rank"] if scheme.ranking is not None else columns


def _cohort_cells(result: Result, columns: list[str]) -> list[str]:
    """The cells of :func:`_cohort_columns`: the cohort's key, its values, the rank."""
    cohort = result.cohort
    values = {v.name: v.value for v in cohort.values} if cohort is not None else {}
    cells = []
    for index, column in enumerate(columns):
        if column in values:
            value = values[column]
            cells.append("" if value is None else format_number(value))
        elif index == len(columns) - 1 and column == "rank":
            rank = result.rank
            cells.append("" if rank is None else rank.shown)
        elif column == "imputed":
            cells.append("" if cohort is None else " ".join(cohort.imputed))
        elif column == "unranked":
            why = None if cohort is None else cohort.unranked
            cells.append("" if why is None else why.text("en"))
        else:  # the cohort's key (the group_by fact)
            cells.append("" if cohort is None or cohort.cohort is None else cohort.cohort)
    return cells


def _cohort_json(result: Result, compiled: CompiledScheme) -> dict[str, Any]:
    """The cohort values and rank of a JSONL line without a trace (none for other schemes)."""
    if not compiled.plan.has_cohort:
        return {}
    cohort = result.cohort
    rank = result.rank
    return {
        "cohort": None if cohort is None else cohort.cohort,
        "values": {
            v.name: None if v.value is None else format_number(v.value)
            for v in (cohort.values if cohort is not None else ())
        },
        "rank": None if rank is None else rank.position,
    }


def _score_columns(compiled: CompiledScheme) -> list[str]:
    return [compiled.plan.nodes[i].id for i in compiled.plan.leaves]


def write_results(
    outcome: BatchOutcome,
    compiled: CompiledScheme,
    path: Path,
    style: CsvStyle | None = None,
    *,
    errors: Path | None = None,
    lang: Lang = "en",
) -> None:
    """Write the results to *path* (.csv, .jsonl or .xlsx), atomically; ``-`` is CSV to stdout.

    With *errors*, every failing unit's problems go there too, as a table
    (:data:`ERROR_COLUMNS`; ``.csv`` or ``.jsonl``), their messages in *lang*.
    """
    style = style or CsvStyle()
    if errors is not None:
        with errors_writer(errors, style) as write:
            for unit in outcome.failed:
                write(error_rows(unit.unit, unit.errors, lang))
    suffix = ".csv" if str(path) == STDOUT else path.suffix.lower()
    ids = _score_columns(compiled)
    if suffix == ".jsonl":
        lines = []
        for unit in outcome.units:
            if unit.result is not None and unit.result.trace is not None:
                lines.append(
                    json.dumps(
                        {"unit": unit.unit, "trace": json.loads(unit.result.trace.to_json())},
                        ensure_ascii=False,
                    )
                )
            elif unit.result is not None:
                lines.append(
                    json.dumps(
                        {
                            "unit": unit.unit,
                            "total": str(unit.result.total),
                            "grade": unit.result.grade.label,
                            "scores": {
                                k: None if v is None else str(v)
                                for k, v in unit.result.scores.items()
                            },
                            **_cohort_json(unit.result, compiled),
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                lines.append(
                    json.dumps(
                        {"unit": unit.unit, "errors": [d.to_dict("en") for d in unit.errors]},
                        ensure_ascii=False,
                    )
                )
        write_atomic(path, "\n".join(lines) + "\n")
        return
    if suffix == ".csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator=style.eol)
        extra = _cohort_columns(compiled)
        writer.writerow(
            ["unit", "total", "grade", *(csv_text(i) for i in (*ids, *extra)), "errors"]
        )
        plan = compiled.plan
        places = [plan.nodes[plan.by_id[i]].places for i in ids]
        for unit in outcome.units:
            if unit.result is not None:
                scores = unit.result.scores
                writer.writerow(
                    [
                        csv_text(unit.unit),
                        fixed_text(unit.result.total, plan.total_places),
                        csv_text(unit.result.grade.label),
                        *(fixed_text(scores.get(i), p) for i, p in zip(ids, places, strict=True)),
                        *(csv_text(cell) for cell in _cohort_cells(unit.result, extra)),
                        "",
                    ]
                )
            else:
                writer.writerow(
                    [
                        csv_text(unit.unit),
                        "",
                        "",
                        *([""] * (len(ids) + len(extra))),
                        csv_text("; ".join(d.format("en") for d in unit.errors)),
                    ]
                )
        write_atomic(path, style.prefix + text.getvalue())
        return
    if suffix == ".parquet":
        _write_parquet(outcome, compiled, path, ids)
        return
    _write_xlsx(outcome, compiled, path, ids)


def fixed_text(value: Decimal | Fraction | None, places: int | None) -> str:
    """A score as exact text with its *places* (never ``3.3E+28``); ``""`` for none."""
    if value is None:
        return ""
    exact = Fraction(value)
    if places is None or (exact * 10**places).denominator != 1:
        return format_number(exact) if exact.denominator != 1 else str(int(exact))
    whole = int(exact * 10**places)
    digits = str(abs(whole)).rjust(places + 1, "0")
    text = digits if not places else f"{digits[:-places]}.{digits[-places:]}"
    return f"-{text}" if whole < 0 else text


def _write_parquet(
    outcome: BatchOutcome, compiled: CompiledScheme, path: Path, ids: list[str]
) -> None:
    """The CSV's columns, numbers as exact decimals (the ``frame`` extra)."""
    import pyarrow as pa  # noqa: PLC0415 - optional extra

    from perfrules.workflows._arrow import parquet_writer  # noqa: PLC0415 - the same extra
    from perfrules.workflows._table import decimal_type  # noqa: PLC0415

    plan = compiled.plan
    kinds = {"total": decimal_type(compiled, plan.total_places or 0)}
    for ident in ids:
        node = plan.nodes[plan.by_id[ident]]
        kinds[ident] = decimal_type(compiled, node.places or 0)
    extra = _cohort_columns(compiled)
    rows: dict[str, list[Any]] = {name: [] for name in ["unit", "total", "grade", *ids, *extra]}
    rows["errors"] = []
    for unit in outcome.units:
        result = unit.result
        rows["unit"].append(unit.unit)
        rows["total"].append(None if result is None else result.total)
        rows["grade"].append(None if result is None else result.grade.label)
        for ident in ids:
            rows[ident].append(None if result is None else result.scores.get(ident))
        cells = _cohort_cells(result, extra) if result is not None else [""] * len(extra)
        for column, text in zip(extra, cells, strict=True):
            rows[column].append(text or None)
        rows["errors"].append("; ".join(d.format("en") for d in unit.errors) or None)
    columns = {}
    for name, values in rows.items():
        kind = kinds.get(name)
        if kind is not None and (
            name == "total" or plan.nodes[plan.by_id[name]].places is not None
        ):
            with localcontext(Context(prec=MAX_PREC)):
                exact = [None if v is None else Decimal(fixed_text(v, kind.scale)) for v in values]
            columns[name] = pa.array(exact, type=kind)
        else:
            columns[name] = pa.array(values)
    buffer = pa.BufferOutputStream()
    table = pa.table(columns)
    with parquet_writer(buffer, table.schema) as writer:
        writer.write_table(table)
    write_atomic(path, buffer.getvalue().to_pybytes())


def _write_xlsx(
    outcome: BatchOutcome, compiled: CompiledScheme, path: Path, ids: list[str]
) -> None:
    import openpyxl  # noqa: PLC0415 - optional extra

    places = compiled.plan.total_places
    number_format = "0" if places == 0 else "0." + "0" * (places or 2)
    # Write-only: rows are streamed to the file as they are appended, each in O(1).
    workbook = openpyxl.Workbook(write_only=True)
    summary = workbook.create_sheet("summary")
    extra = _cohort_columns(compiled)
    group_by = compiled.scheme.cohort.group_by if compiled.scheme.cohort is not None else None
    ranking = compiled.scheme.ranking
    marked = ranking is not None and bool(ranking.shared_mark)
    # A rank with a shared mark (=5) is text, as published.
    numeric = {
        c
        for c in extra
        if c not in (group_by, "imputed", "unranked") and not (marked and c == "rank")
    }
    _append(summary, ["unit", "total", "grade", *ids, *extra], bold=True)
    for unit in outcome.units:
        if unit.result is None:
            continue
        scores = unit.result.scores
        cells = [_cell(scores.get(i)) for i in ids]
        ranked = [
            text if column not in numeric else _cell(Decimal(text)) if text else None
            for column, text in zip(extra, _cohort_cells(unit.result, extra), strict=True)
        ]
        _append(
            summary,
            [unit.unit, _cell(unit.result.total), unit.result.grade.label, *cells, *ranked],
            formats={1: number_format},
        )
    for unit in outcome.units[:MAX_UNIT_SHEETS]:
        if unit.result is not None:
            _unit_sheet(workbook, unit, compiled)
    errors = workbook.create_sheet("errors")
    _append(errors, list(ERROR_COLUMNS))
    for unit in outcome.failed:
        for row in error_rows(unit.unit, unit.errors, "zh"):
            _append(errors, [row[k] for k in ERROR_COLUMNS])
    info = workbook.create_sheet("overview")
    for key, value in outcome.summary(compiled).items():
        # One cell per value: a table (grades) or a list (most points lost) gets its rows.
        if isinstance(value, dict):
            _append(info, [key])
            for label, count in value.items():
                _append(info, ["", label, count])
        elif isinstance(value, list):
            _append(info, [key])
            for item in value:
                _append(info, ["", item["id"], _cell(Decimal(item["mean_lost"]))])
        else:
            number = _cell(Decimal(value)) if key.endswith("_total") and value else value
            _append(info, [key, number])
    buffer = io.BytesIO()
    workbook.save(buffer)
    write_atomic(path, buffer.getvalue())


def _append(
    sheet: Any, values: list[Any], formats: dict[int, str] | None = None, *, bold: bool = False
) -> list[Any]:
    """Append a row; text cells stay text (``=…`` is not a formula). Returns its cells.

    *formats* gives number formats by column (from 0). Only cells that need a type or a
    style are made as cells; the row is appended in O(1) (asking a sheet for its last row
    scans every row, which made a batch of thousands of units quadratic).
    """
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415 - optional extra
    from openpyxl.styles import Font  # noqa: PLC0415

    row: list[Any] = []
    for column, raw in enumerate(values):
        value = sheet_value(raw)
        style = formats.get(column) if formats else None
        if isinstance(value, str) or style is not None or bold:
            cell = WriteOnlyCell(sheet, value=value)
            text_cells([cell])
            if style is not None:
                cell.number_format = style
            if bold:
                cell.font = Font(bold=True)
            row.append(cell)
        else:
            row.append(value)
    sheet.append(row)
    return row


def _cell(value: Decimal | Fraction | None) -> float | None:
    """An Excel cell holds a binary double: the exact value stays in the CSV and JSON outputs."""
    return None if value is None else float(value)  # float-ok: a spreadsheet cell


def _unit_sheet(workbook: Any, unit: UnitResult, compiled: CompiledScheme) -> None:
    """The unit's table as real cells: numbers as numbers, shown with the scheme's places."""
    assert unit.result is not None  # noqa: S101
    title = "".join(ch for ch in sheet_value(unit.unit) if ch not in "[]:*?/\\")[:31] or "unit"
    sheet = workbook.create_sheet(title)
    _append(sheet, ["id", "name", "weight", "target", "score"])
    for node in compiled.plan.nodes[1:]:
        score = unit.result.scores.get(node.id)
        places = node.shown_places if node.shown_places is not None else 2
        style = "0" if places == 0 else "0." + "0" * places
        values = [node.id, node.name, _cell(node.weight), node.target, _cell(score)]
        _append(sheet, values, formats={4: style})
    _append(sheet, ["total", "", _cell(compiled.plan.max), "", _cell(unit.result.total)])
    _append(sheet, ["grade", "", None, "", unit.result.grade.label])
    gap = compiled.gap(unit.result)
    if gap is not None:
        _append(sheet, ["next band", gap.label, None, "", _cell(Decimal(str(gap.min)))])
        _append(sheet, ["shortfall", "", None, "", _cell(Decimal(format_number(gap.shortfall)))])
        for ident, lost in gap.improve:
            _append(sheet, ["improve", ident, None, "", _cell(Decimal(format_number(lost)))])
