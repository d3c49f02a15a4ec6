"""The ``perfrules`` command: parse arguments → call the library → render → exit code.

Exit codes: 0 success; 1 the answer is "no" (a rule file has errors, facts cannot be
scored); 2 usage errors and unreadable input; 3 an internal error (a bug: re-run with
``--debug`` for the traceback). JSON goes to stdout; human messages to stderr, except
``check``, whose diagnostics are its answer. Users never see a Python traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from perfrules._compile import check_path
from perfrules._engine import VERSION, CompiledScheme, compile_scheme, load_facts
from perfrules._packs import PackError, run_cases
from perfrules._render import (
    diagnostics_json,
    make_console,
    render_diagnostics,
    render_explain,
    render_score_table,
)
from perfrules.errors import Diagnostic, FactsError, Lang, PerfrulesError, RuleFileError
from perfrules.trace import Result

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_NO, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_UNREADABLE = frozenset({"PR105", "PR106", "PR108"})


def default_lang() -> Lang:
    """``zh`` when the locale is Chinese (LC_ALL, LC_MESSAGES, LANG), else ``en``."""
    for variable in ("PERFRULES_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


class _Exit(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, code: int) -> None:
        self.code = code


def _options(func: F) -> F:
    func = click.option(
        "--lang",
        type=click.Choice(["zh", "en"]),
        default=None,
        help="Language of messages (default: from the locale). 消息语言。",
    )(func)
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format. 输出格式。",
    )(func)


def _guard(func: F) -> F:
    """Turn our exceptions into exit codes; anything unexpected into exit 3, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(os.environ.get("PERFRULES_DEBUG"))
        try:
            return func(*args, **kwargs)
        except _Exit as done:
            sys.exit(done.code)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:
            if debug:
                raise
            click.echo(
                f"perfrules: internal error ({type(exc).__name__}: {exc}). "
                "This is a bug; re-run with PERFRULES_DEBUG=1 for the traceback.",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)

    return cast("F", wrapper)


def _report(
    diagnostics: list[Diagnostic], lang: Lang, output_format: str, *, to_stdout: bool
) -> None:
    if output_format == "json":
        sys.stdout.write(diagnostics_json(diagnostics, lang))
        return
    console = make_console(stderr=not to_stdout)
    render_diagnostics(diagnostics, lang, console)


def _exit_for(diagnostics: list[Diagnostic]) -> int:
    if any(d.code in _UNREADABLE for d in diagnostics):
        return EXIT_USAGE
    return EXIT_NO


def _load_compiled(scheme_path: str, lang: Lang) -> CompiledScheme:
    scheme, result, diagnostics = check_path(scheme_path)
    errors = [d for d in diagnostics if d.severity == "error"]
    if scheme is None or result is None or errors:
        _report(diagnostics, lang, "text", to_stdout=False)
        raise _Exit(_exit_for(diagnostics))
    try:
        return compile_scheme(scheme)
    except RuleFileError as exc:  # pragma: no cover - check_path found nothing above
        _report(list(exc.diagnostics), lang, "text", to_stdout=False)
        raise _Exit(EXIT_NO) from None


def _evaluate(compiled: CompiledScheme, facts_path: str, lang: Lang) -> Result:
    try:
        facts = load_facts(facts_path)
        return compiled.evaluate(facts)
    except FactsError as exc:
        diagnostics = list(exc.diagnostics)
        _report(diagnostics, lang, "text", to_stdout=False)
        raise _Exit(_exit_for(diagnostics)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="perfrules")
def cli() -> None:
    """Compute and explain scores under weighted scoring schemes.

    按规则文件计算并解释绩效评分。
    """


