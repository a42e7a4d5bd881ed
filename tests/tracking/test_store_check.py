"""The tracking store check (pipeline.tracking.store_check): real sockets on 127.0.0.1, a real
HTTP server, a real stage process against a hung server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pipeline.tracking import store_check
from pipeline.tracking.store_check import TrackingUnavailable, check_store, limit_client
from tests.helpers import (
    REPO_ROOT,
    TRAIN_STAGE_WITHOUT_TENSORFLOW,
    LocalServer,
    SilentServer,
    free_port,
    tool_env,
)


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


def test_a_server_that_never_answers_fails_within_the_timeout(silent):
    uri = silent.url.replace("http://", "http://bob:hunter2@")
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable) as caught:
        check_store(uri, timeout=1.0)
    assert time.monotonic() - started < 5  # the bound is 15 s at the default 10 s
    message = str(caught.value)
    assert message.startswith(f"MLflow tracking server {silent.url.replace('//', '//bob:***@')} ")
    assert "(no answer within 1 s)" in message and "hunter2" not in message
    assert "`make ui`" in message and "unset MLFLOW_TRACKING_URI" in message
    assert silent.connections  # it did connect: the wait was for an answer


def test_nothing_listening_fails_at_once_saying_so():
    with pytest.raises(TrackingUnavailable, match=r"\(cannot connect: .*refused"):
        check_store(f"http://127.0.0.1:{free_port()}", timeout=5.0)


def test_a_server_that_answers_passes_unless_it_answers_5xx(tmp_path):
    server = LocalServer(tmp_path)  # no /health: a 404 is still an answer
    try:
        check_store(server.url, timeout=5.0)
        server.faults["/health"] = "500"
        with pytest.raises(TrackingUnavailable, match=r"\(it answers 500 "):
            check_store(server.url, timeout=5.0)
    finally:
        server.close()


def test_a_local_store_needs_a_writable_folder(tmp_path):
    check_store(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}", timeout=1.0)  # created later
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(TrackingUnavailable, match="is not a writable folder"):
        check_store(f"sqlite:///{blocker / 'mlflow.db'}", timeout=1.0)


def test_a_scheme_mlflow_has_no_store_for_is_one_line():
    with pytest.raises(TrackingUnavailable) as caught:
        check_store("foo://alice:s3cret@host/x", timeout=1.0)
    assert str(caught.value) == (
        "tracking URI foo://alice:***@host/x (mlflow.tracking_uri or MLFLOW_TRACKING_URI): MLflow "
        "has no tracking store for scheme 'foo'; valid schemes: databricks, databricks-uc, file, "
        "http, https, mssql, mysql, postgresql, sqlite, uc, or a path"
    )
    # Schemes MLflow knows pass (a database is reached at the run's first request).
    check_store("postgresql://u:pw@127.0.0.1:1/db", timeout=1.0)
    check_store("mysql+pymysql://u:pw@127.0.0.1:1/db", timeout=1.0)


def test_a_file_store_works_with_one_warning(tmp_path, caplog):
    for uri in (
        f"file://{tmp_path / 'mlruns'}",
        str(tmp_path / "runs"),
        f"file://{tmp_path / 'mlruns'}",
    ):
        check_store(uri, timeout=1.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"MLflow tracking store {uri} is a file store, which MLflow deprecates; prefer "
        "sqlite:///mlflow.db or a server (`mlflow migrate-filestore --source <folder> --target "
        "sqlite:///mlflow.db` moves its runs)"
        for uri in (f"file://{tmp_path / 'mlruns'}", str(tmp_path / "runs"))
    ]  # once per store and process
    check_store(f"sqlite:///{tmp_path / 'm.db'}", timeout=1.0)
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 2  # none for SQLite


def test_limit_client_bounds_mlflow_requests_but_keeps_the_users_values(monkeypatch):
    for name in (store_check.TIMEOUT_ENV, store_check.RETRIES_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(store_check.BACKOFF_ENV, "3")
    limit_client(2.5)
    assert os.environ[store_check.TIMEOUT_ENV] == "3"
    assert os.environ[store_check.RETRIES_ENV] == "2"
    assert os.environ[store_check.BACKOFF_ENV] == "3"


@pytest.mark.slow
def test_the_train_stage_fails_within_15_s_before_loading_data(silent, tmp_path):
    """The issue's case: a hung server, the default timeout, no data loaded, no model built."""
    code = TRAIN_STAGE_WITHOUT_TENSORFLOW
    argv = ["iris", "--data", str(tmp_path / "no-data"), "--reports", str(tmp_path / "r")]
    env = tool_env(MLFLOW_TRACKING_URI=silent.url.replace("http://", "http://u:pw@"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv, "--model", str(tmp_path / "m.keras")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 15
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: MLflow tracking server {silent.url.replace('//', '//u:***@')} is unreachable "
        f"(no answer within 10 s); {store_check.FIX}"
    ]
    assert not (tmp_path / "r").exists()
