"""Reading rule and facts files: bytes → TOML → validated models, every failure a Diagnostic.

Loading never evaluates anything. It reads the file through the bounded reader
(``perfrules._reading``: at most ``MAX_FILE_BYTES``, regular files only, confined to a root
where one is given), decodes it as UTF-8 (a byte-order mark is allowed), parses it with
``tomllib`` reading floats as ``Decimal``, records where every key is (``_locate``), and
validates each section and each entry on its own, so that one broken indicator does not
hide the problems of the others.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, NamedTuple

from pydantic import BaseModel, ValidationError

from perfrules._messages import TOP_TABLE
from perfrules._reading import (
    confined,
    decode_utf8,
    lone_surrogate,
    read_file,
    read_text,
    real_path,
    regular_file,
)
from perfrules.errors import Diagnostic, format_key_path
from perfrules.model import (
    Band,
    Cohort,
    CohortValue,
    Defaults,
    GradeOverride,
    Group,
    Indicator,
    Input,
    Normalise,
    Ranking,
    Rounding,
    Scale,
    ScaleLevel,
    Scheme,
    SchemeInfo,
)
from perfrules.rules._installed import installed_pack, is_pack_id, pack_scheme
from perfrules.rules._locate import SourceMap, Span, locate, locate_json, repeated_json_key

KeyPath = tuple[str | int, ...]

_SECTIONS: Final[dict[str, type[BaseModel]]] = {
    "scheme": SchemeInfo,
    "rounding": Rounding,
    "defaults": Defaults,
    "cohort": Cohort,
    "ranking": Ranking,
}
_ENTRY_SECTIONS: Final[dict[str, type[BaseModel]]] = {
    "inputs": Input,
    "scales": Scale,
    "groups": Group,
    "indicators": Indicator,
}
_ALL_KEYS: Final = sorted(
    {
        *Scheme.model_fields,
        *(
            name
            for model in (*_SECTIONS.values(), *_ENTRY_SECTIONS.values())
            for name in model.model_fields
        ),
        *Band.model_fields,
        *ScaleLevel.model_fields,
        "extends",
    }
)
#: Where each key of a rule file belongs, for a key written in the wrong table.
_TABLES: Final[tuple[tuple[str, type[BaseModel]], ...]] = (
    ("the top level", Scheme),
    *((f"[{name}]", model) for name, model in _SECTIONS.items()),
    *((f"[{name}.ID]", model) for name, model in _ENTRY_SECTIONS.items()),
    ("[[bands]]", Band),
    ("[scales.ID] levels", ScaleLevel),
)
_OWNERS: Final[dict[str, list[str]]] = {
    key: [table for table, model in _TABLES if key in model.model_fields]
    for key in sorted({key for _, model in _TABLES for key in model.model_fields})
}
_TOML_POSITION: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_EXPECTED: Final[dict[str, tuple[str, str]]] = {
    "perfrules_number": ("a number", "数字"),
    "perfrules_number_range": (
        "a number below 10^30, of at most 30 digits and 30 decimal places",
        "绝对值小于 10^30、至多 30 位数字和 30 位小数的数字",
    ),
    "string_type": ("text in quotes", "带引号的文本"),
    "int_type": ("a whole number", "整数"),
    "int_parsing": ("a whole number", "整数"),
    "int_from_float": ("a whole number", "整数"),
    "bool_type": ("true or false", "true 或 false"),
    "bool_parsing": ("true or false", "true 或 false"),
    "list_type": ("a list [...]", "列表 [...]"),
    "dict_type": ("a table", "表"),
    "model_type": ("a table", "表"),
    "model_attributes_type": ("a table", "表"),
}


class Removal(NamedTuple):
    """An entry a rule file's ``remove`` deleted from the file it extends."""

    #: The group the entry was under (``None``: the top level).
    parent: str | None
    #: Where the removal is written: ``("remove", section, index)``.
    path: KeyPath
    #: The file it is written in.
    file: str


@dataclass
class Source:
    """Where a scheme's keys come from: the files read and their source maps.

    Attributes:
        files: each file read, with the sha256 of its bytes, in reading order.
        maps: the source map of each file.
        origin: for each key path, the file it comes from (the last file read wins).
        removed: each entry a file's ``remove`` deleted, ``(section, id)``: the group it was
            under (``None`` at the top), where the removal is written and in which file.
    """

    files: list[tuple[str, str]] = field(default_factory=list)
    maps: dict[str, SourceMap] = field(default_factory=dict)
    origin: dict[KeyPath, str] = field(default_factory=dict)
    removed: dict[KeyPath, Removal] = field(default_factory=dict)

    @property
    def main(self) -> str | None:
        """The file named by the user (the last one read)."""
        return self.files[-1][0] if self.files else None

    def file_of(self, path: Sequence[str | int]) -> str | None:
        """The file a key path comes from (nearest recorded ancestor, else the main file)."""
        probe = tuple(path)
        while probe:
            found = self.origin.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self.main

    def where(self, path: Sequence[str | int]) -> str | None:
        """``file:line`` of the value at *path* (the file it comes from), or None."""
        file = self.file_of(path)
        source_map = self.maps.get(file) if file else None
        if file is None or source_map is None:
            return None
        line, _ = source_map.position(path)
        return f"{file}:{line}" if line else file

    def place(self, diagnostic: Diagnostic, value_offset: int | None = None) -> Diagnostic:
        """Give *diagnostic* its file, line, column and source line.

        The file is the one its key path comes from, unless it names one of the files read
        already (a removal in a file of the chain: ``remove`` paths are every file's own).
        """
        given = diagnostic.file
        file = given if given is not None and given in self.maps else self.file_of(diagnostic.path)
        source_map = self.maps.get(file) if file else None
        if file is None or source_map is None:
            return diagnostic.located(file=file, line=0, column=0)
        if value_offset is None:
            return _place_in(diagnostic, source_map, file)
        span = source_map.value_span(diagnostic.path, value_offset)
        return _place_in(diagnostic, source_map, file, span)


