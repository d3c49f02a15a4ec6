"""Fuzz the doors: mutated rule files, facts (TOML, JSON, CSV, XLSX) and audit reports.

Batch files (a CSV of units, a tender of bids, a Parquet file) are streamed as the CLI does,
as arrays; folders of units are scored as a batch; facts come through standard input as the
CLI reads them; DataFrames with hostile columns go to ``score_table``.
Every mutant must end in a result or located diagnostics (a ``PerfrulesError``); anything
else — a ``RecursionError``, a ``ValueError`` from a parser, a ``MemoryError`` — is an
internal error, i.e. ``perfrules`` would exit 3, and is printed as a finding. Mutations:
lines deleted, duplicated, swapped, cut or replaced; hostile snippets inserted (deep
nesting, integers of thousands of digits, lone surrogates, invalid UTF-8 bytes, control
characters, wrong types); for XLSX, cells retyped and the zip's bytes flipped.

Run with ``make fuzz-inputs`` (``FUZZ_MUTANTS=10000`` per kind by default; ``FUZZ_KINDS``
names some kinds, comma-separated, e.g. ``FUZZ_KINDS=parquet,dataframes``); it prints, per
kind, the number of mutants, the outcomes, the slowest mutant and the findings, and exits 1
on any finding.
"""

from __future__ import annotations

import io
import os
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

import perfrules
import perfrules.workflows._batch
from perfrules.cli import cli
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


def run_kind(name: str, one) -> tuple[Counter[str], list[str], float, float]:
    outcomes: Counter[str] = Counter()
    findings: list[str] = []
    start = time.perf_counter()
    slowest = 0.0
    for number in range(MUTANTS):
        began = time.perf_counter()
        try:
            outcomes[one(number)] += 1
        except PerfrulesError as exc:
            codes = sorted({d.code for d in getattr(exc, "diagnostics", ())}) or ["error"]
            outcomes[codes[0]] += 1
        except TypeError as exc:
            if "DataFrame" not in str(exc) and "narwhals" not in str(exc).lower():
                findings.append(f"{name} #{number}: TypeError: {str(exc)[:120]}")
            outcomes["TypeError"] += 1
        except Exception as exc:  # noqa: BLE001 - every other exception is a finding
            findings.append(f"{name} #{number}: {type(exc).__name__}: {str(exc)[:120]}")
            if os.environ.get("FUZZ_TRACE"):
                traceback.print_exc()
        slowest = max(slowest, time.perf_counter() - began)
    return outcomes, findings, time.perf_counter() - start, slowest


