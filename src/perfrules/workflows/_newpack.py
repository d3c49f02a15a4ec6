"""A new rule pack: an installable package with a scheme, its facts and a passing case.

``perfrules new-pack FOLDER --id GROUP/NAME`` writes a Python project whose module registers
its ``packs`` folder in the ``perfrules.packs`` entry point group, so that after
``pip install FOLDER`` the pack is known by its id everywhere (``perfrules score GROUP/NAME
facts.toml``, ``extends = "GROUP/NAME"``, :func:`perfrules.load_pack`). The example scheme
and case are small and correct: ``perfrules test`` passes before anything is changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from perfrules.rules import ENTRY_POINTS, is_pack_id
from perfrules.workflows._files import write_atomic
from perfrules.workflows._schema import schema_id

__all__ = ["new_pack_files", "pack_module_name", "write_new_pack"]

_WORD: Final = re.compile(r"[^0-9A-Za-z]+")


def pack_module_name(folder_name: str) -> str:
    """The Python module a pack project in a folder named *folder_name* gets."""
    name = _WORD.sub("_", folder_name).strip("_").lower() or "rules"
    return f"_{name}" if name[0].isdigit() else name


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_pack_files(folder_name: str, pack_id: str, lang: str) -> dict[str, str]:
    """Every file of a new pack project, by path relative to its folder.

    Raises:
        ValueError: *pack_id* is not a pack id (names joined by ``/``).
    """
    if not is_pack_id(pack_id):
        message = f"'{pack_id}' is not a pack id: names of letters, digits, '-', '_' and '.'"
        raise ValueError(message + " joined by '/', such as myorg/roads-2025")
    module = pack_module_name(folder_name)
    distribution = module.replace("_", "-").strip("-")
    pack = f"src/{module}/packs/{pack_id}"
    scheme_id = pack_id.replace("/", "-")
    zh = lang == "zh"
    title = "示例方案：两项指标" if zh else "Example scheme: two indicators"
    return {
        "pyproject.toml": "\n".join(
            [
                "[build-system]",
                'requires = ["setuptools>=77"]',
                'build-backend = "setuptools.build_meta"',
                "",
                "[project]",
                f"name = {_quoted(distribution)}",
                'version = "0.1.0"',
                f"description = {_quoted(f'perfrules rule pack {pack_id}')}",
                'requires-python = ">=3.11"',
                'dependencies = ["perfrules"]',
                "",
                "# perfrules finds the packs below this module's folder: one folder per pack id.",
                f'[project.entry-points."{ENTRY_POINTS}"]',
                f'{module} = "{module}.packs"',
                "",
                "[tool.setuptools.packages.find]",
                'where = ["src"]',
                "",
                "[tool.setuptools.package-data]",
                f'"{module}.packs" = ["**/*.toml"]',
                "",
            ]
        ),
        "README.md": "\n".join(
            [
                f"# {pack_id}",
                "",
                "```sh",
                f"perfrules test {pack}          # run the cases",
                "pip install .                    # then, anywhere:",
                f"perfrules test {pack_id}",
                f"perfrules score {pack_id} facts.toml",
                "```",
                "",
            ]
        ),
        f"src/{module}/__init__.py": f'"""The perfrules rule pack {pack_id}."""\n',
        f"src/{module}/packs/__init__.py": '"""Rule packs: one folder per pack id."""\n',
        f"{pack}/pack.toml": "\n".join(
            [
                f"#:schema {schema_id('pack')}",
                "",
                f"id = {_quoted(pack_id)}",
                f"name = {_quoted(title)}",
                'version = "0.1.0"',
                'scheme = "scheme.toml"',
                "",
            ]
        ),
        f"{pack}/scheme.toml": _scheme(scheme_id, title, zh=zh),
        f"{pack}/facts.toml": "\n".join(
            [
                f"#:schema {schema_id('facts')}",
                "",
                f"unit = {_quoted('示例单位' if zh else 'Example unit')}",
                "",
                "[indicators]",
                'output = { actual = "95%" }',
                'satisfaction = { actual = "92%" }',
                "",
            ]
        ),
        f"{pack}/cases/example.toml": "\n".join(
            [
                f"#:schema {schema_id('cases')}",
                "",
                "# 40 × 95% = 38; 60 × 92% = 55.2; 38 + 55.2 = 93.2 → A"
                if not zh
                else "# 40 × 95% = 38；60 × 92% = 55.2；38 + 55.2 = 93.2 → 优秀",
                "[[case]]",
                f"name = {_quoted('示例单位' if zh else 'the example unit')}",
                'facts = "../facts.toml"',
                "",
                "[case.expect]",
                'total = "93.2"',
                f"grade = {_quoted('优秀' if zh else 'A')}",
                "",
                "[case.expect.scores]",
                'output = "38"',
                'satisfaction = "55.2"',
                "",
            ]
        ),
    }


def _scheme(scheme_id: str, title: str, *, zh: bool) -> str:
    labels = ["优秀", "良好", "中等", "差"] if zh else ["A", "B", "C", "D"]
    bands = []
    for label, (low, high) in zip(labels, [(90, 100), (80, 90), (60, 80), (0, 60)], strict=True):
        bands += ["[[bands]]", f"label = {_quoted(label)}", f"min = {low}", f"max = {high}", ""]
    return "\n".join(
        [
            f"#:schema {schema_id('rules')}",
            "",
            "# 得分 = 权重 × 完成程度（封顶）；perfrules check 检查，perfrules test 运行用例。"
            if zh
            else "# Score = weight × completion (capped); perfrules check, then perfrules test.",
            "[scheme]",
            f"id = {_quoted(scheme_id)}",
            f"title = {_quoted(title)}",
            'version = "0.1.0"',
            "max = 100",
            f"levels = [{_quoted('指标' if zh else 'Indicator')}]",
            "",
            "[rounding]",
            'mode = "half_up"',
            "indicator = 2",
            "total = 2",
            "",
            "[defaults]",
            'formula = "completion"',
            'missing = "error"',
            "",
            "[inputs]",
            f"actual = {{ label = {_quoted('业绩值' if zh else 'Actual')} }}",
            "",
            "[formulas]",
            'completion = "weight * min(actual, 1)"',
            "",
            *bands,
            "[indicators.output]",
            f"name = {_quoted('任务完成率' if zh else 'Tasks completed')}",
            "weight = 40",
            'target = "100%"',
            "",
            "[indicators.satisfaction]",
            f"name = {_quoted('满意度' if zh else 'Satisfaction')}",
            "weight = 60",
            'target = "≥90%"',
            "",
        ]
    )


def write_new_pack(folder: Path, pack_id: str, lang: str) -> list[Path]:
    """Write a new pack project into *folder* (which must not exist or be empty).

    Returns the files written. Raises ``FileExistsError`` when *folder* holds files.
    """
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(str(folder))
    written = []
    for relative, text in new_pack_files(folder.resolve().name, pack_id, lang).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text)
        written.append(target)
    return written
