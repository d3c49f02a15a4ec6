"""Hostile inputs of the second round: workbooks, cohorts, PDF, lone surrogates, reports, folders.

Each input is generated here, at test time, and each test asserts what a bug would break: the
located error (its code and what it names), the exit code, or the result left unchanged.
Nothing here is timed: the speed of the same inputs is measured in ``benchmarks/``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import perfrules
from perfrules._reading import MAX_FOLDER_ENTRIES
from perfrules.cli import cli
from perfrules.engine._cohort import MAX_TIED_SHOWN, Taking, rank
from perfrules.errors import FactsError
from perfrules.model import CohortValue as CohortValueRule
from perfrules.model import Ranking, RankKey
from perfrules.reports._pdf import MAX_PDF_PAGE, MAX_PDF_ROWS, MAX_PDF_TEXT
from perfrules.trace import Rank, RankKeyValue
from perfrules.workflows._audit import load_report
from perfrules.workflows._batch import score_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "examples" / "xinzhou-zfw-2021" / "scheme.toml"
INDEX = ROOT / "rules" / "examples" / "ranking-index" / "scheme.toml"


# --- XLSX: the parts openpyxl reads whole, the sheets and the cells ---------------------------
def small_workbook() -> bytes:
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "u"
    sheet.append(["编号 id", "业绩值 actual"])
    sheet.append(["a", 1])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewritten(data: bytes, change) -> bytes:
    """The workbook *data* with each part's bytes passed through ``change(name, bytes)``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, change(info.filename, source.read(info.filename)))
    return out.getvalue()


def with_fonts(count: int) -> bytes:
    def change(name: str, body: bytes) -> bytes:
        if name != "xl/styles.xml":
            return body
        text = body.decode()
        return re.sub(
            r"<fonts count=\"\d+\">", '<fonts count="1">' + "<font/>" * count, text
        ).encode()

    return rewritten(small_workbook(), change)


def with_sheets_sharing_one_part(count: int) -> bytes:
    def change(name: str, body: bytes) -> bytes:
        text = body.decode()
        if name == "xl/workbook.xml":
            one = re.search(r"<sheet [^>]*/>", text).group(0)
            many = "".join(
                f'<sheet name="u{i}" sheetId="{i + 2}" r:id="rId1"/>' for i in range(count)
            )
            return text.replace(one, one + many).encode()
        return body

    return rewritten(small_workbook(), change)


