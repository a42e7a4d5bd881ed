"""The one place a run's seed is applied (pipeline.seed)."""

from __future__ import annotations

import logging
import random

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import config as tf_config  # no public getter of the switch

from pipeline.seed import apply_seed, configure_runtime


def _draws() -> tuple:
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    noise = keras.layers.Dropout(0.5)(np.ones((1, 8), "float32"), training=True)
    return (
        random.random(),
        float(np.random.rand()),
        layer.kernel.numpy().tolist(),
        noise.numpy().tolist(),
    )


def test_the_same_seed_gives_the_same_weights_dropout_and_draws():
    apply_seed(7)
    first = _draws()
    apply_seed(7)
    assert _draws() == first
    apply_seed(8)
    assert _draws() != first


def test_ops_are_made_deterministic():
    apply_seed(1)
    assert tf_config.is_op_determinism_enabled()


def test_a_late_thread_request_is_reported_not_raised(caplog):
    tf.constant(1.0) + 1.0  # TensorFlow fixes its pools at the first op
    wanted = tf.config.threading.get_intra_op_parallelism_threads() + 1
    with caplog.at_level(logging.WARNING, logger="pipeline.seed"):
        configure_runtime(intra_op_threads=wanted)
    assert "cannot change TensorFlow threads now" in caplog.text