def mutate_table(table: pa.Table, rng: random.Random) -> pa.Table:
    """A table with some columns retyped, renamed, duplicated or filled with hostile values."""
    columns = list(table.columns)
    names = list(table.column_names)
    n = table.num_rows
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(columns) - 1)
        choice = rng.randint(0, 9)
        if choice == 0:
            columns[at] = pa.array([b"\xff\xfe" if rng.random() < 0.5 else b"1"] * n)
        elif choice == 1:
            columns[at] = pa.array([[str(i)] for i in range(n)])
        elif choice == 2:
            columns[at] = pa.array([{"x": i} for i in range(n)])
        elif choice == 3:
            columns[at] = pa.array([str(10**40 + i) for i in range(n)])
        elif choice == 4:
            columns[at] = pa.array([None] * n, type=pa.string())
        elif choice == 5:
            columns[at] = pa.array([1.5e308, float("nan"), -0.0, 1e-300, 7.0][:n] * (n // 5 + 1))[
                :n
            ]
        elif choice == 6:
            text = [t for t in SNIPPETS[:30] if not any("\ud800" <= c <= "\udfff" for c in t)]
            values = pa.array([rng.choice(text) for _ in range(n)])
            columns[at] = values.dictionary_encode() if rng.random() < 0.5 else values
        elif choice == 7:
            names[at] = names[rng.randint(0, len(names) - 1)]  # a name twice
        elif choice == 8:
            columns[at] = pa.array([rng.randint(-(2**63), 2**63 - 1) for _ in range(n)])
        else:
            columns[at] = pa.array([True, False] * (n // 2 + 1))[:n]
    return pa.table(columns, names=names)


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

    base_table = pa.table(
        {
            "unit": [f"u{n}" for n in range(5)],
            **{ident: [actuals[k]] * 5 for k, ident in enumerate(seed_facts.indicators)},
        }
    )

    def parquet(_: int) -> str:
        path = folder / "units.parquet"
        table = mutate_table(base_table, rng)
        buffer = pa.BufferOutputStream()
        try:
            pq.write_table(table, buffer)
        except (pa.ArrowException, ValueError):  # a table Parquet cannot store
            return "not written"
        raw = bytearray(buffer.getvalue().to_pybytes())
        if rng.random() < 0.3:  # damaged bytes too
            for _ in range(rng.randint(1, 8)):
                raw[rng.randint(0, len(raw) - 1)] = rng.randint(0, 255)
        path.write_bytes(bytes(raw))
        outcome = stream_batch(compiled, path, folder / "results.csv")
        return "scored" if not outcome.failed_count else "some units failed"

    def dataframes(_: int) -> str:
        table = mutate_table(base_table, rng)
        frame: object = table
        if rng.random() < 0.5:
            try:
                frame = table.to_pandas()
            except (pa.ArrowException, ValueError):
                return "no pandas frame"
            if rng.random() < 0.3:  # an object column of mixed Python values
                column = rng.choice(list(frame.columns))
                values = [1, "80%", 1.5, None, {"a": 1}, 10**40, 1 + 2j, b"\xff", object()]
                frame[column] = pd.Series(
                    [rng.choice(values) for _ in range(len(frame))], dtype=object
                )
        perfrules.score_table(compiled, frame)
        return "scored"

    runner = CliRunner()

    def stdin(_: int) -> str:
        text = mutate(rng.choice([facts_text, json_text]), rng)
        run = runner.invoke(cli, ["score", str(SEED / "scheme.toml"), "-"], input=text)
        if run.exit_code not in (0, 1, 2):
            raise RuntimeError(f"exit {run.exit_code}: {run.output[-120:]}")
        return f"exit {run.exit_code}"

    def folders(number: int) -> str:
        units = folder / f"units{number % 2}"
        if units.exists():
            for item in units.iterdir():
                item.unlink()
        else:
            units.mkdir()
        for k in range(rng.randint(1, 4)):
            suffix, text = rng.choice(
                [(".toml", facts_text), (".json", json_text), (".csv", csv_text)]
            )
            write(units / f"u{k}{suffix}", mutate(text, rng), rng)
        if rng.random() < 0.2:
            (units / "link.toml").symlink_to(
                rng.choice(["/etc/hostname", "/dev/zero", "missing", "."])
            )
        outcome = perfrules.workflows._batch.score_batch(compiled, units)  # noqa: SLF001
        return "scored" if not outcome.failed else "some units failed"

    kinds = [
        ("rule files", rule),
        ("facts TOML", facts_of(".toml", facts_text)),
        ("facts JSON", facts_of(".json", json_text)),
        ("facts CSV", facts_of(".csv", csv_text)),
        ("facts XLSX", workbook),
        ("audit reports", report),
        ("batch CSV", streamed(compiled, batch_text)),
        ("tender CSV", streamed(tender, bids_text)),
        ("parquet", parquet),
        ("folders", folders),
        ("stdin", stdin),
        ("dataframes", dataframes),
    ]
    wanted = {k.strip() for k in os.environ.get("FUZZ_KINDS", "").split(",") if k.strip()}
    if wanted:
        kinds = [
            (name, one)
            for name, one in kinds
            if name.split()[0].lower() in wanted or name in wanted
        ]
    total_findings = 0
    for name, one in kinds:
        outcomes, findings, seconds, slowest = run_kind(name, one)
        total_findings += len(findings)
        common = ", ".join(f"{k} {v}" for k, v in outcomes.most_common(6))
        print(
            f"{name:<14} {MUTANTS:>7,} mutants  {seconds:7.1f} s  slowest {slowest:5.2f} s  "
            f"findings {len(findings)}  ({common})"
        )
        for finding in findings[:10]:
            print("   ", finding)
        sys.stdout.flush()
    return 1 if total_findings else 0


if __name__ == "__main__":
    sys.exit(main())
