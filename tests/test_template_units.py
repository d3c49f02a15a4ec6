"""The units sheet: a blank CSV with a row per unit for a scheme whose units are scored together."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

from click.testing import CliRunner

import perfrules
from conftest import SEED
from perfrules.cli import cli
from perfrules.workflows._templates import units_header

EXAMPLES = Path(__file__).resolve().parent.parent / "rules" / "examples"


def _template(tmp_path: Path, scheme: Path, *more: str, name: str = "units.csv") -> Path:
    out = tmp_path / name
    run = CliRunner().invoke(cli, ["template", str(scheme), "--out", str(out), *more])
    assert run.exit_code == 0, run.output
    return out


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle))


def test_a_league_table_gets_the_sheet_its_batch_reads(tmp_path: Path):
    sheet = _template(tmp_path, EXAMPLES / "ranking-index")
    # the header of the how-to's cities.csv, and nothing else: no rows to delete
    assert sheet.read_bytes() == "\ufeffunit,shared.gdp,shared.green,shared.pm25\r\n".encode()
    # filled in, it is the batch: the three cities of the pack's case, ranked
    with sheet.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [["A", "12", "45%", "30"], ["B", "10", "50%", "25"], ["C", "8", "40%", "40"]]
        )
    results = tmp_path / "table.csv"
    run = CliRunner().invoke(
        cli, ["score", str(EXAMPLES / "ranking-index"), str(sheet), "--out", str(results)]
    )
    assert run.exit_code == 0, run.output
    with results.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["unit"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["A", "B", "C"]
    assert all(row["total"] for row in rows.values())
    assert {row["rank"] for row in rows.values()} == {"1", "2", "3"}


def test_declared_inputs_are_shared_and_an_indicators_own_fact_is_its_own(tmp_path: Path):
    scheme = tmp_path / "bids.toml"
    scheme.write_text(
        textwrap.dedent(
            """\
            [scheme]
            id = "bids"
            title = "Bids"
            max = 100

            [inputs]
            price = { label = "Bid price" }
            actual = { label = "Share met" }
            years = { label = "Years of service offered" }

            [cohort]
            group_by = "lot"
            [cohort.values.lowest]
            stat = "min"
            of = "price"

            [[grade_overrides]]
            label = "void"
            when = "late"

            [inputs.late]
            type = "bool"

            [[bands]]
            label = "ok"
            min = 0
            max = 100

            [indicators.price_points]
            weight = 60
            formula = "weight * lowest / price"
            places = 2

            [indicators.quality]
            weight = 30
            formula = "weight * clamp(actual, 0, 1)"
            places = 2

            [indicators.service]
            weight = 10
            formula = "weight * clamp(actual, 0, 1) * clamp(years / 5, 0, 1)"
            places = 2
            """
        ),
        encoding="utf-8",
    )
    compiled = perfrules.compile_scheme(perfrules.load_scheme(scheme))
    header = units_header(compiled)
    # the cohort split first, then the shared facts, then each indicator's own
    assert header == [
        "unit",
        "shared.lot",
        "shared.price",
        "shared.late",
        "quality.actual",
        "service.actual",
        "service.years",
    ]
    sheet = _template(tmp_path, scheme)
    assert _header(sheet) == header


def test_the_form_on_request_and_where_a_units_sheet_cannot_go(tmp_path: Path):
    index = EXAMPLES / "best-is-100"
    assert _header(_template(tmp_path, index)) == [
        "unit",
        "economy_points.economy",
        "social_points.social",
        "environment_points.environment",
    ]
    # filled in with the pack's worked case, it scores as the case says (two passes)
    sheet = tmp_path / "units.csv"
    with sheet.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [["A", "80", "70", "60"], ["B", "90", "60", "75"], ["C", "50", "85", "90"]]
        )
    results = tmp_path / "index.csv"
    run = CliRunner().invoke(cli, ["score", str(index), str(sheet), "--out", str(results)])
    assert run.exit_code == 0, run.output
    with results.open(encoding="utf-8-sig", newline="") as handle:
        totals = {row["unit"]: row["total"] for row in csv.DictReader(handle)}
    assert totals == {"A": "92.8", "B": "100.0", "C": "94.8"}
    form = _template(tmp_path, index, "--layout", "form", name="form.csv")
    assert _header(form)[0] == "id"
    assert len(form.read_text(encoding="utf-8-sig").splitlines()) > 1  # a row per indicator
    run = CliRunner().invoke(
        cli, ["template", str(index), "--out", str(tmp_path / "u.xlsx"), "--layout", "units"]
    )
    assert run.exit_code == 2
    assert "a units sheet (a row per unit) is a .csv file" in run.output
    assert not (tmp_path / "u.xlsx").exists()
    # a unit scored on its own keeps its form; asked for, it gets the units sheet too
    assert _header(_template(tmp_path, SEED, name="seed.csv"))[0] == "id"
    units = _template(tmp_path, SEED, "--layout", "units", name="seed-units.csv")
    assert _header(units)[:2] == ["unit", "数量-平安建设.actual"]


def test_indicator_ids_with_dots_go_round_the_units_sheet(tmp_path: Path):
    # OMB PART numbers its questions 1.1 … 4.5: the sheet's columns are "1.1.answer", and
    # every shape that reads a batch takes them as fact "answer" of indicator "1.1".
    pack = EXAMPLES.parent / "us" / "omb-part"
    sheet = _template(tmp_path, pack / "scheme.toml", "--layout", "units")
    header = _header(sheet)
    assert "1.1.answer" in header
    assert "4.5.extent" in header
    cells = {"unit": "prog-a", "shared.has_measures": "true"}
    row = [cells.get(name, "3" if name.endswith(".extent") else "true") for name in header]
    odd = [*row]
    odd[0] = "prog-b"
    odd[header.index("2.3.answer")] = "false"
    with sheet.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([row, odd])
    compiled = perfrules.compile_scheme(perfrules.load_scheme(pack / "scheme.toml"))
    expected = {}
    for unit, cells_of in (("prog-a", row), ("prog-b", odd)):
        facts = {"shared": {"has_measures": True}, "indicators": {}}
        for name, value in zip(header[2:], cells_of[2:], strict=True):
            ident, _, fact = name.rpartition(".")
            parsed = int(value) if fact == "extent" else value == "true"
            facts["indicators"][ident] = {fact: parsed}
        expected[unit] = str(compiled.evaluate(facts).total)
    assert expected["prog-a"] != expected["prog-b"]
    for out in ("results.csv", "results.parquet"):
        run = CliRunner().invoke(
            cli, ["score", str(pack), str(sheet), "--out", str(tmp_path / out)]
        )
        assert run.exit_code == 0, run.output
    with (tmp_path / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = {r["unit"]: r for r in csv.DictReader(handle)}
    assert {unit: r["total"] for unit, r in rows.items()} == expected
    assert all(not r["errors"] for r in rows.values())
    import pandas as pd

    table = pd.read_csv(sheet, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    scored = perfrules.score_table(compiled, table)
    assert dict(zip(scored["unit"], scored["total"].astype(str), strict=True)) == expected
    assert scored["errors"].isna().all()
