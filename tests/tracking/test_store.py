import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.config.paths import project_root
from pipeline.tracking.store import (
    DATASET_RACE_RETRIES,
    ensure_experiment,
    flatten,
    log_data_inputs,
    run_name,
    tracking_uri,
)
from tests.helpers import REPO_ROOT, tool_env


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


def test_a_postgresql_store_gets_the_installed_driver(monkeypatch):
    # SQLAlchemy 2.1 would read a plain postgresql:// as psycopg 3, which is not installed.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://u@db:5432/mlflow")
    assert tracking_uri() == "postgresql+psycopg2://u@db:5432/mlflow"
    given = "postgresql+psycopg2://u@db/mlflow?sslmode=require"
    assert tracking_uri(given) == given


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


@pytest.mark.slow
def test_concurrent_first_writers_share_one_schema(tmp_path):
    """Four processes opening a fresh SQLite store at once: no corruption, one experiment."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import sys; from pipeline.tracking.store import ensure_experiment; "
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


@pytest.mark.slow
def test_only_a_new_store_is_migrated(tmp_path):
    """MLflow creates a store's schema (every migration) when its tables are missing; a
    later process opening the up-to-date store, as each training does, migrates nothing:
    the database file is left byte for byte, and no migration is logged."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO); "
        "from pipeline.tracking.store import ensure_experiment; "
        "print(ensure_experiment(sys.argv[1], 'iris'))"
    )

    def open_store() -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-c", code, uri],
            env=tool_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done

    first = open_store()
    assert "Creating initial MLflow database tables" in first.stderr
    assert "Updating database tables" in first.stderr
    db = tmp_path / "mlflow.db"
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    again = open_store()
    assert again.stdout == first.stdout  # the same experiment
    assert "database tables" not in again.stderr
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


# One process of the concurrency test: 5 runs of 50 steps, each step one store write,
# as pipeline.training.train logs them.
WRITER = """
import sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from pipeline.tracking.store import ensure_experiment, log_metrics
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


def test_a_model_is_logged_with_pinned_requirements_without_mlflows_inference(
    tmp_path, monkeypatch
):
    """MLflow's requirement inference loads the model in a second Python process (seconds
    of TensorFlow import). Here it would fail loudly, its timeout 0 and its errors
    raised; the model is logged all the same, pinned to the installed libraries."""
    import keras
    import mlflow
    import tensorflow as tf

    from pipeline.tracking.store import global_tracking_uri, log_model

    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "0")
    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_RAISE_ERRORS", "true")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = ensure_experiment(uri, "iris")
    with global_tracking_uri(uri), mlflow.start_run(experiment_id=experiment_id) as run:
        log_model(model, np.zeros((2, 4), np.float32))
    model_uri = f"runs:/{run.info.run_id}/model"
    with global_tracking_uri(uri):
        requirements = mlflow.pyfunc.get_model_dependencies(model_uri)
        reloaded = mlflow.keras.load_model(model_uri)
    assert Path(requirements).read_text().split() == [
        f"mlflow=={mlflow.__version__}",
        f"keras=={keras.__version__}",
        f"numpy=={np.__version__}",
        f"tensorflow=={tf.__version__}",
    ]
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # What MLflow checks at log time unless told not to (log_model does): the logged model
    # serves its own input example, through pyfunc, as a server would.
    with global_tracking_uri(uri):
        serving = mlflow.models.Model.load(model_uri).get_serving_input(
            mlflow.artifacts.download_artifacts(model_uri)
        )
        served = mlflow.models.validate_serving_input(model_uri, serving)
    np.testing.assert_allclose(served, model.predict(np.zeros((2, 4), np.float32), verbose=0))


class RacingClient:
    """A real MLflow client whose first ``failures`` log_inputs calls fail as a PostgreSQL
    server does when another run inserted the same dataset first (the message seen)."""

    RACE = (
        "RestException: BAD_REQUEST: (psycopg2.errors.UniqueViolation) duplicate key value "
        'violates unique constraint "dataset_pk"'
    )

    def __init__(self, client: MlflowClient, failures: int, message: str = RACE):
        self.client, self.failures, self.message, self.calls = client, failures, message, 0

    def log_inputs(self, run_id, datasets=None):
        self.calls += 1
        if self.calls <= self.failures:
            raise MlflowException(self.message)
        self.client.log_inputs(run_id, datasets=datasets)


def _inputs_run(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("inputs"))
    return client, run.info.run_id


def test_a_lost_dataset_race_is_logged_again(tmp_path):
    client, run_id = _inputs_run(tmp_path)
    racing = RacingClient(client, failures=DATASET_RACE_RETRIES)
    splits = {"train": (np.zeros((4, 2), np.float32), np.zeros(4, np.int64))}
    log_data_inputs(racing, run_id, "iris", tmp_path, "abc123", splits)

    assert racing.calls == DATASET_RACE_RETRIES + 1
    inputs = client.get_run(run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("iris/train", "abc123")]


def test_other_input_errors_and_a_race_that_persists_are_raised(tmp_path):
    client, run_id = _inputs_run(tmp_path)
    splits = {"train": (np.zeros((4, 2), np.float32), np.zeros(4, np.int64))}
    other = RacingClient(client, failures=1, message="RESOURCE_DOES_NOT_EXIST: no run")
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        log_data_inputs(other, run_id, "iris", tmp_path, "abc123", splits)
    assert other.calls == 1
    stuck = RacingClient(client, failures=DATASET_RACE_RETRIES + 1)
    with pytest.raises(MlflowException, match="dataset_pk"):
        log_data_inputs(stuck, run_id, "iris", tmp_path, "abc123", splits)
    assert stuck.calls == DATASET_RACE_RETRIES + 1
    assert client.get_run(run_id).inputs.dataset_inputs == []
