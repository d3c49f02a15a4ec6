"""Rule packs installed with perfrules or by other packages.

perfrules ships its packs inside the package (``perfrules/packs``); other packages add theirs
through the ``perfrules.packs`` entry point group, each entry naming a module whose folder
holds pack folders (``[project.entry-points."perfrules.packs"] mine = "mypkg.rules"``). A
pack id is the pack's path below such a folder: ``examples/xinzhou-zfw-2021``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import tomllib
from pathlib import Path
from typing import Final

from perfrules._reading import confined, read_file, real_path, regular_file

__all__ = [
    "ENTRY_POINTS",
    "installed_pack",
    "installed_packs",
    "is_pack_id",
    "pack_id_of",
    "pack_roots",
    "pack_scheme",
]

#: The entry point group third-party rule packs register in.
ENTRY_POINTS: Final = "perfrules.packs"

_PACK_ID: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


def is_pack_id(text: str) -> bool:
    """Whether *text* has the shape of a pack id: names joined by ``/``, no ``..``."""
    return bool(_PACK_ID.fullmatch(text)) and ".." not in text.split("/")


def pack_roots() -> list[Path]:
    """Folders that hold installed rule packs: perfrules' own first, then entry points'."""
    from importlib import metadata, resources  # noqa: PLC0415 - a tenth of a CLI's start

    roots = []
    own = resources.files("perfrules") / "packs"
    if own.is_dir():
        roots.append(Path(str(own)))
    for entry in metadata.entry_points(group=ENTRY_POINTS):
        try:
            module = importlib.import_module(entry.value.split(":")[0])
        except ImportError:
            continue  # a broken plug-in must not stop the others
        folder = resources.files(module)
        if folder.is_dir():
            roots.append(Path(str(folder)))
    return roots


def installed_pack(pack_id: str) -> Path | None:
    """The folder of the installed pack *pack_id*, or ``None``."""
    for root in pack_roots():
        folder = root / pack_id
        if regular_file(folder / "pack.toml") or regular_file(folder / "scheme.toml"):
            return folder
    return None


def pack_scheme(folder: Path, scheme: str | None = None) -> Path | None:
    """The rule file of the pack in *folder*, or ``None`` when it is not a file inside it.

    *scheme* is the name ``pack.toml`` gives (``scheme.toml`` by default); without it,
    ``pack.toml`` is read for it. A name leading out of the pack (``../../..``, an absolute
    path, a link out) names no rule file of this pack.
    """
    if scheme is None:
        scheme = "scheme.toml"
        marker = read_file(folder / "pack.toml", [], root=folder)
        # an unreadable pack.toml names no other file
        unreadable = (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError, ValueError)
        with contextlib.suppress(*unreadable):
            if marker is not None:
                scheme = str(tomllib.loads(marker.decode("utf-8-sig")).get("scheme", scheme))
    try:
        found = Path(os.path.normpath(folder / scheme))
    except (TypeError, ValueError):
        return None
    return found if confined(found, folder) and regular_file(found) else None


def installed_packs() -> list[tuple[str, Path]]:
    """Every installed pack as (id, folder), the first of each id winning."""
    found: dict[str, Path] = {}
    for root in pack_roots():
        for marker in sorted(root.rglob("pack.toml")):
            pack_id = marker.parent.relative_to(root).as_posix()
            found.setdefault(pack_id, marker.parent)
    return sorted(found.items())


def pack_id_of(scheme: Path) -> str | None:
    """The id of the installed pack whose scheme *scheme* is, or ``None``."""
    folder = real_path(scheme).parent
    for root in pack_roots():
        base = real_path(root)
        if folder.is_relative_to(base) and folder != base and regular_file(folder / "pack.toml"):
            pack_id = folder.relative_to(base).as_posix()
            found = installed_pack(pack_id)
            if found is not None and real_path(found) == folder:
                return pack_id
    return None