def with_dimension(ref: str, last: str) -> bytes:
    """One sheet declaring *ref* as its dimension, with a cell at *last*."""

    def change(name: str, body: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return body
        text = re.sub(r"<dimension[^>]*/>", f'<dimension ref="{ref}"/>', body.decode())
        row = re.match(r"[A-Z]+(\d+)", last).group(1)
        cell = f'<row r="{row}"><c r="{last}" t="inlineStr"><is><t>x</t></is></c></row>'
        return text.replace("</sheetData>", cell + "</sheetData>").encode()

    return rewritten(small_workbook(), change)


def refused(path: Path) -> str:
    """The reason ``load_facts`` and the batch give for refusing the workbook *path*."""
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(path)
    [diagnostic] = info.value.diagnostics
    assert diagnostic.code == "PR105"
    assert diagnostic.file == str(path)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    with pytest.raises(FactsError) as batch:
        score_batch(compiled, path)
    assert [d.code for d in batch.value.diagnostics] == ["PR105"]
    return str(diagnostic.params["reason"])


def test_a_workbook_of_half_a_million_fonts_is_refused_before_openpyxl_reads_it(tmp_path):
    path = tmp_path / "fonts.xlsx"
    path.write_bytes(with_fonts(500_000))
    assert path.stat().st_size < 100_000  # 3.5 MB of styles in a few kilobytes
    reason = refused(path)
    assert "xl/styles.xml" in reason
    assert "100,000 XML elements" in reason


def test_a_workbook_of_ten_thousand_sheets_sharing_one_part_is_refused(tmp_path):
    path = tmp_path / "sheets.xlsx"
    path.write_bytes(with_sheets_sharing_one_part(10_000))
    assert "10,001 sheets (limit 1,000)" in refused(path)


def test_two_sheets_sharing_one_part_are_refused_by_name(tmp_path):
    path = tmp_path / "shared.xlsx"
    path.write_bytes(with_sheets_sharing_one_part(1))
    assert "share the part xl/worksheets/sheet1.xml" in refused(path)


def test_the_cells_a_workbook_pads_its_rows_with_are_counted(tmp_path):
    # A sheet that says it spans A1:GR9999 yields 2,000,000 cells, nearly all empty: a
    # thousand such sheets (each its own part of a few bytes) took a thousand seconds.
    path = tmp_path / "padded.xlsx"
    path.write_bytes(with_dimension("A1:GR9999", "GR9999"))
    with pytest.raises(FactsError) as info:
        perfrules.load_facts(path)
    assert "more than 1,000,000 cells" in str(info.value.diagnostics[0].params["reason"])


def test_workbooks_within_the_budgets_are_read_as_before(tmp_path):
    path = tmp_path / "fine.xlsx"
    path.write_bytes(with_fonts(5_000))
    assert perfrules.load_facts(path).indicators == {"a": {"actual": 1}}
    path.write_bytes(with_dimension("A1:B500", "B500"))
    assert perfrules.load_facts(path).indicators == {"a": {"actual": 1}}


# --- cohorts: tied units ranked in one sort, values read once per distinct text --------------
KEY_VALUES = [
    None,
    Fraction(0),
    Fraction(1),
    1 + Fraction(1, 10**25),  # the same nearest float as 1: only the exact value tells
    Fraction(1, 3),
    Fraction(-2),
    Fraction(10**400),  # past every float
    Fraction(10**400) + 1,
]


def reference_ranks(ranking: Ranking, rows: list) -> dict[int, Rank]:
    """Ranks by definition, quadratic: what the one-sort ranking must give."""
    orders = [key.order for key in ranking.keys]

    def sort_key(row):
        return tuple(
            (1, 0) if v is None else (0, -v if o == "desc" else v)
            for v, o in zip(row[2], orders, strict=True)
        )

    ordered = sorted(rows, key=sort_key)
    ranks = {}
    for index, row in enumerate(ordered):
        same = [r for r in ordered if r[2] == row[2]]
        first = ordered.index(same[0])
        dense = len({r[2] for r in ordered[:first]}) + 1
        position = {"competition": first + 1, "dense": dense, "ordinal": index + 1}
        neighbour = index - 1 if index else 1
        decided_by = None
        if neighbour < len(ordered):
            other = ordered[neighbour][2]
            decided_by = next(
                (k.by for k, a, b in zip(ranking.keys, row[2], other, strict=True) if a != b),
                None,
            )
        ranks[row[0]] = Rank(
            position=position[ranking.ties],
            of=len(ordered),
            ties=ranking.ties,
            keys=tuple(
                RankKeyValue(k.by, k.order, v) for k, v in zip(ranking.keys, row[2], strict=True)
            ),
            tied_with=tuple(r[1] for r in same if r is not row)[:MAX_TIED_SHOWN],
            decided_by=decided_by,
            tied_count=len(same) - 1,
        )
    return ranks


@settings(max_examples=300, deadline=None)
@given(
    orders=st.lists(st.sampled_from(["asc", "desc"]), min_size=1, max_size=3),
    ties=st.sampled_from(["competition", "dense", "ordinal"]),
    data=st.data(),
)
def test_ranking_equals_its_definition_with_ties_missing_values_and_near_floats(
    orders, ties, data
):
    ranking = Ranking(keys=[RankKey(by=f"k{i}", order=o) for i, o in enumerate(orders)], ties=ties)
    values = st.tuples(*[st.sampled_from(KEY_VALUES) for _ in orders])
    keyed = data.draw(st.lists(values, max_size=30))
    rows = [(position, f"u{position % 7}", keys) for position, keys in enumerate(keyed)]
    assert rank(ranking, rows) == reference_ranks(ranking, rows)


def test_a_long_run_of_ties_lists_a_hundred_and_counts_the_rest():
    ranking = Ranking(keys=[RankKey(by="total", order="desc")], ties="competition")
    rows = [(i, f"u{i}", (Fraction(5) if i % 3 else Fraction(7),)) for i in range(600)]
    ranks = rank(ranking, rows)
    assert ranks == reference_ranks(ranking, rows)
    assert ranks[1].position == 201  # 200 units with 7 come first
    assert ranks[1].tied_count == 399
    assert len(ranks[1].tied_with) == MAX_TIED_SHOWN


def test_cohort_values_read_each_text_once_but_report_every_unit_that_fails():
    scheme = perfrules.compile_scheme(perfrules.load_scheme(INDEX))
    good = {"gdp": "12", "green": "45%", "pm25": "30"}
    units = [
        {"unit": f"c{i}", "shared": dict(good, gdp="0,5") if i % 4 == 1 else dict(good)}
        for i in range(40)
    ]
    units[7]["shared"]["gdp"] = "13"
    values = scheme.cohort_values(units)
    assert sorted(values.problems) == list(range(1, 40, 4))  # each bad unit, not only the first
    assert all(e.diagnostics[0].code == "PR402" for e in values.problems.values())
    best = {v.name: (v.value, v.unit, v.units) for v in values.values(None)}
    assert best["best_gdp"] == (Fraction(13), "c7", 30)
    assert best["best_green"] == (Fraction(45, 100), "c0", 30)


# --- --unit on a cohort scheme: one trace kept ----------------------------------------------
def test_unit_option_on_a_cohort_scheme_keeps_one_trace(tmp_path, monkeypatch):
    source = tmp_path / "cities.csv"
    lines = ["unit,shared.gdp,shared.green,shared.pm25"]
    lines += [f"city{i},{10 + i % 5},{40 + i % 7}%,{25 + i % 9}" for i in range(300)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(INDEX))
    everyone = {u.unit: u.result for u in score_batch(compiled, source, trace=True).units}
    traced = []
    real = perfrules.CompiledScheme.evaluate

    def counting(self, facts, *, trace=True, cohort=None):
        traced.append(trace)
        return real(self, facts, trace=trace, cohort=cohort)

    monkeypatch.setattr(perfrules.CompiledScheme, "evaluate", counting)
    run = CliRunner().invoke(
        cli, ["score", str(INDEX), str(source), "--unit", "city250", "--format", "json"]
    )
    assert run.exit_code == 0, run.output
    assert traced.count(True) == 1
    assert len(traced) == 300
    # The one traced is the unit asked for, scored and ranked as when every unit is traced.
    shown = json.loads(run.stdout)
    assert shown == json.loads(everyone["city250"].trace.to_json())
    assert shown["cohort"]["rank"]["position"] == everyone["city250"].rank.position


def reference_value(rule: CohortValueRule, entries: list) -> tuple:
    """(value, unit, units) of a cohort value by definition, from every entry at once."""
    count = len(entries)
    if rule.stat == "count":  # a count names no unit
        return Fraction(count), None, count
    if not entries:
        return None, None, 0
    values = [v for v, _ in entries]
    unit = None
    if rule.stat in ("min", "max"):
        best = min(values) if rule.stat == "min" else max(values)
        value, unit = best, entries[values.index(best)][1]  # the first of equals
    elif rule.stat in ("sum", "mean"):
        value = sum(values, Fraction(0)) / (count if rule.stat == "mean" else 1)
    else:
        share = Fraction(50) if rule.stat == "median" else Fraction(rule.percentile)
        ordered = sorted(entries, key=lambda e: e[0])
        position = (count - 1) * share / 100
        low = int(position)
        value = ordered[low][0] + (position - low) * (
            ordered[min(low + 1, count - 1)][0] - ordered[low][0]
        )
        unit = ordered[low][1] if position == low else None
    return value, entries[0][1] if count == 1 else unit, count


@settings(max_examples=300, deadline=None)
@given(
    stat=st.sampled_from(["min", "max", "sum", "mean", "median", "percentile", "count"]),
    percentile=st.integers(0, 100),
    values=st.lists(st.sampled_from([Fraction(0), Fraction(1), Fraction(1, 3), Fraction(-5)])),
)
def test_cohort_values_taken_unit_by_unit_equal_their_definition(stat, percentile, values):
    rule = CohortValueRule(
        stat=stat,
        of=None if stat == "count" else "x",
        percentile=percentile if stat == "percentile" else None,
    )
    entries = [(value, f"u{i}") for i, value in enumerate(values)]
    taking = Taking(rule)
    for value, unit in entries:
        taking.add(value, unit)
    taken = taking.result("v")
    assert (taken.value, taken.unit, taken.units) == reference_value(rule, entries)


# --- PDF: bounded in rows and text ----------------------------------------------------------
def scheme_of(rows: int, name: str = "指标") -> str:
    text = f'[scheme]\nid = "t"\ntitle = "t"\nmax = {rows}\n\n'
    text += f'[[bands]]\nlabel = "all"\nmin = 0\nmax = {rows}\n\n'
    return text + "".join(
        f'[indicators.i{i}]\nname = "{name}{i}"\nweight = 1\nformula = "weight"\n\n'
        for i in range(rows)
    )


@pytest.fixture
def fake_chromium(tmp_path, monkeypatch):
    """A stand-in for Chromium that keeps the page it was asked to print (``page.html``)."""
    kept = tmp_path / "page.html"
    browser = tmp_path / "fake-chromium"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        "from urllib.parse import unquote, urlparse\n"
        "target = next(a for a in sys.argv if a.startswith('--print-to-pdf='))\n"
        f"shutil.copy(unquote(urlparse(sys.argv[-1]).path), {str(kept)!r})\n"
        "open(target.split('=', 1)[1], 'wb').write(b'%PDF-1.4 fake')\n",
        encoding="utf-8",
    )
    browser.chmod(0o755)
    monkeypatch.setenv("PERFRULES_CHROMIUM", str(browser))
    return kept


