"""A dataset as one task needs it: the preprocessed splits with targets encoded for the
loss (one-hot, integers, 0/1 or real values), and the tf.data pipelines over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config.schemas import Task
from pipeline.data.preprocess import load_splits
from pipeline.kinds.losses import encode_labels
from pipeline.training.planning import Plan

SPLITS = ("train", "validation", "test")


@dataclass
class TaskData:
    """Inputs and encoded targets per split, ready for Keras."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    # Integer class per row (classification only), for the confusion matrix.
    labels: dict[str, np.ndarray]
    input_shape: tuple[int, ...]
    class_names: list[str] = field(default_factory=list)


def load_task_data(p: Plan, data_dir: Path, target: str | None = None) -> TaskData:
    """Load the preprocessed splits and encode the targets the way the loss needs."""
    splits = load_splits(data_dir, mmap=False)  # a missing folder names its DVC stage
    x, y, labels = {}, {}, {}
    for split in SPLITS:
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


def make_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int, epoch=None
):
    """A tf.data pipeline: shuffle by (seed, epoch), batch, cast to float32, prefetch.

    Each pass's order is a function of ``seed`` and the epoch alone (a stateless
    shuffle), not of how many passes this process made before: a training resumed
    at epoch k sees the orders an uninterrupted one does. ``epoch`` is a scalar
    int64 ``tf.Variable`` read when a pass starts (training sets it each epoch, see
    :class:`pipeline.training.callbacks.ShuffleEpoch`); None: the same order every pass.
    """
    import tensorflow as tf

    if not shuffle:
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    else:
        xs, ys, n = tf.constant(x), tf.constant(y), len(x)
        epoch = tf.constant(0, tf.int64) if epoch is None else epoch

        def order(_):
            key = tf.stack([tf.constant(seed, tf.int64), tf.convert_to_tensor(epoch, tf.int64)])
            return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), key)

        indices = tf.data.Dataset.from_tensors(0).map(order).unbatch().batch(batch_size)
        data = indices.map(lambda i: (tf.gather(xs, i), tf.gather(ys, i)))
    # Sequential: under op determinism (pipeline/training/seed.py) tf.data rewrites a parallel map
    # into this one anyway, and the rewrite printed a NodeDef error line on every run.
    data = data.map(lambda a, b: (tf.cast(a, tf.float32), b))
    return data.prefetch(tf.data.AUTOTUNE)
