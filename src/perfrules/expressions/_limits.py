"""The limits every expression is held to (see ``docs/reference/limits.md``).

Together they bound the cost of any expression statically: at most ``MAX_LENGTH``
characters are parsed, at most ``MAX_NODES`` operations run, and no operation ever works on
a number wider than ``MAX_BITS`` bits, so evaluation takes microseconds to a few
milliseconds and a few kilobytes, whatever a rule file says.
"""

from __future__ import annotations

from typing import Final

#: Characters in one expression (a real scoring formula is under 200).
MAX_LENGTH: Final = 4096
#: Bracket nesting, checked by a linear scan before the Python parser runs.
MAX_BRACKETS: Final = 32
#: Depth of the syntax tree (after named formulas are expanded).
MAX_DEPTH: Final = 64
#: Nodes of the syntax tree (after named formulas are expanded).
MAX_NODES: Final = 1000
#: Arguments in one function call.
MAX_ARGS: Final = 64
#: Significant digits in one number literal.
MAX_LITERAL_DIGITS: Final = 30
#: Decimal places in one number literal.
MAX_LITERAL_PLACES: Final = 30
#: Characters in one string literal (interval specs of lookup()).
MAX_STRING: Final = 256
#: Largest absolute exponent of ``**``.
MAX_EXPONENT: Final = 100
#: Bits of the numerator and of the denominator of any intermediate number.
MAX_BITS: Final = 4096
#: Depth of named formulas referring to named formulas.
MAX_FORMULA_DEPTH: Final = 16
#: Bits of numerator plus denominator of any bound input (|x| < 10**30, 30 places).
INPUT_SIZE_BITS: Final = 2 * 100

#: Characters of one unit's JSON trace (64 Mi): a document that size is already past any use a
#: person or a browser can make of it. A scheme whose own steps could pass it is refused when
#: checked (PR235); the facts' texts are counted as the trace is written (PR504).
MAX_TRACE_CHARS: Final = 64 * 2**20

LIMITS: Final[dict[str, int]] = {
    "length": MAX_LENGTH,
    "brackets": MAX_BRACKETS,
    "depth": MAX_DEPTH,
    "nodes": MAX_NODES,
    "arguments": MAX_ARGS,
    "literal_digits": MAX_LITERAL_DIGITS,
    "literal_places": MAX_LITERAL_PLACES,
    "string": MAX_STRING,
    "exponent": MAX_EXPONENT,
    "bits": MAX_BITS,
    "formula_depth": MAX_FORMULA_DEPTH,
}
