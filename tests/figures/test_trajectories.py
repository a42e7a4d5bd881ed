"""The optimizers' paths (pipeline.figures.trajectories): real Keras optimizers on 2-D
functions, checked against hand-computed steps and the course's claims."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.config.compose import compose_config
from pipeline.figures import trajectories as T
from tests.helpers import REPO_ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A white figure has pixel variance 0, a figure with axes and lines about 0.01 and more.
MIN_PIXEL_VARIANCE = 1e-3

# A round bowl whose minimum is off the origin, so that a path collapsing to 0 fails.
BOWL = T.Function(
    "bowl",
    "$(x - 1)^2 + 2 (y + 0.5)^2$",
    lambda x, y: (x - 1) ** 2 + 2 * (y + 0.5) ** 2,
    start=(-2.0, 1.5),
    window=(-3.0, 3.0, -3.0, 3.0),
    minimum=(1.0, -0.5),
)

# Each function's gradient, by hand, for the first step of gd.
GRADIENTS = {
    "elongated_quadratic": lambda x, y: (2 * x / 100, 2 * y),
    "rosenbrock": lambda x, y: (-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)),
    "beale": lambda x, y: (
        sum(2 * (c - x + x * y**i) * (y**i - 1) for i, c in ((1, 1.5), (2, 2.25), (3, 2.625))),
        sum(
            2 * (c - x + x * y**i) * i * x * y ** (i - 1)
            for i, c in ((1, 1.5), (2, 2.25), (3, 2.625))
        ),
    ),
    "saddle": lambda x, y: (2 * x, -2 * y),
}


def assert_png_not_blank(path: Path) -> None:
    """A PNG by its signature, readable, and not blank: its pixels vary."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels[..., :3].var()) > MIN_PIXEL_VARIANCE, path


def settings(**changes) -> dict:
    """The default ``figures.paths`` as a plain dict, with ``changes``."""
    base = OmegaConf.to_container(compose_config().figures.paths)
    base.update(copy.deepcopy(changes))
    return base


def distance(point: np.ndarray, target: tuple[float, float]) -> float:
    return float(np.hypot(*(np.asarray(point) - np.asarray(target))))


# ------------------------------------------------------------------ the paths
def test_sgd_without_noise_and_adam_end_near_the_minimum_of_a_convex_quadratic():
    # SGD (lr 0.1): each step multiplies the distance along x by 1 - 2 lr = 0.8 and along
    # y by 1 - 4 lr = 0.6, so 60 steps leave 0.8**60 * 3.4 = 5e-6; float32 rounding is
    # 1e-7. Adam's step is about lr per coordinate far off and shrinks near the minimum:
    # 0.02 after 100 steps from 3.4 away; half a learning rate (0.05) is the tolerance.
    sgd = T.path(BOWL, T.optimizer_config("sgd", 0.1), steps=60)
    adam = T.path(BOWL, T.optimizer_config("adam", 0.1), steps=100)
    assert sgd.shape == (61, 2) and adam.shape == (101, 2)
    assert tuple(sgd[0]) == BOWL.start == tuple(adam[0])
    assert distance(sgd[-1], BOWL.minimum) < 1e-4
    assert distance(adam[-1], BOWL.minimum) < 0.05
    assert distance(adam[50], BOWL.minimum) > distance(adam[-1], BOWL.minimum)


def test_momentum_changes_direction_along_the_steep_axis_less_often_than_sgd():
    # lr 0.6 on x^2/100 + y^2: along y (curvature 2) SGD's step multiplies y by
    # 1 - 1.2 = -0.2, a new direction every step; momentum 0.9 turns about every 2.6 steps.
    steps = 30
    sgd = T.path("elongated_quadratic", T.optimizer_config("sgd", 0.6), steps)
    momentum = T.path("elongated_quadratic", T.optimizer_config("momentum", 0.6), steps)
    assert T.direction_changes(sgd, axis=1) == steps - 1
    assert 0 < T.direction_changes(momentum, axis=1) < steps / 2
    # Along the shallow axis neither turns back.
    assert T.direction_changes(sgd, axis=0) == 0 == T.direction_changes(momentum, axis=0)


@pytest.mark.parametrize("name", T.NAMES)
def test_the_first_keras_step_of_gd_is_w_minus_lr_times_the_gradient(name):
    fn, lr = T.FUNCTIONS[name], 0.001
    points = T.path(name, T.optimizer_config("gd", lr), steps=2)
    x, y = fn.start
    expected = np.array(fn.start) - lr * np.array(GRADIENTS[name](x, y))
    np.testing.assert_allclose(points[1], expected, rtol=0, atol=1e-6)
    assert not np.allclose(points[1], fn.start)  # the step is not nothing


