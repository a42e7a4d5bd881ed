"""The activation gallery: autodiff derivatives of the registry's layers against numpy."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy.special import erf

from pipeline.config.compose import compose_config
from pipeline.figures import gallery
from pipeline.kinds.activations import NAMES
from tests.figures.pngs import assert_png_not_blank
from tests.helpers import COSTLY_IMPORTS, REPO_ROOT, tool_env

TOLERANCE = 1e-5
# Klambauer et al.'s constants, as Keras' selu uses them.
SELU_LAMBDA, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


@pytest.fixture(scope="module")
def settings():
    return compose_config().figures.gallery


@pytest.fixture(scope="module")
def data(settings):
    return gallery.curves(settings)


def alpha(name: str) -> float:
    """The project's configured alpha (conf/activation/<name>.yaml), not Keras' default."""
    return float(compose_config([f"activation={name}"]).activation.alpha)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


def references(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(f(x), f'(x))`` by the textbook formulas, in float64."""
    s, t = sigmoid(x), np.tanh(x)
    if name == "linear":
        return x, np.ones_like(x)
    if name == "sigmoid":
        return s, s * (1 - s)
    if name == "tanh":
        return t, 1 - t**2
    if name == "relu":
        return np.maximum(x, 0), (x > 0).astype(float)
    if name == "leaky_relu":
        a = alpha(name)
        return np.where(x > 0, x, a * x), np.where(x > 0, 1.0, a)
    if name == "elu":
        a = alpha(name)
        return np.where(x > 0, x, a * np.expm1(x)), np.where(x > 0, 1.0, a * np.exp(x))
    if name == "selu":
        return (
            SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
            SELU_LAMBDA * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(x)),
        )
    if name == "softplus":
        return softplus(x), s
    if name == "swish":
        return x * s, s * (1 + x * (1 - s))
    if name == "gelu":  # Keras' exact gelu: x * Phi(x)
        phi = np.exp(-(x**2) / 2) / np.sqrt(2 * np.pi)
        cdf = 0.5 * (1 + erf(x / np.sqrt(2)))
        return x * cdf, cdf + x * phi
    if name == "mish":
        tsp = np.tanh(softplus(x))
        return x * tsp, tsp + x * (1 - tsp**2) * s
    raise AssertionError(f"no reference for {name}")


SMOOTH = ["linear", "sigmoid", "tanh", "elu", "softplus", "swish", "gelu", "mish"]
# Not differentiable at 0: the value there is a convention, so 0 is left out.
KINKED = ["relu", "leaky_relu", "selu"]


@pytest.mark.slow
def test_every_activation_of_the_group_is_drawn_and_step_twice(data, settings):
    assert list(data) == [
        *NAMES[: NAMES.index("step") + 1],
        gallery.STRAIGHT_THROUGH,
        *NAMES[NAMES.index("step") + 1 :],
    ]
    for x, y, dy in data.values():
        assert x.shape == y.shape == dy.shape == (settings.points,)
        assert x[0] == settings.x_min and x[-1] == settings.x_max


