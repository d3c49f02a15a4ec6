"""CLI conventions: global options anywhere, -q as documented, folders and globs, caches."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT, SEED
from perfrules.cli import cli
from perfrules.workflows._schema import schema_id

SCHEME = str(SEED / "scheme.toml")
FACTS = str(SEED / "facts.toml")


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        cli, list(args), env={"NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    )


@pytest.mark.parametrize(
    "args",
    [
        ["-q", "check", SCHEME],
        ["check", SCHEME, "-q"],
        ["check", "-q", SCHEME],
        ["check", SCHEME, "--quiet"],
    ],
)
def test_quiet_is_accepted_before_or_after_the_command(args):
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert result.output == ""  # no "no problems found"


def test_root_and_lang_are_accepted_after_the_command(tmp_path):
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "next.toml"
    child.write_text('extends = "../base.toml"\n', encoding="utf-8")
    shutil.copy(SEED / "scheme.toml", tmp_path / "base.toml")
    refused = _run("check", str(child), "--lang", "en")
    assert refused.exit_code == 2
    allowed = _run("check", str(child), "--root", str(tmp_path), "--lang", "zh")
    assert allowed.exit_code == 0, allowed.output
    assert "未发现问题" in allowed.stderr
    listed = _run("packs", "--lang", "zh")  # a command without its own --lang
    assert listed.exit_code == 0, listed.output
    chinese = _run("--lang", "zh", "check", SCHEME)  # before the command, for every command
    assert "未发现问题" in chinese.stderr


def test_an_option_value_that_looks_global_stays_with_its_option():
    result = _run("test", "-k", "-q", str(SEED))
    assert result.exit_code == 0, result.output
    assert "cases: 0 passed, 0 failed" in result.stdout  # -q was the keyword, not --quiet


def test_quiet_writes_no_batch_summary_and_no_file_names(tmp_path):
    ids = list(__import__("perfrules").load_scheme(SCHEME).indicators)
    units = tmp_path / "units.csv"
    units.write_text(
        "unit," + ",".join(ids) + "\nA," + ",".join(["90%"] * len(ids)) + "\n", "utf-8"
    )
    out = tmp_path / "results.jsonl"
    loud = _run("score", SCHEME, str(units), "--out", str(out), "--lang", "en")
    assert loud.exit_code == 0, loud.output
    assert "1 units scored" in loud.stderr or "results.jsonl" in loud.stderr
    quiet = _run("score", SCHEME, str(units), "--out", str(out), "-q")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output == ""
    for args in (
        ["new-year", SCHEME, "--year", "2030", "--out", str(tmp_path / "n.toml")],
        ["template", SCHEME, "--out", str(tmp_path / "t.csv")],
        ["schema", "--kind", "pack", "--output", str(tmp_path / "pack.json")],
        ["score", SCHEME, FACTS, "--format", "markdown", "--out", str(tmp_path / "r.md")],
    ):
        written = _run(*args, "-q")
        assert written.exit_code == 0, written.output
        assert written.output == "", args


def test_quiet_batch_still_shows_the_errors(tmp_path):
    ids = list(__import__("perfrules").load_scheme(SCHEME).indicators)
    cells = ["abc" if i == "群众满意度" else "90%" for i in ids]
    units = tmp_path / "units.csv"
    units.write_text(f"unit,{','.join(ids)}\nA,{','.join(cells)}\n", encoding="utf-8")
    result = _run("score", SCHEME, str(units), "--out", str(tmp_path / "r.jsonl"), "-q")
    assert result.exit_code == 1
    assert "[A]" in result.output  # which unit
    assert "PR402" in result.output
    assert "units scored" not in result.output


def test_check_takes_folders_and_globs(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    whole = _run("check", str(rules), "--lang", "en")
    assert whole.exit_code == 0, whole.output
    checked = [line.split(":")[0] for line in whole.stderr.splitlines()]
    schemes = len(list((ROOT / "rules").glob("*/*/scheme.toml")))
    assert schemes >= 9
    assert len(checked) == schemes  # the schemes: no facts, case, report or pack file
    assert all(name.endswith("scheme.toml") for name in checked)
    globbed = _run("check", str(rules / "**" / "*.toml"), "--lang", "en")
    assert globbed.exit_code == 0, globbed.output
    assert len(globbed.stderr.splitlines()) == schemes
    broken = rules / "examples" / "xinzhou-zfw-2022" / "scheme.toml"
    broken.write_text(broken.read_text("utf-8").replace("weight = 7", "weight = 8"), "utf-8")
    failing = _run("check", str(rules))
    assert failing.exit_code == 1
    assert "PR201" in failing.stdout
    empty = _run("check", str(tmp_path / "rules" / "us" / "omb-part" / "cases"))
    assert empty.exit_code == 2
    assert "no rule files here" in empty.stdout


def test_a_problem_is_one_line_however_long_its_path(tmp_path):
    # Editors and CI logs find a problem by its "file:line:col:" line: never wrapped.
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / ("and-another-one-" * 4)
    empty = deep / "empty"
    empty.mkdir(parents=True)
    bad = deep / "scheme.toml"
    bad.write_text('[scheme]\nid = "x"\nname = "x"\ntotal = 100\nbogus = [\n', "utf-8")
    for target, code in ((empty, 2), (bad, 1)):
        result = _run("check", str(target), "--lang", "en")
        assert result.exit_code == code, result.output
        first = result.stdout.splitlines()[0]
        assert len(first) > 200
        assert first.startswith(f"{target}")
        assert "error[PR" in first
        if target == bad:
            assert first.startswith(f"{bad}:5:10: error[PR100]: TOML syntax error")
            assert result.stdout.splitlines()[2].endswith(" " * 9 + "^")
        else:
            assert first.endswith("no rule files here (.toml files with [scheme] or extends)")


def test_properties_keep_their_examples_out_of_the_current_folder(tmp_path):
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    env.pop("PERFRULES_CACHE_DIR", None)
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "perfrules", "test", str(SEED), "--properties", "--examples", "5"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(work.iterdir()) == []  # no .hypothesis/ here
    assert (tmp_path / "cache" / "perfrules" / "hypothesis").is_dir()


def test_new_year_names_the_schema_by_its_stable_id(tmp_path):
    out = tmp_path / "n.toml"
    result = _run("new-year", "examples/xinzhou-zfw-2021", "--year", "2030", "--out", str(out))
    assert result.exit_code == 0, result.output
    first = out.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == f"#:schema {schema_id('rules')}"
    assert first == "#:schema https://perfrules.invalid/schemas/perfrules-rules.v1.schema.json"


def test_the_pre_commit_hook_checks_a_rule_file_repository(tmp_path, monkeypatch):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "perfrules-check")
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    command = shlex.split(hook["entry"])
    assert command[0] == "perfrules"
    repository = tmp_path / "repo"
    shutil.copytree(ROOT / "rules" / "examples", repository / "examples")
    monkeypatch.chdir(repository)

    def run():
        return _run(*command[1:], *hook["args"])

    assert run().exit_code == 0
    scheme = repository / "examples" / "ranking-index" / "scheme.toml"
    scheme.write_text(scheme.read_text("utf-8").replace("weight = 40", "wieght = 40"), "utf-8")
    failed = run()
    assert failed.exit_code == 1
    assert "PR101" in failed.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_names_the_missing_browser_tools(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("sh", "grep", "id"):
        (fake / tool).symlink_to(shutil.which(tool))
    make = shutil.which("make")
    result = subprocess.run(
        [make, "-s", "browser", "BROWSER_UID=1000"],
        cwd=ROOT,
        env={"PATH": str(fake)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "chromium poppler-utils fonts-noto-cjk" in result.stdout
    assert "sudo apt-get install chromium poppler-utils fonts-noto-cjk" in result.stdout
    as_root = subprocess.run(
        [make, "-n", "browser", "BROWSER_UID=0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "*** Installing for the browser and PDF tests" in as_root
    assert "apt-get install -y" in as_root
    assert "-qq" not in as_root  # apt-get's own progress is shown, not hidden


@pytest.mark.parametrize(
    "args",
    [
        ["score", SCHEME, FACTS, "--out", "{missing}/x.csv"],
        ["score", SCHEME, FACTS, "--out", "x.csv", "--errors", "{missing}/e.csv"],
        ["template", SCHEME, "--out", "{missing}/t.csv"],
    ],
)
def test_an_out_file_in_a_missing_folder_is_a_usage_error(tmp_path, args):
    """Exit 2 before any work, naming the folder: not a crash after the work is done."""
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(cli, [a.replace("{missing}", str(missing)) for a in args])
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output
    assert str(missing) in result.output
    assert not missing.exists()


def test_a_terminated_run_leaves_no_temporary_file_and_the_target_as_it_was(tmp_path):
    """SIGTERM while the results are being written: exit 143, the old file untouched."""
    import signal
    import subprocess
    import sys
    import time

    units = tmp_path / "units.csv"
    header = "unit,shared.economy,shared.social,shared.environment\n"
    units.write_text(
        header + "".join(f"u{n},{n % 97},{n % 89},{n % 83}\n" for n in range(300_000))
    )
    target = tmp_path / "out.csv"
    target.write_text("the old results\n", encoding="utf-8")
    scheme = str(SEED.parent / "best-is-100")
    run = subprocess.Popen(
        [sys.executable, "-m", "perfrules", "score", scheme, str(units), "--out", str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.csv.*")) and run.poll() is None:
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.01)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "units.csv"]
    assert target.read_text(encoding="utf-8") == "the old results\n"


def test_many_units_on_standard_input_are_refused_with_what_to_do(tmp_path):
    """A batch is read from a path (its passes read it again): stdin holds one unit."""
    rows = "unit,shared.economy\nA,1\n"
    result = CliRunner().invoke(
        cli, ["score", SCHEME, "-", "--out", str(tmp_path / "x.csv")], input=rows
    )
    assert result.exit_code == 2, result.output
    assert "standard input gives one unit's facts" in result.output
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("{tmp}/" + "a" * 300 + "/x.csv", "File name too long"),
        ("{scheme}/x.csv", "is not a folder"),
    ],
)
def test_an_out_file_in_a_folder_that_cannot_be_one_is_a_usage_error(tmp_path, out, said):
    """A name past the system's limit, or a file where the folder should be: exit 2."""
    target = out.format(tmp=tmp_path, scheme=SCHEME)
    result = CliRunner().invoke(cli, ["score", SCHEME, FACTS, "--out", target])
    assert result.exit_code == 2, result.output
    assert said in result.output


