"""pipeline.kinds.losses: the lecture's task / output / loss table, label encodings, metrics."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from pipeline.config.compose import compose_config
from pipeline.config.schemas import Task
from pipeline.kinds.losses import AUTO, LOSSES, LossPlan, encode_labels, resolve, valid_losses
from tests.helpers import REPO_ROOT

LOSS_FILES = sorted(p.stem for p in (REPO_ROOT / "conf" / "loss").glob("*.yaml"))
C = 3  # classes in the multiclass cases

# Every allowed (task, loss) -> (units, output activation, labels), written out here
# independently of pipeline.kinds.losses.
ALLOWED = {
    ("multiclass", "categorical_crossentropy"): (C, "softmax", "onehot"),
    ("multiclass", "sparse_categorical_crossentropy"): (C, "softmax", "int"),
    ("multiclass", "mse"): (C, "softmax", "onehot"),
    ("multiclass", "mae"): (C, "softmax", "onehot"),
    ("multiclass", "hinge"): (C, "softmax", "onehot"),
    ("multiclass", "binary_crossentropy"): (C, "softmax", "onehot"),
    ("binary", "binary_crossentropy"): (1, "sigmoid", "binary"),
    ("binary", "mse"): (1, "sigmoid", "binary"),
    ("binary", "mae"): (1, "sigmoid", "binary"),
    ("binary", "hinge"): (1, "sigmoid", "binary"),
    ("regression", "mse"): (1, "linear", "real"),
    ("regression", "mae"): (1, "linear", "real"),
}
FORBIDDEN = [
    (task.value, loss)
    for task, loss in itertools.product(Task, LOSSES)
    if (task.value, loss) not in ALLOWED
]


# ------------------------------------------------------------------ the table
def test_losses_are_the_documented_ones() -> None:
    assert set(LOSSES) == {
        "mse",
        "mae",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "hinge",
    }


@pytest.mark.parametrize(
    ("task", "want"),
    [
        ("multiclass", LossPlan("categorical_crossentropy", C, "softmax", "onehot")),
        ("binary", LossPlan("binary_crossentropy", 1, "sigmoid", "binary")),
        ("regression", LossPlan("mse", 1, "linear", "real")),
    ],
)
def test_auto_follows_the_lectures_table(task: str, want: LossPlan) -> None:
    assert resolve(task, AUTO, C) == want
    assert resolve(Task(task), "auto", C) == want  # the enum works as well as its value


@pytest.mark.parametrize(("task", "loss"), sorted(ALLOWED))
def test_allowed_combination(task: str, loss: str) -> None:
    units, activation, labels = ALLOWED[(task, loss)]
    plan = resolve(task, loss, C)
    assert plan == LossPlan(loss, units, activation, labels)
    # A name Keras' compile resolves to that very loss (mse/mae by their long names).
    long = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
    assert keras.losses.get(plan.loss).__name__ == long.get(plan.loss, plan.loss)


def test_lectures_mse_on_softmax_is_allowed() -> None:
    plan = resolve(Task.multiclass, "mse", 10)
    assert (plan.loss, plan.output_units, plan.output_activation, plan.labels) == (
        "mse",
        10,
        "softmax",
        "onehot",
    )


@pytest.mark.parametrize(("task", "loss"), FORBIDDEN)
def test_forbidden_combination_names_loss_task_and_valid_losses(task: str, loss: str) -> None:
    with pytest.raises(ValueError) as err:
        resolve(task, loss, C)
    message = str(err.value)
    assert repr(loss) in message
    assert task in message
    valid = ["auto"] + [name for (t, name) in ALLOWED if t == task]
    assert set(valid_losses(task)) == set(valid)
    listed = message.split(f"valid losses for {task}: ")[1].split(", ")
    assert sorted(listed) == sorted(valid)


def test_forbidden_examples_from_the_brief() -> None:
    with pytest.raises(ValueError, match="'binary_crossentropy' cannot train a regression"):
        resolve("regression", "binary_crossentropy", 1)
    with pytest.raises(ValueError, match="'categorical_crossentropy' cannot train a binary"):
        resolve("binary", "categorical_crossentropy", 2)
    with pytest.raises(ValueError, match="'hinge' cannot train a regression"):
        resolve("regression", "hinge", 1)


def test_unknown_loss_lists_every_valid_name() -> None:
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'") as err:
        resolve("multiclass", "crossentropy", C)
    for name in ("auto", *LOSSES):
        assert name in str(err.value)


def test_unknown_task_lists_the_tasks() -> None:
    with pytest.raises(ValueError, match="unknown task 'ranking'.*multiclass, binary, regression"):
        resolve("ranking", "auto", C)


def test_multiclass_needs_two_classes() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        resolve("multiclass", "auto", 1)
    assert resolve("binary", "auto", 10).output_units == 1  # num_classes is not the width


# ------------------------------------------------------------------ output activation
def test_output_activation_override() -> None:
    assert resolve("multiclass", "mse", C, "sigmoid").output_activation == "sigmoid"
    assert resolve("regression", "mse", 1, "relu").output_activation == "relu"
    assert resolve("binary", "hinge", 2, "tanh").output_activation == "tanh"
    assert resolve("multiclass", "auto", C, None).output_activation == "softmax"


def test_softmax_on_one_unit_cannot_learn() -> None:
    with pytest.raises(ValueError, match="single output unit"):
        resolve("binary", "mse", 2, "softmax")
    with pytest.raises(ValueError, match="single output unit"):
        resolve("regression", "auto", 1, "softmax")


@pytest.mark.parametrize(
    ("task", "loss"),
    [
        ("multiclass", "categorical_crossentropy"),
        ("multiclass", "sparse_categorical_crossentropy"),
        ("binary", "auto"),
    ],
)
def test_cross_entropy_needs_probabilities(task: str, loss: str) -> None:
    with pytest.raises(ValueError, match="expects probabilities"):
        resolve(task, loss, C, "linear")
    assert resolve(task, loss, C, "sigmoid").output_activation == "sigmoid"


# ------------------------------------------------------------------ metrics
@pytest.mark.parametrize(
    ("task", "loss", "kinds"),
    [
        ("multiclass", "auto", [keras.metrics.CategoricalAccuracy]),
        ("multiclass", "mse", [keras.metrics.CategoricalAccuracy]),
        (
            "multiclass",
            "sparse_categorical_crossentropy",
            [keras.metrics.SparseCategoricalAccuracy],
        ),
        ("binary", "auto", [keras.metrics.BinaryAccuracy]),
        ("binary", "hinge", [keras.metrics.BinaryAccuracy]),
        (
            "regression",
            "auto",
            [keras.metrics.MeanAbsoluteError, keras.metrics.RootMeanSquaredError],
        ),
    ],
)
def test_metrics_match_the_encoding(task: str, loss: str, kinds: list[type]) -> None:
    plan = resolve(task, loss, C)
    metrics = plan.metrics()
    assert [type(m) for m in metrics] == kinds
    names = [m.name for m in metrics]
    assert names == (["accuracy"] if task != "regression" else ["mae", "rmse"])
    assert plan.primary_metric in names
    assert plan.primary_metric == ("rmse" if task == "regression" else "accuracy")
    assert all(a is not b for a, b in zip(metrics, plan.metrics(), strict=True))  # fresh


def test_binary_hinge_accuracy_on_sigmoid_outputs() -> None:
    """Keras' hinge aims 0/1 labels at -1/+1, but a sigmoid output still splits at 0.5."""
    y = encode_labels(np.array([0, 1, 1, 0]), resolve("binary", "hinge", 2), 2)
    p = np.array([[0.2], [0.8], [0.4], [0.6]], dtype="float32")
    # Keras converts 0/1 labels to -1/+1 for the hinge itself
    np.testing.assert_allclose(
        keras.losses.hinge(y, p).numpy(), keras.losses.hinge(2 * y - 1, p).numpy()
    )
    (acc,) = resolve("binary", "hinge", 2).metrics()
    acc.update_state(y, p)
    assert float(acc.result()) == pytest.approx(0.5)  # a 0 threshold would say 1.0

    linear = resolve("binary", "hinge", 2, "linear")
    assert linear.accuracy_threshold == 0.0
    (acc,) = linear.metrics()
    acc.update_state(y, np.array([[-0.5], [0.3], [2.0], [-1.0]], dtype="float32"))
    assert float(acc.result()) == pytest.approx(1.0)


