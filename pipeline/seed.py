"""The one place a run's seed is applied, and the TensorFlow runtime configured."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def configure_runtime(intra_op_threads: int = 0, inter_op_threads: int = 0) -> None:
    """Cap TensorFlow's thread pools (0 keeps its default).

    TensorFlow fixes its pools when it first runs an op; a later, different request
    in the same process cannot take effect and is reported, not raised.
    """
    import tensorflow as tf

    for setter, getter, value in (
        (
            tf.config.threading.set_intra_op_parallelism_threads,
            tf.config.threading.get_intra_op_parallelism_threads,
            intra_op_threads,
        ),
        (
            tf.config.threading.set_inter_op_parallelism_threads,
            tf.config.threading.get_inter_op_parallelism_threads,
            inter_op_threads,
        ),
    ):
        if value and getter() != value:
            try:
                setter(value)
            except RuntimeError as error:
                log.warning("cannot change TensorFlow threads now: %s", error)


def apply_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend, and make TensorFlow ops deterministic.

    Same config and data then give the same weights, batches, dropout masks and
    metrics, run after run.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
