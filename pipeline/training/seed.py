"""The one place a run's seed is applied, and the TensorFlow runtime configured."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

log = logging.getLogger(__name__)

# Packages Keras imports for a feature the pipeline never uses: scikit-learn, for
# Keras' scikit-learn wrappers (half a second of every training process's start here,
# scipy included). Hidden while TensorFlow loads Keras, the wrappers become Keras' own
# stubs that say scikit-learn is missing; importing it later works as usual.
UNUSED_BY_KERAS = ("sklearn",)


@contextlib.contextmanager
def hidden(names: tuple[str, ...]) -> Iterator[None]:
    """Inside the block, ``import NAME`` raises ImportError for each of ``names`` not
    already imported, as if it were not installed; after it, they import as usual."""
    # A None in sys.modules is the import system's own "not importable" mark.
    absent = [name for name in names if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in absent:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def configure_runtime(intra_op_threads: int = 0, inter_op_threads: int = 0) -> int:
    """Cap TensorFlow's thread pools (0 keeps its default); return the intra-op threads
    in effect (0: TensorFlow's default, every core).

    TensorFlow fixes its pools when it first runs an op; a later, different request
    in the same process cannot take effect and is reported, not raised.
    """
    with hidden(UNUSED_BY_KERAS):
        import tensorflow as tf  # it loads Keras

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
    return tf.config.threading.get_intra_op_parallelism_threads()


def apply_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend, and make TensorFlow ops deterministic.

    Same config and data then give the same weights, batches, dropout masks and
    metrics, run after run.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
