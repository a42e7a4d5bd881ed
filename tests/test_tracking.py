import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from pipeline.paths import project_root
from pipeline.tracking import (
    data_tags,
    ensure_experiment,
    flatten,
    run_key,
    run_name,
    tracking_uri,
)
from tests.helpers import REPO_ROOT, dvc, prepared_copy, tool_env


def test_default_store_is_an_absolute_sqlite_path_at_the_project_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    sub = tmp_path / "outputs" / "2026-11-29"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)  # e.g. a Hydra run folder
    assert project_root() == tmp_path.resolve()
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_dvc_root_wins_for_queued_experiments(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "real-repo"))
    assert tracking_uri() == f"sqlite:///{(tmp_path / 'real-repo').resolve() / 'mlflow.db'}"
    # ...but the code and data a queued run uses are those of its temporary copy
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path / "copy")
    assert project_root() == (tmp_path / "copy").resolve()


def test_environment_overrides_the_default_and_config_overrides_both(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")
    assert tracking_uri() == "http://mlflow.team:5000"
    assert tracking_uri("sqlite:////x/y.db") == "sqlite:////x/y.db"


def test_experiment_artifacts_sit_beside_the_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = ensure_experiment(uri, "mnist")
    assert ensure_experiment(uri, "mnist") == experiment_id  # idempotent
    location = MlflowClient(uri).get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "mlartifacts" / "mnist").as_uri()
    kind = MlflowClient(uri).get_experiment(experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"


def test_a_relative_sqlite_uri_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    """MLflow's documented `sqlite:///mlflow.db`: a new experiment gets an absolute
    artifact location beside the store, in the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    uri = tracking_uri()
    assert uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = ensure_experiment(uri, "iris")
    assert (tmp_path / "mlflow.db").is_file()
    location = MlflowClient(uri).get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "mlartifacts" / "iris").as_uri()
    # Passed on as it is (a relative URI in the config), it means the same store.
    assert ensure_experiment("sqlite:///mlflow.db", "iris") == experiment_id
    assert tracking_uri("sqlite:///sub/../mlflow.db?timeout=20") == f"{uri}?timeout=20"


def test_experiments_say_how_to_compare_their_runs_and_keep_a_users_description(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(uri, "mnist")
    note = client.get_experiment(experiment_id).tags["mlflow.note.content"]
    assert note.startswith("optimizer-lab runs of **mnist**")
    assert "Group by → Tags → `configuration`" in note and "**Compare**" in note

    # An experiment made before descriptions existed gets one on its next run ...
    old = client.create_experiment("old")
    ensure_experiment(uri, "old")
    assert "runs of **old**" in client.get_experiment(old).tags["mlflow.note.content"]
    # ... but one the user wrote in the UI stays.
    client.set_experiment_tag(experiment_id, "mlflow.note.content", "my notes")
    ensure_experiment(uri, "mnist")
    assert client.get_experiment(experiment_id).tags["mlflow.note.content"] == "my notes"


def test_flatten_and_run_name():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "None",
    }
    assert run_name("mnist", "relu", "adam", 32) == "mnist-relu-adam-bs32"


def test_concurrent_first_writers_share_one_schema(tmp_path):
    """Four processes opening a fresh SQLite store at once: no corruption, one experiment."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import sys; from pipeline.tracking import ensure_experiment; "
        "print(ensure_experiment(sys.argv[1], 'iris'))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert len({out.strip() for out, _ in outputs}) == 1
    assert len(MlflowClient(uri).search_experiments()) == 2  # Default + iris


# One process of the concurrency test: 5 runs of 50 steps, each step one store write,
# as pipeline.training logs them.
WRITER = """
import sys
from mlflow.tracking import MlflowClient
from pipeline.tracking import ensure_experiment, log_metrics
uri, writer = sys.argv[1], sys.argv[2]
experiment_id = ensure_experiment(uri, "concurrent")
client = MlflowClient(uri)
for r in range(5):
    run_id = client.create_run(experiment_id, run_name=f"w{writer}-r{r}").info.run_id
    for step in range(1, 51):
        log_metrics(client, run_id, {"loss": step / 100, "accuracy": 1 - step / 100}, step)
    client.set_terminated(run_id, "FINISHED")
"""


@pytest.mark.slow
def test_eight_processes_logging_into_one_fresh_store_lose_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, str(w)],
            cwd=REPO_ROOT,
            env=tool_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    assert not [err for _, err in outputs if "database is locked" in err]

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("concurrent")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert len(runs) == 40
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.info.run_name for r in runs) == sorted(
        f"w{w}-r{r}" for w in range(8) for r in range(5)
    )
    for run in runs:
        for key in ("loss", "accuracy"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == list(range(1, 51)), (run.info.run_name, key)


def test_run_key_is_config_and_data_but_not_runtime_settings():
    params = {
        "optimizer.name": "adam",
        "training.seed": "42",
        "runtime.intra_op_threads": "0",
        "runtime.steps_per_execution": "1",
        "runtime.grad_norm_samples": "512",
    }
    key = run_key(params, "d" * 32)
    assert len(key) == 64 and key == run_key(dict(reversed(params.items())), "d" * 32)
    faster = {**params, "runtime.intra_op_threads": "2", "runtime.steps_per_execution": "8"}
    assert run_key(faster, "d" * 32) == key
    # What changes results changes the key: a choice, the logged gradient rows, the data.
    assert run_key({**params, "training.seed": "43"}, "d" * 32) != key
    assert run_key({**params, "runtime.grad_norm_samples": "32"}, "d" * 32) != key
    assert run_key(params, "e" * 32) != key


@pytest.mark.slow
def test_data_that_no_longer_matches_dvc_lock_is_refused_naming_the_fix(
    mirror_dir, server, tmp_path
):
    """A real `dvc repro` records the folder's md5; a changed file is caught, and the
    command the message gives makes the folder match again."""
    repo, env = prepared_copy(tmp_path / "repo", mirror_dir, server.url, "preprocess@iris")
    folder = repo / "data" / "processed" / "iris"
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (recorded,) = [
        out["md5"]
        for out in lock["stages"]["preprocess@iris"]["outs"]
        if out["path"] == "data/processed/iris"
    ]
    tags = data_tags(folder, repo)
    assert tags["data.dvc_md5"] == recorded

    x = np.load(folder / "x_test.npy")
    x[0, 0] += 1  # a damaged value: shapes and dtypes still agree with meta.json
    np.save(folder / "x_test.npy", x)
    with pytest.raises(ValueError) as info:
        data_tags(folder, repo)
    assert re.fullmatch(
        re.escape(f"{folder} does not match dvc.lock (its files hash to md5 ")
        + r"[0-9a-f]{32}\.dir"
        + re.escape(
            f", dvc.lock records {recorded}): it changed after stage preprocess@iris made it; "
            "rebuild it with `dvc repro preprocess@iris`"
        ),
        str(info.value),
    )
    dvc(repo, "repro", "preprocess@iris", env=env)
    assert data_tags(folder, repo) == tags


def test_data_outside_dvc_lock_gets_only_its_digest(data_root):
    tags = data_tags(data_root / "iris", data_root)  # no dvc.lock there
    assert set(tags) == {"data.path", "data.digest"}
    assert re.fullmatch(r"[0-9a-f]{32}", tags["data.digest"])
