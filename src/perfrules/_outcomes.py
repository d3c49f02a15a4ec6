"""What the diff and audit tasks find: plain data the renderers show.

These types live below both the tasks (``workflows``) that make them and the renderers
(``reports``) that show them, so neither needs to know the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

__all__ = [
    "AuditFinding",
    "AuditReport",
    "Change",
    "LeagueRow",
    "LeagueTable",
    "Mover",
    "Movers",
    "Published",
    "RankAgreement",
    "ScoreChange",
    "TableAudit",
    "TableFinding",
    "TableRow",
    "WhatIf",
]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two schemes.

    Attributes:
        kind: ``added``, ``removed``, ``renamed``, ``moved`` or ``changed``.
        section: ``indicators``, ``groups``, ``bands``, ``formulas``, ``inputs``, ``scales``,
            ``rounding``, ``defaults`` or ``scheme``.
        id: the entry concerned (an indicator id, a band label, a key of ``[rounding]``).
        key: the key that changed, for ``changed``.
        old: the value before (as text), or ``None``.
        new: the value after (as text), or ``None``.
    """

    kind: str
    section: str
    id: str
    key: str | None = None
    old: str | None = None
    new: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "kind": self.kind,
            "section": self.section,
            "id": self.id,
            "key": self.key,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True, slots=True)
class ScoreChange:
    """One node's score under the old and the new scheme (``None``: absent or excluded)."""

    id: str
    name: str
    old: Decimal | None
    new: Decimal | None

    @property
    def delta(self) -> Decimal | None:
        """New − old, when both exist."""
        if self.old is None or self.new is None:
            return None
        return self.new - self.old


@dataclass(frozen=True, slots=True)
class WhatIf:
    """One unit scored under two schemes."""

    rows: tuple[ScoreChange, ...]
    old_total: Decimal
    new_total: Decimal
    old_grade: str
    new_grade: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (numbers as decimal strings)."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "total": {
                "old": str(self.old_total),
                "new": str(self.new_total),
                "delta": str(self.new_total - self.old_total),
            },
            "grade": {"old": self.old_grade, "new": self.new_grade},
            "scores": [
                {
                    "id": r.id,
                    "name": r.name,
                    "old": text(r.old),
                    "new": text(r.new),
                    "delta": text(r.delta),
                }
                for r in self.rows
            ],
        }