@pytest.mark.parametrize("command", ["score", "explain", "diff", "sensitivity"])
def test_a_rule_file_name_past_the_systems_limit_is_a_located_error(tmp_path, command):
    """Not an internal error (exit 3): the file cannot be read, and the message says why."""
    name = str(tmp_path / ("a" * 300 + ".toml"))
    args = {
        "score": [name, FACTS],
        "explain": [name, FACTS],
        "diff": [name, SCHEME],
        "sensitivity": [name, FACTS, "--vary", "5"],
    }[command]
    result = CliRunner().invoke(cli, [command, *args])
    assert result.exit_code == 2, result.output
    assert "PR105" in result.output
    assert "File name too long" in result.output


@pytest.mark.parametrize(
    ("line", "excerpt"),
    [(7, "weight = 7x"), (10_005, "weight = 7x"), (3, "\tname =\x1b\t 7x"), (9, "名称 = 7x")],
    ids=["short line number", "five-digit line number", "tab and escape before", "wide"],
)
def test_the_caret_is_under_the_character_a_problem_names(line, excerpt):
    # Whatever the line number's width or the characters before it (shown by name, wide).
    import io

    from rich.cells import cell_len

    from perfrules.errors import Diagnostic
    from perfrules.reports.text import make_console, render_diagnostics

    out = io.StringIO()
    column = excerpt.index("x") + 1
    problem = Diagnostic(
        "PR100", {"detail": "x"}, file="s.toml", line=line, column=column, excerpt=excerpt
    )
    render_diagnostics([problem], "en", make_console(out))
    _, shown, caret, *_ = out.getvalue().splitlines()
    assert caret.strip() == "^"
    assert cell_len(caret) == cell_len(shown[: shown.index("7x") + 2])


