"""Hypothesis strategies and ready-made invariants for rule authors and tool builders.

Install with ``pip install perfrules[testing]``. This is the only perfrules module that
imports hypothesis; ``import perfrules`` never does.

Three lines prove a scheme cannot produce a nonsensical score:

    from perfrules.testing import scheme_properties
    test_my_scheme = scheme_properties("rules/my-bureau/2025/scheme.toml")

Strategies:

* :func:`facts_for` — valid facts for every indicator a scheme reads, weighted to the edges;
* :func:`schemes` — random valid schemes (for testing the engine and tools built on it);
* :func:`formulas` — random formula text in perfrules' language, well-formed or not;
* :func:`numbers` — exact numbers at the edges that break scoring code (0, ties, limits).

Invariants (also usable one by one): :func:`check_scheme` (static) and
:func:`assert_invariants` (one unit); see ``docs/how-to/property-test-your-scheme.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from hypothesis import HealthCheck, Phase, given, settings, target
from hypothesis import strategies as st

from perfrules._numbers import ROUNDING_MODES, format_number, is_terminating, round_fraction
from perfrules.engine import CohortValues, CompiledScheme, Plan
from perfrules.errors import FactsError, Lang
from perfrules.model import Scheme
from perfrules.workflows import (
    InvariantError,
    Violation,
    as_compiled,
    assert_invariants,
    check_scheme,
    cohort_violations,
    facts_toml,
    unit_violations,
)

__all__ = [
    "InvariantError",
    "PropertyReport",
    "Violation",
    "assert_invariants",
    "check_scheme",
    "cohort_violations",
    "cohorts_for",
    "facts_for",
    "facts_toml",
    "formulas",
    "numbers",
    "property_report",
    "scheme_properties",
    "scheme_toml",
    "schemes",
    "unit_violations",
]

_FUNCTIONS_NUM = {
    "min": (1, 4),
    "max": (1, 4),
    "abs": (1, 1),
    "clamp": (3, 3),
    "floor": (1, 1),
    "ceil": (1, 1),
    "ratio": (2, 2),
    "reverse_ratio": (2, 2),
    "steps": (2, 2),
}
_COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]
_INTERVALS = ["=0", "(0, 10%]", "(10%, 20%]", "[0.5, 1)", ">=1", "<0", "(-1, 1)", "[2, 3]"]
_GARBAGE = [
    "(",
    ")",
    ",",
    "+",
    "*",
    "/",
    "**",
    ".",
    "[",
    "]",
    "'",
    '"',
    "=",
    "==",
    "%",
    "//",
    "lambda",
    "__class__",
    "（",
    "\u202e",
    "\x00",
    "𝐱",
    "1e999",
    "0x1f",
    "not",
    "if",
    "else",
    "min",
    "lookup",
    " ",
]


def numbers(*, max_abs: int = 10**6) -> st.SearchStrategy[Fraction]:
    """Exact numbers, weighted towards values that break scoring code.

    Zero, one, small integers, two-place decimals, rounding ties such as 7/48, repeating
    fractions, negatives and values near *max_abs*.

    Args:
        max_abs: the largest absolute value drawn.

    Returns:
        A strategy of ``Fraction`` values.
    """
    return st.one_of(
        st.sampled_from([Fraction(0), Fraction(1), Fraction(-1), Fraction(7, 48), Fraction(1, 3)]),
        st.integers(-100, 100).map(Fraction),
        st.integers(-10_000, 10_000).map(lambda n: Fraction(n, 100)),
        st.fractions(min_value=-max_abs, max_value=max_abs, max_denominator=1000),
    )


@st.composite
def _num_expr(
    draw: st.DrawFn, names: Sequence[str], bools: Sequence[str], depth: int, chains: bool = True
) -> str:
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        leaf = draw(
            st.one_of(
                st.sampled_from(list(names)) if names else st.nothing(),
                st.integers(0, 200).map(str),
                st.decimals(min_value=0, max_value=100, places=2, allow_nan=False).map(str),
            )
        )
        return str(leaf)
    kind = draw(st.integers(0, 6))
    sub = _num_expr(names, bools, depth - 1, chains)
    if kind == 0:
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        return f"({draw(sub)} {op} {draw(sub)})"
    if kind == 1:
        return f"-{draw(sub)}"
    if kind == 2:
        exponent = draw(st.integers(-3, 3))
        return f"({draw(sub)} ** {exponent})"
    if kind == 3:
        name = draw(st.sampled_from(sorted(_FUNCTIONS_NUM)))
        low, high = _FUNCTIONS_NUM[name]
        args = [draw(sub) for _ in range(draw(st.integers(low, high)))]
        return f"{name}({', '.join(args)})"
    if kind == 4:
        test = draw(_bool_expr(names, bools, depth - 1, chains))
        return f"({draw(sub)} if {test} else {draw(sub)})"
    if kind == 5:
        pairs = draw(st.integers(1, 3))
        parts = [draw(sub)]
        for _ in range(pairs):
            parts += [f'"{draw(st.sampled_from(_INTERVALS))}"', draw(sub)]
        if draw(st.booleans()):
            parts.append(draw(sub))
        return f"lookup({', '.join(parts)})"
    flags = [
        draw(_bool_expr(names, bools, depth - 1, chains)) for _ in range(draw(st.integers(1, 3)))
    ]
    if draw(st.booleans()):
        return f"count({', '.join(flags)})"
    return "checklist(" + ", ".join(f"{f}, {draw(sub)}" for f in flags) + ")"


@st.composite
def _bool_expr(
    draw: st.DrawFn, names: Sequence[str], bools: Sequence[str], depth: int, chains: bool = True
) -> str:
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        use_name: bool = draw(st.booleans())
        if bools and use_name:
            return draw(st.sampled_from(list(bools)))
        return draw(st.sampled_from(["True", "False"]))
    kind = draw(st.integers(0, 2))
    num = _num_expr(names, bools, depth - 1, chains)
    if kind == 0:
        # a chained comparison (a < b <= c) holds when each link does, each operand once
        links = draw(st.integers(1, 3)) if chains else 1
        text = draw(num)
        for _ in range(links):
            text += f" {draw(st.sampled_from(_COMPARISONS))} {draw(num)}"
        return f"({text})"
    if kind == 1:
        op = draw(st.sampled_from(["and", "or"]))
        sub = _bool_expr(names, bools, depth - 1, chains)
        return f"({draw(sub)} {op} {draw(sub)})"
    return f"(not {draw(_bool_expr(names, bools, depth - 1, chains))})"


@st.composite
def _mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    text = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.integers(0, 2))
        if action == 0:
            text = text[:position] + draw(st.sampled_from(_GARBAGE)) + text[position:]
        elif action == 1 and text:
            end = min(len(text), position + draw(st.integers(1, 4)))
            text = text[:position] + text[end:]
        else:
            text = text[:position] + draw(st.text(max_size=3)) + text[position:]
    return text


def formulas(
    names: Sequence[str] = ("x", "y", "z"),
    bools: Sequence[str] = ("flag",),
    *,
    max_depth: int = 4,
    well_formed: bool | None = None,
    chains: bool = True,
) -> st.SearchStrategy[str]:
    """Formula text over *names* (numbers) and *bools* (conditions).

    Args:
        names: numeric names the formulas may read.
        bools: boolean names the formulas may read.
        max_depth: nesting depth of generated well-formed formulas.
        well_formed: ``True`` for type-correct formulas only (they may still fail at
            evaluation, e.g. by dividing by zero), ``False`` for mutated ones, ``None`` for both.
        chains: also chained comparisons (``a < b <= c``, each operand evaluated once).
    """
    good = _num_expr(list(names), list(bools), max_depth, chains)
    if well_formed is True:
        return good
    bad = _mutated(good)
    if well_formed is False:
        return bad
    return st.one_of(good, bad)


# --- facts for a scheme ------------------------------------------------------------------
_TIES = [
    Fraction(853, 1000),
    Fraction(7, 8),
    Fraction(1, 8),
    Fraction(5, 1000),
    Fraction(995, 1000),
]


def _decimal_text(value: Fraction) -> str:
    return format_number(
        value if is_terminating(value) else round_fraction(value, 6)
    )  # float-ok: int rounding


def _number_strategy(reference: Fraction, *, allow_zero: bool) -> st.SearchStrategy[str]:
    scale = max(reference, Fraction(1, 100))
    edges = [
        scale * k
        for k in (
            Fraction(1, 2),
            Fraction(99, 100),
            Fraction(1),
            Fraction(101, 100),
            Fraction(3, 2),
            Fraction(2),
        )
    ]
    choices: list[st.SearchStrategy[Fraction]] = [
        st.sampled_from(edges),
        st.sampled_from([t * scale for t in _TIES]),
        st.integers(1, int(200 * scale) or 1).map(lambda n: Fraction(n, 100)),
    ]
    if allow_zero:
        choices.insert(0, st.just(Fraction(0)))
    return st.one_of(*choices).map(_decimal_text)


def _level_shares(label: str, low: Fraction, high: Fraction) -> st.SearchStrategy[dict[str, str]]:
    """A level label with a share inside its half-open band [low, high)."""

    def share(n: int) -> Fraction:
        return low + (high - low) * Fraction(n, 100)

    def inside(value: Fraction) -> bool:
        return value < high or value == high == 1

    def fact(value: Fraction) -> dict[str, str]:
        return {"level": label, "share": _decimal_text(value)}

    return st.integers(0, 100).map(share).filter(inside).map(fact)


def _without(name: str | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def drop(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k != name}

    return drop


def _shared_names(plan: Plan) -> frozenset[str]:
    """Inputs read across units (cohort values, conditions, ranking keys, overrides)."""
    return plan.across_inputs | plan.override_inputs


def _input_strategy(compiled: CompiledScheme, name: str) -> st.SearchStrategy[Any]:
    declared = compiled.scheme.inputs.get(name)
    kind = declared.type if declared is not None else "number"
    if kind == "bool":
        return st.booleans()
    # A value taken over units (a bid, a price) is positive: formulas divide by it.
    return _number_strategy(Fraction(1), allow_zero=name not in compiled.plan.across_inputs)


def _own_names(compiled: CompiledScheme, index: int) -> list[str]:
    """The names a row reads from its own facts (not params, a target, shared facts)."""
    leaf = compiled.plan.nodes[index].leaf
    assert leaf is not None  # noqa: S101
    across = _shared_names(compiled.plan) | compiled.plan.cohort_names | compiled.plan.stages.own
    return [
        name
        for name in leaf.needs
        if name not in leaf.params
        and not (name == "target" and leaf.target_value is not None)
        and name not in across
    ]


def _leaf_strategy(
    compiled: CompiledScheme, index: int, allow_missing: bool, allow_na: bool
) -> st.SearchStrategy[dict[str, Any]]:
    node = compiled.plan.nodes[index]
    leaf = node.leaf
    assert leaf is not None  # noqa: S101
    scheme = compiled.scheme
    reference = leaf.target_value if leaf.target_value is not None else Fraction(1)
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for name in _own_names(compiled, index):
        declared = scheme.inputs.get(name)
        kind = declared.type if declared is not None else "number"
        if kind == "bool":
            parts[name] = st.booleans()
        elif kind == "level":
            scale = scheme.scales[declared.scale or ""]  # type: ignore[union-attr]
            options: list[st.SearchStrategy[Any]] = []
            for level in scale.levels:
                low, high = Fraction(level.min), Fraction(level.max)
                if level.default is not None:
                    options.append(st.just(level.label))
                options.append(_level_shares(level.label, low, high))
            parts[name] = st.one_of(*options)
        else:
            ref = reference if name == leaf.show else max(reference, Fraction(1, 100))
            parts[name] = _number_strategy(ref, allow_zero=name == leaf.show)
    facts = st.fixed_dictionaries(parts)
    if allow_missing and leaf.missing != "error" and leaf.show in parts:
        facts = st.one_of(facts, facts.map(_without(leaf.show)))
    if allow_na and leaf.na != "error":
        facts = st.one_of(facts, st.just({"na": "not applicable"}))
    return facts


def facts_for(
    scheme: Scheme | CompiledScheme | str | Path,
    *,
    allow_missing: bool = True,
    allow_na: bool = True,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid facts for every indicator *scheme* reads, as a facts mapping.

    Numbers come near the indicator's target (0, exactly met, just below and above, half,
    double), at rounding ties (0.853, 7/8, 0.005), and at random two-place values; levels
    are each label (with its default share) or a share inside the level's band; conditions
    are true or false; indicators whose policy allows it are sometimes not applicable or
    miss their actual value. Values are decimal strings, so a counterexample reads like a
    facts file.

    Args:
        scheme: the scheme, compiled or not, or a rule file or pack id to load.
        allow_missing: sometimes leave out an actual value where the policy allows it.
        allow_na: sometimes mark an indicator not applicable where the policy allows it.

    Returns:
        A strategy of facts mappings with ``indicators`` and ``shared``, as
        :meth:`~perfrules.CompiledScheme.evaluate` takes them.

    Examples:
        >>> from hypothesis import given
        >>> from perfrules.testing import facts_for
        >>> compiled = perfrules.compile_scheme(perfrules.load_pack("examples/xinzhou-zfw-2021"))
        >>> @given(facts_for(compiled))
        ... def test_never_above_the_maximum(facts):
        ...     assert compiled.evaluate(facts).total <= 100
        >>> test_never_above_the_maximum()
    """
    compiled = as_compiled(scheme)
    per_leaf = {
        compiled.plan.nodes[i].id: _leaf_strategy(compiled, i, allow_missing, allow_na)
        for i in compiled.plan.leaves
    }
    # a row shown but not counted cannot keep the total from being empty
    counted = [compiled.plan.nodes[i] for i in compiled.plan.counted_leaves]
    own = {compiled.plan.nodes[i].id: _own_names(compiled, i) for i in compiled.plan.leaves}

    def some_indicator_counts(facts: dict[str, Any]) -> bool:
        # Facts where every indicator is excluded cannot be scored (PR502): not valid facts.
        for node in counted:
            leaf = node.leaf
            values = facts["indicators"][node.id]
            assert leaf is not None  # noqa: S101
            if "na" in values:
                if leaf.na != "exclude":
                    return True
            elif leaf.show not in own[node.id] or leaf.show in values or leaf.missing != "exclude":
                return True
        return False

    # Conditions, cohort values and ranking keys read shared facts.
    names = sorted(_shared_names(compiled.plan))
    shared = {name: _input_strategy(compiled, name) for name in names}
    return st.fixed_dictionaries(
        {"indicators": st.fixed_dictionaries(per_leaf), "shared": st.fixed_dictionaries(shared)}
    ).filter(some_indicator_counts)


