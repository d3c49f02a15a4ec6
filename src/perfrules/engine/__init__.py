"""Scoring: a checked scheme becomes one generated exact function; results explain themselves.

``_plan`` orders the scheme; ``_totals`` decides how rows become a total and a grade;
``_kernel`` writes the scorer and ``_columns`` scores tables as arrays; ``_general`` is the
general path of an indicator; ``_grading`` orders the lost points; ``_record``, ``_tree`` and
``_json`` build results and traces from the raw record; ``_cohorts`` and ``_workers`` score
units together or in processes; ``_stages`` the passes of rows that read scores; ``_scheme``
is the facade. Who owns which rule:
``docs/explanation/owners.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfrules._lazy import lazy_exports
from perfrules.engine._assemble import VERSION
from perfrules.engine._cohort import PER_UNIT, CohortValues
from perfrules.engine._cohorts import imputed_name
from perfrules.engine._impute import DataGaps
from perfrules.engine._plan import Plan, build_plan
from perfrules.engine._scheme import CompiledScheme, with_weights
from perfrules.engine._stages import Stage, Staged
from perfrules.model import Scheme
from perfrules.rules import CheckedScheme, checked

if TYPE_CHECKING:
    from perfrules.engine._columns import Arrays

__all__ = [
    "PER_UNIT",
    "VERSION",
    "Arrays",
    "CohortValues",
    "CompiledScheme",
    "DataGaps",
    "Plan",
    "Stage",
    "Staged",
    "compile_scheme",
    "imputed_name",
    "with_weights",
]

#: Loaded when first used: the array scorer needs numpy (the ``frame`` extra).
_LAZY = {"._columns": ("Arrays",)}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


def compile_scheme(scheme: Scheme | CheckedScheme) -> CompiledScheme:
    """Compile a scheme for evaluation.

    A scheme from :func:`~perfrules.load_scheme` was checked when it was read and is not
    checked again; a scheme built in code is checked first.

    Args:
        scheme: a scheme from :func:`~perfrules.load_scheme`, :func:`~perfrules.load_pack`
            or :func:`~perfrules.loads_scheme`, or a :class:`~perfrules.Scheme` built in code.

    Returns:
        The scheme as one generated exact scorer, to evaluate any number of units with,
        from any number of threads (it holds no state between calls).

    Raises:
        RuleFileError: the scheme has errors (for a scheme read from a file, with positions).
        TypeError: *scheme* is not a scheme: a path or a pack id is read with
            :func:`~perfrules.load_scheme` first.

    Examples:
        >>> compiled = perfrules.compile_scheme(perfrules.load_pack("examples/xinzhou-zfw-2021"))
        >>> compiled.id
        'xinzhou-zfw-2021'
    """
    return CompiledScheme(build_plan(checked(scheme)))
