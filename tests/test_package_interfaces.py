"""Each sub-package keeps its inside to itself: other packages use its ``__init__``.

A private module (``perfrules.workflows._batch``) may be imported only by modules of its own
package; everything another package needs is exported by the package's ``__init__`` and
listed in its ``__all__``. Names an ``__init__`` exports lazily (so that importing the
package does not import an optional extra) are declared once for the type checker and once
for the loader; the two lists must agree.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import perfrules

SRC = Path(perfrules.__file__).parent
PACKAGES = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())


def _package_of(path: Path) -> str | None:
    """The sub-package a source file belongs to (``None`` for top-level modules)."""
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def crossings() -> list[str]:
    """Every import of a sub-package's private module from outside that sub-package."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        own = _package_of(path)
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] != "perfrules" or len(parts) < 3 or parts[1] not in PACKAGES:
                continue
            if any(p.startswith("_") for p in parts[2:]) and parts[1] != own:
                bad.append(f"{path.relative_to(SRC.parent)}:{line}: {module}")
    return bad


def test_no_private_module_is_imported_across_a_package_line() -> None:
    assert crossings() == []


def test_the_check_finds_a_crossing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan is not vacuous: a planted crossing is reported with its line."""
    tree = tmp_path / "perfrules"
    (tree / "cli").mkdir(parents=True)
    (tree / "workflows").mkdir()
    (tree / "workflows" / "__init__.py").write_text("")
    (tree / "cli" / "__init__.py").write_text(
        "from perfrules.workflows import fine\nfrom perfrules.workflows._batch import x\n"
    )
    monkeypatch.setattr(f"{__name__}.SRC", tree)
    monkeypatch.setattr(f"{__name__}.PACKAGES", ["cli", "workflows"])
    assert crossings() == ["perfrules/cli/__init__.py:2: perfrules.workflows._batch"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(f"perfrules.{package}")
    for name in getattr(module, "__all__", ()):
        assert getattr(module, name) is not None, name


def _type_checking_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                    f"perfrules.{path.parent.name}."
                ):
                    names.update(a.asname or a.name for a in inner.names)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_lazy_exports_match_what_the_type_checker_sees(package: str) -> None:
    module = importlib.import_module(f"perfrules.{package}")
    lazy = getattr(module, "_LAZY", None)
    if lazy is None:
        return
    loaded = {name for names in lazy.values() for name in names}
    assert loaded == _type_checking_names(SRC / package / "__init__.py")
    assert loaded <= set(module.__all__)
