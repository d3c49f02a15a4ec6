"""Rule packs and their test cases.

A rule pack is a folder: ``pack.toml`` (optional: id, name, version, years, scheme file),
``scheme.toml`` and ``cases/*.toml``. A case gives facts (a file or a table) and what must
come out: the total, the grade, some indicator scores, or the diagnostic codes the facts must
raise. ``perfrules test PACK`` runs them; failures name the case's file and line and show
the trace lines that matter.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfrules._messages import render_hint, ui
from perfrules._numbers import NumberFormatError, format_number, to_fraction
from perfrules._reading import regular_file
from perfrules.engine import CompiledScheme, compile_scheme, imputed_name
from perfrules.errors import Diagnostic, FactsError, Lang, PerfrulesError, RuleFileError
from perfrules.facts import Facts, load_facts
from perfrules.rules import (
    SourceMap,
    check_path,
    installed_pack,
    installed_packs,
    pack_scheme,
    read_document,
    validation_diagnostics,
)
from perfrules.trace import Result

__all__ = [
    "Case",
    "CaseResult",
    "InstalledPack",
    "Pack",
    "PackError",
    "find_pack",
    "packs",
    "run_cases",
]


class PackError(PerfrulesError, ValueError):
    """A pack or a case file cannot be used; ``diagnostics`` says why."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        """Keep the diagnostics."""
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.format("en") for d in self.diagnostics[:5]))


class _Model(BaseModel):
    # Validators built when a case file is first read, not when a command imports this.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Expect(_Model):
    """``[case.expect]``: what must come out (each key optional)."""

    total: Decimal | str | None = Field(default=None, description="Expected total, e.g. 89.25.")
    grade: str | None = Field(default=None, description="Expected grade label.")
    scores: dict[str, Decimal | str | None] = Field(
        default_factory=dict, description="Expected scores by id (null: excluded)."
    )
    errors: list[str] = Field(
        default_factory=list, description="Diagnostic codes the facts must raise, e.g. PR401."
    )


class UnitExpect(Expect):
    """``[case.expect.units.NAME]``: what one unit of a cohort case must get."""

    rank: int | None = Field(default=None, description="Expected rank in its cohort.")
    cohort: dict[str, Decimal | str | None] = Field(
        default_factory=dict, description="Expected cohort values by name (null: none)."
    )


class CohortExpect(Expect):
    """``[case.expect]`` of a case with ``units``: expectations by unit."""

    units: dict[str, UnitExpect] = Field(
        default_factory=dict, description="Expectations by unit name."
    )


class Case(_Model):
    """``[[case]]``: one test case."""

    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    description: str = ""
    facts: str | dict[str, Any] | None = Field(
        default=None, description="A facts file (relative path) or a table."
    )
    units: list[str | dict[str, Any]] | None = Field(
        default=None,
        description="Units scored together (schemes with [cohort] or [ranking]): each a facts "
        "file or a table with unit = name.",
    )
    tolerance: Decimal | str = Field(default="0", description="Allowed absolute difference.")
    expect: CohortExpect


class CaseFile(_Model):
    """A case file: a list of ``[[case]]``."""

    case: list[Case] = Field(min_length=1)


class PackInfo(_Model):
    """``pack.toml``."""

    id: str
    name: str = ""
    version: str = "1.0.0"
    scheme: str = "scheme.toml"
    years: list[int] = Field(default_factory=list)
    description: str = ""


@dataclass(frozen=True)
class Pack:
    """A rule pack found on disk."""

    root: Path
    scheme: Path
    cases: tuple[Path, ...]
    info: PackInfo | None = None


class _Word(str):
    """A word of a failure said in the language of the text (``excluded``, ``not ranked``)."""

    __slots__ = ()


@dataclass
class CaseResult:
    """The outcome of one case.

    ``failures`` says each failed expectation in English; :meth:`failures_in` says them in
    another language.
    """

    file: str
    line: int
    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    #: each failure as the UI key of its text and the values it names
    reasons: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    #: the line and column of the case file each failure is about (0, 0 when none is)
    places: list[tuple[int, int]] = field(default_factory=list)

    def fail(self, key: str, *, at: tuple[int, int] = (0, 0), **params: object) -> None:
        """The case fails for the reason *key* (``case.*`` in the UI texts) says, at *at*."""
        self.passed = False
        self.reasons.append((key, params))
        self.places.append(at)
        self.failures.append(_say(key, params, "en"))

    def failures_in(self, lang: Lang) -> list[str]:
        """The failures in *lang*."""
        return [_say(key, params, lang) for key, params in self.reasons]


def _say(key: str, params: dict[str, object], lang: Lang) -> str:
    """One failure in *lang*: its words and diagnostics in that language too."""
    said: dict[str, object] = {}
    for name, value in params.items():
        if isinstance(value, _Word):
            said[name] = ui(f"case.{value}", lang)
        elif isinstance(value, tuple) and all(isinstance(d, Diagnostic) for d in value):
            said[name] = "; ".join(d.format(lang) for d in value)
        else:
            said[name] = value
    text = ui(key, lang, **said)
    suggestion = params.get("suggestion")
    if suggestion:
        text += f" ({render_hint('did_you_mean', {'suggestion': suggestion}, lang)})"
    return text


def find_pack(path: str | Path) -> Pack:
    """The pack at *path*.

    *path* is a folder with ``pack.toml`` or ``scheme.toml``, a scheme file, or the id of an
    installed pack (``examples/xinzhou-zfw-2021``). The pack's folder is its root: the
    scheme ``pack.toml`` names must be a file inside it (``PR105`` at that line otherwise).
    """
    root = Path(path)
    if not _exists(root):
        root = installed_pack(str(path)) or root
    diagnostics: list[Diagnostic] = []
    if regular_file(root):
        cases = tuple(sorted((root.parent / "cases").glob("*.toml")))
        return Pack(root.parent, root, cases)
    info = None
    pack_file = root / "pack.toml"
    scheme_name = "scheme.toml"
    source_map: SourceMap | None = None
    if _exists(pack_file):
        loaded = read_document(pack_file, diagnostics, root=root)
        if loaded is None:
            raise PackError(diagnostics)
        data, source_map, _ = loaded
        try:
            info = PackInfo.model_validate(data)
        except ValidationError as exc:
            raise PackError(
                _placed(validation_diagnostics(exc, data, ()), source_map, str(pack_file))
            ) from None
        scheme_name = info.scheme
    scheme = pack_scheme(root, scheme_name)
    if scheme is None:
        missing = Diagnostic(
            "PR105",
            ("scheme",),
            {"file": scheme_name, "reason": "no such rule file in this pack"},
            file=str(pack_file if source_map is not None else root / scheme_name),
        )
        placed = (
            [missing] if source_map is None else _placed([missing], source_map, str(pack_file))
        )
        raise PackError(placed)
    return Pack(root, scheme, tuple(sorted((root / "cases").glob("*.toml"))), info)


@dataclass(frozen=True)
class InstalledPack:
    """A rule pack installed with perfrules or by another package (``perfrules packs``).

    Attributes:
        id: what ``extends``, :func:`perfrules.load_pack` and every command accept:
            ``examples/xinzhou-zfw-2021``.
        name: the pack's title (``pack.toml``'s ``name``; empty when it has none).
        version: the pack's version.
        years: the years it covers.
        folder: where it is installed (its cases are in ``folder / "cases"``).
        scheme: its scheme file.
    """

    id: str
    name: str
    version: str
    years: tuple[int, ...]
    folder: Path
    scheme: Path


def packs() -> dict[str, InstalledPack]:
    """Every installed rule pack by id, in order of id.

    perfrules' own packs and those other packages register in the ``perfrules.packs``
    entry point group. A pack whose ``pack.toml`` cannot be read is listed with an empty
    name; loading it reports why.

    Returns:
        Each pack's :class:`InstalledPack` by its id (what :func:`perfrules.load_pack`,
        ``extends`` and every command accept).

    Examples:
        >>> seed = perfrules.packs()["examples/xinzhou-zfw-2021"]
        >>> seed.version, seed.years, seed.scheme.name
        ('1.0.0', (2021,), 'scheme.toml')
        >>> facts = perfrules.load_facts(seed.folder / "facts.toml")  # files beside it
    """
    found: dict[str, InstalledPack] = {}
    for pack_id, folder in installed_packs():
        try:
            pack = find_pack(folder)
        except PackError:
            found[pack_id] = InstalledPack(pack_id, "", "", (), folder, folder / "scheme.toml")
            continue
        info = pack.info
        found[pack_id] = InstalledPack(
            pack_id,
            info.name if info is not None else "",
            info.version if info is not None else "",
            tuple(info.years) if info is not None else (),
            folder,
            pack.scheme,
        )
    return found


def _exists(path: Path) -> bool:
    """``Path.exists`` that is ``False`` for names the system refuses (NUL, too long)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _placed(
    diagnostics: Iterable[Diagnostic], source_map: SourceMap, file: str
) -> list[Diagnostic]:
    out = []
    for d in diagnostics:
        line, column = source_map.position(d.path)
        out.append(
            d.located(file=file, line=line, column=column, excerpt=source_map.line_text(line))
        )
    return out


