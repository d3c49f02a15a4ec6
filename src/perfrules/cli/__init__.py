"""The ``perfrules`` command: parse arguments → call the library → render → exit code.

Exit codes: 0 success; 1 the answer is "no" (a rule file has errors, facts cannot be
scored); 2 usage errors and unreadable input; 3 an internal error (a bug: re-run with
``--debug`` for the traceback). JSON goes to stdout; human messages to stderr, except
``check``, whose diagnostics are its answer. Users never see a Python traceback.
"""

# The commands' imports are declared for the type checker and made by _load() when a command
# runs, so TC004 (an import under TYPE_CHECKING used at run time) does not apply here.
# ruff: noqa: TC004

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import re
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar, cast

import click

from perfrules._reading import MAX_FILE_BYTES, is_folder, read_stream, regular_file
from perfrules.errors import (
    Diagnostic,
    DiagnosticsError,
    FactsError,
    Lang,
    PerfrulesError,
    RuleFileError,
)
from perfrules.serve import command as serve_command

if TYPE_CHECKING:  # imported by _load() when a command runs, not for ``perfrules --help``
    from perfrules.engine import CompiledScheme, compile_scheme
    from perfrules.facts import load_facts, loads_facts
    from perfrules.model import Scheme
    from perfrules.reports import (
        FORMATS,
        click_text,
        diagnostics_json,
        format_named,
        make_console,
        make_progress,
        printable,
        render_audit,
        render_batch_summary,
        render_diagnostics,
        render_diff,
        render_explain,
        render_html,
        render_league_html,
        render_markdown,
        render_movers,
        render_score_table,
        render_sensitivity,
        render_sensitivity_html,
        render_table_audit,
        results_format,
        sensitivity_progress,
    )
    from perfrules.reports.html import Edition
    from perfrules.rules import (
        CheckResult,
        RuleFile,
        check_path,
        check_rule_file,
        find_rule_file,
        find_rule_files,
    )
    from perfrules.trace import Result, Trace
    from perfrules.workflows import (
        CSV_EOLS,
        KINDS,
        STDOUT,
        CsvStyle,
        PackError,
        audit_table,
        diff_schemes,
        extends_text,
        is_results_file,
        league_table,
        load_report,
        movers,
        new_year_text,
        read_units,
        run_cases,
        schema_text,
        score_batch,
        what_if,
        write_atomic,
        write_results,
        write_template,
    )
    from perfrules.workflows import audit as audit_report
    from perfrules.workflows import packs as installed

#: What _load() imports into this module's names.
_LOADED: Final = (
    "compile_scheme",
    "load_facts",
    "loads_facts",
    "FORMATS",
    "click_text",
    "diagnostics_json",
    "format_named",
    "make_console",
    "make_progress",
    "printable",
    "render_audit",
    "render_batch_summary",
    "render_diagnostics",
    "render_diff",
    "render_explain",
    "render_html",
    "render_league_html",
    "render_markdown",
    "render_movers",
    "render_score_table",
    "render_sensitivity",
    "render_sensitivity_html",
    "render_table_audit",
    "results_format",
    "sensitivity_progress",
    "check_path",
    "check_rule_file",
    "find_rule_file",
    "find_rule_files",
    "CSV_EOLS",
    "KINDS",
    "STDOUT",
    "CsvStyle",
    "PackError",
    "audit_table",
    "diff_schemes",
    "extends_text",
    "is_results_file",
    "league_table",
    "load_report",
    "movers",
    "new_year_text",
    "read_units",
    "run_cases",
    "schema_text",
    "score_batch",
    "what_if",
    "write_atomic",
    "write_results",
    "write_template",
    "audit_report",
    "installed",
)


#: What _load() imports at once: values, and the classes ``except`` and ``isinstance`` read.
_VALUES: Final = frozenset({"FORMATS", "CSV_EOLS", "KINDS", "STDOUT", "CsvStyle", "PackError"})
#: Where _load() finds the names no package exports under them.
_RENAMED: Final = {
    "compile_scheme": ("perfrules.engine", "compile_scheme"),
    "load_facts": ("perfrules.facts", "load_facts"),
    "loads_facts": ("perfrules.facts", "loads_facts"),
    "audit_report": ("perfrules.workflows", "audit"),
    "installed": ("perfrules.workflows", "packs"),
}


def _later(name: str, module: str, attribute: str) -> Callable[..., Any]:
    """A stand-in for *name*, *module*'s function *attribute*, imported when first called.

    A command imports only what it calls: ``perfrules score`` of one unit never loads the
    audits' or the leagues' modules, nor the console's tables it does not draw.
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        function = getattr(importlib.import_module(module), attribute)
        globals()[name] = function
        return function(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _load() -> None:
    """Put the names the commands use into this module, once, when the first one runs.

    ``perfrules --help`` (and ``import perfrules.cli``) loads only click. Values and classes
    are imported here; a function is a stand-in that imports its module when first called.
    """
    if "write_template" in globals():
        return
    from perfrules import reports, rules, workflows  # noqa: PLC0415 - packages, lazy inside

    found: dict[str, object] = {}
    for name in _LOADED:
        module, attribute = _RENAMED.get(name, ("", name))
        if not module:
            package = next(p for p in (reports, rules, workflows) if name in p.__all__)
            module = package.__name__
        if name in _VALUES:
            found[name] = getattr(importlib.import_module(module), attribute)
        else:
            found[name] = _later(name, module, attribute)
    globals().update(found)


F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_NO, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: The reader of our output closed the pipe (128 + SIGPIPE, as shells report it).
EXIT_PIPE = 141
_UNREADABLE = frozenset({"PR105", "PR106", "PR108", "PR418", "PR419", "PR420"})


def _result_endings() -> str:
    _load()
    return ", ".join(s for f in FORMATS if f.results for s in f.suffixes)


class _LaterChoice(click.Choice):  # type: ignore[type-arg]
    """A choice among values read from their owner when first needed, not at import."""

    def __init__(self, values: Callable[[], Sequence[str]]) -> None:
        self._values = values
        self._found: tuple[str, ...] | None = None
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        """The values, read once."""
        if self._found is None:
            _load()
            self._found = tuple(self._values())
        return self._found

    @choices.setter
    def choices(self, _: object) -> None:
        """Click sets its choices at construction; ours are read later."""


class _LaterHelp(click.Option):
    """An option whose help text names values read from their owner when help is shown."""

    def __init__(self, *args: Any, help_of: Callable[[], str], **kwargs: Any) -> None:
        self._help_of = help_of
        super().__init__(*args, **kwargs)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        """The help record, its text made now."""
        self.help = self._help_of()
        return super().get_help_record(ctx)


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


#: ``--unit NAME`` of score and explain.
_UNIT_OPTION: Final = click.option(
    "--unit",
    "unit_name",
    default=None,
    help="FACTS holds many units: score them together and show this one (its cohort values "
    "and rank included). 多个对象一起计分，显示其中这一个。",
)


def _guard(func: F) -> F:
    """Turn our exceptions into exit codes; anything unexpected into exit 3, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _load()
        debug = bool(os.environ.get("PERFRULES_DEBUG"))
        try:
            return func(*args, **kwargs)
        except _Exit as done:
            sys.exit(done.code)
        except DiagnosticsError as exc:
            # Input problems found deep inside a task (a batch's unreadable workbook): report
            # them like any other, never as an internal error.
            diagnostics = list(exc.diagnostics)
            language = _SETTINGS.lang or default_lang()
            render_diagnostics(diagnostics, language, make_console(stderr=True))
            sys.exit(_exit_for(diagnostics))
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`perfrules test ... | head`): stop quietly, as a process
            # killed by SIGPIPE would, and keep Python from complaining when it flushes.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_PIPE)
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


