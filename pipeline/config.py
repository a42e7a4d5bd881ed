"""Configuration: schemas, Hydra composition, and the generated ``params.yaml``.

Each key is written once. The schemas below hold every key's type and default;
``conf/`` holds the choices (one file per option) and only the values that differ
from a schema's default (``momentum: 0.9`` for ``optimizer=momentum``).
``params.yaml`` is what DVC reads as stage params; it is the composed whole,
generated from ``conf/`` by the ``config`` stage of ``dvc repro``
(``python -m pipeline.stages.config``), or by DVC itself under ``dvc exp run``
(its Hydra composition, with the ``-S`` overrides applied).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Optional, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from pipeline.io import atomic_write_text
from pipeline.paths import project_root

CONFIG_NAME = "config"
T = TypeVar("T")


# ---------------------------------------------------------------- data schema
@dataclass
class FileFacts:
    """Published identity of one raw file."""

    sha256: str = MISSING
    size: int = MISSING


@dataclass
class SplitSizes:
    """Split sizes: a float in (0, 1) is a fraction of all rows, an integer a row count.

    ``test`` is left out for datasets that ship an official test set.
    """

    validation: Any = MISSING
    test: Any = None


@dataclass
class DatasetSource:
    """Where one dataset's raw files come from, and how it is split."""

    format: str = MISSING  # raw file format: idx or iris_csv (pipeline.data.preprocess.FORMATS)
    mirror_dir: str = MISSING
    urls: list[str] = field(default_factory=list)
    files: dict[str, FileFacts] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    split: SplitSizes = field(default_factory=SplitSizes)


@dataclass
class DownloadOptions:
    """How hard to try each source (not DVC params: they never change the bytes)."""

    retries: int = 3  # extra attempts per URL after a network error or a 5xx
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    timeout: float = 60.0  # seconds a connection may stall


@dataclass
class DataConfig:
    """The ``data`` section: the dataset catalogue, the split seed, download options."""

    seed: int = 42  # the seed of every train/validation/test split
    download: DownloadOptions = field(default_factory=DownloadOptions)
    datasets: dict[str, DatasetSource] = field(default_factory=dict)


# ---------------------------------------------------------------- experiment schema
class Task(StrEnum):
    """What the network predicts (the lecture's task / output / loss table)."""

    multiclass = "multiclass"  # softmax + categorical cross-entropy
    binary = "binary"  # sigmoid + binary cross-entropy (one class against the rest)
    regression = "regression"  # linear + mean squared error


@dataclass
class DatasetConfig:
    """Which dataset to train on, and as what task."""

    name: str = MISSING  # a key of data.datasets
    task: Task = Task.multiclass
    # binary: the class (index or name) predicted against all the others
    positive_class: Any = 0
    # regression (tabular data only): the feature predicted from the others
    target: Optional[str] = None  # noqa: UP045
    epochs: int = MISSING  # this dataset's default; training.epochs overrides it when set


# Activations: one schema per option that takes hyperparameters, so a key that an
# activation does not have (activation=relu activation.alpha=0.3) fails loudly.
@dataclass
class ActivationConfig:
    """An activation without hyperparameters (relu, tanh, sigmoid, ...)."""

    name: str = MISSING


@dataclass
class StepConfig(ActivationConfig):
    """Heaviside step: zero gradient almost everywhere, so hidden layers cannot learn."""

    # Replace the zero gradient by the identity's (straight-through estimator).
    straight_through: bool = False


@dataclass
class LeakyReLUConfig(ActivationConfig):
    alpha: float = 0.1  # the lecture's max(0.1x, x)


@dataclass
class ELUConfig(ActivationConfig):
    alpha: float = 1.0


@dataclass
class MaxoutConfig(ActivationConfig):
    pieces: int = 2  # linear pieces per unit: Dense(units * pieces), then the max


@dataclass
class LossConfig:
    """``auto`` follows the task table; the others are Keras losses by name."""

    name: str = "auto"


# Optimizers: the lecture's update rules with its defaults (momentum 0.9). Each
# schema's fields are its optimizer's hyperparameters (Keras constructor arguments,
# ``name`` aside) and ``keras_class`` the class pipeline.optimizers builds.
@dataclass
class OptimizerConfig:
    keras_class: ClassVar[str]
    name: str = MISSING
    learning_rate: float = 0.001
    clipnorm: Optional[float] = None  # noqa: UP045 - OmegaConf needs Optional


