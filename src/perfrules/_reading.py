"""The one door bytes come in by: a file, a folder member, a stream or text, within a budget.

Rule files, facts files, pack files, case files, batch files and standard input are all read
here, so the same rules hold for every one of them:

- **A budget before allocating.** At most ``limit`` bytes (``MAX_FILE_BYTES`` unless a caller
  says otherwise) are ever held: a file whose size says more is refused before it is read,
  and every read stops at ``limit + 1`` bytes whatever the size said (``/proc`` files say 0,
  a stream says nothing). Over the budget is ``PR106``.
- **Regular files only.** A FIFO, a device, a socket or a folder is never read: it is opened
  without blocking (a FIFO with no writer would wait for ever) only after ``stat`` said it is
  a regular file, and checked again on the open descriptor (it may have been swapped). ``PR105``.
- **Confined.** With a *root*, the path is judged where it really leads (links and ``..``
  followed): a link leaving the root is refused before anything is opened, with the same
  words whether its target exists or not. ``PR105``.
- **Never an exception.** Names the system refuses (a NUL, a name or path too long), loops of
  links, permissions: each is a ``PR105`` diagnostic naming the file, never ``OSError`` or
  ``ValueError``.
- **Text.** Bytes are UTF-8 (a byte-order mark is allowed); a bad byte is ``PR108`` at its line
  and column. Text given as ``str`` has the same budget, counted in UTF-8 bytes, and a lone
  surrogate in it (``"\ud800"``, which no UTF-8 can hold) is ``PR108`` at its place too: no
  output could be written with it. A JSON document's ``\ud800`` escapes are found by
  :func:`lone_surrogate` once it is parsed.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final

from perfrules.errors import Diagnostic

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_FOLDER_ENTRIES",
    "OUTSIDE",
    "confined",
    "decode_utf8",
    "encoding_error",
    "folder_members",
    "is_folder",
    "lone_surrogate",
    "printable_name",
    "read_file",
    "read_stream",
    "read_text",
    "real_path",
    "regular_file",
    "within_budget",
]

#: Rule, facts, pack and case files, standard input and text given to ``loads_*``: the
#: budget in bytes.
MAX_FILE_BYTES: Final = 1024 * 1024

#: Entries (files of every kind) a folder of units may hold: each member is read and scored
#: as a unit, and the names are sorted before the first is read.
MAX_FOLDER_ENTRIES: Final = 2_000

#: The reason given for a path that leads outside its root (the same whether it exists).
OUTSIDE: Final = "outside the folder it must be in"

#: A lone surrogate: half of a UTF-16 pair, not a character (UTF-8 cannot encode it).
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

#: Bytes asked of the system per read: the budget is checked between reads.
_CHUNK: Final = 64 * 1024

# Open for reading, never waiting for a FIFO's writer, never becoming a controlling terminal.
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _refused(name: str, reason: str) -> Diagnostic:
    return Diagnostic("PR105", params={"file": name, "reason": reason}, file=name)


def _too_large(name: str, size: int | str, limit: int) -> Diagnostic:
    return Diagnostic("PR106", params={"file": name, "size": size, "limit": limit}, file=name)


def _reason(exc: BaseException) -> str:
    """What the system said, without the path it said it about (it may be an install path)."""
    if isinstance(exc, ValueError):
        return "not a usable file name"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _inside(real: str, root: Path) -> bool:
    base = os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def read_file(
    path: Path,
    diagnostics: list[Diagnostic],
    *,
    root: Path | None = None,
    limit: int = MAX_FILE_BYTES,
    name: str | None = None,
) -> bytes | None:
    """The bytes of the regular file *path*, or ``None`` with a diagnostic added.

    Args:
        path: the file.
        diagnostics: where a refusal is added (``PR105``, ``PR106``).
        root: when given, *path* must lead (after links and ``..``) to a file inside it.
        limit: the budget in bytes.
        name: how diagnostics name the file (default: *path*).
    """
    shown = str(path) if name is None else name
    try:
        target = os.fspath(path)
        if root is not None:
            # Judged where it really leads, and that path is the one opened.
            target = os.path.realpath(target)
            if not _inside(target, root):
                diagnostics.append(_refused(shown, OUTSIDE))
                return None
        status = Path(target).stat()
        if not stat.S_ISREG(status.st_mode):
            diagnostics.append(_refused(shown, "not a file"))
            return None
        if status.st_size > limit:
            diagnostics.append(_too_large(shown, status.st_size, limit))
            return None
        descriptor = os.open(target, _OPEN_FLAGS)
        try:
            opened = os.fstat(descriptor)
            same = (opened.st_dev, opened.st_ino) == (status.st_dev, status.st_ino)
            if not (same and stat.S_ISREG(opened.st_mode)):  # an inode number is reused
                diagnostics.append(_refused(shown, "changed while it was opened"))
                return None
            data = _read_at_most(lambda size: os.read(descriptor, size), limit)
        finally:
            os.close(descriptor)
    except (OSError, ValueError) as exc:
        diagnostics.append(_refused(shown, _reason(exc)))
        return None
    if len(data) > limit:
        diagnostics.append(_too_large(shown, max(status.st_size, len(data)), limit))
        return None
    return data


def read_stream(
    stream: BinaryIO, name: str, diagnostics: list[Diagnostic], *, limit: int = MAX_FILE_BYTES
) -> bytes | None:
    """At most *limit* bytes of *stream* (standard input), or ``None`` with a diagnostic.

    Reading stops one byte past the budget, so an endless stream (``< /dev/zero``) costs
    *limit* bytes of memory, not all of it.
    """
    try:
        data = _read_at_most(stream.read, limit)
    except (OSError, ValueError) as exc:
        diagnostics.append(_refused(name, _reason(exc)))
        return None
    if len(data) > limit:
        diagnostics.append(_too_large(name, f"more than {limit}", limit))
        return None
    return data


def _read_at_most(read: Callable[[int], bytes], limit: int) -> bytes:
    """Chunks from *read* until the end or until more than *limit* bytes are held."""
    chunks: list[bytes] = []
    held = 0
    while held <= limit:
        chunk = read(min(_CHUNK, limit + 1 - held))
        if not chunk:
            break
        chunks.append(chunk)
        held += len(chunk)
    return b"".join(chunks)


def read_text(
    text: str | bytes,
    name: str,
    diagnostics: list[Diagnostic],
    *,
    limit: int = MAX_FILE_BYTES,
) -> str | None:
    """Text given directly (an upload, a request body) within the budget; bytes decoded.

    Bytes are UTF-8 with or without a byte-order mark (``PR108`` at the first bad byte).
    """
    if not within_budget(text, name, diagnostics, limit=limit):
        return None
    if isinstance(text, str):
        found = _SURROGATE.search(text)
        if found is None:
            return text
        before = text[: found.start()]
        line = before.count("\n") + 1
        diagnostics.append(
            Diagnostic(
                "PR108",
                params={
                    "file": name,
                    "position": found.start(),
                    "byte": f"U+{ord(found.group()):04X}",
                },
                file=name,
                line=line,
                column=found.start() - (before.rfind("\n") + 1) + 1,
            )
        )
        return None
    return decode_utf8(bytes(text), name, diagnostics)


def lone_surrogate(document: object) -> tuple[str | int, ...] | None:
    """The path of the first key or text of a parsed document holding a lone surrogate.

    JSON may write half of a UTF-16 pair (``"\ud800"``): Python reads it into a ``str``
    that no UTF-8 output can hold, so a trace, a page or a message with it could not be
    written. ``None`` when every key and text is whole. The document's nesting is bounded
    before this is asked (it walks without recursion all the same).
    """
    pending: list[tuple[tuple[str | int, ...], object]] = [((), document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            items = list(value.items())
            for key, _ in items:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return (*path, key)
            pending.extend(((*path, key), item) for key, item in reversed(items))
        elif isinstance(value, list):
            pending.extend(((*path, i), item) for i, item in reversed(list(enumerate(value))))
    return None


def require_text(given: object) -> None:
    """Refuse anything but text or bytes where text is given (a body that never arrived).

    Raises:
        TypeError: *given* is ``None`` or another object; the readers of text never take
            it for "read the file of this name" instead.
    """
    if not isinstance(given, str | bytes | bytearray | memoryview):
        raise TypeError(f"expected text or bytes, not {type(given).__name__}")


def within_budget(
    given: str | bytes, name: str, diagnostics: list[Diagnostic], *, limit: int = MAX_FILE_BYTES
) -> bool:
    """Whether text or bytes given directly fit the budget (else ``PR106`` is added).

    Text is measured in UTF-8 bytes, as the same text saved to a file would be.
    """
    require_text(given)
    if isinstance(given, str):
        if len(given) > limit:  # at least a byte a character: no need to encode it all
            diagnostics.append(_too_large(name, f"at least {len(given)}", limit))
            return False
        size = len(given.encode("utf-8", "surrogatepass"))
    else:
        size = len(given)
    if size > limit:
        diagnostics.append(_too_large(name, size, limit))
        return False
    return True


def decode_utf8(data: bytes, name: str, diagnostics: list[Diagnostic]) -> str | None:
    """Decode UTF-8 (with or without a byte-order mark); ``PR108`` at the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        diagnostics.append(encoding_error(data, name, exc))
        return None


