"""A fake MLflow store for the comparison's tests: runs written straight into a real
SQLite store, shaped like pipeline.training.train's (params, epoch history, test metrics)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient
from scipy import stats

from pipeline.tracking.store import ensure_experiment

PNG = b"\x89PNG\r\n\x1a\n"
ACTIVATIONS = ("relu", "tanh")
OPTIMIZERS = ("adam", "sgd")
SEEDS = (1, 2, 3)
# Mean test accuracy per configuration; each seed adds its own offset.
BASE = {
    ("relu", "adam"): 0.95,
    ("relu", "sgd"): 0.90,
    ("tanh", "adam"): 0.94,
    ("tanh", "sgd"): 0.80,
}


OFFSET = {1: -0.011, 2: 0.004, 3: 0.013}


def params_of(dataset, task, activation, optimizer, seed, name, experiment):
    return {
        "dataset.name": dataset,
        "dataset.task": task,
        "activation.name": activation,
        "optimizer.name": optimizer,
        "optimizer.learning_rate": "0.001",
        "loss.name": "auto",
        "model.name": "mlp",
        "model.hidden_units": "[256, 128]",
        "training.batch_size": "32",
        "training.seed": str(seed),
        "training.epochs": "3",
        "mlflow.run_name": name,
        "mlflow.experiment_name": experiment,
        "effective.batch_size": "32",
        "effective.epochs": "3",
        "effective.loss": "categorical_crossentropy",
        "runtime.verbose": str(seed % 2),  # must not split configurations
    }


def training_run(client, experiment_id, experiment, params, metrics, curve, tags=None):
    """A finished run shaped like pipeline.train's: params, epoch history, test metrics."""
    name = params["mlflow.run_name"]
    run_ = client.create_run(experiment_id, run_name=name, tags=tags or {})
    run_id = run_.info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for key, values in curve.items():
        for step, value in enumerate(values, start=1):
            client.log_metric(run_id, key, value, step=step)
    for key, value in metrics.items():
        client.log_metric(run_id, key, value, step=len(next(iter(curve.values()))))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def build_store(root: Path) -> dict:
    """A real SQLite store with runs shaped like pipeline.training.train's (no training):

    - ``iris``: a running sweep parent with 2×2 activation×optimizer children, 3
      seeds each, plus one FAILED child (no metrics); a finished report run;
    - ``mnist``: two stand-alone runs, one seed per configuration;
    - ``iris-regression``: optimizer adam vs sgd on the regression task, 2 seeds.
    """
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    iris = ensure_experiment(uri, "iris")
    parent = client.create_run(
        iris, run_name="sweep-iris", tags={"optlab.sweep": "parent"}
    ).info.run_id
    children = {}
    for activation in ACTIVATIONS:
        for optimizer in OPTIMIZERS:
            for seed in SEEDS:
                acc = BASE[activation, optimizer] + OFFSET[seed]
                name = f"iris-{activation}-{optimizer}-bs32-s{seed}"
                children[name] = training_run(
                    client,
                    iris,
                    "iris",
                    params_of("iris", "multiclass", activation, optimizer, seed, name, "iris"),
                    {"test_accuracy": acc, "test_loss": 1 - acc + seed / 100, "epochs_run": 3},
                    {"val_accuracy": [acc - 0.2, acc - 0.05, acc], "loss": [1.0, 0.5, 0.2]},
                    tags={"mlflow.parentRunId": parent, "optlab.sweep": "child"},
                )
    failed_name = "iris-relu-adam-bs32-s4"
    failed = client.create_run(
        iris,
        run_name=failed_name,
        tags={
            "mlflow.parentRunId": parent,
            "optlab.sweep": "child",
            "optlab.error": "boom",
        },
    ).info.run_id
    for key, value in {
        "dataset.name": "iris",
        "dataset.task": "multiclass",
        "activation.name": "relu",
        "optimizer.name": "adam",
        "training.seed": "4",
    }.items():
        client.log_param(failed, key, value)
    client.set_terminated(failed, "FAILED")
    report_run = client.create_run(
        iris, run_name="comparison-old", tags={"optlab.comparison": "true"}
    ).info.run_id
    client.log_metric(report_run, "test_accuracy", 0.5)
    client.set_terminated(report_run, "FINISHED")

    mnist = ensure_experiment(uri, "mnist")
    singles = {}
    for activation, acc in (("relu", 0.97), ("sigmoid", 0.91)):
        name = f"mnist-{activation}-adam-bs32"
        singles[activation] = training_run(
            client,
            mnist,
            "mnist",
            params_of("mnist", "multiclass", activation, "adam", 42, name, "mnist"),
            {"test_accuracy": acc, "test_loss": 1 - acc},
            {"val_accuracy": [acc - 0.1, acc]},
        )

    regression = ensure_experiment(uri, "iris-regression")
    rmse = {("adam", 1): 0.40, ("adam", 2): 0.44, ("sgd", 1): 0.20, ("sgd", 2): 0.22}
    reg_runs = {}
    for (optimizer, seed), value in rmse.items():
        name = f"iris-relu-{optimizer}-bs32-s{seed}"
        reg_runs[optimizer, seed] = training_run(
            client,
            regression,
            "iris-regression",
            params_of("iris", "regression", "relu", optimizer, seed, name, "iris-regression"),
            {"test_rmse": value, "test_mae": value / 2, "test_loss": value**2},
            {"val_rmse": [value * 2, value]},
        )
    return {
        "uri": uri,
        "parent": parent,
        "children": children,
        "failed": failed,
        "failed_name": failed_name,
        "report_run": report_run,
        "mnist": singles,
        "regression": reg_runs,
        "rmse": rmse,
    }


def welch_by_hand(a, b) -> float:
    """Welch's two-sided p-value from the Welch–Satterthwaite formulas."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * stats.t.sf(abs(t), df)


def expected_from_mlflow(uri, parent):
    """Recompute every configuration's numbers from what MLflow holds, by hand."""
    client = MlflowClient(uri)
    runs = client.search_runs(
        [client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'"
    )
    values: dict[str, list[float]] = {}
    for r in runs:
        if r.info.status != "FINISHED":
            continue
        label = f"activation={r.data.params['activation.name']}, "
        label += f"optimizer={r.data.params['optimizer.name']}"
        values.setdefault(label, []).append(r.data.metrics["test_accuracy"])
    expected = {}
    for label, v in values.items():
        n, mean = len(v), sum(v) / len(v)
        std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
        half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
        expected[label] = (n, mean, std, mean - half, mean + half)
    return expected


def ids_of(runs) -> set[str]:
    """The run ids of a search_runs frame."""
    return set(runs["run_id"])
