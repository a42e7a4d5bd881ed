"""Optuna searches: Hydra's Optuna sweeper (``hydra/sweeper=optuna``) on a sweep's runs.

``python -m pipeline.train -m +experiment=optuna_adam`` runs a study through the
same callback as a grid (:mod:`pipeline.sweep.callback`): one parent run, each trial a
child, a failed trial a FAILED child (and a FAIL trial for Optuna: a job whose
seeds all failed returns None, which the sweeper counts as a failed trial; the
preset's ``max_failure_rate: 1.0`` lets the study go on). This module adds:

- the study's direction, from the task's primary metric (:func:`direction`, the
  resolver ``${optlab.direction:${dataset.task}}`` the preset uses), so it is
  written once, in :func:`pipeline.config.contract.primary_metric` (the objective is its
  validation twin, :func:`pipeline.config.contract.objective_metric`);
- the study's best trial, which the sweeper writes to ``optimization_results.yaml``
  in the sweep folder when it ends, recorded on the parent (:func:`record_study`).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from pipeline.config import contract
from pipeline.config.paths import read_yaml
from pipeline.system.redact import redact
from pipeline.tracking import store
from pipeline.tracking.store import NOTE_TAG

if TYPE_CHECKING:  # mlflow takes seconds to import
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

DIRECTION_RESOLVER = "optlab.direction"
# What Hydra's Optuna sweeper writes into the sweep folder once its study has ended.
RESULTS_FILE = "optimization_results.yaml"


def direction(task: str) -> str:
    """Optuna's direction for a task: what a sweep job returns is its validation objective
    (:func:`pipeline.config.contract.objective_metric`), higher-is-better as the primary metric."""
    return "maximize" if contract.primary_metric(task)[1] else "minimize"


def register_resolvers() -> None:
    """Register ``${optlab.direction:<task>}`` with OmegaConf (idempotent)."""
    if not OmegaConf.has_resolver(DIRECTION_RESOLVER):
        OmegaConf.register_new_resolver(DIRECTION_RESOLVER, direction)


def is_optuna(hydra_cfg: DictConfig) -> bool:
    """Whether the sweep runs under Hydra's Optuna sweeper."""
    target = str((hydra_cfg.get("sweeper") or {}).get("_target_", ""))
    return target.endswith("OptunaSweeper")


@dataclass(frozen=True)
class BestTrial:
    """A study's best trial: its sampled params (Hydra override keys) and its value."""

    params: dict[str, Any]
    value: float

    def overrides(self) -> str:
        """The Hydra overrides that train this trial's configuration again."""
        return " ".join(f"{k}={v}" for k, v in self.params.items())


def read_best(sweep_dir: str | os.PathLike[str], since: float = 0.0) -> BestTrial | None:
    """The best trial the sweeper wrote into ``sweep_dir``; None without one (the study
    failed, or had several objectives), or when the file is older than ``since`` (seconds
    since the epoch): an earlier sweep's, left in a reused folder."""
    path = Path(sweep_dir) / RESULTS_FILE
    if not path.is_file() or path.stat().st_mtime < since:
        return None
    results = read_yaml(path) or {}
    if "best_value" not in results:  # a multi-objective study writes "solutions"
        return None
    return BestTrial(params=dict(results.get("best_params") or {}), value=results["best_value"])


def _same(logged: str | None, sampled: Any) -> bool:
    """Whether a run's logged param (a string) is the sampled value."""
    if logged is None:
        return False
    try:
        return math.isclose(float(logged), float(sampled), rel_tol=1e-12)
    except (TypeError, ValueError):
        return logged == str(sampled)


def best_runs(children: list[Run], best: BestTrial) -> list[Run]:
    """The finished children trained with the best trial's params (one per seed)."""
    found = []
    for child in children:
        params = child.data.params
        keys = {k: k.lstrip("+~") for k in best.params}
        # A config group's choice (optimizer=adam) is logged as optimizer.name.
        keys = {k: (v if v in params else f"{v}.name") for k, v in keys.items()}
        if child.info.status == "FINISHED" and all(
            _same(params.get(keys[k]), v) for k, v in best.params.items()
        ):
            found.append(child)
    return found


def study_params(sweeper: DictConfig) -> dict[str, str]:
    """The study's settings, as the parent's ``sweep.optuna.*`` params: what, with the
    preset and the command line, samples the same trials again."""
    sampler = sweeper.get("sampler") or {}
    settings = {
        "sampler": str(sampler.get("_target_", "")).rsplit(".", 1)[-1],
        "seed": sampler.get("seed"),
        "direction": sweeper.get("direction"),
        "n_trials": sweeper.get("n_trials"),
        "n_jobs": sweeper.get("n_jobs"),
        "storage": redact(str(sweeper.get("storage"))),  # an RDB URL may hold a password
        "study_name": sweeper.get("study_name"),
    }
    return {f"sweep.optuna.{k}": str(v) for k, v in settings.items()}


def record_study(
    client: MlflowClient, parent: str, config: DictConfig, children: list[Run]
) -> BestTrial | None:
    """Record an Optuna study on the sweep's parent run: its settings and its best trial.

    The parent gets the ``sweep.optuna.*`` params (:func:`study_params`), the tags
    :data:`~pipeline.config.contract.BEST_PARAMS_TAG` (the overrides) and
    :data:`~pipeline.config.contract.BEST_RUNS_TAG` (the trial's child runs), the metric
    :func:`~pipeline.config.contract.best_trial_metric`, and a section heading its
    description (the UI's Overview). Nothing for another sweeper; only the settings
    when the study wrote no best trial.
    """
    if not is_optuna(config.hydra):
        return None
    store.log_params(client, parent, study_params(config.hydra.sweeper))
    started = client.get_run(parent).info.start_time / 1000
    best = read_best(config.hydra.sweep.dir, since=started)
    if best is None:
        log.warning("the Optuna study recorded no best trial in %s", config.hydra.sweep.dir)
        return None
    task = str(config.dataset.task)
    metric = contract.best_trial_metric(task)
    runs = [r.info.run_id for r in best_runs(children, best)]
    # A study resumed from a storage can find its best in an earlier sweep's trials.
    where = (
        f"child run{'s' * (len(runs) > 1)} {', '.join(runs)}"
        if runs
        else "a trial of an earlier sweep of the study"
    )
    client.set_tag(parent, contract.BEST_PARAMS_TAG, best.overrides()[: contract.TAG_MAX])
    if runs:
        client.set_tag(parent, contract.BEST_RUNS_TAG, ",".join(runs)[: contract.TAG_MAX])
    client.log_metric(parent, metric, float(best.value), step=0)
    sweeper = config.hydra.sweeper
    section = (
        f"## Optuna's best trial: {contract.objective_metric(task)} {best.value:.4g}\n\n"
        f"`{best.overrides()}`: the best of {sweeper.n_trials} trials "
        f"({sweeper.direction}; {where}).\n\n"
    )
    note = client.get_run(parent).data.tags.get(NOTE_TAG, "")
    client.set_tag(parent, NOTE_TAG, section + note)
    print(f"sweep: Optuna's best trial, {metric}={best.value:.4g}: {best.overrides()} ({where})")
    return best
