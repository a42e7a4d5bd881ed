"""Statistics over seeds: means, Student-t intervals, the ranking, and each configuration's
verdict against the best (Welch's test, TOST, :mod:`~pipeline.compare.pairwise`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline.compare.configurations import (
    RUN_COLUMNS,
    annotate_runs,
)
from pipeline.compare.pairwise import (
    Looks,
    Verdict,
    probability_of_improvement,
    seeds_to_decide,
    sequential_test,
    sequential_verdict,
    tost_p_value,
    verdict,
    welch_p_value,
)
from pipeline.config import contract
from pipeline.config.schemas import CompareConfig


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


def holm(p_values: Iterable[float]) -> list[float]:
    """Holm's step-down adjustment of p-values for testing them together.

    The i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
    NaN (untestable) p-values are left out of m and stay NaN.
    """
    p = np.asarray(list(p_values), dtype=float)
    adjusted = np.full(len(p), math.nan)
    testable = np.flatnonzero(~np.isnan(p))
    order = testable[np.argsort(p[testable], kind="stable")]
    m, running = len(order), 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def summarize(
    runs: pd.DataFrame,
    alpha: float = 0.05,
    annotated: pd.DataFrame | None = None,
    margin: float = CompareConfig.margin,
    looks: Looks | None = None,
) -> pd.DataFrame:
    """One row per configuration: mean test metric over seeds, CI, rank and tests.

    Configurations are the combinations of the params that vary among the runs of
    a ``(dataset, task)`` group, leaving out ``training.seed`` (what repeats
    vary), ``mlflow.*``, ``effective.*`` and ``runtime.*``.  Each group is ranked on
    its own: by mean ``test_accuracy`` (higher is better) or, for regression, mean
    ``test_rmse`` (lower is better); ties go to the smaller std, then more runs.
    A seed run more than once counts once (its latest finished run), so rerunning a
    run never narrows an interval.  Every configuration is tested against the best
    by Welch's t-test (a difference) and by TOST (equivalence within ``±margin``), each
    test's p-values Holm-adjusted together within the group, and gets one of three
    verdicts: worse, equivalent, or undecided (with the seeds that would decide it).

    Args:
        runs: Runs as returned by :func:`select_runs`.
        alpha: Significance level of the tests against the best configuration.
        annotated: :func:`annotate_runs`' frame of ``runs``, when the caller has it.
        margin: The margin of practical equivalence, in the metric's units.
        looks: The sequential design the seeds were added by (``sweep.seeds=auto``):
            each comparison is then replayed look by look (:func:`sequential_test`, at
            ``alpha`` over the comparisons, Bonferroni) instead of tested once with Holm.

    Returns:
        Columns ``dataset``, ``task``, ``configuration``, the varying param columns
        (full keys, e.g. ``activation.name``), ``metric``, ``higher_is_better``,
        ``runs`` (all runs), ``n`` (finished runs with the metric, one per seed),
        ``repeats`` (finished runs of a seed already counted, left out),
        ``failed`` (status FAILED), ``mean``, ``std``, ``ci_low``, ``ci_high``
        (95%), ``test_loss_mean``, ``test_loss_std``, ``rank`` (1 = best; NA
        without finished runs), ``best``, ``p_value`` (Welch vs the best),
        ``p_adjusted`` (Holm, within the group; NaN with ``looks``), ``p_equivalence`` and
        ``p_equivalence_adjusted`` (TOST within ``±margin``, Holm; NaN with ``looks``),
        ``verdict``
        (:class:`~pipeline.compare.pairwise.Verdict`: ``best``, ``worse``,
        ``equivalent``, ``undecided``; NA when either side has fewer than 2 runs),
        ``prob_improvement`` with ``prob_improvement_low``/``_high`` (P(a seed of the
        best beats a seed of this one), its 95% bootstrap interval) and
        ``seeds_to_decide`` (an undecided one's seeds per configuration for 80% power,
        estimated), ``look_seeds`` and ``level`` (with ``looks``: the seeds a side at the
        look that decided, or the last, and the nominal level the p-values were tested at
        there; NA without).  Sorted by group, then rank.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha} must be between 0 and 1")
    if not margin > 0:
        raise ValueError(f"margin={margin!r}: must be a positive number (in the metric's units)")
    if annotated is None:
        annotated, _ = annotate_runs(runs)
    param_columns = list(annotated.columns[len(RUN_COLUMNS) :])
    rows = []
    for (dataset, task), group in annotated.groupby(list(contract.GROUP_COLUMNS), sort=True):
        rows.extend(_ranked_group(dataset, task, group, param_columns, alpha, margin, looks))
    summary = pd.DataFrame(rows).drop(columns=["_values", "_by_seed"])
    summary["rank"] = summary["rank"].astype("Int64")
    summary["seeds_to_decide"] = summary["seeds_to_decide"].astype("Int64")
    summary["look_seeds"] = summary["look_seeds"].astype("Int64")
    summary["verdict"] = summary["verdict"].astype("string")
    summary["best"] = summary["best"].astype(bool)
    return summary.reset_index(drop=True)


def _ranked_group(
    dataset: str,
    task: str,
    group: pd.DataFrame,
    param_columns: list[str],
    alpha: float,
    margin: float,
    looks: Looks | None,
) -> list[dict]:
    """The configurations of one (dataset, task) group, ranked and tested, best first."""
    metric, higher = contract.primary_metric(task)
    configs = [
        {
            "dataset": dataset,
            "task": task,
            **_configuration(label, runs_of, param_columns),
            "metric": metric,
            "higher_is_better": higher,
        }
        for label, runs_of in group.groupby("configuration", sort=True)
    ]
    _rank(configs, higher)
    if looks is None:
        _test_against_best(configs, alpha, margin, higher)
    else:
        _replay_against_best(configs, alpha, margin, higher, looks)
    return sorted(configs, key=lambda c: (c["rank"] is None, c["rank"] or 0, c["configuration"]))


