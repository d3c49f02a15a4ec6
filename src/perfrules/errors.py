"""Exceptions and diagnostics.

Every problem perfrules finds in a rule file, a facts file or an expression is a
:class:`Diagnostic`: a stable code, a severity, where it is (file, line, column, key path)
and a message in Chinese or English. Loading collects *all* diagnostics and raises one
exception that carries them, sorted by position.

This module imports nothing else from perfrules except the message table, so every
layer may import it.

>>> from perfrules.errors import Diagnostic
>>> d = Diagnostic("PR302", path=("indicators", "q1", "formula"), params={"name": "actaul"})
>>> d.message("en")
"unknown name 'actaul'"
>>> d.message("zh")
'未知的名称“actaul”'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from perfrules._messages import render_hint, render_message, severity_of

__all__ = [
    "Diagnostic",
    "DiagnosticsError",
    "ExpressionError",
    "FactsError",
    "Lang",
    "PerfrulesError",
    "RuleFileError",
    "Severity",
]

Severity = Literal["error", "warning"]

#: Longest expression-error message, so that a hostile formula is never echoed in full.
MAX_MESSAGE = 300
Lang = Literal["zh", "en"]


class PerfrulesError(Exception):
    """Root of every exception perfrules raises on purpose."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One located problem, with a stable code and a message in zh or en.

    Attributes:
        code: stable identifier such as ``PR201``; documented in
            ``docs/reference/diagnostics.md``.
        path: TOML key path of the offending value, e.g. ``("indicators", "q1", "weight")``.
        params: values inserted into the message template of ``code``.
        hint: key of a hint template ("did you mean ...?"), or ``None``.
        file: the file the problem is in, when there is one.
        line: 1-based line in ``file``; 0 when unknown.
        column: 1-based character column in ``file``; 0 when unknown.
        excerpt: the text of the offending line, for display.
        severity: ``"error"`` or ``"warning"``; defaults to the code's severity.
        end_line: 1-based line where the offending text ends; 0 when unknown.
        end_column: 1-based column just after the offending text (exclusive: ``weigth``
            at column 1 ends at column 7); 0 when unknown. With ``line`` and ``column`` it
            spans the key and its value (``weigth = 6``), or the token of a formula
            (``xweight``), or a table header's key.
        excerpt_column: 1-based character of ``excerpt`` the problem is at, when that is not
            ``column``: a sheet's row is shown as its cells (``a | b | 0,93``) while
            ``column`` counts cells (G is 7); 0 when it is ``column``.
    """

    code: str
    path: tuple[str | int, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)
    hint: str | None = None
    file: str | None = None
    line: int = 0
    column: int = 0
    excerpt: str | None = None
    severity: Severity = field(default="error")
    end_line: int = 0
    end_column: int = 0
    excerpt_column: int = 0

    def __post_init__(self) -> None:
        """Take the severity from the code's table entry unless set explicitly."""
        if self.severity == "error":
            object.__setattr__(self, "severity", severity_of(self.code))

    def message(self, lang: Lang = "en") -> str:
        """The message in *lang*, built from the code's template and ``params``."""
        return render_message(self.code, self.params, lang)

    def hint_text(self, lang: Lang = "en") -> str | None:
        """The hint in *lang*, or ``None`` when there is no hint."""
        if self.hint is None:
            return None
        return render_hint(self.hint, self.params, lang)

    @property
    def key(self) -> str:
        """The key path written TOML-style: ``indicators.q1.weight``, ``bands[1].min``."""
        return format_key_path(self.path)

    def located(
        self,
        *,
        file: str | None,
        line: int,
        column: int,
        excerpt: str | None = None,
        end_line: int = 0,
        end_column: int = 0,
        excerpt_column: int = 0,
    ) -> Diagnostic:
        """A copy placed at *file*:*line*:*column*, ending before *end_line*:*end_column*."""
        return Diagnostic(
            self.code,
            self.path,
            self.params,
            self.hint,
            file,
            line,
            column,
            excerpt,
            self.severity,
            end_line,
            end_column,
            excerpt_column,
        )

    def to_dict(self, lang: Lang = "en") -> dict[str, object]:
        """A JSON-ready mapping (the ``check --format json`` contract).

        ``file``, ``line``, ``column``, ``key`` and ``hint`` are ``None`` (JSON ``null``) when
        there is none: a problem of the whole file has no line, one of the whole scheme no key.
        ``end_line`` and ``end_column`` (exclusive) say where the offending text ends, or are
        ``None`` when that is not known (a problem found without a source map).
        """
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.file or None,
            "line": self.line or None,
            "column": self.column or None,
            "end_line": (self.end_line or None) if self.line else None,
            "end_column": (self.end_column or None) if self.line else None,
            "key": self.key or None,
            "message": self.message(lang),
            "hint": self.hint_text(lang),
        }

    def format(self, lang: Lang = "en") -> str:
        """One line in the ``file:line:col: severity[code]: message`` form editors understand."""
        where = self.file or "<input>"
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        text = f"{where}: {self.severity}[{self.code}]: {self.message(lang)}"
        hint = self.hint_text(lang)
        if hint:
            text += f" ({hint})"
        return text

    def sort_key(self) -> tuple[str, int, int, str]:
        """Order by file, then position, then code."""
        return (self.file or "", self.line, self.column, self.code)


