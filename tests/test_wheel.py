"""The wheel carries the rule packs and schemas: pack ids work outside the checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_installed_packs_work_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("perfrules-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "perfrules/packs/examples/xinzhou-zfw-2021/scheme.toml" in names
    assert "perfrules/schemas/perfrules-rules.v1.schema.json" in names
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=outside,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    where = run("-c", "import perfrules; print(perfrules.__file__)")
    assert where.stdout.startswith(str(target)), where.stdout  # the wheel, not the checkout
    listed = run("-m", "perfrules", "packs")
    assert "examples/xinzhou-zfw-2021" in listed.stdout
    tested = run("-m", "perfrules", "test", "examples/xinzhou-zfw-2021")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "passed, 0 failed" in tested.stdout
    (outside / "mine.toml").write_text(
        'extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "mine"\ntitle = "mine"\n',
        encoding="utf-8",
    )
    checked = run("-m", "perfrules", "check", "mine.toml")
    assert checked.returncode == 0, checked.stderr
    # The README's Python snippet, as a newcomer would paste it after installing perfrules
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", readme, re.DOTALL)
    assert snippet is not None
    ran = run("-c", snippet[1] + "\nprint(str(result.total), result.grade.label)\n")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["89.25", "良好"]  # the seed's own facts, uploaded
    start = (ROOT / "docs" / "how-to" / "first-five-minutes.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", start, re.DOTALL)
    assert snippet is not None
    ran = run("-c", snippet[1])
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["89.25", "良好"]
    # Every command takes a pack id where it takes a rule file
    shown = run("-m", "perfrules", "check", "examples/xinzhou-zfw-2022")
    assert shown.returncode == 0, shown.stdout + shown.stderr


def test_the_source_distribution_carries_runnable_tests(tmp_path):
    import tarfile

    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (archive,) = tmp_path.glob("perfrules-*.tar.gz")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:  # Python before 3.11.4 (Debian 12's 3.11.2): check the names ourselves
            for member in tar.getmembers():
                inside = (tmp_path / member.name).resolve().is_relative_to(tmp_path.resolve())
                assert inside, member.name
                assert member.isfile() or member.isdir(), member.name
            tar.extractall(tmp_path)  # noqa: S202 - every member checked above
    (tree,) = (p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("perfrules-"))
    for needed in (
        "Makefile",
        "tests/conftest.py",
        "tests/data/golden-traces.jsonl",
        "rules/examples/xinzhou-zfw-2021/scheme.toml",
        "docs/index.md",
    ):
        assert (tree / needed).is_file(), needed
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    found = subprocess.run(
        [sys.executable, "-c", "import perfrules; print(perfrules.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    ).stdout
    assert found.startswith(str(tree))  # the distribution's own code, not the checkout's
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_golden_traces.py",
            "tests/test_packs.py",
            "tests/test_numbers.py",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tree,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert " passed" in run.stdout