def load_cases(path: Path, root: Path | None = None) -> tuple[list[Case], SourceMap]:
    """The cases of one case file, inside *root* (raises PackError, located diagnostics)."""
    diagnostics: list[Diagnostic] = []
    loaded = read_document(path, diagnostics, root=root)
    if loaded is None:
        raise PackError(diagnostics)
    data, source_map, _ = loaded
    try:
        return list(CaseFile.model_validate(data).case), source_map
    except ValidationError as exc:
        raise PackError(
            _placed(validation_diagnostics(exc, data, ()), source_map, str(path))
        ) from None


_EXCLUDED = frozenset({"", "excluded", "n/a", "na", "不适用", "null", "none"})


def _number(value: Decimal | str | None) -> Fraction | None:
    """An expected number; ``None`` for an indicator expected to be excluded."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _EXCLUDED):
        return None
    return to_fraction(value)


def _close(got: Fraction | None, want: Fraction | None, tolerance: Fraction) -> bool:
    if got is None or want is None:
        return got is want
    return abs(got - want) <= tolerance


def _facts_of(facts: str | dict[str, Any], case_file: Path) -> Facts:
    """A case's facts: a table, or a file inside the case's pack (the folder above ``cases``)."""
    if isinstance(facts, str):
        return load_facts(case_file.parent / facts, root=case_file.parent.parent)
    return Facts.from_mapping(facts)


#: Line and column of a key of the case (the path below the case's own table).
Where = Callable[..., tuple[int, int]]


def _numbers_of(case: Case) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every number a case expects (and its tolerance), with the key path it is written at."""
    yield ("tolerance",), case.tolerance
    expect = case.expect
    wanted: list[tuple[tuple[str, ...], Expect]] = [(("expect",), expect)]
    wanted += [(("expect", "units", name), unit) for name, unit in expect.units.items()]
    for base, each in wanted:
        yield (*base, "total"), each.total
        for node_id, value in each.scores.items():
            yield (*base, "scores", node_id), value
        for value_name, value in getattr(each, "cohort", {}).items():
            yield (*base, "cohort", value_name), value