def test_direction_changes_counts_sign_changes_skipping_zero_and_stopped_steps():
    points = np.array([[0, 0], [0, 1], [0, 0], [0, 1], [0, 1], [0, 2], [np.nan, np.nan]])
    # steps along y: +1, -1, +1, 0, +1, nan -> two changes
    assert T.direction_changes(points, axis=1) == 2
    assert T.direction_changes(points, axis=0) == 0


def test_a_diverging_path_stops_and_says_so():
    # lr 0.01 on Rosenbrock: 0.01 * 1330 (the curvature at the start) > 2, so gd blows up.
    points = T.path("rosenbrock", T.optimizer_config("gd", 0.01), steps=50)
    stop = T.stopped_at("rosenbrock", points)
    assert stop is not None and 0 < stop < 50
    assert np.all(np.isfinite(points[: stop + 1])) and np.all(np.isnan(points[stop + 1 :]))
    assert not T.FUNCTIONS["rosenbrock"].inside_box(points[stop])
    s = settings(learning_rates={"rosenbrock": {"gd": 0.01}})
    assert T.label(s, "rosenbrock", "gd", points) == (
        f"gd (lr 0.01), diverged: 10× beyond the plot at step {stop}"
    )


def test_a_path_escaping_the_saddle_is_labelled_escaped_and_a_full_path_is_not_stopped():
    escaped = T.path("saddle", T.optimizer_config("gd", 0.3), steps=60)
    stop = T.stopped_at("saddle", escaped)
    assert stop is not None and abs(escaped[stop, 1]) > 20  # along y, the way down
    s = settings(learning_rates={"saddle": {"gd": 0.3}})
    assert T.label(s, "saddle", "gd", escaped).endswith(
        f"escaped: 10× beyond the plot at step {stop}"
    )
    calm = T.path("saddle", T.optimizer_config("gd", 0.01), steps=5)
    assert T.stopped_at("saddle", calm) is None
    s = settings(learning_rates={"saddle": {"gd": 0.01}})
    assert T.label(s, "saddle", "gd", calm) == "gd (lr 0.01)"


def test_sgd_noise_is_seeded_relative_to_the_start_gradient_and_gd_has_none():
    s = settings(functions=["saddle"], optimizers=["gd", "sgd"], steps=20, sgd_noise=0.5)
    first, again, other = T.paths(s, 7), T.paths(s, 7), T.paths(s, 8)
    np.testing.assert_array_equal(first["saddle"]["sgd"], again["saddle"]["sgd"])
    assert not np.allclose(first["saddle"]["sgd"], other["saddle"]["sgd"])
    np.testing.assert_array_equal(first["saddle"]["gd"], other["saddle"]["gd"])
    # The noise of the first step, recovered from the points: std 0.5 * |grad f(start)|.
    fn = T.FUNCTIONS["saddle"]
    lr = s["learning_rates"]["saddle"]["sgd"]
    noise = np.random.default_rng(7).normal(0, 0.5 * T.gradient_norm(fn, fn.start), (20, 2))
    expected = np.array(fn.start) - lr * (np.array(GRADIENTS["saddle"](*fn.start)) + noise[0])
    np.testing.assert_allclose(first["saddle"]["sgd"][1], expected, atol=1e-6)


def test_losses_are_the_function_along_the_path():
    points = np.array([[-1.2, 1.0], [1.0, 1.0], [np.nan, np.nan]])
    np.testing.assert_allclose(T.losses("rosenbrock", points)[:2], [24.2, 0.0])
    assert np.isnan(T.losses("rosenbrock", points)[2])


# ------------------------------------------------------------------ bad settings
def test_an_unknown_function_is_one_line_naming_the_valid_ones():
    message = (
        "unknown test function 'himmelblau'; valid test functions: "
        "elongated_quadratic, rosenbrock, beale, saddle"
    )
    with pytest.raises(ValueError) as info:
        T.check(settings(functions=["rosenbrock", "himmelblau"]))
    assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        T.path("himmelblau", T.optimizer_config("gd", 0.1), steps=1)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"optimizers": ["gd", "adamm"]},
            "unknown optimizer 'adamm'; valid optimizers: gd, sgd, momentum, nag, adagrad, "
            "rmsprop, adam, adamw, nadam, adamax, adadelta, lion",
        ),
        (
            {"optimizers": ["gd", "lion"]},
            "figures.paths.learning_rates.elongated_quadratic has no learning rate for "
            "optimizer 'lion'; it has: gd, sgd, momentum, nag, adagrad, rmsprop, adam",
        ),
        (
            {"learning_rates": {"saddle": {"gd": 0.1}}, "functions": ["rosenbrock"]},
            "figures.paths.learning_rates has no learning rates for function 'rosenbrock'; "
            "it has: saddle",
        ),
        (
            {"learning_rates": {"saddle": {"gd": 0.1}, "bowl": {"gd": 0.1}}},
            "unknown test function 'bowl'; valid test functions: "
            "elongated_quadratic, rosenbrock, beale, saddle",
        ),
        (
            {"learning_rates": {"saddle": {"gd": -0.1}}, "functions": ["saddle"],
             "optimizers": ["gd"]},
            "figures.paths.learning_rates.saddle.gd=-0.1: must be > 0",
        ),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_naming_the_bad_value(changes, message):
    with pytest.raises(ValueError) as info:
        T.check(settings(**changes))
    assert str(info.value) == message


