"""Every figure (pipeline.training.plots): what is drawn, and when there is nothing to draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.training import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _row(activation, optimizer, mean, ci, n, rank):
    return {
        "dataset": "iris",
        "task": "multiclass",
        "configuration": f"activation={activation}, optimizer={optimizer}",
        "activation.name": activation,
        "optimizer.name": optimizer,
        "metric": "test_accuracy",
        "higher_is_better": True,
        "mean": mean,
        "ci_low": mean - ci,
        "ci_high": mean + ci,
        "n": n,
        "rank": rank,
        "best": rank == 1,
    }


TWO_BY_TWO = pd.DataFrame(
    [
        _row("relu", "adam", 0.95, 0.02, 3, 1),
        _row("relu", "sgd", 0.90, 0.02, 3, 2),
        _row("tanh", "adam", 0.85, 0.05, 3, 3),
        _row("tanh", "sgd", 0.80, np.nan, 1, 4),  # one run: no interval
    ]
)


def _pixels(path):
    assert path.read_bytes()[:8] == PNG
    with Image.open(path) as image:
        return image.size


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    matrix = plots.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert matrix.dtype == np.int64


def test_bars_draw_one_panel_per_group(tmp_path):
    width, _ = _pixels(plots.plot_bars(TWO_BY_TWO, tmp_path / "one.png"))
    other = TWO_BY_TWO.assign(dataset="mnist")
    path = plots.plot_bars(pd.concat([TWO_BY_TWO, other]), tmp_path / "two.png")
    assert _pixels(path)[0] == 2 * width  # 6.5 inches a panel at 110 dpi


def test_nothing_ranked_draws_no_bars(tmp_path):
    unranked = TWO_BY_TWO.assign(rank=pd.NA)
    assert plots.plot_bars(unranked, tmp_path / "bars.png") is None
    assert not (tmp_path / "bars.png").exists()


def test_heatmap_needs_both_activation_and_optimizer_to_vary(tmp_path):
    assert _pixels(plots.plot_heatmap(TWO_BY_TWO, tmp_path / "h.png")) == (660, 495)
    one_optimizer = TWO_BY_TWO[TWO_BY_TWO["optimizer.name"] == "adam"]
    assert plots.plot_heatmap(one_optimizer, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_summary_groups_are_sorted_by_dataset_then_task():
    mixed = pd.concat([TWO_BY_TWO.assign(dataset="mnist"), TWO_BY_TWO.assign(task="binary")])
    assert [key for key, _ in plots.summary_groups(mixed)] == [
        ("iris", "binary"),
        ("mnist", "multiclass"),
    ]


def test_learning_curves_and_confusion_matrix_are_written(tmp_path):
    history = pd.DataFrame(
        {"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]}
    )
    assert _pixels(plots.learning_curves(history, "accuracy", tmp_path / "c.png")) == (1100, 440)
    matrix = np.array([[3, 1], [0, 4]])
    path = plots.plot_confusion_matrix(matrix, ["no", "yes"], tmp_path / "m.png", "test")
    assert _pixels(path) == pytest.approx((242, 220), abs=1)
