"""Train one configuration, log it to MLflow, and return its results.

Usage (direct, for exploration; Hydra overrides on the command line)::

    python -m pipeline.train dataset=fashion_mnist optimizer=nag activation=elu \
        training.batch_size=64

``dvc repro`` trains through ``pipeline.stages.train`` instead, which reads
``params.yaml`` (so ``dvc exp run -S ...`` overrides reach it).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from pipeline import labels
from pipeline.config import Task, pick, to_yaml, validate

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """Everything decided from the config alone, before any data is read."""

    dataset: str
    task: Task
    classes: list[str]
    image: bool
    loss: Any  # pipeline.losses.LossPlan
    positive_index: int | None = None
    epochs: int = 1
    full_batch: bool = False


@dataclass
class TaskData:
    """Inputs and encoded targets per split, ready for Keras."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    # Integer class per row (classification only), for the confusion matrix.
    labels: dict[str, np.ndarray]
    input_shape: tuple[int, ...]
    class_names: list[str] = field(default_factory=list)


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    metrics: dict[str, float]
    history: pd.DataFrame
    model: Any = None


# ------------------------------------------------------------------ planning
def _positive_index(value: Any, classes: list[str], dataset: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    if isinstance(value, str) and value in classes:
        return classes.index(value)
    raise ValueError(
        f"dataset.positive_class={value!r} is not a class of {dataset}; valid: "
        f"an index 0..{len(classes) - 1} or one of {classes}"
    )


def plan(cfg: DictConfig) -> Plan:
    """Check every choice and combination before any data is read or any run starts.

    Raises:
        ValueError: naming the bad value and the valid ones.
    """
    from pipeline import activations, losses, models, optimizers

    name = cfg.dataset.name
    source = pick(cfg.data.datasets, name, "dataset")
    classes = list(source.classes)
    image = source.format == "idx"
    task = Task(cfg.dataset.task)
    if task is Task.regression and image:
        raise ValueError(
            f"task 'regression' needs tabular data; {name} is images. "
            f"Valid tasks for {name}: multiclass, binary"
        )
    if task is Task.regression and cfg.dataset.target is None:
        raise ValueError("task 'regression' needs dataset.target (the feature to predict)")
    n_outputs = len(classes) if task is Task.multiclass else 1
    loss_plan = losses.resolve(task, cfg.loss.name, n_outputs, cfg.model.get("output_activation"))
    models.get(cfg.model.name)
    if cfg.model.name == "cnn" and not image:
        raise ValueError(f"model 'cnn' needs image data; {name} is tabular. Valid models: mlp")
    activations.get(cfg.activation.name)
    optimizers.get(cfg.optimizer)  # builds (and so checks) the optimizer
    if cfg.training.batch_size < 1:
        raise ValueError(f"training.batch_size={cfg.training.batch_size} must be at least 1")
    epochs = cfg.training.epochs if cfg.training.epochs is not None else cfg.dataset.epochs
    if epochs < 1:
        raise ValueError(f"training.epochs={epochs} must be at least 1")
    return Plan(
        dataset=name,
        task=task,
        classes=classes,
        image=image,
        loss=loss_plan,
        positive_index=(
            _positive_index(cfg.dataset.positive_class, classes, name)
            if task is Task.binary
            else None
        ),
        epochs=int(epochs),
        full_batch=optimizers.is_full_batch(cfg.optimizer),
    )


# ------------------------------------------------------------------ data
def load_task_data(p: Plan, data_dir: Path, target: str | None = None) -> TaskData:
    """Load the preprocessed splits and encode the targets the way the loss needs."""
    from pipeline.data.preprocess import load_splits
    from pipeline.losses import encode_labels

    if not (data_dir / "meta.json").is_file():
        raise FileNotFoundError(
            f"no preprocessed data in {data_dir}; run `dvc repro preprocess@{p.dataset}` first"
        )
    splits = load_splits(data_dir, mmap=False)
    x, y, labels = {}, {}, {}
    for split in ("train", "validation", "test"):
        features, classes = splits.x[split], splits.y[split]
        if p.task is Task.regression:
            names = splits.meta["features"]
            if target not in names:
                raise ValueError(f"dataset.target={target!r}; valid features: {names}")
            t = names.index(target)
            scaler = splits.meta["scaler"]
            # Predict the target in its own units (cm), from the other features.
            target_cm = features[:, t] * scaler["std"][t] + scaler["mean"][t]
            y[split] = encode_labels(target_cm, p.loss, 1)
            x[split] = np.delete(features, t, axis=1)
            continue
        if p.task is Task.binary:
            classes = (classes == p.positive_index).astype(np.int64)
        labels[split] = classes
        n = len(p.classes) if p.task is Task.multiclass else 2
        y[split] = encode_labels(classes, p.loss, n)
        x[split] = features
    names = p.classes if p.task is Task.multiclass else ["rest", p.classes[p.positive_index or 0]]
    return TaskData(
        x=x,
        y=y,
        labels=labels,
        input_shape=tuple(x["train"].shape[1:]),
        class_names=names if p.task is not Task.regression else [],
    )


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int):
    """A tf.data pipeline: cast to float32, shuffle with the run's seed, batch, prefetch."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size).map(
        lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE
    )
    return data.prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------ callbacks
def _epoch_logger(client, run_id: str, grad_x: np.ndarray, grad_y: np.ndarray, loss_name: str):
    """Per-epoch bookkeeping: time, learning rate, layer gradient norms, one MLflow write."""
    import keras
    import tensorflow as tf

    from pipeline.tracking import log_metrics

    loss_fn = keras.losses.get(loss_name)

    class EpochLogger(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict[str, float]] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def gradient_norms(self) -> dict[str, float]:
            # The vanishing-gradient diagnostic: the norm of d(loss)/d(weights) of
            # every layer, on a fixed slice of the training data.
            layers = [layer for layer in self.model.layers if layer.trainable_weights]
            with tf.GradientTape() as tape:
                pred = self.model(grad_x, training=False)
                loss = tf.reduce_mean(loss_fn(grad_y, pred))
            grads = tape.gradient(loss, [layer.trainable_weights for layer in layers])
            norms = {}
            for layer, layer_grads in zip(layers, grads, strict=True):
                squares = [tf.reduce_sum(tf.square(g)) for g in layer_grads if g is not None]
                norms[f"grad_norm/{layer.name}"] = (
                    float(tf.sqrt(tf.add_n(squares))) if squares else 0.0
                )
            return norms

        def on_epoch_end(self, epoch, logs=None):
            row = {k: float(v) for k, v in (logs or {}).items()}
            row["epoch_seconds"] = time.perf_counter() - self._start
            row["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )
            row.update(self.gradient_norms())
            log_metrics(client, run_id, row, step=epoch + 1)
            self.rows.append({"epoch": epoch + 1, **row})

    return EpochLogger()


# ------------------------------------------------------------------ training
def default_run_name(cfg: DictConfig, full_batch: bool) -> str:
    """``mlflow.run_name``, else one built from the choices (``mnist-relu-adam-bs32``)."""
    from pipeline.tracking import run_name

    batch = "full" if full_batch else cfg.training.batch_size
    return cfg.mlflow.run_name or run_name(
        cfg.dataset.name, cfg.activation.name, cfg.optimizer.name, batch
    )


def run_params(cfg: DictConfig, p: Plan, batch_size: int) -> dict[str, str]:
    """The params a run logs: its loggable config (see :func:`pipeline.tracking.run_params`)
    and ``effective.*``, what the run really used where the config leaves it open."""
    from pipeline import tracking

    params = tracking.run_params(
        tracking.flatten(OmegaConf.to_container(cfg, resolve=True)), p.dataset
    )
    params.update(
        {
            "effective.batch_size": str(batch_size),
            "effective.epochs": str(p.epochs),
            "effective.loss": p.loss.loss,
            "effective.output_activation": p.loss.output_activation,
        }
    )
    return params


def train(
    cfg: DictConfig,
    data_root: str | os.PathLike[str] = "data/processed",
    reports_dir: str | os.PathLike[str] | None = None,
    model_path: str | os.PathLike[str] | None = None,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    run_name_suffix: str = "",
    label_keys: Sequence[str] = (),
) -> TrainResult:
    """Train the configured model on one dataset and log the run to MLflow.

    Args:
        cfg: The composed configuration (validated against the schemas here).
        data_root: Folder holding ``<dataset>/`` as written by the preprocess stage.
        reports_dir: If set, write ``metrics.json`` and ``history.csv`` there (DVC outputs).
        model_path: If set, save the trained model there (``.keras``).
        parent_run_id: Log as a child of this MLflow run (sweeps).
        extra_tags: More MLflow tags for the run.
        run_name_suffix: Appended to the run name (a sweep's seed, ``-s43``).
        label_keys: The config keys whose values name the run's configuration (a
            sweep's swept keys); none: its headline choices (see :mod:`pipeline.labels`).

    Returns:
        The run's id, final metrics, per-epoch history and the model.
    """
    from pipeline.seed import apply_seed, configure_runtime

    cfg = validate(cfg)
    # Before anything creates a TensorFlow object (plan() builds the optimizer):
    # TensorFlow fixes its thread pools then.
    configure_runtime(cfg.runtime.intra_op_threads, cfg.runtime.inter_op_threads)
    p = plan(cfg)  # every choice checked before any data is read or run created
    data_dir = Path(data_root) / p.dataset
    data = load_task_data(p, data_dir, cfg.dataset.target)

    import keras
    import mlflow

    from pipeline import models, optimizers, plots, tracking

    keras.backend.clear_session()
    apply_seed(cfg.training.seed)

    n_train = len(data.x["train"])
    batch_size = n_train if p.full_batch else cfg.training.batch_size
    model = models.build(
        OmegaConf.to_container(cfg.model),
        OmegaConf.to_container(cfg.activation),
        data.input_shape,
        p.loss.output_units,
        p.loss.output_activation,
        p.image,
    )
    model.compile(
        optimizer=optimizers.get(cfg.optimizer),
        loss=p.loss.loss,
        metrics=p.loss.metrics(),
        steps_per_execution=cfg.runtime.steps_per_execution,
        jit_compile=cfg.runtime.jit_compile,
    )
    train_ds = make_dataset(
        data.x["train"], data.y["train"], batch_size, cfg.training.shuffle, cfg.training.seed
    )
    val_ds = make_dataset(data.x["validation"], data.y["validation"], batch_size, False, 0)
    test_ds = make_dataset(data.x["test"], data.y["test"], batch_size, False, 0)

    root = tracking.project_root()  # the code and data of this run (a queued copy's own)
    uri = tracking.tracking_uri(cfg.mlflow.tracking_uri)
    experiment = cfg.mlflow.experiment_name or p.dataset
    experiment_id = tracking.ensure_experiment(uri, experiment)
    client = mlflow.MlflowClient(uri)
    name = default_run_name(cfg, p.full_batch) + run_name_suffix
    params = run_params(cfg, p, batch_size)
    tags = {
        **tracking.source_tags(root),
        **tracking.version_tags(),
        **tracking.data_tags(data_dir, root),
        "task": p.task.value,
        labels.CONFIGURATION_TAG: labels.label(params, labels.param_keys(label_keys, params)),
        **(extra_tags or {}),
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id

    n_grad = min(cfg.runtime.grad_norm_samples, n_train)
    with (
        tracking.global_tracking_uri(uri),
        mlflow.start_run(
            experiment_id=experiment_id,
            run_name=name,
            tags=tags,
            log_system_metrics=cfg.mlflow.system_metrics,
        ) as run,
    ):
        run_id = run.info.run_id
        # A failure inside the run leaves its reason on the (FAILED) run.
        with tracking.recording_errors(client, run_id):
            tracking.log_params(client, run_id, params)
            tracking.log_data_inputs(
                client,
                run_id,
                p.dataset,
                data_dir,
                tags[tracking.DATA_DIGEST_TAG],
                {split: (data.x[split], data.y[split]) for split in data.x},
            )
            logger = _epoch_logger(
                client,
                run_id,
                np.asarray(data.x["train"][:n_grad], np.float32),
                data.y["train"][:n_grad],
                p.loss.loss,
            )
            callbacks = [logger]
            es = cfg.training.early_stopping
            if es.enabled:
                callbacks.append(
                    keras.callbacks.EarlyStopping(
                        monitor=es.monitor,
                        patience=es.patience,
                        min_delta=es.min_delta,
                        restore_best_weights=es.restore_best_weights,
                    )
                )
            started = time.perf_counter()
            # shuffle=False: tf.data already shuffles, with the run's seed.
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=p.epochs,
                callbacks=callbacks,
                shuffle=False,
                verbose=cfg.runtime.verbose,
            )
            train_seconds = time.perf_counter() - started
            history = pd.DataFrame(logger.rows)

            evaluated = model.evaluate(test_ds, verbose=0, return_dict=True)
            metrics = {f"test_{k}": float(v) for k, v in evaluated.items()}
            metrics["train_seconds"] = train_seconds
            metrics["epochs_run"] = float(len(history))
            # Step 0, like any once-logged metric: the UI's chart view then draws these
            # as bar charts, one bar per run or per group of runs.
            tracking.log_metrics(client, run_id, metrics, step=0)

            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                (tmp / "config.yaml").write_text(to_yaml(cfg))
                primary = p.loss.primary_metric
                plots.learning_curves(history, primary, tmp / "learning_curves.png", name)
                history.to_csv(tmp / "history.csv", index=False)
                if p.task is not Task.regression:
                    predicted = model.predict(test_ds, verbose=0)
                    pred_labels = (
                        np.argmax(predicted, axis=1)
                        if predicted.shape[1] > 1
                        else (predicted[:, 0] > p.loss.accuracy_threshold).astype(int)
                    )
                    matrix = plots.confusion_matrix(
                        data.labels["test"], pred_labels, len(data.class_names)
                    )
                    plots.plot_confusion_matrix(
                        matrix, data.class_names, tmp / "confusion_matrix.png", name
                    )
                mlflow.log_artifacts(str(tmp))
            if cfg.mlflow.log_model:
                _log_model(model, data.x["test"][:5])

    if reports_dir is not None:
        _write_reports(Path(reports_dir), metrics, history, run_id)
    if model_path is not None:
        _save_model(model, Path(model_path))
    return TrainResult(run_id=run_id, metrics=metrics, history=history, model=model)


def _save_keras_model(path: str, **kwargs: Any) -> None:
    import mlflow.keras

    # MLflow 3.17's keras flavor writes the input example into the model folder
    # before creating it (mlflow/mlflow#16183): create it first.
    os.makedirs(path, exist_ok=True)
    mlflow.keras.save_model(path=path, **kwargs)


def _log_model(model, example: np.ndarray) -> None:
    """Log the model with the mlflow.keras flavor, its signature and an input example."""
    from types import SimpleNamespace

    from mlflow.models import Model, infer_signature

    example = np.asarray(example, np.float32)
    signature = infer_signature(example, model.predict(example, verbose=0))
    # What mlflow.keras.log_model does, with a flavor whose save_model has the fix above.
    flavor = SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)
    Model.log(
        artifact_path=None,
        name="model",
        flavor=flavor,
        model=model,
        signature=signature,
        input_example=example,
    )


def _write_reports(
    folder: Path, metrics: dict[str, float], history: pd.DataFrame, run_id: str
) -> None:
    from pipeline.io import atomic_write_json, atomic_write_text

    atomic_write_json(folder / "metrics.json", metrics)
    atomic_write_json(folder / "run.json", {"run_id": run_id})
    atomic_write_text(folder / "history.csv", history.to_csv(index=False))


def _save_model(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # Keras insists on the suffix
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------ entry point
def _hydra_task(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from pipeline import sweep

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN and os.environ.get(sweep.PARENT_ENV):
        results = sweep.run_job(cfg, hydra_cfg)
        values = [r.get("test_accuracy", r.get("test_rmse")) for r in results]
        return float(np.mean(values)) if values else None
    result = train(cfg)
    shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items()))
    print(f"run {result.run_id}: {shown}")
    # The value a Hydra sweeper would optimise: the task's primary test metric.
    return result.metrics.get("test_accuracy", result.metrics.get("test_rmse"))


def main() -> None:
    """``python -m pipeline.train [OVERRIDE ...]``: compose conf/ with Hydra and train."""
    import hydra

    from pipeline.config import register_configs
    from pipeline.tracking import project_root

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
    register_configs()
    conf = project_root() / "conf"
    hydra.main(config_path=str(conf), config_name="config", version_base="1.3")(_hydra_task)()


if __name__ == "__main__":
    main()
