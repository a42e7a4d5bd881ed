"""SIGINT and SIGTERM as exceptions, and the exit statuses after them, in real processes."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from pipeline.system.interrupt import Terminated, exit_status, reason
from tests.helpers import REPO_ROOT, tool_env

# Writes a marker once its handlers are in place, then waits; the cleanup runs on the way out.
PROGRAM = """
import sys, time
from pipeline.system.interrupt import handling_signals
with handling_signals():
    try:
        print("ready", flush=True)
        time.sleep(60)
    finally:
        print("cleaned up", flush=True)
"""


def start(program: str) -> subprocess.Popen:
    """``program`` in a Python process of its own, its three streams piped."""
    return subprocess.Popen(
        [sys.executable, "-c", program],
        cwd=REPO_ROOT,
        env=tool_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("sig", "status", "said"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT (Ctrl-C)")],
)
def test_a_signal_unwinds_the_block_and_exits_with_the_shells_status(sig, status, said):
    process = start(PROGRAM)
    assert process.stdout.readline() == "ready\n"  # bounded: the program sleeps 60 s at most
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == status
    assert out == "cleaned up\n"
    assert f"stopped: interrupted by {said}" in err


# Inside deferred(), a signal waits for check(): the program goes on reading stdin
# after the first signal, and check() raises it once "go" arrives.
DEFERRING = """
import sys
from pipeline.system.interrupt import check, deferred, handling_signals
with handling_signals():
    try:
        with deferred():
            print("ready", flush=True)
            sys.stdin.readline()
            print("went on", flush=True)
            check()
            print("after check", flush=True)
    finally:
        print("cleaned up", flush=True)
"""


def start_deferring() -> subprocess.Popen:
    process = start(DEFERRING)
    assert process.stdout.readline() == "ready\n"
    return process


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_deferred_signal_is_raised_at_the_next_check(sig, status):
    process = start_deferring()
    process.send_signal(sig)
    said = process.stderr.readline()  # bounded: the handler writes it, or the process ends
    assert (
        said
        == f"{sig.name}: the training stops at its next step's end ({sig.name} again: at once)\n"
    )
    out, err = process.communicate("go\n", timeout=30)
    assert process.returncode == status
    assert out == "went on\ncleaned up\n"  # on after the signal, stopped by check()
    assert "stopped: interrupted by SIG" in err


def test_a_second_signal_while_one_is_held_stops_at_once():
    process = start_deferring()
    process.send_signal(signal.SIGINT)
    assert "stops at its next step's end" in process.stderr.readline()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)  # stdin still open: only the signal ends it
    assert process.returncode == 130
    assert out == "cleaned up\n"
    assert "stopped: interrupted by SIGINT (Ctrl-C)" in err


def test_reasons_and_statuses():
    assert reason(Terminated()) == "interrupted by SIGTERM"
    assert reason(KeyboardInterrupt()) == "interrupted by SIGINT (Ctrl-C)"
    assert (exit_status(Terminated()), exit_status(KeyboardInterrupt())) == (143, 130)
    assert not isinstance(Terminated(), Exception)  # no `except Exception` swallows it
