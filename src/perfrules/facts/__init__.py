"""Facts: what one unit achieved, read from wherever it is written.

:data:`FORMATS` is the one registry of facts files: which suffixes each reader takes, what
it needs installed, whether it holds one unit per sheet. :func:`load_facts` and the batch
reader both dispatch through it. The vocabulary of values (numbers, conditions, "not
applicable") lives in ``_values``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perfrules._reading import require_text
from perfrules.facts._document import TOP_KEYS, Facts, Locator, load_document_facts
from perfrules.facts._sheets import (
    INFO_COLUMNS,
    LABELS,
    REASON,
    TablePositions,
    column_key,
    csv_encoding,
    csv_rows,
    load_sheet_facts,
    loads_csv_facts,
    workbook_units,
)
from perfrules.facts._values import (
    DECIMAL_PAIR,
    POWERS_OF_TEN,
    TEXT_PAIRS,
    float_fact,
    is_na_word,
    marks_not_applicable,
    number_pair,
    text_of,
    to_bool,
)

__all__ = [
    "DECIMAL_PAIR",
    "FORMATS",
    "INFO_COLUMNS",
    "LABELS",
    "POWERS_OF_TEN",
    "REASON",
    "TEXT_PAIRS",
    "TOP_KEYS",
    "Facts",
    "FactsFormat",
    "Locator",
    "TablePositions",
    "column_key",
    "csv_encoding",
    "csv_rows",
    "float_fact",
    "format_of",
    "is_na_word",
    "load_facts",
    "load_sheet_facts",
    "loads_facts",
    "marks_not_applicable",
    "number_pair",
    "text_of",
    "to_bool",
    "workbook_units",
]


@dataclass(frozen=True, slots=True)
class FactsFormat:
    """One kind of facts file.

    Attributes:
        name: ``toml``, ``json``, ``csv`` or ``xlsx``.
        suffixes: the file name endings it is chosen by (lower case).
        load: ``load(path, sheet, root)`` → :class:`Facts` (``sheet`` only for workbooks;
            with ``root``, the file must be inside that folder).
        sheet: one unit per sheet or file with one row per indicator (CSV, XLSX), as
            ``perfrules template`` writes it.
        extra: the ``pip install 'perfrules[...]'`` extra it needs, if any.
    """

    name: str
    suffixes: tuple[str, ...]
    load: Callable[[Path, str | None, Path | None], Facts]
    sheet: bool = False
    extra: str | None = None


FORMATS: tuple[FactsFormat, ...] = (
    FactsFormat("toml", (".toml",), lambda path, _, root: load_document_facts(path, root=root)),
    FactsFormat("json", (".json",), lambda path, _, root: load_document_facts(path, root=root)),
    FactsFormat("csv", (".csv",), load_sheet_facts, sheet=True),
    FactsFormat("xlsx", (".xlsx", ".xlsm"), load_sheet_facts, sheet=True, extra="xlsx"),
)


def format_of(path: str | Path) -> FactsFormat | None:
    """The facts format of *path* by its suffix, or ``None``."""
    suffix = Path(path).suffix.lower()
    return next((f for f in FORMATS if suffix in f.suffixes), None)


def load_facts(
    path: str | Path, sheet: str | None = None, *, root: str | Path | None = None
) -> Facts:
    """Read one unit's facts: TOML, JSON, CSV or XLSX (by the file's suffix; TOML otherwise).

    Args:
        path: the facts file (a regular file of at most 1 MiB).
        sheet: the sheet of a workbook.
        root: when given, *path* must lead to a file inside this folder: a link or ``..``
            leaving it is refused (``PR105``) before anything is read.

    Raises:
        FactsError: the file cannot be read, with located diagnostics.
    """
    kind = format_of(path) or FORMATS[0]
    return kind.load(Path(path), sheet, None if root is None else Path(root))


def loads_facts(
    text: str | bytes,
    *,
    format: str = "toml",  # noqa: A002
    name: str | None = None,
) -> Facts:
    """One unit's facts from text: ``toml``, ``json`` or ``csv`` (nothing is written to disk).

    JSON numbers are read exactly (``0.93`` is 93/100, never a binary float), so a request
    body can be passed as it arrived, as text or as bytes (UTF-8, a byte-order mark allowed;
    CSV bytes are decoded as a CSV file is). Text and bytes have the budget of a facts file
    (1 MiB, ``PR106``).

    Args:
        text: the facts as text, or as bytes.
        format: ``toml``, ``json`` or ``csv`` (one row per indicator, as
            ``perfrules template`` writes it).
        name: how diagnostics and the trace's provenance name it (``facts.<format>``
            by default).

    Returns:
        One unit's :class:`Facts`, each value located for the diagnostics.

    Raises:
        FactsError: every problem, located at ``name:line:column``.
        ValueError: an unknown *format*.
        TypeError: *text* is neither text nor bytes (``None``: a body that never arrived).

    Examples:
        >>> body = b'{"indicators": {"q1": {"actual": 0.93}}}'  # a request body, as it came
        >>> facts = perfrules.loads_facts(body, format="json")
        >>> facts.indicators["q1"]["actual"]
        Decimal('0.93')
    """
    require_text(text)  # None is no body, never "read facts.json from the folder"
    label = name or f"facts.{format}"
    if format == "csv":
        return loads_csv_facts(text, label)
    if format not in ("toml", "json"):
        raise ValueError(f"format must be toml, json or csv, not {format!r}")
    if not label.lower().endswith(f".{format}"):
        label += f".{format}"  # the reader chooses by the name's ending
    return load_document_facts(label, text)
