"""The course's update rules, one Keras step beside one step of the formula in numpy.

For each lecture optimizer (GD, SGD, Momentum, NAG, Adagrad, RMSProp, Adam) the Keras
optimizer the project trains with (:func:`pipeline.kinds.optimizers.get`, from
``conf/optimizer/<name>.yaml``, the learning rate from ``figures.update_rules``) takes
``steps`` steps on the small quadratic

    f(w) = 1/2 w^T A w - b^T w,    gradient A w - b,

its gradient by TensorFlow's autodiff; the course's formula, written as the course writes
it and with the same hyperparameters, takes the same steps in numpy (with the exact
gradient: GD's and SGD's rules are the same step, their difference is which data the
gradient comes from). The table gives both weights and their largest difference, which
must stay within :data:`AGREEMENT`.

Both sides compute in float64 (Keras' optimizers step in their variable's dtype), so the
table compares the rules, not float32 rounding, which grows with the steps (RMSProp's
``g / sqrt(h)`` divides small by small near the minimum: 4e-6 after 50 float32 steps).
What remains, 1e-8 to 1e-7, is Keras passing the learning rate and SGD's momentum
through float32 (0.1 is 0.10000000149).

Where Keras' rule is not literally the course's, the numpy side follows the course's
form with Keras' choice made explicit, and the formula column says so (NAG: what the
variable holds; Adam: where epsilon sits).

Keras and TensorFlow load inside the functions that use them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, open_dict

from pipeline.config.compose import compose_config
from pipeline.system.io import atomic_write_text

FILES = ("update_rules.md", "update_rules.csv")
AGREEMENT = 1e-6  # Keras' steps and the course's formula must agree this closely
DTYPE = "float64"  # of the Keras variable: see the module's docstring
# The quadratic: A symmetric positive definite (a bowl, three times steeper along w1),
# its minimum at A^-1 b; W0 the common start.
A = np.array([[3.0, 0.5], [0.5, 1.0]])
B = np.array([1.0, -1.0])
W0 = np.array([1.0, 2.0])


def gradient(w: np.ndarray) -> np.ndarray:
    """The exact gradient of f at ``w``: ``A w - b``."""
    return A @ w - B


@dataclass(frozen=True)
class Rule:
    """A course formula: how the course writes it, and ``steps`` of it in numpy."""

    formula: str
    run: Callable[[Mapping[str, Any], int], np.ndarray]  # (optimizer config, steps) -> w


def _plain(cfg: Mapping[str, Any], steps: int) -> np.ndarray:
    w, lr = W0.copy(), cfg["learning_rate"]
    for _ in range(steps):
        w = w - lr * gradient(w)  # W <- W - alpha dCost/dW
    return w


def _momentum(cfg: Mapping[str, Any], steps: int) -> np.ndarray:
    w, v, lr, m = W0.copy(), np.zeros_like(W0), cfg["learning_rate"], cfg["momentum"]
    for _ in range(steps):
        v = m * v - lr * gradient(w)  # V(t) = m V(t-1) - alpha dCost/dw
        w = w + v  # W(t+1) = W(t) + V(t)
    return w


def _nag(cfg: Mapping[str, Any], steps: int) -> np.ndarray:
    w, v, lr, m = W0.copy(), np.zeros_like(W0), cfg["learning_rate"], cfg["momentum"]
    for _ in range(steps):
        v = m * v - lr * gradient(w + m * v)  # V(t) = m V(t-1) - alpha dCost/d(w + m V(t-1))
        w = w + v  # W(t+1) = W(t) + V(t)
    # Keras' SGD(nesterov=True) does not store W but the look-ahead point U = W + m V
    # (Sutskever et al.'s reparametrisation, so the gradient is taken at the variable
    # itself): V <- m V - lr g(U); U <- U + m V - lr g(U). With U(t) = W(t) + m V(t-1)
    # this is the course's rule exactly: U(t+1) = W(t+1) + m V(t)
    # = W(t) + V(t) + m V(t) = U(t) + m V(t) + (V(t) - m V(t-1)) = U(t) + m V(t) - lr g(U(t)).
    # Both start at V = 0, so U = W at the start; after the steps Keras holds W + m V.
    return w + m * v


def _adagrad(cfg: Mapping[str, Any], steps: int) -> np.ndarray:
    w, lr, eps = W0.copy(), cfg["learning_rate"], cfg["epsilon"]
    big_g = np.full_like(W0, cfg["initial_accumulator_value"])  # Keras' G(0), not 0
    for _ in range(steps):
        g = gradient(w)
        big_g = big_g + g**2  # G(t) = G(t-1) + (dCost/dw)^2
        w = w - lr * g / np.sqrt(big_g + eps)  # W(t+1) = W(t) - alpha g / sqrt(G(t) + eps)
    return w


def _rmsprop(cfg: Mapping[str, Any], steps: int) -> np.ndarray:
    if cfg["momentum"] or cfg["centered"]:
        raise ValueError(
            "the course's RMSProp has neither momentum nor centering; the rmsprop config "
            f"has momentum={cfg['momentum']}, centered={cfg['centered']}"
        )
    w, h, lr = W0.copy(), np.zeros_like(W0), cfg["learning_rate"]
    rho, eps = cfg["rho"], cfg["epsilon"]
    for _ in range(steps):
        g = gradient(w)
        h = rho * h + (1 - rho) * g * g  # h_i = rho h_(i-1) + (1 - rho) dL/dW (.) dL/dW
        w = w - lr * g / np.sqrt(h + eps)
    return w


def _as_keras_holds(beta: float) -> float:
    """``beta`` as Keras' Adam raises it to the power t: ``ops.cast(beta, dtype)`` turns the
    Python float into a float32 tensor first, whatever the variable's dtype. It matters:
    1 - float32(0.999) is off by 1.3e-5 relative, 2e-6 in w after 3 steps."""
    return float(np.float32(beta))


def _adam(cfg: Mapping[str, Any], steps: int) -> np.ndarray:
    if cfg["amsgrad"]:
        raise ValueError("the course's Adam is not AMSGrad; the adam config has amsgrad=true")
    w, lr, eps = W0.copy(), cfg["learning_rate"], cfg["epsilon"]
    b1, b2 = cfg["beta_1"], cfg["beta_2"]
    m, v = np.zeros_like(W0), np.zeros_like(W0)
    for t in range(1, steps + 1):
        g = gradient(w)
        m = b1 * m + (1 - b1) * g  # m_t = beta1 m_(t-1) + (1 - beta1) g_t
        v = b2 * v + (1 - b2) * g * g  # v_t = beta2 v_(t-1) + (1 - beta2) g_t^2
        b1_t, b2_t = _as_keras_holds(b1) ** t, _as_keras_holds(b2) ** t
        m_hat = m / (1 - b1_t)  # bias correction: m_1 = g_1 (the course's derivation)
        v_hat = v / (1 - b2_t)
        # Keras adds eps to sqrt(v) before v's bias correction:
        # lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
        # = lr m_hat / (sqrt(v_hat) + eps / sqrt(1 - b2^t)).
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - b2_t))
    return w


RULES: dict[str, Rule] = {
    "gd": Rule("W ← W − α·∂Cost/∂W (full batch)", _plain),
    "sgd": Rule("W ← W − α·∂Cost/∂W (a mini-batch's gradient; here the exact one)", _plain),
    "momentum": Rule("V ← m·V − α·∂Cost/∂w;  W ← W + V", _momentum),
    "nag": Rule(
        "V ← m·V − α·∂Cost/∂(w + m·V);  W ← W + V. Keras' variable is the look-ahead "
        "point W + m·V (the same rule, reparametrised): compared with it",
        _nag,
    ),
    "adagrad": Rule(
        "G ← G + g²;  W ← W − α·g/√(G + ε), G starting at Keras' initial_accumulator_value",
        _adagrad,
    ),
    "rmsprop": Rule("h ← ρ·h + (1 − ρ)·g⊙g;  W ← W − α·g/√(h + ε)", _rmsprop),
    "adam": Rule(
        "m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ);  "
        "W ← W − α·m̂/(√v̂ + ε̂). As Keras does, not as Kingma & Ba's Algorithm 1: ε is "
        "added to √v before the bias correction, so ε̂ = ε/√(1 − β₂ᵗ); and β₁ᵗ, β₂ᵗ use "
        "β rounded to float32",
        _adam,
    ),
}
LECTURE = tuple(RULES)  # the lecture's optimizers, in the course's order


def optimizer_config(name: str, learning_rate: float) -> DictConfig:
    """Optimizer ``name`` as the project configures it, with ``learning_rate``."""
    cfg = compose_config([f"optimizer={name}"]).optimizer
    with open_dict(cfg):
        cfg.learning_rate = float(learning_rate)
    return cfg


def keras_steps(cfg: DictConfig, steps: int) -> np.ndarray:
    """``w`` after ``steps`` steps of the project's Keras optimizer ``cfg`` on f, from W0,
    in :data:`DTYPE`."""
    import keras  # lazy, for cost
    import tensorflow as tf  # lazy, for cost

    from pipeline.kinds import optimizers  # lazy, for cost: Keras

    optimizer = optimizers.get(cfg)
    w = keras.Variable(W0, dtype=DTYPE, name="w")
    a, b = tf.constant(A, DTYPE), tf.constant(B, DTYPE)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = 0.5 * tf.tensordot(w, tf.linalg.matvec(a, w), 1) - tf.tensordot(b, w, 1)
        optimizer.apply_gradients([(tape.gradient(loss, w), w)])
    return np.asarray(w, np.float64)


def compare_rules(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per lecture optimizer: ``optimizer``, ``formula``, ``steps``,
    ``learning_rate``, ``keras_w`` and ``numpy_w`` (lists), ``max_abs_diff``."""
    steps, lr = int(settings["steps"]), float(settings["learning_rate"])
    rows = []
    for name, rule in RULES.items():
        cfg = optimizer_config(name, lr)
        ours = keras_steps(cfg, steps)
        course = rule.run(cfg, steps)
        rows.append(
            {
                "optimizer": name,
                "formula": rule.formula,
                "steps": steps,
                "learning_rate": lr,
                "keras_w": ours.tolist(),
                "numpy_w": course.tolist(),
                "max_abs_diff": float(np.max(np.abs(ours - course))),
            }
        )
    return rows