def _run_one(
    compiled: CompiledScheme, case: Case, case_file: Path, line: int, where: Where
) -> CaseResult:
    result = CaseResult(str(case_file), line, case.name, passed=True)
    expect = case.expect
    for path, value in _numbers_of(case):  # every one that is not a number, at once
        try:
            _number(value)  # type: ignore[arg-type]
        except NumberFormatError as exc:
            result.fail(
                "case.not_a_number", at=where(*path), value=exc.detail, suggestion=exc.suggestion
            )
    if not result.passed:
        return result
    tolerance = to_fraction(case.tolerance)
    if (case.facts is None) == (case.units is None):
        result.fail("case.facts_or_units")
        return result
    if case.units is not None:
        _run_units(compiled, case, case.units, case_file, result, tolerance, where)
        return result
    if expect.units:
        result.fail("case.units_need_units")
        return result
    assert case.facts is not None  # noqa: S101
    try:
        outcome: Result | FactsError = compiled.evaluate(_facts_of(case.facts, case_file))
    except FactsError as exc:
        outcome = exc
    _check(outcome, expect, tolerance, result, "", partial(where, "expect"))
    return result


def _run_units(
    compiled: CompiledScheme,
    case: Case,
    units: list[str | dict[str, Any]],
    case_file: Path,
    result: CaseResult,
    tolerance: Fraction,
    where: Where,
) -> None:
    """Score the units of a cohort case together and check each one's expectations."""
    expect = case.expect
    if expect.total is not None or expect.grade is not None or expect.scores or expect.errors:
        result.fail("case.units_expect_each")
        return
    facts = [
        replace(f, unit=f.unit or f"#{n + 1}")
        for n, f in enumerate(_facts_of(u, case_file) for u in units)
    ]
    outcomes = dict(zip((f.unit for f in facts), compiled.evaluate_cohort(facts), strict=True))
    for name, wanted in expect.units.items():
        outcome = outcomes.get(name)
        if outcome is None:
            at = where("expect", "units", name)
            result.fail("case.no_unit", at=at, unit=name, have=", ".join(outcomes))
            continue
        unit_at = partial(where, "expect", "units", name)
        _check(outcome, wanted, tolerance, result, f"{name}: ", unit_at)
        if isinstance(outcome, FactsError):
            continue
        rank = outcome.rank
        if wanted.rank is not None and (rank is None or rank.position != wanted.rank):
            got = _Word("not_ranked") if rank is None else str(rank.position)
            result.fail(
                "case.rank", at=unit_at("rank"), prefix=f"{name}: ", want=wanted.rank, got=got
            )
            if rank is not None:
                result.details += [
                    f"  {name}: {k.by} ({k.order}) = "
                    f"{format_number(k.value) if k.value is not None else '—'}"
                    for k in rank.keys
                ]
        cohort = outcome.cohort
        values = {v.name: v.value for v in cohort.values} if cohort is not None else {}
        for value_name, wanted_value in wanted.cohort.items():
            if value_name not in values:
                result.fail(
                    "case.no_cohort_value",
                    at=unit_at("cohort", value_name),
                    prefix=f"{name}: ",
                    value=value_name,
                )
                continue
            want = _number(wanted_value)
            if not _close(values[value_name], want, tolerance):
                got_value = values[value_name]
                result.fail(
                    "case.cohort_value",
                    at=unit_at("cohort", value_name),
                    prefix=f"{name}: ",
                    value=value_name,
                    want=format_number(want) if want is not None else _Word("none"),
                    got=format_number(got_value) if got_value is not None else _Word("none"),
                )


