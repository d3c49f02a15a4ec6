"""Start-up: ``import perfrules`` and ``perfrules --help`` load no heavy dependency.

Each check runs a fresh interpreter and reads ``sys.modules`` (what was imported), not the
clock: the time itself is measured by ``benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pydantic", "rich", "simpleeval", "numpy", "pandas", "pyarrow", "perfrules.engine")


def loaded_after(code: str) -> set[str]:
    """The top-level names of the modules a fresh interpreter holds after running *code*."""
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import perfrules",
        "import perfrules.cli",
        "from perfrules.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    ],
)
def test_start_up_imports_nothing_heavy(code):
    loaded = loaded_after(code)
    assert not [m for m in HEAVY if m in loaded]


def test_the_cli_loads_the_workbench_s_modules_only_when_it_runs():
    # Every command registers `serve`; its sockets and browser are for when it serves.
    loaded = loaded_after(
        "from perfrules.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert "perfrules.serve" in loaded
    assert not {"socket", "webbrowser", "tempfile", "subprocess"} & loaded


def test_an_exported_name_is_imported_when_first_read():
    loaded = loaded_after("import perfrules\nperfrules.compile_scheme")
    assert "perfrules.engine" in loaded
    assert "rich" not in loaded  # the library never needs the renderers' console


def test_every_exported_name_resolves_and_unknown_names_fail():
    import perfrules

    for name in perfrules.__all__:
        assert getattr(perfrules, name) is not None, name
    assert set(perfrules.__all__) <= set(dir(perfrules))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        perfrules.nonsense  # noqa: B018 - the attribute read is the test
    from perfrules import Scheme, compile_scheme  # the from-import form works too

    assert Scheme.__name__ == "Scheme"
    assert callable(compile_scheme)


def _cli_names() -> tuple[set[str], set[str]]:
    """Names the CLI imports under TYPE_CHECKING, and those its run-time code reads."""
    import ast
    from pathlib import Path

    import perfrules.cli

    tree = ast.parse(Path(perfrules.cli.__file__).read_text(encoding="utf-8"))
    declared: set[str] = set()
    used: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom):
                    declared.update(a.asname or a.name for a in inner.names)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for part in (*node.decorator_list, *node.args.defaults, *node.args.kw_defaults):
                if part is not None:
                    visit(part)
            for statement in node.body:
                visit(statement)
            return  # argument and return annotations are never evaluated
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                visit(node.value)
            return
        if isinstance(node, ast.Name):
            used.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return declared, used


def test_the_cli_loads_every_name_its_commands_read():
    """_load() imports each name the commands use; the others are only annotations."""
    from perfrules import cli

    declared, used = _cli_names()
    loaded = set(cli._LOADED)
    assert loaded <= declared
    assert (declared - loaded) & used == set()
    cli._load()
    assert all(name in vars(cli) for name in loaded)


def _modules_after(command: list[str]) -> tuple[int, set[str]]:
    """Run ``perfrules COMMAND``; its exit code and the modules it had imported at exit."""
    script = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "from perfrules.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *command], capture_output=True, text=True, check=False
    )
    return done.returncode, set(json.loads(done.stderr.splitlines()[-1]))


#: Modules of other commands (audits, leagues, diffs, sensitivity, PDF, workbooks).
OTHER_COMMANDS = {
    "perfrules._outcomes",
    "perfrules.reports._pdf",
    "perfrules.reports.league",
    "perfrules.reports.sensitivity",
    "perfrules.workflows._audit",
    "perfrules.workflows._diff",
    "perfrules.workflows._league",
    "perfrules.workflows._published",
    "perfrules.workflows._sensitivity",
}


def test_scoring_one_unit_imports_only_what_it_runs():
    # Each command pays only for itself: a function the CLI names is imported when it is
    # first called.
    from conftest import SEED

    code, loaded = _modules_after(
        ["score", str(SEED / "scheme.toml"), str(SEED / "facts.toml"), "--format", "json"]
    )
    assert code == 0
    assert "perfrules.engine" in loaded
    assert "rich" not in loaded  # JSON needs no console
    assert not OTHER_COMMANDS & loaded, OTHER_COMMANDS & loaded
    assert "pyarrow" not in loaded


def test_a_command_s_functions_resolve_to_their_owners_when_first_called():
    from perfrules import cli, reports

    cli._load()
    stand_in = vars(cli)["results_format"]
    assert stand_in("out.parquet") is reports.format_named("parquet")
    assert vars(cli)["results_format"] is reports.results_format  # replaced by the owner
    assert vars(cli)["PackError"].__name__ == "PackError"  # a class is the class itself


def test_the_version_is_the_installed_package_s():
    # One place writes it (perfrules/_version.py); pyproject.toml reads it from there.
    from importlib import metadata

    import perfrules
    from perfrules.engine import VERSION

    assert perfrules.__version__ == VERSION == metadata.version("perfrules")


@pytest.mark.parametrize("ending", [".csv", ".parquet"])
def test_a_batch_scored_from_the_cli_never_imports_pandas(tmp_path, ending):
    # pyarrow imports pandas, when it is installed, the first time it converts Python
    # values or makes numpy arrays of its own: a fifth of a second of every run that never
    # needs it. A batch makes its arrays from their buffers; what the process imported is
    # read from its own sys.modules as it exits.
    import perfrules
    from conftest import SEED

    ids = list(perfrules.load_scheme(SEED / "scheme.toml").indicators)
    source = tmp_path / "units.csv"
    rows = [",".join(["unit", *ids])]
    rows += [
        ",".join([f"u{i}", *(f"{(i * k) % 100}" for k in range(len(ids)))]) for i in range(300)
    ]
    rows.append("short,1")  # a row that is not a unit: written with its problem
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    target = tmp_path / f"results{ending}"
    code, loaded = _modules_after(
        ["score", str(SEED / "scheme.toml"), str(source), "--out", str(target)]
    )
    assert code == 1  # one row failed; the others scored
    assert target.stat().st_size > 0
    assert "pyarrow" in loaded  # the batch went the streamed way
    assert "pandas" not in loaded


@pytest.mark.parametrize("ending", [".csv", ".parquet"])
def test_a_ranked_batch_never_imports_pandas(tmp_path, ending):
    """The ranked stream (its keys kept as integers, its rows spilled) makes its rank
    column from buffers too: the shipped best-is-100 ranks with a shared mark (=5)."""
    from conftest import SEED

    pack = SEED.parent / "best-is-100"
    source = tmp_path / "pillars.csv"
    rows = ["unit,shared.economy,shared.social,shared.environment"]
    rows += [f"u{i},{i % 7 * 10},{i % 5 * 20},{i % 3 * 30}" for i in range(300)]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    target = tmp_path / f"ranked{ending}"
    code, loaded = _modules_after(["score", str(pack), str(source), "--out", str(target)])
    assert code == 0
    assert "perfrules.workflows._ranked" in loaded  # the ranked stream ran
    assert "pandas" not in loaded


def _run(*words: str) -> subprocess.CompletedProcess[str]:
    """``perfrules WORDS`` through :func:`perfrules.cli.run`, with an exit hook of its own."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('torn down', file=sys.stderr))\n"
        "from perfrules.cli import run\n"
        "run()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, *words], capture_output=True, text=True, check=False
    )


