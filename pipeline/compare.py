"""Compare tracked runs: which configuration is best, and is it really better?

Reads training runs from MLflow (a sweep's children, an experiment, a filter, or
explicit run ids), groups them into *configurations* (the params that vary,
seeds aside), and reports per configuration the mean test metric over seeds with
a Student-t 95% confidence interval, a rank within each comparable group
(dataset and task), and whether each configuration is distinguishable from the
best one by Welch's t-test.  The report (markdown, CSV tables and figures) is
written to a folder and logged to MLflow.

Usage::

    python -m pipeline.compare --parent <sweep parent run id>
    python -m pipeline.compare --experiment mnist --filter "params.optimizer.name = 'adam'"
    python -m pipeline.compare --run-file reports/train/iris/run.json --run-id <id> ...
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import labels, publish

# Params that never define a configuration: the seed is what repeats vary; mlflow.*
# and effective.* are bookkeeping or derived from other params; runtime.* holds the
# settings that by design must not change results (thread counts, verbosity).
# sweep.* and data.download.* are bookkeeping too. The batch size is read from
# effective.batch_size, which says "full" for full-batch GD (training.batch_size
# keeps its unused default there).
EXCLUDED_PARAMS = ("training.seed", "training.batch_size")
EXCLUDED_PREFIXES = ("mlflow.", "effective.", "runtime.", "sweep.", "data.download.")
INCLUDED_PARAMS = ("effective.batch_size",)
# Runs that are never compared: a sweep's parent (it trains nothing) and the runs
# reports are logged to.
PARENT_TAG = "tags.optlab.sweep"
COMPARISON_TAG = "optlab.comparison"
ERROR_TAG = "optlab.error"
GROUP_COLUMNS = ("dataset", "task")
LOG_TO = ("auto", "parent", "comparison", "none")
COMPARISONS_EXPERIMENT = "comparisons"
ARTIFACT_DIR = "report"
# Every file write_report may produce: ones a new report does not produce are
# removed, so an old figure never sits beside a report it does not belong to.
REPORT_FILES = {
    "report": "report.md",
    "summary": "summary.csv",
    "table": "summary_table.json",
    "runs": "runs.csv",
    "heatmap": "heatmap.png",
    "val_curves": "val_curves.png",
    "bars": "bars.png",
}
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
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_DASH = "–"


@dataclass
class Report:
    """What :func:`compare` produced.

    Attributes:
        runs: The selected runs, as returned by :func:`select_runs`.
        summary: One row per configuration, as returned by :func:`summarize`.
        files: The report's files by kind (``report``, ``summary``, ``runs``,
            ``heatmap``, ``val_curves``, ``bars``; figures only when drawn).
        run_id: The MLflow run the files were logged to, or None.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    run_id: str | None = None


# ------------------------------------------------------------------ selection
def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri)


def _active_experiments(client) -> list[Any]:
    """All active experiments of the store (search_experiments pages at 1,000)."""
    experiments, token = [], None
    while True:
        page = client.search_experiments(page_token=token)
        experiments.extend(page)
        token = page.token
        if not token:
            return experiments


def describe_selection(
    *,
    experiment: str | None = None,
    parent: str | None = None,
    filter_string: str | None = None,
    run_ids: Sequence[str] | None = None,
    parent_name: str | None = None,
) -> str:
    """A readable description of a selection, e.g. ``children of run 1a2b (sweep-x)``."""
    parts = []
    if experiment is not None:
        parts.append(f"experiment {experiment!r}")
    if parent is not None:
        parts.append(f"children of run {parent}" + (f" ({parent_name})" if parent_name else ""))
    if filter_string:
        parts.append(f"filter {filter_string!r}")
    if run_ids:
        ids = list(dict.fromkeys(run_ids))
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        parts.append(f"run id{'s' if len(ids) > 1 else ''} {shown}")
    return " and ".join(parts) if parts else "nothing"


