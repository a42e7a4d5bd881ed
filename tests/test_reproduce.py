"""``python -m pipeline.reproduce`` (pipeline.reproduce): real processes in a git + DVC
project copy with tiny data, a real SQLite store, real trainings."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import REPO_ROOT, dvc, git, prepared_copy, tensorflow_lines, tool_env


def _python(repo, *argv, env):
    return subprocess.run(
        [sys.executable, *argv], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_an_unknown_run_is_one_line_before_tensorflow(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import sys; from pipeline.system.entry import run; from pipeline.reproduce import main; "
        "status = run(main, sys.argv[1:]); "
        "assert 'tensorflow' not in sys.modules, 'TensorFlow loaded before the error'; "
        "raise SystemExit(status)"
    )
    done = _python(REPO_ROOT, "-c", code, "cafe", "--tracking-uri", uri, env=tool_env())
    assert done.returncode == 1, done.stderr
    assert f"error: unknown run id 'cafe' in {uri}\n" in done.stderr


@pytest.mark.slow
def test_reproduce_checks_data_and_code_then_compares_bit_for_bit(tmp_path, mirror_dir, server):
    repo, env = prepared_copy(tmp_path / "repo", mirror_dir, server.url, "preprocess@iris")
    argv = ["-m", "pipeline.train", "dataset=iris", "mlflow.log_model=false"]
    trained = _python(repo, *argv, env=env)
    assert trained.returncode == 0, trained.stderr
    assert tensorflow_lines(trained.stderr) == []  # TensorFlow's start-up lines held back
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    (original,) = client.search_runs([client.get_experiment_by_name("iris").experiment_id])
    run_id = original.info.run_id

    done = _python(repo, "-m", "pipeline.reproduce", run_id, env=env)
    assert done.returncode == 0, done.stderr
    assert tensorflow_lines(done.stderr) == []
    assert f"reproduces run {run_id}: all " in done.stdout
    assert "metric values bit-identical" in done.stdout
    (copy,) = client.search_runs(
        [original.info.experiment_id], f"tags.`optlab.reproduces` = '{run_id}'"
    )
    assert copy.info.run_name == f"{original.info.run_name}-reproduced"
    assert copy.info.status == "FINISHED"
    assert copy.data.metrics["test_accuracy"] == original.data.metrics["test_accuracy"]
    assert copy.data.tags["optlab.run_key"] == original.data.tags["optlab.run_key"]

    # Other code: refused, saying which commit to check out; nothing trained.
    git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    head = git(repo, "rev-parse", "HEAD").strip()
    commit = original.data.tags["mlflow.source.git.commit"]
    done = _python(repo, "-m", "pipeline.reproduce", run_id, env=env)
    assert done.returncode == 1
    assert (
        f"error: run {run_id} cannot be reproduced from this checkout: git commit {head} is not "
        f"the run's {commit} (git checkout {commit}); or pass --force to train anyway"
    ) in done.stderr
    assert len(client.search_runs([original.info.experiment_id])) == 2

    # Other data, forced: trained, and every differing metric is listed.
    x_train = repo / "data/processed/iris/x_train.npy"
    np.save(x_train, np.load(x_train) * 1.5)
    dvc(repo, "commit", "-f", "preprocess@iris", env=env)  # as a rebuilt folder is recorded
    done = _python(repo, "-m", "pipeline.reproduce", run_id, env=env)
    assert done.returncode == 1 and "data digest " in done.stderr
    done = _python(repo, "-m", "pipeline.reproduce", run_id, "--force", env=env)
    assert done.returncode == 1, done.stderr
    assert f"does NOT reproduce run {run_id}: " in done.stderr
    assert "  loss at epoch 1: original " in done.stderr
    assert len(client.search_runs([original.info.experiment_id])) == 3
