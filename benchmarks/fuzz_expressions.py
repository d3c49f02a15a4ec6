"""Fuzz the expression sandbox: many random formulas through the public entry point.

Run with ``make fuzz`` (FUZZ_EXAMPLES=N, default 100000). Every input is a random
well-formed or mutated formula (perfrules.testing.formulas), or random text; the oracle
for each input is: the call returns an exact number or a bool, or raises ExpressionError —
nothing else, no hang, no crash — and the fast path agrees with the reference evaluator.
Prints how many inputs ran, the outcome codes, and the slowest input.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfrules.errors import ExpressionError
from perfrules.expressions import compile_expression, safe_eval
from perfrules.testing import formulas, numbers

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100000"))
SCOPE = {"x": "num", "y": "num", "z": "num", "flag": "bool"}
outcomes: collections.Counter[str] = collections.Counter()
problems: list[str] = []
slowest: list[tuple[float, str, dict[str, object]]] = []


def _outcome(run, names):
    try:
        return ("value", run(names))
    except ExpressionError as exc:
        return ("error", exc.code)
    except ZeroDivisionError:
        return ("error", "PR316")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    text=st.one_of(formulas(), st.text(max_size=60)),
    x=numbers(),
    y=numbers(),
    z=numbers(),
    flag=st.booleans(),
)
def fuzz(text, x, y, z, flag):
    names = {"x": x, "y": y, "z": z, "flag": flag}
    start = time.perf_counter()
    try:
        value = safe_eval(text, names)
    except ExpressionError as exc:
        outcomes[exc.code] += 1
    except Exception as exc:  # noqa: BLE001 - anything else is a finding
        problems.append(f"{type(exc).__name__} escaped for {text!r}: {exc}")
    else:
        if not isinstance(value, bool | Fraction):
            problems.append(f"{type(value).__name__} returned for {text!r}")
        outcomes["value"] += 1
        expression = compile_expression(text, SCOPE)
        fast = _outcome(expression.run_unchecked, names)
        reference = _outcome(expression.evaluate_reference, names)
        if fast != reference:
            problems.append(f"fast {fast} != reference {reference} for {text!r}")
    elapsed = time.perf_counter() - start
    slowest.append((elapsed, text, names))
    if len(slowest) > 50:
        slowest.sort(key=lambda item: -item[0])
        del slowest[10:]


def _time(text: str, names: dict[str, object]) -> float:
    start = time.perf_counter()
    with contextlib.suppress(ExpressionError):
        safe_eval(text, names)
    return time.perf_counter() - start


def main() -> None:
    started = time.perf_counter()
    fuzz()
    total = sum(outcomes.values()) + len(problems)
    print(f"ran {total} inputs in {time.perf_counter() - started:.1f} s")
    for code, count in sorted(outcomes.items()):
        print(f"  {code:>6}: {count}")
    # Re-time the slowest inputs (best of 5), so a garbage-collection pause is not reported.
    retimed = []
    for _, text, names in sorted(slowest, key=lambda item: -item[0])[:10]:
        best = min(_time(text, names) for _ in range(5))
        retimed.append((best, text))
    best, text = max(retimed)
    print(f"slowest input (best of 5): {best * 1000:.2f} ms for {text!r}")
    print(f"findings: {len(problems)}")
    for problem in problems[:20]:
        print("  " + problem)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
