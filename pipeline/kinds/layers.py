"""Linear layers whose products round the same on every machine.

TensorFlow computes a matrix product on the CPU with Eigen, which splits a long
contraction (the shared dimension ``k``) into blocks sized to the CPU's L1 cache
(``evaluateProductBlockingSizesHeuristic`` in Eigen's GeneralBlockPanelKernel.h) and
adds the blocks' partial sums: a 784-long product sums as 400 + 384 on a 32 KiB L1 and
otherwise on another cache size, and rounds differently. With more than one thread it
also caps the blocks at 320 and may split ``k`` between threads. Up to :data:`CHUNK`,
every x86-64 machine with AVX2 (32 KiB of L1 or more) sums a product's ``k`` terms in
one sweep, in order, when TensorFlow runs one intra-op thread (the pin's default,
:mod:`pipeline.training.runtime`); ``tests/kinds/test_layers.py`` measures where this machine starts
to split.

:func:`matmul` therefore cuts every contraction longer than :data:`CHUNK` into chunks
of :data:`CHUNK` and adds their products left to right, a sum whose order no machine
chooses. Its gradient does the same for the two products of the backward pass, the
weight gradient's contraction being the batch. :class:`Dense` is Keras' ``Dense`` with
that product; the models build every linear layer from it.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

# The longest contraction computed as one product: at most what Eigen sums in one
# sweep on a 32 KiB L1 with one thread (400 terms), and on every thread count up to
# its multi-thread cap (320).
CHUNK = 256


def _static_chunks(a: tf.Tensor, b: tf.Tensor, transpose_a: bool, transpose_b: bool) -> tf.Tensor:
    """``op(a) @ op(b)`` with a contraction of known length, in chunks of :data:`CHUNK`
    added left to right."""
    k = b.shape[1] if transpose_b else b.shape[0]
    if k is None or k <= CHUNK:
        return tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    total = None
    for start in range(0, k, CHUNK):
        part_a = a[start : start + CHUNK] if transpose_a else a[:, start : start + CHUNK]
        part_b = b[:, start : start + CHUNK] if transpose_b else b[start : start + CHUNK]
        part = tf.matmul(part_a, part_b, transpose_a=transpose_a, transpose_b=transpose_b)
        total = part if total is None else total + part
    return total


def _rows_chunks(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """``a.T @ b`` (the contraction over the rows, a batch of unknown size), in chunks of
    :data:`CHUNK` rows added left to right."""
    rows = tf.shape(a)[0]

    def chunked() -> tf.Tensor:
        # Zero rows pad the batch to whole chunks: they add exact zeros at the end.
        padded = (rows + CHUNK - 1) // CHUNK * CHUNK
        pa = tf.reshape(tf.pad(a, [[0, padded - rows], [0, 0]]), [-1, CHUNK, a.shape[1]])
        pb = tf.reshape(tf.pad(b, [[0, padded - rows], [0, 0]]), [-1, CHUNK, b.shape[1]])
        parts = tf.matmul(pa, pb, transpose_a=True)  # one [k, n] product per chunk
        return tf.foldl(tf.add, parts[1:], initializer=parts[0])

    return tf.cond(rows <= CHUNK, lambda: tf.matmul(a, b, transpose_a=True), chunked)


@tf.custom_gradient
def matmul(x: tf.Tensor, kernel: tf.Tensor) -> tuple[tf.Tensor, Any]:
    """``x @ kernel`` for a batch ``x`` [rows, k] and a kernel [k, n], every contraction
    (forward and both gradients) in chunks of at most :data:`CHUNK` added in order."""

    def grad(upstream: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return (
            _static_chunks(upstream, kernel, transpose_a=False, transpose_b=True),
            _rows_chunks(x, upstream),
        )

    return _static_chunks(x, kernel, transpose_a=False, transpose_b=False), grad


@keras.saving.register_keras_serializable(package="optlab")
class Dense(keras.layers.Dense):
    """Keras' ``Dense`` on a 2-D input, its product computed by :func:`matmul`."""

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = matmul(inputs, tf.convert_to_tensor(self.kernel))
        if self.bias is not None:
            x = tf.nn.bias_add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x
