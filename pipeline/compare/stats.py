"""Statistics over seeds: means, Student-t intervals, Welch's test, the ranking."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline.compare.configurations import (
    GROUP_COLUMNS,
    RUN_COLUMNS,
    annotate_runs,
    metric_for,
)


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


def summarize(
    runs: pd.DataFrame, alpha: float = 0.05, annotated: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per configuration: mean test metric over seeds, CI, rank and tests.

    Configurations are the combinations of the params that vary among the runs of
    a ``(dataset, task)`` group, leaving out ``training.seed`` (what repeats
    vary), ``mlflow.*``, ``effective.*`` and ``runtime.*``.  Each group is ranked on
    its own: by mean ``test_accuracy`` (higher is better) or, for regression, mean
    ``test_rmse`` (lower is better); ties go to the smaller std, then more runs.

    Args:
        runs: Runs as returned by :func:`select_runs`.
        alpha: Significance level of Welch's t-test against the best configuration.
        annotated: :func:`annotate_runs`' frame of ``runs``, when the caller has it.

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
    if annotated is None:
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
