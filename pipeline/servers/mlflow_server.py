"""An ``mlflow server`` process as ``make ui`` and ``make server`` run it: its address,
its start, the wait until it answers, its stop.

The standard library only: the launchers check their input with it before MLflow
is imported.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
# Until the server answers /health: it imports MLflow and opens the store first (on
# an empty database, MLflow creates its schema: 10-30 s on two cores).
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
# The job runner serves only GenAI features, and its worker processes would compete
# with training for the CPU.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class UsageError(ValueError):
    """Bad input: printed as one line, exit status 2."""


def add_address_options(parser: argparse.ArgumentParser) -> None:
    """``--host`` and ``--port``, defaulting to ``$HOST`` and ``$PORT`` (as ``make`` passes
    them), else :data:`DEFAULT_HOST` and :data:`DEFAULT_PORT`."""
    parser.add_argument(
        "--host",
        default=os.environ.get("HOST") or DEFAULT_HOST,
        help="interface to bind (default: $HOST, else %(default)s: this machine only)",
    )
    parser.add_argument(
        "--port",
        default=os.environ.get("PORT") or str(DEFAULT_PORT),
        help="port to listen on (default: $PORT, else %(default)s)",
    )


def parse_port(text: str) -> int:
    """``text`` as a TCP port; :class:`UsageError` naming it and the valid range otherwise."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"PORT={text!r} is not a port; valid: an integer from 1 to 65535")
    return int(text)


def check_port_free(host: str, port: int, target: str) -> None:
    """Raise :class:`UsageError` naming the port when something already listens there;
    ``target`` (``make ui``) is the command the hint reruns with another port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise UsageError(f"cannot bind {host}:{port}: {error.strerror}") from error
            raise UsageError(
                f"port {port} on {host} is in use; pick another with PORT, "
                f"e.g. `PORT={port + 1} {target}`"
            ) from error


def base_url(host: str, port: int) -> str:
    """The server's address as this machine reaches it (loopback for a wildcard bind)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def mlflow_command(uri: str, host: str, port: int) -> list[str]:
    """``mlflow server`` on the store ``uri``, bound to ``host:port``, with this interpreter."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    return [*command, "--host", host, "--port", str(port)]


def wait_until_up(base: str, server: subprocess.Popen, timeout: float) -> None:
    """Poll ``/health`` until it answers; raise if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer {base}/health within {timeout:.0f} s")


def stop(server: subprocess.Popen) -> None:
    """Stop the server and the workers it started (its whole process group)."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def serve(
    command: Sequence[str],
    base: str,
    *,
    env: Mapping[str, str],
    starting: str,
    ready: Callable[[], Sequence[str]],
) -> int:
    """Run ``command`` (an ``mlflow server``) until it exits or Ctrl-C / SIGTERM.

    Prints ``starting``, waits until ``base`` answers, then prints the lines ``ready()``
    returns. The server runs in a session of its own, so a Ctrl-C in the terminal
    reaches only this process, which then stops the server and its workers: whatever
    ends this process (an error, Ctrl-C, SIGTERM), the server goes with it.
    """
    server = subprocess.Popen(list(command), env={**env}, start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        print(starting, flush=True)
        wait_until_up(base, server, START_TIMEOUT_S)
        print(*ready(), "Ctrl-C stops it.", sep="\n", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(server)
