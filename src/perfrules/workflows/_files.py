"""Writing files: atomically (a crash never leaves half a file) and next year's scheme."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from perfrules._numbers import format_number
from perfrules.engine import CompiledScheme
from perfrules.rules import numbers_in, pack_id_of
from perfrules.workflows._schema import schema_id

__all__ = [
    "STDOUT",
    "atomic_stream",
    "extends_text",
    "new_folder",
    "new_year_text",
    "temporary_file",
    "write_atomic",
    "write_behind",
]

#: The path that means standard output (``--out -``): written as it comes, not renamed.
STDOUT = "-"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write *data* to *path* through a temporary file in the same folder and a rename.

    Readers see either the old file or the whole new one, never a part.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_stream(path) as stream:
        stream.write(raw)


@contextlib.contextmanager
def atomic_stream(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes *path* when the block ends without an exception.

    For output written piece by piece (a million rows): until the rename, *path* keeps its
    old contents; an error or an interrupt removes the temporary file. :data:`STDOUT` is
    standard output, written directly.
    """
    if str(path) == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with temporary_file(path.parent, f".{path.name}.") as (stream, temporary):
        yield stream
        stream.flush()
        os.fsync(stream.fileno())
        stream.close()
        temporary.replace(path)


def write_behind(stream: BinaryIO, since: int) -> int:
    """Have the system start writing to disk what *stream* holds past *since*; the new end.

    Output made piece by piece (a batch's million rows) otherwise waits in memory for the
    rename's ``fsync``, which then writes all of it while the run waits (some 50 ms for
    100 MB). Asked after each piece, the ``fsync`` finds little left. On Linux
    ``POSIX_FADV_DONTNEED`` starts the writing of the range's pages and leaves them
    cached (a page being written is never dropped); elsewhere, and for a pipe, a terminal
    or a stream in memory, nothing happens.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return since
    stream.flush()  # a full disk is said now, as by any write
    try:
        end = stream.tell()
        if end > since:
            advise(stream.fileno(), since, end - since, os.POSIX_FADV_DONTNEED)
    except (OSError, ValueError):  # not a file: a pipe, a terminal, a stream in memory
        return since
    return end


@contextlib.contextmanager
def temporary_file(
    parent: Path, prefix: str, suffix: str = "", mode: int = 0o666
) -> Iterator[tuple[BinaryIO, Path]]:
    """A new file in *parent*, open for writing, made by this call alone; gone at the end.

    The file is removed when the block ends, unless it was renamed away within it. Its
    name is chosen before the file is made, so an interrupt at any point (Ctrl-C, a
    SIGTERM turned into an exit) leaves no file behind: there is no moment where the file
    exists and nothing knows to remove it. Its mode is *mode* less the umask, applied by
    the system (the default: what a plain ``open`` gives; 0600 for a file only this
    process reads): the umask is never read, which would mean setting it, for every
    thread at once.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    made: Path | None = None
    try:
        for path in _fresh(parent, prefix, suffix):
            made = path
            try:
                handle = os.open(path, flags, mode)
            except FileExistsError:
                made = None  # another's file: never removed here
                continue
            with os.fdopen(handle, "wb") as stream:
                yield stream, path
            return
    finally:
        if made is not None:
            with contextlib.suppress(OSError):
                made.unlink()


def _fresh(parent: Path, prefix: str, suffix: str = "") -> Iterator[Path]:
    """Names in *parent* no file is likely to have: *prefix*, random letters, *suffix*."""
    for _ in range(100):
        yield parent / f"{prefix}{secrets.token_hex(5)}{suffix}"
    raise FileExistsError(f"no free name for a temporary file in {parent}")


def new_folder(parent: Path, prefix: str) -> Path:
    """A new folder in *parent*, made by this call alone, with a plain ``mkdir``'s mode."""
    for path in _fresh(parent, prefix):
        try:
            path.mkdir(0o777)
        except FileExistsError:
            continue
        return path
    raise AssertionError  # pragma: no cover - _fresh raises first


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _schema_directive() -> list[str]:
    """The ``#:schema`` directive of a new rule file: the schema's stable id.

    Never a path: one into the installed package (site-packages) would break with the next
    upgrade or on another machine. Editors map the id to the exported schema
    (docs/how-to/editor.md).
    """
    return [f"#:schema {schema_id('rules')}", ""]


