"""Fuzz the doors: mutated rule files, facts (TOML, JSON, CSV, XLSX) and audit reports.

Batch files (a CSV of units, a tender of bids) are streamed as the CLI does, as arrays.
Every mutant must end in a result or located diagnostics (a ``PerfrulesError``); anything
else — a ``RecursionError``, a ``ValueError`` from a parser, a ``MemoryError`` — is an
internal error, i.e. ``perfrules`` would exit 3, and is printed as a finding. Mutations:
lines deleted, duplicated, swapped, cut or replaced; hostile snippets inserted (deep
nesting, integers of thousands of digits, lone surrogates, invalid UTF-8 bytes, control
characters, wrong types); for XLSX, cells retyped and the zip's bytes flipped.

Run with ``make fuzz-inputs`` (``FUZZ_MUTANTS=10000`` per kind by default); it prints, per
kind, the number of mutants, the outcomes and the findings, and exits 1 on any finding.
"""

from __future__ import annotations

import io
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import openpyxl

import perfrules
from perfrules.errors import PerfrulesError
from perfrules.rules._front import check_path
from perfrules.workflows._audit import audit, load_report
from perfrules.workflows._stream import stream_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021"
MOF = ROOT / "rules" / "cn" / "mof-2020-project-self-eval"
MUTANTS = int(os.environ.get("FUZZ_MUTANTS", "10000"))

SNIPPETS = [
    "=", "[", "]", '"', "'", "\n", "{", "}", ",", ".", "[[bands]]", "weight = ", "-1",
    "1e999", "nan", "inf", "\ufeff", "\x00", "\x1b[2J", "中文", "\ud800", "0,93", "½",
    'formula = "("', 'parent = "x"', 'extends = "/dev/zero"', 'extends = "self.toml"',
    "[" + ".".join(["a"] * 200) + "]", "x = " + "[" * 2000 + "]" * 2000, "9" * 5000,
    "{" * 500, '"a": ' * 300, "true", "null", "[]", "{}",
]  # fmt: skip


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        action = rng.randint(0, 6)
        index = rng.randint(0, max(len(lines) - 1, 0))
        if action == 0 and lines:
            del lines[index]
        elif action == 1 and lines:
            lines.insert(index, lines[index])
        elif action == 2 and len(lines) > 1:
            other = rng.randint(0, len(lines) - 1)
            lines[index], lines[other] = lines[other], lines[index]
        elif action in (3, 4) and lines:
            line = lines[index]
            at = rng.randint(0, len(line))
            lines[index] = line[:at] + rng.choice(SNIPPETS) + line[at:]
        elif action == 5:
            lines = lines[: rng.randint(0, len(lines))]
        elif lines:
            lines[index] = "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 20)))
    return "\n".join(lines)


def write(path: Path, text: str, rng: random.Random) -> None:
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.05 and data:  # an invalid UTF-8 byte somewhere
        at = rng.randint(0, len(data) - 1)
        data = data[:at] + b"\xff" + data[at:]
    path.write_bytes(data)


def seed_json(facts: perfrules.Facts) -> str:
    import json

    return json.dumps({"indicators": facts.indicators}, ensure_ascii=False, default=str)


def seed_csv(compiled: perfrules.CompiledScheme) -> str:
    facts = perfrules.load_facts(SEED / "facts.toml")
    rows = ["编号 id,业绩值 actual"]
    for ident, values in facts.indicators.items():
        actual = values["actual"]
        rows.append(f"{ident},{actual['value'] if isinstance(actual, dict) else actual}")
    del compiled
    return "\n".join(rows)


