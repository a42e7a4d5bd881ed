"""Runs left RUNNING by dead processes, judged against real processes, in a real store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import contract
from pipeline.tracking import recovery


@pytest.fixture
def client(tmp_path):
    return MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")


def running_run(client, tags):
    experiment = client.get_experiment_by_name("x") or client.get_experiment(
        client.create_experiment("x", artifact_location=None)
    )
    return client.create_run(experiment.experiment_id, tags=tags).info.run_id


def a_dead_pid() -> tuple[int, dict[str, str]]:
    """The pid and process tags of a process that has ended."""
    code = (
        "import json; from pipeline.tracking.recovery import process_tags as t; "
        "print(json.dumps(t()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    tags = json.loads(done.stdout)
    return int(tags[contract.PID_TAG]), tags


@pytest.mark.slow
def test_a_dead_process_is_marked_failed_a_live_one_and_another_hosts_are_left(client):
    _, dead_tags = a_dead_pid()
    dead = running_run(client, dead_tags)
    alive = running_run(client, recovery.process_tags())  # this very process
    elsewhere = running_run(client, {**recovery.process_tags(), contract.HOST_TAG: "gpu-node-7"})
    old = running_run(client, {})  # from before runs recorded their process
    finished = running_run(client, dead_tags)
    client.set_terminated(finished, "FINISHED")

    verdicts = {
        v.run_id: v for v in recovery.close_dead_runs(client, recovery.running_runs(client))
    }

    assert set(verdicts) == {dead, alive, elsewhere, old}  # only RUNNING runs are judged
    assert verdicts[dead].dead is True and "is gone" in verdicts[dead].reason
    assert verdicts[alive].dead is False
    assert verdicts[elsewhere].dead is None
    assert "gpu-node-7: another host, cannot tell" in verdicts[elsewhere].reason
    assert verdicts[old].dead is None
    statuses = {r: client.get_run(r).info.status for r in (dead, alive, elsewhere, old, finished)}
    assert statuses == {
        dead: "FAILED",
        alive: "RUNNING",
        elsewhere: "RUNNING",
        old: "RUNNING",
        finished: "FINISHED",
    }
    tags = client.get_run(dead).data.tags
    assert tags[contract.STOP_REASON_TAG] == verdicts[dead].reason
    assert tags[contract.ERROR_TAG] == f"process died: {verdicts[dead].reason}"


@pytest.mark.slow
def test_a_reused_pid_is_not_taken_for_the_runs_process(client):
    # This process's pid, but recorded as started long before it: another process.
    tags = {**recovery.process_tags(), contract.PID_START_TAG: "1000.00"}
    run = running_run(client, tags)
    [verdict] = recovery.close_dead_runs(client, recovery.running_runs(client))
    assert verdict.dead is True and "belongs to another process" in verdict.reason
    assert client.get_run(run).info.status == "FAILED"


@pytest.mark.slow
def test_force_marks_what_cannot_be_judged_and_dry_run_marks_nothing(client):
    run = running_run(client, {**recovery.process_tags(), contract.HOST_TAG: "gpu-node-7"})
    [seen] = recovery.close_dead_runs(
        client, recovery.running_runs(client), force=True, dry_run=True
    )
    assert seen.dead is True and client.get_run(run).info.status == "RUNNING"
    [forced] = recovery.close_dead_runs(client, recovery.running_runs(client), force=True)
    assert forced.reason.startswith("forced: process ")
    assert client.get_run(run).info.status == "FAILED"


def test_cleanup_of_an_unknown_experiment_names_the_valid_ones(client):
    running_run(client, {})
    with pytest.raises(ValueError, match=r"unknown experiment 'nope'; valid experiments: .*x"):
        recovery.cleanup(client.tracking_uri, ["nope"])
