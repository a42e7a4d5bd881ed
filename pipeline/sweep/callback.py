"""Hydra multirun sweeps as one MLflow parent run with a child run per job.

``python -m pipeline.train -m optimizer=sgd,adam activation=sigmoid,relu`` runs
through :class:`MlflowSweepCallback` (registered in ``conf/config.yaml``):

- before any job starts, in the launching process, it creates the MLflow store,
  the experiment and the parent run (a fresh SQLite store hit by several first
  writers at once would corrupt its schema), and hands the parent's id to the
  jobs through the environment (joblib's workers inherit it);
- every job trains ``sweep.seeds`` runs, children of the parent; a job that
  fails is recorded as a FAILED child and the sweep goes on;
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
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from pipeline.config import contract, keras_names, labels
from pipeline.config.compose import validate
from pipeline.config.paths import layout, project_root
from pipeline.config.ranges import out_of_range
from pipeline.config.schemas import pick
from pipeline.data.build import ensure_processed
from pipeline.sweep import cluster
from pipeline.sweep.search import record_study
from pipeline.system import interrupt, machine
from pipeline.tracking import provenance, recovery, store, store_check

log = logging.getLogger(__name__)

PARENT_ENV = "OPTLAB_SWEEP_PARENT_RUN_ID"
EXPERIMENT_ENV = "OPTLAB_SWEEP_EXPERIMENT"
URI_ENV = "OPTLAB_SWEEP_TRACKING_URI"
# The swept keys, comma-separated: they name each child's configuration.
KEYS_ENV = "OPTLAB_SWEEP_KEYS"


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
        run = client.create_run(
            experiment_id,
            run_name=name,
            tags={contract.SWEEP_TAG: contract.PARENT, **provenance.source_tags(project_root())},
        )
        self.parent_id = run.info.run_id
        # What a run would not log (the tracking URI among it) the sweep does not either.
        params = {f"sweep.{k}": v for k, v in store.run_params(swept, cfg.dataset.name).items()}
        params.update(
            {
                "sweep.seeds": str(cfg.sweep.seeds),
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


def threads_per_job(hydra_cfg: DictConfig | None) -> int:
    """TensorFlow threads for one job, so parallel jobs do not oversubscribe the CPU:
    the CPUs Ray gave the task, or this machine's cores shared by joblib's workers."""
    if cluster.uses_ray(hydra_cfg):
        return cluster.assigned_cpus() or 1
    cores = os.cpu_count() or 1
    n_jobs = (hydra_cfg.launcher.get("n_jobs") if hydra_cfg is not None else None) or 1
    if n_jobs < 0:  # joblib: -1 is all cores, -2 all but one, ...
        n_jobs = max(1, cores + 1 + n_jobs)
    return max(1, cores // n_jobs)


def run_job(cfg: DictConfig, hydra_cfg: DictConfig | None = None) -> list[float | None]:
    """Train one sweep job: ``sweep.seeds`` child runs of the sweep's parent; each finished
    seed's :func:`~pipeline.config.contract.objective_value`.

    A seed that fails is recorded as a FAILED child (with tag ``optlab.error``) and
    the next one runs; the job itself never raises, so the sweep goes on.
    """
    from mlflow.tracking import MlflowClient

    from pipeline.training.train import train  # lazy, for cost: Hydra imports this module to start

    parent = os.environ[PARENT_ENV]
    experiment = os.environ[EXPERIMENT_ENV]
    uri = os.environ[URI_ENV]
    swept = [k for k in os.environ.get(KEYS_ENV, "").split(",") if k]
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.mlflow.experiment_name = experiment
        cfg.mlflow.tracking_uri = uri
        # Under the CPU pin every training runs on one thread (pipeline.training.runtime), so
        # parallel jobs cannot oversubscribe the CPU; else each job gets its share.
        if not cfg.runtime.intra_op_threads and not machine.pinned():
            cfg.runtime.intra_op_threads = threads_per_job(hydra_cfg)
            cfg.runtime.inter_op_threads = 1
    on_ray = cluster.uses_ray(hydra_cfg)
    job = str(hydra_cfg.job.num) if hydra_cfg is not None else "0"
    results = []
    for i in range(cfg.sweep.seeds):
        run_cfg = cfg.copy()
        with open_dict(run_cfg):
            run_cfg.training.seed = cfg.training.seed + i
        key = uuid.uuid4().hex
        tags = {
            contract.SWEEP_TAG: contract.CHILD,
            contract.JOB_TAG: job,
            contract.JOB_KEY_TAG: key,
        }
        suffix = f"-s{run_cfg.training.seed}" if cfg.sweep.seeds > 1 else ""
        try:
            if on_ray:  # a worker without a shared filesystem builds the data it lacks
                ensure_processed(cfg.data, cfg.dataset.name, layout())
            result = train(
                run_cfg,
                parent_run_id=parent,
                extra_tags=tags,
                run_name_suffix=suffix,
                label_keys=swept,
            )
            results.append(contract.objective_value(result.history))
        except Exception as error:  # noqa: BLE001 - recorded, and the sweep goes on
            log.exception("sweep job %s seed %s failed", job, run_cfg.training.seed)
            _record_failure(
                MlflowClient(uri), run_cfg, experiment, parent, tags, suffix, error, swept
            )
    return results


def _record_failure(
    client,
    cfg: DictConfig,
    experiment: str,
    parent: str,
    tags: dict[str, str],
    suffix: str,
    error: Exception,
    swept: list[str],
) -> None:
    """Make sure the failure is a FAILED child run carrying the error message.

    A run that failed before training started is created here, with the source,
    configuration and params a training run would have had.
    """
    found = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id],
        f"tags.`{contract.JOB_KEY_TAG}` = '{tags[contract.JOB_KEY_TAG]}'",
    )
    message = contract.error_message(error)
    if found:  # train() had started its run; the run context already marked it FAILED
        run_id = found[0].info.run_id
        client.set_tag(run_id, contract.ERROR_TAG, message)
        if found[0].info.status != "FAILED":
            client.set_terminated(run_id, "FAILED")
        return
    # It failed before its run started (an impossible combination, missing data).
    flat = store.flatten(OmegaConf.to_container(cfg, resolve=True))
    tags = {
        **provenance.source_tags(project_root()),
        **tags,
        contract.CONFIGURATION_TAG: labels.label(flat, labels.param_keys(swept, flat)),
        contract.PARENT_RUN_TAG: parent,
        contract.ERROR_TAG: message,
    }
    run = client.create_run(
        client.get_experiment_by_name(experiment).experiment_id,
        run_name=store.default_run_name(cfg, cfg.optimizer.name == "gd") + suffix,
        tags=tags,
    )
    store.log_params(client, run.info.run_id, store.run_params(flat, cfg.dataset.name))
    client.set_terminated(run.info.run_id, "FAILED")


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
