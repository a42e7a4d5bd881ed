"""The configuration's schemas: every key's type and its one default, and the registry
of each choice kind.

Each key is written once. The dataclasses below hold every key's type and default;
``conf/`` holds the choices (one file per option) and only the values that differ
from a schema's default (``momentum: 0.9`` for ``optimizer=momentum``). Hydra
composition and ``params.yaml`` are in :mod:`pipeline.config.compose`.

The bottom of the import graph with :mod:`pipeline.config.paths`: it imports nothing of the
project, so every kind (activations, optimizers, models, losses) may ask it.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Optional, TypeVar, overload

from omegaconf import MISSING

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
# ``name`` aside) and ``keras_class`` the class pipeline.kinds.optimizers builds.
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
    seed: int = 42  # the one seed of a training run, applied in pipeline.training.seed
    shuffle: bool = True
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class RuntimeConfig:
    """Settings that must not change results: speed, threads, diagnostics.

    Not DVC params of the train stage, except ``grad_norm_samples``, which shapes the
    logged gradient norms.
    """

    # None: chosen for speed (an epoch's steps, up to a bound; pipeline/training/runtime.py).
    # Any value gives the same results.
    steps_per_execution: Optional[int] = None  # noqa: UP045
    # None: chosen for speed (one for a small MLP, pipeline/training/runtime.py); 0: TensorFlow's
    # default (every core). Any value gives the same results.
    intra_op_threads: Optional[int] = None  # noqa: UP045
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
    # Seconds the tracking store gets to answer the check before any work, and each
    # later MLflow request (pipeline.tracking.store_check; MLFLOW_HTTP_REQUEST_TIMEOUT wins).
    timeout: float = 10.0
    # CPU, memory and disk of each run, in the UI's System metrics tab (psutil), every
    # 10 s unless MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL says otherwise.
    system_metrics: bool = False


@dataclass
class CompareConfig:
    """How runs are compared: a sweep's report, the compare stage, ``optlab compare``."""

    # The margin of practical equivalence, in the ranked metric's units (test accuracy;
    # test RMSE for regression): a configuration whose mean is shown (TOST) to lie within
    # it of the best is "equivalent". Half a point of accuracy: less than the seed-to-seed
    # spread of most of the course's trainings.
    margin: float = 0.005


@dataclass
class SweepConfig:
    """Multirun sweeps (``python -m pipeline.train -m ...``)."""

    # Runs per configuration, with training.seed, seed + 1, ...: 3+ gives confidence intervals;
    # "auto": 3, then one more at a time to each configuration whose verdict against the
    # best is still undecided, up to max_seeds (pipeline.sweep.rounds).
    seeds: Any = 1
    max_seeds: int = 10


# ------------------------------------------------------------------ the course's figures
# python -m pipeline.figures (and the DVC stage `figures`): conf/figures/<name>.yaml.
@dataclass
class GalleryConfig:
    """The activation gallery: each activation and its derivative, by autodiff."""

    x_min: float = -5.0
    x_max: float = 5.0
    points: int = 501  # sample points on [x_min, x_max]
    # Maxout of a scalar input over pieces k: max_k(slope_k x + intercept_k).
    maxout_slopes: list[float] = field(default_factory=lambda: [1.0, -0.5, 0.25])
    maxout_intercepts: list[float] = field(default_factory=lambda: [0.0, -1.0, 1.5])


@dataclass
class OptimizerPathsConfig:
    """Each optimizer's path on 2-D test functions, from a common start."""

    optimizers: list[str] = field(
        default_factory=lambda: ["gd", "sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"]
    )
    functions: list[str] = field(
        default_factory=lambda: ["elongated_quadratic", "rosenbrock", "beale", "saddle"]
    )
    steps: int = 150
    # Each function's learning rate for each optimizer: one rate cannot fit them all
    # (Rosenbrock's valley needs steps a thousand times smaller than the quadratic's).
    learning_rates: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "elongated_quadratic": {
                "gd": 0.95,
                "sgd": 0.95,
                "momentum": 0.2,
                "nag": 0.2,
                "adagrad": 0.5,
                "rmsprop": 0.05,
                "adam": 0.2,
            },
            "rosenbrock": {
                "gd": 0.001,
                "sgd": 0.001,
                "momentum": 0.001,
                "nag": 0.001,
                "adagrad": 1.0,
                "rmsprop": 0.05,
                "adam": 0.3,
            },
            "beale": {
                "gd": 0.01,
                "sgd": 0.01,
                "momentum": 0.002,
                "nag": 0.002,
                "adagrad": 0.5,
                "rmsprop": 0.05,
                "adam": 0.2,
            },
            "saddle": {
                "gd": 0.05,
                "sgd": 0.05,
                "momentum": 0.01,
                "nag": 0.01,
                "adagrad": 0.1,
                "rmsprop": 0.05,
                "adam": 0.05,
            },
        }
    )
    # SGD's gradient: the true one plus Gaussian noise (a mini-batch's estimate) of
    # standard deviation sgd_noise times the gradient's norm at the start, drawn with
    # training.seed; gd follows the true gradient.
    sgd_noise: float = 0.05
    gif: bool = False  # also an animated GIF per function


