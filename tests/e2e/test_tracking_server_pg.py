"""``make server`` for real: PostgreSQL from the distribution's package (a throwaway
cluster on 127.0.0.1), ``python -m pipeline.server`` on it, and runs logged through it,
read back from the server and straight from the database.

The fixtures ``pg_server`` and ``tracking_server`` are tests/mlflow_servers.py's (tests/conftest.py
imports them). Skipped without PostgreSQL (``apt-get install postgresql``), failed under CI.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import served_copy
from tests.mlflow_servers import ADMIN_PASSWORD, ADMIN_USER, mlflow_server

pytestmark = pytest.mark.slow
QUIET = ["runtime.verbose=0", "mlflow.log_model=false"]
COMBOS = {("sgd", "relu"), ("sgd", "tanh"), ("adam", "relu"), ("adam", "tanh")}


def unique(name: str) -> str:
    """An experiment name of this test's own: the server is shared by the session."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_a_run_lands_in_postgresql_and_its_artifact_is_served(tracking_server, pg_server, tmp_path):
    client = MlflowClient(tracking_server)
    experiment_id = client.create_experiment(unique("roundtrip"))
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    client.log_param(run_id, "optimizer.name", "adam")
    client.log_metric(run_id, "test_accuracy", 0.875)
    payload = bytes(range(256)) * 64  # binary, 16 KiB
    (tmp_path / "weights.bin").write_bytes(payload)
    client.log_artifact(run_id, str(tmp_path / "weights.bin"), "model")
    client.set_terminated(run_id)

    back = client.get_run(run_id)
    assert back.info.status == "FINISHED"
    assert back.data.params == {"optimizer.name": "adam"}
    assert back.data.metrics == {"test_accuracy": 0.875}
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")  # served, not a local path
    # In PostgreSQL itself, not in some other store the server might have opened.
    assert pg_server.query("SELECT status FROM runs WHERE run_uuid = %s", run_id) == [("FINISHED",)]
    assert pg_server.query("SELECT key, value FROM metrics WHERE run_uuid = %s", run_id) == [
        ("test_accuracy", 0.875)
    ]
    downloaded = client.download_artifacts(run_id, "model/weights.bin", str(tmp_path / "down"))
    assert Path(downloaded).read_bytes() == payload


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror_dir):
    with served_copy(tmp_path_factory.mktemp("served-sweep"), mirror_dir) as (repo, env, _):
        yield repo, env


def test_a_2x2_joblib_sweep_logs_every_run_and_the_report_to_the_server(
    project, tracking_server, pg_server, tmp_path
):
    repo, env = project
    experiment = unique("sweep-pg")
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", *QUIET,
         f"mlflow.tracking_uri={tracking_server}", f"mlflow.experiment_name={experiment}",
         "dataset=iris", "optimizer=sgd,adam", "activation=relu,tanh",
         "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
         f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    client = MlflowClient(tracking_server)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    runs = client.search_runs([experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("optlab.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("optlab.sweep") == "child"]
    assert len(parents) == 1 and len(children) == 4 and len(runs) == 5
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    combos = {(c.data.params["optimizer.name"], c.data.params["activation.name"]) for c in children}
    assert combos == COMBOS
    for child in children:
        assert 0.0 <= child.data.metrics["test_accuracy"] <= 1.0
        assert "test_loss" in child.data.metrics
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert len(history) == 1  # one epoch (the copy's config), logged per epoch
    means = [k for k in parent.data.metrics if k.startswith("mean_test_accuracy/")]
    assert len(means) == 4

    # The report, as the server serves it: one ranking row per configuration.
    report = Path(
        client.download_artifacts(parent.info.run_id, "report/report.md", str(tmp_path / "dl"))
    ).read_text()
    for child in children:
        label = re.escape(child.data.tags["configuration"])
        assert re.search(rf"^\| [1-4] \| {label} \| 1 \|", report, re.M), (label, report)
    # The five runs are rows of PostgreSQL's runs table.
    rows = pg_server.query(
        "SELECT r.status, count(*) FROM runs r JOIN experiments e "
        "ON r.experiment_id = e.experiment_id WHERE e.name = %s GROUP BY r.status",
        experiment,
    )
    assert rows == [("FINISHED", 5)]


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_with_auth_a_stranger_gets_401_and_a_user_logs_a_run(pg_server, tmp_path, monkeypatch):
    from mlflow.exceptions import MlflowException

    from pipeline.tracking.store_check import check_store

    database = pg_server.create_database(f"auth_{uuid.uuid4().hex[:8]}")
    with mlflow_server(database, tmp_path / "artifacts", auth=True) as url:
        search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
        assert _status(search) == 401
        assert _status(f"{url}/health") == 200  # load balancers' probe stays open
        check_store(url, timeout=10)  # what a training checks first still passes

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN_USER)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
        with pytest.raises(MlflowException, match="401|Unauthorized|credentials"):
            MlflowClient(url).search_experiments()

        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        client = MlflowClient(url)
        run = client.create_run(client.create_experiment(unique("authorised")))
        client.log_metric(run.info.run_id, "test_accuracy", 0.5)
        client.set_terminated(run.info.run_id)
        assert client.get_run(run.info.run_id).info.status == "FINISHED"

    # Users are kept in the backend's database (its own tables), as the tracking data is.
    assert pg_server.query(
        "SELECT username, is_admin FROM users", database=database.rsplit("/", 1)[1]
    ) == [(ADMIN_USER, True)]
    assert pg_server.query(
        "SELECT status FROM runs WHERE run_uuid = %s", run.info.run_id,
        database=database.rsplit("/", 1)[1],
    ) == [("FINISHED",)]  # fmt: skip
