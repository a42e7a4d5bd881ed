"""The activation gallery: every hidden activation the project trains with, and its
derivative, both from the registry's own Keras layer.

Each option of the ``activation`` group is composed from ``conf/activation/`` (so
leaky_relu's and elu's ``alpha`` are the project's), built with
:func:`pipeline.kinds.activations.build`, applied to a grid of points, and differentiated by
TensorFlow's autodiff: no formula is written here. The activations are elementwise, so
the gradient of the sum of the outputs is each point's derivative.

The figure marks what the course argues from: sigmoid's largest slope (0.25, hence the
vanishing gradient) and tanh's (1), step's gradient (exactly 0: nothing below it learns)
and what the straight-through option passes back instead (the identity's 1), and maxout
as the max of a few fixed lines.

Keras, TensorFlow and matplotlib are imported inside the functions that use them, so
:func:`check` costs nothing and a bad setting is reported before any of them loads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from pipeline.config.compose import compose_config

FILES = ("activations.png", "activations_derivatives.png")
# The step activation with the straight-through option: an entry of its own in curves().
STRAIGHT_THROUGH = "step_straight_through"
# The activations whose largest slope the figure marks (the course's comparison).
MARKED_SLOPES = ("sigmoid", "tanh")
# The derivatives compared on one axes: the lecture's path from sigmoid to the ReLUs.
COMPARED = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")

Curve = tuple[np.ndarray, np.ndarray, np.ndarray]  # x, f(x), f'(x)


def check(settings: Mapping[str, Any]) -> None:
    """Reject settings no gallery can be drawn from, in one line each (before Keras loads).

    Raises:
        ValueError: If ``x_min`` is not below ``x_max``, or maxout's slopes and
            intercepts differ in number or are fewer than two (a maxout needs two pieces).
    """
    if not settings["x_min"] < settings["x_max"]:
        raise ValueError(
            f"figures.gallery.x_min={settings['x_min']} must be below "
            f"figures.gallery.x_max={settings['x_max']}"
        )
    slopes, intercepts = settings["maxout_slopes"], settings["maxout_intercepts"]
    if len(slopes) != len(intercepts):
        raise ValueError(
            f"figures.gallery.maxout_slopes has {len(slopes)} entries but "
            f"maxout_intercepts has {len(intercepts)}: one of each per piece"
        )
    if len(slopes) < 2:
        raise ValueError(
            f"figures.gallery.maxout_slopes={list(slopes)}: a maxout needs at least 2 pieces"
        )


def grid(settings: Mapping[str, Any]) -> np.ndarray:
    """The sample points, in float32: the dtype the project's layers compute in."""
    return np.linspace(settings["x_min"], settings["x_max"], settings["points"]).astype(np.float32)


def activation_config(name: str) -> DictConfig:
    """Activation ``name`` as the project configures it (``conf/activation/<name>.yaml``),
    a fresh copy each call."""
    return OmegaConf.create(_composed(name))


@functools.cache
def _composed(name: str) -> dict[str, Any]:
    # Composed once per name and process: the curves and the panel titles both need it.
    return OmegaConf.to_container(compose_config([f"activation={name}"]).activation)


