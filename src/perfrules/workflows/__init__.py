"""The tasks people run: packs and their cases, diffs, audits, batches, templates, new years.

Each module is one task and uses the library below it (rules, facts, engine, reports).
"""

from perfrules.workflows._diff import what_if_traces

__all__ = ["what_if_traces"]
