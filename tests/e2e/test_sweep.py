"""Hydra multirun sweeps: one MLflow parent, a child per job, a report; and DVC's queue.

One project copy (tiny data over local HTTP, one-epoch training) is shared by the
module; each test logs to its own SQLite store.
"""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from pipeline.compare import Selection, compare
from pipeline.tracking.store import store_lock
from tests.helpers import dvc, git, served_copy

pytestmark = pytest.mark.slow
QUIET = ["runtime.verbose=0", "mlflow.log_model=false"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror_dir):
    with served_copy(tmp_path_factory.mktemp("sweep"), mirror_dir) as (repo, env, _):
        yield repo, env


def sweep(repo, env, store, *overrides):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.train",
            "-m",
            *QUIET,
            f"mlflow.tracking_uri={store}",
            *overrides,
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def all_runs(store):
    # Under the product's lock: opening a fresh SQLite store creates its schema, and
    # a poll doing that while the sweep does too breaks the sweep's (CI saw it hang).
    with store_lock(store):
        client = MlflowClient(store)
        ids = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(ids, max_results=1000)
    parents = [r for r in runs if r.data.tags.get("optlab.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("optlab.sweep") == "child"]
    return client, parents, children


def test_a_2x2_sweep_is_one_parent_with_four_children_and_a_report(project, tmp_path):
    repo, env = project
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = sweep(
        repo,
        env,
        store,
        "dataset=mnist",
        "optimizer=sgd,adam",
        "activation=relu,tanh",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )

    client, parents, children = all_runs(store)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.info.run_name.startswith("sweep-mnist-")
    assert parent.data.params["sweep.optimizer"] == "sgd,adam"
    assert parent.data.params["sweep.activation"] == "relu,tanh"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    combos = {(c.data.params["optimizer.name"], c.data.params["activation.name"]) for c in children}
    assert combos == {("sgd", "relu"), ("sgd", "tanh"), ("adam", "relu"), ("adam", "tanh")}
    assert all(c.info.status == "FINISHED" for c in children)
    # What the UI shows: the children grouped by the report's labels, the parent's
    # source, ranking and per-configuration means; no tracking URI among the params.
    for c in children:
        expected = f"activation={c.data.params['activation.name']}, "
        expected += f"optimizer={c.data.params['optimizer.name']}"
        assert c.data.tags["configuration"] == expected
    assert "sweep.mlflow.tracking_uri" not in parent.data.params
    assert parent.data.tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert parent.data.tags["mlflow.note.content"].startswith("## mnist (multiclass)")
    means = [k for k in parent.data.metrics if k.startswith("mean_test_accuracy/")]
    assert len(means) == 4 and "best_mean_test_accuracy" in parent.data.metrics

    report = tmp_path / "sweep" / "report"
    assert (report / "report.md").is_file() and (report / "heatmap.png").is_file()
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.md", "report/summary.csv", "report/heatmap.png"} <= logged
    # the report's ranking table is printed, one row per configuration
    for c in children:
        label = c.data.tags["configuration"]
        assert re.search(rf"^\| [1-4] \| {re.escape(label)} \| 1 \|", out, re.M), (label, out)


def test_joblib_parallel_sweep_with_seeds_loses_no_run(project, tmp_path):
    repo, env = project
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # fresh: created before the fan-out
    sweep(
        repo,
        env,
        store,
        "dataset=iris",
        "optimizer=sgd,adam",
        "activation=relu,tanh",
        "sweep.seeds=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )

    _, parents, children = all_runs(store)
    assert len(parents) == 1 and len(children) == 8
    assert all(r.info.status == "FINISHED" for r in [*parents, *children])
    seeds = sorted(int(c.data.params["training.seed"]) for c in children)
    assert seeds == [42] * 4 + [43] * 4
    # under the CPU pin each job's TensorFlow runs on one thread (pipeline/training/runtime.py)
    assert {c.data.params["runtime.intra_op_threads"] for c in children} == {"1"}
    summary = (tmp_path / "sweep" / "report" / "summary.csv").read_text()
    assert summary.count("\n") == 5  # header + four configurations


def test_seeds_until_decided_adds_seeds_to_the_undecided_as_children_of_the_parent(
    project, tmp_path
):
    """sweep.seeds=auto: 3 seeds a job, then rounds in the launching process. Two learning
    rates a hair apart train alike: never decided, so each gets seeds up to max_seeds."""
    repo, env = project
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = sweep(
        repo,
        env,
        store,
        "dataset=iris",
        "optimizer.learning_rate=0.01,0.0100001",
        "sweep.seeds=auto",
        "sweep.max_seeds=4",
        "compare.margin=0.001",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )

    client, parents, children = all_runs(store)
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["optlab.sequential"] == "3:4:obrien_fleming"
    assert (parent.data.params["sweep.seeds"], parent.data.params["sweep.max_seeds"]) == (
        "auto",
        "4",
    )
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    by_job = {}
    for c in children:
        assert c.info.status == "FINISHED"
        by_job.setdefault(c.data.tags["optlab.job"], []).append(int(c.data.params["training.seed"]))
    assert {job: sorted(seeds) for job, seeds in by_job.items()} == {
        "0": [42, 43, 44, 45],
        "1": [42, 43, 44, 45],
    }
    assert out.count("(undecided)") == 2  # one round: the fourth seed of each
    report = (tmp_path / "sweep" / "report" / "report.md").read_text()
    assert "replayed look by look as seeds were added" in report
    assert "| p | p equiv. | level (seeds) |" in report
    assert re.search(r"\| 2 \| learning_rate=[0-9.]+ \| 4 \|.*\(4\) \|.*\| undecided \|", report)
    assert "at 4 seeds" in report
    verdicts = [v for k, v in parent.data.metrics.items() if k.startswith("verdict/")]
    assert len(verdicts) == 2 and 1.0 in verdicts and sum(map(math.isnan, verdicts)) == 1
    # The report made later from the store replays the same looks (the parent's tag).
    selection = Selection(parent=parent.info.run_id)
    again = compare(store, selection, out_dir=tmp_path / "again", margin=0.001)
    assert (tmp_path / "again" / "report.md").read_text().split("## iris")[1] == report.split(
        "## iris"
    )[1]
    assert again.summary["look_seeds"].dropna().tolist() == [4]


def failing_job_sweep(repo, env, folder, *overrides):
    """Sweep one training and one impossible job (binary_crossentropy cannot train a
    regression) into ``folder``; check what any launcher must give, and return the
    children by loss."""
    store = f"sqlite:///{folder / 'mlflow.db'}"
    sweep(
        repo,
        env,
        store,
        "dataset=iris",
        "dataset.task=regression",
        "loss=auto,binary_crossentropy",
        f"hydra.sweep.dir={folder / 'sweep'}",
        *overrides,
    )

    _, parents, children = all_runs(store)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    by_loss = {c.data.params["loss.name"]: c for c in children}
    assert by_loss["auto"].info.status == "FINISHED"
    failed = by_loss["binary_crossentropy"]
    assert failed.info.status == "FAILED"
    assert "binary_crossentropy" in failed.data.tags["optlab.error"]
    assert parents[0].data.tags["optlab.failed_runs"] == "1"
    report = (folder / "sweep" / "report" / "report.md").read_text()
    assert "Failed runs" in report and "binary_crossentropy" in report
    return by_loss


def test_a_failing_job_is_a_failed_child_and_the_report_says_so(project, tmp_path):
    repo, env = project
    failed = failing_job_sweep(repo, env, tmp_path)["binary_crossentropy"]
    # Failed before training started, it still says where it came from and what it is.
    assert failed.data.tags["configuration"] == "loss=binary_crossentropy"
    assert failed.data.tags["mlflow.source.name"].endswith("train.py")


def test_dvc_queue_runs_the_four_experiments(project):
    repo, env = project
    dvc(
        repo,
        "exp",
        "run",
        "--queue",
        "train@iris",
        "-S",
        "optimizer=sgd,adam",
        "-S",
        "activation=relu,tanh",
        env=env,
    )
    dvc(repo, "queue", "start", "-j", "2", env=env)
    deadline = time.time() + 600
    while time.time() < deadline:
        status = dvc(repo, "queue", "status", env=env).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert status.count("Success") == 4, status

    shown = json.loads(dvc(repo, "exp", "show", "--json", env=env).stdout)
    text = json.dumps(shown)
    for value in ('"sgd"', '"adam"', '"relu"', '"tanh"'):
        assert value in text
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")  # the real repo's store
    runs = client.search_runs([client.get_experiment_by_name("iris").experiment_id])
    combos = {(r.data.params["optimizer.name"], r.data.params["activation.name"]) for r in runs}
    assert combos == {("sgd", "relu"), ("sgd", "tanh"), ("adam", "relu"), ("adam", "tanh")}


def running_worker_child(store, sweep, log, timeout=300):
    """A child run that a joblib worker (not the sweep's own process) is training."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert sweep.poll() is None, f"the sweep ended first:\n{log.read_text()}"
        _, _, children = all_runs(store)
        for child in children:
            pid = child.data.tags.get("optlab.pid")
            if child.info.status == "RUNNING" and pid and int(pid) != sweep.pid:
                return child
        time.sleep(0.1)
    raise AssertionError(f"no worker started a run within {timeout} s:\n{log.read_text()}")


def test_a_killed_worker_still_closes_the_parent_and_the_report_lists_the_lost_jobs(
    project, tmp_path
):
    repo, env = project
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log = tmp_path / "sweep.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.train",
            "-m",
            *QUIET,
            f"mlflow.tracking_uri={store}",
            "dataset=iris",
            "optimizer=sgd,adam",
            "activation=relu,tanh",
            "training.epochs=300",  # long enough to be killed in the middle
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        cwd=repo,
        env=env,
        stdout=log.open("w"),  # a file, not a pipe nobody reads while it runs
        stderr=subprocess.STDOUT,
    )
    try:
        victim = running_worker_child(store, process, log)
        os.kill(int(victim.data.tags["optlab.pid"]), signal.SIGKILL)  # as the OOM killer would
        process.wait(timeout=600)
        output = log.read_text()
    finally:
        process.kill()

    _, parents, children = all_runs(store)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED", output
    assert not [c for c in children if c.info.status == "RUNNING"]
    # Every planned job is accounted for: trained, failed with its worker, or lost.
    assert sorted(c.data.tags["optlab.job"] for c in children) == ["0", "1", "2", "3"]
    killed = next(c for c in children if c.info.run_id == victim.info.run_id)
    assert killed.info.status == "FAILED"
    assert "is gone" in killed.data.tags["optlab.error"]
    report = (tmp_path / "sweep" / "report" / "report.md").read_text()
    for child in children:
        if child.info.status == "FAILED":
            assert f"({child.info.run_id};" in report
    lost = [c for c in children if c.info.run_name.startswith("lost-job-")]
    for child in lost:
        assert "lost: its worker died before it started a run" in child.data.tags["optlab.error"]
    failed = sum(c.info.status == "FAILED" for c in children)
    assert parents[0].data.tags["optlab.failed_runs"] == str(failed)
