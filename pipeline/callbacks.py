"""The Keras callback every training uses: per-epoch metrics, timing and gradient norms.

Imports Keras and TensorFlow at module level: import it only where a model is
being trained (pipeline.training does so lazily, for start-up cost).
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from pipeline.tracking import log_metrics


class EpochLogger(keras.callbacks.Callback):
    """Per epoch: Keras' logs, the epoch's seconds, the learning rate and every layer's
    gradient norm, written to the MLflow run in one store write and kept in ``rows``."""

    def __init__(
        self, client, run_id: str, grad_x: np.ndarray, grad_y: np.ndarray, loss_name: str
    ) -> None:
        super().__init__()
        self.client, self.run_id = client, run_id
        self.grad_x, self.grad_y = grad_x, grad_y
        self.loss_fn = keras.losses.get(loss_name)
        self.rows: list[dict[str, float]] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def gradient_norms(self) -> dict[str, float]:
        """The vanishing-gradient diagnostic: the norm of d(loss)/d(weights) of every
        layer, on a fixed slice of the training data."""
        layers = [layer for layer in self.model.layers if layer.trainable_weights]
        with tf.GradientTape() as tape:
            pred = self.model(self.grad_x, training=False)
            loss = tf.reduce_mean(self.loss_fn(self.grad_y, pred))
        grads = tape.gradient(loss, [layer.trainable_weights for layer in layers])
        norms = {}
        for layer, layer_grads in zip(layers, grads, strict=True):
            squares = [tf.reduce_sum(tf.square(g)) for g in layer_grads if g is not None]
            norms[f"grad_norm/{layer.name}"] = float(tf.sqrt(tf.add_n(squares))) if squares else 0.0
        return norms

    def on_epoch_end(self, epoch, logs=None):
        row = {k: float(v) for k, v in (logs or {}).items()}
        row["epoch_seconds"] = time.perf_counter() - self._start
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row.update(self.gradient_norms())
        log_metrics(self.client, self.run_id, row, step=epoch + 1)
        self.rows.append({"epoch": epoch + 1, **row})
