"""pipeline.kinds.activations: values and derivatives against numpy, step, maxout, saving."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from pipeline.config.schemas import OPTION_SCHEMAS
from pipeline.kinds import activations
from pipeline.kinds.activations import NAMES, Maxout, Step, build, get, output, width_factor

# ---------------------------------------------------------------- numpy references
# Keras' SELU constants (Klambauer et al., 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erf = np.vectorize(math.erf)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)  # log(1 + e^x) without overflow


def _mish_grad(x: np.ndarray) -> np.ndarray:
    t = np.tanh(_softplus(x))
    return t + x * (1.0 - t**2) * _sigmoid(x)


def _gelu_grad(x: np.ndarray) -> np.ndarray:
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


Ref = Callable[..., np.ndarray]
# name -> (value, derivative), both f(x, **hyperparameters), elementwise.
ELEMENTWISE: dict[str, tuple[Ref, Ref]] = {
    "linear": (lambda x: x, np.ones_like),
    "step": (
        lambda x, straight_through=False: (x > 0).astype(x.dtype),
        lambda x, straight_through=False: np.full_like(x, float(straight_through)),
    ),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(x.dtype)),
    "leaky_relu": (
        lambda x, alpha=0.1: np.where(x > 0, x, alpha * x),
        lambda x, alpha=0.1: np.where(x > 0, 1.0, alpha),
    ),
    "elu": (
        lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(x)),
        lambda x, alpha=1.0: np.where(x > 0, 1.0, alpha * np.exp(x)),
    ),
    "selu": (
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
        lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(x)),
    ),
    # Keras 3's gelu defaults to the exact erf form, not the tanh approximation.
    "gelu": (lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))), _gelu_grad),
    "swish": (
        lambda x: x * _sigmoid(x),
        lambda x: _sigmoid(x) + x * _sigmoid(x) * (1.0 - _sigmoid(x)),
    ),
    "softplus": (_softplus, _sigmoid),
    "mish": (lambda x: x * np.tanh(_softplus(x)), _mish_grad),
}


def maxout_ref(x: np.ndarray, pieces: int) -> np.ndarray:
    return x.reshape(*x.shape[:-1], x.shape[-1] // pieces, pieces).max(axis=-1)


def maxout_grad_ref(x: np.ndarray, upstream: np.ndarray, pieces: int) -> np.ndarray:
    """d sum(upstream * maxout(x)) / dx: each unit's upstream goes to its winning piece."""
    grouped = x.reshape(*x.shape[:-1], x.shape[-1] // pieces, pieces)
    winner = grouped == grouped.max(axis=-1, keepdims=True)
    return (winner * upstream[..., None]).reshape(x.shape)


def reference(name: str, x: np.ndarray, upstream: np.ndarray, params: dict):
    """Expected output and d sum(upstream * output) / dx for activation ``name``."""
    if name == "maxout":
        pieces = params.get("pieces", 2)
        upstream = upstream[..., : x.shape[-1] // pieces]
        return maxout_ref(x, pieces), maxout_grad_ref(x, upstream, pieces)
    value, derivative = ELEMENTWISE[name]
    return value(x, **params), upstream * derivative(x, **params)


# Every name with its defaults, plus non-default hyperparameters; built from NAMES so a
# new activation is tested (and fails until it has a reference above).
CASES = [(name, {}) for name in NAMES] + [
    ("leaky_relu", {"alpha": 0.3}),
    ("elu", {"alpha": 0.5}),
    ("step", {"straight_through": True}),
    ("maxout", {"pieces": 3}),
]


def _case_id(case: tuple[str, dict]) -> str:
    name, params = case
    return "-".join([name, *(f"{k}={v}" for k, v in params.items())])


# 2 x 12 distinct values (so maxout has no ties), from saturating to zero-adjacent, no 0.
_HALF = [1e-4, 1e-2, 0.1, 0.25, 0.5, 0.7, 1.0, 1.3, 2.0, 3.0, 4.5, 8.0]
_GRID = np.array([-v for v in _HALF] + _HALF)
GRID = np.random.default_rng(0).permutation(_GRID).reshape(2, 12)  # 12: pieces 2 and 3
UPSTREAM = np.random.default_rng(1).uniform(0.5, 2.0, size=(2, 12))


def float64_tol(name: str) -> dict[str, float]:
    """Tolerances in float64: near machine precision, except where TF computes in float32.

    TF's leaky_relu takes its slope as a float32 attribute (0.1 -> 0.100000001) and its
    exact gelu is only float32-accurate even on float64 tensors (TF 2.21).
    """
    if name in ("leaky_relu", "gelu"):
        return {"rtol": 1e-6, "atol": 1e-12}
    return {"rtol": 1e-11, "atol": 1e-14}


@pytest.fixture
def float64() -> Iterator[None]:
    """Layers built inside compute in float64 (Keras would cast inputs to float32)."""
    # Both: new layers take the global dtype policy, which set_floatx alone does not
    # change once Keras has created it; restored so other tests stay float32.
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def value_and_grad(fn: Callable, x: np.ndarray, upstream: np.ndarray):
    """fn(x) and d sum(upstream * fn(x)) / dx, as numpy (the gradient may not be None).

    ``upstream`` is cut to the output's last axis, as in :func:`reference` (maxout).
    """
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = fn(xt)
        loss = tf.reduce_sum(tf.cast(upstream[..., : y.shape[-1]], y.dtype) * y)
    grad = tape.gradient(loss, xt)
    assert grad is not None, "no gradient path (None): optimizers would fail"
    return y.numpy(), grad.numpy()


# ---------------------------------------------------------------- values and derivatives
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_layer_matches_numpy_float64(case, float64) -> None:
    name, params = case
    layer = build({"name": name, **params})
    assert layer.compute_dtype == "float64"
    y, grad = value_and_grad(layer, GRID, UPSTREAM)
    want_y, want_grad = reference(name, GRID, UPSTREAM, params)
    assert y.dtype == np.float64
    assert y.shape == want_y.shape
    np.testing.assert_allclose(y, want_y, **float64_tol(name))
    np.testing.assert_allclose(grad, want_grad, **float64_tol(name))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_layer_matches_numpy_float32(case) -> None:
    name, params = case
    x = GRID.astype(np.float32)
    layer = build({"name": name, **params})
    y, grad = value_and_grad(layer, x, UPSTREAM.astype(np.float32))
    want_y, want_grad = reference(name, x.astype(np.float64), UPSTREAM, params)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "maxout"])
