"""Binary cross-entropy that rounds the same on Intel and AMD CPUs.

Keras' binary cross-entropy on a sigmoid's output computes TensorFlow's
``sigmoid_cross_entropy_with_logits``, ``max(x, 0) - x·z + log1p(exp(-|x|))``, and the
gradient of ``log1p`` is ``grad · reciprocal(1 + u)``: the Reciprocal op, whose kernel
is Eigen's preciprocal, the CPU's RCPPS estimate refined by one Newton step, which
differs in its last bits between the two vendors. :func:`binary_crossentropy` is the
same formula with ``softplus(-|x|)`` for the last term, whose gradient divides exactly.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="optlab")
def binary_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """Keras' ``binary_crossentropy`` (the mean over the last axis), from the logits a
    sigmoid or softmax output leaves (``_keras_logits``, as Keras uses them); on any
    other output, Keras' own, from the probabilities."""
    logits = getattr(y_pred, "_keras_logits", None)
    if logits is None:
        return keras.losses.binary_crossentropy(y_true, y_pred)
    z = ops.cast(y_true, logits.dtype)
    per_unit = ops.relu(logits) - logits * z + ops.softplus(-ops.abs(logits))
    return ops.mean(per_unit, axis=-1)


# The losses written here, by the name a config gives them; any other is Keras'.
LOSSES = {fn.__name__: fn for fn in (binary_crossentropy,)}


def get(name: str) -> Any:
    """What ``model.compile(loss=...)`` takes for a loss name: the function defined here,
    else the name, for Keras to resolve."""
    return LOSSES.get(name, name)
