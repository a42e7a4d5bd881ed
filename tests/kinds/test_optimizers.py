"""pipeline.kinds.optimizers: every conf/optimizer option builds the intended Keras optimizer,
and Keras' update rules match numpy references of the lecture's formulas."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import cache

import keras
import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

from pipeline.config.compose import compose_config, validate
from pipeline.config.schemas import OPTION_SCHEMAS, SGDConfig
from pipeline.kinds import optimizers
from pipeline.training.planning import plan
from tests.helpers import REPO_ROOT

OPTION_FILES = sorted(p.stem for p in (REPO_ROOT / "conf" / "optimizer").glob("*.yaml"))

EXPECTED_CLASS = {
    "gd": keras.optimizers.SGD,
    "sgd": keras.optimizers.SGD,
    "momentum": keras.optimizers.SGD,
    "nag": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "nadam": keras.optimizers.Nadam,
    "adamax": keras.optimizers.Adamax,
    "adadelta": keras.optimizers.Adadelta,
    "lion": keras.optimizers.Lion,
}


@cache
def composed(name: str) -> DictConfig:
    """The ``optimizer`` section of conf/ composed with ``optimizer=<name>``."""
    cfg = compose_config([f"optimizer={name}"], config_dir=REPO_ROOT / "conf")
    return cfg.optimizer


# ------------------------------------------------------------------ names and configs
def test_every_option_file_is_a_registered_optimizer_and_back() -> None:
    assert sorted(optimizers.NAMES) == OPTION_FILES == sorted(EXPECTED_CLASS)


def test_adding_an_optimizer_takes_a_conf_file_and_one_registry_entry(tmp_path, monkeypatch):
    """A throwaway optimizer: its option file in a copy of conf/, and its schema in the
    registry; composing, validating, planning and building then all know it."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO_ROOT / "conf", conf)
    (conf / "optimizer" / "heavyball.yaml").write_text(
        "defaults:\n  - /schema/optimizer/heavyball@_here_\n  - _self_\n\n"
        "name: heavyball\nlearning_rate: 0.05\nmomentum: 0.5\n"
    )
    monkeypatch.setitem(OPTION_SCHEMAS["optimizer"], "heavyball", SGDConfig)

    cfg = validate(compose_config(["optimizer=heavyball"], config_dir=conf))
    opt = optimizers.get(cfg.optimizer)
    assert type(opt) is keras.optimizers.SGD
    assert (opt.momentum, opt.nesterov) == (0.5, False)
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.05)
    assert optimizers.hyperparameters("heavyball") == (
        "learning_rate",
        "clipnorm",
        "momentum",
        "nesterov",
    )
    assert plan(cfg).full_batch is False


@pytest.mark.parametrize("name", OPTION_FILES)
def test_option_file_builds_its_optimizer_with_exactly_its_hyperparameters(name: str) -> None:
    cfg = composed(name)
    assert cfg.name == name, "an option file's name must be its file name"

    opt = optimizers.get(cfg)

    assert type(opt) is EXPECTED_CLASS[name]
    got = opt.get_config()
    for key, value in OmegaConf.to_container(cfg).items():
        if key == "name":
            continue
        if value is None:
            assert got[key] is None, key
        elif isinstance(value, bool):
            assert got[key] is value, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-6), key  # lr is a float32 variable
    assert float(opt.learning_rate.numpy()) == pytest.approx(cfg.learning_rate, rel=1e-6)


def test_nag_is_nesterov_with_momentum_09() -> None:
    opt = optimizers.get(composed("nag"))
    assert opt.nesterov is True
    assert opt.momentum == pytest.approx(0.9)


def test_momentum_is_classical_momentum_09() -> None:
    opt = optimizers.get(composed("momentum"))
    assert opt.nesterov is False
    assert opt.momentum == pytest.approx(0.9)


@pytest.mark.parametrize("name", ["gd", "sgd"])
def test_gradient_descent_has_no_momentum(name: str) -> None:
    opt = optimizers.get(composed(name))
    assert opt.momentum == 0.0
    assert opt.nesterov is False


@pytest.mark.parametrize("name", OPTION_FILES)
def test_only_gd_is_full_batch(name: str) -> None:
    assert optimizers.is_full_batch(composed(name)) is (name == "gd")
    assert optimizers.is_full_batch(name) is (name == "gd")


def test_overrides_reach_the_optimizer() -> None:
    cfg = compose_config(
        ["optimizer=rmsprop", "optimizer.rho=0.5", "optimizer.clipnorm=2.0"],
        config_dir=REPO_ROOT / "conf",
    )
    opt = optimizers.get(cfg.optimizer)
    assert opt.rho == 0.5
    assert opt.clipnorm == 2.0


