"""Hydra multirun sweeps as one MLflow parent run with a child run per job.

``python -m pipeline.train -m optimizer=sgd,adam activation=sigmoid,relu`` runs
through :class:`MlflowSweepCallback` (registered in ``conf/config.yaml``):

- before any job starts, in the launching process, it creates the MLflow store,
  the experiment and the parent run (a fresh SQLite store hit by several first
  writers at once would corrupt its schema), and hands the parent's id to the
  jobs through the environment (joblib's workers inherit it);
- every job trains ``sweep.seeds`` runs, children of the parent (:mod:`pipeline.sweep.jobs`);
  a job that fails is recorded as a FAILED child and the sweep goes on;
- with ``sweep.seeds=auto``, once the jobs are done, it adds seeds to the configurations
  still undecided against the best, in rounds (:mod:`pipeline.sweep.rounds`);
- when the sweep ends it marks children a crashed worker left RUNNING as
  FAILED, records each job that never started a run (its worker died first) as
  a FAILED child saying so, writes the comparison report into the sweep folder,
  logs it to the parent and closes the parent. It does so also when the sweep
  itself fails (a joblib worker killed breaks the whole launcher) or is
  interrupted (then the parent ends KILLED), from an exit handler.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from pipeline.config import contract, keras_names, labels
from pipeline.config.compose import validate
from pipeline.config.paths import layout, project_root
from pipeline.config.ranges import AUTO, out_of_range
from pipeline.config.schemas import pick
from pipeline.sweep import cluster, rounds
from pipeline.sweep.jobs import EXPERIMENT_ENV, KEYS_ENV, PARENT_ENV, URI_ENV
from pipeline.sweep.search import record_study
from pipeline.system import interrupt
from pipeline.tracking import provenance, recovery, store, store_check

log = logging.getLogger(__name__)


def _plain(config: DictConfig) -> DictConfig:
    """The config without Hydra's own node."""
    return OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])


def sweep_params(hydra_cfg: DictConfig) -> dict[str, str]:
    """The sweep's overrides as ``{key: value}``: the preset's, then the command line's.

    The command line comes last because it wins in Hydra's sweeper too.  ``sweep.*``
    and the preset's name are logged under their own keys.
    """
    params = {}
    for override in [*_preset_sweeps(hydra_cfg), *hydra_cfg.overrides.task]:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if key != "experiment" and not key.startswith("sweep."):
            params[key] = value
    return params


def swept_keys(hydra_cfg: DictConfig) -> set[str]:
    """The keys that take several values in this sweep (not the fixed overrides)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [*_preset_sweeps(hydra_cfg), *hydra_cfg.overrides.task]
    parsed = OverridesParser.create().parse_overrides(overrides)
    return {o.key_or_group for o in parsed if o.is_sweep_override()}


def _preset_sweeps(hydra_cfg: DictConfig) -> list[str]:
    sweeper = hydra_cfg.get("sweeper") or {}
    return [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]


def planned_jobs(hydra_cfg: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, by job number, as Hydra's basic sweeper will launch them;
    None for another sweeper (its jobs are not known in advance)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    target = str((hydra_cfg.get("sweeper") or {}).get("_target_", ""))
    if not target.endswith("BasicSweeper"):
        return None
    overrides = [*_preset_sweeps(hydra_cfg), *hydra_cfg.overrides.task]
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def check_jobs(jobs: list[list[str]], conf: Path) -> None:
    """Check every planned job's overrides before the sweep creates anything: an option
    that ``conf`` lacks (Hydra would fail the whole sweep once it started, its parent
    run made), and each value against its key's range or Keras' names (by key name,
    as :func:`~pipeline.config.compose.validate` checks them in the job). Composing each job
    would check the rest too, at 0.3 s a job: that is left to the jobs.

    Raises:
        ValueError: the first bad value, naming its job's own overrides.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    shared = set.intersection(*(set(job) for job in jobs)) if jobs else set()
    for number, job in enumerate(jobs):
        for override in parser.parse_overrides(job):
            key, value = override.key_or_group, override.value()
            if key.startswith("hydra"):
                continue
            try:
                if "." not in key and (conf / key).is_dir():  # a group: its options are files
                    pick([f.stem for f in sorted((conf / key).glob("*.yaml"))], value, key)
                    continue
                problem = out_of_range(key, value) or keras_names.unknown(key, value)
                if problem:
                    raise ValueError(problem)
            except ValueError as error:
                swept = " ".join(o for o in job if o not in shared)
                raise ValueError(f"{error} (job {number}: {swept})") from None


