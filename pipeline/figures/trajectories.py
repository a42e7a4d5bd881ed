"""The optimizers' paths on 2-D test functions, from a common start (the course's
optimizer pictures, drawn by the real Keras optimizers).

Each optimizer of ``figures.paths.optimizers`` is built by :func:`pipeline.kinds.optimizers.get`
from ``conf/optimizer/<name>.yaml`` (momentum 0.9, Nesterov, Adam's betas ...) with its
learning rate from ``figures.paths.learning_rates``, and minimises each function of
``figures.paths.functions`` (:data:`FUNCTIONS`) for ``figures.paths.steps`` steps, with
the exact gradient from ``tf.GradientTape``; ``sgd`` adds Gaussian noise to it (a
mini-batch's estimate of the gradient). :func:`draw` writes ``paths_<function>.png``:
the paths over contour lines beside the loss against the step (and, with
``figures.paths.gif``, ``paths_<function>.gif``).

TensorFlow, Keras and matplotlib are imported inside the functions that use them, so
:func:`check` runs before any heavy import.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, open_dict

from pipeline.config.ranges import RANGES
from pipeline.config.schemas import pick
from pipeline.kinds import optimizers
from pipeline.system.io import atomic_write_bytes

# A path stops once a point leaves its function's window enlarged this many times
# about its centre (or is not finite): it diverged, or escaped a function unbounded below.
BOX_FACTOR = 10.0


@dataclass(frozen=True)
class Function:
    """A 2-D test function: ``f(x, y)`` written with arithmetic operators only, so it
    takes numpy arrays (the contour grid) and TensorFlow tensors (the exact gradient
    by autodiff) alike."""

    name: str
    formula: str  # matplotlib mathtext, for the figure's title
    f: Callable[[Any, Any], Any]
    start: tuple[float, float]  # every optimizer's first point
    window: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max plotted
    minimum: tuple[float, float] | None  # the global minimum; None: unbounded below

    def __call__(self, x: Any, y: Any) -> Any:
        return self.f(x, y)

    def inside_box(self, point: np.ndarray) -> bool:
        """Whether ``point`` is finite and within :data:`BOX_FACTOR` times the window."""
        x_min, x_max, y_min, y_max = self.window
        centre = np.array([x_min + x_max, y_min + y_max]) / 2
        half = np.array([x_max - x_min, y_max - y_min]) / 2 * BOX_FACTOR
        return bool(np.all(np.isfinite(point)) and np.all(np.abs(point - centre) <= half))


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function(
            "elongated_quadratic",
            r"$f(x, y) = x^2/100 + y^2$: a hundred times steeper along $y$ than along $x$",
            lambda x, y: x**2 / 100 + y**2,
            start=(-7.0, 2.0),
            window=(-8.0, 8.0, -3.0, 3.0),
            minimum=(0.0, 0.0),
        ),
        Function(
            "rosenbrock",
            r"Rosenbrock $f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2$: a curved valley",
            lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
            start=(-1.2, 1.0),
            window=(-2.0, 2.0, -1.0, 3.0),
            minimum=(1.0, 1.0),
        ),
        Function(
            "beale",
            r"Beale $f(x, y) = \sum_{i=1}^{3} (c_i - x + x y^i)^2$, $c = (1.5, 2.25, 2.625)$",
            lambda x, y: (
                (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2
            ),
            start=(1.0, 1.5),
            window=(-0.5, 4.5, -2.0, 2.0),
            minimum=(3.0, 0.5),
        ),
        Function(
            "saddle",
            r"Saddle $f(x, y) = x^2 - y^2$: no minimum, a path must escape along $y$",
            lambda x, y: x**2 - y**2,
            start=(-1.5, 0.01),
            window=(-2.0, 2.0, -2.0, 2.0),
            minimum=None,
        ),
    )
}
NAMES: tuple[str, ...] = tuple(FUNCTIONS)


def resolve(function: Any) -> Function:
    """The test function named ``function`` (or ``function`` itself, a
    :class:`Function`); a ValueError naming the valid ones otherwise."""
    if isinstance(function, Function):
        return function
    return pick(FUNCTIONS, function, "test function")


def check(settings: Mapping[str, Any]) -> None:
    """Check ``figures.paths`` before any heavy import: every function and optimizer
    known, a positive learning rate for each optimizer on each function, pillow
    there for a GIF.

    Raises:
        ValueError: one line naming the bad value and the valid ones.
    """
    for name in settings["functions"]:
        resolve(name)
    for name in settings["optimizers"]:
        optimizers.schema(name)
    rates = settings["learning_rates"]
    for name in rates:
        resolve(name)
        for optimizer in rates[name]:
            optimizers.schema(optimizer)
    for name in settings["functions"]:
        for optimizer in settings["optimizers"]:
            learning_rate(settings, name, optimizer)
    if settings["gif"] and importlib.util.find_spec("PIL") is None:
        raise ValueError(
            "figures.paths.gif=true needs pillow (matplotlib's GIF writer): "
            "pip install pillow, or set figures.paths.gif=false"
        )


def learning_rate(settings: Mapping[str, Any], function: str, optimizer: str) -> float:
    """``figures.paths.learning_rates.<function>.<optimizer>``; a ValueError when it is
    missing or not positive."""
    rates = settings["learning_rates"]
    if function not in rates:
        raise ValueError(
            f"figures.paths.learning_rates has no learning rates for function {function!r}; "
            f"it has: {', '.join(rates) or 'none'}"
        )
    if optimizer not in rates[function]:
        raise ValueError(
            f"figures.paths.learning_rates.{function} has no learning rate for optimizer "
            f"{optimizer!r}; it has: {', '.join(rates[function]) or 'none'}"
        )
    value, valid = rates[function][optimizer], RANGES["learning_rate"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value not in valid:
        raise ValueError(
            f"figures.paths.learning_rates.{function}.{optimizer}={value!r}: must be {valid}"
        )
    return float(value)


def optimizer_config(name: str, learning_rate: float | None = None) -> DictConfig:
    """Optimizer ``name`` as ``conf/optimizer/<name>.yaml`` composes it (with
    ``learning_rate`` when given)."""
    from pipeline.config.compose import compose_config  # lazy, for cost (Hydra)

    cfg = compose_config([f"optimizer={name}"]).optimizer
    if learning_rate is not None:
        with open_dict(cfg):
            cfg.learning_rate = float(learning_rate)
    return cfg


def path(
    function: str | Function,
    optimizer_cfg: Mapping[str, Any],
    steps: int,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The points the Keras optimizer ``optimizer_cfg`` visits minimising ``function``
    from its start: ``steps + 1`` rows of ``(x, y)``, the start first.

    Each step applies the exact gradient (``tf.GradientTape``) plus, when ``noise`` > 0,
    Gaussian noise of that standard deviation drawn from ``rng``. A path that leaves
    the function's box (:meth:`Function.inside_box`) stops there: its later rows are
    NaN (:func:`stopped_at`).
    """
    import keras  # lazy, for cost
    import tensorflow as tf  # lazy, for cost

    fn = resolve(function)
    if noise > 0 and rng is None:
        raise ValueError("a noisy gradient (noise > 0) needs a numpy Generator rng")
    optimizer = optimizers.get(optimizer_cfg)
    w = keras.Variable(np.asarray(fn.start, np.float32), name="w")
    shift = rng.normal(0.0, noise, (steps, 2)) if noise > 0 else np.zeros((steps, 2))

    @tf.function
    def step(g_noise: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            value = fn(w[0], w[1])
        optimizer.apply_gradients([(tape.gradient(value, w) + g_noise, w)])

    points = np.full((steps + 1, 2), np.nan)
    points[0] = fn.start
    for i in range(steps):
        step(tf.constant(shift[i], tf.float32))
        points[i + 1] = np.asarray(w.numpy(), np.float64)
        if not fn.inside_box(points[i + 1]):
            if not np.all(np.isfinite(points[i + 1])):
                points[i + 1] = np.nan
            break
    return points


def stopped_at(function: str | Function, points: np.ndarray) -> int | None:
    """The last step of a path :func:`path` stopped (it left the box or was not
    finite); None for a path that ran all its steps inside the box."""
    finite = np.flatnonzero(np.all(np.isfinite(points), axis=1))
    last = int(finite[-1])
    if last < len(points) - 1 or not resolve(function).inside_box(points[last]):
        return last
    return None


def losses(function: str | Function, points: np.ndarray) -> np.ndarray:
    """``function`` at each point of a path (NaN where the path stopped)."""
    fn = resolve(function)
    return np.asarray(fn(points[:, 0], points[:, 1]), np.float64)


def direction_changes(points: np.ndarray, axis: int) -> int:
    """How often the step along ``axis`` (0: x, 1: y) changes sign: a zig-zag's count.

    Steps of exactly zero, and the NaN rows of a stopped path, have no direction and
    are skipped.
    """
    steps = np.diff(points[:, axis])
    signs = np.sign(steps[np.isfinite(steps) & (steps != 0)])
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


def gradient_norm(function: str | Function, point: tuple[float, float]) -> float:
    """The norm of ``function``'s gradient at ``point`` (central differences)."""
    fn, (x, y), h = resolve(function), point, 1e-6
    dx, dy = fn(x + h, y) - fn(x - h, y), fn(x, y + h) - fn(x, y - h)
    return float(np.hypot(dx, dy) / (2 * h))


def paths(settings: Mapping[str, Any], seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Every optimizer's path on every function of ``settings`` (``figures.paths``):
    ``result[function][optimizer]``, in the settings' order.

    ``sgd``'s noise has the standard deviation ``sgd_noise`` times the norm of the
    function's gradient at the start (the same meaning on functions whose gradients
    differ a hundredfold), drawn from ``numpy.random.default_rng(seed)`` afresh for
    each function, so that a function's paths do not depend on the others listed.
    """
    check(settings)
    composed = {name: optimizer_config(name) for name in settings["optimizers"]}
    result: dict[str, dict[str, np.ndarray]] = {}
    for name in settings["functions"]:
        fn = resolve(name)
        result[name] = {}
        for optimizer, cfg in composed.items():
            cfg = cfg.copy()
            cfg.learning_rate = learning_rate(settings, name, optimizer)
            noise = 0.0
            if optimizer == "sgd":
                noise = float(settings["sgd_noise"]) * gradient_norm(fn, fn.start)
            rng = np.random.default_rng(seed)
            result[name][optimizer] = path(fn, cfg, int(settings["steps"]), noise, rng)
    return result


# ------------------------------------------------------------------ drawing
def _pyplot() -> Any:
    """``matplotlib.pyplot``, by way of :mod:`pipeline.training.plots`, which selects the headless
    backend first."""
    from pipeline.training import plots  # lazy, for cost (matplotlib, pandas)

    return plots.plt


def label(settings: Mapping[str, Any], function: str, optimizer: str, points: np.ndarray) -> str:
    """An optimizer's legend entry: its learning rate, sgd's noise, where it stopped."""
    fn = resolve(function)
    text = f"{optimizer} (lr {learning_rate(settings, function, optimizer):g})"
    if optimizer == "sgd" and settings["sgd_noise"] > 0:
        text += f" + noise σ = {settings['sgd_noise']:g}·|∇f(start)|: a mini-batch's estimate"
    stop = stopped_at(fn, points)
    if stop is not None:
        if fn.inside_box(points[stop]):
            text += f", diverged: not finite after step {stop}"
        else:
            verb = "escaped" if fn.minimum is None else "diverged"
            text += f", {verb}: {BOX_FACTOR:g}× beyond the plot at step {stop}"
    return text


def _contours(ax: Any, fn: Function) -> None:
    """``fn``'s contour lines over its window: log-spaced levels where it is positive,
    linear ones for a function unbounded below."""
    x_min, x_max, y_min, y_max = fn.window
    x, y = np.meshgrid(np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300))
    z = fn(x, y)
    if fn.minimum is None:
        levels = np.linspace(z.min(), z.max(), 25)
    else:
        low = max(float(z[z > 0].min()), float(z.max()) * 1e-6)
        levels = np.geomspace(low, float(z.max()), 25)
    ax.contour(x, y, z, levels=levels, cmap="viridis", linewidths=0.7, alpha=0.6)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _markers(ax: Any, fn: Function) -> None:
    ax.plot(*fn.start, "k*", ms=12, zorder=5, label=f"start {fn.start}")
    if fn.minimum is not None:
        ax.plot(*fn.minimum, "rX", ms=10, zorder=5, label=f"minimum {fn.minimum}")


def _loss_panel(ax: Any, fn: Function, curves: Mapping[str, np.ndarray]) -> None:
    """Each optimizer's loss against the step: the gap to the minimum on a log scale,
    or, for a function unbounded below, the value itself on a symlog scale."""
    for i, points in enumerate(curves.values()):
        values = losses(fn, points)
        if fn.minimum is not None:
            values = values - fn(*fn.minimum)
        ax.plot(np.arange(len(values)), values, color=f"C{i}", lw=1.3)
    if fn.minimum is None:
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set_ylabel("f(x, y)")
    else:
        ax.set_yscale("log")
        ax.set_ylabel("f(x, y) − f(minimum)")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3, which="both")


def figure(settings: Mapping[str, Any], function: str, curves: Mapping[str, np.ndarray]) -> Any:
    """The figure of ``function``: the paths over contour lines beside the loss per step."""
    fn = resolve(function)
    fig, (left, right) = _pyplot().subplots(
        1, 2, figsize=(14, 7), width_ratios=(1.25, 1), layout="constrained"
    )
    _contours(left, fn)
    for i, (optimizer, points) in enumerate(curves.items()):
        text = label(settings, function, optimizer, points)
        left.plot(points[:, 0], points[:, 1], "-o", color=f"C{i}", lw=1.2, ms=2, label=text)
    _markers(left, fn)
    _loss_panel(right, fn, curves)
    # Below both panels, where it hides no path: the loss curves share the colours.
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    steps = len(next(iter(curves.values()))) - 1
    fig.suptitle(f"{fn.formula}; {steps} steps of each Keras optimizer")
    return fig


def animation_frames(steps: int, most: int = 40) -> np.ndarray:
    """The steps a GIF shows: at most ``most``, evenly spread, the first and last included."""
    return np.unique(np.linspace(0, steps, min(steps + 1, most)).round().astype(int))


def write_gif(
    settings: Mapping[str, Any], function: str, curves: Mapping[str, np.ndarray], path: Path
) -> Path:
    """The paths growing step by step over the contour lines, as an animated GIF,
    written atomically to ``path``."""
    from matplotlib.animation import FuncAnimation, PillowWriter  # lazy, for cost

    plt = _pyplot()
    fn = resolve(function)
    fig, ax = plt.subplots(figsize=(6.5, 5.2), dpi=72, layout="constrained")
    _contours(ax, fn)
    lines = [
        ax.plot([], [], "-o", color=f"C{i}", lw=1.2, ms=2, label=optimizer)[0]
        for i, optimizer in enumerate(curves)
    ]
    _markers(ax, fn)
    ax.legend(fontsize=8, loc="upper left", framealpha=0.85)

    def update(step: int) -> list[Any]:
        for line, points in zip(lines, curves.values(), strict=True):
            line.set_data(points[: step + 1, 0], points[: step + 1, 1])
        ax.set_title(f"{fn.name}: step {step}")
        return lines

    fig.canvas.draw()  # lay the figure out once: redone per frame, it took most of the time
    fig.set_layout_engine("none")
    steps = len(next(iter(curves.values()))) - 1
    animation = FuncAnimation(fig, update, frames=animation_frames(steps), blit=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:  # the writer needs a file name
            gif = Path(tmp) / path.name
            animation.save(gif, writer=PillowWriter(fps=8), dpi=72)
            return atomic_write_bytes(path, gif.read_bytes())
    finally:
        plt.close(fig)


def draw(settings: DictConfig, out: Path, seed: int) -> list[Path]:
    """Write ``paths_<function>.png`` (and ``paths_<function>.gif`` with
    ``settings.gif``) for each function of ``settings`` (``figures.paths``) into
    ``out``; return their paths, function by function."""
    from pipeline.training.plots import save_figure  # lazy, for cost (matplotlib, pandas)

    computed = paths(settings, seed)
    written: list[Path] = []
    for function, curves in computed.items():
        written.append(
            save_figure(figure(settings, function, curves), out / f"paths_{function}.png")
        )
        if settings["gif"]:
            written.append(write_gif(settings, function, curves, out / f"paths_{function}.gif"))
    return written
