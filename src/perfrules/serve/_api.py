"""The workbench's JSON answers: each the same library call and document as a CLI command's.

Each answer equals the CLI's ``--format json`` for the same input (the tests compare them).

Every function here takes the served :class:`~perfrules.serve._guard.Root` and the request's
parsed JSON body and returns ``(status, document)``; :class:`Answer` carries an early answer
(diagnostics, a refusal). Nothing here names a server path: files are named relative to the root.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
import tempfile
import threading
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

from perfrules._numbers import format_number, format_short
from perfrules.engine import CompiledScheme, compile_scheme
from perfrules.errors import Diagnostic, DiagnosticsError, Lang, RuleFileError
from perfrules.facts import Facts, load_facts, loads_facts
from perfrules.rules import check_path
from perfrules.serve._guard import KINDS, MAX_FILE, Refused, Root
from perfrules.trace import NodeTrace, Trace
from perfrules.workflows import (
    Case,
    PackError,
    diff_schemes,
    facts_toml,
    find_pack,
    new_year_text,
    read_units,
    run_cases,
    what_if,
    what_if_traces,
    write_atomic,
)

__all__ = [
    "Answer",
    "audit",
    "check",
    "diff",
    "diff_unit",
    "explain",
    "export",
    "list_files",
    "new_year",
    "prove",
    "read_file",
    "save_case",
    "save_file",
    "score",
    "test_pack",
]

#: Most examples a Prove run may ask for (the CLI's default).
MAX_EXAMPLES: Final = 1000
#: Most files the listing names, and folders it walks.
MAX_LISTED: Final = 2000
MAX_FOLDERS: Final = 2000
_SKIPPED_FOLDERS: Final = frozenset({"node_modules", "__pycache__", "site", "build", "dist"})
#: One heavy job (a property search, a PDF) at a time; writes one at a time.
_JOB = threading.Lock()
_WRITE = threading.Lock()

Document = dict[str, Any] | list[Any]


class Answer(Exception):  # noqa: N818 - an answer, not a bug
    """Stop and answer with *status* and *document*."""

    def __init__(self, status: HTTPStatus, document: Document) -> None:
        """Keep the answer."""
        super().__init__(status.phrase)
        self.status = status
        self.document = document


def _lang(body: Mapping[str, Any], default: Lang) -> Lang:
    value = body.get("lang", default)
    return "en" if value == "en" else "zh" if value == "zh" else default


def _text_field(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": f"'{key}' must be a string"})
    if len(value.encode("utf-8")) > MAX_FILE:
        raise Answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"'{key}' is over 1 MiB"})
    return value


def _spec(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key)
    if not isinstance(value, Mapping):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": f"'{key}' must be an object"})
    return value


def diagnostics_document(
    root: Root, diagnostics: list[Diagnostic], lang: Lang
) -> list[dict[str, Any]]:
    """The diagnostics as ``perfrules check --format json`` writes them, files root-relative."""
    out = []
    for diagnostic in diagnostics:
        entry = diagnostic.to_dict(lang)
        if diagnostic.file is not None:
            entry["file"] = root.relative(diagnostic.file)
        out.append(entry)
    return out


def _scheme_text(root: Root, spec: Mapping[str, Any]) -> tuple[Path, str | None]:
    name = spec.get("path")
    if not isinstance(name, str):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'path' must be a string"})
    text = _text_field(spec, "text")
    return root.path(name, must_exist=text is None), text


def _compiled(root: Root, spec: Mapping[str, Any], lang: Lang) -> CompiledScheme:
    """The scheme named (and perhaps edited) in *spec*, compiled; diagnostics → 422."""
    path, text = _scheme_text(root, spec)
    scheme, result, diagnostics = check_path(root.given(path), text, root=root.folder, files=True)
    if scheme is None or result is None or any(d.severity == "error" for d in diagnostics):
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"diagnostics": diagnostics_document(root, diagnostics, lang)},
        )
    try:
        return compile_scheme(scheme)
    except RuleFileError as exc:
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"diagnostics": diagnostics_document(root, list(exc.diagnostics), lang)},
        ) from None


#: The kinds of facts file the page may upload.
UPLOADS: Final = (".xlsx", ".csv", ".toml", ".json")


def _uploaded(root: Root, upload: object, lang: Lang) -> Facts:
    """Facts from a file the page uploaded (``{"name": …, "data": base64}``), never kept.

    The file is read from a scratch folder outside the served one; answers name it by its name.
    """
    if not isinstance(upload, Mapping) or not all(
        isinstance(upload.get(k), str) for k in ("name", "data")
    ):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "an upload is {name, data (base64)}"})
    name = Path(upload["name"]).name
    if Path(name).suffix.lower() not in UPLOADS or name.startswith("."):
        raise Answer(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "upload .xlsx, .csv, .toml or .json"}
        )
    try:
        data = base64.b64decode(upload["data"], validate=True)
    except (binascii.Error, ValueError):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "the upload is not base64"}) from None
    if len(data) > MAX_FILE:
        raise Answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "the upload is over 1 MiB"})
    with tempfile.TemporaryDirectory(prefix="perfrules-upload-") as scratch:
        path = Path(scratch) / name
        path.write_bytes(data)
        try:
            return load_facts(path)
        except DiagnosticsError as exc:
            found = diagnostics_document(root, list(exc.diagnostics), lang)
            text = json.dumps(found, ensure_ascii=False).replace(scratch + os.sep, "")
            raise Answer(
                HTTPStatus.UNPROCESSABLE_ENTITY, {"diagnostics": json.loads(text)}
            ) from None


def _facts(root: Root, spec: Mapping[str, Any], lang: Lang) -> Facts:
    """The facts named in *spec* (a file), written in it (TOML or JSON text) or uploaded."""
    if spec.get("upload") is not None:
        return _overridden(_uploaded(root, spec["upload"], lang), spec.get("overrides"))
    text = _text_field(spec, "text")
    try:
        if text is not None:
            kind = "json" if text.lstrip().startswith("{") else "toml"
            name = spec.get("path") if isinstance(spec.get("path"), str) else f"facts.{kind}"
            facts = loads_facts(text, format=kind, name=str(name))
        else:
            name = spec.get("path")
            if not isinstance(name, str):
                raise Answer(HTTPStatus.BAD_REQUEST, {"error": "facts need 'path' or 'text'"})
            facts = load_facts(root.given(root.path(name)))
    except DiagnosticsError as exc:
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"diagnostics": diagnostics_document(root, list(exc.diagnostics), lang)},
        ) from None
    return _overridden(facts, spec.get("overrides"))


def _overridden(facts: Facts, overrides: object) -> Facts:
    """*facts* with what-if values: ``{indicator id: {input name: "80%"}}``."""
    if not overrides:
        return facts
    if not isinstance(overrides, Mapping):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'overrides' must be an object"})
    indicators = dict(facts.indicators)
    for node_id, values in overrides.items():
        if not isinstance(values, Mapping) or not all(isinstance(v, str) for v in values.values()):
            raise Answer(HTTPStatus.BAD_REQUEST, {"error": "overrides are text values"})
        current = indicators.get(node_id)
        merged = dict(current) if isinstance(current, Mapping) else {}
        merged.update(values)
        indicators[node_id] = merged
    return dataclasses.replace(facts, indicators=indicators, sha256="")


def _evaluate(root: Root, body: Mapping[str, Any], lang: Lang) -> Trace:
    compiled = _compiled(root, _spec(body, "scheme"), lang)
    facts = _facts(root, _spec(body, "facts"), lang)
    try:
        result = compiled.evaluate(facts)
    except DiagnosticsError as exc:
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"diagnostics": diagnostics_document(root, list(exc.diagnostics), lang)},
        ) from None
    assert result.trace is not None  # noqa: S101 - evaluate traces by default
    return result.trace


# -- files -----------------------------------------------------------------------------------


def _kind(relative: Path) -> str:
    name = relative.name.lower()
    if name == "pack.toml":
        return "pack"
    if relative.parent.name == "cases":
        return "cases"
    if "report" in name:
        return "report"
    if "facts" in name or "what-if" in name or relative.suffix.lower() != ".toml":
        return "facts"
    return "scheme"


def list_files(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """Every rule, facts, case and pack file under the root (no hidden or build folders)."""
    del body, lang
    files: list[dict[str, str]] = []
    for visited, (folder, subfolders, names) in enumerate(os.walk(root.folder)):
        # symlinked folders are not followed; a huge tree (a home folder) is cut short
        if visited >= MAX_FOLDERS:
            return {"files": files, "truncated": True}
        subfolders[:] = sorted(
            s for s in subfolders if not s.startswith(".") and s not in _SKIPPED_FOLDERS
        )
        for name in sorted(names):
            path = Path(folder) / name
            if name.startswith(".") or path.suffix.lower() not in KINDS or path.is_symlink():
                continue
            relative = path.relative_to(root.folder)
            files.append({"path": relative.as_posix(), "kind": _kind(relative)})
            if len(files) >= MAX_LISTED:
                return {"files": files, "truncated": True}
    return {"files": files, "truncated": False}


def read_file(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """A text file's contents and sha256 (the version a later save must still find on disk)."""
    del lang
    name = body.get("path")
    if not isinstance(name, str):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'path' must be a string"})
    data, digest = root.read(name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Answer(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "not a UTF-8 text file"}
        ) from None
    return {"path": root.relative(root.path(name)), "text": text, "sha256": digest}