def evaluate(apply: Callable[[Any], Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``apply(x)`` and its elementwise derivative by autodiff, on a column of points."""
    import tensorflow as tf  # lazy, for cost

    column = tf.constant(x[:, None])
    with tf.GradientTape() as tape:
        tape.watch(column)
        y = apply(column)
    # Elementwise: d(sum y)/dx_i = f'(x_i). A zero gradient comes back as zeros.
    dy = tape.gradient(y, column)
    return np.asarray(y)[:, 0], np.asarray(dy)[:, 0]


def maxout_function(cfg: DictConfig, slopes: list[float], intercepts: list[float]):
    """The registry's maxout of a scalar input over fixed pieces ``slope_k x + intercept_k``.

    Built as the models build it: a Dense layer of ``width_factor(cfg)`` (= pieces)
    outputs, its kernel and bias set to the slopes and intercepts, then the
    registry's Maxout layer, which takes the max over the pieces.
    """
    import keras  # lazy, for cost

    from pipeline.kinds import activations  # lazy, for cost: Keras

    cfg = OmegaConf.create(OmegaConf.to_container(cfg))  # a copy: the caller's is kept
    with open_dict(cfg):
        cfg.pieces = len(slopes)
    dense = keras.layers.Dense(activations.width_factor(cfg))
    dense.build((None, 1))
    dense.set_weights([np.asarray([slopes], np.float32), np.asarray(intercepts, np.float32)])
    maxout = activations.build(cfg)
    return lambda x: maxout(dense(x))


def curves(settings: Mapping[str, Any]) -> dict[str, Curve]:
    """``{name: (x, f(x), f'(x))}`` for every name of :data:`pipeline.kinds.activations.NAMES`,
    in its order, and :data:`STRAIGHT_THROUGH` (step with ``straight_through=true``:
    step's values, the identity's gradient). Maxout is over the configured pieces.
    """
    from pipeline.kinds import activations  # lazy, for cost: Keras

    check(settings)
    x = grid(settings)
    return {
        key: (x, *evaluate(apply, x))
        for name in activations.NAMES
        for key, apply in _layers(name, settings)
    }


def _layers(name: str, settings: Mapping[str, Any]) -> list[tuple[str, Callable[[Any], Any]]]:
    """The registry's layer(s) drawn for activation ``name``, each with its key in curves()."""
    from pipeline.kinds import activations  # lazy, for cost: Keras

    cfg = activation_config(name)
    if name == "maxout":
        slopes, intercepts = list(settings["maxout_slopes"]), list(settings["maxout_intercepts"])
        return [(name, maxout_function(cfg, slopes, intercepts))]
    if name == "step":  # both variants, whichever conf/activation/step.yaml picks
        variants = []
        for key, through in ((name, False), (STRAIGHT_THROUGH, True)):
            with open_dict(cfg):
                cfg.straight_through = through
            variants.append((key, activations.build(cfg)))
        return variants
    return [(name, activations.build(cfg))]


def max_slope(curve: Curve) -> tuple[float, float]:
    """Where the computed derivative is largest, and its value: ``(x, f'(x))``."""
    x, _, dy = curve
    i = int(np.argmax(dy))
    return float(x[i]), float(dy[i])


def _title(name: str, settings: Mapping[str, Any]) -> str:
    """The panel's title: the name and the hyperparameters the curve was drawn with."""
    if name == "maxout":
        return f"maxout ({len(settings['maxout_slopes'])} fixed pieces)"
    # Step's straight_through is not a title: both variants are drawn on its panel.
    skip = ("name", "straight_through")
    params = {k: v for k, v in activation_config(name).items() if k not in skip}
    return name + (" (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")


def _annotate(ax, name: str, data: dict[str, Curve], settings: Mapping[str, Any]) -> None:
    """The marks on one panel: max slope, step's zero gradient, maxout's pieces."""
    x = data[name][0]
    if name in MARKED_SLOPES:
        at, value = max_slope(data[name])
        ax.plot([at], [value], "o", color="C1")
        ax.annotate(
            f"max slope {value:.3g}", (at, value), xytext=(10, -4), textcoords="offset points"
        )
    elif name == "step":
        _, _, through = data[STRAIGHT_THROUGH]
        ax.plot(x, through, "--", color="C2", label="straight-through grad")
        ax.text(0.03, 0.1, "true gradient: exactly 0", transform=ax.transAxes, color="C1")
    elif name == "maxout":
        for slope, intercept in zip(
            settings["maxout_slopes"], settings["maxout_intercepts"], strict=True
        ):
            ax.plot(x, slope * x + intercept, ":", color="grey", linewidth=0.8)
        _, y, _ = data[name]
        ax.set_ylim(float(y.min()) - 1.0, float(y.max()) + 1.0)


def draw_gallery(data: dict[str, Curve], settings: Mapping[str, Any], path: Path) -> Path:
    """One panel per activation: the function, its derivative, and the marks."""
    from pipeline.training import plots  # lazy, for cost: matplotlib (Agg)

    plt = plots.plt
    names = [n for n in data if n != STRAIGHT_THROUGH]
    columns = 4
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.6 * columns, 2.8 * rows), constrained_layout=True
    )
    flat = list(np.ravel(axes))
    for ax, name in zip(flat, names, strict=False):
        x, y, dy = data[name]
        ax.axhline(0, color="black", linewidth=0.5)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.plot(x, y, color="C0", label="f(x)")
        ax.plot(x, dy, color="C1", label="f'(x) (autodiff)")
        _annotate(ax, name, data, settings)
        ax.set_title(_title(name, settings), fontsize=10)
        ax.grid(alpha=0.3)
        if name == "step":
            ax.legend(fontsize=7, loc="center left")
    for ax in flat[len(names) :]:
        ax.axis("off")
    handles, labels = flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right")
    fig.suptitle("Activations and their derivatives (the project's layers, by autodiff)")
    return plots.save_figure(fig, path)


def draw_derivatives(data: dict[str, Curve], path: Path) -> Path:
    """The lecture's smooth-to-ReLU derivatives on one axes: how much gradient each lets
    through a layer (a product of factors below 0.25 vanishes over a few sigmoid layers)."""
    from pipeline.training import plots  # lazy, for cost: matplotlib (Agg)

    fig, ax = plots.plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    for i, name in enumerate(n for n in COMPARED if n in data):
        x, _, dy = data[name]
        ax.plot(x, dy, color=f"C{i}", label=name)
    for name in MARKED_SLOPES:
        at, value = max_slope(data[name])
        ax.axhline(value, color="grey", linewidth=0.6, linestyle=":")
        ax.annotate(
            f"{name}: max {value:.3g}",
            (at, value),
            xytext=(6, 4),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_xlabel("x")
    ax.set_ylabel("f'(x), by autodiff")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("The gradient each activation lets through")
    return plots.save_figure(fig, path)


def draw(settings: DictConfig, out: Path, seed: int) -> list[Path]:
    """Write ``activations.png`` and ``activations_derivatives.png`` into ``out``.

    ``seed`` is unused: nothing here is random.
    """
    data = curves(settings)
    return [
        draw_gallery(data, settings, out / FILES[0]),
        draw_derivatives(data, out / FILES[1]),
    ]