def select_runs(
    tracking_uri: str,
    *,
    experiment: str | None = None,
    parent: str | None = None,
    filter_string: str | None = None,
    run_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read the runs to compare from MLflow, one row per run.

    Selectors combine: a run is selected when it matches every one given (e.g.
    ``experiment`` and ``filter_string`` is the filter within that experiment).
    Without ``experiment``, all active experiments are searched.  A sweep's parent
    run (tag ``optlab.sweep = 'parent'``) and report runs (tag
    ``optlab.comparison = 'true'``) are never selected.

    Args:
        tracking_uri: The MLflow store.
        experiment: Select the runs of this experiment (by name).
        parent: Select the child runs of this run (tag ``mlflow.parentRunId``).
        filter_string: An MLflow search filter, e.g. ``params.optimizer.name = 'adam'``.
        run_ids: Select these runs.

    Returns:
        ``mlflow.search_runs``'s pandas frame (``run_id``, ``experiment_id``,
        ``status``, ``start_time``, ``metrics.*``, ``params.*``, ``tags.*``),
        oldest run first.

    Raises:
        ValueError: No selector; an unknown experiment, parent run or run id; an
            invalid filter; or nothing matched.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if experiment is None and parent is None and not filter_string and not run_ids:
        raise ValueError(
            "nothing to compare: select runs with an experiment (--experiment), a sweep's "
            "parent run (--parent), a filter string (--filter) or run ids (--run-id/--run-file)"
        )
    client = _client(tracking_uri)
    experiments = _active_experiments(client)
    if experiment is not None:
        matches = [e for e in experiments if e.name == experiment]
        if not matches:
            names = ", ".join(sorted(e.name for e in experiments)) or "(none)"
            raise ValueError(
                f"unknown experiment {experiment!r} in {tracking_uri}; existing experiments: "
                f"{names}"
            )
        experiments = matches
    clauses = []
    if parent is not None:
        if not _RUN_ID.match(parent):
            raise ValueError(f"unknown parent run {parent!r}: not a run id")
        try:
            client.get_run(parent)
        except MlflowException as error:
            raise ValueError(f"unknown parent run {parent!r} in {tracking_uri}") from error
        clauses.append(f"tags.mlflow.parentRunId = '{parent}'")
    ids: list[str] = []
    if run_ids:
        ids = list(dict.fromkeys(str(r).strip() for r in run_ids))
        bad = [r for r in ids if not _RUN_ID.match(r)]
        if bad:
            raise ValueError(f"not a run id: {', '.join(map(repr, bad))}")
        clauses.append("attributes.run_id IN (" + ", ".join(f"'{r}'" for r in ids) + ")")
    if filter_string:
        # MLflow filters know only AND, so the user's filter joins as one more clause.
        clauses.append(filter_string)
    what = describe_selection(
        experiment=experiment, parent=parent, filter_string=filter_string, run_ids=run_ids
    )
    if not experiments:
        raise ValueError(f"nothing matched {what}: {tracking_uri} has no experiments")

    from pipeline.tracking import global_tracking_uri

    try:
        with global_tracking_uri(tracking_uri):
            runs = mlflow.search_runs(
                experiment_ids=[e.experiment_id for e in experiments],
                filter_string=" AND ".join(clauses),
                output_format="pandas",
            )
    except MlflowException as error:
        raise ValueError(f"cannot search runs ({what}): {error.message}") from error

    if ids and experiment is None and parent is None and not filter_string:
        found = set(runs["run_id"]) if "run_id" in runs else set()
        missing = [r for r in ids if r not in found]
        if missing:
            # Explicit ids that do not exist are a typo, not an empty selection.
            raise ValueError(
                f"unknown run id{'s' if len(missing) > 1 else ''} in {tracking_uri}: "
                f"{', '.join(missing)}"
            )
    excluded = _is_parent_or_report(runs)
    runs = runs[~excluded]
    if runs.empty:
        searched = (
            f"experiment {experiment!r}" if experiment else f"{len(experiments)} experiment(s)"
        )
        note = (
            f"; {int(excluded.sum())} sweep parent/report run(s) are never compared"
            if excluded.any()
            else ""
        )
        raise ValueError(f"nothing matched {what} (searched {searched} in {tracking_uri}){note}")
    return runs.sort_values(["start_time", "run_id"]).reset_index(drop=True)


def _is_parent_or_report(runs: pd.DataFrame) -> pd.Series:
    excluded = pd.Series(False, index=runs.index)
    if PARENT_TAG in runs:
        excluded |= runs[PARENT_TAG].eq("parent").fillna(False).astype(bool)
    if f"tags.{COMPARISON_TAG}" in runs:
        excluded |= runs[f"tags.{COMPARISON_TAG}"].eq("true").fillna(False).astype(bool)
    return excluded


