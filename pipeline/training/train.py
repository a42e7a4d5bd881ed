"""Train one configuration, log it to MLflow, and return its results.

The library behind the entry points: ``python -m pipeline.train`` (Hydra, see
:mod:`pipeline.cli`) and ``pipeline.stages.train`` (DVC, reads ``params.yaml``).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from pipeline.config import contract, labels
from pipeline.config.compose import validate
from pipeline.config.paths import layout, project_root
from pipeline.config.schemas import Task
from pipeline.data.preprocess import DataError, load_splits
from pipeline.kinds import keras_file
from pipeline.system import interrupt, machine
from pipeline.system.io import atomic_write_json, atomic_write_text
from pipeline.system.redact import redact
from pipeline.tracking import provenance, store, store_check
from pipeline.tracking.guarded import GuardedClient
from pipeline.training import resume, runtime
from pipeline.training.planning import Plan, plan
from pipeline.training.seed import apply_seed, configure_runtime
from pipeline.training.task_data import SPLITS, TaskData, load_task_data, make_dataset

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    metrics: dict[str, float]
    history: pd.DataFrame
    model: Any = None
    data: TaskData | None = None  # the splits it trained and was tested on


# ------------------------------------------------------------------ training
def _logged_params(p: Plan, batch_size: int) -> dict[str, str]:
    """The params a run logs: its loggable config (see :func:`pipeline.tracking.store.run_params`)
    and ``effective.*``, what the run really used where the config leaves it open."""
    params = store.run_params(store.flatten(p.config), p.dataset)
    params.update(
        {
            "effective.batch_size": str(batch_size),
            "effective.epochs": str(p.epochs),
            "effective.loss": p.loss.loss,
            "effective.output_activation": p.loss.output_activation,
            # The kernels' instruction set: the pinned avx2 on every machine, else its own.
            "effective.cpu_isa": machine.kernel_isa(),
        }
    )
    return params


@dataclass
class RunRecord:
    """Where and as what a training run is recorded in MLflow."""

    uri: str
    experiment_id: str
    name: str
    params: dict[str, str]
    tags: dict[str, str]


def train(
    cfg: DictConfig,
    data_root: str | os.PathLike[str] | None = None,
    reports_dir: str | os.PathLike[str] | None = None,
    model_path: str | os.PathLike[str] | None = None,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    run_name_suffix: str = "",
    label_keys: Sequence[str] = (),
) -> TrainResult:
    """Train the configured model on one dataset and log the run to MLflow.

    The steps: plan and load (:func:`prepare`), build the model, describe the
    run (:func:`run_record`), then fit, evaluate and record inside the run.

    Args:
        cfg: The composed configuration (validated against the schemas here).
        data_root: Folder holding ``<dataset>/`` as written by the preprocess stage
            (default: the layout's ``processed``, :mod:`pipeline.config.paths`).
        reports_dir: If set, write ``metrics.json``, ``history.csv`` and ``run.json`` (the
            run's key) there: DVC outputs, so without timings or run ids.
        model_path: If set, save the trained model there (``.keras``, byte-stable).
        parent_run_id: Log as a child of this MLflow run (sweeps).
        extra_tags: More MLflow tags for the run.
        run_name_suffix: Appended to the run name (a sweep's seed, ``-s43``).
        label_keys: The config keys whose values name the run's configuration (a
            sweep's swept keys); none: its headline choices (see :mod:`pipeline.config.labels`).

    Returns:
        The run's id, final metrics, per-epoch history and the model.
    """
    p, data_dir, data = prepare(cfg, data_root)  # the config is read here, once
    batch_size = effective_batch_size(p.training.batch_size, p, len(data.x["train"]))
    model = build_model(p, data)
    tags = dict(extra_tags or {})
    if parent_run_id:
        tags[contract.PARENT_RUN_TAG] = parent_run_id
    record = run_record(p, data_dir, batch_size, tags, run_name_suffix, label_keys)
    key = record.tags[contract.RESUME_KEY_TAG]
    try:
        run_id, metrics, history, client = _run(p, data, data_dir, model, batch_size, record)
    except Exception:  # failed on its own: never resumed, so its backup is of no use
        resume.remove_backup(key)
        raise
    resume.remove_backup(key)  # recorded: an interruption from now on needs no resume
    if reports_dir is not None:
        _write_reports(Path(reports_dir), metrics, history, record.tags[contract.RUN_KEY_TAG])
    if model_path is not None:
        keras_file.save(model, model_path)
    written = [what for what, path in (("reports", reports_dir), ("model", model_path)) if path]
    kept = client.kept_error(run_id, f" and wrote its {' and '.join(written)}" if written else "")
    if kept is not None:  # the server went away: the outputs are written, the run is not whole
        raise kept
    return TrainResult(run_id=run_id, metrics=metrics, history=history, model=model, data=data)


def effective_batch_size(batch_size: int, p: Plan, rows: int) -> int:
    """The batch size a run uses: all ``rows`` for full-batch optimizers, and for a
    batch size above the training rows (capped, saying so; ``effective.batch_size``)."""
    if p.full_batch:
        return rows
    if batch_size > rows:
        log.warning(
            "training.batch_size=%d is more than the %d training rows of %s: "
            "training full batch (batch size %d)",
            batch_size,
            rows,
            p.dataset,
            rows,
        )
        return rows
    return batch_size


def prepare(
    cfg: DictConfig, data_root: str | os.PathLike[str] | None = None
) -> tuple[Plan, Path, TaskData]:
    """Validate the config, check the tracking store and every choice, then load the data
    (nothing heavy before): the plan every later step takes, the data's folder, the data."""
    cfg = validate(cfg)
    store_check.check_tracking(cfg.mlflow.tracking_uri, cfg.mlflow.timeout)
    data_dir = Path(data_root or layout().processed) / cfg.dataset.name
    # Before anything creates a TensorFlow object (plan() builds the optimizer):
    # TensorFlow fixes its thread pools then. The run logs the count in effect.
    threads = runtime.intra_op_threads(
        cfg.runtime.intra_op_threads, cfg.training.batch_size, _mlp_units(cfg, data_dir)
    )
    cfg.runtime.intra_op_threads = configure_runtime(threads, cfg.runtime.inter_op_threads)
    p = plan(cfg, data_dir)  # every choice checked before any data is read or run created
    return p, data_dir, load_task_data(p, data_dir, cfg.dataset.target)


def _mlp_units(cfg: DictConfig, data_dir: Path) -> list[int] | None:
    """An MLP's layer sizes, input to output, from the config and the data's meta.json;
    None for another model, or data not there yet (loading it then says so)."""
    if cfg.model.name != "mlp":
        return None
    try:
        row = load_splits(data_dir).x["train"].shape[1:]  # memory-mapped: shapes only
    except DataError:
        return None
    classes = len(cfg.data.datasets[cfg.dataset.name].classes)
    return [math.prod(row), *cfg.model.hidden_units, classes]


def build_model(p: Plan, data: TaskData):
    """The compiled model, its weights drawn under the run's seed."""
    import keras  # lazy: seconds to import

    from pipeline.kinds import crossentropy, models  # lazy, for cost: they import Keras

    keras.backend.clear_session()
    apply_seed(p.training.seed)
    model = models.build(
        p.config["model"],
        p.config["activation"],
        data.input_shape,
        p.loss.output_units,
        p.loss.output_activation,
        p.image,
    )
    model.compile(
        optimizer=p.optimizer,  # built once, by plan()
        loss=crossentropy.get(p.loss.loss),
        metrics=p.loss.metrics(),
        jit_compile=False,  # XLA rounds differently (pipeline.training.runtime)
    )
    return model


def run_record(
    p: Plan,
    data_dir: Path,
    batch_size: int,
    extra_tags: dict[str, str],
    run_name_suffix: str,
    label_keys: Sequence[str],
) -> RunRecord:
    """The run's store, experiment, name, params and tags (creating the experiment)."""
    root = project_root()  # the code and data of this run (a queued copy's own)
    uri = store.tracking_uri(p.mlflow.tracking_uri)
    experiment_id = store.ensure_experiment(uri, p.mlflow.experiment_name or p.dataset)
    params = _logged_params(p, batch_size)
    data = provenance.data_tags(data_dir, root)
    tags = {
        **provenance.source_tags(root),
        **provenance.version_tags(),
        **data,
        contract.RUN_KEY_TAG: provenance.run_key(params, data[provenance.DATA_DIGEST_TAG]),
        contract.TASK_TAG: p.task.value,
        contract.CONFIGURATION_TAG: labels.label(params, labels.param_keys(label_keys, params)),
        **machine.machine_tags(p.runtime.intra_op_threads, _outside_promise(p)),
        **extra_tags,
    }
    tags.update(resume.run_tags(tags))
    name = p.run_name + run_name_suffix
    return RunRecord(uri, experiment_id, name, params, tags)


def _outside_promise(p: Plan) -> list[str]:
    """What of the run the same-bits promise does not cover (docs/reproducibility.md)."""
    gaps = []
    if p.runtime.intra_op_threads != runtime.PINNED_THREADS:
        gaps.append(f"runtime.intra_op_threads={p.runtime.intra_op_threads}")
    model = p.config["model"]["name"]
    if model not in machine.SAME_BITS_MODELS:
        gaps.append(f"model={model} (its convolutions are Eigen's, cache-blocked)")
    return gaps


def planned_run_key(cfg: DictConfig, data_root: str | os.PathLike[str] | None = None) -> str:
    """The :data:`~pipeline.config.contract.RUN_KEY_TAG` that :func:`train` would give a run of
    ``cfg``: a finished run carrying it has the results this training would have."""
    p, data_dir, data = prepare(cfg, data_root)
    batch_size = effective_batch_size(p.training.batch_size, p, len(data.x["train"]))
    digest = provenance.data_tags(data_dir, project_root())[provenance.DATA_DIGEST_TAG]
    return provenance.run_key(_logged_params(p, batch_size), digest)


def _datasets(p: Plan, data: TaskData, batch_size: int):
    """The splits as tf.data pipelines, and the variable the training's shuffle reads
    its epoch from (:class:`pipeline.training.callbacks.ShuffleEpoch`)."""
    import tensorflow as tf  # lazy, for cost

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    x, y = data.x["train"], data.y["train"]
    datasets = {
        "train": make_dataset(x, y, batch_size, p.training.shuffle, p.training.seed, epoch),
        **{s: make_dataset(data.x[s], data.y[s], batch_size, False, 0) for s in SPLITS[1:]},
    }
    return datasets, epoch


def _run(
    p: Plan,
    data: TaskData,
    data_dir: Path,
    model,
    batch_size: int,
    record: RunRecord,
) -> tuple[str, dict[str, float], pd.DataFrame, GuardedClient]:
    """Inside one MLflow run: log params and data, fit, evaluate, log the artifacts.

    Every write goes through a :class:`~pipeline.tracking.guarded.GuardedClient`: if the server
    goes away, the training finishes and the rest of the run is kept locally (the
    returned client says what, :meth:`~pipeline.tracking.guarded.GuardedClient.kept_error`).
    """
    import mlflow  # lazy, for cost

    client = GuardedClient(mlflow.MlflowClient(record.uri), record.uri)
    datasets, epoch = _datasets(p, data, batch_size)
    key = record.tags[contract.RESUME_KEY_TAG]
    resumed = resume.find_resumable(client, record.experiment_id, key)
    if resumed is None:  # a state left by a run that cannot be continued is stale
        resume.remove_backup(key)
    with (
        store.global_tracking_uri(record.uri),
        resume.start_run(
            client, record.experiment_id, record.name, record.tags, resumed, p.mlflow
        ) as run,
    ):
        run_id = run.info.run_id
        # A failure inside the run leaves its reason on the (FAILED) run; an
        # interruption ends it KILLED, saying why.
        with (
            store.recording_errors(client, run_id),
            resume.killed_if_interrupted(client, run_id),
            client.leaving_run(),  # innermost: offline, the run ends here, silently
        ):
            if resumed is None:  # a resumed run has them from its first start
                store.log_params(client, run_id, record.params)
                digest = record.tags[provenance.DATA_DIGEST_TAG]
                splits = {split: (data.x[split], data.y[split]) for split in SPLITS}
                store.log_data_inputs(client, run_id, p.dataset, data_dir, digest, splits)
            resuming = resume.ResumeState(epoch, resume.backup_dir(key), resumed)
            steps = runtime.steps_for(p.config, len(data.x["train"]), batch_size)
            with runtime.executing(model, steps):
                history, seconds = fit(p, data, model, datasets, client, run_id, resuming)
                metrics = evaluate(model, datasets["test"], history, seconds)
            store.log_metrics(client, run_id, metrics, step=0)
            with tempfile.TemporaryDirectory() as artifacts:
                _write_artifacts(p, data, model, history, record.name, artifacts)
                client.log_artifacts(run_id, artifacts)
            if p.mlflow.log_model:
                client.log_model(run_id, model, data.x["test"][:5])
    return run_id, metrics, history, client


def fit(
    p: Plan,
    data: TaskData,
    model,
    datasets,
    client,
    run_id: str,
    resuming: resume.ResumeState,
):
    """Fit with the per-epoch logger and backup (and early stopping if on), from the
    backup's epoch if there is one; the history and the seconds."""
    import keras

    # lazy, for cost: they import TensorFlow
    from pipeline.training.callbacks import EpochLogger, RunBackup, ShuffleEpoch, StopOnSignal

    n_grad = min(p.runtime.grad_norm_samples, len(data.x["train"]))
    logged = resuming.resumed.logged_steps if resuming.resumed else ()
    logger = EpochLogger(
        client,
        run_id,
        np.asarray(data.x["train"][:n_grad], np.float32),
        data.y["train"][:n_grad],
        p.loss.loss,
        logged_steps=logged,
    )
    backup = RunBackup(resuming.backup_dir, logger)
    # The logger writes an epoch's row before the backup saves it with the weights.
    callbacks = [ShuffleEpoch(resuming.epoch), logger, backup]
    es = p.training.early_stopping
    if es.enabled:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=es.monitor,
                patience=es.patience,
                min_delta=es.min_delta,
                restore_best_weights=es.restore_best_weights,
            )
        )
    callbacks.append(StopOnSignal())  # last: an epoch is logged and backed up first
    started = time.perf_counter()
    # shuffle=False: tf.data already shuffles, with the run's seed.
    with interrupt.deferred():  # a signal stops the fit between steps (pipeline.system.interrupt)
        model.fit(
            datasets["train"],
            validation_data=datasets["validation"],
            epochs=p.epochs,
            callbacks=callbacks,
            shuffle=False,
            verbose=p.runtime.verbose,
        )
    if backup.restored_epochs:
        client.set_tag(run_id, contract.RESUMED_TAG, str(backup.restored_epochs))
    return pd.DataFrame(logger.rows), time.perf_counter() - started


def evaluate(model, test_ds, history: pd.DataFrame, train_seconds: float) -> dict[str, float]:
    """The test metrics (``test_*``), the fit's seconds and the epochs it ran."""
    evaluated = model.evaluate(test_ds, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in evaluated.items()}
    metrics["train_seconds"] = train_seconds
    metrics["epochs_run"] = float(len(history))
    return metrics


def _write_artifacts(
    p: Plan,
    data: TaskData,
    model,
    history: pd.DataFrame,
    name: str,
    folder: str,
) -> None:
    """Into ``folder``: the config, the history, the learning curves and (classification)
    the confusion matrix."""
    from pipeline.training import plots  # lazy, for cost: it imports matplotlib

    tmp = Path(folder)
    (tmp / "config.yaml").write_text(redact(p.config_yaml))  # a URI's password stays out
    plots.learning_curves(history, p.loss.primary_metric, tmp / "learning_curves.png", name)
    history.to_csv(tmp / contract.HISTORY_FILE, index=False)
    if p.task is not Task.regression:
        batch = runtime.predict_batch(p.config["model"]["name"], p.training.batch_size)
        test = make_dataset(data.x["test"], data.y["test"], batch, False, 0)
        predicted = model.predict(test, verbose=0)
        pred_labels = (
            np.argmax(predicted, axis=1)
            if predicted.shape[1] > 1
            else (predicted[:, 0] > p.loss.accuracy_threshold).astype(int)
        )
        matrix = plots.confusion_matrix(data.labels["test"], pred_labels, len(data.class_names))
        plots.plot_confusion_matrix(matrix, data.class_names, tmp / "confusion_matrix.png", name)


def _write_reports(
    folder: Path, metrics: dict[str, float], history: pd.DataFrame, run_key: str
) -> None:
    """The DVC outputs: they depend only on config, data and code, so timings (MLflow
    has them) and the run id stay out; ``run.json`` holds the run's key, by which the
    compare stage finds the run (:data:`~pipeline.config.contract.RUN_KEY_TAG`)."""
    timings = set(contract.TIMING_METRICS)
    kept_metrics = {k: v for k, v in metrics.items() if k not in timings}
    atomic_write_json(folder / "metrics.json", kept_metrics)
    atomic_write_json(folder / "run.json", {"run_key": run_key})
    kept = [c for c in history.columns if c not in timings]
    atomic_write_text(folder / contract.HISTORY_FILE, history[kept].to_csv(index=False))