def test_get_returns_the_elementwise_function(name: str) -> None:
    y, grad = value_and_grad(get(name), GRID, UPSTREAM)
    want_y, want_grad = reference(name, GRID, UPSTREAM, {})
    np.testing.assert_allclose(y, want_y, **float64_tol(name))
    np.testing.assert_allclose(grad, want_grad, **float64_tol(name))


def test_gelu_is_the_exact_erf_form_not_the_tanh_approximation() -> None:
    x = np.array([-1.5, -0.5, 0.5, 1.5])
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    exact = ELEMENTWISE["gelu"][0](x)
    assert np.max(np.abs(exact - tanh_form)) > 1e-4  # the forms differ at this tolerance
    np.testing.assert_allclose(build("gelu")(x.astype(np.float32)), exact, rtol=1e-6)


def test_get_maxout_is_the_layer_class() -> None:
    assert get("maxout") is Maxout


def test_every_name_has_a_reference() -> None:
    assert set(ELEMENTWISE) | {"maxout"} == set(NAMES)


# ---------------------------------------------------------------- step
@pytest.mark.parametrize(
    "x", [GRID, np.array([0.0, -0.0, 1e-30, -1e-30, np.inf, -np.inf, 1e30, -1e30])]
)
def test_step_gradient_is_exactly_zero(x: np.ndarray) -> None:
    y, grad = value_and_grad(activations.step, x, np.ones_like(x))
    np.testing.assert_array_equal(y, (x > 0).astype(np.float64))
    assert not np.any(grad), grad  # exact zeros (not None, not NaN)