def load_curves(
    tracking_uri: str, run_ids: Iterable[str], key: str
) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch history of one metric for each run, from ``get_metric_history``.

    Args:
        tracking_uri: The MLflow store.
        run_ids: The runs to read.
        key: The metric, e.g. ``val_accuracy``.

    Returns:
        ``{run_id: [(step, value), ...]}`` sorted by step, for the runs that logged
        ``key``; a step logged twice keeps its latest value.
    """
    client = _client(tracking_uri)
    curves: dict[str, list[tuple[int, float]]] = {}
    for run_id in dict.fromkeys(run_ids):
        by_step: dict[int, tuple[int, float]] = {}
        for m in client.get_metric_history(run_id, key):
            if m.step not in by_step or m.timestamp >= by_step[m.step][0]:
                by_step[m.step] = (m.timestamp, m.value)
        if by_step:
            curves[run_id] = [(step, float(v)) for step, (_, v) in sorted(by_step.items())]
    return curves


# ------------------------------------------------------------------ statistics
def confidence_interval(
    values: Iterable[float], level: float = 0.95
) -> tuple[float, float, float, float]:
    """Mean, sample std and Student-t confidence interval of the mean.

    ``mean ± t_{(1+level)/2, n-1} · std / sqrt(n)`` with ``std`` the sample standard
    deviation (ddof=1): the interval for the mean of a few seeds, which a normal
    approximation would make too narrow.

    Args:
        values: The observations (e.g. one test accuracy per seed).
        level: The confidence level, between 0 and 1.

    Returns:
        ``(mean, std, low, high)``; std and the interval are NaN for a single value,
        everything is NaN for none.

    Raises:
        ValueError: ``level`` outside (0, 1).
    """
    from scipy import stats

    if not 0 < level < 1:
        raise ValueError(f"confidence level {level} must be between 0 and 1")
    x = np.asarray(list(values), dtype=float)
    n = len(x)
    if n == 0:
        return (math.nan,) * 4
    mean = float(x.mean())
    if n == 1:
        return mean, math.nan, math.nan, math.nan
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def welch_p_value(a: Iterable[float], b: Iterable[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) of means ``a`` vs ``b``.

    Returns:
        The p-value; NaN when either side has fewer than two values.  When both
        sides have zero variance (deterministic runs) the t statistic is undefined:
        identical means give 1.0, different ones 0.0.
    """
    from scipy import stats

    x, y = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    if x.std(ddof=1) == 0 and y.std(ddof=1) == 0:
        return 1.0 if x.mean() == y.mean() else 0.0
    with warnings.catch_warnings():
        # Nearly identical samples only warn about precision; the p-value stands.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(x, y, equal_var=False).pvalue)


def metric_for(task: str) -> tuple[str, bool]:
    """The test metric that ranks a task's runs and whether higher is better."""
    if task == "regression":
        return "test_rmse", False
    return "test_accuracy", True


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
    task = task.where(task.notna(), _column(runs, "tags.task").astype(object))
    has_rmse = _column(runs, "metrics.test_rmse").notna()
    task = task.where(task.notna(), np.where(has_rmse, "regression", "unknown"))
    out["dataset"] = _column(runs, "params.dataset.name").astype(object).fillna("unknown")
    out["task"] = task
    out["seed"] = _column(runs, "params.training.seed").astype(object)
    metric_names = [metric_for(t)[0] for t in out["task"]]
    out["metric"] = metric_names
    out["value"] = [
        _number(runs.at[i, f"metrics.{m}"]) if f"metrics.{m}" in runs else math.nan
        for i, m in zip(runs.index, metric_names, strict=True)
    ]
    out["test_loss"] = pd.to_numeric(_column(runs, "metrics.test_loss"), errors="coerce")
    out["error"] = _column(runs, f"tags.{ERROR_TAG}").astype(object)

    param_keys = [
        c.removeprefix("params.")
        for c in runs.columns
        if c.startswith("params.") and _defines_configuration(c.removeprefix("params."))
    ]
    params = runs[[f"params.{k}" for k in param_keys]].astype(object)
    params.columns = param_keys
    params = params.where(params.notna(), None)
    varying: dict[tuple[str, str], list[str]] = {}
    names = pd.Series("", index=runs.index, dtype=object)
    for group, idx in out.groupby(list(GROUP_COLUMNS), sort=True).groups.items():
        # Missing values (a run that failed before logging everything) do not make
        # a param vary: only two different logged values do.
        keys = sorted(
            (
                k
                for k in param_keys
                if params.loc[idx, k].dropna().nunique() > 1
                and not _follows_choice(params.loc[idx], k)
            ),
            key=labels.label_order,
        )
        varying[group] = keys
        for i in idx:
            names[i] = labels.label(params.loc[i].to_dict(), keys)
    out["configuration"] = names
    shown = sorted({k for keys in varying.values() for k in keys}, key=labels.label_order)
    for key in shown:
        out[key] = params[key]
    return out[[*RUN_COLUMNS, *shown]], varying


