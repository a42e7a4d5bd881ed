"""The Ray-sweep benchmark: what it needs, and how it counts runs read back from a store."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from benchmarks import cluster
from benchmarks.project import Skip


def test_without_a_cluster_or_a_server_it_skips_saying_what_to_start(monkeypatch):
    monkeypatch.setenv(cluster.ADDRESS_ENV, "127.0.0.1:6379")
    monkeypatch.delenv(cluster.TRACKING_ENV, raising=False)
    with pytest.raises(Skip) as skipped:
        cluster.infrastructure()
    assert "RAY_ADDRESS" in str(skipped.value)
    assert "OPTLAB_BENCH_TRACKING_URI" in str(skipped.value)
    assert "docs/scaling.md" in str(skipped.value)
    monkeypatch.setenv(cluster.TRACKING_ENV, "http://127.0.0.1:5000")
    assert cluster.infrastructure() == ("127.0.0.1:6379", "http://127.0.0.1:5000")


def test_runs_are_counted_from_the_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("bench-ray-1")
    for name, sweep, status in (
        ("sweep-x", "parent", "FINISHED"),
        ("a", "child", "FINISHED"),
        ("b", "child", "FINISHED"),
        ("c", "child", "FAILED"),
        ("lost-job-3", "child", "FAILED"),
    ):
        run = client.create_run(experiment, run_name=name, tags={"optlab.sweep": sweep})
        client.set_terminated(run.info.run_id, status)

    assert cluster.read_back(uri, "bench-ray-1") == {
        "parents finished": 1,
        "children finished": 2,
        "children failed": 2,
        "jobs lost": 1,
    }
    assert cluster.JOBS == 16
