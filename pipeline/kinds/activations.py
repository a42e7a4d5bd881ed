"""Hidden-layer activations: a registry of names, and the Keras layers that apply them.

The names are the options of ``conf/activation/`` (``OPTION_SCHEMAS["activation"]`` in
:mod:`pipeline.config.schemas`). Most are Keras built-ins; ``gelu`` (and the output layer's
``softmax``, :func:`output`) are written here so that they round the same on Intel and
AMD CPUs; two are defined here because Keras has neither:

* ``step`` (Heaviside): 1 where ``x > 0``, else 0. Its derivative is zero almost
  everywhere, so the gradient below a step layer is exactly zero: the network runs and
  the optimizer steps, but nothing under that layer learns (the lecture's reason for
  moving to sigmoid). With ``straight_through: true`` the backward pass treats step as
  the identity instead (the straight-through estimator).
* ``maxout``: each hidden unit is the max of ``pieces`` linear units,
  ``max(w1.x + b1, ..., wk.x + bk)``. It is not elementwise: the preceding Dense/Conv
  layer must produce ``units * pieces`` outputs (:func:`width_factor`), and
  :class:`Maxout` takes the max over each group of ``pieces`` consecutive channels.

Typical use when building a model::

    x = keras.layers.Dense(units * activations.width_factor(cfg.activation))(x)
    x = activations.build(cfg.activation)(x)

:class:`Step` and :class:`Maxout` are registered as Keras serializables (package
``optlab``), so a ``.keras`` file that uses them reloads with
``keras.models.load_model`` once this module has been imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import keras
from keras import ops

from pipeline.config.schemas import OPTION_SCHEMAS, ELUConfig, LeakyReLUConfig, MaxoutConfig, pick

__all__ = [
    "NAMES",
    "Maxout",
    "Step",
    "build",
    "elu",
    "gelu",
    "get",
    "leaky_relu",
    "output",
    "softmax",
    "step",
    "step_straight_through",
    "width_factor",
]


def _hyperparameters(name: str) -> dict[str, Any]:
    """The hyperparameters activation ``name`` takes, with their defaults: the fields of
    its schema in pipeline.config.schemas; any other key in a config is a mistake."""
    schema = OPTION_SCHEMAS["activation"][name]
    return {f.name: f.default for f in fields(schema) if f.name != "name"}


# ---------------------------------------------------------------- custom functions
@keras.saving.register_keras_serializable(package="optlab")
def step(x: Any) -> Any:
    """Heaviside step, 1.0 where ``x > 0`` else 0.0, with an exactly zero gradient.

    The gradient is a tensor of zeros rather than ``None`` (which ``stop_gradient``
    alone would give), so optimizers still run and the layers below receive zero
    updates, showing that they cannot learn through a step.

    Args:
        x: Input tensor (floating point).

    Returns:
        A tensor of the dtype and shape of ``x``.
    """
    return _step_zero_gradient(ops.convert_to_tensor(x))


@keras.saving.register_keras_serializable(package="optlab")
def step_straight_through(x: Any) -> Any:
    """Heaviside step in the forward pass, identity in the backward pass.

    The straight-through estimator: the gradient flows through as if the activation
    were ``x``, so the layers below a step can learn.

    Args:
        x: Input tensor (floating point).

    Returns:
        A tensor of the dtype and shape of ``x``, equal to ``step(x)``.
    """
    return _step_identity_gradient(ops.convert_to_tensor(x))


def _heaviside(x: Any) -> Any:
    return ops.cast(ops.greater(x, 0), x.dtype)


# Custom gradients rather than `x + stop_gradient(step(x) - x)`: that trick gives a
# forward value that is not exactly 0/1 in floating point (for large |x| it is wrong:
# 1e8 + (1 - 1e8) == 0 in float32), and `0 * x` turns inf inputs into NaN.
# The grad functions take `*args, upstream=None` to work on every Keras backend.
@ops.custom_gradient
def _step_zero_gradient(x: Any) -> Any:
    def grad(*args: Any, upstream: Any = None) -> Any:
        if upstream is None:
            (upstream,) = args
        return ops.zeros_like(upstream)

    return _heaviside(x), grad


@ops.custom_gradient
def _step_identity_gradient(x: Any) -> Any:
    def grad(*args: Any, upstream: Any = None) -> Any:
        if upstream is None:
            (upstream,) = args
        return upstream

    return _heaviside(x), grad


def leaky_relu(x: Any, alpha: float = LeakyReLUConfig.alpha) -> Any:
    """Leaky ReLU, ``max(alpha * x, x)`` for ``0 <= alpha <= 1``.

    The default is the lecture's 0.1 (Keras' defaults are 0.2 for the function and 0.3
    for the layer).
    """
    return ops.leaky_relu(x, negative_slope=alpha)


def elu(x: Any, alpha: float = ELUConfig.alpha) -> Any:
    """ELU: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below."""
    return ops.elu(x, alpha=alpha)


# Two of Keras' own round differently on Intel and AMD CPUs, whatever the pin: they reach
# Eigen's preciprocal, the CPU's RCPPS estimate of 1/x refined by one Newton step, and the
# two vendors' estimates differ in their last bits. The same math, with an exact (IEEE)
# division instead, is defined here (docs/reproducibility.md).
SQRT_HALF = 0.7071067811865476  # 1/√2


@keras.saving.register_keras_serializable(package="optlab")
def gelu(x: Any) -> Any:
    """GELU in its exact form, ``x·Φ(x) = x/2·(1 + erf(x/√2))``.

    Keras' ``gelu`` is TensorFlow's, ``x/2·erfc(-x/√2)``, and Eigen's erfc takes the
    reciprocal of ``x²`` by ``preciprocal``; its erf divides exactly.
    """
    return 0.5 * x * (1.0 + ops.erf(x * SQRT_HALF))


@keras.saving.register_keras_serializable(package="optlab")
def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax over ``axis``, ``exp(x - max) / sum``: the output activation of a
    multiclass task.

    TensorFlow's Softmax op multiplies by the sum's reciprocal, from ``preciprocal``;
    this divides. Like Keras' softmax, it leaves its logits on the output, so that a
    cross-entropy on it is computed from them (fused, and the same as with Keras').
    """
    shifted = x - ops.max(x, axis=axis, keepdims=True)
    e = ops.exp(shifted)
    output = e / ops.sum(e, axis=axis, keepdims=True)
    with contextlib.suppress(AttributeError):  # a tensor type that takes no attributes
        output._keras_logits = x  # what Keras' own softmax leaves for its losses
    return output