class _Settings:
    """Options given to ``perfrules`` itself, before the command."""

    root: str | None = None
    quiet: bool = False
    lang: Lang | None = None


_SETTINGS = _Settings()
_STDIN = "-"
#: The name a rule file read from standard input goes by in messages.
_STDIN_RULES: Final = "stdin.toml"
#: A rule-file argument: a file, a pack folder, or an installed rule pack's id.
_SCHEME: Final = click.Path()


def _ui(key: str, lang: Lang, **params: object) -> str:
    """A message of the command line in *lang* (the messages' table, loaded when asked)."""
    from perfrules._messages import ui  # noqa: PLC0415

    return ui(key, lang, **params)


def _rule_file(spec: str, lang: Lang) -> RuleFile:
    """What the rule-file argument *spec* names; say so when a path hides a pack of that id."""
    found = find_rule_file(spec)
    if found.shadowed is not None and not _SETTINGS.quiet:
        click.echo(_ui("rule_file.shadowed", lang, spec=spec, path=found.name), err=True)
    return found


def _fail(diagnostics: list[Diagnostic], lang: Lang, output_format: str) -> _Exit:
    """Report problems (as JSON on stdout too with --format json); the exit to raise."""
    if output_format == "json":
        _report(diagnostics, lang, "json", to_stdout=True)
    if not (_SETTINGS.quiet and output_format == "json"):
        _report(diagnostics, lang, "text", to_stdout=False)
    return _Exit(_exit_for(diagnostics))


def _stdin(name: str, lang: Lang, output_format: str) -> bytes:
    """Standard input, at most a rule or facts file's budget (an endless one is refused)."""
    diagnostics: list[Diagnostic] = []
    stream = getattr(sys.stdin, "buffer", None)  # None when standard input is closed
    data = None if stream is None else read_stream(stream, name, diagnostics)
    if data is None:
        diagnostics = diagnostics or [
            Diagnostic("PR105", params={"file": name, "reason": "no standard input"}, file=name)
        ]
        raise _fail(diagnostics, lang, output_format)
    return data


def _checked_rules(
    spec: str, lang: Lang, output_format: str
) -> tuple[Scheme | None, CheckResult | None, list[Diagnostic]]:
    """The rule file *spec* names (``-``: standard input, named stdin.toml), checked."""
    if spec == _STDIN:
        text = _stdin(_STDIN_RULES, lang, output_format)
        return check_path(
            _STDIN_RULES, text, root=_SETTINGS.root, files=_SETTINGS.root is not None
        )
    return check_rule_file(_rule_file(spec, lang), root=_SETTINGS.root)


def _load_compiled(
    scheme_path: str,
    lang: Lang,
    output_format: str = "text",
    warnings: list[Diagnostic] | None = None,
) -> CompiledScheme:
    scheme, result, diagnostics = _checked_rules(scheme_path, lang, output_format)
    errors = [d for d in diagnostics if d.severity == "error"]
    if scheme is None or result is None or errors:
        raise _fail(diagnostics, lang, output_format)
    if warnings is not None:
        warnings += diagnostics
    try:
        return compile_scheme(scheme)
    except RuleFileError as exc:  # pragma: no cover - check_path found nothing above
        _report(list(exc.diagnostics), lang, "text", to_stdout=False)
        raise _Exit(EXIT_NO) from None


def _evaluate(
    compiled: CompiledScheme,
    facts_path: str,
    lang: Lang,
    output_format: str = "text",
    unit_name: str | None = None,
) -> Result:
    if unit_name is not None:
        return _evaluate_in_cohort(compiled, facts_path, lang, output_format, unit_name)
    try:
        if facts_path == _STDIN:
            data = _stdin("stdin", lang, output_format)
            body = data.removeprefix(b"\xef\xbb\xbf").lstrip()
            kind = "json" if body.startswith(b"{") else "toml"
            facts = loads_facts(data, format=kind, name=f"stdin.{kind}")
        else:
            facts = load_facts(facts_path)
        return compiled.evaluate(facts)
    except FactsError as exc:
        raise _fail(list(exc.diagnostics), lang, output_format) from None


def _evaluate_in_cohort(
    compiled: CompiledScheme, facts_path: str, lang: Lang, output_format: str, unit_name: str
) -> Result:
    """The result of the unit named *unit_name* in *facts_path*, with its trace.

    A scheme with cohort values or a ranking scores every unit together (keeping the trace
    of the unit asked for only); any other scores only that unit: one trace is kept however
    large the file.
    """
    names: list[str] = []
    count = 0
    try:
        if not compiled.plan.has_cohort:
            for name, facts, _ in read_units(facts_path, compiled):
                if name == unit_name:
                    if isinstance(facts, FactsError):
                        raise _fail(list(facts.diagnostics), lang, output_format)
                    return compiled.evaluate(facts)
                count += 1
                if len(names) < 10:
                    names.append(name)
        else:
            outcome = score_batch(compiled, facts_path, traced=unit_name)
            for unit in outcome.units:
                if unit.unit == unit_name:
                    if unit.result is None:
                        raise _fail(unit.errors, lang, output_format)
                    return unit.result
            names = [u.unit for u in outcome.units[:10]]
            count = len(outcome.units)
    except FactsError as exc:
        raise _fail(list(exc.diagnostics), lang, output_format) from None
    shown = ", ".join(names) + (", ..." if count > 10 else "")
    raise click.BadParameter(
        _ui(
            "cli.no_unit",
            lang,
            unit=click_text(unit_name),
            file=click_text(facts_path),
            shown=click_text(shown),
        )
    )


#: Options of ``perfrules`` itself that may also be written after the command, as pytest,
#: ruff and pip allow: the flags, and the options that take a value.
_GLOBAL_FLAGS: Final = frozenset({"-q", "--quiet"})
_GLOBAL_VALUED: Final = frozenset({"--root", "--lang"})


