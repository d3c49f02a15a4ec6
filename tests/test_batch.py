"""Batch scoring: many units in, results and a summary out, bad units reported, not fatal."""

from __future__ import annotations

import csv
import itertools
import json
import random
import shutil
from decimal import Decimal

import openpyxl
from click.testing import CliRunner

import perfrules
from conftest import SEED
from perfrules.cli import cli

SCHEME = SEED / "scheme.toml"


def _units(path, count=300, bad=(7, 150)):
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    ids = [compiled.plan.nodes[i].id for i in compiled.plan.leaves]
    rng = random.Random(7)
    rows = []
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", *ids])
        for n in range(count):
            row = [f"unit-{n:03d}"] + [
                str(rng.randint(0, 88)) if i == "质量-市域治理" else f"{rng.randint(50, 100)}%"
                for i in ids
            ]
            if n in bad:
                row[3] = "lots"
            writer.writerow(row)
            rows.append(row)
    return compiled, ids, rows


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1"})


def test_csv_in_csv_out_with_a_summary_and_errors(tmp_path):
    compiled, ids, rows = _units(tmp_path / "units.csv")
    out = tmp_path / "results.csv"
    result = _run(
        "score", str(SCHEME), str(tmp_path / "units.csv"), "--out", str(out), "--format", "json"
    )
    assert result.exit_code == 1  # some units failed
    document = json.loads(result.stdout)
    assert document["summary"]["scored"] == 298
    assert document["summary"]["failed"] == 2
    assert sum(document["summary"]["grades"].values()) == 298
    failed = {e["unit"]: e["diagnostics"][0] for e in document["errors"]}
    assert set(failed) == {"unit-007", "unit-150"}
    assert (
        failed["unit-007"]["line"],
        failed["unit-007"]["column"],
        failed["unit-007"]["code"],
    ) == (9, 4, "PR402")
    with out.open(encoding="utf-8-sig") as stream:
        written = list(csv.DictReader(stream))
    assert len(written) == 300
    # every scored row equals scoring that unit on its own
    for row, original in zip(written[:20], rows[:20], strict=True):
        if row["errors"]:
            continue
        facts = {
            "indicators": {
                i: {compiled.plan.nodes[compiled.plan.by_id[i]].leaf.show: v}
                for i, v in zip(ids, original[1:], strict=True)
            }
        }
        alone = compiled.evaluate(facts, trace=False)
        assert Decimal(row["total"]) == alone.total
        assert row["grade"] == alone.grade.label


def test_xlsx_results_have_real_numbers_a_summary_and_an_errors_sheet(tmp_path):
    _units(tmp_path / "units.csv", count=40, bad=(3,))
    out = tmp_path / "results.xlsx"
    result = _run(
        "score", str(SCHEME), str(tmp_path / "units.csv"), "--out", str(out), "--lang", "en"
    )
    assert result.exit_code == 1
    assert "39 units scored, 1 failed" in result.stderr
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames[:2] == ["summary", "unit-000"]
    summary = workbook["summary"]
    assert [c.value for c in summary[1]][:3] == ["unit", "total", "grade"]
    assert isinstance(summary.cell(2, 2).value, float | int)
    assert summary.cell(2, 2).number_format == "0.00"
    unit = workbook["unit-000"]
    labels = [row[0] for row in unit.iter_rows(values_only=True)]
    assert "total" in labels
    assert "grade" in labels
    errors = workbook["errors"]
    assert errors.cell(2, 1).value == "unit-003"
    assert errors.cell(2, 5).value == "PR402"


def test_a_folder_of_facts_files(tmp_path):
    folder = tmp_path / "units"
    folder.mkdir()
    shutil.copy(SEED / "facts.toml", folder / "a.toml")
    shutil.copy(SEED / "facts.toml", folder / "b.toml")
    (folder / "broken.toml").write_text("[indicators\n", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    result = _run("score", str(SCHEME), str(folder), "--out", str(out))
    assert result.exit_code == 1
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line.get("trace", {}).get("total") for line in lines[:2]] == ["89.25", "89.25"]
    assert lines[2]["errors"][0]["code"] == "PR100"


