"""What a comparison report shows in the MLflow UI, on the run it is logged to.

The report's files (``report/``) are there for whoever opens them; this module
makes the run readable without opening any:

- its description (``mlflow.note.content``, the run's Overview) holds the
  ranking tables and verdicts in markdown;
- its metrics hold the best configuration's mean test metric, and each
  configuration's under a key naming it, so the chart view of that one run
  compares the configurations;
- the summary is an MLflow table artifact, and the figures are images the chart
  view shows;
- a sweep's children get the report's configuration label as their
  ``configuration`` tag, so the UI's "Group by" gives the report's groups.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.compare.pairwise import VERDICT_VALUES, Verdict
from pipeline.config import contract
from pipeline.tracking.store import NOTE_TAG
from pipeline.training import plots

if TYPE_CHECKING:  # mlflow takes seconds to import
    from mlflow.tracking import MlflowClient

# MLflow's tag listing a run's table artifacts (what mlflow.log_table sets).
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
# MLflow caps a metric key at 250 characters; keys allow only these characters.
MAX_KEY = 250
_KEY_UNSAFE = re.compile(r"[^\w.\- ]+")


def metric_key(*parts: str) -> str:
    """A valid MLflow metric key from readable parts joined by ``/``.

    ``=`` reads ``-`` and ``, `` a space, so ``activation=relu, optimizer=adam``
    becomes ``activation-relu optimizer-adam``; other characters MLflow refuses
    become ``_``.
    """
    cleaned = []
    for part in parts:
        text = part.replace("=", "-").replace(", ", " ")
        cleaned.append(_KEY_UNSAFE.sub("_", text).strip() or "_")
    return "/".join(cleaned)[:MAX_KEY]


def summary_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """The best mean, every configuration's mean test metric and its verdict against the
    best, keyed readably.

    With one ``(dataset, task)`` group: ``best_mean_test_accuracy``,
    ``mean_test_accuracy/<configuration>`` and ``verdict/<configuration>`` (1 the best,
    0 equivalent, −1 worse, NaN undecided; none when untested); with several, the group
    is named too.
    """
    metrics: dict[str, float] = {}
    groups = plots.summary_groups(summary)
    several = len(groups) > 1
    for (dataset, task), group in groups:
        where = [f"{dataset} {task}"] if several else []
        metric = str(group["metric"].iloc[0])
        for _, row in group.iterrows():
            if pd.isna(row["mean"]):
                continue
            metrics[metric_key(f"mean_{metric}", *where, str(row["configuration"]))] = float(
                row["mean"]
            )
            if row["best"]:
                metrics[metric_key(f"best_mean_{metric}", *where)] = float(row["mean"])
            if not pd.isna(row["verdict"]):
                value = VERDICT_VALUES[Verdict(row["verdict"])]
                metrics[metric_key("verdict", *where, str(row["configuration"]))] = value
    return metrics


def description(tables: str, selection: str, artifact_dir: str) -> str:
    """The run's Overview text: the rankings and verdicts first (the UI shows the
    first lines until "Show more"), then what was compared and where the rest is."""
    return (
        f"{tables.rstrip()}\n\nSelected: {selection}. The figures, the summary table and "
        f"the per-run table are under the artifacts' `{artifact_dir}/`; the chart view "
        "shows each configuration's mean as a metric.\n"
    )


def table_json(summary: pd.DataFrame) -> str:
    """The summary in the layout ``mlflow.log_table`` writes (pandas' ``split``)."""
    return summary.to_json(orient="split", index=False, date_format="iso")


def publish(
    client: MlflowClient,
    run_id: str,
    summary: pd.DataFrame,
    files: Mapping[str, Path],
    text: str,
    artifact_dir: str,
) -> None:
    """Make the report readable on ``run_id`` in the UI (see the module docstring).

    Args:
        client: The store's client.
        run_id: The run the report is logged to (a sweep's parent, a comparison run).
        summary: The report's summary table.
        files: The report's files by kind; ``table`` is marked as a table artifact,
            the figures are logged as images.
        text: The run's description (see :func:`description`).
        artifact_dir: Where the report's files are logged on the run.
    """
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in summary_metrics(summary).items()]
    tags = [RunTag(NOTE_TAG, text)]
    if "table" in files:
        tables = json.loads(client.get_run(run_id).data.tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
        entry = {"path": f"{artifact_dir}/{files['table'].name}", "type": "table"}
        if entry not in tables:
            tags.append(RunTag(LOGGED_ARTIFACTS_TAG, json.dumps([*tables, entry])))
    for i in range(0, len(metrics), 1000):  # MLflow takes 1,000 metrics a call
        client.log_batch(run_id, metrics=metrics[i : i + 1000], tags=tags if i == 0 else [])
    if not metrics:
        client.log_batch(run_id, tags=tags)
    for kind in ("heatmap", "bars", "val_curves"):
        if kind in files:
            _log_image(client, run_id, files[kind], kind)


def _log_image(client: MlflowClient, run_id: str, path: Path, key: str) -> None:
    from PIL import Image

    with Image.open(path) as image:
        client.log_image(run_id, image.convert("RGB"), key=key, step=0)


def label_runs(client: MlflowClient, annotated: pd.DataFrame) -> None:
    """Give each run the report's configuration label as its ``configuration`` tag."""
    for run_id, name in zip(annotated["run_id"], annotated["configuration"], strict=True):
        client.set_tag(run_id, contract.CONFIGURATION_TAG, str(name))
