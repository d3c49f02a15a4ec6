"""The generated gap (engine/_grading.py ``gap_function``) is the general gap, faster.

One function generated per plan keys the counted rows, finds the fewest that reach the next
band and checks that band in one body. For every unit it answers, its answer must be exactly
what the general way gives — the loss order of ``loss_order`` and the totals' own
``fewest`` — on the seed (each row's key written out), on a scheme too large for that (the
keys made over arrays), under a capped total and on random schemes; when it does not answer
(rows over different denominators, a row left out), the general way must be the one taken.
"""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.engine._grading import _SLOW, gap_function, gap_rows, loss_order
from perfrules.engine._totals import totals_of
from perfrules.testing import facts_for, schemes

SEED = "rules/examples/xinzhou-zfw-2021"


def general(plan, values, pres, position, total_num, total_den):
    """gap_rows's answer the general way: the loss order, then Totals.fewest."""
    totals = totals_of(plan)
    losses = loss_order(plan, values)
    low_num, low_den = totals.edges[position - 1][0], totals.edges[position - 1][1]
    fn, fd = totals.factor_pair(Fraction(0))
    rows = totals.fewest(
        position, values, pres, Fraction(0), losses.rows, losses.common, losses.points()
    )
    shortfall = low_num * total_den - total_num * low_den
    return position - 1, shortfall, low_den * total_den, rows, fn, fd


def check(compiled, facts):
    """The generated gap's answer for *facts* is the general one (or it declines)."""
    plan = compiled.plan
    result = compiled.evaluate(facts, trace=False)
    record = result._source
    values, pres, position = record.out[2], record.out[3], record.out[5]
    fast = gap_function(plan)
    assert fast is not None
    if position == 0:
        return None
    got = fast(values, pres, position, values[0], values[1])
    counted = [2 * i for i in plan.counted_leaves]
    if got is _SLOW:  # only when a counted row is left out or the denominators differ
        assert any(values[k] is None for k in counted) or len({values[k + 1] for k in counted}) > 1
        return got
    want = general(plan, values, pres, position, values[0], values[1])
    assert got[:3] == want[:3]
    assert list(got[3]) == list(want[3])
    assert got[4:] == want[4:]
    assert gap_rows(plan, position, values[0], values[1], None, Fraction(0), (values, pres)) == got
    return got


def _fresh(rng):
    return Decimal(rng.randrange(100_000, 1_000_000)).scaleb(-rng.choice((6, 7)))


def test_the_seed_s_generated_gap_is_the_general_gap_on_fresh_units():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    names = list(compiled.scheme.indicators)
    rng = random.Random(7)
    answered = 0
    for _ in range(400):
        actual = {ident: {"actual": _fresh(rng) * rng.choice((1, 1, 100))} for ident in names}
        got = check(compiled, {"indicators": actual})
        answered += got is not None and got is not _SLOW
    assert answered > 100  # most units are answered by the generated gap itself


def _seed_like(n, top=None, fit=""):
    top = n if top is None else top
    lines = ["[scheme]", 'id = "wide"', 'title = "wide"', f"max = {top}", fit]
    lines += ["[rounding]", "indicator = 2", "total = 2", "[defaults]"]
    lines += ['formula = "weight * min(actual, 1)"', "[inputs]", "actual = {}"]
    for label, low, high in (("A", 90, 101), ("B", 80, 90), ("C", 60, 80), ("D", 0, 60)):
        lines += ["[[bands]]", f'label = "{label}"', f"min = {top * low // 100}"]
        lines.append(f"max = {min(top * high // 100, top)}")
    for i in range(n):
        lines += [f"[indicators.r{i}]", "weight = 1"]
    return "\n".join(lines) + "\n"


