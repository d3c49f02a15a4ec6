"""Hypothesis strategies and ready-made invariants for rule authors and tool builders.

Install with ``pip install perfrules[testing]``. This is the only perfrules module that
imports hypothesis; ``import perfrules`` never does.

Strategies:

* :func:`formulas` — random formula text in perfrules' language, well-formed or not;
* :func:`numbers` — exact numbers at the edges that break scoring code (0, ties, limits).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from hypothesis import strategies as st

__all__ = ["formulas", "numbers"]

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
    """
    return st.one_of(
        st.sampled_from([Fraction(0), Fraction(1), Fraction(-1), Fraction(7, 48), Fraction(1, 3)]),
        st.integers(-100, 100).map(Fraction),
        st.integers(-10_000, 10_000).map(lambda n: Fraction(n, 100)),
        st.fractions(min_value=-max_abs, max_value=max_abs, max_denominator=1000),
    )


@st.composite
def _num_expr(draw: st.DrawFn, names: Sequence[str], bools: Sequence[str], depth: int) -> str:
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
    sub = _num_expr(names, bools, depth - 1)
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
        test = draw(_bool_expr(names, bools, depth - 1))
        return f"({draw(sub)} if {test} else {draw(sub)})"
    if kind == 5:
        pairs = draw(st.integers(1, 3))
        parts = [draw(sub)]
        for _ in range(pairs):
            parts += [f'"{draw(st.sampled_from(_INTERVALS))}"', draw(sub)]
        if draw(st.booleans()):
            parts.append(draw(sub))
        return f"lookup({', '.join(parts)})"
    flags = [draw(_bool_expr(names, bools, depth - 1)) for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        return f"count({', '.join(flags)})"
    return "checklist(" + ", ".join(f"{f}, {draw(sub)}" for f in flags) + ")"


@st.composite
def _bool_expr(draw: st.DrawFn, names: Sequence[str], bools: Sequence[str], depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        use_name: bool = draw(st.booleans())
        if bools and use_name:
            return draw(st.sampled_from(list(bools)))
        return draw(st.sampled_from(["True", "False"]))
    kind = draw(st.integers(0, 2))
    num = _num_expr(names, bools, depth - 1)
    if kind == 0:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        return f"({draw(num)} {op} {draw(num)})"
    if kind == 1:
        op = draw(st.sampled_from(["and", "or"]))
        sub = _bool_expr(names, bools, depth - 1)
        return f"({draw(sub)} {op} {draw(sub)})"
    return f"(not {draw(_bool_expr(names, bools, depth - 1))})"


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
) -> st.SearchStrategy[str]:
    """Formula text over *names* (numbers) and *bools* (conditions).

    Args:
        names: numeric names the formulas may read.
        bools: boolean names the formulas may read.
        max_depth: nesting depth of generated well-formed formulas.
        well_formed: ``True`` for type-correct formulas only (they may still fail at
            evaluation, e.g. by dividing by zero), ``False`` for mutated ones, ``None`` for both.
    """
    good = _num_expr(list(names), list(bools), max_depth)
    if well_formed is True:
        return good
    bad = _mutated(good)
    if well_formed is False:
        return bad
    return st.one_of(good, bad)