def print_pdf(tmp_path: Path, scheme: str, facts: dict) -> tuple[int, str, Path]:
    (tmp_path / "scheme.toml").write_text(scheme, encoding="utf-8")
    (tmp_path / "facts.json").write_text(json.dumps(facts), encoding="utf-8")
    out = tmp_path / "report.pdf"
    run = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "scheme.toml"),
            str(tmp_path / "facts.json"),
            "--format",
            "pdf",
            "--out",
            str(out),
            "--lang",
            "en",
        ],
    )
    return run.exit_code, run.output, out


def test_a_unit_name_of_900000_characters_is_cut_in_the_pdf_and_the_page_says_so(
    tmp_path, fake_chromium
):
    name = "n" * 900_000
    code, output, out = print_pdf(tmp_path, scheme_of(5), {"unit": name, "indicators": {}})
    assert code == 0, output
    assert out.read_bytes() == b"%PDF-1.4 fake"
    page = fake_chromium.read_text(encoding="utf-8")
    assert len(page) < MAX_PDF_PAGE
    assert "n" * MAX_PDF_TEXT + "…" in page
    assert "n" * (MAX_PDF_TEXT + 1) not in page
    assert f"Texts over {MAX_PDF_TEXT:,} characters are cut" in page


def test_a_pdf_of_a_9000_row_scheme_is_refused_before_chromium_starts(tmp_path, fake_chromium):
    code, output, out = print_pdf(tmp_path, scheme_of(9_000), {"indicators": {}})
    assert code == 2
    assert f"9,000 rows (scheme t); a PDF prints at most {MAX_PDF_ROWS:,}" in output
    assert "--format html" in output
    assert not fake_chromium.exists()
    assert not out.exists()


