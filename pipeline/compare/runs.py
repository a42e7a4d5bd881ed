"""Which runs a comparison reads: selection by experiment, parent, filter or ids."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from pipeline.config import contract
from pipeline.system.redact import redact
from pipeline.tracking.store import global_tracking_uri

# What a run id may hold: checked before an id enters a search filter.
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


@dataclass(frozen=True)
class Selection:
    """Which runs to compare. Selectors combine: a run is selected when it matches every
    one given (``experiment`` and ``filter_string`` is the filter within that experiment).

    Attributes:
        experiment: The runs of this experiment (by name); none: all active ones.
        parent: The child runs of this run (tag ``mlflow.parentRunId``).
        filter_string: An MLflow search filter, e.g. ``params.optimizer.name = 'adam'``.
        run_ids: These runs (stripped, first occurrence kept).
        run_keys: The latest finished run of each of these run keys (tag
            ``optlab.run_key``, what the train stage writes to ``run.json``); with
            ``run_ids``, the runs given either way.
    """

    experiment: str | None = None
    parent: str | None = None
    filter_string: str | None = None
    run_ids: Sequence[str] = ()
    run_keys: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("run_ids", "run_keys"):
            values = tuple(dict.fromkeys(str(r).strip() for r in getattr(self, name) or ()))
            object.__setattr__(self, name, values)

    @property
    def only_ids(self) -> bool:
        """Whether run ids (or keys) are the only selector (an unknown one is then a typo)."""
        return bool(self.run_ids or self.run_keys) and not (
            self.experiment or self.parent or self.filter_string
        )

    def describe(self, parent_name: str | None = None) -> str:
        """A readable description, e.g. ``children of run 1a2b (sweep-x)``."""
        parts = []
        if self.experiment is not None:
            parts.append(f"experiment {self.experiment!r}")
        if self.parent is not None:
            named = f" ({parent_name})" if parent_name else ""
            parts.append(f"children of run {self.parent}{named}")
        if self.filter_string:
            parts.append(f"filter {self.filter_string!r}")
        if ids := self.run_ids:
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            parts.append(f"run id{'s' if len(ids) > 1 else ''} {shown}")
        if keys := self.run_keys:
            shown = ", ".join(k[:12] for k in keys[:5]) + (
                f" and {len(keys) - 5} more" if len(keys) > 5 else ""
            )
            plural = "s" if len(keys) > 1 else ""
            parts.append(f"the latest finished run of run key{plural} {shown}")
        return " and ".join(parts) if parts else "nothing"

    def slug(self, parent_name: str | None = None) -> str:
        """What was selected, briefly, for a run name: ``mnist-filter``, ``sweep-x``."""
        parts = []
        if self.experiment is not None:
            parts.append(self.experiment)
        if self.parent is not None:
            parts.append(parent_name or self.parent[:8])
        if self.filter_string:
            parts.append("filter")
        if self.run_ids or self.run_keys:
            parts.append(f"{len(self.run_ids) + len(self.run_keys)}-runs")
        return "-".join(parts)


def select_runs(tracking_uri: str, selection: Selection) -> pd.DataFrame:
    """Read the runs to compare from MLflow, one row per run.

    A sweep's parent run (tag ``optlab.sweep = 'parent'``) and report runs (tag
    ``optlab.comparison = 'true'``) are never selected.

    Returns:
        ``mlflow.search_runs``'s pandas frame (``run_id``, ``experiment_id``,
        ``status``, ``start_time``, ``metrics.*``, ``params.*``, ``tags.*``),
        oldest run first.

    Raises:
        ValueError: No selector; an unknown experiment, parent run or run id; an
            invalid filter; or nothing matched.
    """
    if selection == Selection():
        raise ValueError(
            "nothing to compare: select runs with an experiment (--experiment), a sweep's "
            "parent run (--parent), a filter string (--filter) or run ids (--run-id/--run-file)"
        )
    client = mlflow_client(tracking_uri)
    experiments = _experiments(client, tracking_uri, selection.experiment)
    if selection.run_keys:
        keyed = latest_runs_by_key(tracking_uri, selection.run_keys, experiments)
        selection = replace(selection, run_ids=(*selection.run_ids, *keyed), run_keys=())
    clauses = _clauses(client, tracking_uri, selection)
    what = selection.describe()
    if not experiments:
        raise ValueError(f"nothing matched {what}: {redact(tracking_uri)} has no experiments")
    runs = _search(tracking_uri, [e.experiment_id for e in experiments], clauses, what)
    if selection.only_ids:
        _check_ids_exist(runs, selection.run_ids, tracking_uri)
    excluded = _is_parent_or_report(runs)
    runs = runs[~excluded]
    if runs.empty:
        searched = (
            f"experiment {selection.experiment!r}"
            if selection.experiment
            else f"{len(experiments)} experiment(s)"
        )
        note = (
            f"; {int(excluded.sum())} sweep parent/report run(s) are never compared"
            if excluded.any()
            else ""
        )
        raise ValueError(
            f"nothing matched {what} (searched {searched} in {redact(tracking_uri)}){note}"
        )
    return runs.sort_values(["start_time", "run_id"]).reset_index(drop=True)


def latest_by_key(
    tracking_uri: str, key: str, experiment_ids: Sequence[str] | None = None
) -> str | None:
    """The id of the latest FINISHED run tagged with run key ``key`` (``optlab.run_key``)
    in the experiments (default: every active one); None if there is none.

    Runs with one key have identical results, so the latest stands for them all.
    """
    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in _active_experiments(mlflow_client(tracking_uri))]
    if not _RUN_ID.match(key):
        raise ValueError(f"not a run key: {key!r}")
    clauses = [f"tags.`{contract.RUN_KEY_TAG}` = '{key}'", "attributes.status = 'FINISHED'"]
    found = _search(tracking_uri, list(experiment_ids), clauses, f"run key {key}")
    return None if found.empty else found.sort_values(["start_time", "run_id"]).iloc[-1]["run_id"]


def latest_runs_by_key(
    tracking_uri: str, keys: Sequence[str], experiments: Sequence[Any] | None = None
) -> list[str]:
    """The id of the latest FINISHED run tagged with each run key (:func:`latest_by_key`).

    Raises:
        ValueError: A key no finished run carries (naming the key and the store).
    """
    if experiments is None:
        experiments = _active_experiments(mlflow_client(tracking_uri))
    experiment_ids = [e.experiment_id for e in experiments]
    ids = [latest_by_key(tracking_uri, key, experiment_ids) for key in keys]
    missing = [key for key, run_id in zip(keys, ids, strict=True) if run_id is None]
    if missing:
        raise ValueError(
            f"no finished run with run key {', '.join(missing)} in {tracking_uri}: "
            "train it again (dvc repro -f train@<dataset>)"
        )
    return ids


def logged_history(tracking_uri: str, run_id: str) -> pd.DataFrame:
    """A run's per-epoch history, as it logged it (its ``history.csv`` artifact)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow_client(tracking_uri).download_artifacts(run_id, contract.HISTORY_FILE, tmp)
        return pd.read_csv(path)


