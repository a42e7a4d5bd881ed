"""The course's update rules against the project's Keras optimizers, to 1e-6."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from omegaconf import OmegaConf, open_dict

from pipeline.config.compose import compose_config
from pipeline.figures import update_rules as rules

AGREEMENT = 1e-6  # the bound


@pytest.fixture(scope="module")
def settings():
    return compose_config().figures.update_rules


@pytest.fixture(scope="module")
def rows(settings):
    return rules.compare_rules(settings)


def config(name: str, **changes):
    cfg = rules.optimizer_config(name, 0.1)
    with open_dict(cfg):
        for key, value in changes.items():
            cfg[key] = value
    return cfg


@pytest.mark.slow
def test_every_lecture_optimizer_agrees_with_its_course_formula(rows, settings):
    assert [r["optimizer"] for r in rows] == [
        "gd", "sgd", "momentum", "nag", "adagrad", "rmsprop", "adam",
    ]  # fmt: skip
    for r in rows:
        assert r["max_abs_diff"] <= AGREEMENT, r
        assert r["steps"] == settings.steps and r["learning_rate"] == settings.learning_rate
        # The steps moved w: agreement is not two copies of the start.
        assert np.max(np.abs(np.subtract(r["keras_w"], rules.W0))) > 0.1


@pytest.mark.slow
def test_the_table_compares_real_keras_steps_with_the_settings():
    one = OmegaConf.create({"steps": 1, "learning_rate": 0.05})
    gd = rules.compare_rules(one)[0]
    want = rules.W0 - 0.05 * (rules.A @ rules.W0 - rules.B)  # one plain step by hand
    np.testing.assert_allclose(gd["keras_w"], want, rtol=0, atol=1e-8)
    many = rules.compare_rules(OmegaConf.create({"steps": 50, "learning_rate": 0.1}))
    assert all(r["max_abs_diff"] <= AGREEMENT for r in many)


def test_nag_keras_holds_the_look_ahead_point_not_the_courses_w():
    cfg = config("nag")
    w, v, m = rules.W0.copy(), np.zeros(2), cfg.momentum
    for _ in range(3):  # the course's rule, keeping W and V apart
        v = m * v - 0.1 * rules.gradient(w + m * v)
        w = w + v
    ours = rules.keras_steps(cfg, 3)
    np.testing.assert_allclose(ours, w + m * v, rtol=0, atol=AGREEMENT)
    assert np.max(np.abs(ours - w)) > 1e-2


def test_adagrad_starts_from_kerass_initial_accumulator():
    for start in (0.1, 2.0):
        cfg = config("adagrad", initial_accumulator_value=start)
        diff = rules.keras_steps(cfg, 3) - rules.RULES["adagrad"].run(cfg, 3)
        assert np.max(np.abs(diff)) <= AGREEMENT
    # Started at 0, as the course's sum from i = 0 suggests, it would not agree.
    zero_start = config("adagrad", initial_accumulator_value=0.0)
    ours = rules.keras_steps(config("adagrad"), 3)
    assert np.max(np.abs(ours - rules.RULES["adagrad"].run(zero_start, 3))) > 100 * AGREEMENT


@pytest.mark.parametrize("name", ["adagrad", "rmsprop", "adam"])
def test_epsilon_sits_where_keras_puts_it(name):
    # A large epsilon makes its place visible: the formulas still agree.
    cfg = config(name, epsilon=0.5)
    diff = rules.keras_steps(cfg, 3) - rules.RULES[name].run(cfg, 3)
    assert np.max(np.abs(diff)) <= AGREEMENT


def textbook_adam(cfg, steps: int) -> np.ndarray:
    """Kingma & Ba's Algorithm 1: epsilon added after the bias correction."""
    w, m, v = rules.W0.copy(), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        g = rules.gradient(w)
        m = cfg.beta_1 * m + (1 - cfg.beta_1) * g
        v = cfg.beta_2 * v + (1 - cfg.beta_2) * g * g
        m_hat, v_hat = m / (1 - cfg.beta_1**t), v / (1 - cfg.beta_2**t)
        w = w - cfg.learning_rate * m_hat / (np.sqrt(v_hat) + cfg.epsilon)
    return w


def test_kingma_and_bas_epsilon_would_not_agree():
    cfg = config("adam", epsilon=0.5)
    assert np.max(np.abs(rules.keras_steps(cfg, 3) - textbook_adam(cfg, 3))) > 1e-3
    # With the project's epsilon the textbook form is off by 2e-6: Keras' float32 beta.
    cfg = config("adam")
    assert np.max(np.abs(rules.keras_steps(cfg, 3) - textbook_adam(cfg, 3))) > AGREEMENT


def test_a_config_beyond_the_courses_rule_is_refused():
    with pytest.raises(ValueError, match="the course's RMSProp has neither momentum"):
        rules.RULES["rmsprop"].run(config("rmsprop", momentum=0.9), 3)
    with pytest.raises(ValueError, match="the course's Adam is not AMSGrad"):
        rules.RULES["adam"].run(config("adam", amsgrad=True), 3)


def test_draw_writes_the_table_as_markdown_and_csv(settings, rows, tmp_path):
    paths = rules.draw(settings, tmp_path, seed=42)
    assert paths == [tmp_path / "update_rules.md", tmp_path / "update_rules.csv"]
    table = [line for line in paths[0].read_text().splitlines() if line.startswith("| ")]
    assert table[0].startswith("| optimizer | course formula | Keras w | numpy w |")
    assert [line.split(" | ")[0].strip("| ") for line in table[1:]] == list(rules.LECTURE)
    assert all(line.endswith("| yes |") for line in table[1:])
    assert "ε̂ = ε/√(1 − β₂ᵗ)" in table[-1]  # Adam's difference from the paper, said
    parsed = list(csv.DictReader(io.StringIO(paths[1].read_text())))
    assert [r["optimizer"] for r in parsed] == list(rules.LECTURE)
    for got, want in zip(parsed, rows, strict=True):
        assert [float(x) for x in got["keras_w"].split()] == pytest.approx(want["keras_w"])
        assert float(got["max_abs_diff"]) == pytest.approx(want["max_abs_diff"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
