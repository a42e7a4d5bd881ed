"""The one place a run's seed is applied (pipeline.training.seed)."""

from __future__ import annotations

import logging
import random
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config  # no public getter of the switch

from pipeline.training.seed import UNUSED_BY_KERAS, apply_seed, configure_runtime, hidden
from tests.helpers import REPO_ROOT


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
    with caplog.at_level(logging.WARNING, logger="pipeline.training.seed"):
        configure_runtime(intra_op_threads=wanted)
    assert "cannot change TensorFlow threads now" in caplog.text


def test_hidden_makes_a_module_unimportable_inside_the_block_only(tmp_path, monkeypatch):
    (tmp_path / "optlab_probe_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with (
        hidden(("optlab_probe_module",)),
        pytest.raises(ModuleNotFoundError, match="optlab_probe_module"),
    ):
        import optlab_probe_module  # noqa: F401
    import optlab_probe_module

    assert optlab_probe_module.VALUE == 42
    with hidden(("optlab_probe_module",)):  # already imported: left as it is
        import optlab_probe_module as again

    assert again is optlab_probe_module
    del sys.modules["optlab_probe_module"]


@pytest.mark.slow
def test_tensorflow_loads_keras_without_scikit_learn():
    """A fresh process: configure_runtime imports TensorFlow (and so Keras) without
    scikit-learn, Keras' wrappers say it is missing, and it imports as usual after."""
    code = (
        "import sys\n"
        "from pipeline.training.seed import configure_runtime\n"
        "configure_runtime()\n"
        "import keras.src.wrappers.fixes as fixes\n"
        "print('keras' in sys.modules, 'sklearn' in sys.modules, fixes.sklearn)\n"
        "import sklearn\n"
        "print(sklearn.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True False None\nsklearn\n"
    assert UNUSED_BY_KERAS == ("sklearn",)
