"""A run whose tracking server goes away mid-training: kept locally, uploaded later.

:class:`GuardedClient` wraps the ``MlflowClient`` a training writes through. At the
first request a remote server does not answer (no connection, a timeout, a 5xx), it
stops talking to the server for the rest of the run and writes what is left to log
(params, metrics, tags, dataset inputs, artifacts, the model) into the run's folder
under the layout's ``offline/<run id>/`` (:mod:`pipeline.config.paths`; git-ignored, no DVC
output), an :class:`OfflineRun`. The training finishes and writes its DVC outputs;
the command then fails with :class:`RunKeptOffline`, one line saying what was not
logged and how to upload it: ``optlab upload <folder>`` (:func:`upload`), which logs
it into the same run once the server is back, ends the run FINISHED and removes the
folder.

Nothing written there holds a password: the store's URI and the error are redacted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.config.paths import layout, project_root
from pipeline.system.io import atomic_write_json
from pipeline.system.redact import MASK, redact
from pipeline.tracking import store
from pipeline.tracking.store_check import check_tracking

log = logging.getLogger(__name__)

RUN_FILE = "run.json"  # the run id, the store (redacted), why, the parts uploaded
METRICS_FILE = "metrics.jsonl"  # one line per logged batch
PARAMS_FILE, TAGS_FILE, INPUTS_FILE = "params.json", "tags.json", "inputs.json"
ARTIFACTS_DIR = "artifacts"
MODEL_FILE, EXAMPLE_FILE = "model.keras", "input_example.npy"


class RunKeptOffline(ConnectionError):
    """The training finished, but part of its run is kept locally: the message says what
    and how to upload it."""


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the server is gone (no connection, a timeout, a 5xx),
    rather than that a request was wrong (4xx: a bug to report, not to hide)."""
    import requests  # lazy, for cost: MLflow's HTTP client
    from mlflow.exceptions import MlflowException

    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code >= 500
    if isinstance(error, requests.RequestException | ConnectionError | TimeoutError):
        return True
    return isinstance(error, MlflowException) and error.get_http_status_code() >= 500


def scrub(text: str, uri: str) -> str:
    """``text`` with the URI's password (or token) replaced, wherever it appears."""
    text = text.replace(uri, redact(uri))
    parts = urllib.parse.urlsplit(uri)
    for secret in (parts.password, *(v for _, v in urllib.parse.parse_qsl(parts.query))):
        if secret:
            text = text.replace(secret, MASK).replace(urllib.parse.quote(secret), MASK)
    return text


def short_reason(error: BaseException, uri: str) -> str:
    """Why a request failed, in a few words (MLflow's messages run to paragraphs)."""
    text = str(error)
    if "refused" in text.lower():
        return "connection refused"
    if "timeout" in text.lower() or "timed out" in text.lower():
        return "no answer in time"
    if "500 error responses" in text or "error code 5" in text:
        return "the server answers with errors (5xx)"
    return scrub(text.splitlines()[0] if text else type(error).__name__, uri)[:200]


def folder_for(run_id: str) -> Path:
    """Where a run is kept: the store's project's ``offline/<run id>``."""
    return layout(project_root(store=True)).offline / run_id


