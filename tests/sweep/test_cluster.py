"""pipeline.sweep.cluster: which launcher, which address, what a Ray job is handed."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.sweep import cluster
from tests.helpers import REPO_ROOT, free_port, tool_env

RAY_TARGET = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"


def hydra_node(init=None, target=RAY_TARGET):
    return OmegaConf.create({"launcher": {"_target_": target, "ray": {"init": init or {}}}})


def test_uses_ray_only_for_the_local_ray_launcher():
    assert cluster.uses_ray(hydra_node())
    aws = "hydra_plugins.hydra_ray_launcher.ray_aws_launcher.RayAWSLauncher"
    assert not cluster.uses_ray(hydra_node(target=aws))
    joblib = OmegaConf.create({"launcher": {"_target_": "x.JoblibLauncher", "n_jobs": 2}})
    assert not cluster.uses_ray(joblib)
    assert not cluster.uses_ray(None)


def test_the_configured_address_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(cluster.ADDRESS_ENV, "10.0.0.5:6379")
    assert cluster.address(hydra_node({"address": "10.0.0.9:6379"})) == "10.0.0.9:6379"
    assert cluster.address(hydra_node({"address": None})) == "10.0.0.5:6379"
    monkeypatch.delenv(cluster.ADDRESS_ENV)
    assert cluster.address(hydra_node()) is None


def test_a_dead_head_fails_in_one_line_within_the_timeout():
    port = free_port()
    with pytest.raises(cluster.ClusterUnavailable) as caught:
        cluster.check_reachable(f"127.0.0.1:{port}", timeout=2)
    message = str(caught.value)
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in message
    assert "ray start --head" in message and "\n" not in message
    with pytest.raises(cluster.ClusterUnavailable, match="'head-only' is not host:port"):
        cluster.check_reachable("head-only", timeout=2)


def test_a_listening_head_and_auto_pass():
    with socket.create_server(("127.0.0.1", 0)) as head:
        port = head.getsockname()[1]
        cluster.check_reachable(f"127.0.0.1:{port}", timeout=2)
        cluster.check_reachable(f"ray://127.0.0.1:{port}", timeout=2)
    cluster.check_reachable("auto", timeout=2)
    cluster.check_reachable(None, timeout=2)


def test_a_job_gets_the_projects_variables_only():
    environ = {
        "OPTLAB_DATA_MIRROR": "http://127.0.0.1:8000",
        "OPTLAB_SWEEP_PARENT_RUN_ID": "abc",
        "MLFLOW_TRACKING_PASSWORD": "s3cret",
        "HOME": "/root",
        "PATH": "/usr/bin",
    }
    assert cluster.job_env(environ) == {
        "OPTLAB_DATA_MIRROR": "http://127.0.0.1:8000",
        "OPTLAB_SWEEP_PARENT_RUN_ID": "abc",
        "MLFLOW_TRACKING_PASSWORD": "s3cret",
    }


def test_runtime_env_ships_the_project_and_keeps_the_users_settings(tmp_path: Path):
    plain = cluster.runtime_env(hydra_node(), {"OPTLAB_X": "1"}, tmp_path)
    assert plain == {
        "env_vars": {"OPTLAB_X": "1"},
        "working_dir": str(tmp_path),
        "excludes": [".git", ".dvc/cache", ".dvc/tmp"],
    }
    given = {"runtime_env": {"working_dir": "s3://bucket/code.zip", "env_vars": {"OPTLAB_X": "2"}}}
    mine = cluster.runtime_env(hydra_node(given), {"OPTLAB_X": "1", "OPTLAB_Y": "3"}, tmp_path)
    assert mine["working_dir"] == "s3://bucket/code.zip"
    assert mine["env_vars"] == {"OPTLAB_X": "2", "OPTLAB_Y": "3"}  # the user's value wins


def test_outside_ray_no_cpus_are_assigned():
    assert cluster.assigned_cpus() is None


@pytest.mark.slow
def test_a_ray_sweep_with_a_dead_head_stops_before_any_run(tmp_path: Path):
    port = free_port()
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", "optimizer=sgd,adam"]
        + ["hydra/launcher=ray", f"mlflow.tracking_uri={store}"]
        + [f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=REPO_ROOT,
        env=tool_env(RAY_ADDRESS=f"127.0.0.1:{port}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: no Ray cluster answers at 127.0.0.1:{port} (Connection refused): {cluster.FIX}"
    ]
    client = MlflowClient(store)
    ids = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(ids) == []
