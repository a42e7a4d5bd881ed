"""Configurations: which params define one, their labels, and what a task ranks by."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import contract, labels

# Params that never define a configuration: the seed is what repeats vary; mlflow.*
# and effective.* are bookkeeping or derived from other params; runtime.* holds the
# settings that by design must not change results (thread counts, verbosity).
# sweep.* and data.download.* are bookkeeping too. The batch size is read from
# effective.batch_size, which says "full" for full-batch GD (training.batch_size
# keeps its unused default there).
EXCLUDED_PARAMS = ("training.seed", "training.batch_size")
EXCLUDED_PREFIXES = ("mlflow.", "effective.", "runtime.", "sweep.", "data.download.")
INCLUDED_PARAMS = ("effective.batch_size",)
# annotate_runs' columns before the configuration-defining params.
RUN_COLUMNS = (
    "run_id",
    "name",
    "status",
    "experiment_id",
    "dataset",
    "task",
    "configuration",
    "seed",
    "metric",
    "value",
    "test_loss",
    "error",
)


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    if name in runs:
        return runs[name]
    return pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _defines_configuration(key: str) -> bool:
    if key in INCLUDED_PARAMS:
        return True
    return key not in EXCLUDED_PARAMS and not key.startswith(EXCLUDED_PREFIXES)


def _follows_choice(params: pd.DataFrame, key: str) -> bool:
    """Whether ``group.key`` varies only because ``group.name`` does.

    Sweeping ``optimizer=sgd,adam`` changes each optimizer's default learning rate
    and the keys it has; those differences are part of the choice, not separate
    settings.  A key that also varies for one choice (``optimizer.learning_rate=
    0.01,0.1``) does label configurations.
    """
    group, _, leaf = key.rpartition(".")
    choice = f"{group}.name"
    if leaf == "name" or choice not in params:
        return False
    per_choice = params[[choice, key]].astype(str).groupby(choice)[key].nunique()
    return bool((per_choice <= 1).all())


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def annotate_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], list[str]]]:
    """One row per run with its group, configuration, seed and ranking metric.

    Args:
        runs: Runs as returned by :func:`select_runs`.

    Returns:
        The frame (``run_id``, ``name``, ``status``, ``experiment_id``, ``dataset``,
        ``task``, ``configuration``, ``seed``, ``metric``, ``value``, ``test_loss``,
        ``error``, then the configuration-defining param columns under their full
        keys) and, per ``(dataset, task)`` group, the param keys that vary in it.
    """
    out = _run_facts(runs)
    params = _configuration_params(runs)
    varying: dict[tuple[str, str], list[str]] = {}
    names = pd.Series("", index=runs.index, dtype=object)
    for group, idx in out.groupby(list(contract.GROUP_COLUMNS), sort=True).groups.items():
        varying[group] = keys = _varying_keys(params.loc[idx])
        for i in idx:
            names[i] = labels.label(params.loc[i].to_dict(), keys)
    out["configuration"] = names
    shown = sorted({k for keys in varying.values() for k in keys}, key=labels.label_order)
    for key in shown:
        out[key] = params[key]
    return out[[*RUN_COLUMNS, *shown]], varying


def _run_facts(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's identity, group (dataset, task), seed, ranking metric and error."""
    out = pd.DataFrame(
        {
            "run_id": _column(runs, "run_id").astype(object),
            "name": _column(runs, "tags.mlflow.runName").astype(object),
            "status": _column(runs, "status").astype(object),
            "experiment_id": _column(runs, "experiment_id").astype(object),
        },
        index=runs.index,
    )
    # A failed run may lack params: fall back to the tag train() sets, then the metrics.
    task = _column(runs, "params.dataset.task").astype(object)
    task = task.where(task.notna(), _column(runs, f"tags.{contract.TASK_TAG}").astype(object))
    has_rmse = _column(runs, "metrics.test_rmse").notna()
    task = task.where(task.notna(), np.where(has_rmse, "regression", "unknown"))
    out["dataset"] = _column(runs, "params.dataset.name").astype(object).fillna("unknown")
    out["task"] = task
    out["seed"] = _column(runs, "params.training.seed").astype(object)
    metric_names = [contract.primary_metric(t)[0] for t in out["task"]]
    out["metric"] = metric_names
    out["value"] = [
        _number(runs.at[i, f"metrics.{m}"]) if f"metrics.{m}" in runs else math.nan
        for i, m in zip(runs.index, metric_names, strict=True)
    ]
    out["test_loss"] = pd.to_numeric(_column(runs, "metrics.test_loss"), errors="coerce")
    out["error"] = _column(runs, f"tags.{contract.ERROR_TAG}").astype(object)
    return out


def _configuration_params(runs: pd.DataFrame) -> pd.DataFrame:
    """The params that may define a configuration, under their keys; None where unlogged."""
    keys = [
        c.removeprefix("params.")
        for c in runs.columns
        if c.startswith("params.") and _defines_configuration(c.removeprefix("params."))
    ]
    params = runs[[f"params.{k}" for k in keys]].astype(object)
    params.columns = keys
    return params.where(params.notna(), None)


def _varying_keys(params: pd.DataFrame) -> list[str]:
    """The keys whose value differs between runs of one group, in label order.

    Missing values (a run that failed before logging everything) do not make a param
    vary: only two different logged values do. Nor does a hyperparameter that only
    follows its choice (each optimizer's own learning rate).
    """
    return sorted(
        (
            k
            for k in params.columns
            if params[k].dropna().nunique() > 1 and not _follows_choice(params, k)
        ),
        key=labels.label_order,
    )
