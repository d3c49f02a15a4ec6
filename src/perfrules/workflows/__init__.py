"""The tasks people run: packs and their cases, diffs, audits, batches, templates, new years.

Each module is one task and uses the library below it (rules, facts, engine, reports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfrules._lazy import lazy_exports

if TYPE_CHECKING:
    from perfrules.workflows._audit import audit, load_report
    from perfrules.workflows._batch import (
        CSV_EOLS,
        CsvStyle,
        read_units,
        score_batch,
        write_results,
    )
    from perfrules.workflows._diff import (
        diff_schemes,
        is_results_file,
        movers,
        what_if,
        what_if_traces,
    )
    from perfrules.workflows._files import (
        STDOUT,
        extends_text,
        new_folder,
        new_year_text,
        write_atomic,
    )
    from perfrules.workflows._invariants import (
        InvariantError,
        Violation,
        as_compiled,
        assert_invariants,
        check_scheme,
        cohort_violations,
        facts_toml,
        unit_violations,
    )
    from perfrules.workflows._league import league_table
    from perfrules.workflows._newpack import pack_module_name, write_new_pack
    from perfrules.workflows._packs import (
        Case,
        InstalledPack,
        PackError,
        find_pack,
        packs,
        run_cases,
    )
    from perfrules.workflows._published import audit_table
    from perfrules.workflows._schema import KINDS, schema_text
    from perfrules.workflows._sensitivity import (
        Choice,
        Sensitivity,
        SensitivityError,
        UnitStability,
        WeightRange,
        WeightSetting,
        perturbed_weights,
        read_table,
        sensitivity,
    )
    from perfrules.workflows._stream import (
        STREAM_OUTPUTS,
        CsvLayout,
        csv_layout,
        csv_range,
        csv_range_units,
        file_version,
        result_schema,
        score_csv_range,
        score_parquet,
        stream_batch,
        write_parquet,
    )
    from perfrules.workflows._table import (
        cohort_rows,
        cohort_values_of,
        numbered,
        pass_failures,
        rank_rows,
        ranked_table,
        score_chunk,
        score_table,
        to_pandas,
        units_arrow,
    )
    from perfrules.workflows._templates import write_template

__all__ = [
    "CSV_EOLS",
    "KINDS",
    "STDOUT",
    "STREAM_OUTPUTS",
    "Case",
    "Choice",
    "CsvLayout",
    "CsvStyle",
    "InstalledPack",
    "InvariantError",
    "PackError",
    "Sensitivity",
    "SensitivityError",
    "UnitStability",
    "Violation",
    "WeightRange",
    "WeightSetting",
    "as_compiled",
    "assert_invariants",
    "audit",
    "audit_table",
    "check_scheme",
    "cohort_rows",
    "cohort_values_of",
    "cohort_violations",
    "csv_layout",
    "csv_range",
    "csv_range_units",
    "diff_schemes",
    "extends_text",
    "facts_toml",
    "file_version",
    "find_pack",
    "is_results_file",
    "league_table",
    "load_report",
    "movers",
    "new_folder",
    "new_year_text",
    "numbered",
    "pack_module_name",
    "packs",
    "pass_failures",
    "perturbed_weights",
    "rank_rows",
    "ranked_table",
    "read_table",
    "read_units",
    "result_schema",
    "run_cases",
    "schema_text",
    "score_batch",
    "score_chunk",
    "score_csv_range",
    "score_parquet",
    "score_table",
    "sensitivity",
    "stream_batch",
    "to_pandas",
    "unit_violations",
    "units_arrow",
    "what_if",
    "what_if_traces",
    "write_atomic",
    "write_new_pack",
    "write_parquet",
    "write_results",
    "write_template",
]

#: Each task's module is imported when its first name is used: a command pays only for
#: its own task (the table driver needs numpy, the templates openpyxl).
_LAZY = {
    "._audit": ("audit", "load_report"),
    "._batch": ("CSV_EOLS", "CsvStyle", "read_units", "score_batch", "write_results"),
    "._diff": ("diff_schemes", "is_results_file", "movers", "what_if", "what_if_traces"),
    "._files": ("STDOUT", "extends_text", "new_folder", "new_year_text", "write_atomic"),
    "._invariants": (
        "InvariantError",
        "Violation",
        "as_compiled",
        "assert_invariants",
        "check_scheme",
        "cohort_violations",
        "facts_toml",
        "league_table",
        "unit_violations",
    ),
    "._league": ("league_table",),
    "._newpack": ("pack_module_name", "write_new_pack"),
    "._packs": ("Case", "InstalledPack", "PackError", "find_pack", "packs", "run_cases"),
    "._published": ("audit_table",),
    "._schema": ("KINDS", "schema_text"),
    "._sensitivity": (
        "Choice",
        "Sensitivity",
        "SensitivityError",
        "UnitStability",
        "WeightRange",
        "WeightSetting",
        "perturbed_weights",
        "read_table",
        "sensitivity",
    ),
    "._stream": (
        "STREAM_OUTPUTS",
        "CsvLayout",
        "csv_layout",
        "csv_range",
        "csv_range_units",
        "file_version",
        "result_schema",
        "score_csv_range",
        "score_parquet",
        "stream_batch",
        "write_parquet",
    ),
    "._table": (
        "cohort_rows",
        "cohort_values_of",
        "numbered",
        "pass_failures",
        "rank_rows",
        "ranked_table",
        "score_chunk",
        "score_table",
        "to_pandas",
        "units_arrow",
    ),
    "._templates": ("write_template",),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