def test_evaluate_many_in_processes_equals_one_process():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    base = perfrules.load_facts(SEED / "facts.toml")
    units = []
    for n in range(1300):  # more than two chunks of 512
        indicators = {k: dict(v) for k, v in base.indicators.items()}
        indicators["群众满意度"] = {"actual": f"{50 + n % 50}%"}
        if n == 13:
            indicators["群众满意度"] = {"actual": "n/a?"}
        if n % 7 == 0:
            indicators["质量-市域治理"] = {"na": "不涉及"}  # excluded: renormalised, gap differs
        units.append({"indicators": indicators})
    one = list(compiled.evaluate_many(units))
    two = list(compiled.evaluate_many(iter(units), workers=2))
    assert len(one) == len(two) == 1300
    for a, b in zip(one, two, strict=True):
        if isinstance(a, perfrules.FactsError):
            assert isinstance(b, perfrules.FactsError)
            assert [d.code for d in a.diagnostics] == [d.code for d in b.diagnostics]
        else:
            assert (a.total, a.grade.label, dict(a.scores)) == (
                b.total,
                b.grade.label,
                dict(b.scores),
            )
            assert compiled.gap(a) == compiled.gap(b)


def test_evaluate_many_in_processes_streams_an_endless_input():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    base = perfrules.load_facts(SEED / "facts.toml")

    def endless():
        while True:  # nothing holding the whole input could ever return
            yield {"indicators": base.indicators}

    first = list(itertools.islice(compiled.evaluate_many(endless(), workers=2), 3))
    assert [str(r.total) for r in first] == ["89.25"] * 3


def test_a_units_file_without_out_says_how_to_see_one_unit_and_that_works(tmp_path):
    _, _, rows = _units(tmp_path / "units.csv", count=1, bad=())
    result = _run("score", str(SCHEME), str(tmp_path / "units.csv"), "--lang", "en")
    assert result.exit_code == 2
    assert "needs --out FILE" in result.output
    assert "--unit NAME for one unit's page" in result.output
    said = _run("score", str(SCHEME), str(tmp_path / "units.csv"), "--lang", "zh")
    assert said.exit_code == 2
    assert "为多个单位计分需要 --out 文件" in said.output
    assert "或用 --unit 名称 查看其中一个单位" in said.output
    shown = _run("score", str(SCHEME), str(tmp_path / "units.csv"), "--unit", rows[0][0])
    assert shown.exit_code == 0, shown.output
    assert rows[0][0] in shown.output


def test_the_commands_own_usage_messages_are_in_the_language_asked(tmp_path):
    facts = str(SEED / "facts.toml")
    zh = _run("score", str(SCHEME), facts, "--format", "pdf", "--lang", "zh")
    assert (zh.exit_code, "--format pdf 需要 --out 文件.pdf" in zh.output) == (2, True)
    zh = _run("score", str(SCHEME), facts, "--errors", str(tmp_path / "e.csv"), "--lang", "zh")
    assert (zh.exit_code, "--errors 用于多个单位" in zh.output) == (2, True)
    there = tmp_path / "2023.toml"
    there.write_text("kept", encoding="utf-8")
    zh = _run("new-year", str(SCHEME), "--year", "2023", "--out", str(there), "--lang", "zh")
    assert zh.exit_code == 2
    assert f"{there} 已存在；要覆盖它请加 --force" in zh.output
    assert there.read_text(encoding="utf-8") == "kept"
    en = _run("template", str(SCHEME), "--out", str(there.with_suffix(".csv")), "--lang", "en")
    assert en.exit_code == 0
    en = _run("template", str(SCHEME), "--out", str(there.with_suffix(".csv")), "--lang", "en")
    assert (en.exit_code, "exists; use --force to overwrite it" in en.output) == (2, True)
