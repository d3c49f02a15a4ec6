"""The wheel carries the rule packs and schemas: pack ids work outside the checkout."""

from __future__ import annotations

import os
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