@dataclass(frozen=True, slots=True)
class Published:
    """What a report printed."""

    total: Fraction | None = None
    grade: str | None = None
    #: Row scores by id; ``None`` where the report printed "not applicable" (/, 不适用).
    scores: Mapping[str, Fraction | None] = field(default_factory=dict)
    positions: Mapping[str, tuple[str | None, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditFinding:
    """One published value that does not follow the scheme.

    Attributes:
        id: the indicator id, or ``total`` / ``grade``.
        published: the value printed.
        expected: what the scheme gives.
        difference: published − expected (for numbers).
        reason: the likeliest explanation, in English.
        reason_zh: the same in Chinese.
        file: where the published value is.
        line: its line (or row).
        within: the difference is within the audit's tolerance (reported, not failing).
    """

    id: str
    published: str
    expected: str
    difference: str | None
    reason: str
    reason_zh: str
    file: str | None = None
    line: int = 0
    within: bool = False


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of an audit: the rows checked and the findings."""

    checked: int
    findings: tuple[AuditFinding, ...]
    total: str
    grade: str
    #: Indicators the report publishes no score for: recomputed, but not checked.
    unpublished: tuple[str, ...] = ()
    total_published: bool = True
    grade_published: bool = True
    tolerance: str = "0"

    @property
    def consistent(self) -> bool:
        """Whether every published value follows the scheme (or is within the tolerance)."""
        return all(f.within for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "consistent": self.consistent,
            "checked": self.checked,
            "not_checked": {
                "rows": list(self.unpublished),
                "total": not self.total_published,
                "grade": not self.grade_published,
            },
            "recomputed": {"total": self.total, "grade": self.grade},
            "findings": [
                {
                    "id": f.id,
                    "published": f.published,
                    "expected": f.expected,
                    "difference": f.difference,
                    "reason": f.reason,
                    "reason_zh": f.reason_zh,
                    "file": f.file,
                    "line": f.line,
                    **({"within": True} if f.within else {}),
                }
                for f in self.findings
            ],
            **({"tolerance": self.tolerance} if self.tolerance != "0" else {}),
        }


@dataclass(frozen=True, slots=True)
class TableRow:
    """One unit of a published table: its published and recomputed total and rank.

    Attributes:
        status: ``exact`` (every published number equals the recomputed one), ``within``
            (the largest difference is within the tolerance), ``off``, ``unscored`` (its
            facts cannot be scored) or ``unchecked`` (nothing but a rank published).
        difference: published total − recomputed total.
        rank_agrees: the published rank is the recomputed one (``None``: not compared).
    """

    unit: str
    line: int
    status: str
    published_total: str | None
    total: str | None
    difference: str | None
    published_rank: str | None = None
    rank: int | None = None
    rank_agrees: bool | None = None


@dataclass(frozen=True, slots=True)
class TableFinding:
    """One published value of a table that differs, and its likeliest cause.

    Attributes:
        what: ``total``, ``rank``, ``grade`` or a group's or indicator's id.
        status: ``within`` the tolerance, ``off``, or ``unscored``.
        cause: a stable code: ``total_rounding``, ``published_rows``, ``input_rounded``,
            ``inputs_cannot_give``, ``row``, ``not_applicable``, ``grade``, ``tie_rule``,
            ``earlier_tie``, ``published_totals``, ``rank_unexplained``, ``shared_mark``
            (a rank printed as shared that no other unit holds), ``unranked``, ``unscored``.
    """

    unit: str
    what: str
    status: str
    published: str
    expected: str
    difference: str | None
    cause: str
    reason: str
    reason_zh: str
    file: str | None = None
    line: int = 0
    column: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "unit": self.unit,
            "what": self.what,
            "status": self.status,
            "published": self.published,
            "expected": self.expected,
            "difference": self.difference,
            "cause": self.cause,
            "reason": self.reason,
            "reason_zh": self.reason_zh,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True, slots=True)
class RankAgreement:
    """How the published ranks compare with the recomputed ones."""

    compared: int
    agree: int
    largest_shift: int


@dataclass(frozen=True, slots=True)
class TableAudit:
    """The outcome of auditing a published table."""

    file: str
    tolerance: str
    rows: tuple[TableRow, ...]
    findings: tuple[TableFinding, ...]
    ranks: RankAgreement | None = None

    def count(self, status: str) -> int:
        """How many rows have *status*."""
        return sum(1 for row in self.rows if row.status == status)

    @property
    def consistent(self) -> bool:
        """Every published number within the tolerance, every grade and rank as recomputed."""
        return not any(f.status != "within" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (numbers as decimal strings)."""
        ranks = self.ranks
        return {
            "format": "perfrules.audit-table/1",
            "consistent": self.consistent,
            "file": self.file,
            "tolerance": self.tolerance,
            "rows": {
                status: self.count(status)
                for status in ("exact", "within", "off", "unscored", "unchecked")
            },
            "ranks": None
            if ranks is None
            else {
                "compared": ranks.compared,
                "agree": ranks.agree,
                "largest_shift": ranks.largest_shift,
            },
            "units": [
                {
                    "unit": row.unit,
                    "line": row.line,
                    "status": row.status,
                    "published": {"total": row.published_total, "rank": row.published_rank},
                    "recomputed": {"total": row.total, "rank": row.rank},
                    "difference": row.difference,
                    "rank_agrees": row.rank_agrees,
                }
                for row in self.rows
            ],
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class Mover:
    """One unit in last year's results and this year's: its rank and total, both years.

    Attributes:
        rank_change: places moved up (old position − new position; negative: down),
            ``None`` when it is not ranked in one of the years.
        delta: new total − old total, ``None`` when one of them is missing.
    """

    unit: str
    old_total: Decimal | None
    new_total: Decimal | None
    old_rank: str | None
    new_rank: str | None
    rank_change: int | None
    old_grade: str | None = None
    new_grade: str | None = None

    @property
    def delta(self) -> Decimal | None:
        """New total − old total."""
        if self.old_total is None or self.new_total is None:
            return None
        return self.new_total - self.old_total

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (numbers as decimal strings, rank changes as integers)."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "unit": self.unit,
            "rank": {"old": self.old_rank, "new": self.new_rank, "change": self.rank_change},
            "total": {
                "old": text(self.old_total),
                "new": text(self.new_total),
                "delta": text(self.delta),
            },
            "grade": {"old": self.old_grade, "new": self.new_grade},
        }


@dataclass(frozen=True, slots=True)
class Movers:
    """This year's units against last year's, matched by name.

    Attributes:
        rows: the units of both years, in this year's ranking order.
        added: units only this year (``old_*`` empty).
        dropped: units only last year (``new_*`` empty).
        failed: units whose facts could not be scored, as ``(year, unit, codes)`` with
            year ``old`` or ``new``.
    """

    rows: tuple[Mover, ...]
    added: tuple[Mover, ...]
    dropped: tuple[Mover, ...]
    failed: tuple[tuple[str, str, str], ...] = ()

    def of(self, unit: str) -> Mover | None:
        """The movement of *unit* (a row or a new unit), if it is there this year."""
        return next((m for m in (*self.rows, *self.added) if m.unit == unit), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "units": [m.to_dict() for m in self.rows],
            "new": [m.to_dict() for m in self.added],
            "dropped": [m.to_dict() for m in self.dropped],
            "failed": [{"year": y, "unit": u, "codes": c} for y, u, c in self.failed],
        }


@dataclass(frozen=True, slots=True)
class LeagueRow:
    """One unit's line of a league table: everything a renderer prints, as text."""

    rank: str
    unit: str
    total: str
    grade: str
    scores: tuple[str, ...]
    movement: str | None = None
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class LeagueTable:
    """A league table: its title, columns and rows, ready to render (nothing to compute).

    Attributes:
        columns: ``(id, name, weight)`` of each score shown (the top level of the tree).
        movers: the table has a movement column (against last year's results).
        unranked: units scored but not ranked, and units that failed (unit, why).
        graded: the table has a grade column (a rank-only scheme has none, unless a grade
            override gave some unit a grade).
    """

    title: str
    scheme_id: str
    sha256: str
    rank_label: str
    columns: tuple[tuple[str, str, str], ...]
    rows: tuple[LeagueRow, ...]
    ties: str
    movers: bool = False
    unranked: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()
    graded: bool = True
