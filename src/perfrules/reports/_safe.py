"""Text that came from rule files or facts, made inert for each place it is written.

Unit names, indicator names, targets and actual values are written by other people. In a
spreadsheet a cell that starts with ``=`` is a formula (the seed's own target text
``=88项任务完成率达70%。`` is one); in Markdown ``<script>`` runs and ``|`` ends a cell; in a
terminal ``[link=…]`` is rich markup and ``ESC [2J`` clears the screen. Every writer passes
data through the function for its medium here, and nowhere else decides.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from rich.text import Text

__all__ = [
    "FORMULA_STARTS",
    "MESSAGE_CHARS",
    "SIGNED_NUMBER",
    "click_text",
    "csv_text",
    "markdown_text",
    "printable",
    "sheet_value",
    "terminal_text",
    "text_cells",
]

# OWASP CSV injection: a cell starting with one of these is a formula in Excel, LibreOffice
# or Google Sheets (fullwidth forms included: Excel folds them).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
#: A cell that is only a signed number (``-5``, ``+2.50``) is read as that number, never
#: as a formula: it is written as it is (a negative value stays a number in the sheet).
SIGNED_NUMBER: Final = r"^[+-][0-9]+(?:\.[0-9]+)?$"
_SIGNED_NUMBER: Final = re.compile(SIGNED_NUMBER)
# Enough to keep data inside its cell: no link or image (``[…](…)``), no code span, no
# table cell break; HTML is escaped separately and line breaks are joined.
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`\[\]|])")
_LINE_BREAKS: Final = re.compile(r"[\r\n\u2028\u2029\x85]+")


def csv_text(value: str) -> str:
    """*value* for a CSV cell: a leading formula character is quoted with ``'`` (OWASP).

    A signed number (:data:`SIGNED_NUMBER`) is not a formula and is left as it is.
    """
    if value.startswith(FORMULA_STARTS) and _SIGNED_NUMBER.match(value) is None:
        return "'" + value
    return value


# Characters an XLSX cell cannot hold (the XML 1.0 control characters): openpyxl refuses them.
_SHEET_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def sheet_value(value: Any) -> Any:
    """*value* for a spreadsheet cell: a control character XLSX cannot hold shows as U+FFFD.

    Numbers and ``None`` pass unchanged; the text is never dropped, only made storable.
    """
    if isinstance(value, str):
        return _SHEET_ILLEGAL.sub("\ufffd", value)
    return value


def text_cells(row: Any) -> None:
    """Mark every text cell of an openpyxl *row* as text, never a formula.

    openpyxl stores a string that starts with ``=`` as a formula; the cell type is set back
    to string so the value is shown exactly as written.
    """
    for cell in row:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def markdown_text(value: str) -> str:
    """*value* for Markdown: HTML escaped, Markdown syntax escaped, on one line."""
    one_line = _LINE_BREAKS.sub(" ", printable(value))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def terminal_text(value: str, style: str = "", limit: int | None = None) -> Text:
    """*value* for the terminal: never read as markup, control characters shown, not sent.

    With *limit*, cut to that many characters first: rich lays a long line out in time
    that grows faster than its length, so data (a unit name, a cell) is cut before layout.
    """
    from rich.text import Text  # noqa: PLC0415 - a batch's cells never reach the console

    if limit is not None and len(value) > limit:
        value = value[:limit] + "…"
    return Text(printable(value), style=style)


def printable(value: str) -> str:
    """Control characters (escape codes, bidi overrides) replaced by their visible names."""
    if value.isprintable():
        return value
    out = []
    for ch in value:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in "\n\t":
            out.append(" ")
        else:
            out.append(f"<{unicodedata.name(ch, f'U+{ord(ch):04X}')}>")
    return "".join(out)


#: Characters of data quoted in one message line (a 4 MB name is shown by its start).
MESSAGE_CHARS: Final = 200


def click_text(value: str, limit: int = MESSAGE_CHARS) -> str:
    """*value* for a click message (a usage error on stderr), cut to *limit* characters.

    Control characters are shown by name, never sent: no ESC, OSC-8 link or clear-screen
    code reaches the terminal.
    """
    shown = printable(value[: limit + 1])
    return shown if len(value) <= limit else shown[:limit] + "…"
