"""The front half of the pipeline: read, validate and check a rule file.

:func:`check_path` (read + validate + check, returning every diagnostic) and
:func:`load_scheme` (the same, raising :class:`~perfrules.errors.RuleFileError` when
anything is wrong). A scheme that passed keeps its check result, so compiling it does not
check it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perfrules.errors import Diagnostic, RuleFileError
from perfrules.model import Scheme
from perfrules.rules._checks import CheckResult, place_all, run_checks
from perfrules.rules._loader import Sections, Source, read_scheme

__all__ = ["CheckedScheme", "check_path", "check_scheme", "checked", "load_scheme", "loads_scheme"]


@dataclass(frozen=True, slots=True)
class CheckedScheme:
    """A scheme that passed every check, with what compiling it needs.

    Attributes:
        scheme: the scheme.
        source: the rule files it was read from (``None`` for a scheme built in code).
        result: what the checks compiled: formulas, conditions.
    """

    scheme: Scheme
    source: Source | None
    result: CheckResult


def checked(scheme: Scheme | CheckedScheme) -> CheckedScheme:
    """*scheme* checked: as :func:`load_scheme` kept it, or checked now (built in code).

    Raises:
        RuleFileError: the scheme has errors (with positions when it was read from files).
    """
    if isinstance(scheme, CheckedScheme):
        return scheme
    kept = scheme._checked  # noqa: SLF001 - this module keeps it (load_scheme)
    if isinstance(kept, CheckedScheme):
        return kept
    source = scheme._source  # noqa: SLF001 - the loader of this package set it
    result, diagnostics = check_scheme(Sections(scheme), source)
    if not result.ok:
        raise RuleFileError(diagnostics)
    return CheckedScheme(scheme, source, result)


def check_scheme(
    sections: Sections, source: Source | None = None
) -> tuple[CheckResult, list[Diagnostic]]:
    """Run every check; return the result and its diagnostics placed in their files."""
    result = run_checks(sections)
    return result, place_all(result, source)


def check_path(
    path: str | Path,
    text: str | bytes | None = None,
    *,
    root: str | Path | None = None,
    files: bool = True,
) -> tuple[Scheme | None, CheckResult | None, list[Diagnostic]]:
    """Read, validate and check a rule file; return every diagnostic, sorted.

    ``extends`` may read files inside *root* only, when one is given. With *text*, the rule
    file is that text (or its UTF-8 bytes) and *path* its name (see :func:`loads_scheme`).
    """
    sections, source, diagnostics = read_scheme(path, text, root=root, files=files)
    if sections is None:
        return None, None, sorted(diagnostics, key=Diagnostic.sort_key)
    result, placed = check_scheme(sections, source)
    everything = sorted([*diagnostics, *placed], key=Diagnostic.sort_key)
    return sections.scheme, result, everything


def load_scheme(path: str | Path, *, root: str | Path | None = None) -> Scheme:
    """Read a rule file and check it completely.

    Args:
        path: the rule file.
        root: when given, ``extends`` may read files inside this folder only (rule packs
            are always allowed); devices, pipes and folders are never read.

    Raises:
        RuleFileError: carrying every diagnostic of severity error (and the warnings),
            sorted by position.
    """
    scheme, result, diagnostics = check_path(path, root=root)
    if scheme is None or result is None or any(d.severity == "error" for d in diagnostics):
        raise RuleFileError(diagnostics)
    return _keep(scheme, result)


def loads_scheme(
    text: str | bytes, *, name: str = "scheme.toml", root: str | Path | None = None
) -> Scheme:
    """Check a rule file given as text (an upload, a request body) without writing it to disk.

    Args:
        text: the TOML text, or its bytes (UTF-8, a byte-order mark allowed; ``PR108`` at
            a byte that is not). Either has the budget of a rule file (1 MiB, ``PR106``).
        name: how diagnostics and the trace's provenance name it.
        root: a folder that ``extends = "..."`` may read files from; without one, a text may
            extend installed rule packs only.

    Raises:
        RuleFileError: every problem, located at ``name:line:column``.
    """
    path = Path(root) / name if root is not None else Path(name)
    scheme, result, diagnostics = check_path(path, text, root=root, files=root is not None)
    if scheme is None or result is None or any(d.severity == "error" for d in diagnostics):
        raise RuleFileError(diagnostics)
    return _keep(scheme, result)


def _keep(scheme: Scheme, result: CheckResult) -> Scheme:
    """The scheme, keeping its check so that compiling it does not check it again."""
    source = scheme._source  # noqa: SLF001 - the loader of this package set it
    scheme._checked = CheckedScheme(scheme, source, result)  # noqa: SLF001 - read by checked()
    return scheme