def _hoisted(command: click.Command | None, args: list[str]) -> tuple[list[str], list[str]]:
    """The global options among a command's *args*, and the command's own.

    ``--lang`` stays with a command that has its own; the values of the command's own
    options are never mistaken for options, and nothing after ``--`` moves.
    """
    params = command.params if command is not None else []
    valued = {o for p in params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
    own = {o for p in params for o in getattr(p, "opts", ())}
    hoisted: list[str] = []
    kept: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        name = word.split("=", 1)[0]
        taken = 1
        if word == "--":
            kept += args[index:]
            break
        if word in _GLOBAL_FLAGS and word not in own:
            hoisted.append(word)
        elif name in _GLOBAL_VALUED and name not in own:
            taken = 1 if "=" in word else 2
            hoisted += args[index : index + taken]
        else:
            taken = 2 if name in valued and "=" not in word else 1
            kept += args[index : index + taken]
        index += taken
    return hoisted, kept


def _asked_lang(args: Sequence[str]) -> Lang:
    """The language a command line asks for (its last ``--lang``), else the locale's.

    For what is said before the options are read: a usage error.
    """
    found: str | None = None
    for at, word in enumerate(args):
        if word == "--":
            break
        if word == "--lang" and at + 1 < len(args):
            found = args[at + 1]
        elif word.startswith("--lang="):
            found = word.partition("=")[2]
    return cast("Lang", found) if found in {"zh", "en"} else default_lang()


#: click's own words for the usage errors said in Chinese (click >= 8.2, < 9).
_CLICK_WORDS: Final = (
    ("usage.no_such_command", re.compile(r"No such command (?P<name>.+)\.")),
    ("usage.extra_arguments", re.compile(r"Got unexpected extra arguments? \((?P<words>.*)\)")),
    ("usage.needs_value", re.compile(r"Option (?P<name>.+) requires an argument\.")),
    ("usage.not_a_choice", re.compile(r"(?P<value>.+) is not one of (?P<choices>.+)\.")),
    ("usage.missing_command", re.compile(r"Missing command\.")),
    ("usage.not_an_integer", re.compile(r"(?P<value>.+) is not a valid integer\.")),
    ("usage.not_a_number", re.compile(r"(?P<value>.+) is not a valid float\.")),
    ("usage.out_of_range", re.compile(r"(?P<value>.+) is not in the range (?P<range>.+)\.")),
)


def _said(message: str, lang: Lang) -> str:
    """One of click's messages in *lang*, when it is one of :data:`_CLICK_WORDS`."""
    for key, pattern in _CLICK_WORDS:
        found = pattern.fullmatch(message)
        if found is not None:
            return _ui(key, lang, **found.groupdict())
    return message


def _usage_message(exc: click.UsageError, lang: Lang) -> str:
    """What a usage error says, in *lang*: click's own words where it has them."""
    if isinstance(exc, click.MissingParameter):
        name = exc.param.get_error_hint(exc.ctx) if exc.param is not None else exc.param_hint
        kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "")
        key = "usage.missing_option" if kind == "option" else "usage.missing_argument"
        return _ui(key, lang, name=name or "")
    if isinstance(exc, click.NoSuchOption):
        return _ui("usage.no_such_option", lang, name=exc.option_name) + _possible(exc, lang)
    if isinstance(exc, click.BadParameter):
        message = _said(exc.message, lang)
        hint = exc.param_hint
        if hint is None and exc.param is not None:
            hint = exc.param.get_error_hint(exc.ctx)
        if hint is None:
            return message
        name = hint if isinstance(hint, str) else " / ".join(hint)
        return _ui("usage.invalid_value", lang, name=name, message=message)
    # click >= 8.4 says what a misspelt command may have meant (NoSuchCommand)
    return _said(exc.message, lang) + _possible(exc, lang)


def _possible(exc: click.UsageError, lang: Lang) -> str:
    """What an unknown option or command may have meant, as click says it: one, or all."""
    possibilities = getattr(exc, "possibilities", None)
    if not possibilities:
        return ""
    key = "usage.did_you_mean" if len(possibilities) == 1 else "usage.possible"
    names = ("、" if lang == "zh" else ", ").join(sorted(possibilities))
    return ("" if lang == "zh" else " ") + _ui(key, lang, names=names)


class _SaidUsageError(click.UsageError):
    """A usage error shown in Chinese: the usage line, the hint and the error alike."""

    def __init__(self, exc: click.UsageError, lang: Lang) -> None:
        super().__init__(_usage_message(exc, lang), exc.ctx)
        self.lang = lang

    def show(self, file: Any = None) -> None:
        """Usage, where to find help and the error, in the error's language."""
        lines: list[str] = []
        ctx = self.ctx
        if ctx is not None:
            usage = ctx.get_usage()
            english = "Usage:"
            if usage.startswith(english):
                usage = _ui("usage.usage", self.lang) + usage[len(english) :].lstrip()
            lines.append(usage)
            if ctx.command.get_help_option(ctx) is not None:
                option = max(ctx.command.get_help_option_names(ctx), key=len)
                lines.append(_ui("usage.try", self.lang, command=ctx.command_path, option=option))
            lines.append("")
        lines.append(_ui("usage.error", self.lang, message=self.format_message()))
        click.echo("\n".join(lines), file=file if file is not None else sys.stderr)


def _in_lang(exc: click.UsageError, lang: Lang) -> click.UsageError:
    """*exc* as it is said in *lang* (click speaks English: the error as it is then)."""
    return exc if lang == "en" or isinstance(exc, _SaidUsageError) else _SaidUsageError(exc, lang)