@dataclass
class SGDConfig(OptimizerConfig):
    keras_class = "SGD"
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False


@dataclass
class AdagradConfig(OptimizerConfig):
    keras_class = "Adagrad"
    learning_rate: float = 0.01
    initial_accumulator_value: float = 0.1
    epsilon: float = 1e-7


@dataclass
class RMSpropConfig(OptimizerConfig):
    keras_class = "RMSprop"
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False


@dataclass
class AdamConfig(OptimizerConfig):
    keras_class = "Adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False


@dataclass
class AdamWConfig(AdamConfig):
    keras_class = "AdamW"
    weight_decay: float = 0.004


@dataclass
class NadamConfig(OptimizerConfig):
    keras_class = "Nadam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7


@dataclass
class AdamaxConfig(NadamConfig):
    keras_class = "Adamax"
    learning_rate: float = 0.002  # Kingma & Ba's Adamax default


@dataclass
class AdadeltaConfig(OptimizerConfig):
    keras_class = "Adadelta"
    learning_rate: float = 1.0  # Zeiler's rule has no step size; Keras' 0.001 barely moves
    rho: float = 0.95
    epsilon: float = 1e-7


@dataclass
class LionConfig(OptimizerConfig):
    keras_class = "Lion"
    learning_rate: float = 0.0001
    beta_1: float = 0.9
    beta_2: float = 0.99


@dataclass
class MLPConfig:
    """A multilayer perceptron: Dense blocks with the chosen hidden activation."""

    name: str = MISSING
    hidden_units: list[int] = field(default_factory=lambda: [256, 128])
    dropout: float = 0.0
    kernel_initializer: str = "glorot_uniform"
    output_activation: Optional[str] = None  # noqa: UP045 - None: derived from the task


@dataclass
class CNNConfig:
    """A small CNN for the image datasets: conv blocks, then Dense blocks."""

    name: str = MISSING
    filters: list[int] = field(default_factory=lambda: [32, 64])
    kernel_size: int = 3
    dense_units: list[int] = field(default_factory=lambda: [128])
    dropout: float = 0.25
    kernel_initializer: str = "glorot_uniform"
    output_activation: Optional[str] = None  # noqa: UP045 - None: derived from the task


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False
    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best_weights: bool = True


@dataclass
class TrainingConfig:
    """Settings that change the math (and so the results)."""

    batch_size: int = 32  # the lecture's default; optimizer=gd ignores it (full batch)
    epochs: Optional[int] = None  # noqa: UP045 - None: the dataset's default
    seed: int = 42  # the one seed of a training run, applied in pipeline.seed
    shuffle: bool = True
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class RuntimeConfig:
    """Settings that must not change results: speed, threads, diagnostics.

    Not DVC params of the train stage, except ``grad_norm_samples``, which shapes the
    logged gradient norms.
    """

    steps_per_execution: int = 1
    jit_compile: bool = False
    intra_op_threads: int = 0  # 0: TensorFlow's default (all cores)
    inter_op_threads: int = 0
    # Rows of the training split used for the per-epoch gradient-norm diagnostic.
    grad_norm_samples: int = 512
    verbose: int = 2  # Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch


@dataclass
class MLflowConfig:
    """Where and how runs are logged (not DVC params: they never change results)."""

    # None: $MLFLOW_TRACKING_URI if set, else sqlite:///<repo root>/mlflow.db (an absolute
    # path, so runs queued with `dvc exp run --queue` land in the same store).
    tracking_uri: Optional[str] = None  # noqa: UP045
    experiment_name: Optional[str] = None  # noqa: UP045 - None: the dataset's name
    run_name: Optional[str] = None  # noqa: UP045 - None: from the choices (mnist-relu-adam-bs32)
    log_model: bool = True
    # CPU, memory and disk of each run, in the UI's System metrics tab (psutil), every
    # 10 s unless MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL says otherwise.
    system_metrics: bool = False


@dataclass
class SweepConfig:
    """Multirun sweeps (``python -m pipeline.train -m ...``)."""

    # Runs per configuration, with training.seed, seed + 1, ...: 3+ gives confidence intervals.
    seeds: int = 1


