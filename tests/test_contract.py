"""pipeline.contract: the names and rules every run is read and written by."""

from __future__ import annotations

from pipeline.contract import TAG_MAX, error_message, primary_metric, primary_value


def test_an_error_message_names_its_type_and_is_truncated_to_fit_a_tag():
    assert error_message(ValueError("bad alpha")) == "ValueError: bad alpha"
    long = error_message(RuntimeError("x" * 10_000))
    assert len(long) == TAG_MAX == 5000 and long.startswith("RuntimeError: xxx")


def test_each_task_ranks_by_its_primary_test_metric():
    assert primary_metric("multiclass") == ("test_accuracy", True)
    assert primary_metric("binary") == ("test_accuracy", True)
    assert primary_metric("regression") == ("test_rmse", False)


def test_the_primary_value_of_a_run_of_either_task():
    assert primary_value({"test_accuracy": 0.9, "test_loss": 0.3}) == 0.9
    assert primary_value({"test_rmse": 0.2, "test_mae": 0.1}) == 0.2
    assert primary_value({"test_loss": 0.3}) is None
