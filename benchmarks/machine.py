"""The machine a run measured: CPU, cores, memory, the device TensorFlow sees, and the
versions of the libraries that decide the speed."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.core import machine_slug
from benchmarks.procs import env_for

LIBRARIES = (
    "tensorflow",
    "keras",
    "mlflow",
    "dvc",
    "numpy",
    "hydra-core",
    "ray",
    "optuna",
    "psycopg2-binary",
)
PROBE = Path(__file__).resolve().parent / "probes" / "matmul.py"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what the platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float | None:
    """Physical memory in GB (10^9 bytes)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def versions() -> dict[str, str]:
    """Installed versions of :data:`LIBRARIES` (read from their metadata, not imported)."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def devices(root: Path) -> list[str]:
    """The devices TensorFlow sees (a probe process: TensorFlow stays out of this one)."""
    done = subprocess.run(
        [sys.executable, str(PROBE), "--devices-only"],
        cwd=root,
        env=env_for(root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])["devices"] if lines else [f"unknown: {done.stderr[-200:]}"]


def describe(root: Path) -> dict[str, Any]:
    """Everything the result files say about the machine."""
    host = socket.gethostname()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "slug": machine_slug(host),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores usable": usable,
        "memory GB": memory_gb(),
        "os": platform.platform(),
        "devices": devices(root),
        "load average at start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions(),
    }
