"""The docstrings' reST roles as Markdown, for the API reference (a Griffe extension).

The docstrings are Google style with Sphinx's cross-reference roles (:func:`load_scheme`),
which Markdown would show as they are written. Each role becomes its name as code (the
part after ``~`` as Sphinx shows it): nothing is resolved, so nothing can break the build.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|exc|obj):`~?([^`]+)`")


def _shown(match: re.Match[str]) -> str:
    name = match.group(1)
    if match.group(0).split("`")[1].startswith("~"):
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


class Roles(Extension):
    """Rewrite reST roles in every docstring before it is parsed."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:  # noqa: ARG002 - Griffe's hook
        """Rewrite *obj*'s docstring."""
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_shown, obj.docstring.value)
