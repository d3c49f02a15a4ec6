r"""Where each key of a TOML document is: key path → line and column.

``tomllib`` parses TOML but gives no positions, yet every diagnostic must point at a line.
This module scans the text of a document that ``tomllib`` has already accepted and records
the position of every key and value, and where each ends: table headers (``[a.b]``), arrays
of tables (``[[a.b]]``, indexed per parent element), dotted keys, quoted keys, inline tables
and arrays (also across lines), multi-line strings and comments.

Lines end only at ``\n`` (``str.splitlines`` would also split at ``\x85`` or ``\u2028``,
which TOML allows inside strings); columns count characters, 1-based.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]
#: line, column, end line, end column (exclusive); all 0 when unknown.
Span = tuple[int, int, int, int]

_BARE_RUN = re.compile(r"[A-Za-z0-9_-]+")
_SPACES = re.compile(r"[ \t]+")
_BLANK = re.compile(r"[ \t\r\n]+")
_PLAIN_BASIC = re.compile(r'[^"\\\n]+')  # a basic string's run without quote, escape, newline
_PLAIN_LITERAL = re.compile(r"[^'\n]*")
_PLAIN_VALUE = re.compile(r"[^,\]}\n#]*")  # numbers, booleans, dates: up to what ends them
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


@dataclass(frozen=True, slots=True)
class ValueSpan:
    """Where a value starts; for strings, where their content starts.

    Attributes:
        line: 1-based line of the first character of the content.
        column: 1-based column of the first character of the content.
        exact: whether content offsets map one to one onto the file (no escapes).
    """

    line: int
    column: int
    exact: bool = True


class SourceMap:
    """Positions of the keys and values of one TOML document.

    The text is scanned the first time a position is asked for, not when the document is
    read: a scheme that loads without a problem and is scored without a trace never needs
    one (the scan is a third of reading a large rule file). Safe to share between threads:
    the maps are published only when complete.
    """

    __slots__ = ("_ends", "_keys", "_lines", "_values", "file", "scan", "text")

    def __init__(self, text: str, file: str | None = None, *, scan: bool | str = False) -> None:
        """A map of *text*; with *scan*, positions are found by scanning it.

        *scan* is ``True`` (or ``"toml"``) for a TOML document, ``"json"`` for a JSON one.
        """
        self.text = text
        self.file = file
        self.scan = scan
        self._keys: dict[Path, tuple[int, int]] | None = None
        self._values: dict[Path, ValueSpan] = {}
        self._ends: dict[Path, tuple[int, int, int, int]] = {}
        self._lines: list[str] | None = None

    @property
    def keys(self) -> dict[Path, tuple[int, int]]:
        """Line and column of every key (scanned on first use)."""
        keys = self._keys
        if keys is None:
            keys = {}
            values: dict[Path, ValueSpan] = {}
            ends: dict[Path, tuple[int, int, int, int]] = {}
            if self.scan == "json":
                _JsonScanner(self.text, keys, values, ends).document()
            elif self.scan:
                _Scanner(self.text, keys, values, ends).document()
            self._values = values
            self._ends = ends
            self._keys = keys  # last: another thread sees both maps complete, or scans too
        return keys

    @property
    def values(self) -> dict[Path, ValueSpan]:
        """Where every value starts (scanned on first use)."""
        self.keys  # noqa: B018 - scans once
        return self._values

    @property
    def lines(self) -> list[str]:
        r"""The text split at ``\n`` only."""
        lines = self._lines
        if lines is None:
            lines = self._lines = self.text.split("\n")
        return lines

    def position(self, path: Sequence[str | int]) -> tuple[int, int]:
        """Line and column of *path*'s key, or of its nearest located ancestor (else 0, 0)."""
        probe = tuple(path)
        while probe:
            found = self.keys.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return (0, 0)

    def span(self, path: Sequence[str | int]) -> Span:
        """Where *path*'s key starts and its text ends (else its nearest located ancestor's).

        All 0 when none is located. The end is that of the value when it ends on the key's
        line (``weigth = 6``, ``id = "x"``), else that of the key (a table header's
        ``[indicators.q1]``, a key whose array runs over several lines).
        """
        probe = tuple(path)
        keys = self.keys
        while probe:
            found = keys.get(probe)
            if found is not None:
                key_line, key_end, value_line, value_end = self._ends.get(
                    probe, (found[0], found[1], 0, 0)
                )
                if value_line == found[0]:
                    return (*found, value_line, value_end)
                return (*found, key_line, key_end)
            probe = probe[:-1]
        return (0, 0, 0, 0)

    def value_span(self, path: Sequence[str | int], offset: int = 0) -> Span:
        """Where the token at character *offset* of the value at *path* starts and ends.

        The token is a name or a number (a run of letters, digits and ``_``; a number also
        takes ``.`` and ``%``), a quoted string, or else the one character there (``（``). A
        value written with escapes cannot be mapped character by character: its span is the
        value's first character.
        """
        value = self.values.get(tuple(path))
        if value is None:
            return self.span(path)
        line, column = self.value_position(path, offset)
        if not value.exact:
            return (line, column, line, column + 1)
        text = self.line_text(line) or ""
        return (line, column, line, column + _token_length(text, column - 1))

    def value_position(self, path: Sequence[str | int], offset: int = 0) -> tuple[int, int]:
        """Line and column of character *offset* inside the value at *path*."""
        span = self.values.get(tuple(path))
        if span is None:
            return self.position(path)
        if not span.exact:
            return (span.line, span.column)
        content = self._content_from(span)
        before = content[:offset]
        newlines = before.count("\n")
        if newlines == 0:
            return (span.line, span.column + offset)
        return (span.line + newlines, offset - before.rfind("\n"))

    def _content_from(self, span: ValueSpan) -> str:
        start_line = self.lines[span.line - 1][span.column - 1 :]
        return "\n".join([start_line, *self.lines[span.line :]])

    def line_text(self, line: int) -> str | None:
        """The text of 1-based *line*, or ``None``."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].rstrip("\r")
        return None

    def text_column(self, line: int, column: int) -> int:
        """Where *column* is in :meth:`line_text`: the column itself (a text's are characters)."""
        del line
        return column


def _token_length(text: str, start: int) -> int:
    """Characters in the token of *text* at index *start* (at least 1)."""
    if start >= len(text):
        return 1
    first = text[start]
    end = start + 1
    if first in "\"'":
        closing = text.find(first, end)
        return (closing + 1 if closing >= 0 else len(text)) - start
    if first.isalnum() or first == "_":
        number = first.isdigit()
        while end < len(text) and (
            text[end].isalnum() or text[end] == "_" or (number and text[end] in ".%")
        ):
            end += 1
    return end - start


_JSON_SPACE = re.compile(r"[ \t\r\n]*")
_JSON_STRING_END = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)  # after the opening quote
_JSON_ATOM = re.compile(r"[^,\]}\s]+")  # a number, true, false, null, NaN


