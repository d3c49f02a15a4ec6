"""The front half of the pipeline: read, validate and check a rule file.

:func:`check_path` (read + validate + check, returning every diagnostic) and
:func:`load_scheme` (the same, raising :class:`~perfrules.errors.RuleFileError` when
anything is wrong). A scheme that passed keeps its check result, so compiling it does not
check it again.
"""

from __future__ import annotations

from pathlib import Path

from perfrules.errors import Diagnostic, RuleFileError
from perfrules.model import Scheme
from perfrules.rules._checks import CheckResult, place_all, run_checks
from perfrules.rules._loader import Sections, Source, read_scheme

__all__ = ["check_path", "check_scheme", "load_scheme"]


def check_scheme(
    sections: Sections, source: Source | None = None
) -> tuple[CheckResult, list[Diagnostic]]:
    """Run every check; return the result and its diagnostics placed in their files."""
    result = run_checks(sections)
    return result, place_all(result, source)


def check_path(path: str | Path) -> tuple[Scheme | None, CheckResult | None, list[Diagnostic]]:
    """Read, validate and check a rule file; return every diagnostic, sorted."""
    sections, source, diagnostics = read_scheme(path)
    if sections is None:
        return None, None, sorted(diagnostics, key=Diagnostic.sort_key)
    result, placed = check_scheme(sections, source)
    everything = sorted([*diagnostics, *placed], key=Diagnostic.sort_key)
    return sections.scheme, result, everything


def load_scheme(path: str | Path) -> Scheme:
    """Read a rule file and check it completely.

    Raises:
        RuleFileError: carrying every diagnostic of severity error (and the warnings),
            sorted by position.
    """
    scheme, result, diagnostics = check_path(path)
    if scheme is None or result is None or any(d.severity == "error" for d in diagnostics):
        raise RuleFileError(diagnostics)
    scheme._checked = result  # noqa: SLF001 - the scheme keeps what its checks compiled
    return scheme
