"""The report's face in the MLflow UI: metric keys and values from a summary table."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from mlflow.utils.validation import _validate_metric_name

from pipeline.compare.publish import description, metric_key, summary_metrics


@pytest.mark.parametrize(
    ("parts", "key"),
    [
        (
            ("mean_test_accuracy", "activation=relu, optimizer=adam"),
            "mean_test_accuracy/activation-relu optimizer-adam",
        ),
        (
            ("mean_test_accuracy", "model.hidden_units=[256, 128]"),
            "mean_test_accuracy/model.hidden_units-_256 128_",
        ),
        (
            ("mean_test_rmse", "iris regression", "optimizer=sgd"),
            "mean_test_rmse/iris regression/optimizer-sgd",
        ),
        (("best_mean_test_accuracy", "a/b=c"), "best_mean_test_accuracy/a_b-c"),
    ],
)
def test_metric_keys_name_the_configuration_and_are_valid_mlflow_keys(parts, key):
    assert metric_key(*parts) == key
    _validate_metric_name(key)  # MLflow's own check raises on a key it would refuse


def test_metric_keys_are_capped_at_mlflows_limit():
    key = metric_key("mean_test_accuracy", "x=" + "y" * 400)
    assert len(key) == 250
    _validate_metric_name(key)


def _summary(rows):
    columns = ["dataset", "task", "metric", "configuration", "mean", "best", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def test_one_group_gives_the_best_a_mean_and_a_verdict_per_configuration():
    summary = _summary(
        [
            ("iris", "multiclass", "test_accuracy", "activation=relu", 0.95, True, "best"),
            ("iris", "multiclass", "test_accuracy", "activation=tanh", 0.90, False, "worse"),
            ("iris", "multiclass", "test_accuracy", "activation=elu", 0.949, False, "equivalent"),
            ("iris", "multiclass", "test_accuracy", "activation=gelu", 0.94, False, "undecided"),
            ("iris", "multiclass", "test_accuracy", "activation=step", float("nan"), False, None),
        ]
    )
    metrics = summary_metrics(summary)
    assert math.isnan(metrics.pop("verdict/activation-gelu"))  # undecided: NaN
    assert metrics == {
        "mean_test_accuracy/activation-relu": 0.95,
        "best_mean_test_accuracy": 0.95,
        "verdict/activation-relu": 1.0,
        "mean_test_accuracy/activation-tanh": 0.90,
        "verdict/activation-tanh": -1.0,
        "mean_test_accuracy/activation-elu": 0.949,
        "verdict/activation-elu": 0.0,
        "mean_test_accuracy/activation-gelu": 0.94,
    }


def test_several_groups_are_named_in_the_keys():
    summary = _summary(
        [
            ("iris", "multiclass", "test_accuracy", "optimizer=adam", 0.93, True, "best"),
            ("iris", "regression", "test_rmse", "optimizer=adam", 0.21, True, "best"),
            ("iris", "regression", "test_rmse", "optimizer=sgd", 0.35, False, "worse"),
        ]
    )
    assert summary_metrics(summary) == {
        "mean_test_accuracy/iris multiclass/optimizer-adam": 0.93,
        "best_mean_test_accuracy/iris multiclass": 0.93,
        "verdict/iris multiclass/optimizer-adam": 1.0,
        "mean_test_rmse/iris regression/optimizer-adam": 0.21,
        "best_mean_test_rmse/iris regression": 0.21,
        "verdict/iris regression/optimizer-adam": 1.0,
        "mean_test_rmse/iris regression/optimizer-sgd": 0.35,
        "verdict/iris regression/optimizer-sgd": -1.0,
    }


def test_the_description_leads_with_the_tables():
    text = description("## iris (multiclass)\n\n| rank |\n", "children of run abc", "report")
    assert text.startswith("## iris (multiclass)\n\n| rank |\n\nSelected: children of run abc.")
    assert "`report/`" in text