def format_key_path(path: Iterable[object]) -> str:
    """Write a key path TOML-style, quoting keys that are not bare keys.

    An ``int`` is an array index (``bands[1]``); any other key that is not text (a tuple,
    ``None``, a number an application used as a dictionary key) is written as its text.
    """
    out = ""
    for step in path:
        if isinstance(step, int) and not isinstance(step, bool):
            out += f"[{step}]"
            continue
        part = step if isinstance(step, str) else str(step)
        text = part if _is_bare_key(part) else '"' + part.replace('"', '\\"') + '"'
        out += ("." if out else "") + text
    return out


def _is_bare_key(key: str) -> bool:
    return bool(key) and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in key)


class DiagnosticsError(PerfrulesError, ValueError):
    """An input could not be used; ``diagnostics`` says every reason, sorted by position."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        """Keep the diagnostics sorted; the exception text is the first few, in English."""
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(diagnostics, key=Diagnostic.sort_key)
        )
        shown = [d.format("en") for d in self.diagnostics[:5]]
        more = len(self.diagnostics) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more")
        super().__init__("\n".join(shown) or "no diagnostics")

    def __reduce__(self) -> tuple[type[DiagnosticsError], tuple[tuple[Diagnostic, ...]]]:
        """Pickled as its diagnostics: a worker process's error comes back whole."""
        return type(self), (self.diagnostics,)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Only the diagnostics of severity ``error``."""
        return tuple(d for d in self.diagnostics if d.severity == "error")

    def to_json(self, lang: Lang = "en") -> str:
        """Every diagnostic as a JSON array, for a web handler's 4xx answer.

        Each entry has the code, severity, file, line, column, key, message and hint.
        """
        return json.dumps([d.to_dict(lang) for d in self.diagnostics], ensure_ascii=False)


class RuleFileError(DiagnosticsError):
    """A rule file (scheme) has errors: syntax, structure, weights, bands or formulas."""


class FactsError(DiagnosticsError):
    """A unit's facts cannot be scored: missing or malformed values, or a formula failed."""


class ExpressionError(PerfrulesError, ValueError):
    """An expression was rejected, at compile time or while evaluating.

    Attributes:
        code: stable diagnostic code (``PR3xx``).
        params: values for the message template.
        offset: 0-based character offset of the problem in the expression text; -1 until
            the evaluator that caught the error has placed it.
        hint: key of a hint template, or ``None``.
    """

    def __init__(
        self,
        code: str,
        params: Mapping[str, object] | None = None,
        *,
        offset: int = -1,
        hint: str | None = None,
        text: str = "",
    ) -> None:
        """Build the error; the exception text is the English message with the column."""
        self.code = code
        self.params: Mapping[str, object] = dict(params or {})
        self.offset = offset
        self.hint = hint
        self.text = text
        super().__init__(
            f"{self.message('en')} (column {self.column})" if offset >= 0 else self.message("en")
        )

    def placed(self, offset: int, text: str) -> ExpressionError:
        """A copy of this error placed at *offset* in *text* (kept if already placed)."""
        if self.offset >= 0:
            return self
        return ExpressionError(self.code, self.params, offset=offset, hint=self.hint, text=text)

    @property
    def column(self) -> int:
        """1-based character column on the expression's line; 0 when not placed."""
        if self.offset < 0:
            return 0
        start = self.text.rfind("\n", 0, self.offset) + 1
        return self.offset - start + 1

    @property
    def line(self) -> int:
        """1-based line inside the expression text (formulas may span lines)."""
        if self.offset < 0:
            return 0
        return self.text.count("\n", 0, self.offset) + 1

    def message(self, lang: Lang = "en") -> str:
        """The message in *lang*, at most ``MAX_MESSAGE`` characters (values are shortened)."""
        text = render_message(self.code, self.params, lang)
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"

    def hint_text(self, lang: Lang = "en") -> str | None:
        """The hint in *lang*, or ``None``."""
        return None if self.hint is None else render_hint(self.hint, self.params, lang)

    def to_diagnostic(self, path: tuple[str | int, ...] = ()) -> Diagnostic:
        """This error as an (unlocated) diagnostic at *path*."""
        params = dict(self.params)
        params.setdefault("expr_offset", self.offset)
        return Diagnostic(self.code, path, params, self.hint)
