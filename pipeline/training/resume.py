"""Resuming an interrupted training: which run to continue, and where its backup lies.

Running the same command again after an interruption continues the interrupted
MLflow run from its last finished epoch. "The same command" is the
:func:`resume_key`: a digest of the run's logged params (its resolved config),
its data digest, the code of :mod:`pipeline` and its parent run (a sweep's
children never resume into another sweep). A run is resumed only when it was
stopped by a signal (KILLED), found dead (FAILED with a stop reason, see
:mod:`pipeline.tracking.recovery`), or is RUNNING with its process gone; a finished run or
one that failed on its own is never continued.

The training state (weights, optimizer, epoch, history so far) is backed up after
each epoch under the layout's ``backups/<key>/`` (:mod:`pipeline.config.paths`): outside
DVC's outputs, which DVC deletes before a stage runs, and ignored by git.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import contract
from pipeline.config.paths import layout, project_root
from pipeline.system import interrupt
from pipeline.tracking import recovery

log = logging.getLogger(__name__)


def code_digest() -> str:
    """A sha256 over the source of the :mod:`pipeline` package (the code that trains)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def resume_key(run_key: str, parent_run_id: str | None = None) -> str:
    """What identifies a training command: its run key (the config that changes results,
    and the data: :func:`pipeline.tracking.provenance.run_key`), the code, and its parent run (a
    sweep's child never resumes into another sweep). A rerun with other runtime
    settings (verbosity, threads) resumes: they do not change the numbers."""
    identity = {"run": run_key, "code": code_digest(), "parent": parent_run_id or ""}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def backup_dir(key: str) -> Path:
    """Where a run's training state is backed up: the store's project's ``backups/<key>``.

    The store's project (``$DVC_ROOT`` under ``dvc exp run``), so a queued
    experiment's rerun in another temporary copy finds it.
    """
    return layout(project_root(store=True)).backups / key


def remove_backup(key: str) -> None:
    """Forget a run's backup (after it finished, or failed for good)."""
    shutil.rmtree(backup_dir(key), ignore_errors=True)


@dataclass(frozen=True)
class Resumable:
    """An interrupted run to continue, and the steps its metric history already has."""

    run_id: str
    logged_steps: frozenset[int]


def _interrupted(client: Any, run: Any) -> bool:
    """Whether ``run`` was stopped from outside (and so may be continued)."""
    status = run.info.status
    if status == "KILLED":
        return True
    if status == "FAILED":
        return contract.STOP_REASON_TAG in run.data.tags
    if status == "RUNNING":
        verdict = recovery.judge(run)
        if verdict.dead:
            recovery.mark_failed(client, run.info.run_id, verdict.reason)
            return True
        log.warning("not resuming run %s: %s", run.info.run_id, verdict.reason)
    return False


def find_resumable(client: Any, experiment_id: str, key: str) -> Resumable | None:
    """The latest run with this key, if it was interrupted; None: start a new run."""
    runs = client.search_runs(
        [experiment_id],
        f"tags.`{contract.RESUME_KEY_TAG}` = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs or not _interrupted(client, runs[0]):
        return None
    run_id = runs[0].info.run_id
    # Every epoch logs "loss": its steps are the epochs already in the metric history.
    steps = frozenset(m.step for m in client.get_metric_history(run_id, "loss"))
    return Resumable(run_id, steps)


def run_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A new run's tags for resuming: who runs it (to tell a dead one,
    :mod:`pipeline.tracking.recovery`) and the key a rerun of the same command finds it by."""
    key = resume_key(tags[contract.RUN_KEY_TAG], tags.get(contract.PARENT_RUN_TAG))
    return {**recovery.process_tags(), contract.RESUME_KEY_TAG: key}


def start_run(
    client: Any,
    experiment_id: str,
    name: str,
    tags: dict[str, str],
    resumed: Resumable | None,
    mlflow_cfg: Any,
):
    """A new MLflow run, or the interrupted one continued: RUNNING again, with this
    process's host and pid."""
    import mlflow  # lazy, for cost

    system_metrics = mlflow_cfg.system_metrics
    if resumed is not None:
        print(f"resuming interrupted run {resumed.run_id} ({name})")
        # The stop is over (contract.RESUMED_TAG will say it was resumed): a later
        # failure of its own must not read as an interruption.
        if contract.STOP_REASON_TAG in client.get_run(resumed.run_id).data.tags:
            client.delete_tag(resumed.run_id, contract.STOP_REASON_TAG)
        return mlflow.start_run(
            run_id=resumed.run_id, tags=recovery.process_tags(), log_system_metrics=system_metrics
        )
    return mlflow.start_run(
        experiment_id=experiment_id, run_name=name, tags=tags, log_system_metrics=system_metrics
    )


@contextlib.contextmanager
def killed_if_interrupted(client: Any, run_id: str) -> Iterator[None]:
    """On SIGINT/SIGTERM (:mod:`pipeline.system.interrupt`), end the active run KILLED with the
    reason (:data:`~pipeline.config.contract.STOP_REASON_TAG`), then let the interruption go on."""
    import mlflow  # lazy, for cost

    try:
        yield
    except interrupt.INTERRUPTIONS as error:
        client.set_tag(run_id, contract.STOP_REASON_TAG, interrupt.reason(error))
        mlflow.end_run("KILLED")
        raise


@dataclass
class ResumeState:
    """What a fit needs to be resumable: the shuffle's epoch variable, the backup
    folder, and the interrupted run it continues (None: a new run)."""

    epoch: Any
    backup_dir: Path
    resumed: Resumable | None = None
