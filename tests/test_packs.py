"""The shipped rule packs check clean and score their example facts as computed by hand."""

from __future__ import annotations

from decimal import Decimal

import perfrules
from conftest import MOF, ROOT
from perfrules._compile import check_path


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
