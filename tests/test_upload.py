"""The tracking server goes away during training (pipeline.upload, pipeline.tracking.offline,
pipeline.tracking.guarded): a real ``mlflow server`` on 127.0.0.1 killed after epoch 1 of a real
training process; the run is kept locally, then uploaded into the same run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.servers import ui
from tests import interrupt_job as job
from tests.helpers import REPO_ROOT, free_port, tensorflow_lines, tool_env

EPOCHS = 30


def start_server(store: str, cwd: Path, port: int) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` on ``store`` in its own session, up within a bounded wait."""
    server = subprocess.Popen(
        ui.server_command(store, "127.0.0.1", port),
        cwd=cwd,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        ui.wait_until_up(url, server, timeout=120)
    except RuntimeError:
        ui.stop(server)
        raise
    return server, url


def kill(server: subprocess.Popen) -> None:
    """SIGKILL the server and its workers (its process group): it is gone, not shut down."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_server_gone_mid_training_keeps_the_run_and_upload_completes_it(
    tmp_path, mirror_dir, data_root
):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    port = free_port()
    server, url = start_server(store, tmp_path, port)
    try:
        project = job.make_project(
            tmp_path / "project",
            mirror_dir,
            url,
            f"training.epochs={EPOCHS}",
            "mlflow.log_model=true",
        )
        process = job.start(project, data_root)
        job.wait_for_epoch(process, project, 1)
        kill(server)
        started = time.monotonic()
        output = process.communicate(timeout=300)[0]
        finished_in = time.monotonic() - started
    finally:
        kill(server)

    # It fails, with one line saying what was not logged and how to upload it.
    assert process.returncode == 1, output
    assert tensorflow_lines(output) == []  # the stage saved its model: no NodeDef line
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    error = errors[0]
    assert f"MLflow tracking server {url} went away during run " in error
    assert "the test metrics" in error and "artifacts and the model were not logged" in error
    assert "the metrics of epoch" in error
    assert finished_in < 120, output  # no per-epoch waits: one failed request, then local
    kept = next((project / ".optlab" / "offline").iterdir())
    assert f"`optlab upload {kept.relative_to(project)}`" in error
    run_id = kept.name
    # The DVC outputs are written, from the whole training.
    metrics = json.loads((project / "out/reports/metrics.json").read_text())
    assert metrics["epochs_run"] == EPOCHS
    assert (project / "out/mnist.keras").is_file()
    assert (project / "out/reports/history.csv").read_text().count("\n") == EPOCHS + 1
    # The folder holds the rest: the config, curves, history, confusion matrix and model.
    names = sorted(p.name for p in (kept / "artifacts").iterdir())
    assert names == ["config.yaml", "confusion_matrix.png", "history.csv", "learning_curves.png"]
    assert (kept / "model.keras").is_file()

    # Back, on the same store and address: the upload finds it from the folder alone.
    server, url = start_server(store, tmp_path, port)
    try:
        upload = subprocess.run(
            [sys.executable, "-m", "pipeline.upload", str(kept.relative_to(project))],
            cwd=project,
            env=tool_env(PYTHONPATH=str(REPO_ROOT)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert upload.returncode == 0, upload.stdout + upload.stderr
        assert f"into run {run_id} (now FINISHED)" in upload.stdout
        assert not kept.exists()

        from mlflow import MlflowClient

        client = MlflowClient(url)
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        for key in ("loss", "val_accuracy", "grad_norm/output"):
            steps = [m.step for m in client.get_metric_history(run_id, key)]
            assert sorted(steps) == list(range(1, EPOCHS + 1)), key  # each epoch once
        assert run.data.metrics["test_accuracy"] == metrics["test_accuracy"]
        assert run.data.metrics["epochs_run"] == EPOCHS
        artifacts = {a.path for a in client.list_artifacts(run_id)}
        assert {"config.yaml", "history.csv", "learning_curves.png"} <= artifacts
        assert client.search_logged_models([run.info.experiment_id])  # the model, uploaded
    finally:
        ui.stop(server)