def extends_text(old: Path, new: Path) -> str:
    """What a scheme at *new* writes to extend *old*: an installed pack's id, else a path.

    A pack id works wherever perfrules is installed; a path is relative to the new file.
    """
    pack_id = pack_id_of(old)
    if pack_id is not None and old.name == "scheme.toml":
        return pack_id
    return Path(os.path.relpath(old.resolve(), new.resolve().parent)).as_posix()


def repeated_numbers(compiled: CompiledScheme) -> list[tuple[str, str, str, str]]:
    """Rows whose shown target writes a number their formula reads, as a second copy.

    Each is (indicator id, parameter, its value, a ``target_text`` deriving the same text),
    for rows without a ``target_text``: next year, changing one copy and not the other
    would make the text lie (``perfrules check`` warns, PR236).
    """
    rows = []
    for indicator_id, indicator in compiled.scheme.indicators.items():
        if indicator.target_text is not None or not indicator.target:
            continue
        written = numbers_in(indicator.target)
        for name, value in indicator.params.items():
            if isinstance(value, bool):
                continue
            match = next((text for text, v in written if v == value), None)
            if match is None or "%" in match:
                continue
            braced = indicator.target.replace("{", "{{").replace("}", "}}")
            derived = "=" + braced.replace(match, "{" + name + "}", 1)
            rows.append((indicator_id, name, format_number(Fraction(value)), derived))
            break
    return rows


def new_year_text(compiled: CompiledScheme, old: Path, new: Path, year: int, lang: str) -> str:
    """The text of a scheme for *year* that extends *old*, with commented examples."""
    info = compiled.scheme.scheme
    old_year = str(info.year) if info.year is not None else None
    new_id = (
        info.id.replace(old_year, str(year))
        if old_year and old_year in info.id
        else f"{info.id}-{year}"
    )
    title = info.title.replace(old_year, str(year)) if old_year else info.title
    relative = extends_text(old, new)
    first = next((compiled.plan.nodes[i] for i in compiled.plan.leaves), None)
    example_id = first.id if first is not None else "ID"
    weight = format_number(first.weight) if first is not None else "1"
    if lang == "zh":
        notes = [
            f"# {year} 年度方案：继承 {info.year or ''} 年度方案，只写与它不同之处。",
            "# 写完后运行 perfrules check 检查，perfrules diff 查看与上一年度的差异。",
        ]
        examples = [
            "# 修改权重（同一分组的权重之和要保持不变）：",
            f'# [indicators."{example_id}"]',
            f"# weight = {weight}",
            "#",
            "# 新增指标：",
            '# [indicators."新指标"]',
            '# parent = "分组编号"',
            '# name = "指标名称"',
            "# weight = 6",
            '# target = "≥90%"',
            "#",
            "# 删除指标：",
            "# [remove]",
            f'# indicators = ["{example_id}"]',
        ]
    else:
        notes = [
            (
                f"# The {year} scheme: extends the {info.year or 'previous'} scheme; "
                "write only what changes."
            ),
            "# Then run perfrules check, and perfrules diff to see the changes.",
        ]
        examples = [
            "# Change a weight (a group's weights must still add up):",
            f'# [indicators."{example_id}"]',
            f"# weight = {weight}",
            "#",
            "# Add an indicator:",
            '# [indicators."new-indicator"]',
            '# parent = "group-id"',
            '# name = "What it measures"',
            "# weight = 6",
            '# target = "≥90%"',
            "#",
            "# Remove an indicator:",
            "# [remove]",
            f'# indicators = ["{example_id}"]',
        ]
    repeated = repeated_numbers(compiled)
    if repeated:
        examples += [
            "#",
            "# 注意：下列指标的目标值文本重复写了公式读取的参数值，改其一必须同时改另一处；"
            if lang == "zh"
            else "# Mind: these rows' target text repeats a number their formula reads; change",
            "# 也可由参数生成文本，只写一处（perfrules check 会提示两者不一致）："
            if lang == "zh"
            else "# both, or derive the text from the number (perfrules check warns if not):",
        ]
        for indicator_id, name, value, derived in repeated:
            examples += [
                f"# [indicators.{_quoted(indicator_id)}]",
                f"# params = {{ {name} = {value} }}",
                f"# target_text = {_quoted(derived)}",
            ]
    lines = [
        *_schema_directive(),
        *notes,
        f"extends = {_quoted(relative)}",
        "",
        "[scheme]",
        f"id = {_quoted(new_id)}",
        f"title = {_quoted(title)}",
        f"year = {year}",
        'version = "1.0.0"',
        "",
        *examples,
        "",
    ]
    return "\n".join(lines)
