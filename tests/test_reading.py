"""The bounded reader: every file, folder member, stream and text within its budget, confined.

Each door is tested with what would hang or fill memory if it were not bounded (a FIFO with
no writer, ``/dev/zero``), with names the operating system refuses (NUL, too long, a loop of
links) and with links leaving the folder they must stay in. A guard thread stops a test that
would hang instead of letting it block the run; nothing here measures time.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import perfrules
from conftest import SEED
from perfrules._reading import MAX_FILE_BYTES, read_file, read_stream, read_text
from perfrules.errors import Diagnostic, FactsError, RuleFileError

SCHEME = SEED / "scheme.toml"
FACTS = SEED / "facts.toml"
#: Long enough for any of these reads on a loaded machine; a hang is far longer.
GUARD_SECONDS = 60


def _within_guard(work: Callable[[], Any]) -> Any:
    """Run *work* in a thread and fail (instead of hanging the run) if it never returns."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(GUARD_SECONDS)
    assert not thread.is_alive(), "the read never returned"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _read(path: Path | str, **kwargs: Any) -> tuple[bytes | None, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    data = _within_guard(lambda: read_file(Path(path), diagnostics, **kwargs))
    return data, diagnostics


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "facts.toml"
    os.mkfifo(path)
    return path


# --- files --------------------------------------------------------------------------------
def test_a_regular_file_is_read_whole():
    data, diagnostics = _read(FACTS)
    assert data == FACTS.read_bytes()
    assert diagnostics == []


def test_a_fifo_with_no_writer_is_refused_without_waiting(fifo):
    data, diagnostics = _read(fifo)
    assert data is None
    assert [(d.code, d.params["reason"]) for d in diagnostics] == [("PR105", "not a file")]


def test_a_device_is_refused_without_reading_it():
    data, diagnostics = _read("/dev/zero")
    assert data is None
    assert [d.code for d in diagnostics] == ["PR105"]


def test_a_file_over_the_budget_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    data, diagnostics = _read(path)
    assert data is None
    assert [d.code for d in diagnostics] == ["PR106"]
    assert diagnostics[0].params["limit"] == MAX_FILE_BYTES
    small, _ = _read(path, limit=MAX_FILE_BYTES * 2)
    assert small is not None


def test_a_file_whose_size_says_nothing_is_still_read_only_to_the_budget():
    # /proc files say they are empty: the budget is counted while reading, never trusted.
    data, diagnostics = _read("/proc/self/status", limit=16)
    assert data is None
    assert [d.code for d in diagnostics] == ["PR106"]


def _recording_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes the reader asks of the system, read by read."""
    asked: list[int] = []
    real_read = os.read

    def read(descriptor: int, size: int) -> bytes:
        asked.append(size)
        return real_read(descriptor, size)

    monkeypatch.setattr(os, "read", read)
    return asked


def test_the_reader_never_asks_for_more_than_the_budget(monkeypatch):
    asked = _recording_reads(monkeypatch)
    data, diagnostics = read_file(Path("/proc/self/status"), [], limit=16), []
    assert data is None
    assert sum(asked) <= 17  # the budget and one byte to know it is exceeded
    asked.clear()
    read_file(FACTS, diagnostics)
    assert 0 < sum(asked) <= MAX_FILE_BYTES + 1
    assert max(asked) <= 64 * 1024  # in chunks, never one allocation of the whole budget


def test_a_file_whose_size_is_over_the_budget_is_not_read_at_all(tmp_path, monkeypatch):
    path = tmp_path / "big.toml"
    with path.open("wb") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)
    asked = _recording_reads(monkeypatch)
    assert read_file(path, []) is None
    assert asked == []


def test_a_file_swapped_for_a_fifo_while_it_is_opened_is_refused(fifo, monkeypatch):
    # The race a checked path leaves open: a regular file when stat looks, a FIFO with no
    # writer when it is opened. Opening must not wait, and what was opened is checked.
    path = fifo.with_name("swapped.toml")
    path.write_text('unit = "a"\n', encoding="utf-8")
    real_open = os.open

    def open_after_swap(name: Any, flags: int, *args: Any) -> int:
        if os.fspath(name) == os.fspath(path):
            path.unlink()
            os.mkfifo(path)
        return real_open(name, flags, *args)

    monkeypatch.setattr(os, "open", open_after_swap)
    data, diagnostics = _read(path)
    assert data is None
    assert [d.code for d in diagnostics] == ["PR105"]


@pytest.mark.parametrize(
    "name", ["a\0b.toml", "x" * 300 + ".toml", "/".join(["y" * 250] * 20) + ".toml"]
)
def test_names_the_system_refuses_are_located_errors(name):
    data, diagnostics = _read(name)
    assert data is None
    assert [d.code for d in diagnostics] == ["PR105"]
    assert diagnostics[0].file


def test_a_loop_of_links_is_a_located_error(tmp_path):
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    for root in (None, tmp_path):
        data, diagnostics = _read(tmp_path / "a.toml", root=root)
        assert data is None
        assert [d.code for d in diagnostics] == ["PR105"]


def test_a_link_leaving_the_root_is_refused_and_one_inside_is_read(tmp_path):
    (tmp_path / "outside.toml").write_text('secret = "hunter2"\n', encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "inside.toml").write_text('unit = "a"\n', encoding="utf-8")
    (folder / "out.toml").symlink_to(tmp_path / "outside.toml")
    (folder / "in.toml").symlink_to(folder / "inside.toml")
    (folder / "passwd.toml").symlink_to("/etc/passwd")
    for name in ("out.toml", "passwd.toml"):
        data, diagnostics = _read(folder / name, root=folder)
        assert data is None
        assert [d.code for d in diagnostics] == ["PR105"]
        assert "hunter2" not in diagnostics[0].message("en")
    assert _read(folder / "in.toml", root=folder)[0] == b'unit = "a"\n'
    # ``..`` is judged where it really leads, like a link
    assert _read(folder / ".." / "outside.toml", root=folder)[0] is None


def _doors() -> dict[str, tuple[str, Callable[[Path], Any]]]:
    """Every public way a file is read: its suffix and the call."""
    from perfrules.facts._sheets import workbook_units
    from perfrules.workflows._audit import load_report
    from perfrules.workflows._packs import find_pack, load_cases

    def pack(path: Path) -> Any:
        path.rename(path.parent / "pack.toml")
        return find_pack(path.parent)

    return {
        "load_scheme": (".toml", perfrules.load_scheme),
        "load_facts toml": (".toml", perfrules.load_facts),
        "load_facts json": (".json", perfrules.load_facts),
        "load_facts csv": (".csv", perfrules.load_facts),
        "load_facts xlsx": (".xlsx", perfrules.load_facts),
        "batch workbook": (".xlsx", lambda path: next(workbook_units(path))),
        "audit report": (".toml", load_report),
        "pack.toml": (".toml", pack),
        "case file": (".toml", load_cases),
    }


@pytest.mark.parametrize("door", sorted(_doors()))
@pytest.mark.parametrize("kind", ["fifo", "over budget"])
def test_every_door_refuses_a_fifo_and_a_file_over_the_budget(door, kind, tmp_path):
    suffix, call = _doors()[door]
    path = tmp_path / f"input{suffix}"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        os.mkfifo(path)
    else:
        with path.open("wb") as stream:
            stream.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk written
    with pytest.raises(perfrules.PerfrulesError) as info:
        _within_guard(lambda: call(path))
    codes = [d.code for d in info.value.diagnostics]  # type: ignore[attr-defined]
    assert codes == (["PR105"] if kind == "fifo" else ["PR106"]), door


# --- streams (standard input) -------------------------------------------------------------
def test_a_stream_is_read_only_to_the_budget():
    with Path("/dev/zero").open("rb") as stream:
        diagnostics: list[Diagnostic] = []
        data = _within_guard(lambda: read_stream(stream, "stdin.toml", diagnostics))
    assert data is None
    assert [d.code for d in diagnostics] == ["PR106"]
    assert diagnostics[0].file == "stdin.toml"


def test_a_fifo_fed_past_the_budget_is_refused_as_a_stream(fifo):
    def feed() -> None:
        with fifo.open("wb") as writer:
            try:
                for _ in range(64):
                    writer.write(b"x" * 65536)  # 4 MiB, four times the budget
            except BrokenPipeError:
                pass  # the reader stopped at the budget, as it should

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with fifo.open("rb") as stream:
        diagnostics: list[Diagnostic] = []
        data = _within_guard(lambda: read_stream(stream, "stdin.toml", diagnostics))
    assert data is None
    assert [d.code for d in diagnostics] == ["PR106"]


def _perfrules(*args: str, stdin: Any, closed: bool = False) -> subprocess.CompletedProcess[bytes]:
    def cap() -> None:  # pragma: no cover - runs in the child
        # The promise of 512 MiB an input, held by a real cap (these doors work under 128).
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
        if closed:
            os.close(0)

    return subprocess.run(
        [sys.executable, "-m", "perfrules", *args],
        stdin=stdin,
        capture_output=True,
        check=False,
        timeout=300,
        preexec_fn=cap,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.parametrize("which", ["scheme", "facts"])
def test_score_from_an_endless_stdin_is_a_clear_exit_2(which):
    args = ("-", str(FACTS)) if which == "scheme" else (str(SCHEME), "-")
    with Path("/dev/zero").open("rb") as zero:
        done = _perfrules("score", *args, stdin=zero)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, stderr
    assert "PR106" in stderr
    assert "MemoryError" not in stderr
    assert "internal error" not in stderr


def test_score_from_a_closed_stdin_is_a_clear_exit_2():
    done = _perfrules("score", str(SCHEME), "-", stdin=None, closed=True)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, stderr
    assert "PR105" in stderr


def test_score_reads_a_scheme_and_facts_from_stdin_as_before():
    with FACTS.open("rb") as facts:
        done = _perfrules("score", str(SCHEME), "-", stdin=facts)
    assert done.returncode == 0, done.stderr.decode()
    assert "89.25" in done.stdout.decode()


# --- text and bytes given to loads_* ------------------------------------------------------
def test_loads_take_bytes_with_or_without_a_byte_order_mark(seed_compiled):
    scheme_bytes = SCHEME.read_bytes()
    facts_bytes = FACTS.read_bytes()
    for bom in (b"", b"\xef\xbb\xbf"):
        scheme = perfrules.loads_scheme(bom + scheme_bytes)
        compiled = perfrules.compile_scheme(scheme)
        facts = perfrules.loads_facts(bom + facts_bytes)
        assert str(compiled.evaluate(facts).total) == "89.25"
        as_json = perfrules.loads_facts(bom + b'{"indicators": {"a": {"x": 0.1}}}', format="json")
        assert str(as_json.indicators["a"]["x"]) == "0.1"
    csv_bytes = "编号 id,业绩值 actual\n群众满意度,0.93\n".encode()
    assert perfrules.loads_facts(csv_bytes, format="csv").indicators["群众满意度"]["actual"]


def test_invalid_utf8_bytes_are_a_located_error():
    broken = b'unit = "a"\n[indicators.x]\nactual = "\xff"\n'
    with pytest.raises(FactsError) as facts_error:
        perfrules.loads_facts(broken, name="upload.toml")
    (problem,) = facts_error.value.diagnostics
    assert (problem.code, problem.file, problem.line) == ("PR108", "upload.toml", 3)
    with pytest.raises(RuleFileError) as scheme_error:
        perfrules.loads_scheme(b"[scheme]\nid = '\xfe'\n", name="up.toml")
    codes = [(d.code, d.file, d.line) for d in scheme_error.value.diagnostics]
    assert codes == [("PR108", "up.toml", 2)]


@pytest.mark.parametrize("kind", ["text", "bytes"])
def test_text_over_the_budget_is_refused_before_it_is_parsed(kind):
    row = "群众满意度,0.93\n"
    csv_text = "编号 id,业绩值 actual\n" + row * (16 * MAX_FILE_BYTES // len(row.encode()))
    given: str | bytes = csv_text if kind == "text" else csv_text.encode()
    with pytest.raises(FactsError) as info:
        perfrules.loads_facts(given, format="csv")
    assert [d.code for d in info.value.diagnostics] == ["PR106"]
    toml_text = "# padding\n" * (MAX_FILE_BYTES // 10 + 1)
    for loads in (perfrules.loads_scheme, perfrules.loads_facts):
        with pytest.raises((FactsError, RuleFileError)) as refused:
            loads(toml_text if kind == "text" else toml_text.encode())
        assert [d.code for d in refused.value.diagnostics] == ["PR106"]


def test_text_is_measured_in_utf8_bytes():
    # 400,000 characters of three UTF-8 bytes each: under the budget in characters, over it
    # in bytes, as the same text saved to a file would be.
    text = "# " + "绩" * 400_000 + "\n"
    assert len(text) < MAX_FILE_BYTES < len(text.encode())
    diagnostics: list[Diagnostic] = []
    assert read_text(text, "x.toml", diagnostics) is None
    assert [d.code for d in diagnostics] == ["PR106"]


@pytest.mark.parametrize(
    "args",
    [
        ("x" * 300 + ".toml",),
        ("x" * 300 + ".csv", "--out", "r.csv"),
        ("x" * 300, "--unit", "a"),
        ("x" * 300 + ".parquet", "--out", "r.csv"),
    ],
)
def test_a_facts_name_the_system_refuses_is_exit_2(args, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from perfrules.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["score", str(SCHEME), *args], env={"NO_COLOR": "1"})
    assert result.exit_code == 2, result.output
    assert "PR105" in result.output
    assert "internal error" not in result.output


def test_a_batch_csv_read_in_memory_has_the_budget_of_a_file(tmp_path, monkeypatch):
    import perfrules.workflows._batch as batch

    monkeypatch.setattr(batch, "_frame_available", lambda: False)  # no chunked reader
    path = tmp_path / "units.csv"
    row = "u,1\n"
    path.write_text("unit,x\n" + row * (MAX_FILE_BYTES // len(row) + 1), encoding="utf-8")
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SCHEME))
    with pytest.raises(FactsError) as info:
        _within_guard(lambda: batch.score_batch(compiled, path))
    (problem,) = info.value.diagnostics
    assert (problem.code, problem.hint) == ("PR106", "batch_frame")