@pytest.mark.parametrize(
    ("excerpt", "cut"),
    [
        ("[" + "1," * 3000 + "7x" + ",2" * 3000 + "]", "……"),
        ("7x" + ",2" * 3000, "…"),
        ("1," * 3000 + "7x", "…"),
        ("名," * 3000 + "7x" + ",称" * 3000, "……"),
    ],
    ids=["middle", "start", "end", "wide"],
)
def test_a_long_line_is_shown_around_the_problem_with_the_caret_under_it(excerpt, cut):
    # A minified JSON file is one line of any length: shown whole, it filled the screen (and
    # rich lays a long line out in time growing faster than its length).
    import io

    from rich.cells import cell_len

    from perfrules.errors import Diagnostic
    from perfrules.reports.text import make_console, render_diagnostics

    out = io.StringIO()
    column = excerpt.index("x") + 1
    problem = Diagnostic(
        "PR100", {"detail": "x"}, file="f.json", line=1, column=column, excerpt=excerpt
    )
    render_diagnostics([problem], "en", make_console(out))
    head, shown, caret, *_ = out.getvalue().splitlines()
    assert head.startswith(f"f.json:1:{column}: ")
    assert "7x" in shown
    assert len(shown) <= len("     1 | ") + 102
    assert "".join(ch for ch in shown if ch == "…") == cut
    assert caret.strip() == "^"
    assert cell_len(caret) == cell_len(shown[: shown.index("7x") + 2])


