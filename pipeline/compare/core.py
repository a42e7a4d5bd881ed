"""``compare()``: select runs, summarize them, write the report and log it to MLflow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.compare.configurations import annotate_runs
from pipeline.compare.pairwise import Looks
from pipeline.compare.publish import description, label_runs, publish
from pipeline.compare.report import markdown_tables, write_report
from pipeline.compare.runs import (
    Selection,
    load_curves,
    mlflow_client,
    select_runs,
    stable_order,
)
from pipeline.compare.stats import summarize
from pipeline.config import contract
from pipeline.config.paths import project_root
from pipeline.config.schemas import CompareConfig, pick
from pipeline.tracking import recovery
from pipeline.tracking.provenance import source_tags
from pipeline.tracking.store import ensure_experiment

COMPARISONS_EXPERIMENT = "comparisons"
ARTIFACT_DIR = "report"


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


def _log_report(client, run_id: str, files: Mapping[str, Path]) -> None:
    for path in files.values():
        client.log_artifact(run_id, str(path), ARTIFACT_DIR)


def compare(
    tracking_uri: str,
    selection: Selection,
    *,
    out_dir: str | Path,
    log_to: str = "auto",
    alpha: float = 0.05,
    margin: float = CompareConfig.margin,
    stable: bool = False,
    looks: Looks | None = None,
) -> Report:
    """Select runs, summarize them, write the report and log it to MLflow.

    Args:
        tracking_uri: The MLflow store.
        selection: The runs to compare (see :func:`select_runs`).
        out_dir: Folder for the report's files.
        log_to: ``"parent"``: artifacts under ``report/`` of the selection's parent
            run (its status is left as it is, e.g. RUNNING during a sweep);
            ``"comparison"``: a new run ``comparison-<selection>`` tagged
            ``optlab.comparison = "true"`` in the selected runs' experiment (or in
            ``comparisons`` when they span several); ``"auto"``: parent when given,
            else comparison; ``"none"``: log nothing.
        alpha: Significance level of the tests against the best configuration.
        margin: The margin of practical equivalence, in the metric's units
            (``compare.margin``).
        stable: Write files that depend only on the runs' results: runs in an order of
            what they are (:func:`stable_order`), without run or experiment ids or
            timings (the ``compare`` stage's DVC outputs). The logged report is the same.
        looks: The sequential design the seeds were added by; default: the parent's
            (:data:`~pipeline.config.contract.SEQUENTIAL_TAG`, a ``sweep.seeds=auto``
            sweep), else none (one test per comparison, Holm).

    Returns:
        The runs, summary, files and the id of the run the report was logged to.

    Raises:
        ValueError: A bad ``log_to`` or selection (see :func:`select_runs`).
    """
    target = _target(log_to, selection)
    runs = _selected_runs(tracking_uri, selection, stable)
    annotated, _ = annotate_runs(runs)
    client = mlflow_client(tracking_uri)
    parent = client.get_run(selection.parent) if selection.parent else None
    if looks is None and parent is not None and contract.SEQUENTIAL_TAG in parent.data.tags:
        looks = Looks.from_tag(parent.data.tags[contract.SEQUENTIAL_TAG])
    summary = summarize(runs, alpha=alpha, annotated=annotated, margin=margin, looks=looks)
    parent_name = parent.info.run_name if parent else None
    what = selection.describe(parent_name)
    curves = _validation_curves(tracking_uri, annotated)
    files = write_report(
        runs,
        summary,
        out_dir,
        curves,
        selection=what,
        alpha=alpha,
        margin=margin,
        annotated=annotated,
        stable=stable,
    )
    run_id = None
    if target == "parent":
        run_id = selection.parent
        _log_report(client, run_id, files)
        label_runs(client, annotated)
    elif target == "comparison":
        name = f"comparison-{selection.slug(parent_name)}"
        run_id = _log_comparison_run(client, tracking_uri, runs, summary, files, what, name)
    if run_id is not None:
        text = description(markdown_tables(summary, alpha, margin), what, ARTIFACT_DIR)
        publish(client, run_id, summary, files, text, ARTIFACT_DIR)
    return Report(runs=runs, summary=summary, files=files, run_id=run_id)


def _selected_runs(tracking_uri: str, selection: Selection, stable: bool) -> pd.DataFrame:
    """The selection's runs, those a dead process left RUNNING counted as the failures
    they are; in :func:`stable_order` when ``stable``."""
    runs = select_runs(tracking_uri, selection)
    if _close_dead_runs(tracking_uri, runs):
        runs = select_runs(tracking_uri, selection)
    return stable_order(runs) if stable else runs


def _close_dead_runs(tracking_uri: str, runs: pd.DataFrame) -> bool:
    """Mark the selected runs a dead process left RUNNING FAILED
    (:mod:`pipeline.tracking.recovery`); whether there were any."""
    running = runs.loc[runs["status"] == "RUNNING", "run_id"]
    if running.empty:
        return False
    client = mlflow_client(tracking_uri)
    verdicts = recovery.close_dead_runs(client, [client.get_run(r) for r in running])
    return any(v.dead for v in verdicts)


def _target(log_to: str, selection: Selection) -> str:
    """Where the report goes: ``parent``, ``comparison`` or ``none``."""
    pick(contract.LOG_TO, log_to, "log_to target")
    if log_to == "parent" and selection.parent is None:
        raise ValueError("log_to='parent' needs a parent run (--parent)")
    if log_to == "auto":
        return "parent" if selection.parent is not None else "comparison"
    return log_to


def _validation_curves(
    tracking_uri: str, annotated: pd.DataFrame
) -> dict[str, list[tuple[int, float]]]:
    """Each run's per-epoch validation metric: RMSE for regression, else accuracy."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for task, ids in annotated.groupby("task")["run_id"]:
        key = "val_rmse" if task == "regression" else "val_accuracy"
        curves.update(load_curves(tracking_uri, ids, key))
    return curves


def _log_comparison_run(
    client,
    tracking_uri: str,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    files: Mapping[str, Path],
    selection: str,
    name: str,
) -> str:
    """Log the report to a new run of its own; its params name what was compared and
    the best configuration of each (dataset, task). :func:`publish` adds the metrics."""
    from mlflow.entities import Param

    experiments = runs["experiment_id"].unique()
    experiment_id = (
        str(experiments[0])
        if len(experiments) == 1
        else ensure_experiment(tracking_uri, COMPARISONS_EXPERIMENT)
    )
    run = client.create_run(
        experiment_id,
        run_name=name,
        tags={
            **source_tags(project_root()),
            contract.COMPARISON_TAG: "true",
            contract.SELECTION_TAG: selection[: contract.TAG_MAX],
        },
    )
    run_id = run.info.run_id
    try:
        statuses = runs["status"]
        params = {
            "selection": selection[: contract.PARAM_MAX],
            "runs": str(len(runs)),
            "finished": str(int((statuses == "FINISHED").sum())),
            "failed": str(int((statuses == "FAILED").sum())),
        }
        for _, r in summary[summary["best"]].iterrows():
            params[f"best.{r['dataset']}.{r['task']}"] = str(r["configuration"])[
                : contract.PARAM_MAX
            ]
        client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        _log_report(client, run_id, files)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id