def parse_toml(text: str, name: str, diagnostics: list[Diagnostic]) -> dict[str, Any] | None:
    """Parse TOML (floats as ``Decimal``); a syntax error becomes ``PR100`` with its position."""
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except (RecursionError, ValueError) as exc:
        if isinstance(exc, tomllib.TOMLDecodeError):
            _toml_error(exc, text, name, diagnostics)
            return None
        # tomllib reads an integer of more than 4,300 digits with int(), which Python refuses,
        # and nests arrays and inline tables by recursion: neither is a score's number or
        # shape. Report it where it starts, like a syntax error.
        long_digits = _LONG_DIGITS.search(text)
        where = long_digits.start() if long_digits and isinstance(exc, ValueError) else 0
        line = text.count("\n", 0, where) + 1 if where else 0
        column = where - text.rfind("\n", 0, where) if where else 0
        detail = (
            "a number with thousands of digits"
            if isinstance(exc, ValueError)
            else "arrays or tables nested too deeply"
        )
        _syntax(diagnostics, name, text, line, column, detail)
        return None


def _syntax(
    diagnostics: list[Diagnostic],
    name: str,
    text: str,
    line: int,
    column: int,
    detail: str,
    *,
    language: str = "TOML",
    detail_zh: str | None = None,
    hint: tuple[str, dict[str, str]] | None = None,
) -> None:
    """A ``PR100`` (the file cannot be read as TOML or JSON) at *line*, with the line's text."""
    lines = text.split("\n")
    params = {"language": language, "detail": detail}
    if detail_zh is not None:
        params["detail_zh"] = detail_zh
    if hint is not None:
        params.update(hint[1])
    diagnostics.append(
        Diagnostic(
            "PR100",
            params=params,
            hint=None if hint is None else hint[0],
            file=name,
            line=line,
            column=column,
            excerpt=lines[line - 1] if 0 < line <= len(lines) else None,
        )
    )


_LONG_DIGITS: Final = re.compile(r"[0-9_]{4000,}")

#: The messages of Python's JSON parser, in Chinese.
_JSON_ZH: Final = {
    "Expecting value": "此处应为一个值",
    "Expecting property name enclosed in double quotes": (
        "此处应为带双引号的键名（最后一项后不能有逗号）"
    ),
    "Expecting ',' delimiter": "此处应为逗号“,”",
    "Expecting ':' delimiter": "此处应为冒号“:”",
    "Unterminated string starting at": "字符串缺少结尾的引号",
    "Invalid control character at": "字符串中有控制字符（换行请写作 \\n）",
    "Extra data": "JSON 值结束后还有多余内容",
    "Invalid \\escape": "无效的转义序列",
    "Invalid \\uXXXX escape": "无效的 \\uXXXX 转义序列",
}


def _toml_error(
    exc: tomllib.TOMLDecodeError, text: str, name: str, diagnostics: list[Diagnostic]
) -> None:
    message = str(exc)
    match = _TOML_POSITION.search(message)
    line = int(match[1]) if match else 0
    column = int(match[2]) if match else 0
    detail = _TOML_POSITION.sub("", message) if match else message
    if match is None and "(at end of document)" in message:
        # tomllib names no line when the file ends in the middle of something: the last one
        lines = text.rstrip("\n").split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        detail = message.replace(" (at end of document)", " at the end of the file")
    _syntax(
        diagnostics,
        name,
        text,
        line,
        column,
        detail,
        detail_zh=_toml_zh(detail),
        hint=_toml_hint(detail, text, line, column),
    )


#: tomllib's messages, in Chinese (by how they start: some name the key after).
_TOML_ZH: Final = {
    "Invalid statement": "无效的语句",
    "Invalid value": "无效的值",
    "Expected '=' after a key in a key/value pair": "键后应为“=”",
    "Expected newline or end of document after a statement": "一行只能写一个键值对（值后应换行）",
    "Invalid initial character for a key part": "键名的首字符无效",
    "Expected ']' at the end of a table declaration": "表头末尾应为“]”",
    "Expected ']]' at the end of an array declaration": "数组表头末尾应为“]]”",
    "Unterminated string": "字符串缺少结尾的引号",
    "Unclosed array": "数组缺少结尾的“]”",
    "Unclosed inline table": "内联表缺少结尾的“}”",
    "Cannot overwrite a value": "不能重复给同一个键赋值",
    "Cannot declare": "不能重复声明同一个表",
    "Illegal character": "非法字符",
}
#: Characters a Chinese input method types where TOML needs another.
_HALF_WIDTH: Final = {"“": '"', "”": '"', "‘": "'", "’": "'", "。": ".", "、": ","}


def _toml_zh(detail: str) -> str | None:
    """Tomllib's *detail* in Chinese, when it is one of its common messages."""
    core = detail.removesuffix(" at the end of the file")
    found = next((zh for en, zh in _TOML_ZH.items() if core.startswith(en)), None)
    if found is None:
        return None
    return found + ("（在文件末尾）" if core != detail else "")