def test_step_straight_through_has_identity_gradient() -> None:
    x = np.array([0.0, 1e30, -1e30, *GRID.ravel()])
    upstream = np.random.default_rng(2).normal(size=x.shape)
    y, grad = value_and_grad(activations.step_straight_through, x, upstream)
    np.testing.assert_array_equal(y, (x > 0).astype(np.float64))  # exactly 0/1
    np.testing.assert_array_equal(grad, upstream)


def _train_dense_step_dense(straight_through: bool) -> tuple[list, keras.Model]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(8, name="hidden"),
            build({"name": "step", "straight_through": straight_through}),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [w.numpy().copy() for w in model.weights]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 4 optimizer steps
    return before, model


def test_step_network_trains_without_learning_below_the_step() -> None:
    before, model = _train_dense_step_dense(straight_through=False)
    hidden, out = model.get_layer("hidden"), model.get_layer("out")
    np.testing.assert_array_equal(hidden.kernel.numpy(), before[0])
    np.testing.assert_array_equal(hidden.bias.numpy(), before[1])
    assert not np.array_equal(out.kernel.numpy(), before[2])
    assert not np.array_equal(out.bias.numpy(), before[3])


def test_straight_through_step_network_learns_below_the_step() -> None:
    before, model = _train_dense_step_dense(straight_through=True)
    assert not np.array_equal(model.get_layer("hidden").kernel.numpy(), before[0])


# ---------------------------------------------------------------- maxout
@pytest.mark.parametrize("pieces", [2, 3])
def test_maxout_after_dense(pieces: int) -> None:
    units, cfg = 5, {"name": "maxout", "pieces": pieces}
    inputs = keras.Input((4,))
    linear = keras.layers.Dense(units * width_factor(cfg))(inputs)
    model = keras.Model(inputs, [linear, build(cfg)(linear)])
    assert model.outputs[1].shape == (None, units)
    pre, out = model.predict(np.random.default_rng(0).normal(size=(7, 4)), verbose=0)
    assert out.shape == (7, units)
    np.testing.assert_array_equal(out, maxout_ref(pre, pieces))


def test_maxout_after_conv() -> None:
    channels, pieces = 3, 2
    cfg = OmegaConf.create({"name": "maxout", "pieces": pieces})
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(channels * width_factor(cfg), 3, padding="same")(inputs)
    model = keras.Model(inputs, [conv, build(cfg)(conv)])
    assert model.outputs[1].shape == (None, 6, 6, channels)
    pre, out = model.predict(np.random.default_rng(0).normal(size=(2, 6, 6, 1)), verbose=0)
    assert out.shape == (2, 6, 6, channels)
    np.testing.assert_array_equal(out, maxout_ref(pre, pieces))


def test_maxout_groups_consecutive_channels() -> None:
    x = np.array([[1.0, 5.0, 2.0, -3.0, 0.5, 0.25]])  # units (1, 5), (2, -3), (0.5, 0.25)
    np.testing.assert_array_equal(Maxout(2)(x), [[5.0, 2.0, 0.5]])
    np.testing.assert_array_equal(Maxout(3)(x), [[5.0, 0.5]])


def test_maxout_rejects_bad_shapes_and_pieces() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        Maxout(4)(np.zeros((1, 6)))
    for pieces in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            Maxout(pieces)


# ---------------------------------------------------------------- config handling
@pytest.mark.parametrize("name", NAMES)
def test_width_factor(name: str) -> None:
    want = 2 if name == "maxout" else 1  # the schema default
    assert width_factor({"name": name}) == want
    schema_cfg = OmegaConf.structured(OPTION_SCHEMAS["activation"][name](name=name))
    assert width_factor(schema_cfg) == want
    assert width_factor({"name": "maxout", "pieces": 4}) == 4


@pytest.mark.parametrize(
    ("name", "attribute", "value"),
    [
        ("leaky_relu", "negative_slope", 0.1),  # the lecture's max(0.1x, x), not Keras' 0.2
        ("elu", "alpha", 1.0),
        ("maxout", "pieces", 2),
        ("step", "straight_through", False),
    ],
)
def test_a_missing_hyperparameter_takes_the_lectures_default(name, attribute, value) -> None:
    assert getattr(build({"name": name}), attribute) == pytest.approx(value)
    assert getattr(build(name), attribute) == pytest.approx(value)