def save_file(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """Write a text file atomically, unless it changed on disk since it was opened.

    ``sha256`` is the digest :func:`read_file` gave (``null`` for a new file): a file whose
    bytes on disk no longer have it is not overwritten (409, with the digest found).
    """
    del lang
    name = body.get("path")
    text = _text_field(body, "text")
    if not isinstance(name, str) or text is None:
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'path' and 'text' are required"})
    if Path(name).suffix.lower() not in (".toml", ".json", ".csv"):
        raise Refused(HTTPStatus.FORBIDDEN, "only .toml, .json and .csv files are saved")
    expected = body.get("sha256")
    with _WRITE:
        path = root.path(name, must_exist=False)
        current = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        if current != expected:
            raise Answer(
                HTTPStatus.CONFLICT,
                {"error": "the file changed on disk since it was opened", "sha256": current},
            )
        data = text.encode("utf-8")
        write_atomic(path, data)
    return {"path": root.relative(path), "sha256": hashlib.sha256(data).hexdigest()}


def new_year(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules new-year SCHEME --year N --out TARGET``: next year's scheme, never over a file.

    The new file extends the old one and says, in comments, how to change it.
    """
    language = _lang(body, lang)
    old = body.get("path")
    target_name = body.get("target")
    year = body.get("year")
    if not isinstance(old, str) or not isinstance(target_name, str) or not isinstance(year, int):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'path', 'target' and 'year' are needed"})
    if not 1900 <= year <= 2999 or not target_name.endswith(".toml"):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "a year 1900-2999 and a .toml target"})
    compiled = _compiled(root, {"path": old}, language)
    old_path = root.path(old)
    candidate = (root.folder / target_name).resolve()
    if not candidate.is_relative_to(root.folder) or Path(target_name).is_absolute():
        raise Refused(HTTPStatus.FORBIDDEN, "the path leaves the served folder")
    with _WRITE:
        candidate.parent.mkdir(parents=True, exist_ok=True)
        target = root.path(target_name, must_exist=False)
        if target.exists():
            raise Answer(HTTPStatus.CONFLICT, {"error": "the file exists already"})
        text = new_year_text(compiled, root.given(old_path), root.given(target), year, language)
        write_atomic(target, text)
    return {"path": root.relative(target), "sha256": hashlib.sha256(text.encode()).hexdigest()}


# -- rules -----------------------------------------------------------------------------------


def check(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules check FILE --format json`` of the file, or of the text being edited.

    Each diagnostic's ``line``/``column`` to ``end_line``/``end_column`` is what the editor
    underlines.
    """
    language = _lang(body, lang)
    path, text = _scheme_text(root, body)
    _, _, diagnostics = check_path(root.given(path), text, root=root.folder, files=True)
    return {"diagnostics": diagnostics_document(root, diagnostics, language)}


def _short(value: object) -> str:
    """A value as the text and HTML reports show it: ``4.772727…``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return format_short(value)
    return "" if value is None else str(value)


def shown(trace: Trace) -> dict[str, dict[str, Any]]:
    """The numbers of each row's explanation as the reports write them, by row id.

    The trace's values are exact (a repeating one to 28 digits); the page shows these
    short forms, made by the library's formatter, next to them: ``steps`` (one per step),
    ``roundings`` (``before`` and ``after``, one per rounding) and ``inputs`` (by name).
    """
    out: dict[str, dict[str, Any]] = {}
    stack: list[NodeTrace] = [trace.root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if not (node.steps or node.roundings or node.inputs):
            continue
        out[node.id] = {
            "steps": [_short(step.value) for step in node.steps],
            "roundings": [
                {"before": _short(r.before), "after": format_number(r.after, r.places)}
                for r in node.roundings
            ],
            "inputs": {i.name: _short(i.value) for i in node.inputs},
        }
    return out


def score(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules score SCHEME FACTS --format json``: the trace (``perfrules.trace/1``).

    ``shown`` has the short forms of the explanations' numbers (see :func:`shown`).
    """
    trace = _evaluate(root, body, _lang(body, lang))
    return {"trace": trace.to_dict(), "shown": shown(trace)}


def explain(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules explain SCHEME FACTS IDS --format json``: the rows' traces."""
    trace = _evaluate(root, body, _lang(body, lang))
    ids = body.get("ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'ids' must be a list of strings"})
    unknown = [i for i in ids if trace.root.find(i) is None]
    if unknown:
        raise Answer(HTTPStatus.NOT_FOUND, {"error": f"no indicator or group with id {unknown}"})
    document = trace.to_dict()
    if not ids:
        return document
    return {"format": document["format"], "nodes": [_node(document["root"], i) for i in ids]}


def _node(node: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    """The row *node_id* of a trace document."""
    if node["id"] == node_id:
        return node
    for child in node["children"]:
        found = _node(child, node_id)
        if found is not None:
            return found
    return None


def diff(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules diff OLD NEW [--facts F] --format json``: changes; what they do to a unit."""
    language = _lang(body, lang)
    before = _compiled(root, _spec(body, "old"), language)
    after = _compiled(root, _spec(body, "new"), language)
    changes = diff_schemes(before.scheme, after.scheme)
    what = None
    if body.get("facts") is not None:
        facts = _facts(root, _spec(body, "facts"), language)
        try:
            what = what_if(before, after, facts)
        except DiagnosticsError as exc:
            raise Answer(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                {"diagnostics": diagnostics_document(root, list(exc.diagnostics), language)},
            ) from None
    document: dict[str, Any] = {
        "old": {"id": before.id, "sha256": before.sha256},
        "new": {"id": after.id, "sha256": after.sha256},
        "changes": [c.to_dict() for c in changes],
        "what_if": None if what is None else what.to_dict(),
    }
    if body.get("units") is not None:
        document["units"] = _units_what_if(root, _spec(body, "units"), before, after, language)
    return document


#: Most units whose what-if the diff computes.
MAX_UNITS: Final = 5000


def _units_what_if(
    root: Root,
    spec: Mapping[str, Any],
    before: CompiledScheme,
    after: CompiledScheme,
    lang: Lang,
) -> list[dict[str, Any]]:
    """Each unit of a many-unit facts file scored under both schemes: whose grade changes.

    Grade changes first, then the largest moves of the total; a unit that cannot be scored
    carries its diagnostics.
    """
    name = spec.get("path")
    if not isinstance(name, str):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'units' needs a 'path'"})
    source = root.given(root.path(name))
    rows: list[dict[str, Any]] = []
    for unit, facts, _ in read_units(source, after):
        if len(rows) >= MAX_UNITS:
            break
        try:
            if isinstance(facts, DiagnosticsError):
                raise facts
            what = what_if(before, after, facts).to_dict()
        except DiagnosticsError as exc:
            rows.append(
                {
                    "unit": unit,
                    "diagnostics": diagnostics_document(root, list(exc.diagnostics[:5]), lang),
                }
            )
            continue
        grade = what["grade"]
        rows.append(
            {
                "unit": unit,
                "total": what["total"],
                "grade": grade,
                "grade_changes": grade["old"] != grade["new"],
            }
        )

    def order(row: dict[str, Any]) -> tuple[int, Decimal]:
        if "total" not in row:
            return (2, Decimal(0))
        delta = row["total"]["delta"]
        return (0 if row["grade_changes"] else 1, -abs(Decimal(delta or "0")))

    return sorted(rows, key=order)


def diff_unit(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """One unit of a many-unit facts file scored under both schemes: its two traces.

    ``old`` and ``new`` each hold the trace (as ``perfrules score --format json`` writes it)
    and its short numbers (:func:`shown`), to read side by side; the first unit of that name
    is the one scored, as in the diff's table of units.
    """
    language = _lang(body, lang)
    before = _compiled(root, _spec(body, "old"), language)
    after = _compiled(root, _spec(body, "new"), language)
    name = _spec(body, "units").get("path")
    unit = body.get("unit")
    if not isinstance(name, str) or not isinstance(unit, str):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'units.path' and 'unit' are needed"})
    source = root.given(root.path(name))
    for found, facts, _ in read_units(source, after):
        if found != unit:
            continue
        try:
            if isinstance(facts, DiagnosticsError):
                raise facts
            old_trace, new_trace = what_if_traces(before, after, facts)
        except DiagnosticsError as exc:
            raise Answer(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                {"diagnostics": diagnostics_document(root, list(exc.diagnostics), language)},
            ) from None
        return {
            "unit": unit,
            "old": {"trace": old_trace.to_dict(), "shown": shown(old_trace)},
            "new": {"trace": new_trace.to_dict(), "shown": shown(new_trace)},
        }
    raise Answer(HTTPStatus.NOT_FOUND, {"error": f"no unit named {unit!r} in {name}"})


# -- tests and proofs -----------------------------------------------------------------------------


def test_pack(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules test PACK --format json``: one entry per case."""
    name = body.get("pack")
    if not isinstance(name, str):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'pack' must be a string"})
    return _case_entries(root, name, _lang(body, lang))


def _pack_file(root: Root, name: str) -> Path:
    """The ``pack.toml`` of the pack *name* (its folder, or the file itself)."""
    return root.path(name if name.endswith("pack.toml") else f"{name}/pack.toml")


def _case_entries(root: Root, name: str, language: Lang) -> list[dict[str, Any]]:
    pack_file = _pack_file(root, name)
    try:
        pack, results = run_cases(root.given(pack_file.parent))
    except (RuleFileError, PackError) as exc:
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"diagnostics": diagnostics_document(root, list(exc.diagnostics), language)},
        ) from None
    return [
        {
            "pack": root.relative(pack.root),
            "file": root.relative(result.file),
            "line": result.line,
            "case": result.name,
            "passed": result.passed,
            "failures": [root.scrub(f) for f in result.failures],
            "messages": [root.scrub(f) for f in result.failures_in(language)],
        }
        for result in results
    ]


def prove(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules test --properties``: the scheme's invariants on many generated units.

    The ``properties`` entry of the CLI's JSON, with the counterexample as a facts file.
    """
    language = _lang(body, lang)
    compiled = _compiled(root, _spec(body, "scheme"), language)
    examples = body.get("examples", 200)
    if not isinstance(examples, int) or not 1 <= examples <= MAX_EXAMPLES:
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": f"'examples' is 1 to {MAX_EXAMPLES}"})
    try:
        from perfrules.testing import property_report  # noqa: PLC0415 - only for Prove
    except ImportError:  # pragma: no cover - hypothesis is part of the serve extra
        raise Answer(
            HTTPStatus.NOT_IMPLEMENTED, {"error": "Prove needs: pip install 'perfrules[testing]'"}
        ) from None
    with _JOB:
        report = property_report(compiled, max_examples=examples, lang=language)
    # The counterexample Score can open: one unit's facts file (a cohort's units are not).
    return {"properties": report.entry, "counterexample": report.facts}


#: The cases file the workbench adds to, in the pack's ``cases`` folder, unless told another.
CASES_FILE: Final = "workbench.toml"
#: The keyword every saved case carries (``perfrules test PACK -k workbench`` runs them).
CASE_KEYWORD: Final = "workbench"


def _toml_string(text: str) -> str:
    """*text* as a TOML basic string (JSON's escapes are TOML's; TOML also escapes DEL)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _case_text(name: str, facts: Facts, expect: Mapping[str, Any]) -> str:
    """One ``[[case]]``: its name, keyword, what must come out, and the unit's facts."""
    lines = [
        "",
        "# Saved from the workbench.",
        "[[case]]",
        f"name = {_toml_string(name)}",
        f"keywords = [{_toml_string(CASE_KEYWORD)}]",
        "",
        "[case.expect]",
    ]
    lines += [
        f"{key} = {_toml_string(str(expect[key]))}"
        for key in ("total", "grade")
        if expect.get(key) is not None
    ]
    errors = expect.get("errors") or []
    if errors:
        lines.append(f"errors = [{', '.join(_toml_string(str(code)) for code in errors)}]")
    scores = expect.get("scores") or {}
    if scores:
        lines += ["", "[case.expect.scores]"]
        lines += [f"{_toml_string(k)} = {_toml_string(str(v))}" for k, v in scores.items()]
    plain = {"indicators": dict(facts.indicators), "shared": dict(facts.shared)}
    return "\n".join([*lines, "", facts_toml(plain, prefix="case.facts.")]).rstrip() + "\n"


def _valid_cases(text: str) -> list[Case]:
    """The cases of a cases file's *text*, or a 422 saying why it is not one."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
        entries = data.get("case")
        if not isinstance(entries, list) or set(data) != {"case"}:
            raise ValueError  # noqa: TRY301 - the same answer as a bad case
        return [Case.model_validate(entry) for entry in entries]
    except ValueError:  # a TOML error, a pydantic ValidationError
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"error": "the cases file would not be a valid cases file: nothing was written"},
        ) from None


def save_case(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """Add a unit's facts and what must come out as a case of a pack, atomically.

    ``pack`` is the pack's folder (as for ``/api/test``), ``name`` the case's name,
    ``facts`` the unit (as for ``/api/score``: a file, text, an upload, what-if values),
    ``expect`` what must come out (``total``, ``grade``, ``scores``, or the ``errors`` the
    facts must raise, e.g. ``["PR501"]``), ``file`` the cases
    file in the pack's ``cases`` folder (``workbench.toml``). The file stays a valid cases
    file or is not written; a name it has already is refused (409). The answer names the
    file and gives the new case's outcome as ``perfrules test PACK --format json`` does
    (``null``, with the scheme's ``diagnostics``, when the pack's scheme has errors).
    """
    language = _lang(body, lang)
    pack_name, name, expect = body.get("pack"), body.get("name"), body.get("expect")
    file_name = body.get("file", CASES_FILE)
    if not isinstance(pack_name, str) or not isinstance(name, str) or not name.strip():
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'pack' and 'name' are needed"})
    if not isinstance(expect, Mapping) or not any(
        expect.get(k) for k in ("total", "grade", "errors")
    ):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'expect' needs a total, grade or errors"})
    if not isinstance(expect.get("errors", []), list):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'expect.errors' is a list of codes"})
    if (
        not isinstance(file_name, str)
        or Path(file_name).name != file_name
        or not file_name.endswith(".toml")
        or file_name.startswith(".")
    ):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'file' is a .toml name in cases/"})
    if not isinstance(expect.get("scores", {}), Mapping):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'expect.scores' must be an object"})
    pack_file = _pack_file(root, pack_name)
    try:
        pack = find_pack(root.given(pack_file.parent))
    except (RuleFileError, PackError) as exc:
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"diagnostics": diagnostics_document(root, list(exc.diagnostics), language)},
        ) from None
    facts = _facts(root, _spec(body, "facts"), language)
    relative = Path(root.relative(pack.root)) / "cases" / file_name
    added = _case_text(name.strip(), facts, expect)
    with _WRITE:
        try:
            (root.folder / relative.parent).mkdir(exist_ok=True)
        except OSError:  # a file or a broken link named cases
            raise Refused(HTTPStatus.FORBIDDEN, "the pack's cases folder cannot be used") from None
        target = root.path(relative.as_posix(), must_exist=False)
        old = target.read_text(encoding="utf-8") if target.exists() else ""
        if old and any(case.name == name.strip() for case in _valid_cases(old)):
            raise Answer(HTTPStatus.CONFLICT, {"error": f"a case named {name!r} is there already"})
        text = (old if not old or old.endswith("\n") else old + "\n") + added
        _valid_cases(text)
        write_atomic(target, text)
    here = root.relative(target)
    try:
        entries = _case_entries(root, pack_name, language)
    except Answer as answer:  # saved, but the pack's scheme has errors: nothing ran
        return {"path": here, "result": None, **dict(answer.document)}
    mine = [e for e in entries if e["file"] == here and e["case"] == name.strip()]
    return {"path": here, "result": mine[-1] if mine else None}


# -- audit ---------------------------------------------------------------------------------------


def audit(root: Root, body: Mapping[str, Any], lang: Lang) -> Document:
    """``perfrules audit SCHEME REPORT --format json``: each published row recomputed.

    Every mismatch comes with its likeliest slip (a rounding the wrong way, a subtotal that is
    not the sum).
    """
    from perfrules.workflows import audit as audit_report  # noqa: PLC0415
    from perfrules.workflows import load_report  # noqa: PLC0415

    language = _lang(body, lang)
    compiled = _compiled(root, _spec(body, "scheme"), language)
    name = _spec(body, "report").get("path")
    if not isinstance(name, str):
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": "'report' needs a 'path'"})
    try:
        facts, published = load_report(root.given(root.path(name)))
        outcome = audit_report(compiled, facts, published)
    except DiagnosticsError as exc:
        raise Answer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"diagnostics": diagnostics_document(root, list(exc.diagnostics), language)},
        ) from None
    return outcome.to_dict()


# -- export ----------------------------------------------------------------------------------

#: What the page can download: the format → (file ending, media type).
EXPORTS: Final = {
    "json": (".json", "application/json"),
    "html": (".html", "text/html; charset=utf-8"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": (".pdf", "application/pdf"),
    "template": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def export(root: Root, body: Mapping[str, Any], lang: Lang) -> tuple[bytes, str, str]:
    """The bytes ``perfrules score --format F`` / ``perfrules template`` write; name and type.

    ``json`` is the trace, ``html`` the report page, ``xlsx`` the filing form, ``pdf`` the
    printed report, ``template`` the blank facts sheet.
    """
    language = _lang(body, lang)
    kind = body.get("format")
    if kind not in EXPORTS:
        raise Answer(HTTPStatus.BAD_REQUEST, {"error": f"'format' is one of {sorted(EXPORTS)}"})
    ending, media = EXPORTS[kind]
    if kind == "template":
        compiled = _compiled(root, _spec(body, "scheme"), language)
        from perfrules.workflows import write_template  # noqa: PLC0415

        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "template.xlsx"
            write_template(compiled, target, language)
            return target.read_bytes(), f"{compiled.id}-template{ending}", media
    trace = _evaluate(root, body, language)
    name = f"{trace.root.id}{ending}"
    if kind == "json":
        return trace.to_json(indent=2).encode(), name, media
    if kind == "html":
        from perfrules.reports import render_html  # noqa: PLC0415

        return render_html(trace, language).encode(), name, media
    if kind == "xlsx":
        from perfrules.reports import render_xlsx  # noqa: PLC0415

        return render_xlsx(trace, language), name, media
    from perfrules.reports import PdfError, render_pdf  # noqa: PLC0415

    with _JOB:
        try:
            return render_pdf(trace, language), name, media
        except PdfError as exc:
            raise Answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": root.scrub(str(exc))}) from None
