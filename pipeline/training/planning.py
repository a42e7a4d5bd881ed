"""Plan a training from its config alone: every choice and combination checked, before
any data is read or any run is created, and the config read once into the typed
:class:`Plan` that every later step of a training takes (none of them reads the config)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.config.compose import to_yaml
from pipeline.config.schemas import MLflowConfig, RuntimeConfig, Task, TrainingConfig, pick
from pipeline.data.preprocess import get_format, load_meta
from pipeline.kinds import losses, optimizers
from pipeline.tracking import store


@dataclass
class Plan:
    """Everything decided from the config alone, before any data is read."""

    dataset: str
    task: Task
    classes: list[str]
    image: bool
    loss: Any  # pipeline.kinds.losses.LossPlan
    positive_index: int | None = None
    epochs: int = 1
    full_batch: bool = False
    # The Keras optimizer, built (so checked by Keras too) once, here; the model takes it.
    optimizer: Any = None
    # The config's sections the steps use, typed (the schemas' own dataclasses).
    training: TrainingConfig | None = None
    runtime: RuntimeConfig | None = None
    mlflow: MLflowConfig | None = None
    # The whole config, resolved, as plain containers: the choices' options for the
    # builders (config["model"], config["activation"]), the params a run logs.
    config: dict[str, Any] | None = None
    run_name: str = ""  # mlflow.run_name, else one made of the choices

    @property
    def config_yaml(self) -> str:
        """The config.yaml a run logs (secrets redacted when written), as params.yaml
        writes a config."""
        return to_yaml(OmegaConf.create(self.config))


def _positive_index(value: Any, classes: list[str], dataset: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    if isinstance(value, str) and value in classes:
        return classes.index(value)
    raise ValueError(
        f"dataset.positive_class={value!r} is not a class of {dataset}; valid: "
        f"an index 0..{len(classes) - 1} or one of {classes}"
    )


@dataclass
class Choices:
    """The config's choices, checked together, without Keras (:func:`check`)."""

    classes: list[str]
    image: bool
    task: Task
    loss: Any  # pipeline.kinds.losses.LossPlan
    positive_index: int | None


def check(cfg: DictConfig, data_dir: Path | None = None) -> Choices:
    """Check the combinations of a validated config (dataset and model, task and loss,
    output activation, positive class, the metric early stopping watches) without loading
    Keras: what entry points call before TensorFlow loads, and :func:`plan` builds on.
    With ``data_dir`` (the dataset's processed folder) also what its ``meta.json`` says:
    that the data is there, and a regression's target among its features.

    Raises:
        ValueError: naming the bad value and the valid ones.
    """
    name = cfg.dataset.name
    source = pick(cfg.data.datasets, name, "dataset")
    classes = list(source.classes)
    get_format(source.format)  # a format the data stages lack never made this data
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
    if cfg.model.name == "cnn" and not image:
        raise ValueError(f"model 'cnn' needs image data; {name} is tabular. Valid models: mlp")
    positive = (
        _positive_index(cfg.dataset.positive_class, classes, name) if task is Task.binary else None
    )
    _check_monitor(cfg.training.early_stopping.monitor, loss_plan)
    if data_dir is not None:
        _check_data(Path(data_dir), task, cfg.dataset.target)
    return Choices(classes, image, task, loss_plan, positive)


def _check_monitor(monitor: str, loss_plan: Any) -> None:
    """Early stopping watches a metric the fit logs (Keras would only warn, and never stop)."""
    logged = ("loss", *loss_plan.metric_names)
    valid = [*logged, *(f"val_{m}" for m in logged)]
    if monitor not in valid:
        raise ValueError(
            f"training.early_stopping.monitor={monitor!r} is not a metric this run logs; "
            f"valid: {', '.join(valid)}"
        )


def _check_data(data_dir: Path, task: Task, target: str | None) -> None:
    """The processed data is there (its ``meta.json``), and holds a regression's target."""
    meta = load_meta(data_dir)
    features = meta.get("features", [])  # tabular data only
    if task is Task.regression and target not in features:
        raise ValueError(
            f"dataset.target={target!r} is not a feature of {data_dir.name}; "
            f"valid: {', '.join(features)}"
        )


def plan(cfg: DictConfig, data_dir: Path | None = None) -> Plan:
    """Check every choice and combination (with ``data_dir``, against the data's
    ``meta.json`` too) before any data is read or any run starts.

    Raises:
        ValueError: naming the bad value and the valid ones.
    """
    from pipeline.kinds import activations, models  # lazy, for cost: they import Keras

    choices = check(cfg, data_dir)
    models.get(cfg.model.name)
    activations.get(cfg.activation.name)
    optimizer = optimizers.get(cfg.optimizer)  # building it is Keras' own check
    # Ranges (batch size, epochs, ...) are the schemas', checked by config.validate.
    epochs = cfg.training.epochs if cfg.training.epochs is not None else cfg.dataset.epochs
    full_batch = optimizers.is_full_batch(cfg.optimizer)
    return Plan(
        dataset=cfg.dataset.name,
        task=choices.task,
        classes=choices.classes,
        image=choices.image,
        loss=choices.loss,
        positive_index=choices.positive_index,
        epochs=int(epochs),
        full_batch=full_batch,
        optimizer=optimizer,
        training=OmegaConf.to_object(cfg.training),
        runtime=OmegaConf.to_object(cfg.runtime),
        mlflow=OmegaConf.to_object(cfg.mlflow),
        config=OmegaConf.to_container(cfg, resolve=True),
        run_name=store.default_run_name(cfg, full_batch),
    )
