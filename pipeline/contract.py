"""The run contract: what every optimizer-lab run in MLflow is tagged and measured by.

Training (:mod:`pipeline.training`), sweeps (:mod:`pipeline.sweep`), the report
(:mod:`pipeline.compare`) and the UI launcher (:mod:`pipeline.ui`) all read and
write runs through these names, so each is written once, here.  It imports
nothing of the project but :mod:`pipeline.redact`.
"""

from __future__ import annotations

from pipeline.redact import redact

# ------------------------------------------------------------------ tags
SWEEP_TAG = "optlab.sweep"  # "parent" on a sweep's parent run, "child" on its jobs' runs
PARENT, CHILD = "parent", "child"
JOB_TAG = "optlab.job"  # a child's Hydra job number
JOB_KEY_TAG = "optlab.job_key"  # a child's unique key, to find its run after a failure
ERROR_TAG = "optlab.error"  # why a run failed
FAILED_RUNS_TAG = "optlab.failed_runs"  # on a sweep's parent: how many children failed
COMPARISON_TAG = "optlab.comparison"  # "true" on a run a report is logged to
SELECTION_TAG = "optlab.selection"  # on a comparison run: which runs it compares
TASK_TAG = "task"  # multiclass, binary or regression
CONFIGURATION_TAG = "configuration"  # the label of the choices, seed aside (pipeline.labels)
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own: a child's parent

# ------------------------------------------------------------------ limits
# MLflow caps a tag value at 8,000 characters and a param value at 6,000.
TAG_MAX = 5000
PARAM_MAX = 6000


def error_message(error: BaseException) -> str:
    """The :data:`ERROR_TAG` value of a failure: its type and message (any URL's secrets
    redacted), truncated."""
    return redact(f"{error.__class__.__name__}: {error}")[:TAG_MAX]


# ------------------------------------------------------------------ metrics
# Runs are ranked only against runs of the same dataset and task.
GROUP_COLUMNS = ("dataset", "task")


def primary_metric(task: str) -> tuple[str, bool]:
    """The test metric that ranks a task's runs, and whether higher is better."""
    if task == "regression":
        return "test_rmse", False
    return "test_accuracy", True


def primary_value(metrics: dict[str, float]) -> float | None:
    """A run's primary test metric from its metrics (either task's), or None."""
    return metrics.get("test_accuracy", metrics.get("test_rmse"))
