"""Files are read within their limits: a bounded read, a root, a pack's own folder.

A pipe or a device is never opened; a "file" that holds more than its size said is read up
to the limit and refused, never to its end; ``extends`` does not follow a link inside the
root to a file outside it; a ``pack.toml`` cannot name a scheme outside its pack.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import perfrules
from perfrules._reading import MAX_FILE_BYTES, read_file
from perfrules.cli import cli
from perfrules.errors import RuleFileError

SEED = Path(__file__).resolve().parent.parent / "rules" / "examples" / "xinzhou-zfw-2021"
SCHEME_TEXT = (SEED / "scheme.toml").read_text(encoding="utf-8")
CHILD = '[scheme]\nid = "child"\ntitle = "child"\n'


def _within(seconds: float, work):
    """Run *work* in a thread; fail (not hang) when it has not finished in *seconds*."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the read did not stop: it is not bounded"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def _endless_fifo(path: Path) -> threading.Thread:
    """A named pipe fed without end (until its reader goes away)."""
    os.mkfifo(path)

    def feed() -> None:
        try:
            with path.open("wb") as stream:
                while True:
                    stream.write(b"# " + b"x" * 65_534 + b"\n")
        except (BrokenPipeError, OSError):
            return

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def test_dev_zero_is_refused_without_being_read():
    with pytest.raises(RuleFileError) as info:
        _within(10, lambda: perfrules.load_scheme("/dev/zero"))
    assert [d.code for d in info.value.diagnostics] == ["PR105"]


def test_a_pipe_is_refused_without_being_read(tmp_path):
    fifo = tmp_path / "scheme.toml"
    _endless_fifo(fifo)
    with pytest.raises(RuleFileError) as info:
        _within(10, lambda: perfrules.load_scheme(fifo))
    assert [d.code for d in info.value.diagnostics] == ["PR105"]


def test_a_file_larger_than_its_size_said_is_read_to_the_limit_only(tmp_path, monkeypatch):
    # A file that grows after its size was taken: here one of 4 MiB whose size says 100
    # bytes. The read must stop past the limit and refuse it, never read it to its end.
    grown = tmp_path / "scheme.toml"
    grown.write_bytes(b"# " + b"x" * (4 * MAX_FILE_BYTES) + b"\n")
    real_stat = Path.stat

    def small(self, *args, **kwargs):
        status = real_stat(self, *args, **kwargs)
        if self == grown:
            fields = list(status)
            fields[stat.ST_SIZE] = 100
            return os.stat_result(fields)
        return status

    monkeypatch.setattr(Path, "stat", small)
    asked: list[int] = []
    real_read = os.read

    def counted(descriptor: int, size: int) -> bytes:
        asked.append(size)
        return real_read(descriptor, size)

    monkeypatch.setattr(os, "read", counted)
    diagnostics: list = []
    data = _within(10, lambda: read_file(grown, diagnostics))
    assert data is None
    assert [d.code for d in diagnostics] == ["PR106"]
    assert diagnostics[0].params["limit"] == MAX_FILE_BYTES
    assert sum(asked) == MAX_FILE_BYTES + 1


def test_extends_does_not_follow_a_link_inside_the_root_to_a_file_outside(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "base.toml").write_text(SCHEME_TEXT, encoding="utf-8")
    child = root / "child.toml"
    child.write_text('extends = "base.toml"\n' + CHILD, encoding="utf-8")
    # the same file inside the root is extended ...
    (root / "base.toml").write_text(SCHEME_TEXT, encoding="utf-8")
    assert len(perfrules.load_scheme(child).indicators) == 17
    # ... a link in the root to it outside is not
    (root / "base.toml").unlink()
    (root / "base.toml").symlink_to(outside / "base.toml")
    with pytest.raises(RuleFileError) as info:
        perfrules.load_scheme(child)
    refused = [d for d in info.value.diagnostics if d.path == ("extends",)]
    assert [d.code for d in refused] == ["PR105"]
    result = CliRunner().invoke(cli, ["check", str(child), "--lang", "en"])
    assert result.exit_code != 0
    assert "no problems found" not in result.output


def _pack(tmp_path: Path, scheme: str) -> tuple[Path, Path]:
    """A checkout: rules/mine (a pack naming *scheme*) and child.toml extending it."""
    root = tmp_path / "project"
    pack = root / "rules" / "mine"
    (pack / "cases").mkdir(parents=True, exist_ok=True)
    (pack / "pack.toml").write_text(f'id = "mine"\nscheme = "{scheme}"\n', encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "scheme.toml").write_text(SCHEME_TEXT, encoding="utf-8")
    (pack / "inner.toml").write_text(SCHEME_TEXT, encoding="utf-8")
    child = root / "rules" / "child.toml"
    child.write_text('extends = "mine"\n' + CHILD, encoding="utf-8")
    return root, child


def test_a_pack_extended_by_id_cannot_name_a_scheme_outside_it(tmp_path):
    root, child = _pack(tmp_path, "inner.toml")
    assert len(perfrules.load_scheme(child, root=root).indicators) == 17
    root, child = _pack(tmp_path, "../../../outside/scheme.toml")
    with pytest.raises(RuleFileError) as info:
        perfrules.load_scheme(child, root=root)
    refused = [d for d in info.value.diagnostics if d.path == ("extends",)]
    assert [d.code for d in refused] == ["PR105"]


def test_a_pack_tested_cannot_name_a_scheme_outside_it(tmp_path):
    root, _ = _pack(tmp_path, "inner.toml")
    pack = root / "rules" / "mine"
    runner = CliRunner()
    inside = runner.invoke(cli, ["test", str(pack), "--properties", "--examples", "5"])
    assert "inner.toml" in inside.output
    _pack(tmp_path, "../../../outside/scheme.toml")
    escaped = runner.invoke(cli, ["test", str(pack), "--properties", "--examples", "5"])
    # refused where pack.toml names it (that line is shown); the file outside is not read
    assert str(tmp_path / "outside") not in escaped.output, escaped.output
    assert "properties hold" not in escaped.output
    assert escaped.exit_code == 2, escaped.output
    assert "PR105" in escaped.output