def cohorts_for(
    scheme: Scheme | CompiledScheme | str | Path,
    *,
    min_units: int = 1,
    max_units: int = 8,
    cohorts: Sequence[str] = ("A", "B"),
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Units scored together, each from :func:`facts_for`.

    Units are named ``u1``, ``u2``, ... and, when the scheme splits units by ``group_by``,
    put in one of *cohorts*. Shared facts repeat across units now and then, so ties and
    equal keys are found.

    Args:
        scheme: the scheme, compiled or not, or a rule file or pack id to load.
        min_units: the fewest units drawn.
        max_units: the most units drawn.
        cohorts: the ``group_by`` values units are put under.

    Returns:
        A strategy of lists of facts mappings, each with its ``unit``, for
        :meth:`~perfrules.CompiledScheme.evaluate_cohort`.
    """
    compiled = as_compiled(scheme)
    group_by = compiled.scheme.cohort.group_by if compiled.scheme.cohort is not None else None
    one = facts_for(compiled, allow_missing=False)

    @st.composite
    def build(draw: st.DrawFn) -> list[dict[str, Any]]:
        drawn = draw(st.lists(one, min_size=min_units, max_size=max_units))
        units: list[dict[str, Any]] = []
        for number, facts in enumerate(drawn, start=1):
            shared = dict(facts["shared"])
            tie: bool = draw(st.booleans())
            if units and tie:  # copy another unit's shared facts: ties
                shared.update(draw(st.sampled_from(units))["shared"])
            if group_by is not None:
                shared[group_by] = draw(st.sampled_from(list(cohorts)))
            for name, (_, by) in compiled.plan.imputations.items():
                gap = draw(st.sampled_from(["given", "given", "absent", "marked"]))
                if gap == "absent":
                    shared.pop(name, None)
                elif gap == "marked":
                    shared[name] = "-"
                if by is not None and draw(st.integers(0, 3)):
                    shared[by] = draw(st.sampled_from(["north", "south"]))
            units.append(
                {"unit": f"u{number}", "indicators": facts["indicators"], "shared": shared}
            )
        return units

    return build()


# --- random schemes ----------------------------------------------------------------------
_SCHEME_FORMULAS = {
    "rate": ("weight * min(x, 1)", "positive"),
    "ratio": ("weight * ratio(x, t)", "positive"),
    "reverse": ("weight * reverse_ratio(x, t)", "reverse"),
    "steps": ("max(weight - 2 * steps(t - x, 0.05), 0)", "positive"),
    "lookup": ('weight * lookup(x, "<0.6", 0, "[0.6, 0.8)", 0.6, "[0.8, 1)", 0.8, 1)', "positive"),
    "level": ("weight * q", "none"),
}
_POLICIES = ["error", "zero", "full", "exclude"]
_PLACES = [0, 1, 2, "none"]
_STATS = ["min", "max", "mean", "median", "sum", "count", "percentile"]
_TIE_RULES = ["competition", "dense", "ordinal"]
_IMPUTE: list[Any] = [
    "cohort_mean",
    "cohort_median",
    {"method": "group_mean", "by": "region"},
    {"method": "group_median", "by": "region"},
    Decimal("0.5"),
]


def _node_options(
    draw: st.DrawFn, entry: dict[str, Any], *, places: bool, policies: bool, leaf: bool
) -> None:
    """Per-node keys: its own places, and a leaf's not-applicable and missing policies."""
    if places and draw(st.integers(0, 3)) == 0:
        entry["places"] = draw(st.sampled_from(_PLACES))
    if leaf and policies:
        for key in ("na", "missing"):
            if draw(st.booleans()):
                entry[key] = draw(st.sampled_from(_POLICIES))
    if not leaf and policies and draw(st.integers(0, 4)) == 0:
        entry["aggregate"] = "reweight"  # rows left out: the others take their weight


def _band_edges(draw: st.DrawFn, top: Decimal, *, halves: bool) -> list[Decimal]:
    """Band edges from 0 to *top*: whole points, and half points when *halves*."""
    whole = int(top)
    cuts: set[Decimal] = set()
    if whole > 1:
        cuts |= {Decimal(c) for c in draw(st.lists(st.integers(1, whole - 1), max_size=3))}
    if halves and whole >= 1:
        extra = draw(st.lists(st.integers(0, whole - 1), max_size=2))
        cuts |= {Decimal(c) + Decimal("0.5") for c in extra}
    return [Decimal(0), *sorted(c for c in cuts if 0 < c < top), top]


def _cohort_tables(
    draw: st.DrawFn, indicators: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """A ``[cohort]`` value read by a new indicator and/or a ``[ranking]`` (or neither).

    Returns the cohort table, the ranking table, and the indicator reading the value.
    """
    kind = draw(st.sampled_from(["values", "ranking", "both"]))
    cohort: dict[str, Any] | None = None
    ranking: dict[str, Any] | None = None
    reader: dict[str, Any] | None = None
    if kind in ("values", "both"):
        stat = draw(st.sampled_from(_STATS))
        value: dict[str, Any] = {"stat": stat}
        if stat != "count":
            value["of"] = "bid"
        if stat == "percentile":
            value["percentile"] = Decimal(draw(st.sampled_from([0, 25, 50, 90, 100])))
        if draw(st.booleans()):
            value["where"] = draw(st.sampled_from(["valid", "bid > 1 and valid", "not valid"]))
        cohort = {"values": {"v": value}}
        if draw(st.booleans()):
            cohort["group_by"] = "lot"
        formula = "weight * min(v, 3) / 3" if stat == "count" else "weight * min(v / bid, 1)"
        reader = {"formula": formula, "direction": "none"}
    if kind in ("ranking", "both"):
        keys: list[dict[str, Any]] = [
            {"by": "total", "order": draw(st.sampled_from(["desc", "asc"]))}
        ]
        if draw(st.booleans()):
            keys.append({"by": "bid", "order": draw(st.sampled_from(["asc", "desc"]))})
        if draw(st.booleans()) and indicators:
            keys.append({"by": draw(st.sampled_from(sorted(indicators))), "order": "desc"})
        ranking = {"keys": keys, "ties": draw(st.sampled_from(_TIE_RULES))}
        if draw(st.booleans()):
            ranking["where"] = "valid"
        if draw(st.integers(0, 3)) == 0:  # units missing too much data are not ranked
            ranking["min_available"] = draw(st.sampled_from([Decimal("0.5"), Decimal(1)]))
        if cohort is None and draw(st.booleans()):
            cohort = {"group_by": "lot"}  # ranks per lot without values
    return cohort, ranking, reader


@st.composite
def schemes(
    draw: st.DrawFn,
    *,
    max_depth: int = 3,
    max_children: int = 3,
    fit: bool = True,
    counted: bool = True,
    policies: bool = True,
    places: bool = True,
    cohorts: bool = False,
) -> Scheme:
    """Random valid schemes, for testing the engine and tools built on it.

    Trees of random depth whose weights add up, bands covering [0, max], rounding at
    random places and modes, formulas from the function library. Each keyword turns on
    one family of shapes (all but *cohorts* on by default; all off gives the schemes of
    earlier releases):

    Args:
        draw: given by hypothesis (call ``schemes()`` without it).
        max_depth: levels of groups.
        max_children: children of each group (and of the top level).
        fit: sometimes ``[scheme] fit = "normalise"`` or ``"cap"`` with a ``max`` other
            than the sum of the rows' weights.
        counted: some rows and groups ``counted = false`` (never every one of a level).
        policies: not-applicable and missing policies in ``[defaults]`` and per row.
        places: places 0, 1, 2 or ``"none"`` at the group level and on single rows and
            groups (the indicator and total levels always draw them), and band edges at
            half points.
        cohorts: sometimes a ``[cohort]`` value (every stat, ``where``, ``group_by``)
            read by a row, a ``[ranking]`` (every tie rule, ``where``), or both; sometimes
            a value over scores (the total or a row's) read with a row's own score by a
            later pass; sometimes a group normalised across the cohort (``minmax``,
            ``distance_to_best`` or ``distance_to_target``); such a scheme is scored with
            :func:`cohorts_for`, not unit by unit.
    """
    groups: dict[str, dict[str, Any]] = {}
    indicators: dict[str, dict[str, Any]] = {}

    def make(parent: str | None, depth: int) -> Decimal:
        total = Decimal(0)
        made: list[tuple[dict[str, Any], Decimal]] = []
        for _ in range(draw(st.integers(1, max_children))):
            node_id = f"n{len(groups) + len(indicators)}"
            if depth < max_depth and draw(st.booleans()):
                entry: dict[str, Any] = {"parent": parent} if parent else {}
                groups[node_id] = entry
                weight = make(node_id, depth + 1)
                entry["weight"] = weight
                _node_options(draw, entry, places=places, policies=policies, leaf=False)
            else:
                weight = Decimal(draw(st.integers(1, 20)))
                kind = draw(st.sampled_from(sorted(_SCHEME_FORMULAS)))
                formula, direction = _SCHEME_FORMULAS[kind]
                entry = {"weight": weight, "formula": formula, "direction": direction}
                if "x" in formula:
                    entry["show"] = "x"
                if parent:
                    entry["parent"] = parent
                _node_options(draw, entry, places=places, policies=policies, leaf=True)
                indicators[node_id] = entry
            if counted and draw(st.integers(0, 4)) == 0:
                entry["counted"] = False
            else:
                total += weight
            made.append((entry, weight))
        if total == 0:  # every child shown but not counted: count the first
            first, weight = made[0]
            del first["counted"]
            total = weight
        return total

    weights = make(None, 1)
    data: dict[str, Any] = {}
    cohort = ranking = None
    inputs: dict[str, Any] = {"x": {}, "t": {}, "q": {"type": "level", "scale": "three"}}
    if cohorts and draw(st.booleans()):
        cohort, ranking, reader = _cohort_tables(draw, indicators)
        inputs |= {"bid": {}, "valid": {"type": "bool"}}
        if draw(st.booleans()):  # a fact imputed from the other units when missing
            inputs["m"] = {"impute": draw(st.sampled_from(_IMPUTE))}
            node_id = f"n{len(groups) + len(indicators)}"
            weight = Decimal(draw(st.integers(1, 20)))
            indicators[node_id] = {"weight": weight, "formula": "weight * min(m, 1)"}
            _node_options(draw, indicators[node_id], places=places, policies=policies, leaf=True)
            weights += weight
        if reader is not None:
            node_id = f"n{len(groups) + len(indicators)}"
            reader["weight"] = Decimal(draw(st.integers(1, 20)))
            indicators[node_id] = reader
            weights += reader["weight"]
    if cohorts and draw(st.integers(0, 3)) == 0:
        # A value over scores, read with a row's own score by a later pass (stages).
        of = draw(st.sampled_from(["total", *sorted(indicators)]))
        own = draw(st.sampled_from(sorted(indicators)))
        stat = draw(st.sampled_from(["min", "max", "mean", "median"]))
        cohort = cohort if cohort is not None else {}
        cohort.setdefault("values", {})["s"] = {"stat": stat, "of": of}
        inputs |= {"bid": {}, "valid": {"type": "bool"}}
        staged: dict[str, Any] = {
            "weight": Decimal(draw(st.integers(1, 20))),
            "formula": f"weight * clamp({own} / ({own} + s + 1), 0, 1)",
            "direction": "none",
        }
        if of == "total" or draw(st.booleans()):  # over the total: never counted in it
            staged["counted"] = False
        else:
            weights += staged["weight"]
        indicators[f"n{len(groups) + len(indicators)}"] = staged
    if cohorts and groups and draw(st.integers(0, 3)) == 0:
        # A group's score normalised across the cohort (a row written out after it).
        method = draw(st.sampled_from(["minmax", "distance_to_best", "distance_to_target"]))
        rule: dict[str, Any] = {"method": method}
        if method == "distance_to_target":
            rule["target"] = Decimal(draw(st.integers(1, 20)))
        groups[draw(st.sampled_from(sorted(groups)))]["normalise"] = rule
    top = weights
    fitted = draw(st.sampled_from([None, "normalise", "cap"])) if fit else None
    if fitted is not None:
        top = Decimal(draw(st.integers(max(1, int(weights) // 2), int(weights) * 2)))
        if top == weights:
            top += 1
    edges = _band_edges(draw, top, halves=places)
    bands = [
        {"label": f"G{i}", "min": edges[i], "max": edges[i + 1]}
        for i in reversed(range(len(edges) - 1))
    ]
    scheme_table: dict[str, Any] = {"id": "random", "title": "random scheme", "max": top}
    if fitted is not None:
        scheme_table["fit"] = fitted
    data["scheme"] = scheme_table
    data["rounding"] = {
        "mode": draw(st.sampled_from(ROUNDING_MODES)),
        "indicator": draw(st.sampled_from(_PLACES)),
        "group": draw(st.sampled_from(_PLACES)) if places else "none",
        "total": draw(st.sampled_from(_PLACES)),
    }
    if policies:
        data["defaults"] = {
            "na": draw(st.sampled_from(_POLICIES)),
            "missing": draw(st.sampled_from(_POLICIES)),
        }
    data |= {
        "bands": bands,
        "inputs": inputs,
        "scales": {
            "three": {
                "levels": [
                    {"label": "met", "min": Decimal("0.8"), "max": 1, "default": 1},
                    {
                        "label": "partly",
                        "min": Decimal("0.6"),
                        "max": Decimal("0.8"),
                        "default": Decimal("0.7"),
                    },
                    {
                        "label": "not met",
                        "min": 0,
                        "max": Decimal("0.6"),
                        "default": Decimal("0.3"),
                    },
                ]
            }
        },
        "groups": groups,
        "indicators": indicators,
    }
    if cohort is not None:
        data["cohort"] = cohort
    if ranking is not None:
        data["ranking"] = ranking
    return Scheme.model_validate(data)


def scheme_toml(scheme: Scheme | CompiledScheme) -> str:
    """*scheme* written as a rule file (TOML): a drawn scheme to save, load or read.

    Keys left at their defaults are left out; ``load_scheme`` of the text gives *scheme* back.
    """
    model = scheme.scheme if isinstance(scheme, CompiledScheme) else scheme
    data = model.model_dump(mode="python", exclude_defaults=True)
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            for item in value:
                lines += [f"[[{_toml_key(key)}]]", *_toml_pairs(item), ""]
        else:
            _toml_table([key], value, lines)
    return "\n".join(lines)


def _toml_table(path: list[str], table: dict[str, Any], lines: list[str]) -> None:
    lines += [f"[{'.'.join(_toml_key(p) for p in path)}]", *_toml_pairs(table), ""]
    for key, value in table.items():
        if isinstance(value, dict):
            _toml_table([*path, key], value, lines)


def _toml_pairs(table: dict[str, Any]) -> list[str]:
    return [
        f"{_toml_key(k)} = {_toml_text(v)}" for k, v in table.items() if not isinstance(v, dict)
    ]


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "")
    return key if bare.isascii() and bare.isalnum() else _toml_text(key)


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_text(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- three-line use ----------------------------------------------------------------------
def _distance_to_band_edge(
    compiled: CompiledScheme, facts: dict[str, Any]
) -> float:  # float-ok: a search heuristic, never a score
    try:
        total = compiled.evaluate(facts, trace=False).total_exact
    except Exception:  # noqa: BLE001 - the invariants report failures; this only steers
        return 0.0
    edges = [low for _, low, _, _ in compiled.plan.bands]
    return float(min(abs(total - edge) for edge in edges))  # float-ok: a search heuristic


def scheme_properties(
    scheme: Scheme | CompiledScheme | str | Path,
    *,
    max_examples: int = 200,
    monotonic: bool = True,
    on_example: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[], None]:
    """A pytest test (no arguments) that checks every invariant of *scheme* on many units.

    Static problems (weights, bands) fail at once; everything else is searched with
    :func:`facts_for`, steered towards totals near the band edges, and a failure shows the
    smallest facts found, as a facts file. A scheme with ``[cohort]`` or ``[ranking]`` is
    searched with whole cohorts (:func:`cohorts_for`): the cohort invariants, then every
    unit's with its cohort's values.

    Args:
        scheme: the scheme, compiled or not, or a rule file or pack id to load.
        max_examples: units (or cohorts) hypothesis tries.
        monotonic: also check that a better actual value never lowers a score.
        on_example: called with every facts mapping tried (to count or collect them).

    Returns:
        A test function for pytest to collect (assign it to a ``test_...`` name).

    Raises:
        InvariantError: (when the returned test runs) the violations, with the smallest
            counterexample as a facts file.

    Examples:
        >>> from perfrules.testing import scheme_properties
        >>> test_seed = scheme_properties("examples/xinzhou-zfw-2021", max_examples=20)
        >>> test_seed()  # pytest runs it; it raises InvariantError on a violation
    """
    compiled = as_compiled(scheme)
    static = [v for v in check_scheme(compiled) if v.invariant != "double_rounding"]
    if compiled.plan.has_cohort:
        return _cohort_properties(compiled, static, max_examples, monotonic, on_example)

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        # no "explain" phase: it re-runs failing examples under a line tracer, which is slow
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )
    @given(facts=facts_for(compiled))
    def test_scheme_properties(facts: dict[str, Any]) -> None:
        if static:
            raise InvariantError(static)
        if on_example is not None:
            on_example(facts)
        target(-_distance_to_band_edge(compiled, facts), label="distance to a band edge")
        violations = unit_violations(compiled, facts, monotonic=monotonic)
        if violations:
            raise InvariantError(violations, facts)

    return test_scheme_properties


class PropertyReport(NamedTuple):
    """How :func:`property_report` went."""

    #: The ``properties`` entry of ``perfrules test --properties --format json``.
    entry: dict[str, Any]
    #: The failure's whole text in the language asked for ("" when none).
    text: str
    #: A failing unit's facts as a facts file (``None``: none, or a cohort's units failed).
    facts: str | None


def property_report(
    scheme: Scheme | CompiledScheme | str | Path,
    *,
    max_examples: int = 200,
    lang: Lang = "en",
) -> PropertyReport:
    """Run :func:`scheme_properties` and say how it went, as ``perfrules test`` says it.

    The entry holds ``passed``, ``examples`` (how many were tried) and
    :meth:`InvariantError.to_dict`'s ``message``, ``failures``, ``messages`` (in *lang*) and
    ``counterexample`` (empty when the invariants hold).
    """
    count = 0

    def seen(_: dict[str, Any]) -> None:
        nonlocal count
        count += 1

    test = scheme_properties(scheme, max_examples=max_examples, on_example=seen)
    try:
        test()
    except InvariantError as exc:
        entry = {"passed": False, "examples": count, **exc.to_dict(lang)}
        facts = None if exc.facts is None else facts_toml(exc.facts)
        return PropertyReport(entry, exc.text(lang), facts)
    held: dict[str, Any] = {"message": "", "failures": [], "messages": [], "counterexample": None}
    return PropertyReport({"passed": True, "examples": count, **held}, "", None)


def _retaken(
    compiled: CompiledScheme, units: list[dict[str, Any]], position: int, facts: Any
) -> CohortValues:
    """The cohort values with the unit at *position* giving *facts* instead."""
    return compiled.cohort_values([*units[:position], facts, *units[position + 1 :]])


def _cohort_properties(
    compiled: CompiledScheme,
    static: list[Violation],
    max_examples: int,
    monotonic: bool,
    on_example: Callable[[dict[str, Any]], None] | None,
) -> Callable[[], None]:
    """:func:`scheme_properties` for a scheme scored in cohorts: draws whole cohorts."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    )
    @given(units=cohorts_for(compiled))
    def test_cohort_properties(units: list[dict[str, Any]]) -> None:
        if static:
            raise InvariantError(static)
        if on_example is not None:
            on_example({"units": units})  # one example: one cohort
        values = compiled.cohort_values(units)
        results = compiled.evaluate_cohort(units)
        violations = cohort_violations(compiled, units, results)
        staged = bool(compiled.plan.stages.values_after)  # values that move with a score
        for position, (facts, result) in enumerate(zip(units, results, strict=True)):
            if isinstance(result, FactsError) and all(
                d.code == "PR415" for d in result.diagnostics
            ):
                continue  # no unit of its cohort qualifies: nothing to take the value over
            retake = partial(_retaken, compiled, units, position) if staged else None
            violations += unit_violations(
                compiled, facts, monotonic=monotonic, cohort=values, retake=retake
            )
        if violations:
            raise InvariantError(violations, units=units)

    return test_cohort_properties
