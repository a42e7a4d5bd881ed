"""The speed settings (pipeline.training.runtime): many steps per TensorFlow call, the same bits.

Every activation is trained with a set of optimizers on tiny data both ways, one step
per call and many, through the project's own model and data code; the histories, the
evaluations and the weights must be identical to the bit.
"""

from __future__ import annotations

import copy
import functools
import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import DictConfig

from pipeline.config.schemas import OPTION_SCHEMAS
from pipeline.kinds import keras_file
from pipeline.kinds.layers import Dense
from pipeline.system import machine
from pipeline.training import runtime
from pipeline.training.callbacks import ShuffleEpoch
from pipeline.training.planning import plan
from pipeline.training.task_data import load_task_data, make_dataset
from pipeline.training.train import build_model
from tests.helpers import tiny_config

ACTIVATIONS = sorted(OPTION_SCHEMAS["activation"])
# The lecture's optimizers, with and without momentum and per-weight step sizes.
OPTIMIZERS_PER_ACTIVATION = ("sgd", "nag", "rmsprop", "adam")
BATCH = 8  # tiny iris: 90 training rows, 12 steps per epoch


RELU = {"activation": "relu"}
SWISH = {"activation": "swish"}


def test_unset_steps_per_execution_runs_an_epoch_per_call_up_to_the_bound():
    assert runtime.steps_per_execution(None, 90, 8, RELU) == 12  # 11.25, rounded up
    assert runtime.steps_per_execution(None, 90, 90, RELU) == 1
    assert runtime.steps_per_execution(None, 50_000, 32, RELU) == 512
    assert runtime.MAX_STEPS_PER_EXECUTION == 512
    # A value the config sets is used as it is, even above the epoch's steps.
    assert runtime.steps_per_execution(5, 90, 8, RELU) == 5
    assert runtime.steps_per_execution(100, 90, 8, RELU) == 100


@pytest.fixture
def swish_inexact(monkeypatch):
    """The mechanism, with swish on the list as it was before the CPU pin."""
    monkeypatch.setitem(runtime.ONE_STEP_PER_CALL, "activation", frozenset({"swish"}))


def test_the_steps_of_a_composed_config(mirror_dir, swish_inexact):
    cfg = tiny_config(mirror_dir, overrides=["activation=swish"])
    assert runtime.steps_for(cfg, 50_000, 32) == 1
    cfg = tiny_config(mirror_dir, overrides=["activation=tanh"])
    assert runtime.steps_for(cfg, 50_000, 32) == 512
    cfg = tiny_config(mirror_dir, overrides=["activation=tanh", "runtime.steps_per_execution=3"])
    assert runtime.steps_for(cfg, 50_000, 32) == 3


def test_a_choice_that_many_steps_per_call_change_trains_one_step_per_call(caplog, swish_inexact):
    assert runtime.steps_per_execution(None, 50_000, 32, SWISH) == 1
    assert caplog.records == []
    # Set explicitly, the setting is used, with a warning that names the choice.
    assert runtime.steps_per_execution(8, 50_000, 32, SWISH) == 8
    assert [r.getMessage() for r in caplog.records] == [
        "runtime.steps_per_execution=8 changes the results of activation=swish in their "
        "last bits (pipeline/training/runtime.py); leave it unset for identical results"
    ]


@functools.cache
def _composition(mirror_dir, overrides: tuple[str, ...]) -> DictConfig:
    return tiny_config(mirror_dir, overrides=list(overrides))


def _composed(mirror_dir, overrides: tuple[str, ...]) -> DictConfig:
    """The composed config, composed once for both fits of a comparison (a copy each)."""
    return copy.deepcopy(_composition(mirror_dir, overrides))