@pytest.mark.parametrize("name", NAMES)
def test_build_from_schema_config(name: str) -> None:
    """A DictConfig from pipeline.config.schemas' schema builds the same layer as a plain dict."""
    cfg = OmegaConf.structured(OPTION_SCHEMAS["activation"][name](name=name))

    def config(layer: keras.layers.Layer) -> dict:
        return {k: v for k, v in layer.get_config().items() if k != "name"}

    assert config(build(cfg)) == config(build({"name": name}))
    assert build(cfg, name="act_1").name == "act_1"


def test_build_uses_alpha_and_straight_through() -> None:
    assert build({"name": "leaky_relu", "alpha": 0.3}).negative_slope == pytest.approx(0.3)
    assert build({"name": "leaky_relu"}).negative_slope == pytest.approx(0.1)
    assert build({"name": "elu", "alpha": 0.5}).alpha == pytest.approx(0.5)
    assert build({"name": "step", "straight_through": True}).straight_through is True
    assert isinstance(build("maxout"), Maxout)


@pytest.mark.parametrize("call", [get, build, width_factor], ids=lambda f: f.__name__)
def test_unknown_name_lists_valid_names(call: Callable) -> None:
    arg = "rleu" if call is get else {"name": "rleu"}
    with pytest.raises(ValueError, match="unknown activation 'rleu'") as excinfo:
        call(arg)
    listed = str(excinfo.value).split("valid activations: ")[1]
    assert listed.split(", ") == list(NAMES)


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"name": "relu", "alpha": 0.3}, "alpha"),
        ({"name": "maxout", "straight_through": True}, "straight_through"),
        ({"name": "leaky_relu", "alpha": 0.2, "pieces": 2}, "pieces"),
        ({"name": "step", "alpah": 0.1}, "alpah"),
    ],
)
def test_unexpected_hyperparameter_is_rejected(cfg: dict, key: str) -> None:
    for call in (build, width_factor):
        with pytest.raises(ValueError, match=rf"'{cfg['name']}' does not take '{key}'"):
            call(cfg)


# ---------------------------------------------------------------- saving
# Keras' own weight saving (any model) trips numpy 2's __array__ copy deprecation.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_model_with_step_and_maxout_reloads(tmp_path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 5, 1))
    x = keras.layers.Conv2D(4 * 2, 3)(inputs)
    x = build({"name": "maxout", "pieces": 2}, name="conv_maxout")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6 * 3)(x)
    x = build({"name": "maxout", "pieces": 3}, name="dense_maxout")(x)
    x = keras.layers.Dense(8)(x)
    x = build({"name": "step", "straight_through": True}, name="step")(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)

    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # no custom_objects: registered classes

    assert isinstance(reloaded.get_layer("step"), Step)
    assert reloaded.get_layer("step").straight_through is True
    assert reloaded.get_layer("dense_maxout").pieces == 3
    x = np.random.default_rng(0).normal(size=(4, 5, 5, 1)).astype(np.float32)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_the_output_softmax_matches_numpy_and_leaves_its_logits_for_the_loss() -> None:
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal((64, 10)) * 5).astype(np.float32)
    ours = output("softmax")(tf.constant(logits))
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    want = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours.numpy(), want, rtol=2e-6, atol=1e-9)
    assert ours._keras_logits is not None  # cross-entropy is taken from the logits
    # So a cross-entropy on it is Keras' own, bit for bit, as with Keras' softmax.
    labels = tf.one_hot(rng.integers(0, 10, 64), 10)
    keras_softmax = keras.activations.softmax(tf.constant(logits))
    cce = keras.losses.categorical_crossentropy
    assert np.array_equal(cce(labels, ours).numpy(), cce(labels, keras_softmax).numpy())
    assert output("sigmoid") is keras.activations.sigmoid  # the others are Keras'
