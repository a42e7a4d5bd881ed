"""Interrupted trainings, in processes of their own, signalled and killed for real:
the run ends KILLED with its reason, or is found dead; a rerun resumes it and ends
bit-identical to an uninterrupted one."""

from __future__ import annotations

import json
import signal

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.config import contract
from pipeline.tracking import recovery
from pipeline.tracking.provenance import run_key
from pipeline.training.resume import resume_key
from tests import interrupt_job as job

pytestmark = pytest.mark.slow


def finished_outputs(project):
    """history.csv and metrics.json (they hold no timings), and the id of the run that
    wrote them: the finished run of run.json's run key."""
    reports = project / "out" / "reports"
    history = pd.read_csv(reports / "history.csv")
    metrics = json.loads((reports / "metrics.json").read_text())
    key = json.loads((reports / "run.json").read_text())["run_key"]
    store = OmegaConf.load(project / "params.yaml").mlflow.tracking_uri
    client = MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(
        experiments, f"tags.`{contract.RUN_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'"
    )
    return history, metrics, run.info.run_id


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mirror_dir, data_root):
    """The same training, never interrupted: what every resumed one must equal."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    project = job.make_project(folder, mirror_dir, f"sqlite:///{folder / 'mlflow.db'}")
    process = job.start(project, data_root)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    return finished_outputs(project)


def only_run(store):
    client = MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1, [r.info for r in runs]
    return client, runs[0]


@pytest.mark.parametrize(
    ("sig", "status", "reason"),
    [
        (signal.SIGTERM, 143, "interrupted by SIGTERM"),
        (signal.SIGINT, 130, "interrupted by SIGINT (Ctrl-C)"),
    ],
)
def test_a_signal_ends_the_run_killed_and_a_rerun_resumes_it_bit_identically(
    tmp_path, mirror_dir, data_root, uninterrupted, sig, status, reason
):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    project = job.make_project(tmp_path / "project", mirror_dir, store)
    process = job.start(project, data_root)
    job.wait_for_epoch(process, project, 1)
    process.send_signal(sig)
    output = process.communicate(timeout=120)[0]

    assert process.returncode == status, output
    # Held back to the end of a step (pipeline.system.interrupt.deferred), then raised there.
    assert f"{sig.name}: the training stops at its next step's end" in output
    assert f"stopped: {reason}" in output
    client, run = only_run(store)
    assert run.info.status == "KILLED"
    assert run.data.tags[contract.STOP_REASON_TAG] == reason
    epochs_done = job.backed_up_epochs(project)
    assert 1 <= epochs_done < 12  # stopped between epochs 1 and the last
    # Nothing half-written: no outputs (they come at the end), no temporary files.
    assert not (project / "out").exists()
    backup = next((project / ".optlab" / "backups").iterdir())
    assert [p.name for p in backup.iterdir()] == ["state"]

    rerun = job.start(project, data_root)
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, output
    assert f"resuming interrupted run {run.info.run_id}" in output

    history, metrics, run_id = finished_outputs(project)
    expected_history, expected_metrics, _ = uninterrupted
    assert run_id == run.info.run_id  # the same MLflow run, continued
    pd.testing.assert_frame_equal(history, expected_history, check_exact=True)
    assert metrics == expected_metrics
    client, resumed = only_run(store)
    assert resumed.info.status == "FINISHED"
    assert contract.STOP_REASON_TAG not in resumed.data.tags
    assert int(resumed.data.tags[contract.RESUMED_TAG]) >= epochs_done
    # The metric history continues where it stopped: each epoch's step once.
    for key in ("loss", "val_accuracy", "grad_norm/output"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == list(range(1, 13))
    assert not any((project / ".optlab" / "backups").iterdir())  # done: backup removed


def test_sigkill_leaves_running_cleanup_marks_it_failed_and_a_rerun_resumes(
    tmp_path, mirror_dir, data_root, uninterrupted
):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    project = job.make_project(tmp_path / "project", mirror_dir, store)
    process = job.start(project, data_root)
    job.wait_for_epoch(process, project, 2)
    process.kill()
    process.communicate(timeout=60)

    client, run = only_run(store)
    assert run.info.status == "RUNNING"  # nobody could close it
    tags = run.data.tags
    assert tags[contract.PID_TAG] == str(process.pid)
    assert tags[contract.HOST_TAG] == recovery.process_tags()[contract.HOST_TAG]

    cleanup = job.cleanup(project, store)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert f"{run.info.run_id}: FAILED (process {process.pid} on" in cleanup.stdout
    run = client.get_run(run.info.run_id)
    assert run.info.status == "FAILED"
    assert "is gone" in run.data.tags[contract.STOP_REASON_TAG]
    assert run.data.tags[contract.ERROR_TAG].startswith("process died: ")

    rerun = job.start(project, data_root)
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, output
    history, metrics, run_id = finished_outputs(project)
    assert run_id == run.info.run_id
    pd.testing.assert_frame_equal(history, uninterrupted[0], check_exact=True)
    assert metrics == uninterrupted[1]


def test_the_resume_key_follows_config_data_threads_and_parent_but_not_verbosity():
    params = {"optimizer.name": "adam", "runtime.verbose": "2", "runtime.intra_op_threads": "1"}

    def key(changes=None, digest="d" * 32, parent=None):
        return resume_key(run_key({**params, **(changes or {})}, digest), parent)

    assert key() == key({"runtime.verbose": "0"})
    assert key() != key({"runtime.intra_op_threads": "2"})  # it changes results
    assert key() != key({"optimizer.name": "sgd"})
    assert key() != key(digest="e" * 32)
    assert key() != key(parent="abc")
