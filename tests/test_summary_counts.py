"""A streamed batch's summary counts its totals, never keeps them: the same mean and median."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules.workflows._summary import Summary, mean_text

SEED = Path(__file__).resolve().parent.parent / "rules" / "examples" / "xinzhou-zfw-2021"


TOTALS = st.one_of(
    st.integers(0, 60).map(lambda v: v * 37),  # a scheme's totals: near one another
    st.integers(-(2**62), 2**62),  # far apart: counted by value, not by a counter each
)


@given(chunks=st.lists(st.lists(TOTALS, max_size=30), min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_the_mean_and_median_of_counted_totals_are_those_of_every_total(chunks):
    # The totals are counted, not kept one integer a unit: the summary must still be the
    # exact mean and median of every unit's total, however far apart they lie.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    summary = Summary(compiled)
    every: list[int] = []
    for totals in chunks:
        summary.add_totals({"差": len(totals)}, np.asarray(totals, dtype=np.int64), {})
        every.extend(totals)
    assert summary._distinct_totals() == Counter(every)
    got = summary.to_dict()
    assert got["scored"] == len(every)
    if not every:
        assert got["mean_total"] is None
        return
    every.sort()
    n = len(every)
    mean = Fraction(sum(every), n * 100)
    median = Fraction(every[(n - 1) // 2] + every[n // 2], 200)
    assert got["mean_total"] == mean_text(mean)
    assert got["median_total"] == mean_text(median)


@given(chunks=st.lists(st.lists(st.integers(-50, 50), max_size=20), min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_counters_grow_to_the_span_seen_and_no_further(chunks):
    # Each chunk's span widens the counters on either side; they never hold more than
    # the span of the totals seen, and past the limit a chunk is counted by value.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    summary = Summary(compiled)
    seen: list[int] = []
    for totals in chunks:
        summary.add_totals({"差": len(totals)}, np.asarray(totals, dtype=np.int64), {})
        seen.extend(totals)
    if seen:
        assert summary._counters is not None
        assert summary._low == min(seen)
        assert len(summary._counters) == max(seen) - min(seen) + 1
        assert not summary._counted  # near one another: every total has its counter
    assert summary._distinct_totals() == Counter(seen)


def test_a_million_units_are_held_as_counters_not_as_units():
    # A streamed batch of a million units between 0 and 100.00: 10,001 counters at most.
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    summary = Summary(compiled)
    rng = np.random.default_rng(7)
    for _ in range(10):
        totals = rng.integers(0, 10_001, size=100_000)
        summary.add_totals({"差": len(totals)}, totals, {})
    assert summary.scored == 1_000_000
    assert summary._counters is not None
    assert len(summary._counters) <= 10_001
    assert not summary._scaled
    assert not summary._exact
    assert not summary._counted


OMB = Path(__file__).resolve().parent.parent / "rules" / "us" / "omb-part"
_PROGRAMS = (
    "unit,shared.has_measures,"
    + ",".join(f"{s}.{q}.answer" for s in (1, 2, 3) for q in (1, 2, 3, 4))
    + ","
    + ",".join(f"4.{q}.extent" for q in range(1, 6))
    + "\n"
)


def _programs(tmp_path: Path) -> Path:
    rows = [("P1", "true", "true", 3), ("P2", "false", "true", 3)]
    rows += [("P3", "true", "false", 1), ("P4", "false", "false", 1)]
    text = _PROGRAMS + "".join(
        ",".join([unit, measures, *[answer] * 12, *[str(extent)] * 5]) + "\n"
        for unit, measures, answer, extent in rows
    )
    path = tmp_path / "programs.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_grade_override_is_counted_in_every_batch_summary(tmp_path):
    # OMB PART's "Results Not Demonstrated" replaces the band of two programs: the summary
    # counts them under it, so the grades add up to the units that scored.
    from click.testing import CliRunner

    from perfrules.cli import cli
    from perfrules.workflows._batch import score_batch
    from perfrules.workflows._stream import stream_batch

    compiled = perfrules.compile_scheme(perfrules.load_scheme(OMB / "scheme.toml"))
    source = _programs(tmp_path)
    want = {"Effective": 1, "Ineffective": 1, "Results Not Demonstrated": 2}
    streamed = stream_batch(compiled, source, tmp_path / "out.csv").summary(compiled)
    in_memory = score_batch(compiled, source).summary(compiled)
    for summary in (streamed, in_memory):
        assert {k: v for k, v in summary["grades"].items() if v} == want
        assert sum(summary["grades"].values()) == summary["scored"] == 4
    shown = CliRunner().invoke(
        cli, ["--lang", "en", "score", str(OMB), str(source), "--out", str(tmp_path / "o.csv")]
    )
    assert "Ineffective 1, Results Not Demonstrated 2" in shown.stderr


def test_the_english_summary_names_the_grades_in_english(tmp_path):
    from click.testing import CliRunner

    from perfrules.cli import cli

    units = tmp_path / "units.csv"
    facts = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    header = ",".join(["unit", *(f"{i}.actual" for i in facts.scheme.indicators)])
    row = ",".join(["u1", *["95%"] * len(facts.scheme.indicators)])
    units.write_text(header + "\n" + row + "\n", encoding="utf-8")
    args = ["score", str(SEED / "scheme.toml"), str(units), "--out", str(tmp_path / "o.csv")]
    english = CliRunner().invoke(cli, ["--lang", "en", *args])
    assert "grades: Excellent 0, Good 1, Fair 0, Poor 0" in english.stderr
    chinese = CliRunner().invoke(cli, ["--lang", "zh", *args])
    assert "优秀 0, 良好 1, 中等 0, 差 0" in chinese.stderr