class _Perfrules(click.Group):
    """The ``perfrules`` group: global options are accepted before or after the command.

    Its usage errors, click's own included, are said in the language the command line
    asks for (``--lang``, before or after the command, else the locale).
    """

    lang: Lang = "en"

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line, its usage errors said in its language."""
        words = kwargs.get("args", args[0] if args else None)
        self.lang = _asked_lang(list(words) if words is not None else sys.argv[1:])
        return super().main(*args, **kwargs)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """The group's context; an error in its own options said in the line's language."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _in_lang(exc, self.lang) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; an error in its name or options said in the line's language."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _in_lang(exc, self.lang) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move global options written after the command in front of it, then parse."""
        index = 0
        while index < len(args):  # the group's own options, up to the command's name
            word = args[index]
            if not word.startswith("-") or word == "--":
                break
            index += 2 if word in _GLOBAL_VALUED else 1
        if index < len(args) and args[index] != "--":
            hoisted, kept = _hoisted(self.commands.get(args[index]), args[index + 1 :])
            args = [*args[:index], *hoisted, args[index], *kept]
        return super().parse_args(ctx, args)


class _OutPath(click.Path):
    """A file to write: its folder must exist (checked before any work is done)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The path, or a usage error naming the missing folder."""
        path = super().convert(value, param, ctx)
        if str(path) == "-":
            return path
        folder = Path(os.fsdecode(path)).parent
        shown = str(folder) if len(str(folder)) <= 200 else str(folder)[:200] + "…"
        try:
            found = folder.is_dir()
        except (OSError, ValueError) as exc:  # a name too long, a byte the system refuses
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.fail(f"cannot use the folder {shown!r}: {reason}", param, ctx)
        if not found:
            self.fail(
                f"the folder {shown!r} does not exist or is not a folder (create it first); "
                f"文件夹 {shown!r} 不存在或不是文件夹（请先创建）",
                param,
                ctx,
            )
        return path


#: Every ``--out`` option: a file whose folder exists.
_OUT: Final = _OutPath()


@click.group(cls=_Perfrules, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perfrules", prog_name="perfrules")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    envvar="PERFRULES_ROOT",
    help="Folder that 'extends' may read files from (default: the rule file's own folder; "
    "rule packs always; env PERFRULES_ROOT). "
    "extends 只能读取此文件夹内的文件（默认为规则文件所在文件夹；规则包不限）。",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Only results and errors (also after the command). 只输出结果与错误。",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Language of messages for every command (default: from the locale). 消息语言。",
)
def cli(root: str | None, quiet: bool, lang: Lang | None) -> None:
    """Compute and explain scores under weighted scoring schemes.

    A SCHEME or FACTS argument may be "-" to read it from standard input.

    按规则文件计算并解释绩效评分。方案或事实文件参数可为“-”，表示从标准输入读取。
    """
    _load()
    _SETTINGS.root = root
    _SETTINGS.quiet = quiet
    _SETTINGS.lang = lang
    _bounded_memory()


def _bounded_memory() -> None:
    """Keep the address space small enough for a real cap (``ulimit -v``) to hold.

    pyarrow's default allocator reserves hundreds of megabytes it never touches, and glibc
    gives each of pyarrow's threads an arena of 64 MiB: a 60,000-unit batch mapped 1.8 GB
    while using 320 MB. The system allocator and two arenas keep it under 600 MB. Only
    what the user has not set; before pyarrow is imported (lazily, by the batch commands).
    """
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if sys.platform == "linux" and "MALLOC_ARENA_MAX" not in os.environ:
        import ctypes  # noqa: PLC0415 - only here

        with contextlib.suppress(OSError, AttributeError, TypeError):
            # The process's own symbols, the C library's among them (no library search:
            # ctypes.util's runs a subprocess).
            ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX: at most two malloc arenas


@cli.command()
@click.argument("schemes", nargs=-1, required=True, type=_SCHEME)
@click.option("--strict", is_flag=True, help="Treat warnings as errors. 警告也视为错误。")
@click.option(
    "--show-sources",
    is_flag=True,
    help="List where each weight and formula was written (file:line). 列出权重与公式的出处。",
)
@_options
@_guard
def check(
    schemes: tuple[str, ...],
    strict: bool,
    show_sources: bool,
    output_format: str,
    lang: Lang | None,
) -> None:
    """Check rule files and report every problem at once.

    检查规则文件，一次列出所有问题。
    """
    language = lang or _SETTINGS.lang or default_lang()
    everything: list[Diagnostic] = []
    paths: list[str] = []
    for spec in schemes:
        found = None if spec == _STDIN else find_rule_files(spec)
        if found is None:
            paths.append(spec)
        elif found:
            paths += found
        else:
            reason = "no rule files here (.toml files with [scheme] or extends)"
            everything.append(
                Diagnostic("PR105", params={"file": spec, "reason": reason}, file=spec)
            )
    for path in paths:
        scheme, result, diagnostics = _checked_rules(path, language, output_format)
        everything.extend(diagnostics)
        if show_sources and scheme is not None and result is not None and result.ok:
            plan = compile_scheme(scheme).plan
            for node in plan.nodes[1:]:
                for key, at in node.sources:
                    click.echo(f"{at}: {node.id}.{key}", err=True)
    failing = [d for d in everything if d.severity == "error" or strict]
    if output_format == "json":
        sys.stdout.write(diagnostics_json(everything, language))
    elif everything:
        render_diagnostics(everything, language, make_console())
    else:
        for path in paths:
            if not _SETTINGS.quiet:
                shown = _STDIN_RULES if path == _STDIN else path
                click.echo(_ui("ok", language, file=shown), err=True)
    if failing:
        raise _Exit(_exit_for(failing))


@cli.command()
@click.argument("scheme", type=_SCHEME)
@click.argument("facts", type=click.Path())
@click.option(
    "--format",
    "output_format",
    type=_LaterChoice(lambda: [f.name for f in FORMATS if f.unit]),
    default="text",
    show_default=True,
    help="Output format. 输出格式。",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None, help="消息语言。Language.")
@click.option(
    "--out",
    type=_OUT,
    default=None,
    cls=_LaterHelp,
    help_of=lambda: (
        f"Write to a file; many units' results go to {_result_endings()}, "
        "a league table to .html or .pdf. "
        f"写入文件；批量结果写入 {_result_endings()}，排名表写入 .html 或 .pdf。"
    ),
)
@_UNIT_OPTION
@click.option(
    "--edition",
    type=click.Choice(["filing", "analysis"]),
    default=None,
    help="filing: the form to file (no gap to the next band, no chart; PDF default); "
    "analysis: with them (HTML default). 报送版（PDF 默认）或分析版（HTML 默认）。",
)
@click.option(
    "--csv-bom/--no-csv-bom",
    default=True,
    show_default=True,
    help="Start CSV results with a UTF-8 byte-order mark (Excel needs it to read UTF-8). "
    "CSV 结果文件以 UTF-8 BOM 开头（Excel 需要）。",
)
@click.option(
    "--csv-eol",
    type=_LaterChoice(lambda: list(CSV_EOLS)),
    default="lf",
    show_default=True,
    help="Line ending of CSV results. CSV 结果文件的换行符。",
)
@click.option(
    "--errors",
    "errors_out",
    type=_OUT,
    default=None,
    help="Many units: also write every problem as a table (unit, file, row, column, code, "
    "message, hint): JSON Lines for .jsonl, else CSV. 批量时另将每个错误写成表格。",
)
@_guard
def score(
    scheme: str,
    facts: str,
    output_format: str,
    lang: Lang | None,
    out: str | None,
    unit_name: str | None,
    edition: Edition | None,
    csv_bom: bool,
    csv_eol: str,
    errors_out: str | None,
) -> None:
    """Score one unit's FACTS under SCHEME: the table, or the JSON trace.

    FACTS may also hold many units (a CSV with a unit column, an XLSX workbook with a sheet per
    unit, or a folder): give --out to write every unit's result.

    按方案为一个单位计分；FACTS 也可以是多个单位（批量），用 --out 写出全部结果。
    """
    language = lang or _SETTINGS.lang or default_lang()
    compiled = _load_compiled(scheme, language, output_format)
    chosen = format_named(output_format)
    if (
        chosen.page is None
        and chosen.name != "text"
        and (out is None or not out.lower().endswith(chosen.suffixes))
    ):
        raise click.UsageError(
            _ui("cli.format_needs_out", language, format=chosen.name, suffix=chosen.suffixes[0])
        )
    many = (
        unit_name is None
        and facts != _STDIN
        and (
            is_folder(Path(facts))
            or _is_wide_csv(Path(facts))
            or Path(facts).suffix.lower() == ".parquet"
        )
    )
    if out == STDOUT and not many:
        out = None  # one unit to standard output: the page, as without --out
    if errors_out is not None and not many:
        raise click.UsageError(_ui("cli.errors_for_many", language))
    one_form = out is not None and not many and out.lower().endswith((".xlsx", ".pdf"))
    if out is not None and not many and (results_format(out) is None or one_form):
        # One unit rendered to a file: the page (HTML, Markdown, JSON or text as Markdown),
        # or the form to file (XLSX).
        result = _evaluate(compiled, facts, language, output_format, unit_name)
        assert result.trace is not None  # noqa: S101
        if one_form and out.lower().endswith(".pdf"):
            write_atomic(Path(out), _pdf(result.trace, language, edition or "filing"))
        elif one_form:
            write_atomic(Path(out), _form(result.trace, language))
        elif output_format == "html" and edition is not None:
            write_atomic(Path(out), render_html(result.trace, language, edition))
        else:
            write_atomic(Path(out), _page(result.trace, output_format, language))
        if not _SETTINGS.quiet:
            click.echo(out, err=True)
        return
    if facts == _STDIN and out is not None:
        raise click.UsageError(_ui("cli.stdin_one_unit", language))
    if out is not None or many:
        style = CsvStyle(bom=csv_bom, eol=CSV_EOLS[csv_eol])
        errors = None if errors_out is None else Path(errors_out)
        _score_batch(compiled, facts, out, output_format, language, style, errors)
        return
    result = _evaluate(compiled, facts, language, output_format, unit_name)
    assert result.trace is not None  # noqa: S101
    if output_format == "html" and edition is not None:
        sys.stdout.write(render_html(result.trace, language, edition))
    elif chosen.page is not None:
        sys.stdout.write(chosen.page(result.trace, language))
    else:
        render_score_table(result.trace, language, make_console())


def _form(trace: Trace, lang: Lang) -> bytes:
    try:
        from perfrules.reports import render_xlsx  # noqa: PLC0415 - optional extra
    except ImportError:
        click.echo("writing .xlsx needs: pip install 'perfrules[xlsx]'", err=True)
        raise _Exit(EXIT_USAGE) from None
    return render_xlsx(trace, lang)


def _pdf(trace: Trace, lang: Lang, edition: Edition) -> bytes:
    from perfrules.reports import PdfError, render_pdf  # noqa: PLC0415

    try:
        return render_pdf(trace, lang, edition)
    except PdfError as exc:
        click.echo(f"perfrules: {exc}", err=True)
        raise _Exit(EXIT_USAGE) from None


def _page(trace: Trace, output_format: str, lang: Lang) -> str:
    page = format_named(output_format).page
    # Text written to a file is the Markdown page (a terminal table does not fit a file).
    return (page or render_markdown)(trace, lang)


def _is_wide_csv(path: Path) -> bool:
    if path.suffix.lower() != ".csv" or not regular_file(path):
        return False
    with path.open(encoding="utf-8-sig", errors="replace") as stream:
        header = stream.readline(MAX_FILE_BYTES)  # one endless line is not read whole
    return any(cell.strip() in ("unit", "单位") for cell in header.split(","))


def _score_batch(
    compiled: CompiledScheme,
    source: str,
    out: str | None,
    output_format: str,
    lang: Lang,
    style: CsvStyle,
    errors: Path | None = None,
) -> None:
    if out is None:
        raise click.UsageError(_ui("cli.many_need_out", lang, endings=_result_endings()))
    target = Path(out)
    if out == STDOUT and output_format == "json":
        raise click.UsageError(_ui("cli.stdout_csv", lang))
    console = make_console(stderr=True)
    if out.lower().endswith((".html", ".htm", ".pdf")):
        # Many units to a page: the league table (ranking order, ranks as published).
        try:
            outcome = score_batch(compiled, source)
        except FactsError as exc:
            raise _fail(list(exc.diagnostics), lang, output_format) from None
        _write_league(league_table(compiled, outcome), out, lang)
        render_batch_summary(
            outcome.summary(compiled), outcome.failed, out, lang, console, quiet=_SETTINGS.quiet
        )
        if outcome.failed:
            raise _Exit(EXIT_NO)
        return
    if results_format(out) is None and out != STDOUT:
        endings = _result_endings()
        raise click.BadParameter(_ui("cli.results_end", lang, endings=endings), param_hint="--out")
    show_progress = console.is_terminal and output_format != "json" and not _SETTINGS.quiet
    streamed = _streamer(Path(source), target, compiled)
    try:
        with make_progress(console, enabled=show_progress) as advance:
            if streamed is not None:
                # Any size: chunk by chunk, as arrays, written as it goes.
                flowing = streamed(
                    compiled,
                    Path(source),
                    target,
                    progress=advance,
                    style=style,
                    errors=errors,
                    lang=lang,
                )
                summary, failed = flowing.summary(compiled), flowing.failed
                any_failed = flowing.failed_count > 0
            else:
                outcome = score_batch(
                    compiled, source, trace=target.suffix.lower() == ".jsonl", progress=advance
                )
                summary, failed, any_failed = None, outcome.failed, bool(outcome.failed)
    except FactsError as exc:
        # The whole file refused (a header over budget, not a table): still a document.
        raise _fail(list(exc.diagnostics), lang, output_format) from None
    if streamed is None:
        try:
            write_results(outcome, compiled, target, style, errors=errors, lang=lang)
        except ImportError:
            click.echo("writing .xlsx needs: pip install 'perfrules[xlsx]'", err=True)
            raise _Exit(EXIT_USAGE) from None
        summary = outcome.summary(compiled)
    if output_format == "json":
        import json  # noqa: PLC0415

        document = {
            "out": str(target),
            "summary": summary,
            "errors": [
                {"unit": u.unit, "diagnostics": [d.to_dict(lang) for d in u.errors]}
                for u in failed
            ],
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:  # with -q, only the errors: the failing units' problems
        render_batch_summary(summary, failed, str(target), lang, console, quiet=_SETTINGS.quiet)
    if any_failed:
        raise _Exit(EXIT_NO)


def _streamer(source: Path, target: Path, compiled: CompiledScheme) -> Any:
    """``stream_batch`` when *source* and *target* can be streamed and the extra is there."""
    if not regular_file(source) or source.suffix.lower() not in (".csv", ".parquet"):
        return None
    suffix = ".csv" if str(target) == STDOUT else target.suffix.lower()
    if suffix == ".jsonl" and compiled.scheme.ranking is not None:
        return None  # every trace needs its rank, known only at the end: in memory
    if source.suffix.lower() == ".csv" and not _is_wide_csv(source):
        return None
    try:
        from perfrules.workflows import STREAM_OUTPUTS, stream_batch  # noqa: PLC0415
    except ImportError:  # no frame extra: the in-memory batch (files up to 1 MiB)
        return None
    return stream_batch if suffix in STREAM_OUTPUTS else None


@cli.command()
@click.argument("scheme", type=_SCHEME)
@click.argument("facts", type=click.Path(dir_okay=False))
@click.argument("ids", nargs=-1)
@_options
@_UNIT_OPTION
@_guard
def explain(
    scheme: str,
    facts: str,
    ids: tuple[str, ...],
    output_format: str,
    lang: Lang | None,
    unit_name: str | None,
) -> None:
    """Explain each indicator step by step (or only IDS).

    逐项解释每个指标的得分（或只解释给定编号）。
    """
    language = lang or _SETTINGS.lang or default_lang()
    compiled = _load_compiled(scheme, language)
    result = _evaluate(compiled, facts, language, output_format, unit_name)
    trace = result.trace
    assert trace is not None  # noqa: S101
    unknown = [i for i in ids if trace.root.find(i) is None]
    if unknown:
        raise click.BadParameter(
            _ui("cli.no_node", language, ids=", ".join(unknown)), param_hint="IDS"
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
@click.argument("packs", nargs=-1, required=True, type=click.Path())
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
    from rich.text import Text  # noqa: PLC0415 - the console's own, for this command only

    language = lang or _SETTINGS.lang or default_lang()
    everything: list[dict[str, Any]] = []
    failed = ran = 0
    console = make_console()
    for pack_path in packs:
        try:
            pack, results = run_cases(pack_path, keyword)
        except (RuleFileError, PackError) as exc:
            _report(list(exc.diagnostics), language, "text", to_stdout=False)
            raise _Exit(EXIT_NO if isinstance(exc, RuleFileError) else EXIT_USAGE) from None
        if not pack.cases and not properties:
            click.echo(
                f"{pack_path}: no cases/*.toml (use --properties to test without cases)", err=True
            )
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
                    "messages": result.failures_in(language),
                }
            )
            if output_format == "text" and not result.passed:
                heading = _ui(
                    "case.heading", language, file=result.file, line=result.line, name=result.name
                )
                console.print(
                    Text.assemble((_ui("case.failed", language), "bold red"), printable(heading)),
                    highlight=False,
                )
                for failure, (line, column) in zip(
                    result.failures_in(language), result.places, strict=True
                ):
                    at = f"{result.file}:{line}:{column or 1}: " if line else ""
                    console.print(printable(f"  {at}{failure}"), markup=False, highlight=False)
                for detail in result.details:
                    console.print(
                        printable(f"  {detail}"), style="dim", markup=False, highlight=False
                    )
        if properties:
            outcome, said = _properties(pack.scheme, examples, language)
            everything.append({"pack": str(pack.root), "properties": outcome})
            if outcome["passed"]:
                if output_format == "text":
                    click.echo(
                        _ui(
                            "case.properties_hold",
                            language,
                            scheme=pack.scheme,
                            examples=outcome["examples"],
                        )
                    )
            else:
                failed += 1
                if output_format == "text":
                    console.print(
                        Text.assemble(
                            (_ui("case.failed", language), "bold red"),
                            printable(_ui("case.properties_failed", language, scheme=pack.scheme)),
                        )
                    )
                    click.echo(said)
    if output_format == "json":
        import json  # noqa: PLC0415

        sys.stdout.write(json.dumps(everything, ensure_ascii=False, indent=2) + "\n")
    else:
        failing_cases = sum(1 for e in everything if "case" in e and not e["passed"])
        counts = {"passed": ran - failing_cases, "failed": failing_cases}
        if properties:  # said beside the cases: a summary of cases alone reads as success
            held = [e["properties"]["passed"] for e in everything if "properties" in e]
            counts |= {"held": sum(held), "broken": len(held) - sum(held)}
            click.echo(_ui("case.summary_properties", language, **counts))
        else:
            click.echo(_ui("case.summary", language, **counts))
    if failed:
        raise _Exit(EXIT_NO)


def cache_folder() -> Path:
    """Where perfrules keeps what it may throw away (hypothesis' examples).

    ``PERFRULES_CACHE_DIR``, else ``perfrules`` in the platform's cache folder
    (``XDG_CACHE_HOME``, ``~/.cache``; ``LOCALAPPDATA`` on Windows).
    """
    chosen = os.environ.get("PERFRULES_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None
    )
    return (Path(base) if base else Path.home() / ".cache") / "perfrules"


def _properties(scheme: Path, examples: int, lang: Lang) -> tuple[dict[str, Any], str]:
    """The ``properties`` entry of the JSON, and the failure said in *lang* ("" when none)."""
    try:
        from perfrules.testing import property_report  # noqa: PLC0415
    except ImportError:
        click.echo("--properties needs hypothesis: pip install 'perfrules[testing]'", err=True)
        raise _Exit(EXIT_USAGE) from None
    # hypothesis keeps the examples it found in .hypothesis/ of the current folder unless
    # told otherwise: a rule-file repository is no place for it.
    variable = "HYPOTHESIS_STORAGE_DIRECTORY"
    chosen = os.environ.get(variable)
    os.environ[variable] = chosen or str(cache_folder() / "hypothesis")
    try:
        report = property_report(scheme, max_examples=examples, lang=lang)
        return report.entry, report.text
    finally:
        if chosen is None:
            del os.environ[variable]


@cli.command()
@click.argument("old", type=_SCHEME)
@click.argument("new", type=_SCHEME, required=False)
@click.option(
    "--facts",
    "facts_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also show how this unit's scores change (a what-if). 同时比较该单位的得分变化。",
)
@click.option(
    "--units",
    "units",
    type=click.Path(),
    nargs=2,
    default=None,
    metavar="LAST CURRENT",
    help="Movers: last year's units (or results CSV) under OLD against this year's under NEW "
    "(NEW defaults to OLD): rank and total changes, new and dropped units. "
    "上年与本年的名次、总分变化，新进与退出的对象。",
)
@click.option(
    "--out",
    type=_OUT,
    default=None,
    help="With --units: write this year's league table with each unit's move "
    "(.html, .pdf, .xlsx). 与 --units 一起：写出带升降的排名表。",
)
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when the schemes differ. 有差异时以 1 退出。"
)
@_options
@_guard
def diff(
    old: str,
    new: str | None,
    facts_path: str | None,
    units: tuple[str, str] | None,
    out: str | None,
    exit_code: bool,
    output_format: str,
    lang: Lang | None,
) -> None:
    """Show what changed between two schemes (and, with --facts, what it does to a unit).

    With --units LAST CURRENT, also how the units moved since last year (NEW may then be
    left out: both years under OLD).

    比较两个方案的差异（加 --facts 时再比较同一单位的得分；加 --units 时比较上年与本年的名次）。
    """
    language = lang or _SETTINGS.lang or default_lang()
    if new is None and not units:
        raise click.UsageError(_ui("cli.diff_needs_new", language))
    if out is not None and not units:
        raise click.UsageError(_ui("cli.out_needs_units", language))
    if out is not None and not out.lower().endswith(_LEAGUE_ENDINGS):
        endings = ", ".join(_LEAGUE_ENDINGS)
        raise click.BadParameter(
            _ui("cli.file_end", language, endings=endings), param_hint="--out"
        )
    if out is not None and units and is_results_file(Path(units[1])):
        raise click.UsageError(_ui("cli.league_needs_facts", language))
    before = _load_compiled(old, language)
    after = before if new is None else _load_compiled(new, language)
    changes = diff_schemes(before.written, after.written)
    what = None
    moved = None
    try:
        if facts_path is not None:
            what = what_if(before, after, load_facts(facts_path))
        if units:
            moved = movers(before, after, units[0], units[1])
    except FactsError as exc:
        _report(list(exc.diagnostics), language, "text", to_stdout=False)
        raise _Exit(_exit_for(list(exc.diagnostics))) from None
    if out is not None and units:
        outcome = score_batch(after, units[1])
        _write_league(league_table(after, outcome, movers=moved), out, language)
    if output_format == "json":
        import json  # noqa: PLC0415

        document = {
            "old": {"id": before.id, "sha256": before.sha256},
            "new": {"id": after.id, "sha256": after.sha256},
            "changes": [c.to_dict() for c in changes],
            "what_if": None if what is None else what.to_dict(),
        }
        if moved is not None:  # with --units only: the document is otherwise unchanged
            document["movers"] = moved.to_dict()
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        if new is not None or not moved:
            render_diff(changes, what, language, make_console())
        if moved is not None:
            render_movers(moved, language, make_console())
    if exit_code and changes:
        raise _Exit(EXIT_NO)


#: What a league table can be written as.
_LEAGUE_ENDINGS: Final = (".html", ".htm", ".pdf", ".xlsx")


def _write_league(table: Any, out: str, lang: Lang) -> None:
    """Write a league table as HTML, PDF (through the HTML page) or XLSX, atomically."""
    suffix = Path(out).suffix.lower()
    if suffix == ".xlsx":
        try:
            from perfrules.reports import render_league_xlsx  # noqa: PLC0415 - optional extra
        except ImportError:
            click.echo("writing .xlsx needs: pip install 'perfrules[xlsx]'", err=True)
            raise _Exit(EXIT_USAGE) from None
        write_atomic(Path(out), render_league_xlsx(table, lang))
    elif suffix == ".pdf":
        from perfrules.reports import PdfError, print_pdf  # noqa: PLC0415

        try:
            write_atomic(Path(out), print_pdf(render_league_html(table, lang), lang))
        except PdfError as exc:
            click.echo(f"perfrules: {exc}", err=True)
            raise _Exit(EXIT_USAGE) from None
    else:
        write_atomic(Path(out), render_league_html(table, lang))
    if not _SETTINGS.quiet:
        click.echo(out, err=True)


@cli.command(name="new-year")
@click.argument("scheme", type=_SCHEME)
@click.option("--year", type=int, required=True, help="The new year. 新的年度。")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),  # its folder is made: next year's often is new
    default=None,
    help="Where to write (default: next to the old one, the year replaced). 输出文件。",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file. 覆盖已有文件。")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Language of comments. 注释语言。",
)
@_guard
def new_year(scheme: str, year: int, out: str | None, force: bool, lang: Lang | None) -> None:
    """Write next year's scheme: a small file that extends this one, ready to edit.

    生成下一年度方案：继承本方案的小文件，只需写入变化。
    """
    language = lang or _SETTINGS.lang or default_lang()
    warnings: list[Diagnostic] = []
    compiled = _load_compiled(scheme, language, warnings=warnings)
    if warnings and not _SETTINGS.quiet:
        # What is wrong now is inherited: say it before the new year copies it (PR236).
        render_diagnostics(warnings, language, make_console(stderr=True))
    info = compiled.scheme.scheme
    found = find_rule_file(scheme)
    old_path = found.path
    # An installed pack's next year goes into the current folder, never into the pack.
    named = Path(found.pack_id.rsplit("/", 1)[-1]) / old_path.name if found.pack_id else old_path
    target = Path(out) if out else _next_year_path(named, info.year, year)
    if target.exists() and not force:
        click.echo(_ui("cli.exists", language, path=target), err=True)
        raise _Exit(EXIT_USAGE)
    text = new_year_text(compiled, old_path, target, year, language)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text)
    if not _SETTINGS.quiet:
        click.echo(str(target))
    extends = extends_text(old_path, target)
    if extends.startswith("../") and not _SETTINGS.quiet:
        # extends reads the rule file's own folder by default: name the folder holding both
        both = Path(os.path.commonpath([old_path.resolve(), target.resolve()]))
        shown = shlex.quote(
            str(both)
            if old_path.is_absolute()
            else os.path.relpath(both)
            if both != Path.cwd()
            else "."
        )
        click.echo(_ui("new_year.root", language, root=shown), err=True)


def _next_year_path(old: Path, old_year: int | None, year: int) -> Path:
    if old_year is not None and str(old_year) in old.parent.name:
        return old.parent.with_name(old.parent.name.replace(str(old_year), str(year))) / old.name
    return old.with_name(f"{old.stem}-{year}{old.suffix}")


@cli.command()
@click.option(
    "--kind",
    type=click.Choice(["rules", "facts", "cases", "pack", "report", "all"]),
    default="rules",
    show_default=True,
    help="Which file format. 哪种文件。",
)
@click.option(
    "--output",
    type=click.Path(),
    default=None,
    help="A file (one kind) or a folder (all kinds); default stdout. 输出位置。",
)
@_guard
def schema(kind: str, output: str | None) -> None:
    """Export the JSON Schema editors use to check and complete rule files.

    导出编辑器用于校验和自动补全的 JSON Schema。
    """
    kinds = list(KINDS) if kind == "all" else [kind]
    if output is None:
        if len(kinds) > 1:
            language = _SETTINGS.lang or default_lang()
            raise click.UsageError(_ui("cli.kind_all_needs_output", language))
        sys.stdout.write(schema_text(kinds[0]))
        return
    target = Path(output)
    if len(kinds) > 1 or target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for name in kinds:
            write_atomic(target / KINDS[name][1], schema_text(name))
            if not _SETTINGS.quiet:
                click.echo(str(target / KINDS[name][1]))
        return
    write_atomic(target, schema_text(kinds[0]))
    if not _SETTINGS.quiet:
        click.echo(str(target))


@cli.command()
@click.argument("scheme", type=_SCHEME)
@click.option(
    "--out",
    type=_OUT,
    required=True,
    help="The sheet to write: .xlsx or .csv. 输出文件（.xlsx 或 .csv）。",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file. 覆盖已有文件。")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None, help="Headings. 表头语言。")
@click.option(
    "--layout",
    type=click.Choice(["form", "units"]),
    default=None,
    help="form: one unit's sheet, a row per indicator; units: a CSV with a row per unit "
    "(default for a .csv of a scheme whose units are scored together). "
    "form：单个对象的填报表；units：每个对象一行的 CSV（共同评分的方案默认如此）。",
)
@_guard
def template(scheme: str, out: str, force: bool, lang: Lang | None, layout: str | None) -> None:
    """Write a blank facts sheet: one row per indicator, for departments to fill in.

    A scheme whose units are scored together (a cohort, a ranking) gets, as a CSV, a sheet
    with a row per unit and a column per fact, the batch's input.

    生成空白填报表：每个指标一行，供各单位填写；共同评分的方案生成每个对象一行的 CSV。
    """
    language = lang or _SETTINGS.lang or default_lang()
    compiled = _load_compiled(scheme, language)
    target = Path(out)
    if target.suffix.lower() not in (".xlsx", ".csv"):
        raise click.BadParameter(_ui("cli.xlsx_or_csv", language), param_hint="--out")
    if layout == "units" and target.suffix.lower() != ".csv":
        raise click.BadParameter(_ui("cli.units_sheet_csv", language), param_hint="--out")
    if target.exists() and not force:
        click.echo(_ui("cli.exists", language, path=target), err=True)
        raise _Exit(EXIT_USAGE)
    try:
        write_template(compiled, target, language, layout)
    except ImportError:
        click.echo("writing .xlsx needs: pip install 'perfrules[xlsx]'", err=True)
        raise _Exit(EXIT_USAGE) from None
    if not _SETTINGS.quiet:
        click.echo(str(target))


@cli.command()
@click.argument("scheme", type=_SCHEME)
@click.argument("report", type=click.Path(dir_okay=False))
@click.option(
    "--tolerance",
    default="0",
    show_default=True,
    help="A published table: the largest difference still taken as agreement, an exact "
    "decimal. 公布表：视为一致的最大差值（精确小数）。",
)
@_options
@_guard
def audit(scheme: str, report: str, tolerance: str, output_format: str, lang: Lang | None) -> None:
    """Check a published report or table: recompute every row, total, grade and rank.

    审核已发布的自评报告或排名表：重算每一行、总分、等级和名次，指出不符之处及可能原因。
    """
    language = lang or _SETTINGS.lang or default_lang()
    compiled = _load_compiled(scheme, language)
    table = _is_wide_csv(Path(report))
    try:
        allowed = Decimal(tolerance.strip())
    except ArithmeticError:
        allowed = Decimal(-1)
    if not allowed.is_finite() or allowed < 0:
        raise click.UsageError(_ui("cli.tolerance", language, given=repr(tolerance)))
    try:
        if table:
            outcome: Any = audit_table(compiled, report, tolerance=allowed)
        else:
            facts, published = load_report(report)
            outcome = audit_report(compiled, facts, published, tolerance=allowed)
    except FactsError as exc:
        _report(list(exc.diagnostics), language, "text", to_stdout=False)
        raise _Exit(_exit_for(list(exc.diagnostics))) from None
    if output_format == "json":
        import json  # noqa: PLC0415

        sys.stdout.write(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2) + "\n")
    elif table:
        render_table_audit(outcome, language, make_console())
    else:
        render_audit(outcome, language, make_console())
    if not outcome.consistent:
        raise _Exit(EXIT_NO)


@cli.command(name="new-pack")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option(
    "--id",
    "pack_id",
    default=None,
    help="The pack's id, GROUP/NAME (default: local/FOLDER). 规则包编号。",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None, help="Language. 语言。")
@_guard
def new_pack(folder: str, pack_id: str | None, lang: Lang | None) -> None:
    """Start a rule pack: an installable project with a scheme, facts and a passing case.

    After `pip install FOLDER` the pack is known by its id to every command and to
    extends. 新建规则包：可安装的项目，含方案、事实文件和一个通过的用例。
    """
    from perfrules.workflows import pack_module_name, write_new_pack  # noqa: PLC0415

    language = lang or _SETTINGS.lang or default_lang()
    target = Path(folder)
    chosen = pack_id or f"local/{pack_module_name(target.resolve().name).replace('_', '-')}"
    try:
        written = write_new_pack(target, chosen, language)
    except FileExistsError:
        click.echo(f"{target} is not empty; choose a new folder", err=True)
        raise _Exit(EXIT_USAGE) from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--id") from None
    if not _SETTINGS.quiet:
        for path in written:
            click.echo(str(path))
        case_folder = next(p.parent for p in written if p.name == "pack.toml")
        click.echo(f"next: perfrules test {case_folder}; pip install {target}", err=True)


@cli.command()
@click.argument("scheme", type=_SCHEME)
@click.argument("units", type=click.Path(dir_okay=False))
@click.option(
    "--vary",
    default=None,
    help="Vary every weight by up to ± this percent (at most 2 decimals), e.g. 10. "
    "每个权重在 ± 该百分比内变动。",
)
@click.option(
    "--range",
    "ranges",
    multiple=True,
    metavar="ID=LOW:HIGH",
    help="Draw the weight of this group or indicator between LOW and HIGH points "
    "(repeatable). 该组或指标的权重在 LOW 与 HIGH 之间抽取（可重复）。",
)
@click.option(
    "--normalise",
    "normalise_choices",
    multiple=True,
    metavar="INPUT=METHOD,METHOD",
    help="Each sample normalises INPUT by one of these methods (minmax, zscore, rank, "
    "percentile, distance_to_best, distance_to_target; repeatable). "
    "每次抽样从这些方法中选一种标准化该输入项（可重复）。",
)
@click.option(
    "--impute",
    "impute_choices",
    multiple=True,
    metavar="INPUT=CHOICE,CHOICE",
    help="Each sample imputes INPUT's missing facts by one of these (cohort_mean, "
    "cohort_median, a number, none; repeatable). 每次抽样从中选一种插补方式（可重复）。",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1, max=100_000),
    default=1000,
    show_default=True,
    help="Weight sets drawn. 抽样次数。",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the draws. 随机种子。"
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Worker processes scoring the samples (same result). 并行进程数（结果相同）。",
)
@click.option(
    "--out",
    type=_OUT,
    default=None,
    metavar="FILE.html",
    help="Also write the HTML report with a chart of every unit's interval. "
    "另写出含区间图的 HTML 报告。",
)
@_options
@_guard
def sensitivity(
    scheme: str,
    units: str,
    vary: str | None,
    ranges: tuple[str, ...],
    normalise_choices: tuple[str, ...],
    impute_choices: tuple[str, ...],
    samples: int,
    seed: int,
    jobs: int,
    out: str | None,
    output_format: str,
    lang: Lang | None,
) -> None:
    """Rank stability: vary the weights, rank the units again, show how far each moves.

    排名稳定性：在给定范围内变动权重、重新排名，显示每个单位名次的中位数、5–95 % 区间
    以及影响它最大的权重。
    """
    language = lang or _SETTINGS.lang or default_lang()
    if out is not None and Path(out).suffix.lower() != ".html":
        raise click.BadParameter(
            _ui("cli.file_end", language, endings=".html"), param_hint="--out"
        )
    try:
        from perfrules.workflows import (  # noqa: PLC0415 - the frame extra
            Choice,
            SensitivityError,
            WeightRange,
            read_table,
        )
        from perfrules.workflows import sensitivity as run  # noqa: PLC0415
    except ImportError:
        click.echo("sensitivity needs: pip install 'perfrules[frame]'", err=True)
        raise _Exit(EXIT_USAGE) from None
    percent: Decimal | None = None
    if vary is not None:
        try:
            percent = Decimal(vary.strip())
        except ArithmeticError:
            raise click.BadParameter(
                _ui("cli.not_a_percent", language, given=repr(vary)), param_hint="--vary"
            ) from None
    try:
        declared = [WeightRange.parse(text) for text in ranges]
    except SensitivityError as exc:
        raise click.BadParameter(str(exc), param_hint="--range") from None
    choices = []
    for kind, given in (("normalise", normalise_choices), ("impute", impute_choices)):
        try:
            choices += [Choice.parse(kind, text) for text in given]
        except SensitivityError as exc:
            raise click.BadParameter(str(exc), param_hint=f"--{kind}") from None
    compiled = _load_compiled(scheme, language, output_format)
    bad_rows: list[Diagnostic] = []
    try:
        table = read_table(units, bad_rows)
    except FactsError as exc:
        raise _fail(list(exc.diagnostics), language, output_format) from None
    if bad_rows:
        raise _fail(bad_rows, language, output_format)
    console = make_console(stderr=True)
    show = console.is_terminal and not _SETTINGS.quiet
    try:
        with sensitivity_progress(console, enabled=show) as advance:
            result = run(
                compiled,
                table,
                vary=percent,
                ranges=declared,
                samples=samples,
                seed=seed,
                jobs=jobs,
                progress=advance,
                choices=choices,
            )
    except SensitivityError as exc:
        raise click.UsageError(str(exc)) from None
    except FactsError as exc:
        raise _fail(list(exc.diagnostics), language, output_format) from None
    if out is not None:
        write_atomic(Path(out), render_sensitivity_html(result, language))
        if not _SETTINGS.quiet:
            click.echo(out, err=True)
    if output_format == "json":
        import json  # noqa: PLC0415

        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        render_sensitivity(result, language, make_console())


@cli.command(name="packs")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@_guard
def packs_command(output_format: str) -> None:
    """List the installed rule packs: their ids (for extends and perfrules test) and folders.

    列出已安装的规则包：编号（用于 extends 与 perfrules test）及所在文件夹。
    """
    rows = [
        {
            "id": pack.id,
            "name": pack.name,
            "version": pack.version,
            "years": list(pack.years),
            "folder": str(pack.folder),
        }
        for pack in installed().values()
    ]
    if output_format == "json":
        import json  # noqa: PLC0415

        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    for row in rows:
        years = ",".join(str(y) for y in row["years"])
        click.echo(f"{row['id']}  {row['version']}  {years}  {row['name']}")


# The workbench (perfrules[serve]); its command imports Starlette only when run.
cli.add_command(serve_command)


def _find(node: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    if node["id"] == node_id:
        return node
    for child in node["children"]:
        found = _find(child, node_id)
        if found is not None:
            return found
    return None


def _terminated(signum: int, _frame: object) -> None:
    """SIGTERM (a job killed, a container stopped): leave as Ctrl-C does, cleaning up.

    The exit unwinds every open output, so its temporary file is removed and the target
    is left as it was, instead of the process vanishing with the temporary file behind.
    """
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        cli.main(args=argv, prog_name="perfrules", standalone_mode=True)
    except PerfrulesError as exc:  # pragma: no cover - every command guards itself
        click.echo(str(exc), err=True)
        sys.exit(EXIT_NO)


def run() -> NoReturn:
    """The ``perfrules`` command as a process: :func:`main`, then an exit without teardown.

    Unloading what a scoring command imports (numpy, pyarrow, pydantic, rich) took 0.1 s
    after its work was done: more than the interpreter's own start, and more than some
    commands' work. By then every file the command wrote is closed and renamed, and every
    thread it started has ended; standard output and error are flushed here. Under a
    tracer or a profiler (coverage, ``python -m cProfile -m perfrules``), whose results
    are written at exit, the process ends the usual way. :func:`main` stays the way in for
    a program that catches its ``SystemExit``.
    """
    watched = (
        sys.gettrace() is not None
        or sys.getprofile() is not None
        or "COVERAGE_PROCESS_START" in os.environ
    )
    try:
        main()
        code = EXIT_OK
    except SystemExit as exc:
        if watched:
            raise
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or EXIT_OK
        else:  # a message instead of a status: said, as Python would
            print(exc.code, file=sys.stderr)  # noqa: T201
            code = EXIT_NO
    if watched:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader left: as a command that wrote into it says
            code = EXIT_PIPE
        except (OSError, ValueError):  # closed, or a descriptor that is gone
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