def _fit(mirror_dir, data_root, overrides: list[str], steps: int | None, dataset="iris"):
    """Build the configured model as training does, fit it 2 epochs on tiny data with the
    seeded per-epoch shuffle, evaluate it; ``steps``: steps per call (None: compiled)."""
    model = ["model.hidden_units=[6,5]"] if "model=cnn" not in overrides else []
    common = [f"dataset={dataset}", *model, f"training.batch_size={BATCH}"]
    cfg = _composed(mirror_dir, tuple(common + overrides))
    p = plan(cfg)
    data = load_task_data(p, data_root / dataset)
    model = build_model(p, data)
    epoch = tf.Variable(0, dtype=tf.int64)
    train = make_dataset(data.x["train"], data.y["train"], BATCH, True, 7, epoch)
    validation = make_dataset(data.x["validation"], data.y["validation"], BATCH, False, 0)

    def fit_and_evaluate():
        history = model.fit(
            train, validation_data=validation, epochs=2, shuffle=False, verbose=0,
            callbacks=[ShuffleEpoch(epoch)],
        )  # fmt: skip
        return history.history, model.evaluate(validation, verbose=0, return_dict=True)

    if steps is None:
        history, evaluated = fit_and_evaluate()
    else:
        with runtime.executing(model, steps):
            history, evaluated = fit_and_evaluate()
    weights = [np.asarray(w) for w in model.get_weights()]
    return history, evaluated, weights, model


def _same_bits(mirror_dir, data_root, overrides: list[str], steps: int, **kw) -> bool:
    """Whether one step per call and ``steps`` give identical histories, evaluations and
    weights."""
    slow = _fit(mirror_dir, data_root, overrides, None, **kw)
    fast = _fit(mirror_dir, data_root, overrides, steps, **kw)
    assert len(slow[0]["loss"]) == 2 and slow[0]["loss"][0] != slow[0]["loss"][1]  # it trained
    same_weights = [w.tobytes() for w in fast[2]] == [w.tobytes() for w in slow[2]]
    # every epoch's loss and metrics, as floats
    return fast[0] == slow[0] and fast[1] == slow[1] and same_weights


def _assert_same_bits(mirror_dir, data_root, overrides: list[str], steps: int, **kw) -> None:
    assert _same_bits(mirror_dir, data_root, overrides, steps, **kw), overrides


@pytest.mark.slow
def test_many_steps_per_call_give_the_same_bits_relu_adam(mirror_dir, data_root):
    # 12 steps per epoch: one call per epoch; 5: calls that end mid-epoch too.
    for steps in (runtime.steps_per_execution(None, 90, BATCH, RELU), 5):
        _assert_same_bits(mirror_dir, data_root, ["activation=relu", "optimizer=adam"], steps)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_gives_the_same_bits_with_many_steps_per_call(
    mirror_dir, data_root, activation
):
    same = {
        optimizer: _same_bits(
            mirror_dir, data_root, [f"activation={activation}", f"optimizer={optimizer}"], 5
        )
        for optimizer in OPTIMIZERS_PER_ACTIVATION
    }
    if activation in runtime.ONE_STEP_PER_CALL["activation"]:
        # Trained one step per call because many change its results: they still must.
        assert not all(same.values()), f"{activation} is exact now: drop it from the list"
    else:
        assert all(same.values()), same
    assert not runtime.ONE_STEP_PER_CALL["activation"]  # none, under the pin


@pytest.mark.slow
def test_the_cnn_gives_the_same_bits_with_many_steps_per_call(mirror_dir, data_root):
    overrides = ["model=cnn", "model.filters=[4]", "model.dense_units=[8]", "optimizer=adam"]
    _assert_same_bits(mirror_dir, data_root, overrides, 5, dataset="mnist")


@pytest.mark.slow
@pytest.mark.parametrize(
    "optimizer", sorted(set(OPTION_SCHEMAS["optimizer"]) - set(OPTIMIZERS_PER_ACTIVATION))
)
def test_every_other_optimizer_gives_the_same_bits_with_many_steps_per_call(
    mirror_dir, data_root, optimizer
):
    _assert_same_bits(mirror_dir, data_root, ["activation=tanh", f"optimizer={optimizer}"], 5)