class _JsonScanner:
    """Positions of the keys and values of a JSON document that ``json`` has accepted.

    A member's key is placed at its opening quote, an array's element where it starts; a
    string value's content starts after its quote (``exact`` unless it has escapes). The
    document's nesting is bounded before a position is asked for, so recursion is safe.
    """

    def __init__(
        self,
        text: str,
        keys: dict[Path, tuple[int, int]],
        values: dict[Path, ValueSpan],
        ends: dict[Path, tuple[int, int, int, int]],
    ) -> None:
        self.text = text
        self.i = 0
        self.keys = keys
        self.values = values
        self.ends = ends
        self._starts = [0, *(m.end() for m in re.finditer("\n", text))]
        #: the first key written twice in one object: its path and where the second one is
        self.repeated: tuple[Path, tuple[int, int]] | None = None

    def at(self, offset: int) -> tuple[int, int]:
        """1-based line and column of *offset*."""
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def skip(self) -> None:
        self.i = _JSON_SPACE.match(self.text, self.i).end()  # type: ignore[union-attr]

    def document(self) -> None:
        self.skip()
        if self.text.startswith("\ufeff", self.i):
            self.i += 1
            self.skip()
        self.value(())

    def value(self, path: Path) -> None:
        """Scan the value at the current offset (whitespace skipped), recording *path*."""
        first = self.text[self.i : self.i + 1]
        start = self.i
        if first == "{":
            self.i += 1
            self.members(path)
        elif first == "[":
            self.i += 1
            self.elements(path)
        elif first == '"':
            self.string()
        else:
            match = _JSON_ATOM.match(self.text, self.i)
            self.i = match.end() if match is not None else self.i + 1
        if path:
            content = start + 1 if first == '"' else start
            exact = first != '"' or "\\" not in self.text[start : self.i]
            self.values[path] = ValueSpan(*self.at(content), exact)
            key_line, key_end = self.ends.get(path, (0, 0, 0, 0))[:2]
            self.ends[path] = (key_line, key_end, *self.at(self.i))

    def string(self) -> str:
        """Move past the string at the current offset; its text, as JSON reads it."""
        start = self.i
        match = _JSON_STRING_END.match(self.text, start + 1)
        self.i = match.end() if match is not None else len(self.text)
        try:
            found = json.loads(self.text[start : self.i])
        except ValueError:
            return ""
        return found if isinstance(found, str) else ""

    def members(self, path: Path) -> None:
        self.skip()
        while self.i < len(self.text) and self.text[self.i] != "}":
            key_start = self.i
            name = self.string()
            key = (*path, name)
            if key in self.keys and self.repeated is None:
                self.repeated = (key, self.at(key_start))
            self.keys[key] = self.at(key_start)
            self.ends[key] = (*self.at(self.i), 0, 0)
            self.skip()
            self.i += 1  # the colon
            self.skip()
            self.value(key)
            self.skip()
            if self.text[self.i : self.i + 1] == ",":
                self.i += 1
                self.skip()
        self.i += 1

    def elements(self, path: Path) -> None:
        self.skip()
        index = 0
        while self.i < len(self.text) and self.text[self.i] != "]":
            element = (*path, index)
            self.keys[element] = self.at(self.i)
            self.value(element)
            self.skip()
            if self.text[self.i : self.i + 1] == ",":
                self.i += 1
                self.skip()
            index += 1
        self.i += 1