class MlflowSweepCallback(Callback):
    """Parent run before the jobs, report and cleanup after them (see module docstring)."""

    def __init__(self) -> None:
        self.parent_id: str | None = None
        self.uri: str | None = None
        self.jobs: list[list[str]] | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = planned_jobs(config.hydra)
        try:  # every value checked before anything is created (or imported)
            cfg = validate(_plain(config))
            check_jobs(jobs or [], layout().conf)  # and each job's, where they are known
            if cfg.sweep.seeds == AUTO and jobs is None:  # its rounds compose the jobs again
                raise ValueError(
                    "sweep.seeds=auto needs Hydra's basic sweeper, whose jobs are known in "
                    "advance; with this sweeper give a number of seeds (e.g. sweep.seeds=3)"
                )
        except ValueError as error:
            # Hydra would turn a callback's exception into a warning and run the jobs.
            raise SystemExit(f"error: {error}") from error
        from mlflow.tracking import MlflowClient  # lazy, for cost

        swept = sweep_params(config.hydra)
        preset = config.hydra.runtime.choices.get("experiment")
        # Before anything is created: a dead server fails here, in seconds.
        self.uri = store_check.check_tracking(cfg.mlflow.tracking_uri, cfg.mlflow.timeout)
        ray = cluster.uses_ray(config.hydra)
        if ray:  # so is a dead Ray head
            try:
                cluster.check_reachable(cluster.address(config.hydra), cfg.mlflow.timeout)
            except cluster.ClusterUnavailable as error:
                raise SystemExit(f"error: {error}") from error
        # All of a sweep's runs share one experiment: the dataset's, unless the
        # sweep spans datasets (then the preset's name, or "sweeps").
        spans = bool({"dataset", "dataset.name"} & swept_keys(config.hydra))
        default = f"sweep-{preset}" if preset else "sweeps"
        experiment = cfg.mlflow.experiment_name or (default if spans else cfg.dataset.name)
        experiment_id = store.ensure_experiment(self.uri, experiment)
        client = MlflowClient(self.uri)
        name = f"sweep-{preset or experiment}-{time.strftime('%Y%m%d-%H%M%S')}"
        tags = {contract.SWEEP_TAG: contract.PARENT, **provenance.source_tags(project_root())}
        if cfg.sweep.seeds == AUTO:
            tags[contract.SEQUENTIAL_TAG] = rounds.design(cfg.sweep).tag()
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        self.parent_id = run.info.run_id
        # What a run would not log (the tracking URI among it) the sweep does not either.
        params = {f"sweep.{k}": v for k, v in store.run_params(swept, cfg.dataset.name).items()}
        params.update(
            {
                "sweep.seeds": str(cfg.sweep.seeds),
                "sweep.max_seeds": str(cfg.sweep.max_seeds),
                "sweep.preset": str(preset),
                "sweep.launcher": str(config.hydra.launcher.get("_target_", "")).rsplit(".", 1)[-1],
                "sweep.dir": str(config.hydra.sweep.dir),
            }
        )
        store.log_params(client, self.parent_id, params)
        os.environ[PARENT_ENV] = self.parent_id
        os.environ[EXPERIMENT_ENV] = experiment
        os.environ[URI_ENV] = self.uri
        os.environ[KEYS_ENV] = ",".join(sorted(swept_keys(config.hydra)))
        self.jobs = jobs
        # Hydra skips on_multirun_end when the launcher raises (a joblib worker killed)
        # or the sweep is interrupted: the parent must be closed all the same.
        atexit.register(self.on_multirun_end, config)
        if ray:  # joblib's workers inherit the environment; Ray's tasks are handed it
            try:
                cluster.connect(config.hydra, cluster.job_env(), project_root())
            except Exception as error:  # Hydra would make it a warning and run the jobs
                raise SystemExit(f"error: cannot start the Ray job: {error}") from error
        print(f"sweep: parent run {self.parent_id} ({name}) in experiment {experiment!r}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Close the dead children, record the lost jobs, report, close the parent (once)."""
        if self.parent_id is None:
            return
        from mlflow.tracking import MlflowClient

        from pipeline.compare import Selection, compare  # lazy, for cost: pandas, matplotlib

        parent, self.parent_id = self.parent_id, None
        atexit.unregister(self.on_multirun_end)
        client = MlflowClient(self.uri)
        experiment_id = client.get_run(parent).info.experiment_id
        children = self._close_children(client, experiment_id, parent)
        # Other runs of the experiment a dead process left RUNNING (an earlier crash).
        recovery.close_dead_runs(client, recovery.running_runs(client, [experiment_id]))
        out = Path(config.hydra.sweep.dir) / "report"
        failed = sum(c.info.status != "FINISHED" for c in children)
        try:
            auto = config.sweep.seeds == AUTO and interrupt.received is None
            if auto and rounds.add_seeds(self.uri, parent, self.jobs or [], config):
                children = self._close_children(client, experiment_id, parent)
            report = compare(
                self.uri,
                Selection(parent=parent),
                out_dir=out,
                log_to="parent",
                margin=config.compare.margin,
            )
            failed = int((report.runs["status"] != "FINISHED").sum())
            print((out / "report.md").read_text())
            print(f"sweep: report in {out} and on parent run {parent}")
            record_study(client, parent, config, children)  # an Optuna study's best trial
        except ValueError as error:  # e.g. no child ran at all
            log.error("no comparison report: %s", error)
        finally:  # whatever happened to the report, the parent must not stay RUNNING
            client.set_tag(parent, contract.FAILED_RUNS_TAG, str(failed))
            if interrupt.received is not None:
                stop = f"sweep interrupted by {interrupt.received.name}"
                client.set_tag(parent, contract.STOP_REASON_TAG, stop)
            client.set_terminated(parent, "KILLED" if interrupt.received else "FINISHED")
            for key in (PARENT_ENV, EXPERIMENT_ENV, URI_ENV, KEYS_ENV):
                os.environ.pop(key, None)
        print(f"sweep: {len(children)} run(s), {failed} failed")

    def _close_children(self, client, experiment_id: str, parent: str) -> list:
        """The parent's children, each closed: one a dead worker left RUNNING is FAILED,
        and a job that never started a run gets a FAILED child saying it was lost."""
        search = f"tags.`{contract.PARENT_RUN_TAG}` = '{parent}'"
        children = client.search_runs([experiment_id], search, max_results=50000)
        for child in children:
            if child.info.status == "RUNNING":  # every job has returned: its worker is gone
                verdict = recovery.judge(child)
                why = verdict.reason if verdict.dead else "job ended without closing its run"
                recovery.mark_failed(client, child.info.run_id, why)
        started = {c.data.tags.get(contract.JOB_TAG) for c in children}
        swept = [k for k in os.environ.get(KEYS_ENV, "").split(",") if k]
        why = (
            f"not run: the sweep was interrupted by {interrupt.received.name}"
            if interrupt.received
            else "lost: its worker died before it started a run"
        )
        for num, overrides in enumerate(self.jobs or []):
            if str(num) not in started:
                _record_lost_job(client, experiment_id, parent, num, overrides, swept, why)
        return client.search_runs([experiment_id], search, max_results=50000)


def _record_lost_job(
    client,
    experiment_id: str,
    parent: str,
    num: int,
    overrides: list[str],
    swept: list[str],
    why: str,
) -> None:
    """A FAILED child for a job that never started its run (its worker died first, or
    the launcher broke): the report then lists it with its overrides."""
    params = {}
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        # A config group's override (optimizer=adam) is its choice's name.
        params[key if "." in key else f"{key}.name"] = value
    shown = " ".join(overrides)
    tags = {
        **provenance.source_tags(project_root()),
        contract.SWEEP_TAG: contract.CHILD,
        contract.JOB_TAG: str(num),
        contract.PARENT_RUN_TAG: parent,
        contract.CONFIGURATION_TAG: labels.label(params, labels.param_keys(swept, params)),
        contract.ERROR_TAG: f"job {num} {why} ({shown})",
    }
    run = client.create_run(experiment_id, run_name=f"lost-job-{num}", tags=tags)
    store.log_params(client, run.info.run_id, store.run_params(params, ""))
    client.set_terminated(run.info.run_id, "FAILED")