def _toml_hint(
    detail: str, text: str, line: int, column: int
) -> tuple[str, dict[str, str]] | None:
    """What to type instead, when a Chinese input method typed the character at the error.

    A key in Chinese without quotes (``名称 = "x"``, ``[indicators.质量]``) is quoted; a
    full-width character (``＝``, ``：``, ``“``, ``６``) is typed half-width.
    """
    rows = text.split("\n")
    if not 0 < line <= len(rows) or not 0 < column <= len(rows[line - 1]):
        return None
    char = rows[line - 1][column - 1]
    if char.isascii():
        return None
    if char.isalpha() and detail.startswith(("Invalid statement", "Invalid initial character")):
        row = rows[line - 1]
        key = re.match(r"[^\s=.\[\]\"']+", row[column - 1 :])
        written = key[0] if key else char
        quoted = f'{row[: column - 1]}"{written}"{row[column - 1 + len(written) :]}'
        return "toml_quote_key", {"written": quoted.strip()[:120]}
    folded = _HALF_WIDTH.get(char) or unicodedata.normalize("NFKC", char)
    if detail.startswith("Expected '=' after a key"):
        folded = "="  # weight：6 and weight ＝ 6 both mean weight = 6
    if folded.isascii() and folded != char:
        return "ascii_char", {"ascii": folded}
    return None


