"""A sweep's jobs: each trains its configuration's seeds as child runs of the sweep's
parent (:mod:`pipeline.sweep.callback` made it and hands its id over the environment), in a
Hydra job's process or, for the seeds a sweep adds later (:mod:`pipeline.sweep.rounds`), in
the launching one. A seed that fails is recorded as a FAILED child and the next one runs.
"""

from __future__ import annotations

import logging
import os
import uuid

from omegaconf import DictConfig, OmegaConf, open_dict

from pipeline.compare.sequential import START
from pipeline.config import contract, labels
from pipeline.config.paths import layout, project_root
from pipeline.config.ranges import AUTO
from pipeline.data.build import ensure_processed
from pipeline.sweep import cluster
from pipeline.system import machine
from pipeline.tracking import provenance, store

log = logging.getLogger(__name__)

PARENT_ENV = "OPTLAB_SWEEP_PARENT_RUN_ID"
EXPERIMENT_ENV = "OPTLAB_SWEEP_EXPERIMENT"
URI_ENV = "OPTLAB_SWEEP_TRACKING_URI"
# The swept keys, comma-separated: they name each child's configuration.
KEYS_ENV = "OPTLAB_SWEEP_KEYS"


def first_seeds(seeds: int | str) -> int:
    """The seeds each job trains: ``sweep.seeds``, or with ``auto`` the first look's."""
    return START if seeds == AUTO else int(seeds)


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
    """Train one sweep job: its first seeds (:func:`first_seeds`) as child runs of the
    sweep's parent; each finished seed's :func:`~pipeline.config.contract.objective_value`.

    A seed that fails is recorded as a FAILED child (with tag ``optlab.error``) and
    the next one runs; the job itself never raises, so the sweep goes on.
    """
    cfg = job_config(cfg, hydra_cfg)
    job = str(hydra_cfg.job.num) if hydra_cfg is not None else "0"
    on_ray = cluster.uses_ray(hydra_cfg)
    results = [train_seed(cfg, i, job, on_ray) for i in range(first_seeds(cfg.sweep.seeds))]
    return [r for r in results if r is not None]


def job_config(cfg: DictConfig, hydra_cfg: DictConfig | None = None) -> DictConfig:
    """A job's config as its seeds train it: in the sweep's experiment and store, with its
    share of the cores."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.mlflow.experiment_name = os.environ[EXPERIMENT_ENV]
        cfg.mlflow.tracking_uri = os.environ[URI_ENV]
        # Under the CPU pin every training runs on one thread (pipeline.training.runtime), so
        # parallel jobs cannot oversubscribe the CPU; else each job gets its share.
        if not cfg.runtime.intra_op_threads and not machine.pinned():
            cfg.runtime.intra_op_threads = threads_per_job(hydra_cfg)
            cfg.runtime.inter_op_threads = 1
    return cfg


def train_seed(cfg: DictConfig, offset: int, job: str, on_ray: bool = False) -> float | None:
    """Train seed ``training.seed + offset`` of a job's configuration (:func:`job_config`)
    as a child of the sweep's parent; its objective, or None when it failed (recorded as a
    FAILED child)."""
    from mlflow.tracking import MlflowClient

    from pipeline.training.train import train  # lazy, for cost: Hydra imports this module to start

    parent, experiment = os.environ[PARENT_ENV], os.environ[EXPERIMENT_ENV]
    swept = [k for k in os.environ.get(KEYS_ENV, "").split(",") if k]
    run_cfg = cfg.copy()
    with open_dict(run_cfg):
        run_cfg.training.seed = cfg.training.seed + offset
    tags = {
        contract.SWEEP_TAG: contract.CHILD,
        contract.JOB_TAG: job,
        contract.JOB_KEY_TAG: uuid.uuid4().hex,
    }
    several = cfg.sweep.seeds == AUTO or cfg.sweep.seeds > 1
    suffix = f"-s{run_cfg.training.seed}" if several else ""
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
        return contract.objective_value(result.history)
    except Exception as error:  # noqa: BLE001 - recorded, and the sweep goes on
        log.exception("sweep job %s seed %s failed", job, run_cfg.training.seed)
        client = MlflowClient(os.environ[URI_ENV])
        _record_failure(client, run_cfg, experiment, parent, tags, suffix, error, swept)
        return None


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
