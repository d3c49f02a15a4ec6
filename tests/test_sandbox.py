"""The expression sandbox: a corpus of hostile formulas, the limits at and past their values.

Every entry must end in an ExpressionError with the expected code, or in a bounded, correct
value. Nothing else may escape, nothing may hang, and the host must keep working afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from perfrules.errors import ExpressionError
from perfrules.expressions import LIMITS, safe_eval

NAMES = {"weight": 6, "actual": "0.8", "target": 1, "flag": True, "zero": 0}

#: (formula, expected code or exact value)
CORPUS: list[tuple[str, object]] = [
    # --- reaching Python objects -----------------------------------------------------
    ("().__class__.__bases__[0].__subclasses__()", "PR306"),
    ("weight.__class__", "PR306"),
    ("weight.real", "PR306"),
    ("__import__('os').system('id')", "PR306"),
    ("__import__('os')", "PR303"),
    ("__builtins__", "PR319"),
    ("_secret", "PR319"),
    ("globals()", "PR303"),
    ("locals()", "PR303"),
    ("eval('1')", "PR303"),
    ("exec('1')", "PR303"),
    ("open('/etc/passwd')", "PR303"),
    ("getattr(weight, 'real')", "PR303"),
    ("type(weight)", "PR303"),
    ("min.__self__", "PR306"),
    ("min(weight, 1).numerator", "PR306"),
    ("weight[0]", "PR306"),
    ("weight[::-1]", "PR306"),
    # --- format strings --------------------------------------------------------------
    ("'{0.__class__}'.format(weight)", "PR306"),
    ("f'{weight}'", "PR306"),
    ("f'{weight:\\x7B.__class__\\x7D}'", "PR306"),
    ("'%s' % weight", "PR306"),
    ("'{}'.format_map({})", "PR306"),
    # --- frames, generators, lambdas, comprehensions, walrus ------------------------
    ("(x for x in ()).gi_frame", "PR306"),
    ("(lambda: 1)()", "PR306"),
    ("lambda: 1", "PR306"),
    ("[x for x in (1, 2)]", "PR306"),
    ("{x: 1 for x in (1,)}", "PR306"),
    ("{1, 2}", "PR306"),
    ("[1, 2]", "PR306"),
    ("(1, 2)", "PR306"),
    ("{'a': 1}", "PR306"),
    ("(w := 3)", "PR306"),
    ("await weight", "PR306"),
    ("min(*[1, 2])", "PR306"),
    ("min(weight, key=abs)", "PR306"),
    # --- statements ------------------------------------------------------------------
    ("import os", "PR301"),
    ("weight = 3", "PR301"),
    ("weight; 1", "PR301"),
    ("if weight: 1", "PR301"),
    ("def f(): pass", "PR301"),
    # --- operators outside the language ----------------------------------------------
    ("weight // 2", "PR306"),
    ("weight % 2", "PR306"),
    ("weight << 2", "PR306"),
    ("weight & 1", "PR306"),
    ("~weight", "PR306"),
    ("weight @ weight", "PR306"),
    ("weight is None", "PR306"),
    ("weight in target", "PR306"),
    ("None", "PR306"),
    ("...", "PR306"),
    ("b'x'", "PR306"),
    # --- type confusion --------------------------------------------------------------
    ("'a' * 3", "PR307"),
    ("'a' + 'b'", "PR307"),
    ("flag + 1", "PR307"),
    ("1 if weight else 2", "PR307"),
    ("not weight", "PR307"),
    ("weight and flag", "PR307"),
    ("'abc'", "PR321"),
    # --- CPU and memory bombs --------------------------------------------------------
    ("9**9**9", "PR314"),
    ("10**-10**9", "PR314"),
    ("(10**100)**100", "PR315"),
    ("2**0.5", "PR324"),
    ("2 ** (1 / 1000)", "PR314"),
    ("(-8) ** (1 / 3)", "PR314"),
    ("exp(10 ** 9)", "PR317"),
    ("ln(0)", "PR317"),
    ("log10(-1)", "PR317"),
    ("sqrt(-1)", "PR317"),
    ("geomean(1, -1)", "PR317"),
    ("exp(700) ** 100", "PR324"),
    ("floor((" + " + ".join(f"ln({i})" for i in range(2, 62)) + ") * (10 ** 100) ** 9)", "PR324"),
    ("weight ** 101", "PR314"),
    ("0 ** -1", "PR316"),
    ("1e309", "PR313"),
    ("1e-400", "PR313"),
    ("0x" + "f" * 100, "PR313"),
    ("0o777", "PR313"),
    ("0b1010", "PR313"),
    ("1j", "PR313"),
    ("9" * 31, "PR313"),
    ("9" * 4000, "PR313"),
    ("'" + "a" * 300 + "'", "PR313"),
    ("(" * 100_000 + "1" + ")" * 100_000, "PR310"),
    ("(" * 33 + "1" + ")" * 33, "PR311"),
    ("-" * 4000 + "1", "PR311"),
    ("not " * 1000 + "flag", "PR311"),
    ("1+" * 2000 + "1", "PR311"),
    ("1+" * 700 + "1", "PR311"),
    ("+".join(["min(" + ", ".join(["1"] * 60) + ")"] * 17), "PR312"),
    ("min(" + "1, " * 70 + "1)", "PR312"),
    ("x" * 5000, "PR310"),
    # --- characters ------------------------------------------------------------------
    ("weight\x00", "PR308"),
    ("weight\u202e + 1", "PR308"),
    ("weight\u200b", "PR308"),
    ("\ufeffweight", "PR308"),
    ("ｗｅｉｇｈｔ", "PR308"),
    ("weight（1）", "PR308"),
    ("weight × 2", "PR308"),
    ("𝐰eight", "PR309"),
    ("wеight", "PR309"),  # Cyrillic е
    ("__ｃｌａｓｓ__", "PR308"),
    # --- arithmetic errors -----------------------------------------------------------
    ("1 / 0", "PR316"),
    ("weight / zero", "PR316"),
    ("ratio(weight, zero)", "PR316"),
    ("steps(1, 0)", "PR317"),
    ("clamp(1, 2, 1)", "PR317"),
    ('lookup(5, "(0, 1]", 1)', "PR318"),
    ('lookup(1, "{0.__class__}", 1)', "PR317"),
    ("min()", "PR304"),
    ("abs(1, 2)", "PR304"),
    ("mini(1)", "PR303"),
    ("", "PR322"),
    ("   ", "PR322"),
    # --- bounded, correct values -----------------------------------------------------
    ("weight * min(actual / target, 1)", Fraction(24, 5)),
    ("10 ** 100 / 10 ** 99", Fraction(10)),
    ("2 ** -100 * 2 ** 100", Fraction(1)),
    ("0.1 + 0.2 == 0.3", True),
    ("(((((((((((weight)))))))))))", Fraction(6)),
    ("1 if flag else 1 / zero", Fraction(1)),
    ("-" * 60 + "1", Fraction(1)),
]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 60


@pytest.mark.parametrize(("text", "expected"), CORPUS, ids=[repr(t[:30]) for t, _ in CORPUS])
def test_hostile_formula(text, expected):
    if isinstance(expected, str):
        with pytest.raises(ExpressionError) as info:
            safe_eval(text, NAMES)
        assert info.value.code == expected, info.value
        assert len(info.value.message("en")) <= 300
        assert info.value.offset >= 0
    else:
        assert safe_eval(text, NAMES) == expected


@pytest.mark.parametrize(
    "value",
    [
        0.5,
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("-Infinity"),
        Decimal("1E+30"),
        10**40,
        Fraction(1, 10**31),
        print,
        [1],
        {"a": 1},
        object(),
        sys,
        "1e999",
    ],
)
def test_hostile_bound_values_are_refused(value):
    with pytest.raises(ExpressionError) as info:
        safe_eval("x", {"x": value})
    assert info.value.code == "PR320"


def test_a_callable_bound_as_a_name_is_never_called():
    called = []
    with pytest.raises(ExpressionError):
        safe_eval("f", {"f": lambda: called.append(1)})
    assert called == []


class TestLimitsAtAndPastTheirValue:
    def test_length(self):
        at = "1" + "+1" * ((LIMITS["length"] - 1) // 2)
        assert len(at) <= LIMITS["length"]
        with pytest.raises(ExpressionError) as info:  # accepted by the length check,
            safe_eval(at)
        assert info.value.code != "PR310"  # refused later for its size
        with pytest.raises(ExpressionError) as info:
            safe_eval(at + " " * (LIMITS["length"] - len(at) + 1))
        assert info.value.code == "PR310"

    def test_brackets(self):
        depth = LIMITS["brackets"]
        assert safe_eval("(" * depth + "1" + ")" * depth) == 1
        with pytest.raises(ExpressionError) as info:
            safe_eval("(" * (depth + 1) + "1" + ")" * (depth + 1))
        assert info.value.code == "PR311"

    def test_depth(self):
        limit = LIMITS["depth"]
        assert safe_eval("-" * (limit - 1) + "1") == (-1) ** (limit - 1)
        with pytest.raises(ExpressionError) as info:
            safe_eval("-" * limit + "1")
        assert info.value.code == "PR311"

    def test_nodes(self):
        limit = LIMITS["nodes"]

        def calls(n_args: int, n_calls: int) -> str:
            # each call is 1 + n_args parts; n_calls - 1 additions join them
            return "+".join(["min(" + ", ".join(["1"] * n_args) + ")"] * n_calls)

        # 15 calls of 64 arguments: 15 * 65 + 14 = 989 parts; "+min(9 ones)" adds 11
        at = calls(64, 15) + "+min(" + ", ".join(["1"] * 9) + ")"
        assert limit == 15 * 65 + 14 + 1 + 10
        assert safe_eval(at) == 16
        with pytest.raises(ExpressionError) as info:
            safe_eval(at + "+1")
        assert info.value.code == "PR312"

    def test_literal_digits(self):
        assert safe_eval("9" * 30) == 10**30 - 1
        assert safe_eval("0." + "1" * 30) == Fraction(int("1" * 30), 10**30)

    def test_exponent(self):
        assert safe_eval("2 ** 100") == 2**100
        assert safe_eval("2 ** -100") == Fraction(1, 2**100)

    def test_bits(self):
        assert safe_eval("2 ** 100 * 2 ** 100 * 2 ** 100") == 2**300
        with pytest.raises(ExpressionError) as info:
            safe_eval("(2 ** 100) ** 41")
        assert info.value.code == "PR315"

    def test_named_formula_doubling_is_bounded(self):
        formulas = {"f0": "x + x"} | {f"f{i}": f"f{i - 1} + f{i - 1}" for i in range(1, 20)}
        with pytest.raises(ExpressionError) as info:
            safe_eval("f19", {"x": 1}, formulas)
        assert info.value.code in ("PR312", "PR323")


def test_the_corpus_runs_in_a_fresh_process_within_memory_and_time(tmp_path):
    """Every entry, in a child process limited to 512 MiB, finishing within a minute."""
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import resource, sys
            resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))
            sys.path.insert(0, sys.argv[1])
            from test_sandbox import CORPUS, NAMES
            from perfrules.errors import ExpressionError
            from perfrules.expressions import safe_eval
            import perfrules
            for text, expected in CORPUS:
                try:
                    value = safe_eval(text, NAMES)
                except ExpressionError as exc:
                    assert exc.code == expected, (text, exc.code)
                else:
                    assert value == expected, text
            compiled = perfrules.compile_scheme(perfrules.load_scheme(sys.argv[2]))
            result = compiled.evaluate(perfrules.load_facts(sys.argv[3]))
            assert str(result.total) == "89.25"
            print("survived", len(CORPUS))
            """
        ),
        encoding="utf-8",
    )
    from conftest import SEED

    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, str(script), here, str(SEED / "scheme.toml"), str(SEED / "facts.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"survived {len(CORPUS)}"