def summarize(runs: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per configuration: mean test metric over seeds, CI, rank and tests.

    Configurations are the combinations of the params that vary among the runs of
    a ``(dataset, task)`` group, leaving out ``training.seed`` (what repeats
    vary), ``mlflow.*``, ``effective.*`` and ``runtime.*``.  Each group is ranked on
    its own: by mean ``test_accuracy`` (higher is better) or, for regression, mean
    ``test_rmse`` (lower is better); ties go to the smaller std, then more runs.

    Args:
        runs: Runs as returned by :func:`select_runs`.
        alpha: Significance level of Welch's t-test against the best configuration.

    Returns:
        Columns ``dataset``, ``task``, ``configuration``, the varying param columns
        (full keys, e.g. ``activation.name``), ``metric``, ``higher_is_better``,
        ``runs`` (all runs), ``n`` (finished runs with the metric), ``failed``
        (status FAILED), ``mean``, ``std``, ``ci_low``, ``ci_high`` (95%),
        ``test_loss_mean``, ``test_loss_std``, ``rank`` (1 = best; NA without
        finished runs), ``best``, ``p_value`` (Welch vs the best) and
        ``indistinguishable_from_best`` (p >= alpha; True for the best; NA when
        either side has fewer than 2 runs).  Sorted by group, then rank.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha} must be between 0 and 1")
    annotated, _ = annotate_runs(runs)
    param_columns = list(annotated.columns[len(RUN_COLUMNS) :])
    rows = []
    for (dataset, task), group in annotated.groupby(list(GROUP_COLUMNS), sort=True):
        metric, higher = metric_for(task)
        configs = []
        for label, runs_of in group.groupby("configuration", sort=True):
            ok = runs_of[(runs_of["status"] == "FINISHED") & runs_of["value"].notna()]
            mean, std, low, high = confidence_interval(ok["value"])
            loss = ok["test_loss"].dropna()
            params = {
                k: (runs_of[k].dropna().iloc[0] if runs_of[k].notna().any() else None)
                for k in param_columns
            }
            configs.append(
                {
                    "dataset": dataset,
                    "task": task,
                    "configuration": label,
                    **params,
                    "metric": metric,
                    "higher_is_better": higher,
                    "runs": len(runs_of),
                    "n": len(ok),
                    "failed": int((runs_of["status"] == "FAILED").sum()),
                    "mean": mean,
                    "std": std,
                    "ci_low": low,
                    "ci_high": high,
                    "test_loss_mean": float(loss.mean()) if len(loss) else math.nan,
                    "test_loss_std": float(loss.std(ddof=1)) if len(loss) > 1 else math.nan,
                    "_values": ok["value"].to_numpy(),
                }
            )
        ranked = sorted(
            (c for c in configs if c["n"] > 0),
            key=lambda c: (
                -c["mean"] if higher else c["mean"],
                math.inf if math.isnan(c["std"]) else c["std"],
                -c["n"],
                c["configuration"],
            ),
        )
        for rank, c in enumerate(ranked, start=1):
            c["rank"] = rank
        best = ranked[0] if ranked else None
        for c in configs:
            c.setdefault("rank", None)
            c["best"] = c is best
            if c is best:
                c["p_value"], c["indistinguishable_from_best"] = math.nan, True
                continue
            p = welch_p_value(c["_values"], best["_values"]) if best else math.nan
            c["p_value"] = p
            c["indistinguishable_from_best"] = None if math.isnan(p) else bool(p >= alpha)
        rows.extend(
            sorted(configs, key=lambda c: (c["rank"] is None, c["rank"] or 0, c["configuration"]))
        )
    summary = pd.DataFrame(rows).drop(columns="_values")
    summary["rank"] = summary["rank"].astype("Int64")
    summary["indistinguishable_from_best"] = summary["indistinguishable_from_best"].astype(
        "boolean"
    )
    summary["best"] = summary["best"].astype(bool)
    return summary.reset_index(drop=True)


# ------------------------------------------------------------------ report
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return _DASH
    return f"{float(value):.{digits}f}"


def _pm(mean: Any, std: Any) -> str:
    if pd.isna(mean):
        return _DASH
    return _fmt(mean) if pd.isna(std) else f"{_fmt(mean)} ± {_fmt(std)}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _groups(summary: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    return [((str(d), str(t)), g) for (d, t), g in summary.groupby(list(GROUP_COLUMNS), sort=True)]


def _verdict(group: pd.DataFrame, alpha: float) -> str:
    """A plain sentence: the best configuration and which are not distinguishable from it."""
    metric = group["metric"].iloc[0]
    best = group[group["best"]]
    if best.empty:
        return "No configuration has a finished run with the metric: nothing to rank."
    b = best.iloc[0]
    others = group[~group["best"] & group["rank"].notna()]
    text = f"Best: **{b['configuration']}** (mean {metric} {_fmt(b['mean'])}, n={b['n']})."
    if others.empty:
        return text + " It is the only configuration with finished runs."
    if (group["n"] < 2).all() or b["n"] < 2:
        single = (
            "With a single seed per configuration"
            if (group["n"] < 2).all()
            else ("With a single finished run of the best configuration")
        )
        return (
            f"{text} {single} the ranking cannot be tested for significance; rerun with "
            "several seeds (e.g. `sweep.seeds=3`)."
        )
    verdict = others["indistinguishable_from_best"]
    same = others[verdict.fillna(False).astype(bool)]
    worse = others[(~verdict).fillna(False).astype(bool)]
    untestable = others[verdict.isna()]
    if not same.empty:
        listed = "; ".join(
            f"{r['configuration']} (p = {r['p_value']:.3g})" for _, r in same.iterrows()
        )
        text += f" Not distinguishable from it (Welch's t-test, p ≥ {alpha:g}): {listed}."
        if not worse.empty:
            text += f" The other {len(worse)} tested are worse (p < {alpha:g})."
    elif not worse.empty:
        text += (
            f" Every other configuration tested is worse (Welch's t-test, p < {alpha:g}): "
            "none is indistinguishable from it."
        )
    if not untestable.empty:
        text += (
            " Too few seeds to test (fewer than 2 finished runs): "
            + "; ".join(untestable["configuration"])
            + " (e.g. `sweep.seeds=3`)."
        )
    return text


