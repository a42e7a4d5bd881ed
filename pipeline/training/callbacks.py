"""The Keras callbacks of a training: per-epoch metrics, timing and gradient norms
(:class:`EpochLogger`); the epoch the shuffle reads (:class:`ShuffleEpoch`); the backup
an interrupted training resumes from (:class:`RunBackup`); where a signal stops it
(:class:`StopOnSignal`).

Imports Keras and TensorFlow at module level: import it only where a model is
being trained (pipeline.training.train does so lazily, for start-up cost).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline.kinds import crossentropy
from pipeline.kinds.optimizers import effective_step
from pipeline.system.interrupt import check as raise_held_signal
from pipeline.system.io import atomic_directory, atomic_write_text
from pipeline.tracking.store import log_metrics


class EpochLogger(keras.callbacks.Callback):
    """Per epoch: Keras' logs, the epoch's seconds, the learning rate (and the effective
    step of Adagrad and RMSProp), and every layer's gradient norm, written to the MLflow
    run in one store write and kept in ``rows``.

    ``logged_steps``: epochs a resumed run's metric history already holds; they are
    not logged twice (an interruption can fall between logging and backing up).
    """

    def __init__(
        self,
        client,
        run_id: str,
        grad_x: np.ndarray,
        grad_y: np.ndarray,
        loss_name: str,
        logged_steps: Iterable[int] = (),
    ) -> None:
        super().__init__()
        self.client, self.run_id = client, run_id
        self.logged_steps = frozenset(logged_steps)
        self.grad_x, self.grad_y = grad_x, grad_y
        # The loss the model is compiled with (pipeline.kinds.crossentropy's, where it has one).
        self.loss_fn = keras.losses.get(crossentropy.get(loss_name))
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
        step = effective_step(self.model.optimizer)
        if step is not None:  # Adagrad and RMSProp: how far their step has shrunk
            row["effective_step"] = step
        row.update(self.gradient_norms())
        if epoch + 1 not in self.logged_steps:
            log_metrics(self.client, self.run_id, row, step=epoch + 1)
        self.rows.append({"epoch": epoch + 1, **row})


class ShuffleEpoch(keras.callbacks.Callback):
    """Tell the training data which epoch starts: its shuffle order is a function of
    (seed, epoch) (see :func:`pipeline.training.task_data.make_dataset`)."""

    def __init__(self, epoch: tf.Variable) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


class RunBackup(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore``, made safe to kill at any moment and carrying the history.

    After each epoch the weights, the optimizer's state, the epoch and the
    :class:`EpochLogger`'s rows are written to a temporary folder that then
    replaces ``<backup_dir>/state`` (:func:`pipeline.system.io.atomic_directory`): a
    SIGKILL leaves the previous epoch's state or the new one, never a mix. At the
    start of ``fit`` a state found there is restored, rows included, and training
    continues with the next epoch. Place it after the logger, which writes the rows.
    The folder is kept after ``fit``: the caller removes it once the run is recorded.
    """

    STATE = "state"
    WEIGHTS, METADATA = "latest.weights.h5", "training_metadata.json"

    def __init__(self, backup_dir: str | Path, logger: EpochLogger) -> None:
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.logger = logger
        self.restored_epochs = 0
        state = Path(backup_dir) / self.STATE
        self._weights_path = str(state / self.WEIGHTS)
        self._training_metadata_path = str(state / self.METADATA)

    def _load_model(self):
        super()._load_model()  # the weights and optimizer state; the epoch to start at
        metadata = Path(self._training_metadata_path)
        if metadata.is_file():
            saved = json.loads(metadata.read_text())
            self.restored_epochs = saved["epoch"]
            self.logger.rows = saved["rows"]

    def _save_model(self):
        with atomic_directory(Path(self.backup_dir) / self.STATE) as tmp:
            self.model.save_weights(str(tmp / self.WEIGHTS))
            metadata = {"epoch": self._current_epoch, "batch": 0, "rows": self.logger.rows}
            # Unsorted: the rows' keys keep their order, the history's columns.
            atomic_write_text(tmp / self.METADATA, json.dumps(metadata))


class StopOnSignal(keras.callbacks.Callback):
    """Raise a SIGINT or SIGTERM that :func:`pipeline.system.interrupt.deferred` held back, at
    the end of a batch (an execution of ``steps_per_execution`` of them) or an epoch:
    between TensorFlow's calls, never inside one. Place it last, so that an epoch's end
    logs and backs the epoch up before it stops."""

    def on_train_batch_end(self, batch, logs=None):
        raise_held_signal()

    def on_test_batch_end(self, batch, logs=None):
        raise_held_signal()

    def on_epoch_end(self, epoch, logs=None):
        raise_held_signal()
