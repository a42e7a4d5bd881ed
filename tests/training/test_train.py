"""Real Keras fits on tiny generated data, logged to a real SQLite MLflow store."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys

import keras
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.data.preprocess import DataError
from pipeline.tracking.store import artifact_files
from pipeline.training.train import train
from tests.helpers import FAST_TRAINING, REPO_ROOT, tiny_config, tool_env

# Every test here trains real models: not in the edit loop (make test-fast).
pytestmark = pytest.mark.slow


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def config(mirror_dir, store, *overrides):
    small = [] if "model=cnn" in overrides else ["model.hidden_units=[16]"]
    return tiny_config(
        mirror_dir, overrides=[*FAST_TRAINING, *small, f"mlflow.tracking_uri={store}", *overrides]
    )


def test_a_run_is_logged_with_params_curves_artifacts_and_a_reloadable_model(
    mirror_dir, data_root, store, tmp_path
):
    cfg = config(mirror_dir, store, "dataset=mnist", "optimizer=nag", "activation=elu")
    result = train(
        cfg, data_root, reports_dir=tmp_path / "reports", model_path=tmp_path / "m.keras"
    )

    client = MlflowClient(store)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "mnist-elu-nag-bs32"
    assert client.get_experiment(run.info.experiment_id).name == "mnist"
    params = run.data.params
    assert params["optimizer.name"] == "nag" and params["optimizer.momentum"] == "0.9"
    assert params["optimizer.nesterov"] == "True" and params["activation.alpha"] == "1.0"
    assert params["training.batch_size"] == "32" and params["dataset.task"] == "multiclass"
    assert params["effective.loss"] == "categorical_crossentropy"
    assert not any(k.startswith("baselines") for k in params)

    for key in (
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
        "epoch_seconds",
        "grad_norm/hidden_1",
        "grad_norm/output",
    ):
        history = client.get_metric_history(result.run_id, key)
        assert [m.step for m in history] == [1, 2], key
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])
    # Test metrics are logged once, at step 0: the UI draws them as bars.
    assert [m.step for m in client.get_metric_history(result.run_id, "test_accuracy")] == [0]
    assert not [k for k in run.data.metrics if k.startswith("system/")]  # off by default
    # The logged test accuracy is the model's: numpy's count on the test split agrees.
    x_test = np.load(data_root / "mnist" / "x_test.npy").astype(np.float32)
    y_test = np.load(data_root / "mnist" / "y_test.npy")
    predicted = np.argmax(result.model.predict(x_test, verbose=0), axis=1)
    assert result.metrics["test_accuracy"] == pytest.approx(np.mean(predicted == y_test), abs=1e-6)

    tags = run.data.tags
    assert (
        tags["version.keras"] == keras.__version__ and tags["version.mlflow"] == mlflow.__version__
    )
    assert re.fullmatch(r"[0-9a-f]{32}", tags["data.digest"])
    assert tags["git.dirty"] in ("true", "false", "unknown")
    # MLflow's own source tags: the UI's Source and Version columns.
    # The program that ran the training: pytest here, or "-c" in a pytest-xdist worker.
    assert tags["mlflow.source.name"] == sys.argv[0] and tags["mlflow.source.type"] == "LOCAL"
    # A lone run is labelled by its headline choices.
    assert tags["configuration"] == (
        "model=mlp, activation=elu, optimizer=nag, loss=auto, batch_size=32"
    )
    # Each split is a dataset input carrying the data digest (the UI's Dataset column).
    inputs = {
        i.dataset.name: (i.dataset.digest, {t.key: t.value for t in i.tags})
        for i in run.inputs.dataset_inputs
    }
    assert inputs == {
        f"mnist/{split}": (tags["data.digest"], {"mlflow.data.context": split})
        for split in ("train", "validation", "test")
    }
    # What would bury the choices, or leak a credential, is not a param.
    assert not [k for k in params if k.startswith(("mlflow.", "data.download.", "sweep."))]
    assert not [k for k in params if k.endswith((".urls", ".mirror_dir")) or ".files." in k]

    files = set(artifact_files(client, result.run_id))
    assert {"config.yaml", "learning_curves.png", "confusion_matrix.png", "history.csv"} <= files
    mlflow.set_tracking_uri(store)
    info = mlflow.models.get_model_info(f"runs:/{result.run_id}/model")
    assert "keras" in info.flavors
    # The signature and input example describe what the model takes: 28x28 images.
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 28, 28)
    assert info.saved_input_example_info["type"] == "ndarray"
    logged = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config.yaml")
    assert "name: nag" in logged

    reloaded = mlflow.keras.load_model(f"runs:/{result.run_id}/model")
    x = np.load(data_root / "mnist" / "x_test.npy")[:4].astype(np.float32)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-6
    )
    saved = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        saved.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-6
    )
    assert (tmp_path / "reports" / "metrics.json").is_file()
    assert (tmp_path / "reports" / "history.csv").read_text().startswith("epoch,")


def test_the_same_config_twice_gives_identical_metrics(mirror_dir, data_root, store):
    cfg = config(mirror_dir, store, "dataset=mnist", "model.dropout=0.2", "mlflow.log_model=false")
    first = train(cfg, data_root)
    second = train(cfg, data_root)
    cols = [c for c in first.history.columns if c != "epoch_seconds"]
    assert first.history[cols].equals(second.history[cols])
    assert first.metrics["test_loss"] == second.metrics["test_loss"]
    third = train(
        config(
            mirror_dir,
            store,
            "dataset=mnist",
            "model.dropout=0.2",
            "mlflow.log_model=false",
            "training.seed=7",
        ),
        data_root,
    )
    assert third.history["loss"].tolist() != first.history["loss"].tolist()


def test_step_hidden_layers_do_not_learn_and_the_log_says_so(mirror_dir, data_root, store):
    cfg = config(mirror_dir, store, "dataset=mnist", "activation=step", "mlflow.log_model=false")
    result = train(cfg, data_root)
    history = MlflowClient(store).get_metric_history(result.run_id, "grad_norm/hidden_1")
    assert [m.value for m in history] == [0.0, 0.0]
    assert result.history["grad_norm/output"].gt(0).all()  # only the output layer learns

    ste = train(
        config(
            mirror_dir,
            store,
            "dataset=mnist",
            "activation=step",
            "activation.straight_through=true",
            "mlflow.log_model=false",
        ),
        data_root,
    )
    assert ste.history["grad_norm/hidden_1"].gt(0).all()


def test_full_batch_gd_makes_one_update_per_epoch(mirror_dir, data_root, store):
    result = train(
        config(mirror_dir, store, "dataset=mnist", "optimizer=gd", "mlflow.log_model=false"),
        data_root,
    )
    run = MlflowClient(store).get_run(result.run_id)
    assert run.data.params["effective.batch_size"] == "50"  # the whole training split
    assert run.info.run_name == "mnist-relu-gd-bsfull"
    assert result.model.optimizer.iterations.numpy() == 2  # two epochs, one step each


def test_a_batch_larger_than_the_training_split_is_capped_to_full_batch(
    mirror_dir, data_root, store, caplog
):
    cfg = config(
        mirror_dir, store, "dataset=mnist", "training.batch_size=1000", "mlflow.log_model=false"
    )
    with caplog.at_level(logging.WARNING, logger="pipeline.training.train"):
        result = train(cfg, data_root)
    params = MlflowClient(store).get_run(result.run_id).data.params
    assert (params["training.batch_size"], params["effective.batch_size"]) == ("1000", "50")
    assert (
        "training.batch_size=1000 is more than the 50 training rows of mnist: "
        "training full batch (batch size 50)"
    ) in caplog.text
    assert result.model.optimizer.iterations.numpy() == 2  # two epochs, one step each


@pytest.mark.parametrize(
    ("overrides", "metric", "units"),
    [
        (["dataset=iris", "dataset.task=regression"], "test_rmse", 1),
        (["dataset=iris", "dataset.task=binary"], "test_accuracy", 1),
        (["dataset=mnist", "dataset.task=binary", "dataset.positive_class=3"], "test_accuracy", 1),
        (["dataset=mnist", "loss=mse"], "test_accuracy", 10),
        (["dataset=mnist", "loss=sparse_categorical_crossentropy"], "test_accuracy", 10),
        (
            ["dataset=mnist", "model=cnn", "model.filters=[4]", "model.dense_units=[8]"],
            "test_accuracy",
            10,
        ),
        (["dataset=iris", "activation=maxout"], "test_accuracy", 3),
    ],
)
def test_tasks_losses_and_models(mirror_dir, data_root, store, overrides, metric, units):
    result = train(config(mirror_dir, store, *overrides, "mlflow.log_model=false"), data_root)
    assert np.isfinite(result.metrics[metric])
    assert result.model.output_shape[-1] == units


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["dataset=iris", "dataset.task=regression", "loss=binary_crossentropy"],
            "binary_crossentropy",
        ),
        (["dataset=mnist", "dataset.task=regression"], "Valid tasks for mnist: multiclass, binary"),
        (["dataset=iris", "model=cnn"], "model 'cnn' needs image data"),
        (
            ["dataset=mnist", "dataset.task=binary", "dataset.positive_class=bird"],
            "dataset.positive_class='bird' is not a class of mnist",
        ),
    ],
)
def test_impossible_combinations_fail_before_any_run(
    mirror_dir, tmp_path, store, overrides, message
):
    cfg = config(mirror_dir, store, *overrides)
    with pytest.raises(ValueError, match=message):
        train(cfg, tmp_path / "no-data-here")  # fails before the (missing) data is read
    assert not (tmp_path / "mlflow.db").exists()


def test_missing_data_is_reported_before_any_run(mirror_dir, tmp_path, store):
    with pytest.raises(DataError) as info:
        train(config(mirror_dir, store, "dataset=mnist"), tmp_path / "empty")
    assert str(info.value) == (
        f"no preprocessed data in {tmp_path / 'empty' / 'mnist'}; "
        "run `dvc repro preprocess@mnist` first"
    )
    assert not (tmp_path / "mlflow.db").exists()


def test_a_damaged_data_file_is_named_before_any_run(mirror_dir, data_root, tmp_path, store):
    shutil.copytree(data_root / "iris", tmp_path / "data" / "iris")
    file = tmp_path / "data" / "iris" / "x_train.npy"
    file.write_bytes(file.read_bytes()[:-16])
    with pytest.raises(DataError, match=r"rebuild it with `dvc repro preprocess@iris`$") as info:
        train(config(mirror_dir, store, "dataset=iris"), tmp_path / "data")
    assert str(info.value).startswith(f"{file}: not a readable array")
    assert not (tmp_path / "mlflow.db").exists()


def test_cli_rejects_a_typo_at_once_listing_valid_optimizers(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "optimizer=adma"],
        cwd=REPO_ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        "error: unknown optimizer 'adma'; valid optimizers: adadelta, adagrad, adam, adamax, "
        "adamw, gd, lion, momentum, nadam, nag, rmsprop, sgd"
    )


def test_early_stopping_ends_training_when_enabled(mirror_dir, data_root, store):
    cfg = config(
        mirror_dir,
        store,
        "dataset=mnist",
        "training.epochs=6",
        "training.early_stopping.enabled=true",
        "training.early_stopping.patience=1",
        "training.early_stopping.min_delta=100",
        "mlflow.log_model=false",
    )
    result = train(cfg, data_root)
    assert len(result.history) == 2  # no epoch can improve by 100: stop after patience
    assert result.metrics["epochs_run"] == 2


def test_mlflow_tracking_uri_from_the_environment(mirror_dir, data_root, tmp_path, monkeypatch):
    env_store = f"sqlite:///{tmp_path / 'team.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env_store)
    cfg = tiny_config(
        mirror_dir,
        overrides=[
            *FAST_TRAINING,
            "dataset=iris",
            "mlflow.log_model=false",
            "mlflow.experiment_name=env-test",
        ],
    )
    result = train(cfg, data_root)
    run = MlflowClient(env_store).get_run(result.run_id)
    assert run.info.status == "FINISHED"


def test_a_relative_sqlite_uri_from_the_environment(mirror_dir, data_root, tmp_path, monkeypatch):
    """`MLFLOW_TRACKING_URI=sqlite:///mlflow.db` (MLflow's own documented form): the store
    and the run's artifacts land in the working directory (here a project's subfolder),
    not at the project's root."""
    cfg = tiny_config(mirror_dir, overrides=[*FAST_TRAINING, "dataset=iris"])
    shutil.copy(REPO_ROOT / "dvc.yaml", tmp_path)  # a project (its layout) ...
    here = tmp_path / "notebooks"  # ... and a folder of it to work in
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    result = train(cfg, data_root)
    client = MlflowClient(f"sqlite:///{here / 'mlflow.db'}")
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    artifacts = here / "mlartifacts" / "iris" / result.run_id / "artifacts"
    assert run.info.artifact_uri == artifacts.as_uri()
    assert (artifacts / "config.yaml").is_file()
    assert list((here / "mlartifacts" / "iris").rglob("MLmodel"))  # the logged model too
    assert not (tmp_path / "mlflow.db").exists()


