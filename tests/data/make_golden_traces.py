"""Write ``golden-traces.jsonl``: trace JSON of many units, to compare bytes after a change.

Run from the repository root (``python tests/data/make_golden_traces.py``) only when a
change to the trace format is deliberate; say in the commit which field changed and why.
Each line holds a scheme path, the facts (plain JSON data) and either the trace JSON the
engine wrote for them or the diagnostics (code, path) it raised.
"""

from __future__ import annotations

import json
import random
import sys
import tomllib
from pathlib import Path

import perfrules
from perfrules.errors import FactsError

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = Path(__file__).with_name("golden-traces.jsonl")
SCHEMES = [
    "rules/examples/xinzhou-zfw-2021/scheme.toml",
    "rules/examples/xinzhou-zfw-2022/scheme.toml",
    "rules/cn/mof-2020-project-self-eval/scheme.toml",
    "rules/us/omb-part/scheme.toml",
    "tests/data/golden-scheme.toml",
]
NUMBERS = [
    "0",
    "1",
    "0.5",
    "50%",
    "80%",
    "85.3%",
    "93%",
    "100%",
    "120%",
    "70/88",
    "7/48",
    "0.1235",
    "1/3",
    "2",
    "88",
    "70",
    "0.875",
    "99.99%",
    "60",
    "45",
]


def _value(rng: random.Random, kind: str, levels: list[str]) -> object:
    roll = rng.random()
    if roll < 0.04:
        return "N/A"
    if kind == "bool":
        return rng.choice([True, False, "是", "否"])
    if kind == "level":
        label = rng.choice(levels)
        return (
            label
            if rng.random() < 0.7
            else {"level": label, "share": rng.choice(["65%", "70%", "90%", "100%"])}
        )
    if roll < 0.1:
        return rng.randint(0, 100)
    return rng.choice(NUMBERS)


def units_for(compiled: perfrules.CompiledScheme, rng: random.Random, n: int) -> list[dict]:
    scheme = compiled.scheme
    out = []
    for _ in range(n):
        indicators: dict[str, dict] = {}
        shared: dict[str, object] = {}
        for index in compiled.plan.leaves:
            node = compiled.plan.nodes[index]
            leaf = node.leaf
            assert leaf is not None
            own: dict[str, object] = {}
            for name in leaf.needs:
                if rng.random() < 0.03:
                    continue  # missing
                declared = scheme.inputs.get(name)
                kind = declared.type if declared is not None else "number"
                levels = []
                if kind == "level" and declared is not None:
                    levels = [lv.label for lv in scheme.scales[declared.scale].levels]
                value = _value(rng, kind, levels)
                if rng.random() < 0.1:
                    shared[name] = value
                else:
                    own[name] = value
            if rng.random() < 0.03:
                own["na"] = "不适用"
            if rng.random() < 0.03:
                own["override"] = {"score": str(node.weight * 9 / 10), "reason": "调减"}
            indicators[node.id] = own
        out.append({"indicators": indicators, "shared": shared, "unit": f"u{len(out)}"})
    return out


def case_facts(scheme_path: Path) -> list[dict]:
    out = []
    for case_file in sorted((scheme_path.parent / "cases").glob("*.toml")):
        for case in tomllib.loads(case_file.read_text(encoding="utf-8"))["case"]:
            facts = case["facts"]
            if isinstance(facts, str):
                data = tomllib.loads((case_file.parent / facts).read_text(encoding="utf-8"))
            else:
                data = facts
            out.append(json.loads(json.dumps(data, default=str)))
    return out


def main() -> None:
    rng = random.Random(20261127)
    lines = []
    for relative in SCHEMES:
        compiled = perfrules.compile_scheme(perfrules.load_scheme(relative))
        for facts in [*case_facts(ROOT / relative), *units_for(compiled, rng, 60)]:
            entry: dict[str, object] = {"scheme": relative, "facts": facts}
            try:
                entry["trace"] = compiled.evaluate(facts).trace.to_json()  # type: ignore[union-attr]
            except FactsError as exc:
                entry["errors"] = [[d.code, list(map(str, d.path))] for d in exc.diagnostics]
            lines.append(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sys.stderr.write(f"{len(lines)} units written to {OUT.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