def stable_order(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` in an order that depends only on what they are (dataset, seed, name,
    run key), not on when they ran: a report of the same results is then the same."""
    columns = [
        c
        for c in (
            "params.dataset.name",
            "params.training.seed",
            "tags.mlflow.runName",
            f"tags.{contract.RUN_KEY_TAG}",
        )
        if c in runs
    ]
    if not columns:
        return runs
    return runs.sort_values(columns, kind="stable", na_position="last").reset_index(drop=True)


def _experiments(client, tracking_uri: str, name: str | None) -> list[Any]:
    """The experiments to search: the one named, or every active one."""
    experiments = _active_experiments(client)
    if name is None:
        return experiments
    matches = [e for e in experiments if e.name == name]
    if not matches:
        names = ", ".join(sorted(e.name for e in experiments)) or "(none)"
        raise ValueError(
            f"unknown experiment {name!r} in {redact(tracking_uri)}; existing experiments: {names}"
        )
    return matches


def _clauses(client, tracking_uri: str, selection: Selection) -> list[str]:
    """The search filter's clauses, joined with AND (MLflow filters know no OR)."""
    from mlflow.exceptions import MlflowException

    clauses = []
    if (parent := selection.parent) is not None:
        if not _RUN_ID.match(parent):
            raise ValueError(f"unknown parent run {parent!r}: not a run id")
        try:
            client.get_run(parent)
        except MlflowException as error:
            raise ValueError(f"unknown parent run {parent!r} in {redact(tracking_uri)}") from error
        clauses.append(f"tags.`{contract.PARENT_RUN_TAG}` = '{parent}'")
    if ids := selection.run_ids:
        bad = [r for r in ids if not _RUN_ID.match(r)]
        if bad:
            raise ValueError(f"not a run id: {', '.join(map(repr, bad))}")
        clauses.append("attributes.run_id IN (" + ", ".join(f"'{r}'" for r in ids) + ")")
    if selection.filter_string:
        clauses.append(selection.filter_string)  # the user's filter: one more clause
    return clauses


def _search(tracking_uri: str, experiment_ids: list[str], clauses: list[str], what: str):
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        with global_tracking_uri(tracking_uri):
            return mlflow.search_runs(
                experiment_ids=experiment_ids,
                filter_string=" AND ".join(clauses),
                output_format="pandas",
            )
    except MlflowException as error:
        raise ValueError(f"cannot search runs ({what}): {error.message}") from error


def _check_ids_exist(runs: pd.DataFrame, ids: Sequence[str], tracking_uri: str) -> None:
    """Explicit ids that do not exist are a typo, not an empty selection."""
    found = set(runs["run_id"]) if "run_id" in runs else set()
    missing = [r for r in ids if r not in found]
    if missing:
        raise ValueError(
            f"unknown run id{'s' if len(missing) > 1 else ''} in {redact(tracking_uri)}: "
            f"{', '.join(missing)}"
        )


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
