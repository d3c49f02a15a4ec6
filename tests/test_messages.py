"""The message table: every code and hint in both languages, with the same fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perfrules._messages import HINTS, MESSAGES, UI, template_fields

ROOT = Path(__file__).resolve().parent.parent


def _base(fields: set[str]) -> set[str]:
    return {f.removesuffix("_zh") for f in fields}


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_has_zh_and_en_with_the_same_fields(code):
    severity, en, zh = MESSAGES[code]
    assert severity in ("error", "warning")
    assert en.strip()
    assert zh.strip()
    chinese = re.search(r"[\u4e00-\u9fff]", zh) or any(
        f.endswith("_zh") for f in template_fields(zh)
    )
    assert chinese, "the zh message must be Chinese (or filled from a *_zh field)"
    assert _base(template_fields(en)) == _base(template_fields(zh))


@pytest.mark.parametrize("table", [HINTS, UI])
def test_hints_and_ui_strings_have_both_languages(table):
    for key, (en, zh) in table.items():
        assert en.strip(), key
        assert zh.strip(), key
        assert _base(template_fields(en)) <= _base(template_fields(zh)) | {"n"}, key


def test_every_code_used_in_the_source_is_in_the_table():
    used = set()
    for path in (ROOT / "src" / "perfrules").rglob("*.py"):
        used.update(re.findall(r'"(PR\d{3})"', path.read_text(encoding="utf-8")))
    assert used <= set(MESSAGES)


def test_every_code_is_documented():
    reference = (ROOT / "docs" / "reference" / "diagnostics.md").read_text(encoding="utf-8")
    missing = [code for code in MESSAGES if f"`{code}`" not in reference]
    assert missing == []
