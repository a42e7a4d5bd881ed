"""Sweeps on a real Ray cluster (``hydra/launcher=ray``): the same parent, children,
failures and report as under joblib; code shipped, data built on the worker."""

from __future__ import annotations

import pytest

from tests.e2e.test_sweep import all_runs, failing_job_sweep, sweep
from tests.helpers import served_copy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror_dir):
    with served_copy(tmp_path_factory.mktemp("ray"), mirror_dir) as (repo, env, server):
        yield repo, env, server


def test_a_ray_sweep_is_one_parent_with_a_child_per_job(project, ray_cluster, tmp_path):
    repo, env, server = project
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep(
        repo,
        {**env, "RAY_ADDRESS": ray_cluster},
        store,
        "dataset=iris",
        "optimizer=sgd,adam",
        "activation=relu,tanh",
        "hydra/launcher=ray",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )

    client, parents, children = all_runs(store)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["sweep.launcher"] == "RayLauncher"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    combos = {(c.data.params["optimizer.name"], c.data.params["activation.name"]) for c in children}
    assert combos == {("sgd", "relu"), ("sgd", "tanh"), ("adam", "relu"), ("adam", "tanh")}
    assert all(c.info.status == "FINISHED" for c in children)
    # Ray's default task takes 1 CPU: TensorFlow gets one thread, not the machine's cores.
    assert {c.data.params["runtime.intra_op_threads"] for c in children} == {"1"}
    # No shared filesystem: the code ran from Ray's copy of the project, which holds no
    # data, so a worker fetched the raw file through the mirror and split it itself,
    # byte for byte as the pipeline did (the same DVC hash). The project's own copy has
    # its data: only a Ray worker asks this module's server. Ray keeps its copy (by the
    # project's content) for the module's next sweep, so the fetch may have been the
    # other test's, whichever ran first.
    paths = {c.data.tags["data.path"] for c in children}
    assert all("runtime_resources" in p and str(repo) not in p for p in paths), paths
    assert server.hits["/iris/iris.data"] >= 1
    lock = (repo / "dvc.lock").read_text()
    assert {c.data.tags["data.dvc_md5"] for c in children} <= {
        line.split("md5: ")[1] for line in lock.splitlines() if "md5: " in line
    }
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.md", "report/summary.csv"} <= logged
    report = (tmp_path / "sweep" / "report" / "report.md").read_text()
    for c in children:
        assert c.data.tags["configuration"] in report


def test_a_failing_ray_job_is_a_failed_child_on_the_pins_one_thread(project, ray_cluster, tmp_path):
    repo, env, _ = project
    by_loss = failing_job_sweep(
        repo,
        {**env, "RAY_ADDRESS": ray_cluster},
        tmp_path,
        "hydra/launcher=ray",
        "+hydra.launcher.ray.remote.num_cpus=2",
    )
    # Under the CPU pin a job trains on one thread, whatever Ray gives it (runtime.py).
    assert by_loss["auto"].data.params["runtime.intra_op_threads"] == "1"
