"""The per-epoch logger every training uses (pipeline.training.callbacks), on a real store."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.kinds import crossentropy
from pipeline.training.callbacks import EpochLogger
from pipeline.training.seed import apply_seed


@pytest.fixture
def client_run(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return client, client.create_run("0").info.run_id


def _linear_model(x: np.ndarray, y: np.ndarray) -> keras.Model:
    apply_seed(3)
    model = keras.Sequential(
        [keras.Input((x.shape[1],)), keras.layers.Dense(y.shape[1], name="out")]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def test_each_epoch_is_logged_with_timing_learning_rate_and_gradient_norms(client_run):
    client, run_id = client_run
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    model = _linear_model(x, y)
    logger = EpochLogger(client, run_id, x[:8], y[:8], "mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[logger], shuffle=False)

    assert [row["epoch"] for row in logger.rows] == [1, 2]
    assert set(logger.rows[0]) == {
        "epoch",
        "loss",
        "epoch_seconds",
        "learning_rate",
        "grad_norm/out",
    }
    assert logger.rows[1]["learning_rate"] == pytest.approx(0.05)
    assert logger.rows[1]["loss"] < logger.rows[0]["loss"]
    history = client.get_metric_history(run_id, "grad_norm/out")
    assert [(m.step, m.value) for m in history] == [
        (1, pytest.approx(logger.rows[0]["grad_norm/out"])),
        (2, pytest.approx(logger.rows[1]["grad_norm/out"])),
    ]


def test_the_gradient_norm_is_that_of_the_loss_on_the_fixed_slice(client_run):
    """Against numpy: for y = xW + b under MSE, dL/dW = 2/(n k) x^T (xW + b - y)."""
    client, run_id = client_run
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 3)).astype("float32"), rng.normal(size=(10, 2)).astype("float32")
    model = _linear_model(x, y)
    logger = EpochLogger(client, run_id, x, y, "mse")
    logger.set_model(model)

    kernel, bias = (w.numpy().astype("float64") for w in model.get_layer("out").weights)
    residual = x @ kernel + bias - y
    scale = 2 / residual.size
    grad_w, grad_b = scale * x.T @ residual, scale * residual.sum(axis=0)
    want = np.sqrt((grad_w**2).sum() + (grad_b**2).sum())
    assert logger.gradient_norms() == {"grad_norm/out": pytest.approx(want, rel=1e-5)}


def test_adagrad_s_effective_step_is_logged_each_epoch_and_shrinks(client_run):
    """Only for optimizers with accumulated squares (pipeline.kinds.optimizers.effective_step)."""
    client, run_id = client_run
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    model = _linear_model(x, y)
    model.compile(optimizer=keras.optimizers.Adagrad(0.1), loss="mse")
    logger = EpochLogger(client, run_id, x[:8], y[:8], "mse")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[logger], shuffle=False)

    steps = [row["effective_step"] for row in logger.rows]
    accumulators = [np.asarray(a, np.float64) for a in model.optimizer._accumulators]
    want = np.concatenate(
        [0.1 / np.sqrt(a.ravel() + model.optimizer.epsilon) for a in accumulators]
    )
    assert steps[-1] == pytest.approx(want.mean(), rel=1e-6)
    assert steps[0] > steps[1] > steps[2]
    logged = client.get_metric_history(run_id, "effective_step")
    assert [m.step for m in logged] == [1, 2, 3]


def test_the_gradient_diagnostic_takes_the_loss_the_model_is_compiled_with():
    """Binary cross-entropy is the project's (an exact division in its gradient, the same
    bits on Intel and AMD), as in model.compile; the others are Keras'."""
    assert (
        EpochLogger(None, "r", np.zeros((1, 1)), np.zeros((1, 1)), "binary_crossentropy").loss_fn
        is crossentropy.binary_crossentropy
    )
    assert (
        EpochLogger(None, "r", np.zeros((1, 1)), np.zeros((1, 1)), "mse").loss_fn
        is keras.losses.mean_squared_error
    )