@pytest.mark.parametrize("name", SMOOTH + KINKED)
def test_values_and_derivatives_match_numpy(data, name):
    x, y, dy = data[name]
    keep = x != 0 if name in KINKED else np.ones_like(x, bool)
    want_y, want_dy = references(name, x.astype(np.float64))
    np.testing.assert_allclose(y[keep], want_y[keep], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(dy[keep], want_dy[keep], rtol=0, atol=TOLERANCE)


def test_leaky_relu_and_elu_use_the_projects_alpha_not_keras(data):
    x, _, dy = data["leaky_relu"]
    assert alpha("leaky_relu") == 0.1  # the lecture's; Keras' defaults are 0.2 and 0.3
    assert np.all(dy[x < 0] == np.float32(0.1))


def test_steps_gradient_is_exactly_zero_and_straight_through_passes_one(data):
    x, y, dy = data["step"]
    np.testing.assert_array_equal(y, (x > 0).astype(np.float32))
    np.testing.assert_array_equal(dy, np.zeros_like(x))
    x, y_through, dy_through = data[gallery.STRAIGHT_THROUGH]
    np.testing.assert_array_equal(y_through, y)  # same forward pass
    np.testing.assert_array_equal(dy_through, np.ones_like(x))


def test_sigmoid_and_tanh_max_slopes_are_a_quarter_and_one(data):
    assert gallery.max_slope(data["sigmoid"]) == pytest.approx((0.0, 0.25), abs=1e-6)
    assert gallery.max_slope(data["tanh"]) == pytest.approx((0.0, 1.0), abs=1e-6)


def maxout_reference(settings, x):
    lines = np.outer(x, settings.maxout_slopes) + np.asarray(settings.maxout_intercepts)
    best = lines.argmax(axis=1)
    ordered = np.sort(lines, axis=1)
    tie = ordered[:, -1] - ordered[:, -2] < 1e-4  # at a corner the slope is a convention
    return lines.max(axis=1), np.asarray(settings.maxout_slopes)[best], tie


def test_maxout_is_the_max_of_the_configured_pieces(data, settings):
    x, y, dy = data["maxout"]
    want_y, want_dy, tie = maxout_reference(settings, x.astype(np.float64))
    np.testing.assert_allclose(y, want_y, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(dy[~tie], want_dy[~tie], rtol=0, atol=TOLERANCE)
    assert set(np.unique(dy[~tie])) == set(settings.maxout_slopes)  # every piece is used


def test_other_settings_change_the_grid_and_the_maxout():
    settings = OmegaConf.create(
        {
            "x_min": -2.0,
            "x_max": 3.0,
            "points": 11,
            "maxout_slopes": [2.0, -1.0],
            "maxout_intercepts": [0.0, 0.0],
        }  # fmt: skip
    )
    x, y, dy = gallery.curves(settings)["maxout"]
    np.testing.assert_allclose(x, np.linspace(-2, 3, 11))
    np.testing.assert_allclose(y, np.maximum(2 * x, -x), atol=TOLERANCE)
    np.testing.assert_array_equal(dy[x < 0], -1.0)
    np.testing.assert_array_equal(dy[x > 0], 2.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x_min": 5.0}, "figures.gallery.x_min=5.0 must be below figures.gallery.x_max=5.0"),
        ({"maxout_intercepts": [0.0, 1.0]}, "slopes has 3 entries but maxout_intercepts has 2"),
        ({"maxout_slopes": [1.0], "maxout_intercepts": [0.0]}, "a maxout needs at least 2 pieces"),
    ],
)  # fmt: skip
def test_bad_settings_fail_in_one_line(settings, change, message):
    bad = OmegaConf.merge(settings, change)
    with pytest.raises(ValueError, match=message) as caught:
        gallery.check(bad)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=message):
        gallery.curves(bad)


def test_checking_settings_loads_no_heavy_library():
    code = (
        "import json, sys\n"
        "from pipeline.figures import gallery, softmax\n"
        "for check, s in ((gallery.check, {'x_min': 1.0, 'x_max': 0.0}),\n"
        "                 (softmax.check, {'logits': [], 'offsets': [1.0]})):\n"
        "    try:\n"
        "        check(s)\n"
        "    except ValueError as e:\n"
        "        print(e, file=sys.stderr)\n"
        f"print(json.dumps([m for m in {COSTLY_IMPORTS!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=tool_env(), capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == []
    assert done.stderr.splitlines() == [
        "figures.gallery.x_min=1.0 must be below figures.gallery.x_max=0.0",
        "figures.softmax.logits is empty: give at least one value",
    ]


def test_draw_writes_the_gallery_pngs(settings, tmp_path):
    paths = gallery.draw(settings, tmp_path, seed=42)
    assert paths == [tmp_path / "activations.png", tmp_path / "activations_derivatives.png"]
    for path in paths:
        assert_png_not_blank(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
