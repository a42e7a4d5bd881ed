"""Runs left RUNNING by a process that died (SIGKILL, the OOM killer, a crashed worker).

Every training run records who runs it (:func:`process_tags`: host, pid and the
process's start time). A RUNNING run is judged dead only when its host is this
one and its pid is gone, or now belongs to a process started later (a reused
pid). A run of another host cannot be judged from here: it is reported and left
alone, unless forced. Dead runs are marked FAILED with the reason
(:data:`~pipeline.config.contract.ERROR_TAG`, :data:`~pipeline.config.contract.STOP_REASON_TAG`),
which also makes them resumable (:mod:`pipeline.training.resume`).

Used at the end of a sweep (:mod:`pipeline.sweep.callback`), by the comparison
(:mod:`pipeline.compare`) and by ``optlab cleanup``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config import contract
from pipeline.config.schemas import pick

# A process's start time as recorded and as read again can differ by clock ticks.
START_TOLERANCE_S = 1.0


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if there is none.

    A process that exists but cannot be inspected counts as started at time 0, so
    it is never taken for a dead one's reused pid (marking a live run dead is worse
    than leaving a dead one RUNNING).
    """
    import psutil  # lazy, for cost

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return 0.0


def process_tags() -> dict[str, str]:
    """The tags that say which process runs a run: this host, pid and its start time."""
    pid = os.getpid()
    return {
        contract.HOST_TAG: socket.gethostname(),
        contract.PID_TAG: str(pid),
        contract.PID_START_TAG: f"{_process_start(pid):.2f}",
    }


@dataclass(frozen=True)
class Verdict:
    """What is known of a RUNNING run's process: ``dead`` True, False (alive) or None
    (cannot tell from this host), and why."""

    run_id: str
    dead: bool | None
    reason: str


def judge(run: Any, host: str | None = None) -> Verdict:
    """Whether the process of a RUNNING ``run`` (an MLflow ``Run``) is gone."""
    tags, run_id = run.data.tags, run.info.run_id
    host = host or socket.gethostname()
    pid, owner = tags.get(contract.PID_TAG), tags.get(contract.HOST_TAG)
    if pid is None or owner is None:
        return Verdict(run_id, None, "no host/pid recorded (a run of an older version)")
    where = f"process {pid} on {owner}"
    if owner != host:
        return Verdict(run_id, None, f"{where}: another host, cannot tell from {host}")
    started = _process_start(int(pid))
    if started is None:
        return Verdict(run_id, True, f"{where} is gone and left the run RUNNING")
    recorded = tags.get(contract.PID_START_TAG)
    if recorded:  # the pid now belongs to a process started at another time
        reused = abs(started - float(recorded)) > START_TOLERANCE_S
    else:  # a process started after the run cannot be the one that started it
        reused = started > run.info.start_time / 1000 + START_TOLERANCE_S
    if reused and started:
        return Verdict(run_id, True, f"{where} is gone (the pid now belongs to another process)")
    return Verdict(run_id, False, f"{where} is alive")


def mark_failed(client: Any, run_id: str, reason: str) -> None:
    """Mark a run whose process died FAILED, saying why (the report lists it)."""
    client.set_tag(run_id, contract.STOP_REASON_TAG, reason[: contract.TAG_MAX])
    client.set_tag(run_id, contract.ERROR_TAG, f"process died: {reason}"[: contract.TAG_MAX])
    client.set_terminated(run_id, "FAILED")


def running_runs(client: Any, experiment_ids: Sequence[str] | None = None) -> list[Any]:
    """Every RUNNING run of the given experiments (default: all active ones)."""
    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if not experiment_ids:
        return []
    return client.search_runs(
        list(experiment_ids), "attributes.status = 'RUNNING'", max_results=50000
    )


def close_dead_runs(
    client: Any,
    runs: Iterable[Any],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> list[Verdict]:
    """Judge each RUNNING run and mark the dead ones FAILED; return every verdict.

    ``force`` also marks the runs that cannot be judged from here (another host, no
    pid recorded): only for a user who knows those processes are gone.
    ``dry_run`` marks nothing.
    """
    verdicts = []
    for run in runs:
        if run.info.status != "RUNNING":
            continue
        verdict = judge(run)
        if verdict.dead is None and force:
            verdict = Verdict(verdict.run_id, True, f"forced: {verdict.reason}")
        if verdict.dead and not dry_run:
            mark_failed(client, verdict.run_id, verdict.reason)
        verdicts.append(verdict)
    return verdicts


def cleanup(
    uri: str,
    experiment_names: Sequence[str] = (),
    *,
    force: bool = False,
    dry_run: bool = False,
) -> list[Verdict]:
    """``optlab cleanup``: close the dead runs of a store (or of the named experiments)."""
    from mlflow.tracking import MlflowClient  # lazy, for cost

    client = MlflowClient(uri)
    ids = None
    if experiment_names:
        ids = []
        for name in experiment_names:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                pick([e.name for e in client.search_experiments()], name, "experiment")
            ids.append(experiment.experiment_id)
    return close_dead_runs(client, running_runs(client, ids), force=force, dry_run=dry_run)
