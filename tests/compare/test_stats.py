"""Statistics of the comparison: intervals, Welch's test, Holm, ranking (pipeline.compare.stats)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.compare import (
    Selection,
    compare,
    confidence_interval,
    holm,
    select_runs,
    summarize,
    welch_p_value,
)
from pipeline.tracking.store import ensure_experiment
from tests.fake_runs import PNG, params_of, training_run, welch_by_hand


def test_confidence_interval_matches_the_worked_example():
    mean, std, low, high = confidence_interval([0.80, 0.82, 0.84])
    # By hand: mean 0.82; deviations -0.02, 0, 0.02 -> variance 0.0008 / 2 = 0.0004;
    # t_{0.975, 2} = 4.302652729911275 (table); half-width = t * 0.02 / sqrt(3).
    half = 4.302652729911275 * 0.02 / math.sqrt(3)
    assert half == pytest.approx(0.0496827, abs=1e-7)
    assert mean == pytest.approx(0.82, abs=1e-9)
    assert std == pytest.approx(0.02, abs=1e-9)
    assert low == pytest.approx(0.82 - half, abs=1e-9)
    assert high == pytest.approx(0.82 + half, abs=1e-9)


def test_confidence_interval_edge_cases():
    mean, std, low, high = confidence_interval([0.9])
    assert mean == 0.9 and math.isnan(std) and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in confidence_interval([]))
    # 90% interval of two values: t_{0.95, 1} = 6.313751514675043.
    _, _, low, high = confidence_interval([1.0, 3.0], level=0.90)
    half = 6.313751514675043 * math.sqrt(2) / math.sqrt(2)
    assert (low, high) == pytest.approx((2 - half, 2 + half), abs=1e-9)
    with pytest.raises(ValueError, match="between 0 and 1"):
        confidence_interval([1, 2], level=95)


def test_welch_p_value_matches_hand_computations():
    # [1, 2, 3] vs [1, 1, 1]: t = 1 / sqrt(1/3) = sqrt(3), Welch df = 2, and for df = 2
    # the t distribution has a closed form: P(T > t) = 1/2 - t / (2 sqrt(2 + t^2)).
    t = math.sqrt(3)
    assert welch_p_value([1, 2, 3], [1, 1, 1]) == pytest.approx(
        2 * (0.5 - t / (2 * math.sqrt(2 + t * t))), abs=1e-12
    )
    # A general case by the Welch–Satterthwaite formulas.
    a, b = [0.80, 0.82, 0.84], [0.70, 0.75, 0.80, 0.78]
    assert welch_p_value(a, b) == pytest.approx(welch_by_hand(a, b), abs=1e-12)
    assert math.isnan(welch_p_value([1.0], [1.0, 2.0]))
    assert welch_p_value([0.9, 0.9], [0.9, 0.9]) == 1.0  # deterministic and equal
    assert welch_p_value([0.9, 0.9], [0.8, 0.8]) == 0.0


def test_holm_adjusts_the_p_values_of_one_family():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], abs=1e-15)
    assert holm([0.4, 0.9]) == pytest.approx([0.8, 0.9], abs=1e-15)  # never above 1, monotone
    adjusted = holm([0.02, math.nan, 0.5])  # untestable ones stay out of the count
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == 0.5


@pytest.mark.slow
def test_a_rerun_seed_counts_once_so_rerunning_never_narrows_the_interval(store, tmp_path):
    client = MlflowClient(store["uri"])
    experiment = ensure_experiment(store["uri"], "reruns")
    for seed, acc in ((1, 0.80), (2, 0.85), (1, 0.90)):  # seed 1 rerun, last
        name = f"iris-relu-adam-bs32-s{seed}"
        params = params_of("iris", "multiclass", "relu", "adam", seed, name, "reruns")
        training_run(client, experiment, "reruns", params, {"test_accuracy": acc}, {"loss": [1]})
    report = compare(store["uri"], Selection(experiment="reruns"), out_dir=tmp_path, log_to="none")
    row = report.summary.iloc[0]
    assert (row["runs"], row["n"], row["repeats"]) == (3, 2, 1)
    assert row["mean"] == pytest.approx((0.90 + 0.85) / 2)  # the latest run of seed 1
    text = (tmp_path / "report.md").read_text()
    assert "1 rerun(s) of a seed already counted are left out" in text


def test_a_configuration_whose_runs_all_failed_has_no_rank(store, tmp_path):
    runs = select_runs(store["uri"], Selection(parent=store["parent"]))
    runs = runs.copy()
    tanh_sgd = runs["params.activation.name"].eq("tanh") & runs["params.optimizer.name"].eq("sgd")
    runs.loc[tanh_sgd, "status"] = "FAILED"
    runs.loc[tanh_sgd, "metrics.test_accuracy"] = np.nan
    summary = summarize(runs).set_index("configuration")
    row = summary.loc["activation=tanh, optimizer=sgd"]
    assert row["n"] == 0 and row["failed"] == 3
    assert math.isnan(row["mean"]) and math.isnan(row["ci_low"])
    assert pd.isna(row["rank"]) and pd.isna(row["verdict"])
    assert not row["best"]


def test_regression_ranks_lower_rmse_first(store, tmp_path):
    report = compare(
        store["uri"], Selection(experiment="iris-regression"), out_dir=tmp_path, log_to="none"
    )
    summary = report.summary.set_index("configuration")
    assert set(summary["metric"]) == {"test_rmse"}
    assert not summary["higher_is_better"].any()
    assert summary.loc["optimizer=sgd", "rank"] == 1 and summary.loc["optimizer=sgd", "best"]
    assert summary.loc["optimizer=adam", "rank"] == 2
    assert summary.loc["optimizer=sgd", "mean"] == pytest.approx(0.21, abs=1e-12)
    markdown = (tmp_path / "report.md").read_text()
    assert "test_rmse, lower is better" in markdown
    assert "Best: **optimizer=sgd**" in markdown
    assert "heatmap" not in report.files  # activation does not vary
    assert (tmp_path / "val_curves.png").read_bytes().startswith(PNG)
