"""Running the commands a benchmark compares: wall time, peak RSS and output of each, and
the environment every command gets."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent  # this environment's python, dvc, ...
# Variables of the developer's shell that would change what a command measures or
# where it writes: each command sets what it needs itself.
LEAKY = ("MLFLOW_TRACKING_URI", "OPTLAB_DATA_MIRROR", "PYTHONPATH", "DVC_ROOT")


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero; the message ends with its output's tail."""


@dataclass
class Measured:
    """One command's run: wall seconds, peak resident memory (bytes) and output."""

    seconds: float
    peak_rss: int
    stdout: str
    stderr: str


def env_for(project: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run in ``project``: this interpreter's bin folder
    first on PATH (stage commands call ``python``), ``project`` first on the import path
    (its copy of the code, not an installed one), nothing leaked from the shell."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def measure(argv: Sequence[str], cwd: Path, env: dict[str, str], timeout: float = 3600) -> Measured:
    """Run ``argv`` to its end; its wall time and its peak RSS.

    The peak comes from ``wait4`` on this child alone (the largest of it and the
    descendants it waited for), not from the whole process tree so far.

    Raises:
        CommandFailed: a non-zero exit (with the output's last lines), or ``timeout``.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=err)
        status, usage = _wait(proc, timeout)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status) if status is not None else None
    if code != 0:
        what = "timed out" if code is None else f"exited {code}"
        tail = "\n".join((stdout + stderr).strip().splitlines()[-15:])
        raise CommandFailed(f"`{' '.join(argv)}` {what}:\n{tail}")
    return Measured(seconds, usage.ru_maxrss * 1024, stdout, stderr)  # ru_maxrss: KiB


def _wait(proc: subprocess.Popen, timeout: float):
    """``(status, rusage)`` of ``proc``; ``(None, None)`` after killing it at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
            return status, usage
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return None, None
        time.sleep(0.02)