def _vector(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.9f}" for v in values) + "]"


def table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a markdown table, with the problem it was run on."""
    steps, lr = rows[0]["steps"], rows[0]["learning_rate"]
    lines = [
        "# Update rules: Keras beside the course's formula",
        "",
        f"f(w) = ½ wᵀAw − bᵀw with A = {A.tolist()}, b = {B.tolist()}, from w = {W0.tolist()}; "
        f"{steps} steps at learning rate {lr:g} (g = ∂f/∂w = Aw − b). Keras: the project's "
        f"optimizer (conf/optimizer/) on a {DTYPE} variable, gradient by autodiff; numpy: the "
        f"course's formula. They must agree to {AGREEMENT:g}.",
        "",
        "| optimizer | course formula | Keras w | numpy w | max \\|difference\\| | agree |",
        "|---|---|---|---|---:|:---:|",
    ]
    for r in rows:
        agree = "yes" if r["max_abs_diff"] <= AGREEMENT else "**no**"
        lines.append(
            f"| {r['optimizer']} | {r['formula']} | {_vector(r['keras_w'])} "
            f"| {_vector(r['numpy_w'])} | {r['max_abs_diff']:.2e} | {agree} |"
        )
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The comparison as CSV, one row per optimizer, weights as space-separated numbers."""
    columns = ("optimizer", "formula", "steps", "learning_rate", "keras_w", "numpy_w",
               "max_abs_diff")  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(
            [
                " ".join(f"{v:.12g}" for v in r[c]) if isinstance(r[c], list) else r[c]
                for c in columns
            ]  # fmt: skip
        )
    return buffer.getvalue()


def draw(settings: DictConfig, out: Path, seed: int) -> list[Path]:
    """Write ``update_rules.md`` and ``update_rules.csv`` into ``out``.

    ``seed`` is unused: nothing here is random.
    """
    rows = compare_rules(settings)
    return [
        atomic_write_text(out / FILES[0], table(rows)),
        atomic_write_text(out / FILES[1], csv_text(rows)),
    ]
