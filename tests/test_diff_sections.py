"""`perfrules diff` covers every section: grade overrides, [cohort], its values, [ranking],
and the counted flag of rows and groups (a change there moves totals as much as a weight)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import perfrules
from perfrules.cli import cli
from perfrules.workflows._diff import diff_schemes

ROOT = Path(__file__).resolve().parent.parent
TENDER = ROOT / "rules" / "cn" / "procurement-comprehensive-scoring" / "scheme.toml"


def _changed(tmp_path: Path, old: str, new: str) -> Path:
    text = TENDER.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "scheme.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _diff(path: Path) -> list[tuple[str, str, str, str | None, str | None]]:
    before = perfrules.load_scheme(TENDER)
    after = perfrules.load_scheme(path)
    return [(c.kind, c.section, c.id, c.old, c.new) for c in diff_schemes(before, after)]


def test_a_cohort_values_statistic_is_a_change(tmp_path):
    path = _changed(tmp_path, 'stat = "min"', 'stat = "median"')
    assert ("changed", "cohort.values", "lowest_valid_bid", "min", "median") in _diff(path)


def test_the_cohort_key_is_a_change(tmp_path):
    path = _changed(tmp_path, 'group_by = "lot"\n', "")
    assert ("changed", "cohort", "group_by", "lot", "") in _diff(path)


def test_ranking_keys_and_ties_are_changes(tmp_path):
    path = _changed(tmp_path, 'ties = "competition"', 'ties = "dense"')
    assert ("changed", "ranking", "ties", "competition", "dense") in _diff(path)
    path = _changed(tmp_path, '{ by = "bid", order = "asc" }', '{ by = "bid", order = "desc" }')
    changes = _diff(path)
    keys = [c for c in changes if c[1] == "ranking" and c[2] == "keys"]
    assert len(keys) == 1
    assert "bid asc" in keys[0][3]
    assert "bid desc" in keys[0][4]


def test_a_ranking_removed_is_one_change_and_the_cli_names_its_section(tmp_path):
    text = TENDER.read_text(encoding="utf-8")
    start = text.index("[ranking]")
    end = text.index("[[bands]]")
    path = tmp_path / "scheme.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    assert [c for c in _diff(path) if c[1] == "ranking"] == [
        (
            "removed",
            "ranking",
            "ranking",
            "keys: total desc, bid asc, 技术 desc; ties = competition",
            None,
        )
    ]
    result = CliRunner().invoke(
        cli, ["diff", str(TENDER), str(path), "--format", "json"], env={"NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert any(c["section"] == "ranking" and c["kind"] == "removed" for c in data["changes"])
    text_out = CliRunner().invoke(cli, ["diff", str(TENDER), str(path)], env={"NO_COLOR": "1"})
    assert "ranking" in text_out.output


def test_a_row_counted_again_is_a_change(tmp_path):
    form = ROOT / "tests" / "data" / "counted-row.toml"
    text = form.read_text(encoding="utf-8")
    path = tmp_path / "scheme.toml"
    path.write_text(
        text.replace("counted = false\n", "counted = true\n").replace(
            "max = 100\n", 'max = 100\nfit = "normalise"\n', 1
        ),
        encoding="utf-8",
    )
    changes = diff_schemes(perfrules.load_scheme(form), perfrules.load_scheme(path))
    assert ("indicators", "预算执行率", "counted", "false", "true") in [
        (c.section, c.id, c.key, c.old, c.new) for c in changes
    ]
