"""Rule files: the model's TOML read with every key located, resolved, and checked.

``_loader`` reads TOML (with ``extends``) into the model; ``_locate`` maps key paths to
lines and columns; ``_checks`` runs every check and collects every diagnostic; ``_front``
is the entry: :func:`check_path` and :func:`load_scheme`.
"""

from __future__ import annotations

from perfrules.rules._front import (
    CheckedScheme,
    check_path,
    check_scheme,
    checked,
    load_scheme,
    loads_scheme,
)

__all__ = [
    "CheckedScheme",
    "check_path",
    "check_scheme",
    "checked",
    "load_scheme",
    "loads_scheme",
]
