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


@pytest.mark.parametrize("ending", [".csv", ".parquet"])
def test_a_batch_has_its_output_written_to_disk_as_it_goes(tmp_path, monkeypatch, ending):
    # Each chunk's bytes are handed to the disk after the chunk (not all at the rename's
    # fsync, which the run would wait for): the ranges asked for follow each other and end
    # where the file ends before its rename (a Parquet file's footer follows).
    import perfrules
    from conftest import SEED
    from perfrules.workflows._stream import stream_batch

    if not hasattr(os, "posix_fadvise"):
        pytest.skip("the system has no posix_fadvise: write_behind does nothing there")
    asked: list[tuple[int, int]] = []
    advise = os.posix_fadvise

    def recorded(fd: int, offset: int, length: int, what: int) -> None:
        assert what == os.POSIX_FADV_DONTNEED
        asked.append((offset, length))
        advise(fd, offset, length, what)

    monkeypatch.setattr(os, "posix_fadvise", recorded)
    compiled = perfrules.compile_scheme(perfrules.load_scheme(SEED / "scheme.toml"))
    ids = list(compiled.scheme.indicators)
    source = tmp_path / "units.csv"
    rows = [",".join(["unit", *ids])]
    rows += [
        ",".join([f"u{i}", *(f"{(i * k) % 100}%" for k in range(len(ids)))]) for i in range(3000)
    ]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    target = tmp_path / f"results{ending}"
    stream_batch(compiled, source, target, rows=1000)
    assert len(asked) == 3  # one a chunk
    assert [offset for offset, _ in asked] == [0, *(o + n for o, n in asked[:-1])]
    end, size = asked[-1][0] + asked[-1][1], target.stat().st_size
    if ending == ".csv":
        assert end == size
    else:
        assert size - 20_000 < end < size  # Parquet's footer is written when it closes


def test_pipes_and_streams_in_memory_are_left_alone(monkeypatch):
    # Standard output may be a pipe, a terminal, or (doctest, a notebook) no file at all.
    import io

    from perfrules.workflows._files import write_behind

    def refused(*args: object) -> None:
        raise AssertionError("asked to write a pipe to disk")

    monkeypatch.setattr(os, "posix_fadvise", refused, raising=False)
    reading, writing = os.pipe()
    with os.fdopen(writing, "wb") as pipe, os.fdopen(reading, "rb"):
        pipe.write(b"a,b\n")
        assert write_behind(pipe, 0) == 0  # a pipe cannot tell where it is
    memory = io.BytesIO()
    memory.write(b"a,b\n")
    assert write_behind(memory, 0) == 0  # no file behind it


def test_a_full_disk_is_said_when_the_chunk_is_handed_on(tmp_path):
    import errno

    from perfrules.workflows._files import write_behind

    class Full:
        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_behind(Full(), 0)  # type: ignore[arg-type]
