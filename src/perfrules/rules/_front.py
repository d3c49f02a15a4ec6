"""The front half of the pipeline: read, validate and check a rule file.

:func:`check_path` (read + validate + check, returning every diagnostic) and
:func:`load_scheme` (the same, raising :class:`~perfrules.errors.RuleFileError` when
anything is wrong). A scheme that passed keeps its check result, so compiling it does not
check it again.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from perfrules._reading import require_text
from perfrules.errors import Diagnostic, RuleFileError
from perfrules.model import Scheme
from perfrules.rules._checks import CheckResult, place_all, run_checks
from perfrules.rules._installed import installed_pack, is_pack_id, pack_scheme
from perfrules.rules._loader import Sections, Source, read_scheme

__all__ = [
    "CheckedScheme",
    "RuleFile",
    "check_path",
    "check_rule_file",
    "check_scheme",
    "checked",
    "find_rule_file",
    "find_rule_files",
    "load_pack",
    "load_scheme",
    "loads_scheme",
]


@dataclass(frozen=True)
class RuleFile:
    """What a rule-file argument names: a path, or the scheme of an installed rule pack.

    Attributes:
        path: the file to read.
        name: how diagnostics and the trace's provenance name it (an installed pack's
            scheme is named by its id: ``examples/xinzhou-zfw-2021/scheme.toml``).
        pack_id: the installed pack read, when the argument was its id and no such path
            exists.
        pack_folder: that pack's folder (which its ``extends`` may read).
        shadowed: the installed pack id the argument also names, when a path of that name
            exists and was read instead (a path wins).
    """

    path: Path
    name: str
    pack_id: str | None = None
    shadowed: str | None = None
    pack_folder: Path | None = None


def _exists(path: Path) -> bool:
    """Whether *path* exists.

    ``False`` for a name the system refuses (too long): reading it then reports why
    (``PR105``) instead of a crash.
    """
    try:
        return path.exists()
    except OSError:
        return False


def find_rule_file(spec: str | Path) -> RuleFile:
    """The rule file *spec* names: a path (a file, or a pack folder), else an installed pack id.

    A path wins when both exist; :attr:`RuleFile.shadowed` then names the pack it hides.
    A folder holding ``pack.toml`` or ``scheme.toml`` stands for its scheme.
    """
    text = str(spec)
    path = Path(spec)
    if _exists(path) and not path.is_dir():
        # A file is never a pack's id (a pack is a folder): no search of the installed ones.
        return RuleFile(path, str(path))
    pack_id = text.rstrip("/")
    named_pack = installed_pack(pack_id) if is_pack_id(pack_id) else None
    if _exists(path):
        scheme = pack_scheme(path) if path.is_dir() else None
        target = scheme or path
        shadowed = pack_id if named_pack is not None else None
        return RuleFile(target, str(target), shadowed=shadowed)
    if named_pack is not None:
        scheme = pack_scheme(named_pack)
        if scheme is not None:
            name = f"{pack_id}/{scheme.relative_to(named_pack).as_posix()}"
            return RuleFile(scheme, name, pack_id=pack_id, pack_folder=named_pack)
    return RuleFile(path, text)


#: What marks a TOML file as a rule file: a ``[scheme]`` table or an ``extends`` key.
_RULE_FILE_MARK: Final = re.compile(rb"^[ \t]*(?:\[scheme\]|extends[ \t]*=)", re.MULTILINE)
#: How much of a file is read to tell whether it is a rule file.
_SNIFF_BYTES: Final = 64 * 1024


def _is_rule_file(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return bool(_RULE_FILE_MARK.search(stream.read(_SNIFF_BYTES)))
    except OSError:
        return False


def find_rule_files(spec: str) -> list[str] | None:
    """The rule files a folder or a glob names, sorted; ``None`` when *spec* is neither.

    A folder holding ``pack.toml`` or ``scheme.toml`` is one pack (:func:`find_rule_file`
    takes it); any other folder stands for the rule files below it, and a glob
    (``rules/**/*.toml``, quoted so the shell leaves it) for those it matches: TOML files
    with a ``[scheme]`` table or an ``extends`` key. Facts, case, report and pack files are
    left out; hidden folders (``.git``, ``.venv``) are not searched.
    """
    path = Path(spec)
    if path.is_dir():
        if (path / "pack.toml").is_file() or (path / "scheme.toml").is_file():
            return None
        found = []
        for folder, children, names in os.walk(path):
            children[:] = sorted(c for c in children if not c.startswith("."))
            found += [
                os.path.join(folder, name)  # noqa: PTH118 - os.walk gives strings
                for name in sorted(names)
                if name.endswith(".toml") and _is_rule_file(Path(folder, name))
            ]
        return found
    if path.exists() or not glob.has_magic(spec):
        return None
    return sorted(
        match
        for match in glob.glob(spec, recursive=True)  # noqa: PTH207 - a user's pattern
        if Path(match).is_file() and _is_rule_file(Path(match))
    )


@dataclass(frozen=True, slots=True)
class CheckedScheme:
    """A scheme that passed every check, with what compiling it needs.

    Attributes:
        scheme: the scheme the engine scores: as written, except that each normalised
            group is written out (``GROUP__normalised`` and its cohort values).
        source: the rule files it was read from (``None`` for a scheme built in code).
        result: what the checks compiled: formulas, conditions.
        written: the scheme as written, when it differs from :attr:`scheme`.
    """

    scheme: Scheme
    source: Source | None
    result: CheckResult
    written: Scheme | None = None

    @classmethod
    def of(cls, scheme: Scheme, source: Source | None, result: CheckResult) -> CheckedScheme:
        """*scheme* as written and its check *result*: the scheme the engine scores."""
        if result.expanded is None:
            return cls(scheme, source, result)
        return cls(result.expanded, source, result, written=scheme)


def checked(scheme: Scheme | CheckedScheme) -> CheckedScheme:
    """*scheme* checked: as :func:`load_scheme` kept it, or checked now (built in code).

    Raises:
        RuleFileError: the scheme has errors (with positions when it was read from files).
        TypeError: *scheme* is not a scheme (a path, a pack id, ``None``).
    """
    if isinstance(scheme, CheckedScheme):
        return scheme
    if not isinstance(scheme, Scheme):  # a path or a pack id, None: say what to pass instead
        how = (
            ": read it with perfrules.load_scheme" if isinstance(scheme, str | os.PathLike) else ""
        )
        raise TypeError(
            "expected a Scheme (from perfrules.load_scheme, loads_scheme or load_pack), "
            f"not {type(scheme).__name__}{how}"
        )
    kept = scheme._checked  # noqa: SLF001 - this module keeps it (load_scheme)
    if isinstance(kept, CheckedScheme) and (kept.written or kept.scheme) is scheme:
        return kept  # not a changed copy
    source = scheme._source  # noqa: SLF001 - the loader of this package set it
    result, diagnostics = check_scheme(Sections(scheme), source)
    if not result.ok:
        raise RuleFileError(diagnostics)
    return CheckedScheme.of(scheme, source, result)


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

    What ``perfrules check`` does: unlike :func:`load_scheme` it raises nothing for the
    rule file's problems, so an editor or a web page can show them all, warnings included.

    Args:
        path: a rule file, a pack folder or the id of an installed rule pack
            (:func:`find_rule_file`; a path wins).
        text: the rule file's text (or its UTF-8 bytes); *path* is then only its name
            (see :func:`loads_scheme`).
        root: when given, ``extends`` may read files inside this folder only (an
            installed pack reads its own folder).
        files: ``False`` refuses every ``extends`` of a file (installed packs only).

    Returns:
        The triple ``(scheme, check, diagnostics)`` of the scheme and its check result
        (both ``None`` when it could not be read whole) and every diagnostic, errors and
        warnings, sorted by position. The scheme is usable when no diagnostic has severity
        ``"error"``.

    Examples:
        >>> scheme, _, diagnostics = perfrules.check_path("examples/xinzhou-zfw-2021")
        >>> scheme.scheme.id, [d.code for d in diagnostics if d.severity == "error"]
        ('xinzhou-zfw-2021', [])
    """
    if text is None:
        return check_rule_file(find_rule_file(path), root=root, files=files)
    sections, source, diagnostics = read_scheme(path, text, root=root, files=files)
    return _checked(sections, source, diagnostics)