class OfflineRun:
    """A run's folder of what its server did not get (see the module's docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def create(cls, run_id: str, uri: str, reason: str) -> OfflineRun:
        """A new (or the same run's existing) folder, recording the run, store and why."""
        kept = cls(folder_for(run_id))
        kept.folder.mkdir(parents=True, exist_ok=True)
        info = {"run_id": run_id, "tracking_uri": redact(uri), "reason": reason}
        atomic_write_json(kept.folder / RUN_FILE, {**kept.info(), **info})
        return kept

    def info(self) -> dict[str, Any]:
        """``run.json``: run id, store (redacted), reason, parts already uploaded."""
        path = self.folder / RUN_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def set_status(self, status: str) -> None:
        """The status the upload ends the run with (FINISHED unless set)."""
        atomic_write_json(self.folder / RUN_FILE, {**self.info(), "status": status})

    def _json(self, name: str, default: Any) -> Any:
        path = self.folder / name
        return json.loads(path.read_text()) if path.is_file() else default

    def add_metrics(self, metrics: list[Any]) -> None:
        """Append MLflow ``Metric`` entities, one batch a line (a crash loses that line only)."""
        line = [[m.key, m.value, m.timestamp, m.step] for m in metrics]
        with (self.folder / METRICS_FILE).open("a") as handle:
            handle.write(json.dumps(line) + "\n")

    def metrics(self) -> list[tuple[str, float, int, int]]:
        """Every kept metric as (key, value, timestamp, step)."""
        path = self.folder / METRICS_FILE
        kept = []
        for line in path.read_text().splitlines() if path.is_file() else []:
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by a crash
                kept += [tuple(m) for m in json.loads(line)]
        return kept

    def add_params(self, params: Mapping[str, str]) -> None:
        atomic_write_json(self.folder / PARAMS_FILE, {**self.params(), **params})

    def params(self) -> dict[str, str]:
        return self._json(PARAMS_FILE, {})

    def add_tags(self, tags: Mapping[str, str]) -> None:
        atomic_write_json(self.folder / TAGS_FILE, {**self.tags(), **tags})

    def remove_tag(self, key: str) -> None:
        atomic_write_json(self.folder / TAGS_FILE, {**self.tags(), key: None})

    def tags(self) -> dict[str, str | None]:
        """The kept tags; None: a tag to delete."""
        return self._json(TAGS_FILE, {})

    def add_inputs(self, inputs: list[Any]) -> None:
        """Keep MLflow ``DatasetInput`` entities (as their protobuf JSON)."""
        from google.protobuf.json_format import MessageToDict

        kept = self._json(INPUTS_FILE, []) + [MessageToDict(i.to_proto()) for i in inputs]
        atomic_write_json(self.folder / INPUTS_FILE, kept)

    def inputs(self) -> list[dict[str, Any]]:
        return self._json(INPUTS_FILE, [])

    def add_artifacts(self, local: str | os.PathLike[str], artifact_path: str | None) -> None:
        """Copy a file or a folder's files under ``artifacts/<artifact_path>``."""
        target = self.folder / ARTIFACTS_DIR / (artifact_path or "")
        if Path(local).is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, target / Path(local).name)

    def artifacts(self) -> list[Path]:
        root = self.folder / ARTIFACTS_DIR
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []

    def add_model(self, model: Any, example: Any) -> None:
        """The model (a byte-stable ``.keras`` file) and its input example."""
        import numpy as np

        from pipeline.kinds import (
            keras_file,  # lazy, for cost: saving imports nothing heavy, Keras does
        )

        keras_file.save(model, self.folder / MODEL_FILE)
        np.save(self.folder / EXAMPLE_FILE, np.asarray(example))

    def has_model(self) -> bool:
        return (self.folder / MODEL_FILE).is_file()

    def summary(self) -> str:
        """What is kept, e.g. ``the metrics of epochs 3-5, the test metrics, 4 artifacts
        and the model``."""
        steps = sorted({m[3] for m in self.metrics()})
        parts = []
        if self.params():
            parts.append("the params")
        if self.inputs():
            parts.append("the dataset inputs")
        epochs = [s for s in steps if s > 0]
        if epochs:
            parts.append(f"the metrics of epoch{'s' if len(epochs) > 1 else ''} {spans(epochs)}")
        if 0 in steps:
            parts.append("the test metrics")
        if self.tags():
            parts.append(f"{len(self.tags())} tag{'s' if len(self.tags()) > 1 else ''}")
        if n := len(self.artifacts()):
            parts.append(f"{n} artifact{'s' if n > 1 else ''}")
        if self.has_model():
            parts.append("the model")
        if not parts:
            return "nothing"
        return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def spans(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``1-3, 5``."""
    out, start = [], numbers[0]
    for previous, number in zip(numbers, [*numbers[1:], None], strict=True):
        if number != previous + 1 if number is not None else True:
            out.append(f"{start}-{previous}" if previous != start else str(start))
            start = number
    return ", ".join(out)


def upload_command(folder: Path) -> str:
    """The command that uploads ``folder`` (relative to the working directory if below it)."""
    with contextlib.suppress(ValueError):
        folder = folder.resolve().relative_to(Path.cwd().resolve())
    return f"optlab upload {folder}"


# ------------------------------------------------------------------ upload
PARTS = ("params", "inputs", "metrics", "tags", "artifacts", "model", "status")


def store_for(kept: OfflineRun, given: str | None) -> str:
    """The store to upload to: ``given``, else ``$MLFLOW_TRACKING_URI``, else the one the
    run was kept from, unless its credentials were redacted away.

    Raises:
        ValueError: None of them can be used.
    """
    uri = given or os.environ.get("MLFLOW_TRACKING_URI") or kept.info().get("tracking_uri")
    if not uri or MASK in uri:
        raise ValueError(
            f"{kept.folder} was kept from {kept.info().get('tracking_uri')}: pass its URI, "
            "with its credentials, as --tracking-uri (or set MLFLOW_TRACKING_URI)"
        )
    return uri


def upload(folder: str | os.PathLike[str], uri: str | None = None, timeout: float = 10) -> str:
    """Log a kept run into its original run (same run id), end it FINISHED (or FAILED or
    KILLED, if the training ended so while the server was away) and remove the folder;
    the run id.

    Each part (params, inputs, metrics, tags, artifacts, model, status) is recorded in
    ``run.json`` once uploaded, so an upload that fails midway goes on where it stopped.

    Raises:
        ValueError: ``folder`` is not a kept run, or no store to upload to.
        pipeline.tracking.store_check.TrackingUnavailable: The server is still away.
    """
    kept = OfflineRun(Path(folder))
    info = kept.info()
    if "run_id" not in info:
        raise ValueError(f"{folder} is not a kept run: it has no {RUN_FILE}")
    uri = store_for(kept, uri)
    check_tracking(uri, timeout)
    from mlflow import MlflowClient  # lazy, for cost

    client = MlflowClient(uri)
    run_id = info["run_id"]
    client.get_run(run_id)  # the original run must be there (a 404 says so)
    done = set(info.get("uploaded", []))
    for part in PARTS:
        if part not in done:
            _UPLOADERS[part](client, uri, run_id, kept)
            done.add(part)
            atomic_write_json(kept.folder / RUN_FILE, {**info, "uploaded": sorted(done)})
    shutil.rmtree(kept.folder)
    return run_id


def _params(client: Any, uri: str, run_id: str, kept: OfflineRun) -> None:
    store.log_params(client, run_id, kept.params())


def _inputs(client: Any, uri: str, run_id: str, kept: OfflineRun) -> None:
    from google.protobuf.json_format import ParseDict
    from mlflow.entities import DatasetInput
    from mlflow.protos.service_pb2 import DatasetInput as DatasetInputProto

    inputs = [DatasetInput.from_proto(ParseDict(i, DatasetInputProto())) for i in kept.inputs()]
    if inputs:
        client.log_inputs(run_id, datasets=inputs)


def _metrics(client: Any, uri: str, run_id: str, kept: OfflineRun) -> None:
    from mlflow.entities import Metric

    batch = [Metric(key, value, timestamp, step) for key, value, timestamp, step in kept.metrics()]
    for i in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[i : i + 1000])


def _tags(client: Any, uri: str, run_id: str, kept: OfflineRun) -> None:
    for key, value in kept.tags().items():
        if value is None:
            with contextlib.suppress(Exception):  # deleted, or never there
                client.delete_tag(run_id, key)
        else:
            client.set_tag(run_id, key, value)


def _artifacts(client: Any, uri: str, run_id: str, kept: OfflineRun) -> None:
    if kept.artifacts():
        client.log_artifacts(run_id, str(kept.folder / ARTIFACTS_DIR))


def _model(client: Any, uri: str, run_id: str, kept: OfflineRun) -> None:
    if not kept.has_model():
        return
    import keras  # lazy, for cost
    import mlflow
    import numpy as np

    # Lazy, for cost; imported for its registrations: Step and Maxout load by name.
    import pipeline.kinds.activations  # noqa: F401

    model = keras.saving.load_model(kept.folder / MODEL_FILE)
    example = np.load(kept.folder / EXAMPLE_FILE)
    with store.global_tracking_uri(uri), mlflow.start_run(run_id=run_id):
        store.log_model(model, example)


def _status(client: Any, uri: str, run_id: str, kept: OfflineRun) -> None:
    client.set_terminated(run_id, kept.info().get("status", "FINISHED"))


_UPLOADERS = {
    "params": _params,
    "inputs": _inputs,
    "metrics": _metrics,
    "tags": _tags,
    "artifacts": _artifacts,
    "model": _model,
    "status": _status,
}