def _configuration(label: str, runs_of: pd.DataFrame, param_columns: list[str]) -> dict:
    """One configuration's numbers: its finished runs, one per seed (the latest)."""
    finished = runs_of[(runs_of["status"] == "FINISHED") & runs_of["value"].notna()]
    # Runs come oldest first: the last of a seed is its latest rerun.
    ok = finished.drop_duplicates(subset="seed", keep="last")
    mean, std, low, high = confidence_interval(ok["value"])
    loss = ok["test_loss"].dropna()
    params = {
        k: (runs_of[k].dropna().iloc[0] if runs_of[k].notna().any() else None)
        for k in param_columns
    }
    return {
        "configuration": label,
        **params,
        "runs": len(runs_of),
        "n": len(ok),
        "repeats": len(finished) - len(ok),
        "failed": int((runs_of["status"] == "FAILED").sum()),
        "mean": mean,
        "std": std,
        "ci_low": low,
        "ci_high": high,
        "test_loss_mean": float(loss.mean()) if len(loss) else math.nan,
        "test_loss_std": float(loss.std(ddof=1)) if len(loss) > 1 else math.nan,
        "_values": ok["value"].to_numpy(),
        "_by_seed": ok.sort_values("seed", kind="stable")["value"].to_numpy(),
    }


def _rank(configs: list[dict], higher: bool) -> None:
    """Set ``rank`` (None without finished runs) and ``best`` on a group's configurations."""
    ranked = sorted(
        (c for c in configs if c["n"] > 0),
        key=lambda c: (
            -c["mean"] if higher else c["mean"],
            math.inf if math.isnan(c["std"]) else c["std"],
            -c["n"],
            c["configuration"],
        ),
    )
    for c in configs:
        c["rank"] = None
        c["best"] = bool(ranked) and c is ranked[0]
    for rank, c in enumerate(ranked, start=1):
        c["rank"] = rank


def _test_against_best(configs: list[dict], alpha: float, margin: float, higher: bool) -> None:
    """Each configuration against the best: Welch's and TOST's p-values, each Holm-adjusted
    together, the verdict, P(the best beats it) and, undecided, the seeds to decide."""
    best = next((c for c in configs if c["best"]), None)
    others = [c for c in configs if c is not best]
    top = best["_values"] if best else ()
    raw = [welch_p_value(c["_values"], top) if best else math.nan for c in others]
    same = [tost_p_value(c["_values"], top, margin) if best else math.nan for c in others]
    tested = sum(not math.isnan(p) for p in raw)
    for c, p, p_adj, e, e_adj in zip(others, raw, holm(raw), same, holm(same), strict=True):
        found = verdict(p_adj, e_adj, alpha, ahead=False)
        c.update(p_value=p, p_adjusted=p_adj, p_equivalence=e, p_equivalence_adjusted=e_adj)
        c["verdict"] = None if found is None else found.value
        # At Holm's strictest step (alpha over the tests), so the estimate does not flatter.
        _beside(c, c["_values"], top, found, higher, margin, alpha / max(tested, 1))
        c.update(look_seeds=None, level=math.nan)
    _set_best(best)


def _replay_against_best(
    configs: list[dict], alpha: float, margin: float, higher: bool, looks: Looks
) -> None:
    """Each configuration against the best, replayed look by look in seed order
    (:func:`sequential_test`) at ``alpha`` over the comparisons (Bonferroni: Holm's steps
    do not carry over to looks taken at different times), with P(the best beats it) over
    the seeds each has and, undecided, the seeds to decide."""
    best = next((c for c in configs if c["best"]), None)
    others = [c for c in configs if c is not best]
    share = alpha / max(len(others), 1)
    for c in others:
        top = best["_by_seed"] if best else ()
        test = sequential_test(c["_by_seed"], top, margin, share, looks, higher)
        found = sequential_verdict(test) if best else None
        # Tested against the look's own level, not adjusted: the report shows the level.
        c.update(
            p_value=test.p_value,
            p_adjusted=math.nan,
            p_equivalence=test.p_equivalence,
            p_equivalence_adjusted=math.nan,
            verdict=None if found is None else found.value,
            look_seeds=test.seeds if found is not None else None,
            level=test.level,
        )
        _beside(c, c["_by_seed"], top, found, higher, margin, share)
    _set_best(best)


def _beside(
    c: dict,
    values: np.ndarray,
    top: np.ndarray,
    found: Verdict | None,
    higher: bool,
    margin: float,
    level: float,
) -> None:
    """What a configuration's verdict shows beside it: P(the best beats it) with its
    interval and, undecided, the seeds that would decide it at ``level``."""
    prob, low, high = probability_of_improvement(top, values, higher)
    c.update(prob_improvement=prob, prob_improvement_low=low, prob_improvement_high=high)
    c["seeds_to_decide"] = (
        seeds_to_decide(values, top, margin, level) if found is Verdict.undecided else None
    )


def _set_best(best: dict | None) -> None:
    """The best configuration's own row: nothing to test it against."""
    if best is not None:
        best.update(
            p_value=math.nan,
            p_adjusted=math.nan,
            p_equivalence=math.nan,
            p_equivalence_adjusted=math.nan,
            verdict=Verdict.best.value,
            prob_improvement=math.nan,
            prob_improvement_low=math.nan,
            prob_improvement_high=math.nan,
            seeds_to_decide=None,
            look_seeds=None,
            level=math.nan,
        )
