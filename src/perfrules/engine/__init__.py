"""Scoring: a checked scheme becomes one generated exact function; results explain themselves.

``_plan`` orders the scheme; ``_kernel`` writes the scorer; ``_scheme`` runs it and holds
the general path of an indicator; ``_grading`` decides bands and gaps; ``_assemble`` builds
results and traces from the raw record.
"""

from __future__ import annotations

from perfrules.engine._assemble import VERSION
from perfrules.engine._cohort import CohortValues
from perfrules.engine._plan import Plan, build_plan
from perfrules.engine._scheme import CompiledScheme
from perfrules.model import Scheme
from perfrules.rules import CheckedScheme, checked

__all__ = ["VERSION", "CohortValues", "CompiledScheme", "Plan", "build_plan", "compile_scheme"]


def compile_scheme(scheme: Scheme | CheckedScheme) -> CompiledScheme:
    """Compile a scheme for evaluation.

    A scheme from :func:`~perfrules.load_scheme` was checked when it was read and is not
    checked again; a scheme built in code is checked first.

    Raises:
        RuleFileError: the scheme has errors (for a scheme read from a file, with positions).
    """
    return CompiledScheme(build_plan(checked(scheme)))