def check_rule_file(
    found: RuleFile, *, root: str | Path | None = None, files: bool = True
) -> tuple[Scheme | None, CheckResult | None, list[Diagnostic]]:
    """:func:`check_path` of a found rule file (an installed pack reads its own folder)."""
    if found.pack_folder is not None:
        root = found.pack_folder
    sections, source, diagnostics = read_scheme(
        found.path, root=root, files=files, name=found.name
    )
    if found.pack_id is None and is_pack_id(found.name) and not _exists(found.path):
        # Neither a file nor an installed pack: say that packs were looked for too.
        diagnostics = [
            replace(d, hint="no_such_pack") if d.code == "PR105" and d.file == found.name else d
            for d in diagnostics
        ]
    return _checked(sections, source, diagnostics)


def _checked(
    sections: Sections | None, source: Source, diagnostics: list[Diagnostic]
) -> tuple[Scheme | None, CheckResult | None, list[Diagnostic]]:
    if sections is None:
        return None, None, sorted(diagnostics, key=Diagnostic.sort_key)
    result, placed = check_scheme(sections, source)
    everything = sorted([*diagnostics, *placed], key=Diagnostic.sort_key)
    return sections.scheme, result, everything


def load_scheme(path: str | Path, *, root: str | Path | None = None) -> Scheme:
    """Read a rule file and check it completely.

    Args:
        path: the rule file, a pack folder, or the id of an installed rule pack
            (``examples/xinzhou-zfw-2021``); a path wins when both exist.
        root: when given, ``extends`` may read files inside this folder only (rule packs
            are always allowed); devices, pipes and folders are never read.

    Returns:
        The checked scheme (a pydantic model, with ``extends`` applied); pass it to
        :func:`compile_scheme` to score with it.

    Raises:
        RuleFileError: carrying every diagnostic of severity error (and the warnings),
            sorted by position.

    Examples:
        >>> scheme = perfrules.load_scheme("rules/examples/xinzhou-zfw-2021/scheme.toml")
        >>> scheme.scheme.title
        '中共忻州市委政法委员会2021年度整体支出预算绩效自评'
        >>> len(scheme.indicators)
        17
    """
    scheme, result, diagnostics = check_path(path, root=root)
    if scheme is None or result is None or any(d.severity == "error" for d in diagnostics):
        raise RuleFileError(diagnostics)
    return _keep(scheme, result)


