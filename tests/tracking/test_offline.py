"""A run kept locally (pipeline.tracking.offline): its folder, its summary, what counts as
a gone server."""

from __future__ import annotations

import shutil

import pytest
import requests
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException, RestException

from pipeline.tracking.offline import OfflineRun, scrub, spans, store_for, unreachable, upload
from tests.helpers import REPO_ROOT


@pytest.fixture
def kept(tmp_path, monkeypatch):
    shutil.copy2(REPO_ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return OfflineRun.create("r1", "http://alice:s3cret@host:5000", "connection refused")


def test_spans_compress_runs_of_epochs():
    assert spans([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
    assert spans([4]) == "4"


def test_the_summary_names_what_is_kept(kept):
    assert kept.summary() == "nothing"
    kept.add_metrics([Metric("loss", 1.0, 0, 3), Metric("loss", 1.0, 0, 4)])
    kept.add_metrics([Metric("test_loss", 1.0, 0, 0)])
    assert kept.summary() == "the metrics of epochs 3-4 and the test metrics"
    with (kept.folder / "metrics.jsonl").open("a") as handle:
        handle.write('[["loss", 1.0, 0')  # a line cut by a crash: skipped
    assert len(kept.metrics()) == 3


def test_gone_means_no_connection_a_timeout_or_5xx_not_a_bad_request():
    assert unreachable(requests.ConnectionError("refused"))
    assert unreachable(MlflowException("API request to http://h failed with exception x"))
    bad = RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "bad key"})
    assert not unreachable(bad)
    assert not unreachable(ValueError("x"))


def test_secrets_are_scrubbed_from_messages():
    uri = "http://alice:s3cret@host:5000/?token=t0k"
    text = scrub(f"API request to {uri}/api failed; s3cret t0k", uri)
    assert "s3cret" not in text and "t0k" not in text


def test_a_redacted_store_must_be_given(kept):
    with pytest.raises(ValueError, match=r"http://alice:\*\*\*@host:5000: pass its URI"):
        store_for(kept, None)
    assert store_for(kept, "http://alice:pw@host:5000") == "http://alice:pw@host:5000"


def test_a_folder_that_is_no_kept_run_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not a kept run: it has no run.json"):
        upload(tmp_path)
