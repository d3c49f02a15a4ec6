"""Mutation check of the evaluator: each mutant must make the test suite fail.

Each mutant changes one thing in a copy of src/ (a function's cap, a rounding mode, the
aggregation, the code written inline); the oracle, golden-trace, number, kernel and
differential tests run against the copy and must fail.
Run with ``make mutants``; prints one line per mutant and exits 1 if any survived. The
working tree is never modified.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "perfrules"
FUNCTIONS = SRC / "expressions" / "_functions.py"
CODEGEN = SRC / "expressions" / "_codegen.py"
NUMBERS = SRC / "_numbers.py"
KERNEL = SRC / "engine" / "_kernel.py"
SCHEME = SRC / "engine" / "_scheme.py"
GRADING = SRC / "engine" / "_grading.py"
TOTALS = SRC / "engine" / "_totals.py"
PLAN = SRC / "engine" / "_plan.py"
COLUMNS = SRC / "engine" / "_columns.py"
COHORT = SRC / "engine" / "_cohort.py"
EXPLAIN = SRC / "engine" / "_explain.py"

MUTANTS = [
    (
        "ratio without its cap",
        FUNCTIONS,
        "    share = _divide(actual, target)\n    return _P_ONE if share[0] > share[1] else share",
        "    return _divide(actual, target)",
    ),
    (
        "reverse_ratio without its cap",
        FUNCTIONS,
        "    share = _divide(target, actual)\n    return _P_ONE if share[0] > share[1] else share",
        "    return _divide(target, actual)",
    ),
    (
        "reverse_ratio of 0 is 0",
        FUNCTIONS,
        "    if actual[0] == 0:\n        return _P_ONE\n    share = _divide(target",
        "    if actual[0] == 0:\n        return _P_ZERO\n    share = _divide(target",
    ),
    (
        "min takes the last",
        FUNCTIONS,
        "        if _lt(item, best):\n            best = item\n    return best\n\n\ndef _max",
        "        if _lt(best, item):\n            best = item\n    return best\n\n\ndef _max",
    ),
    (
        "clamp ignores its upper bound",
        FUNCTIONS,
        "    return high if _lt(high, x) else x",
        "    return x",
    ),
    (
        "steps rounds up",
        FUNCTIONS,
        "    return ((amount[0] * interval[1]) // (amount[1] * interval[0]), 1)",
        "    return (-(-(amount[0] * interval[1]) // (amount[1] * interval[0])), 1)",
    ),
    (
        "ceil is floor",
        FUNCTIONS,
        "    return (-(-x[0] // x[1]), 1)",
        "    return (x[0] // x[1], 1)",
    ),
    (
        "checklist counts every item",
        FUNCTIONS,
        "        if rest[i]:\n            total = add_pairs",
        "        if True:\n            total = add_pairs",
    ),
    (
        "missing counts what holds",
        FUNCTIONS,
        "    return (sum(1 for f in flags if not f), 1)",
        "    return (sum(1 for f in flags if f), 1)",
    ),
    (
        "closed interval ends are open",
        FUNCTIONS,
        "            if left < right or (left == right and not self.low_closed):",
        "            if left <= right:",
    ),
    (
        "half_up rounds ties down",
        NUMBERS,
        "    return quotient + (2 * remainder >= den)",
        "    return quotient + (2 * remainder > den)",
    ),
    (
        "inline half_up rounds ties down",
        NUMBERS,
        'return f"{target} = (2 * {num} + {den}) // (2 * {den})"',
        'return f"{target} = (2 * {num} + {den} - 1) // (2 * {den})"',
    ),
    (
        "half_even rounds ties up",
        NUMBERS,
        "    return quotient + ((twice > den) | ((twice == den) & (quotient % 2 == 1)))",
        "    return quotient + (twice >= den)",
    ),
    (
        "up is down",
        NUMBERS,
        "def _up(num: int, den: int) -> int:\n    return -(-num // den)",
        "def _up(num: int, den: int) -> int:\n    return num // den",
    ),
    (
        "no renormalisation",
        TOTALS,
        "            value = value * self.scale_to / applicable\n        if self.capped",
        "            pass\n        if self.capped",
    ),
    (
        "score above weight accepted",
        KERNEL,
        'lines.append(f"    if vn < 0 or vn * wd > wn * vd: {general}")',
        'lines.append(f"    if vn < 0: {general}")',
    ),
    (
        "a cap above 1 taken for one",
        CODEGEN,
        "return not isinstance(value, bool | Interval) and value <= 1",
        "return not isinstance(value, bool | Interval) and value <= 2",
    ),
    (
        "inline min takes the larger",
        FUNCTIONS,
        'f"{times(arg_num, den)} < {times(num, arg_den)}"\n                if smaller',
        'f"{times(arg_num, den)} > {times(num, arg_den)}"\n                if smaller',
    ),
    (
        "groups not rounded",
        KERNEL,
        '        if places is None:\n            self.emit(f"n{i} = {pre.num}")',
        '        if True:\n            self.emit(f"n{i} = {pre.num}")',
    ),
    (
        "losses tied on points ordered against the ids",
        GRADING,
        "                keyed[rank - num * n] = row",
        "                keyed[-rank - num * n] = row",
    ),
    (
        "the gap's rows weigh nothing more after renormalisation",
        GRADING,
        "    return position - 1, sn, sd, rows, fn, fd",
        "    return position - 1, sn, sd, rows, 1, 1",
    ),
    (
        "the generated gap's rows weigh nothing more after renormalisation",
        GRADING,
        '"return goal, shortfall, low_den * total_den, found, fn, fd",',
        '"return goal, shortfall, low_den * total_den, found, 1, 1",',
    ),
    # The copies that were: each rule now has one owner, and a one-line change to it
    # must fail a test in every shape.
    (
        "a band's lower end open",
        TOTALS,
        'f"{keyword} {_product(num, low_den)} >= {_product(low_num, den)} and "',
        'f"{keyword} {_product(num, low_den)} > {_product(low_num, den)} and "',
    ),
    (
        "a band's lower end open (columnar)",
        TOTALS,
        "return (num * low_den >= low_num * den) & (num * high_den < high_num * den)",
        "return (num * low_den > low_num * den) & (num * high_den < high_num * den)",
    ),
    (
        "a total above every band graded in the lowest band",
        TOTALS,
        "            (p for p, band in enumerate(plan.bands) if band[2] == plan.max),\n            len(plan.bands) - 1,",
        "            (p for p, band in enumerate(plan.bands) if False),\n            len(plan.bands) - 1,",
    ),
    # (Its upper end included is no mutant: the bands are tested highest first, so the
    # first whose lower end a total reaches holds it either way.)
    (
        "the generated scorer's top band without the scheme's maximum",
        TOTALS,
        'lines.append(f"else: band = {self.top}" if lines else "band = 0")',
        'lines.append(f"else: band = {len(self.edges) - 1}" if lines else "band = 0")',
    ),
    (
        "the cap not applied",
        TOTALS,
        "        if self.capped and value > self.plan.max:",
        "        if False:",
    ),
    (
        "capped rows renormalised against the maximum",
        TOTALS,
        "        self.scale_to = self.rows_weight if self.capped else plan.max",
        "        self.scale_to = plan.max",
    ),
    (
        "the gap ignores the total's rounding",
        TOTALS,
        "        scale = self._scale\n        if scale is not None:\n",
        "        scale = self._scale\n        if False:\n",
    ),
    (
        "the gap ignores a group's rounding",
        TOTALS,
        "                if node.places is None:\n                    after = before",
        "                if True:\n                    after = before",
    ),
    (
        "the columnar fit never scales",
        TOTALS,
        "        if factor != 1:\n            num, den",
        "        if False:\n            num, den",
    ),
    (
        "a row not counted is left out of the weight renormalised from",
        TOTALS,
        "for i in self.plan.counted_leaves if not scored(i)), _ZERO)",
        "for i in self.plan.leaves if not scored(i)), _ZERO)",
    ),
    (
        "rows not counted are counted",
        PLAN,
        "    counted_leaves = tuple(i for i in leaves if frozen[i].counted)",
        "    counted_leaves = tuple(leaves)",
    ),
    (
        "the total rounded at the indicators' places",
        PLAN,
        '        "places": _places(scheme.rounding.total),',
        '        "places": _places(scheme.rounding.indicator),',
    ),
    (
        "a descending ranking key sorted ascending",
        COHORT,
        'partial(_sort_key, rows, k, keys[k].order == "desc"),\n            reverse=keys[k].order == "desc",',
        "partial(_sort_key, rows, k, False),\n            reverse=False,",
    ),
    (
        "a chained comparison reuses its first operand (columnar)",
        COLUMNS,
        "                left = right\n",
        "                pass\n",
    ),
    (
        "a repeating step value written without its exact form",
        EXPLAIN,
        "+ y{k} + '\\\"' if y{k} else ''",
        "+ y{k} + '\\\"' if False else ''",
    ),
]


def main() -> int:
    survivors = 0
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder)
        for part in ("src", "tests", "rules", "pyproject.toml"):
            source = ROOT / part
            if source.is_dir():
                shutil.copytree(source, copy / part)
            else:
                shutil.copy(source, copy / part)
        env = {
            **os.environ,
            "PYTHONPATH": str(copy / "src"),
            "HYPOTHESIS_PROFILE": "mutants",
            "PERFRULES_ORACLE_EXAMPLES": os.environ.get("PERFRULES_ORACLE_EXAMPLES", "300"),
        }
        env.pop("CI", None)  # the CI profile would replace the "mutants" profile
        for name, path, old, new in MUTANTS:
            target = copy / path.relative_to(ROOT)
            original = target.read_text(encoding="utf-8")
            if original.count(old) != 1:
                print(f"?  {name}: the code to mutate was not found once in {path.name}")
                survivors += 1
                continue
            target.write_text(original.replace(old, new), encoding="utf-8")
            run = subprocess.run(  # noqa: S603 - our own test files
                [
                    sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                    "tests/test_oracle.py", "tests/test_golden_traces.py", "tests/test_numbers.py",
                    "tests/test_kernel.py", "tests/test_differential.py", "tests/test_table.py",
                    "tests/test_counted.py", "tests/test_cohort.py", "tests/test_audit.py",
                    *(["tests/test_shapes.py"] if (ROOT / "tests" / "test_shapes.py").exists() else []),
                ],
                cwd=copy, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            target.write_text(original, encoding="utf-8")
            killed = run.returncode != 0
            survivors += not killed
            print(f"{'killed  ' if killed else 'SURVIVED'} {name}", flush=True)
    print(f"{len(MUTANTS) - survivors} of {len(MUTANTS)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