@pytest.mark.parametrize(("task", "loss"), sorted(ALLOWED))
def test_keras_loss_and_metrics_accept_the_encoded_labels(task: str, loss: str) -> None:
    """Labels as encoded, predictions shaped as the planned output layer: finite loss."""
    plan = resolve(task, loss, C)
    rng = np.random.default_rng(0)
    n = 8
    y_raw = (
        rng.normal(size=n)
        if task == "regression"
        else np.arange(n) % (C if task == "multiclass" else 2)
    )
    y = encode_labels(y_raw, plan, C)
    logits = rng.normal(size=(n, plan.output_units)).astype("float32")
    pred = keras.activations.get(plan.output_activation)(logits)
    values = keras.losses.get(plan.loss)(y, pred)
    assert tuple(values.shape) == (n,)
    assert np.isfinite(values.numpy()).all()
    for metric in plan.metrics():
        metric.update_state(y, pred)
        assert np.isfinite(float(metric.result()))
    # perfect predictions give perfect accuracy
    if plan.primary_metric == "accuracy":
        perfect = y if plan.labels != "int" else np.eye(C, dtype="float32")[y]
        (acc,) = plan.metrics()
        acc.update_state(y, perfect)
        assert float(acc.result()) == 1.0


# ------------------------------------------------------------------ label encodings
def test_encode_onehot() -> None:
    y = encode_labels(np.array([2, 0, 1, 2]), resolve("multiclass", "auto", C), C)
    assert y.dtype == np.float32 and y.shape == (4, C)
    np.testing.assert_array_equal(y, np.eye(C)[[2, 0, 1, 2]])


