"""Malformed rule and facts files never crash: every mutant gives diagnostics or a result.

Random mutations of the shipped files (lines deleted, duplicated or swapped, characters
flipped, text truncated, values retyped) go through the loader, the checks and the engine.
The only acceptable outcomes are a clean load, a RuleFileError/FactsError with located
diagnostics, and — on the command line — exit codes 0, 1 or 2, never 3 (an internal error).
"""

from __future__ import annotations

import os

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfrules
from conftest import MOF, SEED
from perfrules.cli import cli
from perfrules.errors import FactsError
from perfrules.rules._front import check_path

EXAMPLES = int(os.environ.get("PERFRULES_MUTANTS", "300"))
SOURCES = [
    (SEED / "scheme.toml").read_text(encoding="utf-8"),
    (MOF / "scheme.toml").read_text(encoding="utf-8"),
]
FACTS = (SEED / "facts.toml").read_text(encoding="utf-8")
SNIPPETS = [
    "=",
    "[",
    "]",
    '"',
    "'",
    "\n",
    "[[bands]]",
    "weight = ",
    "-1",
    "1e999",
    "nan",
    "{",
    "}",
    ",",
    "\ufeff",
    "\x00",
    "中文",
    'formula = "("',
    'parent = "x"',
    'extends = "self.toml"',
]


@st.composite
def mutants(draw, texts):
    text = draw(st.sampled_from(texts))
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.integers(0, 5))
        index = draw(st.integers(0, max(len(lines) - 1, 0)))
        if action == 0 and lines:
            del lines[index]
        elif action == 1 and lines:
            lines.insert(index, lines[index])
        elif action == 2 and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif action == 3 and lines:
            line = lines[index]
            at = draw(st.integers(0, len(line)))
            lines[index] = line[:at] + draw(st.sampled_from(SNIPPETS)) + line[at:]
        elif action == 4:
            cut = draw(st.integers(0, len(lines)))
            lines = lines[:cut]
        elif lines:
            lines[index] = draw(st.text(max_size=20))
    return "\n".join(lines)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants(SOURCES))
def test_mutated_rule_files_give_diagnostics_not_crashes(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("m") / "scheme.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    scheme, _, diagnostics = check_path(path)
    for d in diagnostics:
        assert d.code.startswith("PR")
        assert d.message("zh")
        assert d.message("en")
        if d.code == "PR100":  # every TOML syntax error has a line and a column
            assert d.line > 0, d.format("en")
            assert d.column > 0, d.format("en")
    if scheme is not None and not any(d.severity == "error" for d in diagnostics):
        compiled = perfrules.compile_scheme(scheme)
        try:
            compiled.evaluate(perfrules.load_facts(SEED / "facts.toml"))
        except FactsError as exc:
            assert exc.diagnostics
    outcome = CliRunner().invoke(cli, ["check", str(path), "--lang", "zh"])
    assert outcome.exit_code in (0, 1, 2), outcome.output
    assert "Traceback" not in outcome.output


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants([FACTS]))
def test_mutated_facts_files_give_diagnostics_not_crashes(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("f") / "facts.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    outcome = CliRunner().invoke(
        cli, ["score", str(SEED / "scheme.toml"), str(path), "--format", "json"]
    )
    assert outcome.exit_code in (0, 1, 2), outcome.output
    assert "Traceback" not in outcome.output
