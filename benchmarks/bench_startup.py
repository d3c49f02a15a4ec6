"""Benchmark: start-up of ``import perfrules`` and ``perfrules --help`` as whole processes.

Run with ``make bench``. Each command is started BENCH_STARTS times (default 20), interleaved,
and the fastest wall time of each is kept (the machine is shared: the minimum is the cost
without interference); the CPU time of that child (user + system) is printed beside it.
``python -c pass`` is the interpreter's own start, the floor. Every command runs as an
installed package does, with its bytecode compiled (once, in a folder of this run's, whatever
PYTHONDONTWRITEBYTECODE says). For scale: importing the engine, ``perfrules score`` of the
seed's own facts (one unit, its trace as JSON) and of the seed scheme over 1,000 units to
CSV (what every scoring command pays before its units).

Targets: ``import perfrules`` <= 120 ms and ``perfrules --help`` <= 200 ms.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTS = int(os.environ.get("BENCH_STARTS", "20"))
BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import perfrules'": [sys.executable, "-c", "import perfrules"],
    "perfrules --help": [str(BIN / "perfrules"), "--help"],
    "python -c 'import perfrules.engine' (for scale)": [
        sys.executable,
        "-c",
        "import perfrules.engine",
    ],
}
TARGETS = {"python -c 'import perfrules'": 0.120, "perfrules --help": 0.200}
SEED = Path(__file__).resolve().parent.parent / "rules" / "examples" / "xinzhou-zfw-2021"


def units_file(folder: Path) -> Path:
    """1,000 units of the seed scheme, every indicator's actual value 80%."""
    import perfrules

    ids = list(perfrules.load_scheme(SEED / "scheme.toml").indicators)
    path = folder / "units.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["unit", *ids])
        writer.writerows([f"unit-{n}", *(["80%"] * len(ids))] for n in range(1000))
    return path


def start(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one run of *command*."""
    begin = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - begin
    assert os.waitstatus_to_exitcode(status) == 0, command
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    best: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(folder / "bytecode")
        commands = dict(COMMANDS)
        commands["perfrules score, one unit -> JSON (for scale)"] = [
            str(BIN / "perfrules"),
            "score",
            str(SEED / "scheme.toml"),
            str(SEED / "facts.toml"),
            "--format",
            "json",
        ]
        commands["perfrules score, 1,000 units -> .csv (for scale)"] = [
            str(BIN / "perfrules"),
            "-q",
            "score",
            str(SEED / "scheme.toml"),
            str(units_file(folder)),
            "--out",
            str(folder / "out.csv"),
        ]
        for command in commands.values():  # compiles the bytecode
            start(command, env)
        for _ in range(STARTS):
            for label, command in commands.items():
                wall, cpu = start(command, env)
                if label not in best or wall < best[label][0]:
                    best[label] = (wall, cpu)
    print(f"start-up, fastest of {STARTS} runs (interleaved)       wall ms   cpu ms")
    for label, (wall, cpu) in best.items():
        print(f"  {label:<50} {wall * 1000:7.1f}  {cpu * 1000:7.1f}")
    print("targets:")
    for label, limit in TARGETS.items():
        wall = best[label][0]
        verdict = "met" if wall <= limit else "MISSED"
        print(f"  {label:<50} {wall * 1000:7.1f} ms <= {limit * 1000:.0f} ms  {verdict}")


if __name__ == "__main__":
    main()