def markdown_tables(summary: pd.DataFrame, alpha: float = 0.05) -> str:
    """Per group a heading, the ranking as a markdown table, and the verdict sentence."""
    sections = []
    for (dataset, task), group in _groups(summary):
        metric = group["metric"].iloc[0]
        direction = "higher is better" if group["higher_is_better"].iloc[0] else "lower is better"
        lines = [
            f"## {dataset} ({task}): {metric}, {direction}",
            "",
            "| rank | configuration | n | mean ± std | 95% CI | test loss | failed |",
            "|---:|---|---:|---|---|---|---:|",
        ]
        for _, r in group.iterrows():
            ci = _DASH if pd.isna(r["ci_low"]) else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
            rank = _DASH if pd.isna(r["rank"]) else str(int(r["rank"]))
            lines.append(
                f"| {rank} | {_cell(r['configuration'])} | {r['n']} | {_pm(r['mean'], r['std'])}"
                f" | {ci} | {_pm(r['test_loss_mean'], r['test_loss_std'])} | {r['failed']} |"
            )
        lines += ["", _verdict(group, alpha)]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def _save(fig, path: Path) -> Path:
    from pipeline.io import atomic_write_bytes
    from pipeline.plots import plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def _panels(count: int, width: float, height: float):
    from pipeline.plots import plt

    fig, axes = plt.subplots(
        1, count, figsize=(width * count, height), constrained_layout=True, squeeze=False
    )
    return fig, list(axes[0])


