"""Output files appear whole, with a plain file's mode, and the umask is never touched."""

from __future__ import annotations

import os

import pytest

from perfrules.workflows import new_folder, write_atomic
from perfrules.workflows._files import atomic_stream


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def _no_umask(monkeypatch):
    def refuse(mask: int) -> int:
        raise AssertionError("os.umask called: it sets the mask for every thread")

    monkeypatch.setattr(os, "umask", refuse)


def test_a_written_file_has_a_plain_file_s_mode(tmp_path, umask_027, monkeypatch):
    _no_umask(monkeypatch)
    target = tmp_path / "out.csv"
    write_atomic(target, "a,b\n")
    assert target.read_text() == "a,b\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    _no_umask(monkeypatch)
    target = tmp_path / "out.csv"
    target.write_text("old")

    def fail_halfway() -> None:
        with atomic_stream(target) as stream:
            stream.write(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fail_halfway()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_new_folder_has_a_plain_folder_s_mode_and_a_name_of_its_own(
    tmp_path, umask_027, monkeypatch
):
    _no_umask(monkeypatch)
    first, second = new_folder(tmp_path, ".results."), new_folder(tmp_path, ".results.")
    assert first != second
    assert first.name.startswith(".results.")
    assert first.stat().st_mode & 0o777 == 0o750
