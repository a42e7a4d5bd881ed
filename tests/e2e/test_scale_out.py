"""The issue's "done when": sweeps on a real Ray cluster logging to a real
PostgreSQL-backed ``mlflow server`` (``make server``'s), every run read back from the
server: a grid preset, and the Optuna preset.

Fixtures: ``ray_cluster`` (tests/ray_cluster.py), ``pg_server`` and ``tracking_server``
(tests/mlflow_servers.py), all for the session.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.e2e.test_sweep import QUIET
from tests.helpers import served_copy

pytestmark = pytest.mark.slow
OPTIMIZERS = {"gd", "sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"}


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror_dir):
    with served_copy(tmp_path_factory.mktemp("scale"), mirror_dir) as (repo, env, _):
        yield repo, env


def ray_sweep(project, cluster, server, folder, *overrides) -> tuple[str, str]:
    """A Ray sweep logging to ``server`` (MLFLOW_TRACKING_URI, as a team would); its
    experiment and printed output."""
    repo, env = project
    experiment = f"scale-{uuid.uuid4().hex[:8]}"  # the server is shared by the session
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", *QUIET, *overrides]
        + ["hydra/launcher=ray", f"mlflow.experiment_name={experiment}"]
        + [f"hydra.sweep.dir={folder / 'sweep'}"],
        cwd=repo,
        env={**env, "RAY_ADDRESS": cluster, "MLFLOW_TRACKING_URI": server},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return experiment, done.stdout


def read_back(server: str, experiment: str):
    """The experiment's parent and children, from the server."""
    client = MlflowClient(server)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    parents = [r for r in runs if r.data.tags.get("optlab.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("optlab.sweep") == "child"]
    return client, parents, children


def test_a_grid_preset_on_ray_logs_every_run_to_the_postgresql_server(
    project, ray_cluster, tracking_server, pg_server, tmp_path
):
    experiment, out = ray_sweep(
        project, ray_cluster, tracking_server, tmp_path, "+experiment=optimizers"
    )

    client, parents, children = read_back(tracking_server, experiment)
    assert len(parents) == 1 and len(children) == len(OPTIMIZERS)
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["sweep.launcher"] == "RayLauncher"
    assert {c.data.params["optimizer.name"] for c in children} == OPTIMIZERS
    for child in children:
        assert child.info.status == "FINISHED", child.data.tags.get("optlab.error")
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert {"test_accuracy", "val_accuracy", "train_seconds"} <= set(child.data.metrics)
    # The report went through the server's artifact proxy, and it ranks all seven.
    report = client.download_artifacts(parent.info.run_id, "report/report.md", str(tmp_path))
    text = Path(report).read_text()
    for child in children:
        assert f"| {child.data.tags['configuration']} | 1 |" in text
    assert parent.data.tags["optlab.failed_runs"] == "0"
    assert "sweep: 7 run(s), 0 failed" in out
    # And it is PostgreSQL that holds them.
    rows = pg_server.query(
        "SELECT r.status, count(*) FROM runs r JOIN experiments e "
        "ON r.experiment_id = e.experiment_id WHERE e.name = %s GROUP BY r.status",
        experiment,
    )
    assert rows == [("FINISHED", 1 + len(OPTIMIZERS))]


def test_the_optuna_preset_on_ray_logs_every_trial_to_the_postgresql_server(
    project, ray_cluster, tracking_server, tmp_path
):
    experiment, _ = ray_sweep(
        project,
        ray_cluster,
        tracking_server,
        tmp_path,
        "+experiment=optuna_adam",
        "dataset=iris",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",  # two trials asked at a time, one per Ray CPU
    )

    _, parents, children = read_back(tracking_server, experiment)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert sorted(int(c.data.tags["optlab.job"]) for c in children) == [0, 1, 2, 3]
    assert all(c.info.status == "FINISHED" for c in children)
    assert len({c.data.params["optimizer.learning_rate"] for c in children}) == 4
    top = max(c.data.metrics["val_accuracy"] for c in children)
    assert parent.data.metrics["best_trial_val_accuracy"] == pytest.approx(top)
    best = parent.data.tags["optlab.best_runs"].split(",")
    assert best and all(
        c.data.metrics["val_accuracy"] == pytest.approx(top)
        for c in children
        if c.info.run_id in best
    )