@pytest.mark.slow
def test_the_model_predicts_and_saves_with_one_step_per_call(mirror_dir, data_root, tmp_path):
    """Predict traces one graph per call (unrolled over its steps), and a saved model
    keeps its compile settings: after the block the model is as compiled."""
    *_, model = _fit(mirror_dir, data_root, ["activation=relu", "optimizer=adam"], 5)
    assert model.steps_per_execution == 1
    x = np.zeros((20, 4), np.float32)
    assert model.predict(x, batch_size=8, verbose=0).shape == (20, 3)
    with zipfile.ZipFile(keras_file.save(model, tmp_path / "m.keras")) as archive:
        compiled = json.loads(archive.read("config.json"))["compile_config"]
    assert compiled["steps_per_execution"] == 1
    assert compiled["jit_compile"] is False
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert reloaded.steps_per_execution == 1


def test_the_block_restores_one_step_per_call_when_it_fails():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(RuntimeError, match="inside"), runtime.executing(model, 7):
        assert model.steps_per_execution == 7
        raise RuntimeError("inside")
    assert model.steps_per_execution == 1
    assert model.train_function is None and model.predict_function is None


def _mlp():
    return [Dense(256, "relu"), Dense(128, "relu")]


def _cnn():
    return [keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.Flatten()]


def _predictions_at_both_batches(hidden, shape):
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input(shape), *hidden(), Dense(10, "softmax")])
    x = np.random.default_rng(3).random((runtime.PREDICT_BATCH + 300, *shape), np.float32)
    small = model.predict(x, batch_size=32, verbose=0)
    large = model.predict(x, batch_size=runtime.PREDICT_BATCH, verbose=0)
    assert small.shape == (len(x), 10)
    return small.tobytes(), large.tobytes()


@pytest.mark.slow
def test_an_mlp_predicts_the_same_bits_at_the_predict_batch():
    """An MLP's confusion matrix predicts PREDICT_BATCH rows per step, not the training's
    batch: every row's prediction must be the same to the bit (on the pin's one thread)."""
    small, large = _predictions_at_both_batches(_mlp, (784,))
    assert small == large
    assert runtime.predict_batch("mlp", 32) == runtime.PREDICT_BATCH == 1024


@pytest.mark.slow
def test_the_cnn_predicts_at_its_training_batch():
    """Its convolutions round a row differently in another batch: the larger predict
    batch is turned off for it, and fails once they do not."""
    small, large = _predictions_at_both_batches(_cnn, (28, 28, 1))
    assert small != large, "the CNN predicts alike now: give it PREDICT_BATCH too"
    assert runtime.predict_batch("cnn", 32) == 32


def test_under_the_pin_every_training_runs_on_one_thread_unless_the_config_says_otherwise():
    course_mlp = [784, 256, 128, 10]
    assert machine.pinned()
    assert runtime.intra_op_threads(None, 32, course_mlp) == 1
    assert runtime.intra_op_threads(None, 512, course_mlp) == 1
    assert runtime.intra_op_threads(None, 128, None) == 1  # the CNN too
    assert runtime.intra_op_threads(0, 32, course_mlp) == 0  # set: used as it is
    assert runtime.intra_op_threads(2, 32, course_mlp) == 2
    assert runtime.PINNED_THREADS == 1


def test_without_the_pin_a_small_mlp_trains_on_one_thread(monkeypatch):
    monkeypatch.setitem(machine._state, "mode", machine.NATIVE)
    course_mlp = [784, 256, 128, 10]  # 235,000 weights
    assert runtime.intra_op_threads(None, 32, course_mlp) == 1
    assert runtime.intra_op_threads(None, 256, course_mlp) == 1  # 60 M: still faster
    assert runtime.intra_op_threads(None, 512, course_mlp) == 0  # 120 M: both cores
    assert runtime.intra_op_threads(None, 32, [784, 1024, 512, 10]) == 1  # 43 M
    assert runtime.intra_op_threads(None, 64, [784, 1024, 512, 10]) == 0  # 85 M
    assert runtime.intra_op_threads(None, 32, None) == 0  # not an MLP: the CNN
    assert runtime.ONE_THREAD_MAX_WORK == 64_000_000