def seed_xlsx() -> bytes:
    facts = perfrules.load_facts(SEED / "facts.toml")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["编号 id", "业绩值 actual"])
    for ident, values in facts.indicators.items():
        actual = values["actual"]
        sheet.append([ident, str(actual["value"] if isinstance(actual, dict) else actual)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def mutate_xlsx(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        workbook = openpyxl.load_workbook(io.BytesIO(data))
        sheet = workbook.active
        for _ in range(rng.randint(1, 4)):
            row, column = rng.randint(1, 20), rng.randint(1, 4)
            value = rng.choice([*SNIPPETS[:30], 1e308, -5, True, "=1/0", "=A1+B2", None])
            try:
                sheet.cell(row, column).value = value
            except Exception:  # noqa: BLE001 - a character a worksheet cannot hold
                sheet.cell(row, column).value = repr(value)
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()
    raw = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        raw[rng.randint(0, len(raw) - 1)] = rng.randint(0, 255)
    return bytes(raw)


def run_kind(name: str, one) -> tuple[Counter[str], list[str], float]:
    outcomes: Counter[str] = Counter()
    findings: list[str] = []
    start = time.perf_counter()
    for number in range(MUTANTS):
        try:
            outcomes[one(number)] += 1
        except PerfrulesError as exc:
            codes = sorted({d.code for d in getattr(exc, "diagnostics", ())}) or ["error"]
            outcomes[codes[0]] += 1
        except Exception as exc:  # noqa: BLE001 - every other exception is a finding
            findings.append(f"{name} #{number}: {type(exc).__name__}: {str(exc)[:120]}")
    return outcomes, findings, time.perf_counter() - start


def main() -> int:
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    seed_facts = perfrules.load_facts(SEED / "facts.toml")
    rule_texts = [
        (SEED / "scheme.toml").read_text("utf-8"),
        (MOF / "scheme.toml").read_text("utf-8"),
    ]
    facts_text = (SEED / "facts.toml").read_text("utf-8")
    report_text = (SEED / "report.toml").read_text("utf-8")
    json_text, csv_text, xlsx = seed_json(seed_facts), seed_csv(compiled), seed_xlsx()
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "20261127")))
    folder = Path(tempfile.mkdtemp(prefix="perfrules-fuzz-"))
    print(f"{MUTANTS:,} mutants per kind, seed {os.environ.get('FUZZ_SEED', '20261127')}")

    def rule(_: int) -> str:
        path = folder / "scheme.toml"
        write(path, mutate(rng.choice(rule_texts), rng), rng)
        scheme, _, diagnostics = check_path(path)
        if scheme is None or any(d.severity == "error" for d in diagnostics):
            return "diagnostics"
        # the trace too: positions in the rule file are found when a trace first cites them
        perfrules.compile_scheme(scheme).evaluate(seed_facts).trace.to_json()
        return "scored"

    def facts_of(suffix: str, text: str):
        def one(_: int) -> str:
            path = folder / f"facts{suffix}"
            write(path, mutate(text, rng), rng)
            compiled.evaluate(perfrules.load_facts(path)).trace.to_json()
            return "scored"

        return one

    def workbook(_: int) -> str:
        path = folder / "facts.xlsx"
        path.write_bytes(mutate_xlsx(xlsx, rng))
        compiled.evaluate(perfrules.load_facts(path)).trace.to_json()
        return "scored"

    def report(_: int) -> str:
        path = folder / "report.toml"
        write(path, mutate(report_text, rng), rng)
        facts, published = load_report(path)
        audit(compiled, facts, published)
        return "audited"

    # A batch file of five units, and a tender of bids (a cohort scheme), streamed as arrays.
    header = "unit," + ",".join(seed_facts.indicators)
    actuals = [
        str(v["value"] if isinstance(v, dict) else v)
        for values in seed_facts.indicators.values()
        for v in [values["actual"]]
    ]
    batch_rows = [f"u{n}," + ",".join(actuals) for n in range(5)]
    batch_text = "\n".join([header, *batch_rows]) + "\n"
    bids_text = (
        "unit,shared.lot,shared.bid,shared.valid,技术.marks,商务.marks\n"
        "甲,1,980000,是,42.5,16\n乙,1,950000,是,40,17\n丙,1,900000,否,45,18\n"
        "丁,2,1000000,是,44,15.5\n"
    )
    tender = perfrules.compile_scheme(
        perfrules.load_scheme(ROOT / "rules/cn/procurement-comprehensive-scoring/scheme.toml")
    )

    def streamed(scheme: perfrules.CompiledScheme, text: str):
        def one(_: int) -> str:
            path = folder / "units.csv"
            write(path, mutate(text, rng), rng)
            outcome = stream_batch(scheme, path, folder / "results.csv")
            return "scored" if not outcome.failed_count else "some units failed"

        return one

    kinds = [
        ("rule files", rule),
        ("facts TOML", facts_of(".toml", facts_text)),
        ("facts JSON", facts_of(".json", json_text)),
        ("facts CSV", facts_of(".csv", csv_text)),
        ("facts XLSX", workbook),
        ("audit reports", report),
        ("batch CSV", streamed(compiled, batch_text)),
        ("tender CSV", streamed(tender, bids_text)),
    ]
    total_findings = 0
    for name, one in kinds:
        outcomes, findings, seconds = run_kind(name, one)
        total_findings += len(findings)
        common = ", ".join(f"{k} {v}" for k, v in outcomes.most_common(6))
        print(
            f"{name:<14} {MUTANTS:>7,} mutants  {seconds:7.1f} s  findings {len(findings)}  ({common})"
        )
        for finding in findings[:10]:
            print("   ", finding)
        sys.stdout.flush()
    return 1 if total_findings else 0


if __name__ == "__main__":
    sys.exit(main())
