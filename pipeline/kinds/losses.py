"""The lecture's task / output / loss table, and the label encoding each loss needs.

==========  =======================  ==============================  ===========
task        output layer             loss (``auto``)                 labels
==========  =======================  ==============================  ===========
multiclass  softmax, one per class   categorical_crossentropy        one-hot
binary      sigmoid, one unit        binary_crossentropy             0 / 1
regression  linear, one unit         mse                             real
==========  =======================  ==============================  ===========

``resolve`` checks a (task, loss) choice before any training and returns a
``LossPlan``: the Keras loss name, the output layer (units and activation), the
label encoding, and the metrics.  ``encode_labels`` turns integer class indices
(or 0/1 labels, or real targets) into that encoding.

Keras is imported lazily (inside ``LossPlan.metrics``): ``resolve`` and
``encode_labels`` need only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.config.schemas import Task, pick

if TYPE_CHECKING:  # pragma: no cover
    import keras

AUTO = "auto"
LOSSES: tuple[str, ...] = (
    "mse",
    "mae",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "hinge",
)
LABEL_ENCODINGS: tuple[str, ...] = ("onehot", "int", "binary", "real")

# The losses each task allows, with the label encoding each needs; the first is `auto`.
ALLOWED: dict[Task, dict[str, str]] = {
    Task.multiclass: {
        "categorical_crossentropy": "onehot",
        "sparse_categorical_crossentropy": "int",
        "mse": "onehot",  # the lecture's MSE on a softmax classifier
        "mae": "onehot",
        "hinge": "onehot",  # Keras turns 0/1 into -1/+1 per class
        "binary_crossentropy": "onehot",  # per class
    },
    Task.binary: {
        "binary_crossentropy": "binary",
        "mse": "binary",
        "mae": "binary",
        "hinge": "binary",
    },
    Task.regression: {"mse": "real", "mae": "real"},
}
OUTPUT_ACTIVATIONS: dict[Task, str] = {
    Task.multiclass: "softmax",
    Task.binary: "sigmoid",
    Task.regression: "linear",
}
CROSS_ENTROPIES = frozenset(
    {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}
)
# Output activations whose values lie in [0, 1]: what Keras' cross-entropies
# (from_logits=False) expect.
PROBABILITY_ACTIVATIONS = frozenset({"softmax", "sigmoid", "hard_sigmoid"})


@dataclass(frozen=True)
class LossPlan:
    """How a network is trained for one task: its output layer, loss and labels.

    Attributes:
        loss: The Keras loss name passed to ``model.compile``.
        output_units: Units of the output layer.
        output_activation: Activation of the output layer.
        labels: Label encoding the loss needs: ``onehot`` (float32, N x C),
            ``int`` (int64 class indices), ``binary`` (float32 0/1, N x 1) or
            ``real`` (float32 targets, N x 1).
    """

    loss: str
    output_units: int
    output_activation: str
    labels: str

    @property
    def is_classification(self) -> bool:
        """Whether the labels are classes (anything but real-valued targets)."""
        return self.labels != "real"

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The names of :meth:`metrics`, as a fit logs them (``val_`` before each for the
        validation split): known without loading Keras."""
        return ("accuracy",) if self.is_classification else ("mae", "rmse")

    @property
    def primary_metric(self) -> str:
        """The metric that ranks runs: ``accuracy`` for classification, else ``rmse``."""
        return "accuracy" if self.is_classification else "rmse"

    @property
    def accuracy_threshold(self) -> float:
        """Decision threshold of a single-unit (binary) output.

        0.5 for 0/1 targets; 0 for hinge on an output that is not in [0, 1]
        (e.g. linear or tanh), where Keras' hinge aims at -1 / +1.
        """
        if self.loss == "hinge" and self.output_activation not in PROBABILITY_ACTIVATIONS:
            return 0.0
        return 0.5

    def metrics(self) -> list[keras.metrics.Metric]:
        """Fresh Keras metric objects for ``model.compile(metrics=...)``.

        Classification: one accuracy named ``accuracy`` that matches the label
        encoding.  Regression: ``mae`` and ``rmse``.
        """
        import keras

        if self.labels == "onehot":
            return [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if self.labels == "int":
            return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if self.labels == "binary":
            return [
                keras.metrics.BinaryAccuracy(name="accuracy", threshold=self.accuracy_threshold)
            ]
        return [
            keras.metrics.MeanAbsoluteError(name="mae"),
            keras.metrics.RootMeanSquaredError(name="rmse"),
        ]


def _task(task: Task | str) -> Task:
    """``task`` as a ``Task``; ``ValueError`` listing the valid tasks otherwise."""
    return pick({t.value: t for t in Task}, task.value if isinstance(task, Task) else task, "task")


def valid_losses(task: Task | str) -> tuple[str, ...]:
    """The loss names ``resolve`` accepts for ``task`` (``auto`` first)."""
    return (AUTO, *ALLOWED[_task(task)])


def resolve(
    task: Task | str,
    loss: str,
    num_classes: int,
    output_activation: str | None = None,
) -> LossPlan:
    """Check a (task, loss) choice and plan the output layer and label encoding.

    Args:
        task: ``multiclass``, ``binary`` or ``regression`` (a ``Task`` or its value).
        loss: ``auto`` (the lecture's table) or one of ``LOSSES``.
        num_classes: Number of classes (used by ``multiclass``: at least 2).
        output_activation: Overrides the task's output activation when set.

    Returns:
        The ``LossPlan``.

    Raises:
        ValueError: On an unknown task or loss name, a loss the task cannot train
            with (the message lists the valid ones), fewer than two classes for
            ``multiclass``, a softmax over a single output unit, or a
            cross-entropy on an output activation that is not a probability.
    """
    task = _task(task)
    pick((AUTO, *LOSSES), loss, "loss")
    allowed = ALLOWED[task]
    name = next(iter(allowed)) if loss == AUTO else loss
    if name not in allowed:
        raise ValueError(
            f"loss {loss!r} cannot train a {task.value} task; "
            f"valid losses for {task.value}: {', '.join(valid_losses(task))}"
        )

    if task is Task.multiclass:
        if int(num_classes) < 2:
            raise ValueError(f"a multiclass task needs at least 2 classes, got {num_classes}")
        units = int(num_classes)
    else:
        units = 1

    activation = output_activation or OUTPUT_ACTIVATIONS[task]
    if activation == "softmax" and units == 1:
        raise ValueError(
            f"output activation 'softmax' over the single output unit of a {task.value} "
            "task is always 1 and cannot learn; use sigmoid or linear"
        )
    if name in CROSS_ENTROPIES and activation not in PROBABILITY_ACTIVATIONS:
        raise ValueError(
            f"loss {name!r} expects probabilities, but output activation {activation!r} "
            f"does not produce them; use one of {', '.join(sorted(PROBABILITY_ACTIVATIONS))}"
        )
    return LossPlan(
        loss=name, output_units=units, output_activation=activation, labels=allowed[name]
    )


def _is_integral_number(y: np.ndarray) -> bool:
    """Whether a numeric array holds only whole numbers (e.g. ``1.0``)."""
    return bool(np.issubdtype(y.dtype, np.number) and np.all(np.mod(y, 1) == 0))


def _class_indices(y: np.ndarray, num_classes: int | None) -> np.ndarray:
    """``y`` as a 1-D int64 array of class indices, checked against ``num_classes``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D class indices, got shape {y.shape}")
    integral = np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_
    if not integral and y.size and not _is_integral_number(y):
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if num_classes is not None and y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"class indices must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    return y


def encode_labels(y: np.ndarray, plan: LossPlan, num_classes: int) -> np.ndarray:
    """Encode labels as ``plan`` needs them (numpy only).

    Args:
        y: Integer class indices (N,) for ``onehot`` / ``int``; 0/1 labels for
            ``binary`` (the caller binarises); real targets for ``real``.
        plan: The ``LossPlan`` from ``resolve``.
        num_classes: Number of classes (the width of ``onehot``).

    Returns:
        ``onehot``: float32 (N, num_classes); ``int``: int64 (N,);
        ``binary``: float32 (N, 1) of 0/1; ``real``: float32 (N, 1) (2-D input
        keeps its shape).

    Raises:
        ValueError: On labels that do not fit the encoding (out of range class
            indices, non-0/1 binary labels, a wrong shape).
    """
    if plan.labels == "onehot":
        indices = _class_indices(y, num_classes)
        return np.eye(num_classes, dtype=np.float32)[indices]
    if plan.labels == "int":
        return _class_indices(y, num_classes)
    if plan.labels == "binary":
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not np.isin(y, (0, 1)).all():
            shown = np.unique(y)[:10].tolist() if y.ndim == 1 else f"shape {y.shape}"
            raise ValueError(
                "binary labels must be a vector of 0 or 1 (binarise against the positive "
                f"class first), got {shown}"
            )
        return y.astype(np.float32).reshape(-1, 1)
    if plan.labels == "real":
        y = np.asarray(y, dtype=np.float32)
        return y.reshape(-1, 1) if y.ndim == 1 else y
    pick(LABEL_ENCODINGS, plan.labels, "label encoding")  # raises: none of the above
    raise AssertionError(f"label encoding {plan.labels!r} is valid but not handled")
