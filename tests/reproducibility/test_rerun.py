"""Comparing a reproduction with its original (pipeline.reproducibility.rerun), on a real SQLite
store; a whole reproduction, trained, is in tests/test_reproduce.py."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from pipeline.reproducibility.rerun import (
    differences_of,
    largest_difference,
    logged_config,
    machine_differences,
    metric_values,
)
from pipeline.tracking.store import ensure_experiment


@pytest.fixture
def client_and_experiment(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return MlflowClient(uri), ensure_experiment(uri, "iris"), uri


def _run(client, experiment_id, losses, test_accuracy, seconds):
    run_id = client.create_run(experiment_id).info.run_id
    for step, loss in enumerate(losses, start=1):
        client.log_metric(run_id, "loss", loss, step=step)
        client.log_metric(run_id, "epoch_seconds", seconds, step=step)
    client.log_metric(run_id, "test_accuracy", test_accuracy, step=0)
    client.log_metric(run_id, "train_seconds", seconds * len(losses), step=0)
    client.log_metric(run_id, "system/cpu_utilization_percentage", seconds, step=0)
    return run_id


def test_identical_metrics_whatever_the_timings(client_and_experiment):
    client, experiment_id, _ = client_and_experiment
    a = _run(client, experiment_id, [0.9, 0.5, 0.25], 0.9333333373069763, seconds=1.5)
    b = _run(client, experiment_id, [0.9, 0.5, 0.25], 0.9333333373069763, seconds=7.0)
    assert differences_of(metric_values(client, a, b)) == (4, [])  # 3 epochs of loss, 1 test metric


def test_each_differing_value_is_named_with_its_epoch(client_and_experiment):
    client, experiment_id, _ = client_and_experiment
    a = _run(client, experiment_id, [0.9, 0.5, 0.25], 0.9333333373069763, seconds=1.0)
    b = _run(client, experiment_id, [0.9, 0.5000000000000001, 0.25], 0.9, seconds=1.0)
    compared, differences = differences_of(metric_values(client, a, b))
    assert compared == 4
    assert differences == [
        "loss at epoch 2: original 0.5, reproduced 0.5000000000000001",
        "test_accuracy: original 0.9333333373069763, reproduced 0.9",
    ]
    shorter = _run(client, experiment_id, [0.9, 0.5], 0.9333333373069763, seconds=1.0)
    assert differences_of(metric_values(client, a, shorter))[1] == [
        "loss at epoch 3: original 0.25, reproduced None"
    ]


def test_an_unknown_run_or_one_without_config_is_one_clear_error(client_and_experiment):
    client, experiment_id, uri = client_and_experiment
    with pytest.raises(ValueError, match=f"unknown run id 'cafe' in {uri}"):
        logged_config(client, "cafe", uri)
    bare = client.create_run(experiment_id).info.run_id
    with pytest.raises(ValueError, match=f"run {bare} has no config.yaml artifact"):
        logged_config(client, bare, uri)


def test_the_machines_that_explain_different_bits_are_named():
    original = {
        "optlab.cpu.isa": "avx2",
        "optlab.cpu.threads": "1",
        "optlab.cpu.numpy_dispatch": "X86_V3",
        "optlab.cpu.tensorflow": "2.21.0",
        "optlab.cpu.same_bits": "yes",
        "optlab.cpu.model": "AMD EPYC",
    }
    assert machine_differences(original, {**original, "optlab.cpu.model": "Intel Xeon"}) == []
    native = {**original, "optlab.cpu.isa": "avx512", "optlab.cpu.same_bits": "no: native"}
    assert machine_differences(original, native) == [
        "isa: this run avx512, the original avx2",
        "same_bits: this run no: native, the original yes",
    ]
    assert machine_differences({}, original)[0] == "isa: this run avx2, the original not recorded"


def test_the_largest_difference_is_over_the_values_both_runs_have():
    values = [("loss", 1, 0.5, 0.25), ("acc", 0, 0.75, 0.75), ("loss", 2, None, 3.0)]
    assert largest_difference(values) == 0.25
    assert largest_difference([]) == 0.0
