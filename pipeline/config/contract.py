"""The run contract: what every optimizer-lab run in MLflow is tagged and measured by.

Training (:mod:`pipeline.training.train`), sweeps (:mod:`pipeline.sweep.callback`), the report
(:mod:`pipeline.compare`) and the UI launcher (:mod:`pipeline.ui`) all read and
write runs through these names, so each is written once, here.  It imports
nothing of the project but :mod:`pipeline.system.redact`.
"""

from __future__ import annotations

from typing import Any

from pipeline.system.redact import redact

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
CONFIGURATION_TAG = "configuration"  # the label of the choices, seed aside (pipeline.config.labels)
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own: a child's parent
# Who runs a run, so a run left RUNNING by a dead process can be told from a live one
# (pipeline.tracking.recovery): the host, the process id and that process's start time
# (seconds since the epoch; a reused pid has another).
HOST_TAG = "optlab.host"
PID_TAG = "optlab.pid"
PID_START_TAG = "optlab.pid_start"
# Why a run stopped before its end: a signal (the run is KILLED) or its process found
# dead (FAILED). Such a run resumes when the same command runs again.
STOP_REASON_TAG = "optlab.stop_reason"
# What identifies "the same command": resolved config, data digest and code
# (pipeline.training.resume).
RESUME_KEY_TAG = "optlab.resume_key"
RESUMED_TAG = "optlab.resumed"  # on a resumed run: the epochs restored, e.g. "2" (last resume)
# A hash of what decides a run's results (its result-changing params and its data's
# digest, see pipeline.tracking.provenance.run_key): runs with equal keys have identical results.
# The train stage writes it, not the run id, to a DVC output; compare finds runs by it.
RUN_KEY_TAG = "optlab.run_key"
LESSON_TAG = "optlab.lesson"  # on a lesson's run: the lesson (pipeline.lessons)
LESSON_CONFIG_TAG = "optlab.lesson_config"  # on a lesson's run: the configuration it compares
# On the parent of a sweep that added seeds until decided (sweep.seeds=auto): its design,
# "<start>:<max_seeds>:<spending function>", so a report made later replays the same looks.
SEQUENTIAL_TAG = "optlab.sequential"
REPRODUCES_TAG = "optlab.reproduces"  # on a `pipeline.reproduce` run: the original's id
# On an Optuna sweep's parent (pipeline.sweep.search): the study's best trial, as the Hydra
# overrides that train it again, and the ids of its child runs (one per seed).
BEST_PARAMS_TAG = "optlab.best_params"
BEST_RUNS_TAG = "optlab.best_runs"
# Where `compare` logs its report (--log-to): auto is the sweep parent if one is
# selected, else a new comparison run.
LOG_TO = ("auto", "parent", "comparison", "none")

# The libraries that decide a run's numbers: a run is tagged with their versions
# (``version.<name>``), and a logged model pins them as its pip requirements.
LIBRARIES = ("tensorflow", "keras", "mlflow", "numpy")

# ------------------------------------------------------------------ limits
# MLflow caps a tag value at 8,000 characters and a param value at 6,000.
TAG_MAX = 5000
PARAM_MAX = 6000


def error_message(error: BaseException) -> str:
    """The :data:`ERROR_TAG` value of a failure: its type and message (any URL's secrets
    redacted), truncated."""
    return redact(f"{error.__class__.__name__}: {error}")[:TAG_MAX]


# ------------------------------------------------------------------ metrics
HISTORY_FILE = "history.csv"  # a run's per-epoch metrics: an artifact and a DVC output
# Wall-clock timings: logged to MLflow, never written to a DVC output (they differ
# between runs with identical results).
TIMING_METRICS = ("train_seconds", "epoch_seconds")
# Runs are ranked only against runs of the same dataset and task.
GROUP_COLUMNS = ("dataset", "task")


def primary_metric(task: str) -> tuple[str, bool]:
    """The test metric that ranks a task's runs, and whether higher is better."""
    if task == "regression":
        return "test_rmse", False
    return "test_accuracy", True


def objective_metric(task: str) -> str:
    """What a Hydra sweeper optimises for a task: the primary metric on the validation
    split at the last epoch (``val_accuracy``, ``val_rmse``), so a search never sees the
    test split. Higher is better as for :func:`primary_metric`."""
    return "val_" + primary_metric(task)[0].removeprefix("test_")


def objective_value(history: Any) -> float | None:
    """A run's :func:`objective_metric` from its per-epoch history (a DataFrame with
    ``val_*`` columns), or None."""
    for name in (objective_metric("multiclass"), objective_metric("regression")):
        if name in history.columns and len(history):
            return float(history[name].iloc[-1])
    return None


def best_trial_metric(task: str) -> str:
    """The metric on an Optuna sweep's parent holding its study's best value:
    ``best_trial_val_accuracy``."""
    return f"best_trial_{objective_metric(task)}"