def encoding_error(data: bytes, name: str, exc: UnicodeDecodeError) -> Diagnostic:
    """``PR108`` at the line and column of the first byte that is not the encoding's."""
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    column = len(before) - (before.rfind(b"\n") + 1) + 1
    return Diagnostic(
        "PR108",
        params={"file": name, "position": exc.start, "byte": f"0x{data[exc.start]:02X}"},
        file=name,
        line=line,
        column=column,
    )


def real_path(path: Path) -> Path:
    """Where *path* really leads (links and ``..`` followed as far as they go), never raising."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return Path(path).absolute()


def regular_file(path: Path) -> bool:
    """Whether *path* is a regular file (after links); ``False`` for names the system refuses."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def is_folder(path: Path) -> bool:
    """Whether *path* is a folder (after links); ``False`` for names the system refuses."""
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def confined(path: Path, root: Path) -> bool:
    """Whether *path* leads (after links and ``..``) to somewhere inside *root*."""
    try:
        return _inside(os.path.realpath(path), root)
    except (OSError, ValueError):
        return False


def folder_members(folder: Path, diagnostics: list[Diagnostic]) -> list[Path] | None:
    """The entries of *folder*, sorted by name, or ``None`` with a diagnostic added.

    At most ``MAX_FOLDER_ENTRIES`` are listed: past that the folder is refused (``PR105``)
    as soon as the one entry too many is seen, before anything in it is read or sorted.
    """
    names: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                names.append(entry.name)
                if len(names) > MAX_FOLDER_ENTRIES:
                    reason = (
                        f"it holds more than {MAX_FOLDER_ENTRIES:,} entries (the limit for a "
                        "folder of units; give many units as one CSV or Parquet file)"
                    )
                    diagnostics.append(_refused(printable_name(str(folder)), reason))
                    return None
    except (OSError, ValueError) as exc:
        diagnostics.append(_refused(printable_name(str(folder)), _reason(exc)))
        return None
    return [folder / name for name in sorted(names)]


def printable_name(name: str) -> str:
    r"""*name* as it can be written anywhere: bytes that are not UTF-8 as ``\xff``.

    The system gives a file name that is not UTF-8 with lone surrogates standing for its
    bytes (``"\udcff"``); no output can hold those. A UTF-8 name is returned unchanged.
    """
    if not _SURROGATE.search(name):
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