# A \u escape of a high surrogate with its low one (a pair, skipped), or of either alone;
# after an even number of backslashes only (``\\ud800`` is a backslash and "ud800").
_SURROGATE_ESCAPE: Final = re.compile(
    r"(?<!\\)(?:\\\\)*(\\u[dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|(?<!\\)(?:\\\\)*(\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def _lone_escape(text: str) -> tuple[int, int]:
    r"""Line and column of the first ``\u`` escape of a lone surrogate in JSON *text*."""
    for found in _SURROGATE_ESCAPE.finditer(text):
        if found.group(2) is None:  # a high one alone, or a low one (group 3)
            at = found.start(1) if found.group(1) is not None else found.start(3)
            before = text[:at]
            return before.count("\n") + 1, at - (before.rfind("\n") + 1) + 1
    return 0, 0


def read_document(
    path: str | Path,
    diagnostics: list[Diagnostic],
    text: str | bytes | None = None,
    *,
    name: str | None = None,
    root: Path | None = None,
) -> tuple[dict[str, Any], SourceMap, str] | None:
    """Read a TOML or JSON document: its data, source map and sha256 (``None`` on failure).

    With *text* (text or UTF-8 bytes), the document is that (an upload, a request body) and
    *path* only names it: nothing is read from disk, and it has the budget of a file. *name*
    names the file in diagnostics when it is not *path* (an installed rule pack is named by
    its id, never by where it is installed). With *root*, the file must be inside it.
    """
    file = Path(path)
    name = str(path) if name is None else name
    if text is None:
        data = read_file(file, diagnostics, root=root, name=name)
        if data is None:
            return None
        digest = hashlib.sha256(data).hexdigest()
        decoded = decode_utf8(data, name, diagnostics)
    else:
        decoded = read_text(text, name, diagnostics)
        if decoded is not None:
            given = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
            digest = hashlib.sha256(given).hexdigest()
    if decoded is None:
        return None
    text = decoded
    if file.suffix.lower() == ".json":
        try:
            # NaN and Infinity (not JSON, but json reads them) as the Decimals they name, so
            # that they are refused as numbers at their line, not called binary floats
            document = json.loads(
                text, parse_float=Decimal, parse_constant=Decimal, object_pairs_hook=_members
            )
        except json.JSONDecodeError as exc:
            _syntax(
                diagnostics,
                name,
                text,
                exc.lineno,
                exc.colno,
                exc.msg,
                language="JSON",
                detail_zh=_JSON_ZH.get(exc.msg, exc.msg),
            )
            return None
        except _RepeatedKeyError:
            repeated = repeated_json_key(text)
            (*_, key), (line, column) = repeated if repeated is not None else (("?",), (0, 0))
            written = json.dumps(key, ensure_ascii=False)
            _syntax(
                diagnostics,
                name,
                text,
                line,
                column,
                f"the key {written} is written twice in one object",
                language="JSON",
                detail_zh=f"键 {written} 重复出现在同一个对象中",
            )
            return None
        except (RecursionError, ValueError) as exc:
            # json reads integers with int() (refused past 4,300 digits) and nests by recursion
            detail = (
                "a number with thousands of digits"
                if isinstance(exc, ValueError)
                else "arrays or objects nested too deeply"
            )
            _syntax(diagnostics, name, text, 0, 0, detail, language="JSON")
            return None
        if not isinstance(document, dict):
            diagnostics.append(
                Diagnostic("PR410", params={"got": type(document).__name__}, file=name)
            )
            return None
        if _depth(document) > MAX_NESTING:
            detail = f"objects or arrays nested deeper than {MAX_NESTING} levels"
            _syntax(diagnostics, name, text, 0, 0, detail, language="JSON")
            return None
        if lone_surrogate(document) is not None:  # half a character: no output can write it
            line, column = _lone_escape(text)
            detail = "a \\u escape of half a UTF-16 pair (a lone surrogate) is not a character"
            detail_zh = "\\u 转义只有半个 UTF-16 代理对（孤立代理项），不是字符"
            _syntax(
                diagnostics, name, text, line, column, detail, language="JSON", detail_zh=detail_zh
            )
            return None
        return document, locate_json(text, name), digest
    parsed = parse_toml(text, name, diagnostics)
    if parsed is None:
        return None
    if _depth(parsed) > MAX_NESTING:
        line = next(
            (
                n
                for n, row in enumerate(text.split("\n"), 1)
                if row.count(".") + row.count("[") > MAX_NESTING
            ),
            0,
        )
        detail = f"keys or tables nested deeper than {MAX_NESTING} levels"
        _syntax(diagnostics, name, text, line, 1 if line else 0, detail)
        return None
    return parsed, locate(text, name), digest


class _RepeatedKeyError(ValueError):
    """A JSON object writes one key twice (``json`` alone would keep the last)."""


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members; a key written twice is refused, as TOML refuses it."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _RepeatedKeyError
    return found


#: Deepest nesting of tables, arrays and dotted keys a rule or facts file may have.
MAX_NESTING: Final = 32


def _depth(document: object) -> int:
    """How deep tables and arrays nest, found without recursion (so any depth is safe)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_NESTING:
                return deepest
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _resolve(data: Any, loc: Sequence[str | int]) -> tuple[KeyPath, bool]:
    """Follow a pydantic ``loc`` through *data*; stop at parts that are not data keys."""
    path: list[str | int] = []
    node = data
    for part in loc:
        node = _child(node, part)
        if node is _ABSENT:
            return tuple(path), False
        path.append(part)
    return tuple(path), True


_ABSENT: Final = object()


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, Mapping):
        return node.get(part, _ABSENT)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _got(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"' if len(value) < 40 else f'"{value[:37]}..."'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def validation_diagnostics(exc: ValidationError, data: Any, prefix: KeyPath) -> list[Diagnostic]:
    """Translate pydantic errors into diagnostics, one per offending key."""
    grouped: dict[KeyPath, list[Any]] = {}
    for error in exc.errors(include_url=False):
        path, complete = _resolve(data, error["loc"])
        if error["type"] == "missing":
            missing = next((p for p in error["loc"][len(path) :] if isinstance(p, str)), "?")
            grouped.setdefault((*path, f"\0{missing}"), []).append(error)
            continue
        if not complete and error["type"] != "extra_forbidden":
            path, _ = _resolve(data, error["loc"][: len(path)])
        grouped.setdefault(path, []).append(error)
    out: list[Diagnostic] = []
    for path, errors in grouped.items():
        first = errors[0]
        kind = first["type"]
        full = (*prefix, *path)
        if path and isinstance(path[-1], str) and path[-1].startswith("\0"):
            table_path = (*prefix, *path[:-1])
            key = path[-1][1:]
            out.append(
                Diagnostic(
                    "PR103",
                    table_path,
                    {"table": format_key_path(table_path) or TOP_TABLE, "key": key},
                )
            )
        elif kind == "extra_forbidden":
            key = str(path[-1]) if path else "?"
            # A key of another table is not misspelt: say where it belongs.
            owners = _OWNERS.get(key, []) if key in _ALL_KEYS else []
            suggestion = "" if owners else _suggest(key, _ALL_KEYS)
            table_path = (*prefix, *path[:-1])
            hint = "belongs_in" if owners else "did_you_mean" if suggestion else None
            out.append(
                Diagnostic(
                    "PR101",
                    full,
                    {
                        "key": key,
                        "table": format_key_path(table_path) or TOP_TABLE,
                        "suggestion": suggestion,
                        "owner": " / ".join(owners),
                    },
                    hint,
                )
            )
        elif kind in ("string_too_short", "too_short"):
            out.append(
                Diagnostic(
                    "PR107",
                    full,
                    {
                        "key": format_key_path(full),
                        "detail": "must not be empty",
                        "detail_zh": "不能为空",
                    },
                )
            )
        elif kind in ("dict_type", "model_type", "model_attributes_type") and len(errors) == 1:
            value = _value_at(data, path)
            out.append(
                Diagnostic("PR109", full, {"key": format_key_path(full), "got": _got(value)})
            )
        else:
            value = _value_at(data, path)
            en, zh = _expectations(errors)
            # weight = "6": the number it is, without the quotes the author put around it
            unquoted = (
                isinstance(value, str)
                and any(e["type"] in _NUMBER_TYPES for e in errors)
                and _is_plain_number(value)
            )
            out.append(
                Diagnostic(
                    "PR102",
                    full,
                    {
                        "key": format_key_path(full),
                        "expected": en,
                        "expected_zh": zh,
                        "got": _got(value),
                        "name": str(full[-1]),
                        "number": _ascii_digits(value.strip()) if isinstance(value, str) else "",
                    },
                    "unquote" if unquoted else None,
                )
            )
    return out


#: Pydantic's errors for a value that should have been a number.
_NUMBER_TYPES: Final = frozenset(
    {"perfrules_number", "int_type", "int_parsing", "decimal_type", "decimal_parsing"}
)


def _ascii_digits(text: str) -> str:
    """*text* with every digit written as TOML reads one (``３０`` is ``30``)."""
    return re.sub(r"\d", lambda m: str(unicodedata.digit(m.group())), text)


def _is_plain_number(text: str) -> bool:
    """Whether *text* is a number as TOML writes one (``6``, ``2.5``), quotes aside."""
    return re.fullmatch(r"[+-]?\d+(?:\.\d+)?", text.strip()) is not None


def _expectations(errors: Iterable[dict[str, Any]]) -> tuple[str, str]:
    en: list[str] = []
    zh: list[str] = []
    for error in errors:
        kind = error["type"]
        if kind == "literal_error":
            expected = str(error.get("ctx", {}).get("expected", "?"))
            e, z = f"one of {expected}", f"{expected} 之一"
        elif kind in _EXPECTED:
            e, z = _EXPECTED[kind]
        else:
            e, z = error["msg"], error["msg"]
        if e not in en:
            en.append(e)
            zh.append(z)
    return " or ".join(en), " 或 ".join(zh)


def _value_at(data: Any, path: KeyPath) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


#: Key names a rule author may write in Chinese, and the keys each may mean (the first that
#: the table has is suggested).
_CHINESE_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "名称": ("name", "title"),
    "指标名称": ("name",),
    "名字": ("name",),
    "权重": ("weight",),
    "分值": ("weight",),
    "权数": ("weight",),
    "上级": ("parent",),
    "上级指标": ("parent",),
    "父级": ("parent",),
    "所属": ("parent",),
    "公式": ("formula", "formulas"),
    "计算公式": ("formula",),
    "计分公式": ("formula",),
    "评分公式": ("formula",),
    "目标": ("target",),
    "目标值": ("target",),
    "指标值": ("target",),
    "年度指标值": ("target",),
    "标题": ("title",),
    "编号": ("id",),
    "年度": ("year",),
    "年份": ("year",),
    "版本": ("version",),
    "满分": ("max",),
    "上限": ("max",),
    "下限": ("min",),
    "等级": ("bands", "label"),
    "档次": ("levels",),
    "参数": ("params",),
    "舍入": ("rounding",),
    "小数位数": ("places",),
    "保留位数": ("places",),
    "输入": ("inputs",),
    "指标": ("indicators",),
    "分组": ("groups",),
}


def _suggest(key: str, candidates: Iterable[str]) -> str:
    listed = list(candidates)
    meant = next((k for k in _CHINESE_KEYS.get(key.strip(), ()) if k in listed), None)
    if meant is not None:  # 权重 is weight, whatever difflib thinks of the characters
        return meant
    matches = difflib.get_close_matches(key, listed, n=1, cutoff=0.6)
    return matches[0] if matches else ""


@dataclass
class Sections:
    """The parts of a rule file that validated, and the ids whose entries did not."""

    scheme: Scheme
    broken: set[KeyPath] = field(default_factory=set)
    #: Formulas of indicators that failed validation, still checked on their own.
    orphan_formulas: dict[str, str] = field(default_factory=dict)


#: Tables inside an entry that are kept in part when some of their keys are wrong: the
#: entry and the table's other keys are still checked, so their mistakes come at once.
_PARTIAL: Final[dict[str, type[BaseModel]]] = {"normalise": Normalise}


def _validate_model(
    model: type[BaseModel], data: Any, prefix: KeyPath, diagnostics: list[Diagnostic]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        diagnostics.extend(validation_diagnostics(exc, data, prefix))
        errors = exc.errors()
        if not isinstance(data, Mapping) or any(not e["loc"] for e in errors):
            return None
        unknown = {
            e["loc"][0] for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
        }
        nested = {e["loc"][0] for e in errors} - unknown
        if any(key not in _PARTIAL or key not in model.model_fields for key in nested):
            return None
    # Only unknown keys and wrong keys of a nested table (each already reported): drop them
    # and keep the entry, so the checks that need it (its group's weight sum, its formula,
    # the table's other keys) still run.
    kept = {k: v for k, v in data.items() if k not in unknown}
    for key in nested:
        part = _partial(_PARTIAL[str(key)], data[key])
        if part is None:
            kept.pop(str(key), None)
        else:
            kept[str(key)] = part
    try:
        return model.model_validate(kept)
    except ValidationError:  # pragma: no cover - the other keys validated above
        return None


def _partial(model: type[BaseModel], data: Any) -> dict[str, Any] | None:
    """*data* without the keys *model* refuses, when none of them is required; else ``None``."""
    if not isinstance(data, Mapping):
        return None
    try:
        model.model_validate(data)
    except ValidationError as exc:
        wrong = {e["loc"][0] for e in exc.errors() if e["loc"]}
        fields = model.model_fields
        if any(key in fields and fields[str(key)].is_required() for key in wrong):
            return None
        kept = {k: v for k, v in data.items() if k not in wrong}
        try:
            model.model_validate(kept)
        except ValidationError:
            return None
        return kept
    return dict(data)


def build_scheme(document: Mapping[str, Any], diagnostics: list[Diagnostic]) -> Sections:
    """Validate a rule document section by section; keep every part that validates."""
    broken: set[KeyPath] = set()
    for key in document:
        if key not in Scheme.model_fields and key not in ("extends", "remove"):
            suggestion = _suggest(key, Scheme.model_fields)
            diagnostics.append(
                Diagnostic(
                    "PR101",
                    (key,),
                    {"key": key, "table": TOP_TABLE, "suggestion": suggestion},
                    "did_you_mean" if suggestion else None,
                )
            )
    parts: dict[str, Any] = {}
    for key, model in _SECTIONS.items():
        if key not in document:
            if key == "scheme":
                # an empty file (or one of comments only) says so
                empty = "empty_rule_file" if not document else None
                diagnostics.append(
                    Diagnostic("PR103", (), {"table": TOP_TABLE, "key": "scheme"}, empty)
                )
                broken.add(("scheme",))
            continue
        value: Any
        if key == "cohort":
            value = _cohort(document[key], diagnostics, broken)
        else:
            value = _validate_model(model, document[key], (key,), diagnostics)
        if value is None and key == "scheme":
            value = _salvaged_scheme(document[key])
        if value is None:
            broken.add((key,))
        else:
            parts[key] = value
    parts.setdefault("scheme", SchemeInfo(id="?", title="?"))

    bands_raw = document.get("bands", [])
    bands: list[Band] = []
    if not isinstance(bands_raw, list):
        diagnostics.append(Diagnostic("PR102", ("bands",), _list_params("bands", bands_raw)))
        broken.add(("bands",))
    else:
        for index, raw in enumerate(bands_raw):
            band = _validate_model(Band, raw, ("bands", index), diagnostics)
            if band is None:
                broken.add(("bands",))
            else:
                bands.append(band)
    parts["bands"] = bands

    overrides_raw = document.get("grade_overrides", [])
    overrides: list[GradeOverride] = []
    if isinstance(overrides_raw, list):
        for index, raw in enumerate(overrides_raw):
            override = _validate_model(GradeOverride, raw, ("grade_overrides", index), diagnostics)
            if override is not None:
                overrides.append(override)
    else:
        diagnostics.append(
            Diagnostic(
                "PR102", ("grade_overrides",), _list_params("grade_overrides", overrides_raw)
            )
        )
    parts["grade_overrides"] = overrides

    formulas_raw = document.get("formulas", {})
    formulas: dict[str, str] = {}
    if not isinstance(formulas_raw, Mapping):
        diagnostics.append(
            Diagnostic("PR109", ("formulas",), {"key": "formulas", "got": _got(formulas_raw)})
        )
    else:
        for name, text in formulas_raw.items():
            if isinstance(text, str):
                formulas[name] = text
            else:
                diagnostics.append(
                    Diagnostic(
                        "PR102",
                        ("formulas", name),
                        {
                            "key": format_key_path(("formulas", name)),
                            "expected": "a formula in quotes",
                            "expected_zh": "带引号的公式",
                            "got": _got(text),
                        },
                    )
                )
                broken.add(("formulas", name))
    parts["formulas"] = formulas

    orphans: dict[str, str] = {}
    for section, model in _ENTRY_SECTIONS.items():
        raw_section = document.get(section, {})
        entries: dict[str, Any] = {}
        if not isinstance(raw_section, Mapping):
            diagnostics.append(
                Diagnostic("PR109", (section,), {"key": section, "got": _got(raw_section)})
            )
            broken.add((section,))
        else:
            for entry_id, raw in raw_section.items():
                value = _validate_model(model, raw, (section, entry_id), diagnostics)
                if value is None:
                    broken.add((section, entry_id))
                    _keep_parent(section, raw, broken)
                    formula = raw.get("formula") if isinstance(raw, Mapping) else None
                    if section == "indicators" and isinstance(formula, str):
                        orphans[entry_id] = formula
                else:
                    entries[entry_id] = value
        parts[section] = entries
    return Sections(Scheme(**parts), broken, orphans)


#: The keys of ``[scheme]`` the checks read: kept when the table is broken elsewhere.
_CHECKED_SCHEME_KEYS: Final = ("max", "fit", "levels")


def _salvaged_scheme(raw: Any) -> SchemeInfo | None:
    """The ``[scheme]`` keys the checks read, from a table broken in its other keys.

    A misspelt ``title`` (reported already) should not hide that the top-level weights
    miss ``max``: when those keys are valid on their own, they are kept (the id and title
    stand in as ``?``, as for a missing table) and the checks run; else ``None``.
    """
    if not isinstance(raw, Mapping):
        return None
    kept = {key: raw[key] for key in _CHECKED_SCHEME_KEYS if key in raw}
    try:
        return SchemeInfo.model_validate({"id": "?", "title": "?", **kept})
    except ValidationError:
        return None


def _cohort(raw: Any, diagnostics: list[Diagnostic], broken: set[KeyPath]) -> Cohort | None:
    """``[cohort]``, each value validated on its own.

    A broken value is reported and left out (its name known to be declared, so formulas
    reading it are not also told it is unknown); the others are kept, so their checks still
    run, even when another key of ``[cohort]`` is wrong (reported).
    """
    values = raw.get("values") if isinstance(raw, Mapping) else None
    if not isinstance(values, Mapping):
        return _validate_model(Cohort, raw, ("cohort",), diagnostics)  # type: ignore[no-any-return]
    kept: dict[str, CohortValue] = {}
    for name, entry in values.items():
        value = _validate_model(CohortValue, entry, ("cohort", "values", name), diagnostics)
        if value is None:
            broken.add(("cohort", "values", name))
        else:
            kept[name] = value
    rest = _validate_model(
        Cohort, {k: v for k, v in raw.items() if k != "values"}, ("cohort",), diagnostics
    )
    return Cohort(values=kept) if rest is None else rest.model_copy(update={"values": kept})


def _keep_parent(section: str, raw: Any, broken: set[KeyPath]) -> None:
    """Remember the parent of a broken entry, so its weight sum is not checked."""
    if section in ("groups", "indicators") and isinstance(raw, Mapping):
        parent = raw.get("parent")
        broken.add(("parent", parent if isinstance(parent, str) else ""))


def _list_params(key: str, value: Any) -> dict[str, object]:
    return {
        "key": key,
        "expected": "a list [[...]]",
        "expected_zh": "列表 [[...]]",
        "got": _got(value),
    }


_MERGED_SECTIONS: Final = ("inputs", "formulas", "scales", "groups", "indicators")
#: Each of them named in Chinese, in the messages about them.
_SECTION_ZH: Final = {
    "inputs": "输入项",
    "formulas": "公式",
    "scales": "定性等级表",
    "groups": "分组",
    "indicators": "指标",
}
_REPLACED_KEYS: Final = ("scheme", "rounding", "defaults", "cohort", "ranking")
#: How many rule files one scheme may extend through (a chain, not a cycle).
MAX_EXTENDS: Final = 16


def _record_origin(origin: dict[KeyPath, str], data: Any, prefix: KeyPath, file: str) -> None:
    origin[prefix] = file
    if isinstance(data, Mapping):
        for key, value in data.items():
            _record_origin(origin, value, (*prefix, key), file)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _record_origin(origin, value, (*prefix, index), file)


def _forget(origin: dict[KeyPath, str], prefix: KeyPath) -> None:
    for key in [k for k in origin if k[: len(prefix)] == prefix]:
        del origin[key]


def merge_documents(
    base: Mapping[str, Any],
    child: Mapping[str, Any],
    origin: dict[KeyPath, str],
    child_file: str,
    diagnostics: list[Diagnostic],
    removed: dict[KeyPath, Removal] | None = None,
) -> dict[str, Any]:
    """*child* applied over *base*.

    Tables merge key by key, entries by id, bands are replaced, and
    ``remove = { indicators = [...], ... }`` deletes entries of the base (each one noted in
    *removed*, where given).
    """
    merged: dict[str, Any] = {k: v for k, v in base.items() if k not in ("extends", "remove")}
    for key, value in child.items():
        if key in ("extends", "remove"):
            continue
        if (
            key in _REPLACED_KEYS
            and isinstance(value, Mapping)
            and isinstance(merged.get(key), Mapping)
        ):
            merged[key] = {**merged[key], **value}
            _record_origin(origin, value, (key,), child_file)
            origin[(key,)] = child_file
        elif (
            key in _MERGED_SECTIONS
            and isinstance(value, Mapping)
            and isinstance(merged.get(key), Mapping)
        ):
            section = dict(merged[key])
            for entry_id, entry in value.items():
                if isinstance(entry, Mapping) and isinstance(section.get(entry_id), Mapping):
                    section[entry_id] = {**section[entry_id], **entry}
                else:
                    if entry_id in section:  # a new entry has nothing to forget
                        _forget(origin, (key, entry_id))
                    section[entry_id] = entry
                _record_origin(origin, entry, (key, entry_id), child_file)
            merged[key] = section
        else:
            _forget(origin, (key,))
            merged[key] = value
            _record_origin(origin, value, (key,), child_file)
    removals = child.get("remove", {})
    if not isinstance(removals, Mapping):
        diagnostics.append(
            Diagnostic("PR109", ("remove",), {"key": "remove", "got": _got(removals)})
        )
        return merged
    for section, ids in removals.items():
        if section not in _MERGED_SECTIONS or not isinstance(ids, list):
            suggestion = _suggest(str(section), _MERGED_SECTIONS)
            diagnostics.append(
                Diagnostic(
                    "PR101",
                    ("remove", section),
                    {"key": section, "table": "remove", "suggestion": suggestion},
                    "did_you_mean" if suggestion else None,
                )
            )
            continue
        entries = dict(merged.get(section, {}))
        gone: set[KeyPath] = set()
        for index, entry_id in enumerate(ids):
            if entry_id in entries:
                was = entries.pop(entry_id)
                gone.add((section, entry_id))
                if removed is not None:
                    under = was.get("parent") if isinstance(was, Mapping) else None
                    at: KeyPath = ("remove", section, index)
                    removed[(section, entry_id)] = Removal(
                        under if isinstance(under, str) else None, at, child_file
                    )
            else:
                suggestion = _suggest(str(entry_id), entries)
                diagnostics.append(
                    Diagnostic(
                        "PR224",
                        ("remove", section, index),
                        {
                            "section": section,
                            "section_zh": _SECTION_ZH[section],
                            "id": entry_id,
                            "suggestion": suggestion,
                        },
                        "did_you_mean" if suggestion else None,
                    )
                )
        merged[section] = entries
        # One pass over the origins for all removals (one pass per removal was quadratic).
        for path in [k for k in origin if k[:2] in gone]:
            del origin[path]
    return merged


def _resolve_document(
    path: Path,
    source: Source,
    diagnostics: list[Diagnostic],
    chain: tuple[Path, ...],
    text: str | bytes | None = None,
    *,
    files: bool = True,
    root: Path,
    shown: str | None = None,
) -> dict[str, Any] | None:
    """The document at *path* with everything it extends merged in (files read in order).

    *text* is the document's text when it does not come from *path*; *shown* its name when
    it is not *path*. ``extends`` reads regular files only (never a device or a pipe), inside
    *root*, none at all with ``files=False``; a name like ``examples/xinzhou-zfw-2021`` may
    also be a rule pack, read with its own folder as the root.
    """
    name = str(path) if shown is None else shown
    # A file extended is read inside its root (the file named by the user need not be).
    confine = root if len(chain) > 1 else None
    loaded = read_document(path, diagnostics, text, name=name, root=confine)
    if loaded is None:
        return None
    document, source_map, digest = loaded
    extends = document.get("extends")
    base: dict[str, Any] | None = None
    if extends is not None:
        line, column = source_map.value_position(("extends",))
        # the whole path is underlined (not its closing quote)
        _, _, end_line, end_column = source_map.span(("extends",))
        if (source_map.line_text(end_line) or "")[end_column - 2 : end_column - 1] in ('"', "'"):
            end_column -= 1
        problem: Diagnostic | None = None
        if not isinstance(extends, str) or not extends:
            expected = {"expected": "a file path in quotes", "expected_zh": "带引号的文件路径"}
            problem = Diagnostic(
                "PR102", ("extends",), {"key": "extends", **expected, "got": _got(extends)}
            )
        else:
            found = _extends_target(path, extends, root, files=files)
            target, target_root, target_name = found if found is not None else (None, root, None)
            resolved = real_path(target) if target is not None else None
            if resolved is not None and (resolved in chain or len(chain) >= MAX_EXTENDS):
                cycle = " → ".join(str(p.name) for p in (*chain, resolved))
                problem = Diagnostic("PR225", ("extends",), {"chain": cycle})
            elif target is None:
                # The same answer whether the path exists or not: a rule file uploaded by
                # someone else must not learn which files this machine has.
                problem = Diagnostic(
                    "PR105",
                    ("extends",),
                    {"file": extends, "reason": "no such rule file or pack here"},
                    "extends_root" if files else "extends_upload",
                )
            else:
                base = _resolve_document(
                    target,
                    source,
                    diagnostics,
                    (*chain, real_path(target)),
                    files=files or target_name is not None,
                    root=target_root,
                    shown=target_name,
                )
                if base is None:
                    return None
        if problem is not None:
            excerpt = source_map.line_text(line)
            diagnostics.append(
                problem.located(
                    file=name,
                    line=line,
                    column=column,
                    excerpt=excerpt,
                    end_line=end_line,
                    end_column=end_column,
                )
            )
            # Without what it extends, every missing section would be a consequence of this
            # one problem, listed before it: report the cause alone.
            return None
    source.files.append((name, digest))
    source.maps[name] = source_map
    if base is None:
        _record_origin(source.origin, document, (), name)
        return {k: v for k, v in document.items() if k != "remove"} | (
            {"remove": document["remove"]} if "remove" in document and extends is None else {}
        )
    placed: list[Diagnostic] = []
    merged = merge_documents(base, document, source.origin, name, placed, source.removed)
    diagnostics.extend(_place_in(d, source_map, name) for d in placed)
    return merged


def _extends_target(
    here: Path, extends: str, root: Path, *, files: bool
) -> tuple[Path, Path, str | None] | None:
    """What ``extends`` names, if it may be read: (file, its root, its name) or ``None``.

    A path is read only when it is a regular file (after following links) inside *root*. A
    name like ``examples/xinzhou-zfw-2021`` may also be a rule pack: one in a ``rules``
    folder inside *root* (a checkout of packs), else an installed one, which is read with
    its own folder as the root and named by its id.
    """
    if files:
        target = Path(os.path.normpath(here.parent / extends))
        if confined(target, root) and regular_file(target):
            return target, root, None
    if is_pack_id(extends):
        return _pack_scheme(here, extends, root if files else None)
    return None


def _pack_scheme(
    here: Path, pack_id: str, root: Path | None
) -> tuple[Path, Path, str | None] | None:
    """The scheme of the rule pack *pack_id* (``examples/xinzhou-zfw-2021``), as above.

    Looked up in the ``rules`` folders above *here* that are inside *root*, then among the
    installed packs (``_installed``).
    """
    candidates: list[tuple[Path, bool]] = []
    if root is not None:
        inside = real_path(root)
        candidates = [
            ((folder if folder.name == "rules" else folder / "rules") / pack_id, False)
            for folder in real_path(here).parents
            if folder.is_relative_to(inside)
        ]
    installed = installed_pack(pack_id)
    if installed is not None:
        candidates.append((installed, True))
    for pack, is_installed in candidates:
        if not (regular_file(pack / "pack.toml") or regular_file(pack / "scheme.toml")):
            continue
        if not is_installed and root is not None and not confined(pack, root):
            continue  # a link out of the root is not a pack here
        found = pack_scheme(pack)
        if found is None:
            return None
        scheme = Path(os.path.relpath(found, pack)).as_posix()
        if is_installed:
            return found, pack, f"{pack_id}/{scheme}"
        return Path(os.path.relpath(found)), root or pack, None
    return None


def _place_in(
    diagnostic: Diagnostic,
    source_map: SourceMap,
    file: str,
    span: Span | None = None,
) -> Diagnostic:
    """*diagnostic* at *span* of *file* (its key's span when not given), with its line."""
    line, column, end_line, end_column = span or source_map.span(diagnostic.path)
    return diagnostic.located(
        file=file,
        line=line,
        column=column,
        excerpt=source_map.line_text(line),
        end_line=end_line,
        end_column=end_column,
    )


def read_scheme(
    path: str | Path,
    text: str | bytes | None = None,
    *,
    root: str | Path | None = None,
    files: bool = True,
    name: str | None = None,
) -> tuple[Sections | None, Source, list[Diagnostic]]:
    """Read and validate a rule file (and the files it extends).

    ``extends`` reads regular files only, inside *root* (by default the rule file's own
    folder), and rule packs. With *text*, the rule file is that text and *path* its name;
    with ``files=False`` it may extend rule packs only. *name* names the file when it is
    not *path* (an installed pack's scheme is named by its id). Diagnostics are placed in
    the file each key comes from.
    """
    diagnostics: list[Diagnostic] = []
    source = Source()
    document = _resolve_document(
        Path(path),
        source,
        diagnostics,
        (real_path(Path(path)),),
        text,
        files=files,
        root=Path(root) if root is not None else real_path(Path(path)).parent,
        shown=name,
    )
    if document is None:
        return None, source, diagnostics
    if "remove" in document:
        diagnostics.append(Diagnostic("PR226", ("remove",), {}, file=name or str(path)))
        document = {k: v for k, v in document.items() if k != "remove"}
    sections = build_scheme(document, diagnostics)
    sections.scheme._source = source  # noqa: SLF001 - the loader owns this attribute
    return sections, source, [source.place(d) if not d.line else d for d in diagnostics]