def _check(
    outcome: Result | FactsError,
    expect: Expect,
    tolerance: Fraction,
    result: CaseResult,
    prefix: str,
    where: Where,
) -> None:
    """Compare one unit's outcome with what it must get; failures start with *prefix*.

    *where* places a key of the expectation (``where("scores", "q1")``) in the case file.
    """
    if isinstance(outcome, FactsError):
        codes = sorted({d.code for d in outcome.diagnostics})
        if expect.errors and set(expect.errors) <= set(codes):
            return
        result.fail(
            "case.facts_failed", at=where(), prefix=prefix, problems=outcome.diagnostics[:5]
        )
        return
    if expect.errors:
        result.fail(
            "case.scored", at=where("errors"), prefix=prefix, codes=", ".join(expect.errors)
        )
    trace = outcome.trace
    assert trace is not None  # noqa: S101
    if expect.total is not None:
        want = _number(expect.total)
        if not _close(outcome.total_exact, want, tolerance):
            result.fail(
                "case.total",
                at=where("total"),
                prefix=prefix,
                want=format_number(want) if want is not None else "-",
                got=outcome.total,
                tolerance=format_number(tolerance),
            )
            result.details += [
                f"  {c.id}: {format_number(c.score) if c.score is not None else '—'}"
                for c in trace.root.children
            ]
    if expect.grade is not None and expect.grade != outcome.grade.label:
        result.fail(
            "case.grade",
            at=where("grade"),
            prefix=prefix,
            want=expect.grade,
            got=outcome.grade.label,
        )
    for node_id, wanted in expect.scores.items():
        node = trace.root.find(node_id)
        if node is None:
            known = [n.id for n in trace.root.walk() if n is not trace.root]
            close = difflib.get_close_matches(node_id, known, n=1)
            result.fail(
                "case.no_row",
                at=where("scores", node_id),
                prefix=prefix,
                id=node_id,
                suggestion=close[0] if close else "",
            )
            continue
        want = _number(wanted)
        if not _close(node.score, want, tolerance):
            excluded = _Word("excluded")
            got = format_number(node.score, node.places) if node.score is not None else excluded
            shown = format_number(want) if want is not None else excluded
            result.fail(
                "case.score",
                at=where("scores", node_id),
                prefix=prefix,
                id=node_id,
                want=shown,
                got=got,
            )
            result.details += [f"  {node_id}: {step}" for step in node.steps]
            result.details += [
                f"  {node_id}: round {r.mode} {r.places}: {format_number(r.before)} → "
                f"{format_number(r.after, r.places)}"
                for r in node.roundings
            ]


