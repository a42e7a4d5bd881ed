"""SIGINT and SIGTERM as exceptions, and the exit statuses after them, in real processes."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from pipeline.interrupt import Terminated, exit_status, reason
from tests.helpers import REPO_ROOT, tool_env

# Writes a marker once its handlers are in place, then waits; the cleanup runs on the way out.
PROGRAM = """
import sys, time
from pipeline.interrupt import handling_signals
with handling_signals():
    try:
        print("ready", flush=True)
        time.sleep(60)
    finally:
        print("cleaned up", flush=True)
"""


@pytest.mark.parametrize(
    ("sig", "status", "said"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT (Ctrl-C)")],
)
def test_a_signal_unwinds_the_block_and_exits_with_the_shells_status(sig, status, said):
    process = subprocess.Popen(
        [sys.executable, "-c", PROGRAM],
        cwd=REPO_ROOT,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "ready\n"  # bounded: the program sleeps 60 s at most
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == status
    assert out == "cleaned up\n"
    assert f"stopped: interrupted by {said}" in err


def test_reasons_and_statuses():
    assert reason(Terminated()) == "interrupted by SIGTERM"
    assert reason(KeyboardInterrupt()) == "interrupted by SIGINT (Ctrl-C)"
    assert (exit_status(Terminated()), exit_status(KeyboardInterrupt())) == (143, 130)
    assert not isinstance(Terminated(), Exception)  # no `except Exception` swallows it