def test_run_params_keep_this_datasets_choices_and_drop_download_facts():
    from pipeline.tracking.store import run_params

    params = {
        "data.seed": "42",
        "data.datasets.mnist.urls": "[a]",
        "data.datasets.mnist.files.train.sha256": "ab12",
        "data.datasets.mnist.mirror_dir": "mnist",
        "data.datasets.mnist.split.validation": "10000",
        "data.datasets.iris.urls": "[b]",
        "data.download.retries": "3",
        "baselines.iris.epochs": "100",
        "mlflow.tracking_uri": "https://user:secret@mlflow.example.org",
        "sweep.seeds": "3",
        "compare.margin": "0.005",
        "optimizer.name": "adam",
    }
    assert run_params(params, "mnist") == {
        "data.seed": "42",
        "data.datasets.mnist.split.validation": "10000",
        "optimizer.name": "adam",
    }


def test_system_metrics_when_asked_for(mirror_dir, data_root, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    cfg = config(
        mirror_dir,
        store,
        "dataset=mnist",
        "mlflow.log_model=false",
        "mlflow.system_metrics=true",
        "training.epochs=3",
    )
    result = train(cfg, data_root)
    metrics = MlflowClient(store).get_run(result.run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics  # the System metrics tab
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_dvc_outputs_are_byte_identical_across_runtime_settings(
    mirror_dir, data_root, store, tmp_path
):
    """Timings and run ids stay in MLflow; the outputs depend on config, data and code."""
    results, outputs = [], []
    for i, spe in enumerate((1, 3)):
        cfg = config(
            mirror_dir,
            store,
            "dataset=mnist",
            "mlflow.log_model=false",
            f"runtime.steps_per_execution={spe}",
        )
        folder = tmp_path / f"out{i}"
        results.append(train(cfg, data_root, reports_dir=folder, model_path=folder / "m.keras"))
        outputs.append({p.name: p.read_bytes() for p in sorted(folder.iterdir())})
    assert list(outputs[0]) == ["history.csv", "m.keras", "metrics.json", "run.json"]
    assert outputs[0] == outputs[1]
    assert results[0].run_id != results[1].run_id

    client = MlflowClient(store)
    run = client.get_run(results[0].run_id)
    assert run.data.metrics["train_seconds"] > 0  # timings are in MLflow ...
    assert [m.step for m in client.get_metric_history(run.info.run_id, "epoch_seconds")] == [1, 2]
    metrics = json.loads(outputs[0]["metrics.json"])  # ... and not in the outputs
    assert sorted(metrics) == ["epochs_run", "test_accuracy", "test_loss"]
    assert metrics["test_accuracy"] == run.data.metrics["test_accuracy"]
    assert "epoch_seconds" not in outputs[0]["history.csv"].decode().splitlines()[0]
    # run.json names the run by its key, which both runs carry as a tag.
    key = json.loads(outputs[0]["run.json"])["run_key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    for result in results:
        assert client.get_run(result.run_id).data.tags["optlab.run_key"] == key
    # A change that does change results changes the key.
    other = train(
        config(mirror_dir, store, "dataset=mnist", "mlflow.log_model=false", "training.seed=9"),
        data_root,
    )
    assert client.get_run(other.run_id).data.tags["optlab.run_key"] != key