def test_plain_dicts_work_and_are_not_changed() -> None:
    cfg = {"name": "adam", "learning_rate": 0.5, "clipnorm": None}
    opt = optimizers.get(cfg)
    assert type(opt) is keras.optimizers.Adam
    assert opt.clipnorm is None
    assert cfg == {"name": "adam", "learning_rate": 0.5, "clipnorm": None}


def test_each_call_returns_a_fresh_optimizer() -> None:
    assert optimizers.get({"name": "sgd"}) is not optimizers.get({"name": "sgd"})


# ------------------------------------------------------------------ errors
def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'") as err:
        optimizers.get({"name": "adamm"})
    for name in optimizers.NAMES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="valid optimizers"):
        optimizers.is_full_batch({"name": "GD"})
    with pytest.raises(ValueError, match="unknown optimizer None"):
        optimizers.get({"learning_rate": 0.1})


def test_unexpected_hyperparameter_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'sgd' does not take 'beta_1'") as err:
        optimizers.get({"name": "sgd", "learning_rate": 0.1, "beta_1": 0.9})
    assert "learning_rate, clipnorm, momentum, nesterov" in str(err.value)
    with pytest.raises(ValueError, match="'lion' does not take 'epsilon'"):
        optimizers.get({"name": "lion", "epsilon": 1e-7})
    with pytest.raises(ValueError, match="'adam' does not take 'weight_decay'"):
        optimizers.get({"name": "adam", "weight_decay": 0.01})


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"name": "nag", "momentum": 0.9, "nesterov": False}, "needs nesterov=True"),
        ({"name": "nag", "momentum": 0.0, "nesterov": True}, "momentum > 0"),
        ({"name": "nag"}, "needs nesterov=True"),
        ({"name": "momentum", "momentum": 0.0}, "needs momentum > 0"),
        ({"name": "momentum", "momentum": 0.9, "nesterov": True}, "use optimizer=nag"),
        ({"name": "sgd", "momentum": 0.0, "nesterov": True}, "no effect without momentum"),
    ],
)
def test_momentum_settings_must_match_the_name(cfg: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        optimizers.get(cfg)


def test_not_a_mapping() -> None:
    with pytest.raises(TypeError, match="mapping"):
        optimizers.get("adam")  # type: ignore[arg-type]


# ------------------------------------------------------------------ update rules
# Hyperparameters are powers of two (exact in float32, like Keras' learning-rate
# variable and its casts of Python floats), and the variables float64, so Keras and
# the numpy references agree to rounding error.  The epsilons are large on purpose:
# where epsilon sits in the formula then changes the result visibly.
W0 = np.array([1.0, -2.0, 0.5, 3.0])
G_FIXED = np.array([0.5, -0.25, 2.0, -1.5])
CURVATURE = np.array([1.0, 0.5, 2.0, 0.25])  # f(w) = sum(CURVATURE * w**2) / 2
TOL = {"rtol": 0, "atol": 1e-12}

GradFn = Callable[[np.ndarray], np.ndarray]


def fixed_gradient(w: np.ndarray) -> np.ndarray:
    return G_FIXED


def quadratic_gradient(w: np.ndarray) -> np.ndarray:
    return CURVATURE * w


GRADIENTS = {"fixed": fixed_gradient, "quadratic": quadratic_gradient}


def keras_steps(opt: keras.optimizers.Optimizer, grad: GradFn, steps: int) -> np.ndarray:
    """The variable after ``steps`` Keras updates, each with the gradient at the variable."""
    var = keras.Variable(W0, dtype="float64")
    for _ in range(steps):
        g = keras.ops.convert_to_tensor(grad(var.numpy()), dtype="float64")
        opt.apply([g], [var])
    return var.numpy()


def sgd_reference(grad: GradFn, steps: int, lr: float) -> np.ndarray:
    w = W0.copy()
    for _ in range(steps):
        w = w - lr * grad(w)
    return w


def momentum_reference(grad: GradFn, steps: int, lr: float, m: float) -> np.ndarray:
    """The lecture: V <- m V - lr dC/dw;  w <- w + V."""
    w, v = W0.copy(), np.zeros_like(W0)
    for _ in range(steps):
        v = m * v - lr * grad(w)
        w = w + v
    return w


def nag_lecture(grad: GradFn, steps: int, lr: float, m: float) -> tuple[np.ndarray, np.ndarray]:
    """The lecture: V <- m V - lr dC/dw at (w + m V);  w <- w + V.  Returns (w, V)."""
    w, v = W0.copy(), np.zeros_like(W0)
    for _ in range(steps):
        v = m * v - lr * grad(w + m * v)
        w = w + v
    return w, v


def nag_keras_form(grad: GradFn, steps: int, lr: float, m: float) -> np.ndarray:
    """Keras' form: V <- m V - lr g;  w <- w + m V - lr g, g at the variable itself."""
    w, v = W0.copy(), np.zeros_like(W0)
    for _ in range(steps):
        g = grad(w)
        v = m * v - lr * g
        w = w + m * v - lr * g
    return w


def adagrad_reference(
    grad: GradFn, steps: int, lr: float, g0: float, eps: float, eps_outside: bool = False
) -> np.ndarray:
    """G <- G + g^2 (G starts at initial_accumulator_value);  w <- w - lr g / sqrt(G + eps)."""
    w, acc = W0.copy(), np.full_like(W0, g0)
    for _ in range(steps):
        g = grad(w)
        acc = acc + g * g
        denom = np.sqrt(acc) + eps if eps_outside else np.sqrt(acc + eps)
        w = w - lr * g / denom
    return w


def rmsprop_reference(
    grad: GradFn, steps: int, lr: float, rho: float, eps: float, momentum: float = 0.0
) -> np.ndarray:
    """h <- rho h + (1 - rho) g^2;  w <- w - lr g / sqrt(h + eps) (through momentum if > 0)."""
    w, h, mom = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for _ in range(steps):
        g = grad(w)
        h = rho * h + (1 - rho) * g * g
        step = lr * g / np.sqrt(h + eps)
        mom = momentum * mom + step
        w = w - mom
    return w


def adam_reference(
    grad: GradFn, steps: int, lr: float, b1: float, b2: float, eps: float, textbook: bool = False
) -> np.ndarray:
    """Adam.  Keras' form: w <- w - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).

    ``textbook``: Kingma & Ba's m_hat / (sqrt(v_hat) + eps), with
    m_hat = m / (1 - b1^t) and v_hat = v / (1 - b2^t) as in the lecture.
    """
    w, m, v = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for t in range(1, steps + 1):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if textbook:
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        else:
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            w = w - alpha * m / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_sgd_rule(gradient: str, steps: int) -> None:
    opt = optimizers.get({"name": "sgd", "learning_rate": 0.125, "momentum": 0.0})
    got = keras_steps(opt, GRADIENTS[gradient], steps)
    np.testing.assert_allclose(got, sgd_reference(GRADIENTS[gradient], steps, 0.125), **TOL)


def test_gd_is_sgd_with_one_step() -> None:
    opt = optimizers.get({"name": "gd", "learning_rate": 0.25, "momentum": 0.0})
    np.testing.assert_allclose(keras_steps(opt, fixed_gradient, 1), W0 - 0.25 * G_FIXED, **TOL)


@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_momentum_rule_is_the_lecture_formula(gradient: str, steps: int) -> None:
    opt = optimizers.get({"name": "momentum", "learning_rate": 0.125, "momentum": 0.875})
    got = keras_steps(opt, GRADIENTS[gradient], steps)
    want = momentum_reference(GRADIENTS[gradient], steps, 0.125, 0.875)
    np.testing.assert_allclose(got, want, **TOL)


def test_momentum_two_steps_by_hand() -> None:
    opt = optimizers.get({"name": "momentum", "learning_rate": 0.125, "momentum": 0.875})
    v1 = -0.125 * G_FIXED
    v2 = 0.875 * v1 - 0.125 * G_FIXED
    np.testing.assert_allclose(keras_steps(opt, fixed_gradient, 2), W0 + v1 + v2, **TOL)


@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_nesterov_rule_as_keras_formulates_it(gradient: str, steps: int) -> None:
    opt = optimizers.get(
        {"name": "nag", "learning_rate": 0.125, "momentum": 0.875, "nesterov": True}
    )
    got = keras_steps(opt, GRADIENTS[gradient], steps)
    want = nag_keras_form(GRADIENTS[gradient], steps, 0.125, 0.875)
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("steps", [1, 2, 5, 20])
def test_keras_nesterov_variable_is_the_lectures_look_ahead_point(steps: int) -> None:
    """Keras stores w + m V, the point where the lecture's NAG takes its gradient.

    With theta = w + m V, the lecture's update becomes Keras' (gradient at theta
    itself): the same trajectory, shifted by m V.
    """
    opt = optimizers.get(
        {"name": "nag", "learning_rate": 0.125, "momentum": 0.875, "nesterov": True}
    )
    got = keras_steps(opt, quadratic_gradient, steps)
    w, v = nag_lecture(quadratic_gradient, steps, 0.125, 0.875)
    np.testing.assert_allclose(got, w + 0.875 * v, **TOL)
    if steps == 1:  # a fixed gradient makes the difference plain: (1 + m) lr g, not lr g
        opt = optimizers.get(
            {"name": "nag", "learning_rate": 0.125, "momentum": 0.875, "nesterov": True}
        )
        got = keras_steps(opt, fixed_gradient, 1)
        np.testing.assert_allclose(got, W0 - (1 + 0.875) * 0.125 * G_FIXED, **TOL)


@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_adagrad_rule(gradient: str, steps: int) -> None:
    cfg = {
        "name": "adagrad",
        "learning_rate": 0.125,
        "initial_accumulator_value": 0.25,
        "epsilon": 0.0625,
    }
    got = keras_steps(optimizers.get(cfg), GRADIENTS[gradient], steps)
    want = adagrad_reference(GRADIENTS[gradient], steps, 0.125, 0.25, 0.0625)
    np.testing.assert_allclose(got, want, **TOL)
    # epsilon sits inside the square root, as in the lecture: not sqrt(G) + eps
    other = adagrad_reference(GRADIENTS[gradient], steps, 0.125, 0.25, 0.0625, eps_outside=True)
    assert np.abs(got - other).max() > 1e-4


def test_adagrad_accumulator_starts_at_initial_value() -> None:
    """Keras' G starts at initial_accumulator_value (0.1 in conf/), not at 0."""
    cfg = {"name": "adagrad", "learning_rate": 0.125, "initial_accumulator_value": 0.25}
    cfg["epsilon"] = 0.0
    got = keras_steps(optimizers.get(cfg), fixed_gradient, 1)
    np.testing.assert_allclose(got, W0 - 0.125 * G_FIXED / np.sqrt(0.25 + G_FIXED**2), **TOL)


@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("steps", [1, 2, 5])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_rule(gradient: str, steps: int, momentum: float) -> None:
    cfg = {
        "name": "rmsprop",
        "learning_rate": 0.125,
        "rho": 0.75,
        "momentum": momentum,
        "epsilon": 0.0625,
        "centered": False,
    }
    got = keras_steps(optimizers.get(cfg), GRADIENTS[gradient], steps)
    want = rmsprop_reference(GRADIENTS[gradient], steps, 0.125, 0.75, 0.0625, momentum)
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_adam_rule(gradient: str, steps: int) -> None:
    cfg = {
        "name": "adam",
        "learning_rate": 0.125,
        "beta_1": 0.75,
        "beta_2": 0.9375,
        "epsilon": 0.0625,
        "amsgrad": False,
    }
    got = keras_steps(optimizers.get(cfg), GRADIENTS[gradient], steps)
    want = adam_reference(GRADIENTS[gradient], steps, 0.125, 0.75, 0.9375, 0.0625)
    np.testing.assert_allclose(got, want, **TOL)
    # Keras' epsilon is the paper's "epsilon hat": it is not added to sqrt(v_hat)
    other = adam_reference(GRADIENTS[gradient], steps, 0.125, 0.75, 0.9375, 0.0625, textbook=True)
    assert np.abs(got - other).max() > 1e-4


def test_first_adam_step_is_lr_times_sign() -> None:
    """The lecture's bias correction: m_hat_1 = g_1, so the first step is about lr * sign(g)."""
    cfg = {"name": "adam", "learning_rate": 0.125, "beta_1": 0.75, "beta_2": 0.9375}
    cfg["epsilon"] = 1e-12
    got = keras_steps(optimizers.get(cfg), fixed_gradient, 1)
    np.testing.assert_allclose(got, W0 - 0.125 * np.sign(G_FIXED), rtol=0, atol=1e-10)


# The configured defaults (conf/optimizer/*.yaml) on float32 variables, as in training.
@pytest.mark.parametrize("name", ["sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"])
def test_configured_rules_in_float32(name: str) -> None:
    cfg = OmegaConf.to_container(composed(name))
    var = keras.Variable(W0, dtype="float32")
    opt = optimizers.get(cfg)
    for _ in range(2):
        opt.apply([keras.ops.convert_to_tensor(G_FIXED, dtype="float32")], [var])
    lr = cfg["learning_rate"]
    want = {
        "sgd": lambda: sgd_reference(fixed_gradient, 2, lr),
        "momentum": lambda: momentum_reference(fixed_gradient, 2, lr, cfg["momentum"]),
        "nag": lambda: nag_keras_form(fixed_gradient, 2, lr, cfg["momentum"]),
        "adagrad": lambda: adagrad_reference(
            fixed_gradient, 2, lr, cfg["initial_accumulator_value"], cfg["epsilon"]
        ),
        "rmsprop": lambda: rmsprop_reference(fixed_gradient, 2, lr, cfg["rho"], cfg["epsilon"]),
        "adam": lambda: adam_reference(
            fixed_gradient, 2, lr, cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]
        ),
    }[name]()
    np.testing.assert_allclose(var.numpy(), want, rtol=0, atol=1e-6)
    assert np.abs(var.numpy() - W0).min() > 1e-4  # it moved