def test_a_wide_scheme_s_generated_gap_is_the_general_gap(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(_seed_like(100), encoding="utf-8")  # more rows than are written out
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    rng = random.Random(11)
    answered = 0
    for _ in range(150):
        low = rng.choice((0.5, 0.8, 0.9))
        actual = {
            f"r{i}": {"actual": Decimal(rng.randint(int(low * 100), 100)) / 100}
            for i in range(100)
        }
        got = check(compiled, {"indicators": actual})
        answered += got is not None and got is not _SLOW
    assert answered > 50


def test_under_a_capped_total_the_generated_gap_is_the_general_gap(tmp_path):
    # rows scored above their weight, a total capped at its maximum
    text = _seed_like(20, top=18, fit='fit = "cap"')  # rows weighing 20, capped at 18
    path = tmp_path / "capped.toml"
    path.write_text(text, encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    assert totals_of(compiled.plan).capped
    rng = random.Random(5)
    answered = 0
    for _ in range(300):
        actual = {f"r{i}": {"actual": Decimal(rng.randint(60, 100)) / 100} for i in range(20)}
        got = check(compiled, {"indicators": actual})
        answered += got is not None and got is not _SLOW
    assert answered > 20


def _coarse_total(mode, n):
    """*n* rows at 2 places, the total at 0 places in *mode*, bands at halves."""
    lines = ["[scheme]", 'id = "coarse"', 'title = "coarse"', f"max = {n}"]
    lines += ["[rounding]", f'mode = "{mode}"', "indicator = 2", "total = 0", "[defaults]"]
    lines += ['formula = "weight * min(actual, 1)"', "[inputs]", "actual = {}"]
    for label, low, high in (("A", n - 0.5, n), ("B", n - 3.5, n - 0.5), ("C", 0, n - 3.5)):
        lines += ["[[bands]]", f'label = "{label}"', f"min = {low}", f"max = {high}"]
    for i in range(n):
        lines += [f"[indicators.r{i}]", "weight = 1"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("n", [20, 80])  # each key written out; a heap of keys
@pytest.mark.parametrize("mode", ["half_up", "half_even", "down", "up"])
def test_a_total_rounded_coarser_than_its_rows_has_the_general_gap(tmp_path, mode, n):
    # Rounding the total up may need fewer rows than the points lost say, rounding it down
    # more, up to every row (band A at 19.5 is 20 rounded down: every point lost back).
    path = tmp_path / "coarse.toml"
    path.write_text(_coarse_total(mode, n), encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
    rng = random.Random(3)
    sizes = set()
    for _ in range(300):
        actual = {
            f"r{i}": {
                "actual": Decimal(
                    rng.choice((100,) * (3 if n == 20 else 12) + (rng.randint(40, 99),))
                )
                / 100
            }
            for i in range(n)
        }
        got = check(compiled, {"indicators": actual})
        if got is not None and got is not _SLOW:
            sizes.add(len(got[3]))
    assert len(sizes) > 3  # short and long lists of rows to raise alike


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_schemes_generated_gap_is_the_general_gap(data):
    compiled = perfrules.compile_scheme(data.draw(schemes(), label="scheme"))
    if gap_function(compiled.plan) is None:
        return
    facts = data.draw(facts_for(compiled), label="facts")
    try:
        check(compiled, facts)
    except perfrules.errors.FactsError:
        return


def test_a_unit_with_a_row_left_out_takes_the_general_way(tmp_path):
    for n in (20, 100):  # each key written out, and keys over arrays
        path = tmp_path / f"left-out-{n}.toml"
        text = _seed_like(n).replace("[defaults]", '[defaults]\nmissing = "exclude"', 1)
        path.write_text(text, encoding="utf-8")
        compiled = perfrules.compile_scheme(perfrules.load_scheme(path))
        actual = {f"r{i}": {"actual": "0.5"} for i in range(1, n)}  # r0 left out
        result = compiled.evaluate({"indicators": actual}, trace=False)
        assert check(compiled, {"indicators": actual}) is _SLOW
        assert compiled.gap(result).improve  # answered the general way
