"""The MLflow client a training writes through: after the first request its server does
not answer, the rest of the run is kept locally (:mod:`pipeline.tracking.offline`).

A training's every write (params, per-epoch metrics, tags, dataset inputs,
artifacts, the model) goes through :class:`GuardedClient`. While the server answers,
it passes them on. At the first request it does not (no connection, a timeout, a
5xx, after MLflow's own bounded retries, :func:`pipeline.tracking.store_check.limit_client`)
it goes *offline*: that write and every later one go to the run's
:class:`~pipeline.tracking.offline.OfflineRun` folder, and no request reaches the server for the
rest of the run, so a dead server costs one request's wait, not one per epoch. Local
stores (SQLite, files) are written directly: there is no server to go away.
"""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipeline.system.redact import redact
from pipeline.tracking import store
from pipeline.tracking.offline import (
    OfflineRun,
    RunKeptOffline,
    short_reason,
    unreachable,
    upload_command,
)
from pipeline.tracking.store_check import RETRIES_ENV, TIMEOUT_ENV

log = logging.getLogger(__name__)

# While offline, anything that still asks the server (MLflow's system-metrics thread)
# gets one try of one second.
OFFLINE_HTTP = {RETRIES_ENV: "0", TIMEOUT_ENV: "1"}


class GuardedClient:
    """An ``MlflowClient`` for one training that keeps the run locally once its server
    is gone. Reads (``search_runs``, ``get_run``, …) pass through unchanged."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client = client
        self.uri = uri
        self.remote = urllib.parse.urlsplit(uri).scheme in ("http", "https")
        self.offline: OfflineRun | None = None
        self.reason = ""
        self._run_id = ""
        self._saved_env: dict[str, str | None] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _write(self, run_id: str, send: Callable[[], Any], keep: Callable[[OfflineRun], Any]):
        if self.offline is None:
            if not self.remote:
                return send()
            try:
                return send()
            except Exception as error:
                if not unreachable(error):
                    raise
                self._go_offline(run_id, error)
        return keep(self.offline)

    def _go_offline(self, run_id: str, error: BaseException) -> None:
        self._run_id = run_id
        self.reason = short_reason(error, self.uri)
        self.offline = OfflineRun.create(run_id, self.uri, self.reason)
        self._saved_env = {key: os.environ.get(key) for key in OFFLINE_HTTP}
        os.environ.update(OFFLINE_HTTP)
        log.warning(
            "MLflow tracking server %s stopped answering (%s): the rest of run %s is kept in %s",
            redact(self.uri),
            self.reason,
            run_id,
            self.offline.folder,
        )

    # -------------------------------------------------------------- writes
    def log_batch(self, run_id: str, metrics=(), params=(), tags=(), **kwargs) -> None:
        def keep(kept: OfflineRun) -> None:
            if params:
                kept.add_params({p.key: p.value for p in params})
            if metrics:
                kept.add_metrics(list(metrics))
            if tags:
                kept.add_tags({t.key: t.value for t in tags})

        send = lambda: self._client.log_batch(run_id, metrics, params, tags, **kwargs)  # noqa: E731
        self._write(run_id, send, keep)

    def set_tag(self, run_id: str, key: str, value: Any, **kwargs) -> None:
        send = lambda: self._client.set_tag(run_id, key, value, **kwargs)  # noqa: E731
        self._write(run_id, send, lambda kept: kept.add_tags({key: str(value)}))

    def delete_tag(self, run_id: str, key: str) -> None:
        send = lambda: self._client.delete_tag(run_id, key)  # noqa: E731
        self._write(run_id, send, lambda kept: kept.remove_tag(key))

    def log_inputs(self, run_id: str, datasets=None, **kwargs) -> None:
        send = lambda: self._client.log_inputs(run_id, datasets=datasets, **kwargs)  # noqa: E731
        self._write(run_id, send, lambda kept: kept.add_inputs(list(datasets or [])))

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None):
        send = lambda: self._client.log_artifacts(run_id, local_dir, artifact_path)  # noqa: E731
        self._write(run_id, send, lambda kept: kept.add_artifacts(local_dir, artifact_path))

    def log_model(self, run_id: str, model: Any, example: Any) -> None:
        """Log the model to the active run (:func:`pipeline.tracking.store.log_model`), or keep it
        (a byte-stable ``.keras`` file and its input example)."""
        send = lambda: store.log_model(model, example)  # noqa: E731
        self._write(run_id, send, lambda kept: kept.add_model(model, example))

    # -------------------------------------------------------------- the run's end
    @contextlib.contextmanager
    def leaving_run(self) -> Iterator[None]:
        """Around the inside of a fluent run: when offline at its end, end the run here
        without asking the server (its status stays for :func:`~pipeline.tracking.offline.upload`
        to set), then restore MLflow's HTTP settings."""
        try:
            yield
        except BaseException as error:
            if self.offline is not None:  # the run ends here: upload gives it this status
                status = "FAILED" if isinstance(error, Exception) else "KILLED"
                self.offline.set_status(status)
                log.warning(
                    "run %s ended %s while its server was away: upload what was not logged "
                    "with `%s`",
                    self._run_id,
                    status,
                    upload_command(self.offline.folder),
                )
            raise
        finally:
            if self.offline is not None:
                _forget_active_run()
                for key, value in self._saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def kept_error(self, run_id: str, outputs: str) -> RunKeptOffline | None:
        """The one-line error of a run kept offline (None if it was not): what was not
        logged, where it is, the command that uploads it."""
        if self.offline is None:
            return None
        folder = self.offline.folder
        return RunKeptOffline(
            f"MLflow tracking server {redact(self.uri)} went away during run {run_id} "
            f"({self.reason}): training finished{outputs}, but {self.offline.summary()} "
            f"were not logged; they are kept in {folder}: once the server is back, "
            f"upload them into the run with `{upload_command(Path(folder))}`"
        )


def _forget_active_run() -> None:
    """Drop the fluent API's active run without a request: ``mlflow.end_run`` would ask
    the dead server to terminate it (MLflow has no public way to end a run locally)."""
    from mlflow.tracking import fluent  # lazy, for cost

    stack = fluent._active_run_stack.get()
    if stack:
        run_id = stack.pop().info.run_id
        fluent.MLFLOW_RUN_ID.unset()
        monitor = fluent.run_id_to_system_metrics_monitor.pop(run_id, None)
        if monitor is not None:
            with contextlib.suppress(Exception):  # it logs its last sample: one short try
                monitor.finish()