def test_clipnorm_clips_the_gradient() -> None:
    opt = optimizers.get({"name": "sgd", "learning_rate": 0.125, "clipnorm": 0.5})
    got = keras_steps(opt, fixed_gradient, 1)
    clipped = G_FIXED * 0.5 / np.linalg.norm(G_FIXED)
    np.testing.assert_allclose(got, W0 - 0.125 * clipped, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    "keras_class", sorted({s.keras_class for s in optimizers.SCHEMAS.values()})
)
def test_an_optimizer_has_kerass_first_name_however_many_were_built_before(keras_class):
    """The name is saved in the .keras file: the one Keras gives the first optimizer of
    the class after clear_session, never a counted ``adam_1``."""
    keras.backend.clear_session()
    kerass_own = getattr(keras.optimizers, keras_class)().name
    name = next(n for n, s in optimizers.SCHEMAS.items() if s.keras_class == keras_class)
    cfg = {"name": name, "momentum": 0.9} if name in ("momentum", "nag") else {"name": name}
    cfg = {**cfg, "nesterov": True} if name == "nag" else cfg
    assert [optimizers.get(cfg).name for _ in range(2)] == [kerass_own] * 2
    assert optimizers.keras_name(keras_class) == kerass_own


def _stepped(name: str, gradients: list[np.ndarray]) -> keras.optimizers.Optimizer:
    """Optimizer ``name`` (its conf file) after one step per gradient on two weights."""
    optimizer = optimizers.get(compose_config([f"optimizer={name}"], REPO_ROOT / "conf").optimizer)
    weights = [keras.Variable(np.zeros(3, np.float32)), keras.Variable(np.zeros(2, np.float32))]
    for g in gradients:
        optimizer.apply_gradients(zip([g[:3], g[3:]], weights, strict=True))
    return optimizer