def test_the_command_exits_without_the_interpreter_s_teardown(tmp_path):
    # Unloading numpy, pyarrow, pydantic and rich cost 0.1 s after the work was done: the
    # process ends once its output is flushed, its status the command's.
    from conftest import SEED

    scored = _run("score", str(SEED / "scheme.toml"), str(SEED / "facts.toml"), "--format", "json")
    assert scored.returncode == 0
    assert json.loads(scored.stdout)["total"] == "89.25"  # flushed whole, though never torn down
    assert "torn down" not in scored.stderr
    broken = tmp_path / "scheme.toml"
    broken.write_text("[scheme]\nid = 1\n", encoding="utf-8")
    assert _run("check", str(broken)).returncode == 1  # the answer is no
    usage = _run("score")
    assert usage.returncode == 2
    assert "Missing argument" in usage.stderr
    assert "torn down" not in usage.stderr


def test_under_a_profiler_the_command_ends_the_usual_way():
    # A profiler or coverage writes its results at exit: they would be lost.
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('torn down', file=sys.stderr))\n"
        "sys.setprofile(lambda *args: None)\n"
        "from perfrules.cli import run\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "perfrules" in done.stdout
    assert "torn down" in done.stderr


def test_output_the_reader_no_longer_takes_ends_with_the_status_of_a_closed_pipe():
    # What is left in standard output's buffer is flushed on the way out; a reader gone by
    # then (``perfrules ... | head``) gives 141, as a write into the closed pipe does.
    script = (
        "import io, sys\n"
        "class Pipe(io.StringIO):\n"
        "    gone = False\n"
        "    def flush(self):\n"
        "        if self.gone:\n"
        "            raise BrokenPipeError(32, 'Broken pipe')\n"
        "sys.stdout = Pipe()\n"
        "import perfrules.cli as cli\n"
        "command = cli.main\n"
        "def main():\n"
        "    try:\n"
        "        command()\n"
        "    finally:\n"
        "        sys.stdout.gone = True\n"
        "cli.main = main\n"
        "cli.run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--help"], capture_output=True, check=False
    )
    assert (done.returncode, done.stderr) == (141, b"")
