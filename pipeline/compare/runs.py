"""Which runs a comparison reads: selection by experiment, parent, filter or ids."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from pipeline import contract
from pipeline.tracking import global_tracking_uri

# Runs that are never compared: a sweep's parent (it trains nothing) and the runs
# reports are logged to.
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def mlflow_client(tracking_uri: str):
    """A client of the store (MLflow is imported only when a store is read)."""
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
    client = mlflow_client(tracking_uri)
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
        clauses.append(f"tags.`{contract.PARENT_RUN_TAG}` = '{parent}'")
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
    for tag, value in ((contract.SWEEP_TAG, contract.PARENT), (contract.COMPARISON_TAG, "true")):
        if f"tags.{tag}" in runs:
            excluded |= runs[f"tags.{tag}"].eq(value).fillna(False).astype(bool)
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
    client = mlflow_client(tracking_uri)
    curves: dict[str, list[tuple[int, float]]] = {}
    for run_id in dict.fromkeys(run_ids):
        by_step: dict[int, tuple[int, float]] = {}
        for m in client.get_metric_history(run_id, key):
            if m.step not in by_step or m.timestamp >= by_step[m.step][0]:
                by_step[m.step] = (m.timestamp, m.value)
        if by_step:
            curves[run_id] = [(step, float(v)) for step, (_, v) in sorted(by_step.items())]
    return curves
