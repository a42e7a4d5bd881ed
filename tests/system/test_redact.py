"""Secrets out of messages, logs, tags and artifacts (pipeline.system.redact), with a real MLflow
server reached through a URI that carries a password."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.system.redact import MASK, RedactingFilter, redact, redact_logs
from tests.helpers import FAST_TRAINING, REPO_ROOT, tiny_config, tool_env

SECRET = "s3cret-Token"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:s3cret@host/datasets", "https://user:***@host/datasets"),
        ("http://ghp_token@github.com/org/repo.git", "http://***@github.com/org/repo.git"),
        ("postgresql://me:p%40ss@db:5432/mlflow", "postgresql://me:***@db:5432/mlflow"),
        ("http://user:@host:5000", "http://user:***@host:5000"),
        (
            "https://bucket/x.gz?X-Amz-Credential=AK&X-Amz-Signature=ab12&v=1",
            "https://bucket/x.gz?X-Amz-Credential=***&X-Amz-Signature=***&v=1",
        ),
        ("https://h/x?sig=abc&token=t#part", "https://h/x?sig=***&token=***#part"),
        (
            "500 Server Error for url: https://u:pw@h/mnist/a.gz; then 'http://v:pw2@k/'",
            "500 Server Error for url: https://u:***@h/mnist/a.gz; then 'http://v:***@k/'",
        ),
    ],
)
def test_passwords_and_tokens_are_masked_the_rest_kept(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "sqlite:////abs/path/mlflow.db",
        "file:///srv/datasets",
        "http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning",
        "https://host/path@v2",  # an @ in the path is not a user name
        "mail user@example.org",
    ],
)
def test_text_without_secrets_is_unchanged(text):
    assert redact(text) == text


def test_the_log_filter_masks_messages_arguments_and_tracebacks():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("tests.redact")
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    try:
        redact_logs(logger)
        redact_logs(logger)  # idempotent: one filter
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.warning("fetching %s", f"http://u:{SECRET}@h/x")
        try:
            raise ValueError(f"cannot reach http://u:{SECRET}@h")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert records[0] == f"fetching http://u:{MASK}@h/x"
    assert records[1].startswith("failed\nTraceback")
    assert f"ValueError: cannot reach http://u:{MASK}@h" in records[1]
    assert SECRET not in "".join(records)


# ------------------------------------------------------------------ a real server
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real ``mlflow server`` on 127.0.0.1 (as ``make ui`` starts it), always stopped."""
    from pipeline.servers import ui

    port = _free_port()
    store = f"sqlite:///{tmp_path / 'server' / 'mlflow.db'}"
    (tmp_path / "server").mkdir()
    env = {**tool_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(
        ui.server_command(store, "127.0.0.1", port),
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ui.wait_until_up(f"http://127.0.0.1:{port}", process, ui.START_TIMEOUT_S)
        yield port
    finally:
        ui.stop(process)


@pytest.mark.slow
def test_a_tracking_uri_password_appears_nowhere(
    mirror_dir, data_root, mlflow_server, tmp_path, capfd, monkeypatch
):
    """Train against ``http://user:<secret>@server``: the printed output, the run's
    params, tags and artifacts, the UI launcher's links and a stage's error that quotes
    the URI hold no secret."""
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import QUIET_LINKS_ENV, artifact_files
    from pipeline.training.train import train

    monkeypatch.delenv(QUIET_LINKS_ENV, raising=False)
    uri = f"http://reader:{SECRET}@127.0.0.1:{mlflow_server}"
    cfg = tiny_config(
        mirror_dir,
        overrides=[
            *FAST_TRAINING,
            "dataset=iris",
            "model.hidden_units=[8]",
            f"mlflow.tracking_uri={uri}",
        ],
    )
    result = train(cfg, data_root)
    assert os.environ[QUIET_LINKS_ENV] == "true"  # MLflow's "View run at <uri>" lines are off

    client = MlflowClient(f"http://127.0.0.1:{mlflow_server}")
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    recorded = [*run.data.params.values(), *run.data.tags.values()]
    artifacts = Path(client.download_artifacts(result.run_id, "", str(tmp_path / "artifacts")))
    texts = [p.read_text(errors="replace") for p in artifacts.rglob("*") if p.is_file()]
    assert "config.yaml" in set(artifact_files(client, result.run_id))
    assert (
        f"tracking_uri: http://reader:{MASK}@127.0.0.1:{mlflow_server}"
        in (artifacts / "config.yaml").read_text()
    )

    # The UI launcher, pointed at the server: links without the password.
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.ui"],
        cwd=REPO_ROOT,
        env={**tool_env(), "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"MLflow UI: http://reader:{MASK}@127.0.0.1:{mlflow_server}\n")
    assert f"  iris  http://reader:{MASK}@127.0.0.1:{mlflow_server}/#/experiments/" in done.stdout

    # A stage's error that quotes the store: named, masked.
    done_compare = subprocess.run(
        [sys.executable, "-m", "pipeline.compare", "--tracking-uri", uri, "--experiment", "nope"],
        cwd=REPO_ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done_compare.returncode == 1
    assert (
        f"error: unknown experiment 'nope' in http://reader:{MASK}@127.0.0.1:{mlflow_server}; "
        "existing experiments: "
    ) in done_compare.stderr

    printed = capfd.readouterr()
    for where, text in {
        "stdout": printed.out,
        "stderr": printed.err,
        "params and tags": "\n".join(recorded),
        "artifacts": "\n".join(texts),
        "ui": done.stdout + done.stderr,
        "compare": done_compare.stdout + done_compare.stderr,
    }.items():
        assert SECRET not in text, where
