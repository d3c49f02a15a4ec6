"""Rule files: the model's TOML read with every key located, resolved, and checked.

``_loader`` reads TOML (with ``extends``) into the model; ``_locate`` maps key paths to
lines and columns; ``_checks`` runs every check and collects every diagnostic; ``_front``
is the entry: :func:`check_path` and :func:`load_scheme`.
"""

from __future__ import annotations

from perfrules.rules._checks import CheckResult, numbers_in
from perfrules.rules._front import (
    CheckedScheme,
    RuleFile,
    check_path,
    check_rule_file,
    check_scheme,
    checked,
    find_rule_file,
    find_rule_files,
    load_pack,
    load_scheme,
    loads_scheme,
)
from perfrules.rules._installed import (
    ENTRY_POINTS,
    installed_pack,
    installed_packs,
    is_pack_id,
    pack_id_of,
    pack_scheme,
)
from perfrules.rules._loader import Source, read_document, validation_diagnostics
from perfrules.rules._locate import SourceMap
from perfrules.rules._normalise import (
    normalised_group,
    normalised_row,
    normalised_values,
    spread_problem,
)
from perfrules.rules._stages import TOTAL, Stages

__all__ = [
    "ENTRY_POINTS",
    "TOTAL",
    "CheckResult",
    "CheckedScheme",
    "RuleFile",
    "Source",
    "SourceMap",
    "Stages",
    "check_path",
    "check_rule_file",
    "check_scheme",
    "checked",
    "find_rule_file",
    "find_rule_files",
    "installed_pack",
    "installed_packs",
    "is_pack_id",
    "load_pack",
    "load_scheme",
    "loads_scheme",
    "normalised_group",
    "normalised_row",
    "normalised_values",
    "numbers_in",
    "pack_id_of",
    "pack_scheme",
    "read_document",
    "spread_problem",
    "validation_diagnostics",
]