@dataclass
class VanishingFigureConfig:
    """The vanishing-gradient panels: the preset's runs, and each layer's gradient norm
    at initialisation for each activation (no training)."""

    activations: list[str] = field(default_factory=lambda: ["sigmoid", "tanh", "relu"])
    depth: int = 8
    width: int = 128
    samples: int = 256  # MNIST training rows the initial gradient is taken on


@dataclass
class SoftmaxConfig:
    """Stable against naive softmax on logits shifted by growing offsets."""

    logits: list[float] = field(default_factory=lambda: [1.0, 2.0, 3.0])
    # Added to every logit: exp overflows float32 past about 88.7, and a sum of exps
    # sooner (+85.5: every naive output 0; +86: 0s and a nan; +88: all nan).
    offsets: list[float] = field(
        default_factory=lambda: [0.0, 10.0, 50.0, 85.5, 86.0, 88.0, 1000.0]
    )


@dataclass
class UpdateRulesConfig:
    """One Keras step beside the course's formula in numpy, per lecture optimizer."""

    steps: int = 3  # steps compared on the small quadratic
    learning_rate: float = 0.1


@dataclass
class FiguresConfig:
    """The course's figures, drawn from the project's own registries."""

    experiment_name: str = "lecture"  # the MLflow experiment the figures are logged to
    gallery: GalleryConfig = field(default_factory=GalleryConfig)
    paths: OptimizerPathsConfig = field(default_factory=OptimizerPathsConfig)
    vanishing: VanishingFigureConfig = field(default_factory=VanishingFigureConfig)
    softmax: SoftmaxConfig = field(default_factory=SoftmaxConfig)
    update_rules: UpdateRulesConfig = field(default_factory=UpdateRulesConfig)


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
    compare: CompareConfig = field(default_factory=CompareConfig)
    figures: FiguresConfig = field(default_factory=FiguresConfig)


# The registry of each choice kind whose options take different keys: name ->
# schema.  pipeline.kinds.activations, pipeline.kinds.optimizers and
# pipeline.kinds.models take their names from here; adding an optimizer is its
# conf/optimizer/<name>.yaml and one entry here (and a schema if it takes new
# hyperparameters).
OPTION_SCHEMAS: dict[str, dict[str, type]] = {
    # In the lecture's order, then modern ones. pipeline.kinds.activations defines step,
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


def _plural(what: str) -> str:
    return f"{what}es" if what.endswith("s") else f"{what}s"  # losses, not losss


@overload
def pick(choices: Mapping[str, T], name: Any, what: str) -> T: ...
@overload
def pick(choices: Collection[str], name: Any, what: str) -> str: ...
def pick(choices: Mapping[str, T] | Collection[str], name: Any, what: str) -> T | str:
    """The one check of a name against its valid ones: ``choices[name]`` for a mapping,
    ``name`` itself for another collection.

    Raises:
        ValueError: ``unknown <what> <name>; valid <what>s: <the names, in order>``.
    """
    if not isinstance(name, Hashable) or name not in choices:
        raise ValueError(f"unknown {what} {name!r}; valid {_plural(what)}: {', '.join(choices)}")
    return choices[name] if isinstance(choices, Mapping) else name


def pick_many(choices: Collection[str], text: str, what: str) -> list[str]:
    """A comma-separated list of names (``a,b``), each checked as :func:`pick` checks one,
    in the order given.

    Raises:
        ValueError: ``unknown <what> 'x', 'y'; valid <what>s: ...``; ``text`` itself when
            it names nothing.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        shown = ", ".join(map(repr, unknown)) or repr(text)
        raise ValueError(f"unknown {what} {shown}; valid {_plural(what)}: {', '.join(choices)}")
    return names