STEP_GRADIENTS = [np.array([0.5, -1.0, 2.0, 0.25, -0.1], np.float32), np.full(5, 0.3, np.float32)]


def test_adagrads_effective_step_is_its_rule_and_shrinks() -> None:
    """lr / sqrt(G + eps), G = G0 + sum g², averaged over every weight (numpy reference)."""
    cfg = validate(compose_config(["optimizer=adagrad"], REPO_ROOT / "conf")).optimizer
    g_sum = cfg.initial_accumulator_value + sum(g.astype(np.float64) ** 2 for g in STEP_GRADIENTS)
    expected = np.mean(cfg.learning_rate / np.sqrt(g_sum + cfg.epsilon))
    assert optimizers.effective_step(_stepped("adagrad", STEP_GRADIENTS)) == pytest.approx(
        expected, rel=1e-6
    )
    one = optimizers.effective_step(_stepped("adagrad", STEP_GRADIENTS[:1]))
    assert one > optimizers.effective_step(_stepped("adagrad", STEP_GRADIENTS))


def test_rmsprops_effective_step_follows_its_moving_average() -> None:
    cfg = validate(compose_config(["optimizer=rmsprop"], REPO_ROOT / "conf")).optimizer
    h = np.zeros(5)
    for g in STEP_GRADIENTS:
        h = cfg.rho * h + (1 - cfg.rho) * g.astype(np.float64) ** 2
    expected = np.mean(cfg.learning_rate / np.sqrt(h + cfg.epsilon))
    assert optimizers.effective_step(_stepped("rmsprop", STEP_GRADIENTS)) == pytest.approx(
        expected, rel=1e-5
    )


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_optimizers_without_accumulated_squares_have_no_effective_step(name: str) -> None:
    assert optimizers.effective_step(_stepped(name, STEP_GRADIENTS)) is None