def plot_bars(summary: pd.DataFrame, path: Path) -> Path | None:
    """Mean metric with 95% CI error bars per configuration, best on top, per group."""
    groups = [(k, g[g["rank"].notna()].sort_values("rank")) for k, g in _groups(summary)]
    groups = [(k, g) for k, g in groups if not g.empty]
    if not groups:
        return None
    tallest = max(len(g) for _, g in groups)
    fig, axes = _panels(len(groups), 6.5, 1.2 + 0.4 * tallest)
    for ax, ((dataset, task), g) in zip(axes, groups, strict=True):
        y = np.arange(len(g))[::-1]  # rank 1 at the top
        colors = ["tab:green" if b else "tab:blue" for b in g["best"]]
        ax.barh(y, g["mean"], color=colors, alpha=0.8)
        has_ci = g["ci_low"].notna().to_numpy()  # a single run has no interval
        if has_ci.any():
            ci = g[has_ci]
            err = np.vstack([ci["mean"] - ci["ci_low"], ci["ci_high"] - ci["mean"]])
            ax.errorbar(ci["mean"], y[has_ci], xerr=err, fmt="none", ecolor="black", capsize=3)
        ticks = [f"{c} (n={n})" for c, n in zip(g["configuration"], g["n"], strict=True)]
        ax.set_yticks(y, ticks, fontsize=8)
        low = np.nanmin(np.concatenate([g["ci_low"].to_numpy(float), g["mean"].to_numpy(float)]))
        high = np.nanmax(np.concatenate([g["ci_high"].to_numpy(float), g["mean"].to_numpy(float)]))
        pad = max((high - low) * 0.15, 1e-3)
        ax.set_xlim(max(low - pad, 0.0) if low >= 0 else low - pad, high + pad)
        ax.set_xlabel(f"mean {g['metric'].iloc[0]} (95% CI)")
        ax.set_title(f"{dataset} ({task})")
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_heatmap(summary: pd.DataFrame, path: Path) -> Path | None:
    """Mean metric by activation × optimizer, for groups where both vary."""
    keys = ("activation.name", "optimizer.name")
    groups = []
    for key, g in _groups(summary):
        if all(k in g for k in keys) and all(g[k].dropna().nunique() > 1 for k in keys):
            groups.append((key, g))
    if not groups:
        return None
    fig, axes = _panels(len(groups), 6.0, 4.5)
    for ax, ((dataset, task), g) in zip(axes, groups, strict=True):
        # Other varying params (e.g. batch size) are averaged over, run-weighted.
        weighted = g.assign(total=g["mean"] * g["n"])
        cells = weighted.groupby(list(keys))[["total", "n"]].sum(min_count=1)
        means = (cells["total"] / cells["n"].replace(0, np.nan)).unstack(keys[1])
        matrix = means.to_numpy(float)
        higher = bool(g["higher_is_better"].iloc[0])
        image = ax.imshow(matrix, cmap="viridis" if higher else "viridis_r", aspect="auto")
        ax.set_xticks(range(matrix.shape[1]), means.columns, rotation=45, ha="right")
        ax.set_yticks(range(matrix.shape[0]), means.index)
        ax.set_xlabel("optimizer")
        ax.set_ylabel("activation")
        finite = matrix[np.isfinite(matrix)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), value in np.ndenumerate(matrix):
            dark = value < middle if higher else value > middle
            ax.text(
                j,
                i,
                _DASH if np.isnan(value) else f"{value:.4f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(f"{dataset} ({task}): mean {g['metric'].iloc[0]}")
    return _save(fig, path)


def plot_val_curves(
    annotated: pd.DataFrame,
    summary: pd.DataFrame,
    curves: Mapping[str, Sequence[tuple[int, float]]],
    path: Path,
) -> Path | None:
    """Validation metric per epoch, one line per configuration (mean over seeds,
    shaded min–max), per group."""
    groups = []
    for (dataset, task), g in _groups(summary):
        runs_of = annotated[(annotated["dataset"] == dataset) & (annotated["task"] == task)]
        if any(r in curves for r in runs_of["run_id"]):
            groups.append(((dataset, task), g, runs_of))
    if not groups:
        return None
    from matplotlib.ticker import MaxNLocator

    fig, axes = _panels(len(groups), 6.5, 4.5)
    for ax, ((dataset, task), g, runs_of) in zip(axes, groups, strict=True):
        order = g.sort_values("rank", na_position="last")["configuration"]
        for label in order:
            ids = [
                r for r in runs_of.loc[runs_of["configuration"] == label, "run_id"] if r in curves
            ]
            if not ids:
                continue
            table = pd.DataFrame(
                {r: pd.Series(dict(curves[r]), dtype=float) for r in ids}
            ).sort_index()
            mean = table.mean(axis=1)
            (line,) = ax.plot(table.index, mean, marker=".", label=f"{label} ({len(ids)})")
            if len(ids) > 1:
                ax.fill_between(
                    table.index,
                    table.min(axis=1),
                    table.max(axis=1),
                    color=line.get_color(),
                    alpha=0.15,
                )
        key = "val_rmse" if task == "regression" else "val_accuracy"
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{key} (mean over seeds, min–max shaded)")
        ax.set_title(f"{dataset} ({task})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _failed_section(annotated: pd.DataFrame) -> str:
    failed = annotated[annotated["status"] == "FAILED"]
    lines = ["## Failed runs", ""]
    if failed.empty:
        return "\n".join([*lines, "None."])
    for _, r in failed.iterrows():
        error = r["error"]
        if error is None or pd.isna(error):
            error = "no error recorded (tag optlab.error missing)"
        error = " ".join(str(error).split())
        if len(error) > 500:
            error = error[:500] + "…"
        name = r["name"] if isinstance(r["name"], str) else r["run_id"]
        lines.append(f"- `{name}` ({r['run_id']}; {r['configuration']}): {error}")
    return "\n".join(lines)


def _runs_table(annotated: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    # The final test metrics first: they are what a reader of the table looks for.
    names = sorted(
        (c for c in runs.columns if c.startswith("metrics.")),
        key=lambda c: (not c.startswith("metrics.test_"), c),
    )
    metrics = runs[names].copy()
    metrics.columns = [c.removeprefix("metrics.") for c in metrics.columns]
    base = annotated[
        ["run_id", "name", "status", "experiment_id", "dataset", "task", "configuration", "seed"]
    ]
    table = pd.concat([base, metrics.loc[annotated.index]], axis=1)
    table["error"] = annotated["error"]
    return table


def write_report(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    out_dir: str | Path,
    curves: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    *,
    selection: str | None = None,
    alpha: float = 0.05,
) -> dict[str, Path]:
    """Write the comparison report into ``out_dir``, every file atomically.

    Args:
        runs: Runs as returned by :func:`select_runs`.
        summary: Their :func:`summarize` table.
        out_dir: The report folder (created if missing).  Report files from an older
            report that this one does not produce (a figure) are removed.
        curves: Validation curves per run id (see :func:`load_curves`); no
            ``val_curves.png`` without them.
        selection: How the runs were selected, for the report's text.
        alpha: The significance level the summary was computed with.

    Returns:
        The written files by kind: ``report``, ``summary``, ``runs`` and, when there
        is something to draw, ``heatmap``, ``val_curves``, ``bars``.
    """
    from pipeline.io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    annotated, _ = annotate_runs(runs)
    files: dict[str, Path] = {}
    files["summary"] = atomic_write_text(out / REPORT_FILES["summary"], summary.to_csv(index=False))
    files["table"] = atomic_write_text(out / REPORT_FILES["table"], publish.table_json(summary))
    files["runs"] = atomic_write_text(
        out / REPORT_FILES["runs"], _runs_table(annotated, runs).to_csv(index=False)
    )
    figures = {
        "bars": plot_bars(summary, out / REPORT_FILES["bars"]),
        "heatmap": plot_heatmap(summary, out / REPORT_FILES["heatmap"]),
        "val_curves": (
            plot_val_curves(annotated, summary, curves, out / REPORT_FILES["val_curves"])
            if curves
            else None
        ),
    }
    files.update({k: p for k, p in figures.items() if p is not None})

    finished = int((annotated["status"] == "FINISHED").sum())
    failed = int((annotated["status"] == "FAILED").sum())
    other = len(annotated) - finished - failed
    counts = f"{len(annotated)} runs: {finished} finished, {failed} failed"
    if other:
        counts += f", {other} other (running or killed; not counted)"
    text = [
        "# Comparison report",
        "",
        f"Selected: {selection or 'the given runs'}.",
        "",
        f"{counts}. Each configuration's mean is over its finished runs (seeds); the 95% CI "
        "is Student's t on those runs.",
        "",
        markdown_tables(summary, alpha).rstrip(),
        "",
        _failed_section(annotated),
    ]
    titles = {
        "bars": "Mean with 95% CI",
        "heatmap": "Activation × optimizer",
        "val_curves": "Validation curves",
    }
    drawn = [k for k in titles if k in files]
    if drawn:
        text += ["", "## Figures", ""]
        text += [f"![{titles[k]}]({files[k].name})" for k in drawn]
    files["report"] = atomic_write_text(out / REPORT_FILES["report"], "\n".join(text) + "\n")

    for kind, name in REPORT_FILES.items():
        if kind not in files and (out / name).is_file():
            (out / name).unlink()
    return {k: files[k] for k in REPORT_FILES if k in files}


# ------------------------------------------------------------------ compare
def _slug(client, experiment, parent, filter_string, run_ids) -> str:
    parts = []
    if experiment is not None:
        parts.append(experiment)
    if parent is not None:
        parts.append(client.get_run(parent).info.run_name or parent[:8])
    if filter_string:
        parts.append("filter")
    if run_ids:
        parts.append(f"{len(set(run_ids))}-runs")
    return "-".join(parts)


def _log_report(client, run_id: str, files: Mapping[str, Path]) -> None:
    for path in files.values():
        client.log_artifact(run_id, str(path), ARTIFACT_DIR)


def compare(
    tracking_uri: str,
    *,
    experiment: str | None = None,
    parent: str | None = None,
    filter_string: str | None = None,
    run_ids: Sequence[str] | None = None,
    out_dir: str | Path,
    log_to: str = "auto",
    alpha: float = 0.05,
) -> Report:
    """Select runs, summarize them, write the report and log it to MLflow.

    Args:
        tracking_uri: The MLflow store.
        experiment, parent, filter_string, run_ids: The selection (see
            :func:`select_runs`).
        out_dir: Folder for the report's files.
        log_to: ``"parent"``: artifacts under ``report/`` of the ``parent`` run (its
            status is left as it is, e.g. RUNNING during a sweep);
            ``"comparison"``: a new run ``comparison-<selection>`` tagged
            ``optlab.comparison = "true"`` in the selected runs' experiment (or in
            ``comparisons`` when they span several); ``"auto"``: parent when given,
            else comparison; ``"none"``: log nothing.
        alpha: Significance level of the tests against the best configuration.

    Returns:
        The runs, summary, files and the id of the run the report was logged to.

    Raises:
        ValueError: A bad ``log_to`` or selection (see :func:`select_runs`).
    """
    if log_to not in LOG_TO:
        raise ValueError(f"unknown log_to {log_to!r}; valid: {', '.join(LOG_TO)}")
    if log_to == "parent" and parent is None:
        raise ValueError("log_to='parent' needs a parent run (--parent)")
    target = ("parent" if parent is not None else "comparison") if log_to == "auto" else log_to

    runs = select_runs(
        tracking_uri,
        experiment=experiment,
        parent=parent,
        filter_string=filter_string,
        run_ids=run_ids,
    )
    summary = summarize(runs, alpha=alpha)
    annotated, _ = annotate_runs(runs)
    curves: dict[str, list[tuple[int, float]]] = {}
    for task, ids in annotated.groupby("task")["run_id"]:
        key = "val_rmse" if task == "regression" else "val_accuracy"
        curves.update(load_curves(tracking_uri, ids, key))
    client = _client(tracking_uri)
    selection = describe_selection(
        experiment=experiment,
        parent=parent,
        filter_string=filter_string,
        run_ids=run_ids,
        parent_name=client.get_run(parent).info.run_name if parent else None,
    )
    files = write_report(runs, summary, out_dir, curves, selection=selection, alpha=alpha)

    run_id = None
    if target == "parent":
        run_id = parent
        _log_report(client, run_id, files)
        publish.label_runs(client, annotated)
    elif target == "comparison":
        run_id = _log_comparison_run(
            client,
            tracking_uri,
            runs,
            summary,
            files,
            selection,
            _slug(client, experiment, parent, filter_string, run_ids),
        )
    if run_id is not None:
        text = publish.description(markdown_tables(summary, alpha), selection, ARTIFACT_DIR)
        publish.publish(client, run_id, summary, files, text, ARTIFACT_DIR)
    return Report(runs=runs, summary=summary, files=files, run_id=run_id)


def _log_comparison_run(
    client,
    tracking_uri: str,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    files: Mapping[str, Path],
    selection: str,
    slug: str,
) -> str:
    """Log the report to a new run of its own, with the headline numbers."""
    from mlflow.entities import Metric, Param

    from pipeline.tracking import ensure_experiment, project_root, source_tags

    experiments = runs["experiment_id"].unique()
    experiment_id = (
        str(experiments[0])
        if len(experiments) == 1
        else ensure_experiment(tracking_uri, COMPARISONS_EXPERIMENT)
    )
    run = client.create_run(
        experiment_id,
        run_name=f"comparison-{slug}",
        tags={
            **source_tags(project_root()),
            COMPARISON_TAG: "true",
            "optlab.selection": selection[:5000],
        },
    )
    run_id = run.info.run_id
    try:
        statuses = runs["status"]
        params = {
            "selection": selection[:6000],
            "runs": str(len(runs)),
            "finished": str(int((statuses == "FINISHED").sum())),
            "failed": str(int((statuses == "FAILED").sum())),
        }
        now = int(time.time() * 1000)
        metrics = []
        for _, r in summary[summary["best"]].iterrows():
            prefix = f"best.{r['dataset']}.{r['task']}"
            params[prefix] = str(r["configuration"])[:6000]
            for key in ("mean", "std", "ci_low", "ci_high"):
                if not pd.isna(r[key]):
                    metrics.append(Metric(f"{prefix}.{key}", float(r[key]), now, 0))
        client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], metrics=metrics)
        _log_report(client, run_id, files)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


# ------------------------------------------------------------------ CLI
def _read_run_file(path: str) -> str:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"run file {path}: not JSON ({error})") from error
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        raise ValueError(f'run file {path}: expected {{"run_id": "..."}}')
    return data["run_id"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.compare``: compare runs and write/log the report."""
    from pipeline.tracking import tracking_uri

    parser = argparse.ArgumentParser(
        prog="python -m pipeline.compare",
        description="Compare MLflow runs: rank configurations over seeds, with confidence "
        "intervals and Welch's t-tests; write a report and log it to MLflow.",
    )
    parser.add_argument("--experiment", help="select the runs of this experiment (name)")
    parser.add_argument("--parent", help="select the children of this (sweep parent) run id")
    parser.add_argument("--filter", dest="filter_string", help="an MLflow search filter string")
    parser.add_argument(
        "--run-id",
        dest="run_ids",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="select these runs (repeatable)",
    )
    parser.add_argument(
        "--run-file",
        dest="run_files",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help='select the run of a JSON file {"run_id": "..."}, e.g. '
        "reports/train/<dataset>/run.json (repeatable)",
    )
    parser.add_argument("--out", default="reports/compare", help="report folder (%(default)s)")
    parser.add_argument("--log-to", choices=LOG_TO, default="auto", help="(default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.05, help="test level (%(default)s)")
    parser.add_argument("--tracking-uri", help="MLflow store (default: the project's)")
    args = parser.parse_args(argv)

    run_ids = [*args.run_ids, *(_read_run_file(f) for f in args.run_files)]
    report = compare(
        tracking_uri(args.tracking_uri),
        experiment=args.experiment,
        parent=args.parent,
        filter_string=args.filter_string,
        run_ids=run_ids or None,
        out_dir=args.out,
        log_to=args.log_to,
        alpha=args.alpha,
    )
    print(markdown_tables(report.summary, args.alpha), end="")
    where = f"; logged to run {report.run_id} under {ARTIFACT_DIR}/" if report.run_id else ""
    print(f"\nreport: {report.files['report']}{where}")
    return 0


if __name__ == "__main__":
    from pipeline.stages._cli import run

    raise SystemExit(run(main))