def test_the_check_loads_neither_tensorflow_nor_matplotlib():
    script = (
        "import json, sys\n"
        "from pipeline.figures import trajectories as T\n"
        "s = {'functions': ['nope'], 'optimizers': ['gd'], 'learning_rates': {}, 'gif': False}\n"
        "try:\n"
        "    T.check(s)\n"
        "except ValueError as error:\n"
        "    print(error)\n"
        "heavy = ('tensorflow', 'keras', 'matplotlib', 'hydra')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    error, loaded = done.stdout.splitlines()
    assert error.startswith("unknown test function 'nope'; valid test functions: ")
    assert json.loads(loaded) == []


# ------------------------------------------------------------------ the files
@pytest.mark.slow
def test_draw_writes_one_valid_non_blank_png_per_function_even_when_a_path_diverges(tmp_path):
    s = settings(optimizers=["gd", "sgd", "adam"], steps=6)
    s["learning_rates"]["rosenbrock"]["gd"] = 0.01  # diverges at step 2 or 3
    written = T.draw(OmegaConf.create(s), tmp_path, seed=3)
    assert written == [tmp_path / f"paths_{name}.png" for name in T.NAMES]
    for path in written:
        assert_png_not_blank(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


def test_the_png_check_fails_on_a_blank_image(tmp_path):
    import matplotlib.pyplot as plt

    from pipeline.training.plots import save_figure

    blank = save_figure(plt.figure(figsize=(4, 3)), tmp_path / "blank.png")
    with pytest.raises(AssertionError):
        assert_png_not_blank(blank)


@pytest.mark.slow
def test_draw_writes_an_animated_gif_when_asked(tmp_path):
    from PIL import Image

    s = settings(functions=["saddle"], optimizers=["gd", "adam"], steps=4, gif=True)
    written = T.draw(OmegaConf.create(s), tmp_path, seed=3)
    assert written == [tmp_path / "paths_saddle.png", tmp_path / "paths_saddle.gif"]
    assert written[1].read_bytes()[:6] == b"GIF89a"
    with Image.open(written[1]) as gif:
        assert gif.n_frames == 5  # steps 0 to 4
    frames = T.animation_frames(150)  # at most 40 frames, evenly spread, ends included
    assert len(frames) == 40 and frames[0] == 0 and frames[-1] == 150
    assert np.all(np.diff(frames) > 0)


# ------------------------------------------------------------------ the defaults teach
@pytest.fixture(scope="module")
def default_paths() -> dict:
    return T.paths(settings(), seed=42)


@pytest.mark.slow
def test_at_the_defaults_nothing_diverges_and_each_function_is_descended(default_paths):
    for name, curves in default_paths.items():
        fn = T.FUNCTIONS[name]
        for optimizer, points in curves.items():
            assert points.shape == (151, 2)
            if fn.minimum is not None:
                assert T.stopped_at(fn, points) is None, (name, optimizer)
                values = T.losses(fn, points)
                assert values[-1] < values[0] / 5, (name, optimizer)


@pytest.mark.slow
def test_at_the_defaults_the_elongated_quadratic_tells_the_courses_story(default_paths):
    curves = default_paths["elongated_quadratic"]
    gap = {name: T.losses("elongated_quadratic", p)[-1] for name, p in curves.items()}
    # gd zig-zags along the steep axis far more often than momentum and NAG ...
    assert T.direction_changes(curves["gd"], axis=1) > 3 * T.direction_changes(
        curves["momentum"], axis=1
    )
    # ... which end a hundred times closer; Adagrad's shrinking steps leave it behind gd.
    assert max(gap["momentum"], gap["nag"], gap["adam"]) < gap["gd"] / 100
    assert gap["adagrad"] > gap["gd"]
    assert gap["rmsprop"] < 0.01