def loads_scheme(
    text: str | bytes, *, name: str = "scheme.toml", root: str | Path | None = None
) -> Scheme:
    r"""Check a rule file given as text (an upload, a request body) without writing it to disk.

    Args:
        text: the TOML text, or its bytes (UTF-8, a byte-order mark allowed; ``PR108`` at
            a byte that is not). Either has the budget of a rule file (1 MiB, ``PR106``).
        name: how diagnostics and the trace's provenance name it.
        root: a folder that ``extends = "..."`` may read files from; without one, a text may
            extend installed rule packs only.

    Returns:
        The checked scheme, as :func:`load_scheme` returns it.

    Raises:
        RuleFileError: every problem, located at ``name:line:column``.
        TypeError: *text* is neither text nor bytes (``None``: an upload that never arrived).

    Examples:
        >>> upload = (
        ...     'extends = "examples/xinzhou-zfw-2021"\n'
        ...     '[scheme]\nid = "mine"\ntitle = "Mine"\n'
        ... )
        >>> perfrules.loads_scheme(upload, name="mine.toml").scheme.id
        'mine'
        >>> try:
        ...     perfrules.loads_scheme('[scheme]\nid = 1\n', name="bad.toml")
        ... except perfrules.RuleFileError as error:
        ...     print(error.diagnostics[-1].format("en"))
        bad.toml:2:1: error[PR102]: scheme.id: expected text in quotes, got 1
    """
    require_text(text)  # None is no upload, never "read the file of this name"
    path = Path(root) / name if root is not None else Path(name)
    scheme, result, diagnostics = check_path(path, text, root=root, files=root is not None)
    if scheme is None or result is None or any(d.severity == "error" for d in diagnostics):
        raise RuleFileError(diagnostics)
    return _keep(scheme, result)


def _keep(scheme: Scheme, result: CheckResult) -> Scheme:
    """The scheme, keeping its check so that compiling it does not check it again."""
    source = scheme._source  # noqa: SLF001 - the loader of this package set it
    scheme._checked = CheckedScheme.of(scheme, source, result)  # noqa: SLF001 - read by checked()
    return scheme


def load_pack(pack_id: str) -> Scheme:
    """The scheme of the installed rule pack *pack_id*, checked completely.

    Args:
        pack_id: the pack's id, as ``perfrules packs`` lists it (``examples/xinzhou-zfw-2021``).
            Only installed packs are read, whatever files the current folder holds.

    Returns:
        The pack's checked scheme, as :func:`load_scheme` returns it.

    Raises:
        RuleFileError: the pack is not installed (``PR105``), or its scheme has errors.

    Examples:
        >>> scheme = perfrules.load_pack("examples/xinzhou-zfw-2021")
        >>> scheme.scheme.year, scheme.scheme.max
        (2021, Decimal('100'))
    """
    folder = installed_pack(pack_id) if is_pack_id(pack_id) else None
    scheme = pack_scheme(folder) if folder is not None else None
    if folder is None or scheme is None:
        reason = "no installed rule pack has this id (perfrules packs lists them)"
        raise RuleFileError(
            [Diagnostic("PR105", params={"file": pack_id, "reason": reason}, file=pack_id)]
        )
    name = f"{pack_id}/{scheme.relative_to(folder).as_posix()}"
    found = RuleFile(scheme, name, pack_id=pack_id, pack_folder=folder)
    loaded, result, diagnostics = check_rule_file(found, root=folder, files=True)
    if loaded is None or result is None or any(d.severity == "error" for d in diagnostics):
        raise RuleFileError(diagnostics)
    return _keep(loaded, result)
