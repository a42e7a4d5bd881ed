"""pipeline.config.contract: the names and rules every run is read and written by."""

from __future__ import annotations

import pandas as pd

from pipeline.config.contract import (
    TAG_MAX,
    best_trial_metric,
    error_message,
    objective_metric,
    objective_value,
    primary_metric,
)


def test_an_error_message_names_its_type_and_is_truncated_to_fit_a_tag():
    assert error_message(ValueError("bad alpha")) == "ValueError: bad alpha"
    long = error_message(RuntimeError("x" * 10_000))
    assert len(long) == TAG_MAX == 5000 and long.startswith("RuntimeError: xxx")


def test_each_task_ranks_by_its_primary_test_metric():
    assert primary_metric("multiclass") == ("test_accuracy", True)
    assert primary_metric("binary") == ("test_accuracy", True)
    assert primary_metric("regression") == ("test_rmse", False)


def test_a_search_optimises_the_validation_split_at_the_last_epoch():
    assert objective_metric("multiclass") == objective_metric("binary") == "val_accuracy"
    assert objective_metric("regression") == "val_rmse"
    assert best_trial_metric("regression") == "best_trial_val_rmse"
    history = pd.DataFrame(
        {"epoch": [0, 1], "accuracy": [0.5, 0.7], "val_accuracy": [0.62, 0.58], "val_loss": [1, 2]}
    )
    assert objective_value(history) == 0.58  # the last epoch's, not the best one
    assert objective_value(pd.DataFrame({"epoch": [0], "val_rmse": [0.25]})) == 0.25
    assert objective_value(pd.DataFrame({"epoch": [0], "loss": [0.3]})) is None
    assert objective_value(pd.DataFrame({"val_accuracy": []})) is None