def test_a_failed_unit_s_line_in_the_summary_is_never_wrapped(tmp_path):
    deep = tmp_path / ("a-folder-with-a-long-name-" * 6)
    deep.mkdir()
    units = deep / "units.csv"
    units.write_text("unit,shared.economy,shared.social,shared.environment\nA,many,1,2\n", "utf-8")
    out = str(tmp_path / "out.csv")
    scheme = str(SEED.parent / "best-is-100")
    result = _run("score", scheme, str(units), "--out", out, "--lang", "en")
    assert result.exit_code == 1, result.output
    (line,) = [text for text in result.output.splitlines() if text.startswith("  [A] ")]
    assert line.startswith(f"  [A] {units}:2:")
    assert "PR" in line


def _as_perfrules(*args: str, env: dict[str, str] | None = None):
    """The command line run as ``perfrules`` (its usage lines name the program)."""
    return CliRunner().invoke(
        cli,
        list(args),
        prog_name="perfrules",
        env={"NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--lang", "zh", "score"], "错误：缺少参数 'SCHEME'。"),
        (["score", SCHEME, "--lang", "zh"], "错误：缺少参数 'FACTS'。"),  # --lang after it
        (["score", "--lang=zh", "--bogus", SCHEME, FACTS], "没有这个选项：--bogus。"),
        (["--lang", "zh", "scor"], "错误：没有这个命令：'scor'。"),
        (
            ["--lang", "zh", "score", SCHEME, FACTS, "--format", "xml"],
            "错误：'--format' 的值无效：'xml' 不是可选的值，可选：'text'",
        ),
        (["--lang", "zh", "score", SCHEME, FACTS, "--out"], "错误：选项 '--out' 后面要写一个值。"),
        (["--lang", "zh", "packs", "a", "b"], "错误：多余的参数：a b（这个命令不接受）。"),
        (["--lang", "zh", "packs", "a"], "错误：多余的参数：a（这个命令不接受）。"),
        (["--lang", "zh"], "错误：缺少命令。"),
        (["--lang", "zh", "scor"], "是不是要写 score？"),
        (
            ["--lang", "zh", "new-year", SCHEME, "--year", "abc"],
            "'--year' 的值无效：'abc' 不是整数。",
        ),
        (["--lang", "zh", "diff", SCHEME], "错误：请给出 NEW，即要比较的方案"),
        (["--lang", "zh", "template", SCHEME, "--out", "x.doc"], "文件名须以 .xlsx 或 .csv 结尾"),
        (
            ["--lang", "zh", "explain", SCHEME, FACTS, "无此指标"],
            "没有编号为 无此指标 的指标或分组",
        ),
    ],
)
def test_usage_errors_are_said_in_the_language_asked_for(args, said):
    # click's own words (a missing argument, an unknown option or command, a bad choice)
    # follow --lang, written before or after the command, as perfrules' own messages do.
    result = _as_perfrules(*args)
    assert result.exit_code == 2, result.output
    assert said in result.stderr, result.stderr
    assert "Error:" not in result.stderr
    assert "Usage:" not in result.stderr
    if "用法：" in result.stderr:  # the usage line and where help is, when click has them
        assert result.stderr.startswith("用法：perfrules ")
        assert "查看帮助" in result.stderr


def test_an_unknown_option_in_chinese_says_the_ones_meant():
    one = _as_perfrules("--lang", "zh", "score", "--editon", "x", SCHEME, FACTS)
    assert one.exit_code == 2
    assert "没有这个选项：--editon。是不是要写 --edition？" in one.stderr
    several = _as_perfrules("--lang", "zh", "score", "--ot", "x.csv", SCHEME, FACTS)
    assert "没有这个选项：--ot。可能是：--format、--out、--unit。" in several.stderr


def test_usage_errors_follow_the_locale_and_stay_click_s_own_in_english():
    chinese = _as_perfrules("score", SCHEME, env={"PERFRULES_LANG": "zh"})
    assert "缺少参数 'FACTS'" in chinese.stderr
    english_own = _as_perfrules("template", SCHEME, "--out", "x.doc", "--lang", "en")
    assert "Error: Invalid value for --out: the file must end in .xlsx or .csv" in (
        english_own.stderr
    )
    english = _as_perfrules("score", SCHEME, "--lang", "en", env={"PERFRULES_LANG": "zh"})
    assert english.exit_code == 2
    assert english.stderr == (
        "Usage: perfrules score [OPTIONS] SCHEME FACTS\n"
        "Try 'perfrules score --help' for help.\n\n"
        "Error: Missing argument 'FACTS'.\n"
    )
