"""pipeline.kinds.layers: every contraction in chunks of CHUNK, added left to right, checked
bit for bit against NumPy's float32 arithmetic (each product term rounded, then each
addition, in order), which every IEEE machine computes alike. On the pin's one thread
(tests/conftest.py), as every training runs."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.kinds import keras_file, layers
from pipeline.kinds.layers import CHUNK, Dense


def sequential(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in float32, one term after another (no fused multiply-add)."""
    total = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        total = total + a[:, k : k + 1] * b[k : k + 1, :]
    return total


def chunked(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The reference of pipeline.kinds.layers: chunks of CHUNK, each in one sweep, then
    their sums added left to right."""
    parts = [sequential(a[:, s : s + CHUNK], b[s : s + CHUNK]) for s in range(0, a.shape[1], CHUNK)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def ints(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # Small integers over 64: exact in float32, yet their products' sums round.
    return (rng.integers(-200, 200, shape) / 64).astype(np.float32)


def test_a_contraction_of_chunk_length_is_one_sweep_in_order():
    """What the chunk size rests on: TensorFlow sums a CHUNK-long product in one sweep."""
    rng = np.random.default_rng(0)
    a, b = ints(rng, (32, CHUNK)), ints(rng, (CHUNK, 256))
    np.testing.assert_array_equal(tf.matmul(a, b).numpy(), sequential(a, b))


@pytest.mark.parametrize("k", [4, CHUNK, 784, 1000])
def test_the_product_is_the_left_fold_of_its_chunks(k):
    rng = np.random.default_rng(k)
    x, w = ints(rng, (32, k)), ints(rng, (k, 256))
    np.testing.assert_array_equal(layers.matmul(x, w).numpy(), chunked(x, w))


@pytest.mark.parametrize("rows", [32, CHUNK, 600])
def test_both_gradients_are_chunked_along_their_contraction(rows):
    """dx = g @ w.T contracts the outputs (here 300: two chunks); dw = x.T @ g the batch,
    in chunks of CHUNK rows (600: 256 + 256 + 88)."""
    rng = np.random.default_rng(rows)
    x, w = ints(rng, (rows, 64)), ints(rng, (64, 300))
    g = ints(rng, (rows, 300))
    xv, wv = tf.constant(x), tf.Variable(w)
    with tf.GradientTape() as tape:
        tape.watch(xv)
        y = layers.matmul(xv, wv)
    dx, dw = tape.gradient(y, [xv, wv], output_gradients=tf.constant(g))
    np.testing.assert_array_equal(dx.numpy(), chunked(g, w.T))
    np.testing.assert_array_equal(dw.numpy(), chunked(x.T, g))


def test_the_gradients_inside_a_compiled_function_are_the_same():
    rng = np.random.default_rng(3)
    x, w, g = ints(rng, (600, 64)), ints(rng, (64, 256)), ints(rng, (600, 256))
    wv = tf.Variable(w)

    @tf.function
    def grad(xs):
        with tf.GradientTape() as tape:
            y = layers.matmul(xs, wv)
        return tape.gradient(y, wv, output_gradients=tf.constant(g))

    np.testing.assert_array_equal(grad(tf.constant(x)).numpy(), chunked(x.T, g))


def test_the_dense_layer_computes_what_keras_dense_does():
    rng = np.random.default_rng(4)
    x = rng.random((40, 784), dtype=np.float32)
    ours = Dense(128, activation="tanh")
    theirs = keras.layers.Dense(128, activation="tanh")
    ours.build((None, 784))
    theirs.build((None, 784))
    theirs.set_weights(ours.get_weights())
    reference = np.tanh(x.astype(np.float64) @ ours.get_weights()[0] + ours.get_weights()[1])
    np.testing.assert_allclose(ours(x).numpy(), reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), rtol=1e-5, atol=1e-6)


def test_a_saved_model_loads_the_layer_without_custom_objects(tmp_path):
    model = keras.Sequential([keras.Input((6,)), Dense(3, name="out")])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("out")) is Dense
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_a_file_saved_by_the_pipeline_names_keras_dense_and_loads_with_keras_alone(tmp_path):
    model = keras.Sequential([keras.Input((6,)), Dense(3, activation="tanh", name="out")])
    path = keras_file.save(model, tmp_path / "m.keras")
    with zipfile.ZipFile(path) as saved:
        config = json.loads(saved.read(keras_file.CONFIG_ENTRY))
    layer = config["config"]["layers"][-1]
    # Keras resolves this by its own API name, never through our registrations, so it
    # loads where the pipeline was never imported (mlflow models serve, a notebook).
    assert (layer["module"], layer["class_name"], layer["registered_name"]) == (
        "keras.layers",
        "Dense",
        None,
    )
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("out")) is keras.layers.Dense
    x = np.arange(12, dtype=np.float32).reshape(2, 6) / 12
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