@cli.command()
@click.argument("schemes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True, help="Treat warnings as errors. 警告也视为错误。")
@_options
@_guard
def check(schemes: tuple[str, ...], strict: bool, output_format: str, lang: Lang | None) -> None:
    """Check rule files and report every problem at once.

    检查规则文件，一次列出所有问题。
    """
    language = lang or default_lang()
    everything: list[Diagnostic] = []
    for path in schemes:
        _, _, diagnostics = check_path(path)
        everything.extend(diagnostics)
    failing = [d for d in everything if d.severity == "error" or strict]
    if output_format == "json":
        sys.stdout.write(diagnostics_json(everything, language))
    elif everything:
        render_diagnostics(everything, language, make_console())
    else:
        from perfrules._messages import ui  # noqa: PLC0415

        for path in schemes:
            click.echo(ui("ok", language, file=path), err=True)
    if failing:
        raise _Exit(_exit_for(failing))


@cli.command()
@click.argument("scheme", type=click.Path(dir_okay=False))
@click.argument("facts", type=click.Path(dir_okay=False))
@_options
@_guard
def score(scheme: str, facts: str, output_format: str, lang: Lang | None) -> None:
    """Score one unit's FACTS under SCHEME: the table, or the JSON trace.

    按方案为一个单位计分：输出评分表，或 JSON 格式的计算过程。
    """
    language = lang or default_lang()
    compiled = _load_compiled(scheme, language)
    result = _evaluate(compiled, facts, language)
    assert result.trace is not None  # noqa: S101
    if output_format == "json":
        sys.stdout.write(result.trace.to_json(indent=2))
    else:
        render_score_table(result.trace, language, make_console())


@cli.command()
@click.argument("scheme", type=click.Path(dir_okay=False))
@click.argument("facts", type=click.Path(dir_okay=False))
@click.argument("ids", nargs=-1)
@_options
@_guard
def explain(
    scheme: str, facts: str, ids: tuple[str, ...], output_format: str, lang: Lang | None
) -> None:
    """Explain each indicator step by step (or only IDS).

    逐项解释每个指标的得分（或只解释给定编号）。
    """
    language = lang or default_lang()
    compiled = _load_compiled(scheme, language)
    result = _evaluate(compiled, facts, language)
    trace = result.trace
    assert trace is not None  # noqa: S101
    unknown = [i for i in ids if trace.root.find(i) is None]
    if unknown:
        raise click.BadParameter(
            f"no indicator or group with id {', '.join(unknown)}", param_hint="IDS"
        )
    if output_format == "json":
        import json  # noqa: PLC0415

        document = trace.to_dict()
        if ids:
            document = {
                "format": document["format"],
                "nodes": [_find(document["root"], i) for i in ids],
            }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        render_explain(trace, ids, language, make_console())


@cli.command(name="test")
@click.argument("packs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "-k", "keyword", default=None, help="Only cases whose name, file or keyword contains this."
)
@click.option(
    "--properties", is_flag=True, help="Also property-test the scheme (perfrules[testing])."
)
@click.option(
    "--examples", default=1000, show_default=True, help="Examples per pack for --properties."
)
@_options
@_guard
def test_command(
    packs: tuple[str, ...],
    keyword: str | None,
    properties: bool,
    examples: int,
    output_format: str,
    lang: Lang | None,
) -> None:
    """Run the test cases of rule packs (and, with --properties, their invariants).

    运行规则包的测试用例（加 --properties 时再做性质测试）。
    """
    language = lang or default_lang()
    everything: list[dict[str, Any]] = []
    failed = ran = 0
    console = make_console()
    for pack_path in packs:
        try:
            pack, results = run_cases(pack_path, keyword)
        except (RuleFileError, PackError) as exc:
            _report(list(exc.diagnostics), language, "text", to_stdout=False)
            raise _Exit(EXIT_NO if isinstance(exc, RuleFileError) else EXIT_USAGE) from None
        if not pack.cases:
            click.echo(f"{pack_path}: no cases/*.toml", err=True)
            raise _Exit(EXIT_USAGE)
        for result in results:
            ran += 1
            failed += not result.passed
            everything.append(
                {
                    "pack": str(pack.root),
                    "file": result.file,
                    "line": result.line,
                    "case": result.name,
                    "passed": result.passed,
                    "failures": result.failures,
                }
            )
            if output_format == "text" and not result.passed:
                console.print(
                    f"[bold red]FAIL[/] {result.file}:{result.line}: case '{result.name}'",
                    markup=True,
                    highlight=False,
                )
                for failure in result.failures:
                    console.print(f"  {failure}", markup=False, highlight=False)
                for detail in result.details:
                    console.print(f"  {detail}", style="dim", markup=False, highlight=False)
        if properties:
            outcome = _properties(pack.scheme, examples)
            everything.append({"pack": str(pack.root), "properties": outcome})
            if outcome["passed"]:
                if output_format == "text":
                    click.echo(f"{pack.scheme}: properties hold on {outcome['examples']} examples")
            else:
                failed += 1
                if output_format == "text":
                    console.print(f"[bold red]FAIL[/] {pack.scheme}: properties", markup=True)
                    click.echo(outcome["message"])
    if output_format == "json":
        import json  # noqa: PLC0415

        sys.stdout.write(json.dumps(everything, ensure_ascii=False, indent=2) + "\n")
    else:
        failing_cases = sum(1 for e in everything if "case" in e and not e["passed"])
        click.echo(f"cases: {ran - failing_cases} passed, {failing_cases} failed")
    if failed:
        raise _Exit(EXIT_NO)


def _properties(scheme: Path, examples: int) -> dict[str, Any]:
    try:
        from perfrules.testing import InvariantError, scheme_properties  # noqa: PLC0415
    except ImportError:
        click.echo("--properties needs hypothesis: pip install 'perfrules[testing]'", err=True)
        raise _Exit(EXIT_USAGE) from None
    count = 0

    def seen(_: dict[str, Any]) -> None:
        nonlocal count
        count += 1

    test = scheme_properties(scheme, max_examples=examples, on_example=seen)
    try:
        test()
    except InvariantError as exc:
        return {"passed": False, "examples": count, "message": str(exc)}
    return {"passed": True, "examples": count, "message": ""}


def _find(node: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    if node["id"] == node_id:
        return node
    for child in node["children"]:
        found = _find(child, node_id)
        if found is not None:
            return found
    return None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="perfrules", standalone_mode=True)
    except PerfrulesError as exc:  # pragma: no cover - every command guards itself
        click.echo(str(exc), err=True)
        sys.exit(EXIT_NO)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