@dataclass
class Config:
    """The whole composed configuration (the layout of ``params.yaml``)."""

    data: DataConfig = field(default_factory=DataConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    # The datasets `dvc repro` trains a baseline on (one train stage each).
    baselines: dict[str, DatasetConfig] = field(default_factory=dict)
    model: Any = MISSING
    activation: Any = MISSING
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: Any = MISSING
    training: TrainingConfig = field(default_factory=TrainingConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    mlflow: MLflowConfig = field(default_factory=MLflowConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


# The registry of each choice kind whose options take different keys: name ->
# schema.  pipeline.activations, pipeline.optimizers and pipeline.models take their
# names from here; adding an optimizer is its conf/optimizer/<name>.yaml and one
# entry here (and a schema if it takes new hyperparameters).
OPTION_SCHEMAS: dict[str, dict[str, type]] = {
    # In the lecture's order, then modern ones. pipeline.activations defines step,
    # leaky_relu, elu and maxout itself; the others are Keras' functions of that name.
    "activation": {
        "linear": ActivationConfig,
        "step": StepConfig,
        "sigmoid": ActivationConfig,
        "tanh": ActivationConfig,
        "relu": ActivationConfig,
        "leaky_relu": LeakyReLUConfig,
        "elu": ELUConfig,
        "maxout": MaxoutConfig,
        "selu": ActivationConfig,
        "gelu": ActivationConfig,  # Keras': the exact erf form, not the tanh approximation
        "swish": ActivationConfig,  # Keras' silu: x * sigmoid(x)
        "softplus": ActivationConfig,
        "mish": ActivationConfig,
    },
    "optimizer": {
        "gd": SGDConfig,
        "sgd": SGDConfig,
        "momentum": SGDConfig,
        "nag": SGDConfig,
        "adagrad": AdagradConfig,
        "rmsprop": RMSpropConfig,
        "adam": AdamConfig,
        "adamw": AdamWConfig,
        "nadam": NadamConfig,
        "adamax": AdamaxConfig,
        "adadelta": AdadeltaConfig,
        "lion": LionConfig,
    },
    "model": {"mlp": MLPConfig, "cnn": CNNConfig},
}


def pick(mapping: Mapping[str, T], name: str, what: str) -> T:
    """``mapping[name]``, or a ValueError that names ``name`` and lists the valid names."""
    if not isinstance(name, Hashable) or name not in mapping:
        raise ValueError(f"unknown {what} {name!r}; valid {what}s: {', '.join(mapping)}")
    return mapping[name]


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="optlab_schema", node=Config)
    cs.store(group="schema", name="dataset", node=DatasetConfig)
    # Option schemas live outside the choice groups (schema/<group>/<option>), so
    # Hydra's list of valid options for a group names only real choices.
    for group, options in OPTION_SCHEMAS.items():
        for option, node in options.items():
            cs.store(group=f"schema/{group}", name=option, node=node)


# ---------------------------------------------------------------- composition
def default_config_dir() -> Path:
    """``conf/`` of the project the working directory is in (or below)."""
    return project_root() / "conf"


def compose_config(
    overrides: Sequence[str] = (), config_dir: str | os.PathLike[str] | None = None
) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides, validated by the schemas.

    Raises:
        hydra.errors.HydraException: on an unknown group option or key (the message
            names the valid options), or a value of the wrong type.
    """
    register_configs()
    config_dir = Path(config_dir or default_config_dir()).resolve()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))


def validate(cfg: DictConfig | dict) -> DictConfig:
    """Merge a plain config (e.g. ``params.yaml``) onto the schemas, so typos fail loudly.

    Raises:
        ValueError: on an unknown option name (listing the valid ones), an unknown
            key or a value of the wrong type.
    """
    merged = OmegaConf.merge(OmegaConf.structured(Config), cfg)
    for group, options in OPTION_SCHEMAS.items():
        schema = pick(options, OmegaConf.select(merged, f"{group}.name"), group)
        merged[group] = OmegaConf.merge(OmegaConf.structured(schema), merged[group])
    return merged


def load_params(path: str | os.PathLike[str] = "params.yaml") -> DictConfig:
    """Load and validate the generated ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; generate it from conf/ with `python -m pipeline.stages.config`"
        )
    return validate(OmegaConf.load(path))


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML, as written to ``params.yaml``."""
    return OmegaConf.to_yaml(cfg, resolve=True, sort_keys=False)


def write_params(cfg: DictConfig, path: str | os.PathLike[str] = "params.yaml") -> Path:
    """Write ``cfg`` to ``path`` atomically."""
    return atomic_write_text(path, to_yaml(cfg))
