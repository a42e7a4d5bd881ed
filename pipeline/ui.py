"""``make ui``: the MLflow UI on the project's store, opened where the comparison is.

Usage::

    python -m pipeline.ui                  # HOST (127.0.0.1) and PORT (5000) from the environment
    python -m pipeline.ui --port 5001 --host 0.0.0.0

Starts ``mlflow server`` on the store :func:`pipeline.tracking.tracking_uri`
names, waits until it answers, prints a direct link to the runs page of every
experiment (most recent first) and to the latest sweep's parent run, and serves
until Ctrl-C.  With ``MLFLOW_TRACKING_URI`` pointing at a server (``http(s)://``)
it starts nothing and prints that server's links.

The links open MLflow 3's "Model training" view (``workflowType=machine_learning``):
a new browser would otherwise land on the GenAI pages (mlflow/mlflow#24498).
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
from collections.abc import Sequence

from pipeline import contract
from pipeline.redact import redact
from pipeline.tracking import artifacts_root, tracking_uri

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
# Until the server answers /health: it imports MLflow and opens the store first.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
VIEW = "workflowType=machine_learning"
SWEEP_PARENT_FILTER = f"tags.`{contract.SWEEP_TAG}` = '{contract.PARENT}'"


class UsageError(ValueError):
    """Bad input: printed as one line, exit status 2."""


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"PORT={text!r} is not a port; valid: an integer from 1 to 65535")
    return int(text)


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`UsageError` naming the port when something already listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise UsageError(f"cannot bind {host}:{port}: {error.strerror}") from error
            raise UsageError(
                f"port {port} on {host} is in use; pick another with PORT, "
                f"e.g. `PORT={port + 1} make ui`"
            ) from error


def page(base: str, experiment_id: str, run_id: str | None = None) -> str:
    """The UI's runs page of an experiment, or a run's page, in the Model training view."""
    path = f"#/experiments/{experiment_id}/runs" + (f"/{run_id}" if run_id else "")
    return f"{base.rstrip('/')}/{path}?{VIEW}"


def links(uri: str, base: str) -> list[str]:
    """Lines naming each experiment with runs (latest run first) and the latest sweep."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    latest = []
    for experiment in client.search_experiments():
        runs = client.search_runs(
            [experiment.experiment_id], max_results=1, order_by=["attributes.start_time DESC"]
        )
        if runs:
            latest.append((runs[0].info.start_time, experiment))
    if not latest:
        return ["No runs yet: `make run` or `python -m pipeline.train` logs some."]
    latest.sort(key=lambda item: item[0], reverse=True)
    width = max(len(e.name) for _, e in latest)
    lines = ["Experiments, most recent first:"]
    lines += [f"  {e.name:<{width}}  {page(base, e.experiment_id)}" for _, e in latest]
    sweeps = client.search_runs(
        [e.experiment_id for _, e in latest],
        SWEEP_PARENT_FILTER,
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if sweeps:
        sweep = sweeps[0].info
        lines += ["Latest sweep (its Overview holds the ranking):"]
        lines += [f"  {sweep.run_name}  {page(base, sweep.experiment_id, sweep.run_id)}"]
    return lines


def server_command(uri: str, host: str, port: int) -> list[str]:
    """``mlflow server`` on ``uri``: one worker, artifacts beside a local SQLite store."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    command += ["--host", host, "--port", str(port), "--workers", "1"]
    # Without the access log, the links printed above stay on the screen.
    command += ["--uvicorn-opts", "--no-access-log"]
    artifacts = artifacts_root(uri)
    if artifacts is not None:
        command += ["--artifacts-destination", str(artifacts)]
    return command


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


def serve(uri: str, host: str, port: int) -> int:
    """Run the server until it exits or Ctrl-C / SIGTERM; print the links once it answers."""
    check_port_free(host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    # The job runner serves only GenAI features, and its worker processes would
    # compete with training for the CPU.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(server_command(uri, host, port), env=env, start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        print(f"Starting the MLflow UI on {base} (store: {redact(uri)}) ...", flush=True)
        wait_until_up(base, server, START_TIMEOUT_S)
        print(f"MLflow UI: {base}", *links(uri, base), "Ctrl-C stops it.", sep="\n", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(server)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.ui``: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.ui", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default=os.environ.get("HOST") or DEFAULT_HOST)
    parser.add_argument("--port", default=os.environ.get("PORT") or str(DEFAULT_PORT))
    parser.add_argument("--tracking-uri", help="MLflow store (default: the project's)")
    args = parser.parse_args(argv)
    try:
        port = _port(args.port)
        uri = tracking_uri(args.tracking_uri)
        if uri.startswith(("http://", "https://")):  # a server is already running
            shown = redact(uri)  # links with the password would put it on the screen
            print(f"MLflow UI: {shown}", *links(uri, shown), sep="\n")
            return 0
        return serve(uri, args.host, port)
    except (UsageError, RuntimeError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