# ---------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="optlab")
class Step(keras.layers.Layer):
    """Applies the Heaviside step (:func:`step`, or :func:`step_straight_through`).

    Args:
        straight_through: Use the identity's gradient instead of the true (zero) one.
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, straight_through: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.straight_through = bool(straight_through)
        self.supports_masking = True  # elementwise: a mask passes through unchanged

    def call(self, inputs: Any) -> Any:
        if self.straight_through:
            return step_straight_through(inputs)
        return step(inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "straight_through": self.straight_through}


@keras.saving.register_keras_serializable(package="optlab")
class Maxout(keras.layers.Layer):
    """Maxout: the max over groups of ``pieces`` consecutive channels of the last axis.

    The last axis (``units * pieces``) is reshaped to ``(units, pieces)`` and reduced
    with max, so unit ``j`` is ``max(x[..., j*pieces : (j+1)*pieces])``. Any rank works:
    a Dense output ``(batch, units * pieces)`` gives ``(batch, units)``, a Conv2D output
    ``(batch, h, w, channels * pieces)`` gives ``(batch, h, w, channels)``.

    Args:
        pieces: Linear pieces per unit (at least 1).
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...).

    Raises:
        ValueError: If ``pieces`` is not a positive integer, or (when built) if the last
            axis is not a multiple of ``pieces``.
    """

    def __init__(self, pieces: int = MaxoutConfig.pieces, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(pieces, bool) or int(pieces) != pieces or pieces < 1:
            raise ValueError(f"maxout pieces must be a positive integer, got {pieces!r}")
        self.pieces = int(pieces)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        channels = input_shape[-1]
        if channels is None or channels % self.pieces:
            raise ValueError(
                f"Maxout(pieces={self.pieces}) needs a last axis that is a known multiple "
                f"of {self.pieces} (the layer before it must have units * {self.pieces} "
                f"outputs), got input shape {tuple(input_shape)}"
            )
        self.units = channels // self.pieces

    def call(self, inputs: Any) -> Any:
        # Leading dims from the runtime shape, so an unknown batch (or spatial) size works.
        leading = tuple(ops.shape(inputs)[:-1])
        grouped = ops.reshape(inputs, (*leading, self.units, self.pieces))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels // self.pieces)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pieces": self.pieces}


# ---------------------------------------------------------------- registry
# The names are the registry's (pipeline.config.schemas); these are the ones defined here,
# named after themselves. Any other name is Keras' activation of that name.
_OURS: dict[str, Callable[..., Any]] = {
    obj.__name__.lower(): obj for obj in (step, leaky_relu, elu, gelu, Maxout)
}
# The output activations defined here (the others are Keras' of that name).
_OUTPUTS: dict[str, Callable[..., Any]] = {obj.__name__: obj for obj in (softmax, gelu)}

NAMES: tuple[str, ...] = tuple(OPTION_SCHEMAS["activation"])


def get(name: str) -> Callable[..., Any]:
    """The function (or, for maxout, the layer class) an activation name stands for.

    For an elementwise activation this is a function ``f(x)`` (``leaky_relu`` and
    ``elu`` also take ``alpha``, with the schema's default; ``step`` has the zero
    gradient — use :func:`step_straight_through` for the other one). For ``maxout``,
    which is not elementwise, it is the :class:`Maxout` layer class.

    Raises:
        ValueError: If ``name`` is not one of :data:`NAMES` (the message lists them).
    """
    pick(OPTION_SCHEMAS["activation"], name, "activation")
    return _OURS.get(name) or keras.activations.get(name)


def output(name: str) -> Callable[..., Any]:
    """The function of an output activation name (``softmax``, ``sigmoid``, ``linear``,
    any of Keras'): the project's own where Keras' rounds differently by CPU vendor."""
    return _OUTPUTS.get(name) or keras.activations.get(name)


def _options(cfg: Mapping[str, Any] | str) -> tuple[str, dict[str, Any]]:
    """Validate an activation config: its name and its hyperparameters with defaults."""
    if isinstance(cfg, str):
        cfg = {"name": cfg}
    if not isinstance(cfg, Mapping):  # DictConfig is a Mapping
        raise TypeError(
            f"activation config must be a mapping with a 'name', got {type(cfg).__name__}"
        )
    if "name" not in cfg:
        raise ValueError(f"activation config has no 'name': {dict(cfg)!r}")
    name = cfg["name"]
    get(name)  # raises on an unknown name
    defaults = _hyperparameters(name)
    extra = sorted(str(key) for key in cfg if key != "name" and key not in defaults)
    if extra:
        takes = ", ".join(sorted(defaults)) or "none"
        raise ValueError(
            f"activation {name!r} does not take {', '.join(map(repr, extra))} "
            f"(its hyperparameters: {takes})"
        )
    # A key present with value None (e.g. from an override) falls back to the default.
    return name, {
        key: default if cfg.get(key) is None else cfg[key] for key, default in defaults.items()
    }


def width_factor(cfg: Mapping[str, Any] | str) -> int:
    """Linear units the layer before the activation must produce per hidden unit.

    Args:
        cfg: The activation config (a mapping or DictConfig with ``name`` and the
            option's keys), or just a name.

    Returns:
        ``cfg.pieces`` for maxout, 1 for every elementwise activation.

    Raises:
        ValueError: On an unknown name or a key the activation does not take.
    """
    name, params = _options(cfg)
    return int(params["pieces"]) if name == "maxout" else 1


def build(cfg: Mapping[str, Any] | str, name: str | None = None) -> keras.layers.Layer:
    """A new layer applying the hidden activation ``cfg``.

    Put it after a Dense/Conv layer with ``units * width_factor(cfg)`` outputs.

    Args:
        cfg: The activation config (a mapping or DictConfig with ``name`` and the
            option's keys: ``alpha`` for leaky_relu/elu, ``pieces`` for maxout,
            ``straight_through`` for step), or just a name. Missing keys take the
            schema defaults.
        name: The layer's name; ``None`` lets Keras choose one.

    Returns:
        A :class:`Maxout` or :class:`Step` layer, ``keras.layers.LeakyReLU`` /
        ``keras.layers.ELU`` with ``cfg.alpha``, or ``keras.layers.Activation``.

    Raises:
        ValueError: On an unknown name (listing the valid ones) or a key the
            activation does not take (naming the key and the activation).
    """
    act, params = _options(cfg)
    if act == "maxout":
        return Maxout(pieces=params["pieces"], name=name)
    if act == "step":
        return Step(straight_through=params["straight_through"], name=name)
    if act == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=float(params["alpha"]), name=name)
    if act == "elu":
        return keras.layers.ELU(alpha=float(params["alpha"]), name=name)
    return keras.layers.Activation(get(act), name=name)