def test_encode_int() -> None:
    plan = resolve("multiclass", "sparse_categorical_crossentropy", C)
    y = encode_labels(np.array([2, 0, 1], dtype=np.uint8), plan, C)
    assert y.dtype == np.int64 and y.shape == (3,)
    np.testing.assert_array_equal(y, [2, 0, 1])
    # a column vector and integral floats are accepted too
    np.testing.assert_array_equal(encode_labels(np.array([[1.0], [0.0]]), plan, C), [1, 0])


def test_encode_binary() -> None:
    y = encode_labels(np.array([0, 1, 1]), resolve("binary", "auto", 2), 2)
    assert y.dtype == np.float32 and y.shape == (3, 1)
    np.testing.assert_array_equal(y[:, 0], [0, 1, 1])
    y = encode_labels(np.array([[True], [False]]), resolve("binary", "auto", 2), 2)
    assert y.dtype == np.float32 and y.shape == (2, 1)
    np.testing.assert_array_equal(y[:, 0], [1, 0])


def test_encode_real() -> None:
    y = encode_labels(np.array([1.5, -2.0]), resolve("regression", "auto", 1), 1)
    assert y.dtype == np.float32 and y.shape == (2, 1)
    np.testing.assert_array_equal(y[:, 0], [1.5, -2.0])


def test_encode_empty() -> None:
    plan = resolve("multiclass", "auto", C)
    assert encode_labels(np.array([], dtype=np.int64), plan, C).shape == (0, C)


@pytest.mark.parametrize(
    ("task", "loss", "y", "match"),
    [
        ("multiclass", "auto", [0, 3], r"\[0, 3\)"),
        ("multiclass", "auto", [-1, 0], r"\[0, 3\)"),
        ("multiclass", "sparse_categorical_crossentropy", [0.5, 1], "integer class indices"),
        ("multiclass", "auto", [[0, 1], [1, 0]], "1-D class indices"),
        ("binary", "auto", [0, 2], "0 or 1"),
        ("binary", "auto", [0.5, 1.0], "0 or 1"),
        ("binary", "auto", [[0, 1], [1, 0]], "0 or 1"),
    ],
)
def test_encode_rejects_bad_labels(task: str, loss: str, y: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_labels(np.array(y), resolve(task, loss, C), C)


# ------------------------------------------------------------------ conf/loss
@pytest.mark.parametrize("name", LOSS_FILES)
def test_loss_option_composes_and_resolves(name: str) -> None:
    cfg = compose_config([f"loss={name}"], config_dir=REPO_ROOT / "conf")
    assert cfg.loss.name == name
    assert name in (AUTO, *LOSSES)
    # every option trains at least one task
    assert any(name in valid_losses(task) for task in Task)


def test_every_loss_has_an_option_file() -> None:
    assert set(LOSS_FILES) == {AUTO, *LOSSES}


@pytest.mark.parametrize(
    ("task", "loss"), [("binary", "hinge"), ("multiclass", "sparse_categorical_crossentropy")]
)
def test_compiled_model_trains_on_the_plan(task: str, loss: str) -> None:
    """model.compile / train_on_batch accept the plan's loss, metrics and encoded labels."""
    plan = resolve(task, loss, C)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = encode_labels(np.arange(8) % (2 if task == "binary" else C), plan, C)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(plan.output_units, plan.output_activation)]
    )
    model.compile(loss=plan.loss, optimizer="sgd", metrics=plan.metrics())
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"} and np.isfinite(logs["loss"])
    # The accuracy metric reads the labels as encoded: it agrees with numpy's count.
    scores = model.predict(x, verbose=0)
    if task == "binary":
        predicted = (scores[:, 0] > plan.accuracy_threshold).astype(int)
        truth = (np.arange(8) % 2).astype(int)
    else:
        predicted, truth = np.argmax(scores, axis=1), np.arange(8) % C
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    assert evaluated["accuracy"] == pytest.approx(np.mean(predicted == truth), abs=1e-6)


@pytest.mark.parametrize(
    ("task", "loss"),
    [
        ("multiclass", "categorical_crossentropy"),
        ("multiclass", "sparse_categorical_crossentropy"),
        ("binary", "binary_crossentropy"),
        ("regression", "mse"),
    ],
)
def test_metric_names_are_the_names_of_the_metrics_compiled(task, loss):
    """Early stopping's monitor is checked against metric_names before Keras loads."""
    p = resolve(task, loss, 3)
    assert [m.name for m in p.metrics()] == list(p.metric_names)
