"""Names a package exports without importing the module that defines them until first use.

A package's ``__init__`` is its interface to the rest of perfrules. Some of what it exports
lives in modules that need an optional extra (numpy, openpyxl) or that are slow to import;
those names are listed in a table ``{".module": ("name", ...)}`` and loaded by the module
``__getattr__`` this returns (PEP 562). The same names are imported under
``TYPE_CHECKING`` for the type checker; ``tests/test_package_interfaces.py`` holds the two
lists equal.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, table: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for *package*, loading each name of *table* on use."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str) -> object:  # noqa: N807 - the module hook's name
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook's name
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