def test_a_pdf_page_past_its_budget_is_refused_and_a_page_within_is_printed_whole(
    tmp_path, fake_chromium
):
    long_names = scheme_of(320, "n" * 1_900)  # every name under the text budget
    code, output, _ = print_pdf(tmp_path, long_names, {"indicators": {}})
    assert code == 2
    assert f"a PDF prints at most {MAX_PDF_PAGE:,}" in output
    assert not fake_chromium.exists()
    code, output, _ = print_pdf(tmp_path, scheme_of(17), {"unit": "单位 & <b>", "indicators": {}})
    assert code == 0, output
    page = fake_chromium.read_text(encoding="utf-8")
    assert "单位 &amp; &lt;b&gt;" in page
    assert 'id="cut"' not in page  # nothing cut, nothing said


# --- lone surrogates: refused where they come in, never a crash where they go out ----------
def seed_facts() -> dict:
    return tomllib.loads((SEED.parent / "facts.toml").read_text(encoding="utf-8"))


def json_bytes(document: dict) -> bytes:
    """JSON as a program would write it: every non-ASCII character as a \\u escape."""
    return json.dumps(document, ensure_ascii=True, default=str).encode("ascii")


def perfrules_run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """``perfrules`` in a child process: its real standard output, encoded as UTF-8."""
    return subprocess.run(
        [sys.executable, "-m", "perfrules", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"},
    )


def with_lone_surrogates() -> dict[str, dict]:
    unit = seed_facts()
    unit["unit"] = "x\ud800y"
    key = seed_facts()
    key["indicators"]["\udc00bad"] = {"actual": "1"}
    return {"unit name": unit, "indicator key": key}


@pytest.mark.parametrize("where", ["unit name", "indicator key"])
@pytest.mark.parametrize("output", ["json", "html"])
def test_a_lone_surrogate_from_stdin_is_a_located_error_in_every_format(where, output):
    data = json_bytes(with_lone_surrogates()[where])
    assert b"\\ud800" in data or b"\\udc00" in data
    done = perfrules_run("score", str(SEED), "-", "--format", output, stdin=data)
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "lone surrogate" in stderr
    column = data.index(b"\\ud800" if where == "unit name" else b"\\udc00") + 1
    assert f"stdin.json:1:{column}: error[PR100]" in stderr
    if output == "json":  # the document of the diagnostics, still
        [diagnostic] = json.loads(done.stdout)
        assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == (
            "PR100",
            1,
            column,
        )


def test_a_folder_member_with_a_lone_surrogate_fails_alone_and_others_score(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    (units / "a.json").write_bytes(json_bytes(with_lone_surrogates()["unit name"]))
    (units / "b.json").write_bytes(json_bytes(with_lone_surrogates()["indicator key"]))
    good = seed_facts()
    good["unit"] = "好 \ud83d\ude00"  # a whole pair is a character (😀)
    (units / "c.json").write_bytes(json_bytes(good))
    out = tmp_path / "results.jsonl"
    done = perfrules_run("score", str(SEED), str(units), "--out", str(out))
    assert done.returncode == 1, done.stderr.decode()
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["unit"] for line in lines] == ["a", "b", "好 😀"]
    assert [line["errors"][0]["code"] for line in lines[:2]] == ["PR100", "PR100"]
    assert lines[2]["trace"]["total"] == "89.25"
    for output in ("json", "html"):
        done = perfrules_run("score", str(SEED), str(units), "--unit", "a", "--format", output)
        assert done.returncode == 1, done.stderr.decode()
        assert "a.json:1:" in done.stderr.decode()
        done = perfrules_run("score", str(SEED), str(units), "--unit", "好 😀", "--format", output)
        assert done.returncode == 0, done.stderr.decode()
        assert "好 😀" in done.stdout.decode("utf-8")


def test_a_folder_member_whose_name_is_not_utf8_is_that_units_error(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    (units / "ok.json").write_bytes(json_bytes(seed_facts()))
    (Path(os.fsdecode(bytes(units))) / os.fsdecode(b"\xff\xfe.json")).write_bytes(
        json_bytes(seed_facts())
    )
    for ending in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"results.{ending}"
        done = perfrules_run("score", str(SEED), str(units), "--out", str(out))
        stderr = done.stderr.decode("utf-8")
        assert done.returncode == 1, stderr
        assert "Traceback" not in stderr
    text = (tmp_path / "results.csv").read_text(encoding="utf-8-sig")
    assert "\\xff\\xfe,,," in text
    assert "\\xff\\xfe.json: its name is not UTF-8" in text


def test_text_given_with_a_lone_surrogate_is_refused_at_its_place():
    with pytest.raises(FactsError) as info:
        perfrules.loads_facts('unit = "a"\n\n[indicators]\nx = { actual = "1\ud800" }\n')
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("PR108", 4, 18)
    with pytest.raises(FactsError) as info:
        perfrules.loads_facts('{"unit":\n  "a\\udfff"}', format="json")
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("PR100", 2, 5)
    text = '{"unit": "\\\\ud800 \\ud83d\\ude00"}'  # an escaped backslash, then a whole pair
    assert perfrules.loads_facts(text, format="json").unit == "\\ud800 😀"


# --- folders of units: a budget on their members ---------------------------------------------
def test_a_folder_of_more_entries_than_the_budget_is_refused_before_any_is_read(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    (units / "a.json").write_bytes(json_bytes(seed_facts()))
    (units / "b.json").write_bytes(json_bytes(seed_facts()))
    for i in range(MAX_FOLDER_ENTRIES - 2):  # entries of every kind count
        (units / f"note{i}.txt").touch()
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED))
    outcome = score_batch(compiled, units)  # at the budget: read as before
    assert [u.result.total for u in outcome.units] == [Decimal("89.25")] * 2
    (units / "one-too-many.txt").touch()
    with pytest.raises(FactsError) as info:
        score_batch(compiled, units)
    [diagnostic] = info.value.diagnostics
    assert diagnostic.code == "PR105"
    assert diagnostic.file == str(units)
    assert f"more than {MAX_FOLDER_ENTRIES:,} entries" in diagnostic.params["reason"]
    run = CliRunner().invoke(
        cli, ["score", str(SEED), str(units), "--out", str(tmp_path / "r.csv"), "--lang", "en"]
    )
    assert run.exit_code == 2
    assert f"{units}: error[PR105]" in run.output
    assert not (tmp_path / "r.csv").exists()
    run = CliRunner().invoke(cli, ["score", str(SEED), str(units), "--unit", "a"])
    assert run.exit_code == 2
    assert "entries" in run.output


# --- audit reports: published scores of the wrong shape -------------------------------------
@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ('"abc"', "abc"),
        ("[1, 2]", "[1, 2]"),
        ('[["数量-平安建设", "4.80"]]', "[['数量-平安建设', '4.80']]"),  # pairs: not a table
    ],
)
def test_published_scores_that_are_not_a_table_are_a_located_error(tmp_path, written, shown):
    report = tmp_path / "report.toml"
    facts = (SEED.parent / "facts.toml").read_text(encoding="utf-8")
    report.write_text(
        facts + f'\n[published]\ntotal = "89.25"\nscores = {written}\n', encoding="utf-8"
    )
    line = report.read_text(encoding="utf-8").splitlines().index(f"scores = {written}") + 1
    with pytest.raises(FactsError) as info:
        load_report(report)
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.code, diagnostic.line) == ("PR402", line)
    assert diagnostic.params["value"] == shown
    run = CliRunner().invoke(cli, ["audit", str(SEED), str(report), "--lang", "en"])
    assert run.exit_code == 1
    shown_line = " ".join(run.output.split())  # the terminal wraps long lines
    assert f"report.toml:{line}:1: error[PR402]: cannot read {shown} as a table" in shown_line
    json_report = tmp_path / "report.json"
    document = {
        **seed_facts(),
        "published": {"scores": json.loads(json.dumps(tomllib.loads(f"v = {written}")["v"]))},
    }
    json_report.write_text(json.dumps(document, default=str), encoding="utf-8")
    with pytest.raises(FactsError) as info:
        load_report(json_report)
    assert [d.code for d in info.value.diagnostics] == ["PR402"]
