"""The guarded client (pipeline.tracking.guarded): against a real socket on 127.0.0.1 that accepts
connections and never answers, the first request fails and nothing more is asked."""

from __future__ import annotations

import os
import shutil

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from pipeline.tracking.guarded import GuardedClient
from pipeline.tracking.offline import OfflineRun, RunKeptOffline
from pipeline.tracking.store_check import RETRIES_ENV, TIMEOUT_ENV
from tests.helpers import REPO_ROOT, SilentServer

RUN = "0123456789abcdef"


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy2(REPO_ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(TIMEOUT_ENV, "1")
    monkeypatch.setenv(RETRIES_ENV, "0")
    return tmp_path


def test_after_the_first_unanswered_request_everything_is_kept_and_nothing_asked(project):
    silent = SilentServer()
    uri = silent.url.replace("http://", "http://bob:hunter2@")
    try:
        client = GuardedClient(MlflowClient(uri), uri)
        with client.leaving_run():
            client.log_batch(RUN, metrics=[Metric("loss", 0.5, 1, 1)], params=[Param("a", "1")])
            asked = len(silent.connections)
            assert os.environ[RETRIES_ENV] == "0"  # anything left asks once, briefly
            for epoch in (2, 3):
                client.log_batch(RUN, metrics=[Metric("loss", 0.4, 2, epoch)])
            client.log_batch(RUN, metrics=[Metric("test_loss", 0.3, 3, 0)])
            client.set_tag(RUN, "optlab.resumed", "1")
            (project / "curves").mkdir()
            (project / "curves" / "history.csv").write_text("epoch\n1\n")
            client.log_artifacts(RUN, str(project / "curves"))
        assert len(silent.connections) == asked == 1  # one request, then none
    finally:
        silent.close()

    kept = OfflineRun(project / ".optlab" / "offline" / RUN)
    assert [m[3] for m in kept.metrics()] == [1, 2, 3, 0]
    assert kept.params() == {"a": "1"} and kept.tags() == {"optlab.resumed": "1"}
    assert [p.name for p in kept.artifacts()] == ["history.csv"]
    assert "hunter2" not in (kept.folder / "run.json").read_text()
    assert os.environ[RETRIES_ENV] == "0"  # restored: the test's own value
    error = client.kept_error(RUN, " and wrote its reports")
    assert isinstance(error, RunKeptOffline)
    message = str(error)
    assert "hunter2" not in message and "bob:***@" in message
    summary = "the params, the metrics of epochs 1-3, the test metrics, 1 tag and 1 artifact"
    assert f"but {summary} were not logged" in message
    assert f"`optlab upload .optlab/offline/{RUN}`" in message
    assert "\n" not in message


def test_a_local_store_is_written_directly_and_its_errors_are_not_hidden(project):
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = GuardedClient(MlflowClient(uri), uri)
    with pytest.raises(Exception, match="not found|does not exist|No run"):
        client.set_tag("no-such-run", "a", "b")
    assert client.offline is None and client.kept_error("x", "") is None


def test_a_training_that_fails_once_offline_is_uploaded_as_failed(project, caplog):
    silent = SilentServer()
    try:
        client = GuardedClient(MlflowClient(silent.url), silent.url)
        with pytest.raises(ValueError, match="diverged"), client.leaving_run():
            client.set_tag(RUN, "a", "b")
            raise ValueError("diverged")
    finally:
        silent.close()
    kept = OfflineRun(project / ".optlab" / "offline" / RUN)
    assert kept.info()["status"] == "FAILED"
    assert f"`optlab upload .optlab/offline/{RUN}`" in caplog.text
