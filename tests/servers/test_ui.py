"""``make ui`` (python -m pipeline.ui): what it says before any server starts.

The server itself, its links and the pages they open are tested in a real
browser in tests/e2e/test_ui_browser.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from tests.helpers import REPO_ROOT, tool_env


def ui(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.ui", *args],
        cwd=REPO_ROOT,
        env=tool_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - started


def test_a_port_in_use_is_one_line_naming_it_and_how_to_pick_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, seconds = ui(PORT=str(port))
    assert done.returncode == 2
    assert done.stderr == (
        f"error: port {port} on 127.0.0.1 is in use; pick another with PORT, "
        f"e.g. `PORT={port + 1} make ui`\n"
    )
    assert done.stdout == "" and seconds < 10  # before MLflow is imported or started


def test_a_bad_port_names_the_value_and_the_valid_range():
    done, _ = ui(PORT="50o0")
    assert done.returncode == 2
    assert done.stderr == ("error: PORT='50o0' is not a port; valid: an integer from 1 to 65535\n")
    done, _ = ui("--port", "70000")
    assert "PORT='70000' is not a port" in done.stderr and done.returncode == 2


def test_host_comes_from_the_environment():
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, _ = ui(HOST="127.0.0.2", PORT=str(port))
    assert f"port {port} on 127.0.0.2 is in use" in done.stderr
