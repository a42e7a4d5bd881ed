"""pipeline.kinds.crossentropy: Keras' binary cross-entropy, against numpy, its gradient
an exact division."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pipeline.kinds import crossentropy

RNG = np.random.default_rng(3)
LOGITS = (RNG.standard_normal((32, 1)) * 6).astype(np.float32)
LABELS = RNG.integers(0, 2, (32, 1)).astype(np.float32)


def test_it_is_the_cross_entropy_of_the_sigmoids_logits_with_its_gradient():
    x = tf.constant(LOGITS)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = crossentropy.binary_crossentropy(LABELS, keras.activations.sigmoid(x))
        total = tf.reduce_sum(loss)
    grad = tape.gradient(total, x).numpy()
    p = 1 / (1 + np.exp(-LOGITS.astype(np.float64)))
    want = -(LABELS * np.log(p) + (1 - LABELS) * np.log(1 - p)).mean(axis=-1)
    np.testing.assert_allclose(loss.numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, p - LABELS, rtol=1e-6, atol=1e-7)  # d/dx = σ(x) - z


def test_it_agrees_with_keras_own_to_float32_rounding():
    y_pred = keras.activations.sigmoid(tf.constant(LOGITS))
    ours = crossentropy.binary_crossentropy(LABELS, y_pred).numpy()
    keras_own = keras.losses.binary_crossentropy(LABELS, y_pred).numpy()
    np.testing.assert_allclose(ours, keras_own, rtol=1e-6, atol=1e-7)


def test_without_logits_it_is_keras_own_and_other_names_are_left_to_keras():
    probabilities = tf.constant(np.clip(np.abs(LOGITS) / 20, 0.01, 0.99))
    ours = crossentropy.binary_crossentropy(LABELS, probabilities).numpy()
    np.testing.assert_array_equal(ours, keras.losses.binary_crossentropy(LABELS, probabilities))
    assert crossentropy.get("binary_crossentropy") is crossentropy.binary_crossentropy
    assert crossentropy.get("mse") == "mse"
