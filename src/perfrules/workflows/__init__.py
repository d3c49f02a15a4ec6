"""The tasks people run: packs and their cases, diffs, audits, batches, templates, new years.

Each module is one task and uses the library below it (rules, facts, engine, reports).
"""

from perfrules.workflows._diff import what_if_traces
from perfrules.workflows._packs import Case, find_pack

__all__ = ["Case", "find_pack", "what_if_traces"]
