"""pipeline.servers.mlflow_server: the address checks, the wait and the stop that ``make ui`` and
``make server`` share, on real sockets and real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from pipeline.servers import mlflow_server
from tests.helpers import free_port


def test_a_port_is_an_integer_from_1_to_65535():
    assert mlflow_server.parse_port("5000") == 5000
    for bad in ("0", "65536", "50o0", "-1", ""):
        with pytest.raises(mlflow_server.UsageError) as caught:
            mlflow_server.parse_port(bad)
        assert str(caught.value) == f"PORT={bad!r} is not a port; valid: an integer from 1 to 65535"


def test_a_port_in_use_names_the_command_to_rerun_with_another():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(mlflow_server.UsageError) as caught:
            mlflow_server.check_port_free("127.0.0.1", port, "make server")
    assert str(caught.value) == (
        f"port {port} on 127.0.0.1 is in use; pick another with PORT, "
        f"e.g. `PORT={port + 1} make server`"
    )
    mlflow_server.check_port_free("127.0.0.1", port, "make server")  # free again: no error


def test_a_wildcard_bind_is_reached_on_loopback():
    assert mlflow_server.base_url("0.0.0.0", 5000) == "http://127.0.0.1:5000"
    assert mlflow_server.base_url("127.0.0.2", 81) == "http://127.0.0.2:81"
    assert mlflow_server.base_url("::1", 5000) == "http://[::1]:5000"
    assert mlflow_server.base_url("::", 5000) == "http://127.0.0.1:5000"


def test_mlflow_command_runs_this_interpreters_mlflow_on_the_address():
    command = mlflow_server.mlflow_command("sqlite:////tmp/x.db", "127.0.0.1", 5001)
    assert command == [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", "sqlite:////tmp/x.db",
        "--host", "127.0.0.1", "--port", "5001",
    ]  # fmt: skip


def _http_server(folder, port: int) -> subprocess.Popen:
    """A real HTTP server in its own session (as an ``mlflow server`` is started),
    with a ``/health`` page when ``folder`` holds one."""
    return subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_the_wait_returns_once_health_answers_and_stop_ends_the_process_group(tmp_path):
    (tmp_path / "health").write_text("OK")
    port = free_port()
    server = _http_server(tmp_path, port)
    try:
        mlflow_server.wait_until_up(f"http://127.0.0.1:{port}", server, timeout=30)
    finally:
        mlflow_server.stop(server)
    assert server.returncode == -signal.SIGTERM
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)  # no process of its group is left
    mlflow_server.stop(server)  # stopping a stopped server is a no-op


def test_the_wait_says_when_the_server_exits_or_never_answers(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait(30)
    with pytest.raises(RuntimeError, match="^mlflow server exited with status 3$"):
        mlflow_server.wait_until_up(f"http://127.0.0.1:{free_port()}", dead, timeout=30)

    port = free_port()
    silent = _http_server(tmp_path, port)  # no /health page: 404, never up
    try:
        with pytest.raises(RuntimeError) as caught:
            mlflow_server.wait_until_up(f"http://127.0.0.1:{port}", silent, timeout=2)
    finally:
        mlflow_server.stop(silent)
    assert str(caught.value) == (
        f"mlflow server did not answer http://127.0.0.1:{port}/health within 2 s"
    )