class _Scanner:
    def __init__(
        self,
        text: str,
        keys: dict[Path, tuple[int, int]],
        values: dict[Path, ValueSpan],
        ends: dict[Path, tuple[int, int, int, int]] | None = None,
    ) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.col = 1
        self.keys = keys
        self.values = values
        #: per key path: the line and end column of its key, then of its value (0 if none)
        self.ends: dict[Path, tuple[int, int, int, int]] = {} if ends is None else ends
        self.arrays: dict[Path, int] = {}
        self.table: Path = ()

    # --- low level -------------------------------------------------------------------
    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.text[j] if j < len(self.text) else ""

    def startswith(self, s: str) -> bool:
        return self.text.startswith(s, self.i)

    def advance(self, n: int = 1) -> None:
        self.move(min(self.i + n, len(self.text)))

    def move(self, end: int) -> None:
        """Move to offset *end*, counting the lines and columns passed."""
        newlines = self.text.count("\n", self.i, end)
        if newlines:
            self.line += newlines
            self.col = end - self.text.rfind("\n", self.i, end)
        else:
            self.col += end - self.i
        self.i = end

    def skip_ws(self) -> None:
        match = _SPACES.match(self.text, self.i)
        if match is not None and match.end() > self.i:
            self.col += match.end() - self.i
            self.i = match.end()

    def skip_ws_comments_newlines(self) -> None:
        while True:
            ch = self.peek()
            if ch in (" ", "\t", "\r", "\n"):
                match = _BLANK.match(self.text, self.i)
                self.move(match.end() if match is not None else self.i + 1)
            elif ch == "#":
                self.skip_comment()
            else:
                return

    def skip_comment(self) -> None:
        end = self.text.find("\n", self.i)
        self.move(len(self.text) if end < 0 else end)

    def skip_line(self) -> None:
        self.skip_comment()
        self.advance()

    # --- keys ------------------------------------------------------------------------
    def key_part(self) -> str:
        ch = self.peek()
        if ch == '"':
            return self.basic_string()[0]
        if ch == "'":
            return self.literal_string()
        start = self.i
        match = _BARE_RUN.match(self.text, start)
        if match is not None:
            self.col += match.end() - start  # bare keys hold no newline
            self.i = match.end()
        return self.text[start : self.i]

    def key(self) -> list[tuple[str, tuple[int, int, int]]]:
        """The parts of a (dotted) key: each with its line, column and end column."""
        parts = []
        while True:
            self.skip_ws()
            line, col = self.line, self.col
            name = self.key_part()
            parts.append((name, (line, col, self.col if self.line == line else col + 1)))
            self.skip_ws()
            if self.peek() == ".":
                self.advance()
                continue
            return parts

    # --- strings ---------------------------------------------------------------------
    def basic_string(self) -> tuple[str, bool]:
        """Read a "..." string; return its value and whether it had escapes."""
        self.advance()
        out: list[str] = []
        escapes = False
        while True:
            ch = self.peek()
            if ch in ("", "\n"):
                return "".join(out), escapes
            if ch == '"':
                self.advance()
                return "".join(out), escapes
            if ch == "\\":
                escapes = True
                out.append(self.escape())
                continue
            match = _PLAIN_BASIC.match(self.text, self.i)
            end = match.end() if match is not None else self.i + 1
            out.append(self.text[self.i : end])
            self.col += end - self.i  # the run holds no newline
            self.i = end

    def escape(self) -> str:
        self.advance()
        ch = self.peek()
        if ch in _ESCAPES:
            self.advance()
            return _ESCAPES[ch]
        if ch in ("u", "U"):
            width = 4 if ch == "u" else 8
            digits = self.text[self.i + 1 : self.i + 1 + width]
            self.advance(1 + width)
            try:
                return chr(int(digits, 16))
            except ValueError:
                return ""
        self.advance()
        return ch

    def literal_string(self) -> str:
        self.advance()
        start = self.i
        match = _PLAIN_LITERAL.match(self.text, start)
        end = match.end() if match is not None else start
        self.col += end - start  # the run holds no newline
        self.i = end
        value = self.text[start:end]
        self.advance()
        return value

    def multiline(self, quote: str) -> bool:
        """Skip a multi-line string; return whether its content maps one to one."""
        self.advance(3)
        exact = True
        while self.i < len(self.text):
            if self.startswith(quote * 3):
                # up to two extra quotes may belong to the content
                while self.peek(3) == quote:
                    self.advance()
                self.advance(3)
                return exact
            if quote == '"' and self.peek() == "\\":
                exact = False
                self.advance(2)
                continue
            self.advance()
        return exact

    # --- values ----------------------------------------------------------------------
    def value(self, path: Path) -> None:
        line, col, start = self.line, self.col, self.i
        self.value_text(path)
        end_line, end_col = self.line, self.col
        if end_line == line:  # a number's run goes up to a comment: not its spaces
            end_col = col + len(self.text[start : self.i].rstrip(" \t\r"))
        key = self.ends.get(path)
        key_line, key_end = (key[0], key[1]) if key is not None else (line, col + 1)
        self.ends[path] = (key_line, key_end, end_line, end_col)

    def value_text(self, path: Path) -> None:
        ch = self.peek()
        if self.text.startswith(('"""', "'''"), self.i):
            quote = ch
            after = self.i + 3
            line, col = self.line, self.col + 3
            if self.text.startswith("\n", after) or self.text.startswith("\r\n", after):
                line, col = line + 1, 1
            exact = self.multiline(quote)
            self.values[path] = ValueSpan(line, col, exact)
        elif ch == '"':
            line, col = self.line, self.col + 1
            _, escapes = self.basic_string()
            self.values[path] = ValueSpan(line, col, not escapes)
        elif ch == "'":
            self.values[path] = ValueSpan(self.line, self.col + 1)
            self.literal_string()
        elif ch == "{":
            self.values[path] = ValueSpan(self.line, self.col)
            self.inline_table(path)
        elif ch == "[":
            self.values[path] = ValueSpan(self.line, self.col)
            self.array(path)
        else:
            self.values[path] = ValueSpan(self.line, self.col)
            match = _PLAIN_VALUE.match(self.text, self.i)
            end = match.end() if match is not None else self.i
            self.col += end - self.i  # the run holds no newline
            self.i = end

    def inline_table(self, path: Path) -> None:
        self.advance()
        while True:
            self.skip_ws_comments_newlines()
            if self.peek() in ("}", ""):
                self.advance()
                return
            parts = self.key()
            full = self.record_key(path, parts)
            self.skip_ws()
            if self.peek() == "=":
                self.advance()
            self.skip_ws()
            self.value(full)
            self.skip_ws_comments_newlines()
            if self.peek() == ",":
                self.advance()

    def array(self, path: Path) -> None:
        self.advance()
        index = 0
        while True:
            self.skip_ws_comments_newlines()
            if self.peek() in ("]", ""):
                self.advance()
                return
            element = (*path, index)
            self.keys.setdefault(element, (self.line, self.col))
            self.ends.setdefault(element, (self.line, self.col + 1, 0, 0))
            self.value(element)
            index += 1
            self.skip_ws_comments_newlines()
            if self.peek() == ",":
                self.advance()

    def record_key(self, base: Path, parts: list[tuple[str, tuple[int, int, int]]]) -> Path:
        path = base
        for name, (line, col, end) in parts:
            path = (*path, name)
            self.keys.setdefault(path, (line, col))
            self.ends.setdefault(path, (line, end, 0, 0))
        return path

    # --- document --------------------------------------------------------------------
    def header(self) -> None:
        array = self.startswith("[[")
        self.advance(2 if array else 1)
        parts = self.key()
        resolved: Path = ()
        for n, (name, (line, col, end)) in enumerate(parts):
            resolved = (*resolved, name)
            last = n == len(parts) - 1
            if last and array:
                self.keys.setdefault(resolved, (line, col))
                self.ends.setdefault(resolved, (line, end, 0, 0))
                count = self.arrays.get(resolved, 0)
                self.arrays[resolved] = count + 1
                resolved = (*resolved, count)
            elif resolved in self.arrays:
                resolved = (*resolved, self.arrays[resolved] - 1)
            self.keys.setdefault(resolved, (line, col))
            self.ends.setdefault(resolved, (line, end, 0, 0))
        self.table = resolved
        self.skip_line()

    def document(self) -> None:
        while self.i < len(self.text):
            self.skip_ws_comments_newlines()
            if self.i >= len(self.text):
                return
            if self.peek() == "[":
                self.header()
                continue
            parts = self.key()
            full = self.record_key(self.table, parts)
            self.skip_ws()
            if self.peek() == "=":
                self.advance()
                self.skip_ws()
                self.value(full)
            self.skip_line()


def repeated_json_key(text: str) -> tuple[Path, tuple[int, int]] | None:
    """The first key a JSON document writes twice in one object, and where the second is.

    ``json`` keeps the last silently (``{"actual": "90%", "actual": "50%"}`` is 50%); TOML
    refuses such a document, and so do the readers of JSON facts.
    """
    scanner = _JsonScanner(text, {}, {}, {})
    scanner.document()
    return scanner.repeated


def locate_json(text: str, file: str | None = None) -> SourceMap:
    r"""Build the source map of a JSON document (one that ``json`` accepted).

    >>> m = locate_json('{"indicators": {\n  "q1": {"actual": "0,9"}}}')
    >>> fact = ("indicators", "q1", "actual")
    >>> m.position(fact), m.value_position(fact)
    ((2, 10), (2, 21))
    """
    return SourceMap(text, file, scan="json")


def locate(text: str, file: str | None = None) -> SourceMap:
    r"""Build the source map of a TOML document (one that ``tomllib`` accepted).

    >>> m = locate('[a]\nid = "x"\n\n[[bands]]\nlabel = "优"\n[[bands]]\nlabel = "良"\n')
    >>> m.position(("bands", 1, "label"))
    (7, 1)
    """
    return SourceMap(text, file, scan=True)
