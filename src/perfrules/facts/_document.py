"""One unit's facts (:class:`Facts`) and the TOML / JSON facts file."""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from perfrules._messages import TOP_TABLE
from perfrules.errors import Diagnostic, FactsError
from perfrules.rules import read_document

__all__ = ["Facts", "Locator", "load_document_facts"]


class Locator(Protocol):
    """Where values of a facts file are: a TOML source map or a spreadsheet's cells."""

    def position(self, path: Sequence[str | int]) -> tuple[int, int]:
        """Line (or row) and column of *path*, or of its nearest located ancestor."""

    def line_text(self, line: int) -> str | None:
        """The text of a line (or row), for display."""

    def text_column(self, line: int, column: int) -> int:
        """Where *column* of *line* is in :meth:`line_text` (a sheet's cell in its row's text)."""


#: The canonical JSON the digest of facts given as data is taken over (one encoder, made
#: once: ``json.dumps`` with these options makes a new one per call).
#: An integer of another type (numpy's) is written as the number it is, anything else as text.
_CANONICAL: Final = json.JSONEncoder(
    ensure_ascii=False,
    sort_keys=True,
    default=lambda value: int(value) if isinstance(value, numbers.Integral) else str(value),
)


#: The keys at the top of one unit's facts, in a file or as plain data.
TOP_KEYS: Final = ("unit", "year", "shared", "indicators", "form")


@dataclass(frozen=True)
class Facts:
    """One unit's facts: per-indicator values, shared values, and where they were read from.

    Build one with :func:`load_facts` or :meth:`from_mapping`.
    """

    indicators: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    shared: Mapping[str, Any] = field(default_factory=dict)
    unit: str = ""
    file: str | None = None
    source: Locator | None = None
    sha256: str = ""
    #: ``[form]``: who filled the form in and when (for the signature block of reports).
    form: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, unit: str = "") -> Facts:
        """Facts from plain data.

        Either ``{"indicators": {id: {name: value}}, "shared": {...}, "unit": "..."}``, or
        simply ``{id: {name: value}}``.
        """
        if "indicators" in data or "shared" in data:
            indicators = data.get("indicators", {})
            shared = data.get("shared", {})
            unit = str(data.get("unit", unit))
        else:
            indicators, shared = data, {}
        return cls(indicators=indicators, shared=shared, unit=unit)

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the facts: of the file's bytes, or of the data's canonical JSON."""
        if self.sha256:
            return self.sha256
        canonical = _CANONICAL.encode(
            {"indicators": self.indicators, "shared": self.shared, "unit": self.unit}
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def position(self, path: tuple[str | int, ...]) -> tuple[str | None, int, int, str | None]:
        """File, line, column and source line of a key path in the facts file."""
        if self.source is None:
            return self.file, 0, 0, None
        if (
            len(path) >= 2
            and path[0] == "indicators"
            and isinstance(self.indicators, Mapping)
            and path[1] not in self.indicators
        ):
            # The indicator is not in the file at all: no line of it to show (the nearest
            # ancestor's position would be another indicator's header) -- but when the whole
            # unit is one row of a table, that row is where it is missing.
            return self.file, getattr(self.source, "row", 0), 0, None
        line, column = self.source.position(path)
        return self.file, line, column, self.source.line_text(line)

    def excerpt_column(self, line: int, column: int) -> int:
        """Where *line*:*column* (from :meth:`position`) is in its shown line (0: unknown).

        A text file's column is a character of its line; a sheet's counts cells, and its row
        is shown as the cells' text, so the character is another.
        """
        return 0 if self.source is None or not line else self.source.text_column(line, column)


def load_document_facts(
    path: str | Path, text: str | bytes | None = None, *, root: Path | None = None
) -> Facts:
    """Read a facts file (TOML or JSON), inside *root* when one is given.

    The file has optional ``unit`` and ``year`` keys, an optional ``[shared]`` table of
    facts every indicator can read, and ``[indicators.ID]`` tables. With *text* (text or
    UTF-8 bytes), that is the file and *path* only names it.

    Raises:
        FactsError: the file cannot be read or is not a table of that shape.
    """
    diagnostics: list[Diagnostic] = []
    loaded = read_document(path, diagnostics, text, root=root)
    if loaded is None:
        raise FactsError(diagnostics)
    document, source_map, digest = loaded
    name = str(path)
    for key, value in document.items():
        if key in ("unit", "year", "note"):
            continue
        if key == "form":
            diagnostics.extend(_form_problems(value, source_map, name))
            continue
        if key in ("indicators", "shared"):
            if not isinstance(value, Mapping):
                line, column = source_map.position((key,))
                diagnostics.append(
                    Diagnostic(
                        "PR410",
                        (key,),
                        {"got": type(value).__name__},
                        file=name,
                        line=line,
                        column=column,
                    )
                )
            continue
        line, column = source_map.position((key,))
        suggestion = difflib.get_close_matches(key, TOP_KEYS, n=1)
        diagnostics.append(
            Diagnostic(
                "PR101",
                (key,),
                {
                    "key": key,
                    "table": TOP_TABLE,
                    "suggestion": suggestion[0] if suggestion else "",
                },
                "did_you_mean" if suggestion else None,
                file=name,
                line=line,
                column=column,
                excerpt=source_map.line_text(line),
            )
        )
    if diagnostics:
        raise FactsError(diagnostics)
    return Facts(
        indicators=document.get("indicators", {}),
        shared=document.get("shared", {}),
        unit=str(document.get("unit", "")),
        file=name,
        source=source_map,
        sha256=digest,
        form={k: str(v) for k, v in document.get("form", {}).items()},
    )


#: The keys of ``[form]``: the signature block of a filed report.
FORM_KEYS: Final = ("filled_by", "reviewed_by", "phone", "date")


def _form_problems(value: Any, source_map: Any, name: str) -> list[Diagnostic]:
    """``[form]`` must be a table of texts with the known keys."""
    if not isinstance(value, Mapping):
        return [_form_type(("form",), "form", ("a table", "表"), value, source_map, name)]
    problems = []
    for key, item in value.items():
        line, column = source_map.position(("form", key))
        if key not in FORM_KEYS:
            suggestion = difflib.get_close_matches(key, FORM_KEYS, n=1)
            problems.append(
                Diagnostic(
                    "PR101",
                    ("form", key),
                    {
                        "key": key,
                        "table": "form",
                        "suggestion": suggestion[0] if suggestion else "",
                    },
                    "did_you_mean" if suggestion else None,
                    file=name,
                    line=line,
                    column=column,
                )
            )
        elif not isinstance(item, str | int):
            problems.append(
                _form_type(("form", key), f"form.{key}", ("text", "文本"), item, source_map, name)
            )
    return problems


def _form_type(
    path: tuple[str, ...],
    key: str,
    expected: tuple[str, str],
    value: Any,
    source_map: Any,
    name: str,
) -> Diagnostic:
    """PR102 for a ``[form]`` value of the wrong type, at its place in the file."""
    line, column = source_map.position(path)
    return Diagnostic(
        "PR102",
        path,
        {"key": key, "expected": expected[0], "expected_zh": expected[1], "got": repr(value)[:40]},
        file=name,
        line=line,
        column=column,
    )