def run_cases(pack_path: str | Path, keyword: str | None = None) -> tuple[Pack, list[CaseResult]]:
    """Run the cases of a pack (filtered by *keyword*: name, file name or keyword).

    Raises:
        RuleFileError: the pack's scheme has errors.
        PackError: the pack or a case file cannot be read.
    """
    pack = find_pack(pack_path)
    scheme, _, diagnostics = check_path(pack.scheme)
    if scheme is None or any(d.severity == "error" for d in diagnostics):
        raise RuleFileError(diagnostics)
    compiled = compile_scheme(scheme)
    results = []
    for case_file in pack.cases:
        cases, source_map = load_cases(case_file, pack.root)
        for index, case in enumerate(cases):
            if keyword and not _matches(keyword, case, case_file):
                continue
            line = source_map.position(("case", index))[0]
            taken = compiled.plan.cohort_names | {
                imputed_name(n) for n in compiled.plan.imputations
            }
            if case.facts is not None and taken:
                alone = Diagnostic(
                    "PR234", ("case", index, "facts"), {"names": ", ".join(sorted(taken))}
                )
                placed = _placed([alone], source_map, str(case_file))[0]
                results.append(_failed(case_file, line, case, [placed]))
                continue
            where = partial(_position, source_map, ("case", index))
            try:
                results.append(_run_one(compiled, case, case_file, line, where))
            except FactsError as exc:  # an unreadable facts file named by the case
                results.append(_failed(case_file, line, case, list(exc.diagnostics[:5])))
    return pack, results


def _position(source_map: SourceMap, case: tuple[str, int], *keys: str) -> tuple[int, int]:
    """Line and column of *keys* in the case at *case* (of its nearest written ancestor)."""
    return source_map.position((*case, *keys))


def _failed(case_file: Path, line: int, case: Case, problems: list[Diagnostic]) -> CaseResult:
    result = CaseResult(str(case_file), line, case.name, passed=True)
    for problem in problems:
        result.fail("case.problem", at=(problem.line, problem.column), problem=(problem,))
    return result


def _matches(keyword: str, case: Case, case_file: Path) -> bool:
    text = keyword.lower()
    return (
        text in case.name.lower()
        or text in case_file.name.lower()
        or any(text in k.lower() for k in case.keywords)
    )
