"""JSON Schemas for editors: rule files, facts files, case files and pack files.

Exported from the pydantic models, then made friendly to the TOML language servers (Tombi,
Taplo/Even Better TOML), which implement older JSON Schema drafts: ``$defs`` become
``definitions``, a ``$ref`` never has siblings (they move into ``allOf``), ``const`` becomes
``enum``, and ``required`` lists are dropped — a file that ``extends`` another legitimately
leaves keys out, and ``perfrules check`` is the authority on what is missing.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel

from perfrules.model import FactsFile, ReportFile, RuleFile
from perfrules.workflows._packs import CaseFile, PackInfo

__all__ = ["KINDS", "SCHEMA_BASE", "export_schema", "schema_id", "schema_text"]

#: Where the schemas' ids live: stable names, the same wherever perfrules is installed
#: (``.invalid`` is never a real host: editors map the id to the exported file).
SCHEMA_BASE: Final = "https://perfrules.invalid/schemas/"

KINDS: Final[dict[str, tuple[type[BaseModel], str, str]]] = {
    "rules": (RuleFile, "perfrules-rules.v1.schema.json", "perfrules rule file (format 1)"),
    "facts": (FactsFile, "perfrules-facts.v1.schema.json", "perfrules facts file (format 1)"),
    "cases": (CaseFile, "perfrules-cases.v1.schema.json", "perfrules test cases (format 1)"),
    "pack": (PackInfo, "perfrules-pack.v1.schema.json", "perfrules rule pack (pack.toml)"),
    "report": (
        ReportFile,
        "perfrules-report.v1.schema.json",
        "perfrules published report (format 1)",
    ),
}


def _simplify(node: Any) -> Any:
    if isinstance(node, list):
        return [_simplify(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "required":
            continue
        if key == "$defs":
            out["definitions"] = {k: _simplify(v) for k, v in value.items()}
            continue
        if key == "$ref":
            out[key] = value.replace("#/$defs/", "#/definitions/")
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        out[key] = _simplify(value)
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def schema_id(kind: str) -> str:
    """The stable id of the schema of *kind*: what ``#:schema`` directives name."""
    return SCHEMA_BASE + KINDS[kind][1]


def export_schema(kind: str) -> dict[str, Any]:
    """The editor schema of *kind* (``rules``, ``facts``, ``cases`` or ``pack``)."""
    model, file_name, title = KINDS[kind]
    schema = _simplify(model.model_json_schema(mode="validation"))
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_BASE + file_name,
        "title": title,
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text(kind: str) -> str:
    """The schema as stable JSON text (sorted keys, two-space indent, final newline)."""
    return json.dumps(export_schema(kind), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
