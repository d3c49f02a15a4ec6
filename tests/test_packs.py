"""The shipped rule packs check clean and score their example facts as computed by hand."""

from __future__ import annotations

from decimal import Decimal

import perfrules
from conftest import MOF, ROOT
from perfrules.rules._front import check_path


def test_every_shipped_scheme_checks_clean():
    schemes = sorted(ROOT.glob("rules/**/scheme.toml"))
    assert len(schemes) >= 2
    for path in schemes:
        _, _, diagnostics = check_path(path)
        assert diagnostics == [], path


def test_mof_example_matches_the_hand_computation():
    compiled = perfrules.compile_scheme(perfrules.load_scheme(MOF / "scheme.toml"))
    result = compiled.evaluate(perfrules.load_facts(MOF / "facts-example.toml"))
    expected = {
        "预算执行率": "9.30",  # 111.6 / 120 = 93 %
        "数量-1": "10.00",  # 520 / 500 capped at 1
        "数量-2": "9.00",  # 18 / 20
        "质量-1": "15.00",  # 96.5 % / 95 % capped
        "时效-1": "7.00",  # 部分达成, default share 0.7
        "成本-1": "4.76",  # reverse: 80 / 84 × 5 = 4.7619…
        "经济效益": None,  # not applicable: excluded
        "社会效益": "13.50",  # 达成 with share 90 %
        "可持续影响": "10.00",
        "满意度-1": "10.00",  # 92 % / 90 % capped
    }
    for node_id, score in expected.items():
        assert result.scores[node_id] == (None if score is None else Decimal(score)), node_id
    # 88.56 of 95 applicable points, renormalised to 100: 93.221… → 93.22
    assert result.total == Decimal("93.22")
    assert result.grade.label == "优"
    assert result.trace.root.applicable == 100


def test_every_shipped_pack_has_cases_and_they_pass():
    from perfrules.workflows._packs import run_cases

    packs = sorted(p.parent for p in ROOT.glob("rules/*/*/pack.toml"))
    assert len(packs) >= 2
    for pack in packs:
        found, results = run_cases(pack)
        assert found.cases, pack
        assert results
        assert all(r.passed for r in results), [r.failures for r in results if not r.passed]


def test_a_wrong_expectation_fails_with_a_readable_message(tmp_path):
    import shutil

    from click.testing import CliRunner

    from perfrules.cli import cli

    pack = tmp_path / "pack"
    shutil.copytree(ROOT / "rules" / "examples" / "xinzhou-zfw-2021", pack)
    case = pack / "cases" / "report.toml"
    case.write_text(
        case.read_text(encoding="utf-8").replace('total = "89.25"', 'total = "89.26"'),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["test", str(pack)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    assert f"{case}:4: case 'the 2021 report as published'" in result.stdout
    assert "total expected 89.26, got 89.25 (tolerance 0)" in result.stdout
    assert "cases: 3 passed, 1 failed" in result.stdout
    filtered = CliRunner().invoke(
        cli, ["test", str(pack), "-k", "rounding"], env={"NO_COLOR": "1"}
    )
    assert filtered.exit_code == 0
    assert "cases: 1 passed, 0 failed" in filtered.stdout


def test_properties_find_a_defect_and_print_facts(tmp_path):
    import shutil

    from click.testing import CliRunner

    from perfrules.cli import cli

    pack = tmp_path / "pack"
    shutil.copytree(ROOT / "rules" / "examples" / "xinzhou-zfw-2021", pack)
    scheme = pack / "scheme.toml"
    text = scheme.read_text(encoding="utf-8")
    scheme.write_text(
        text.replace('completion = "weight * min(actual, 1)"', 'completion = "weight * actual"'),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["test", str(pack), "--properties", "--examples", "200"], env={"NO_COLOR": "1"}
    )
    assert result.exit_code == 1
    assert "counterexample facts:" in result.stdout
    assert "[indicators." in result.stdout
    # the summary says the properties failed, not only that no case did
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith("properties: 0 scheme(s) hold, 1 do not"), last
