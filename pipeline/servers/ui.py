"""``make ui``: the MLflow UI on the project's store, opened where the comparison is.

Usage::

    python -m pipeline.ui                  # HOST (127.0.0.1) and PORT (5000) from the environment
    python -m pipeline.ui --port 5001 --host 0.0.0.0

Starts ``mlflow server`` on the store :func:`pipeline.tracking.store.tracking_uri`
names, waits until it answers, prints a direct link to the runs page of every
experiment (most recent first) and to the latest sweep's parent run, and serves
until Ctrl-C.  With ``MLFLOW_TRACKING_URI`` pointing at a server (``http(s)://``)
it starts nothing and prints that server's links.

The links open MLflow 3's "Model training" view (``workflowType=machine_learning``):
a new browser would otherwise land on the GenAI pages (mlflow/mlflow#24498).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pipeline.config import contract
from pipeline.servers import mlflow_server
from pipeline.servers.mlflow_server import (  # noqa: F401 - START_TIMEOUT_S, stop, wait_until_up: tests' API
    SERVER_ENV,
    START_TIMEOUT_S,
    UsageError,
    add_address_options,
    base_url,
    check_port_free,
    mlflow_command,
    parse_port,
    stop,
    wait_until_up,
)
from pipeline.system.redact import redact
from pipeline.tracking.store import artifacts_root, tracking_uri

VIEW = "workflowType=machine_learning"
SWEEP_PARENT_FILTER = f"tags.`{contract.SWEEP_TAG}` = '{contract.PARENT}'"


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
    command = [*mlflow_command(uri, host, port), "--workers", "1"]
    # Without the access log, the links printed above stay on the screen.
    command += ["--uvicorn-opts", "--no-access-log"]
    artifacts = artifacts_root(uri)
    if artifacts is not None:
        command += ["--artifacts-destination", str(artifacts)]
    return command


def serve(uri: str, host: str, port: int) -> int:
    """Run the server until it exits or Ctrl-C / SIGTERM; print the links once it answers."""
    check_port_free(host, port, "make ui")
    base = base_url(host, port)
    return mlflow_server.serve(
        server_command(uri, host, port),
        base,
        env={**os.environ, **SERVER_ENV},
        starting=f"Starting the MLflow UI on {base} (store: {redact(uri)}) ...",
        ready=lambda: [f"MLflow UI: {base}", *links(uri, base)],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.ui``: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.ui", description=__doc__.split("\n")[0]
    )
    add_address_options(parser)
    parser.add_argument("--tracking-uri", help="MLflow store (default: the project's)")
    args = parser.parse_args(argv)
    try:
        port = parse_port(args.port)
        uri = tracking_uri(args.tracking_uri)
        if uri.startswith(("http://", "https://")):  # a server is already running
            shown = redact(uri)  # links with the password would put it on the screen
            print(f"MLflow UI: {shown}", *links(uri, shown), sep="\n")
            return 0
        return serve(uri, args.host, port)
    except (UsageError, RuntimeError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2
