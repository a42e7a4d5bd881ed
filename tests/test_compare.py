"""pipeline.compare on runs written straight into a real SQLite MLflow store (no training)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from pipeline.compare import (
    Selection,
    compare,
    confidence_interval,
    holm,
    load_curves,
    select_runs,
    summarize,
    welch_p_value,
)
from pipeline.stages._cli import run
from pipeline.stages.compare import main
from pipeline.tracking import artifact_files, ensure_experiment, global_tracking_uri

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


def _params(dataset, task, activation, optimizer, seed, name, experiment):
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


def _training_run(client, experiment_id, experiment, params, metrics, curve, tags=None):
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


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module (creating its schema takes seconds).

    - ``iris``: a running sweep parent with 2×2 activation×optimizer children, 3
      seeds each, plus one FAILED child (no metrics); a finished report run;
    - ``mnist``: two stand-alone runs, one seed per configuration;
    - ``iris-regression``: optimizer adam vs sgd on the regression task, 2 seeds.
    """
    root = tmp_path_factory.mktemp("mlflow")
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
                children[name] = _training_run(
                    client,
                    iris,
                    "iris",
                    _params("iris", "multiclass", activation, optimizer, seed, name, "iris"),
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
        singles[activation] = _training_run(
            client,
            mnist,
            "mnist",
            _params("mnist", "multiclass", activation, "adam", 42, name, "mnist"),
            {"test_accuracy": acc, "test_loss": 1 - acc},
            {"val_accuracy": [acc - 0.1, acc]},
        )

    regression = ensure_experiment(uri, "iris-regression")
    rmse = {("adam", 1): 0.40, ("adam", 2): 0.44, ("sgd", 1): 0.20, ("sgd", 2): 0.22}
    reg_runs = {}
    for (optimizer, seed), value in rmse.items():
        name = f"iris-relu-{optimizer}-bs32-s{seed}"
        reg_runs[optimizer, seed] = _training_run(
            client,
            regression,
            "iris-regression",
            _params("iris", "regression", "relu", optimizer, seed, name, "iris-regression"),
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


# ------------------------------------------------------------------ (a) statistics
def test_confidence_interval_matches_the_worked_example():
    mean, std, low, high = confidence_interval([0.80, 0.82, 0.84])
    # By hand: mean 0.82; deviations -0.02, 0, 0.02 -> variance 0.0008 / 2 = 0.0004;
    # t_{0.975, 2} = 4.302652729911275 (table); half-width = t * 0.02 / sqrt(3).
    half = 4.302652729911275 * 0.02 / math.sqrt(3)
    assert half == pytest.approx(0.0496827, abs=1e-7)
    assert mean == pytest.approx(0.82, abs=1e-9)
    assert std == pytest.approx(0.02, abs=1e-9)
    assert low == pytest.approx(0.82 - half, abs=1e-9)
    assert high == pytest.approx(0.82 + half, abs=1e-9)


def test_confidence_interval_edge_cases():
    mean, std, low, high = confidence_interval([0.9])
    assert mean == 0.9 and math.isnan(std) and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in confidence_interval([]))
    # 90% interval of two values: t_{0.95, 1} = 6.313751514675043.
    _, _, low, high = confidence_interval([1.0, 3.0], level=0.90)
    half = 6.313751514675043 * math.sqrt(2) / math.sqrt(2)
    assert (low, high) == pytest.approx((2 - half, 2 + half), abs=1e-9)
    with pytest.raises(ValueError, match="between 0 and 1"):
        confidence_interval([1, 2], level=95)


def _welch_by_hand(a, b) -> float:
    """Welch's two-sided p-value from the Welch–Satterthwaite formulas."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * stats.t.sf(abs(t), df)


def test_welch_p_value_matches_hand_computations():
    # [1, 2, 3] vs [1, 1, 1]: t = 1 / sqrt(1/3) = sqrt(3), Welch df = 2, and for df = 2
    # the t distribution has a closed form: P(T > t) = 1/2 - t / (2 sqrt(2 + t^2)).
    t = math.sqrt(3)
    assert welch_p_value([1, 2, 3], [1, 1, 1]) == pytest.approx(
        2 * (0.5 - t / (2 * math.sqrt(2 + t * t))), abs=1e-12
    )
    # A general case by the Welch–Satterthwaite formulas.
    a, b = [0.80, 0.82, 0.84], [0.70, 0.75, 0.80, 0.78]
    assert welch_p_value(a, b) == pytest.approx(_welch_by_hand(a, b), abs=1e-12)
    assert math.isnan(welch_p_value([1.0], [1.0, 2.0]))
    assert welch_p_value([0.9, 0.9], [0.9, 0.9]) == 1.0  # deterministic and equal
    assert welch_p_value([0.9, 0.9], [0.8, 0.8]) == 0.0


# ------------------------------------------------------------------ (b) a sweep
def _expected_from_mlflow(uri, parent):
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


def test_sweep_report_matches_mlflow_and_is_logged_to_the_running_parent(store, tmp_path):
    out = tmp_path / "report"
    report = compare(store["uri"], Selection(parent=store["parent"]), out_dir=out)

    assert report.run_id == store["parent"]
    summary = report.summary
    assert len(summary) == 4
    assert set(summary["configuration"]) == {
        f"activation={a}, optimizer={o}" for a in ACTIVATIONS for o in OPTIMIZERS
    }
    assert list(summary["n"]) == [3, 3, 3, 3]
    for column in (
        "dataset",
        "task",
        "configuration",
        "activation.name",
        "optimizer.name",
        "metric",
        "n",
        "failed",
        "mean",
        "std",
        "ci_low",
        "ci_high",
        "test_loss_mean",
        "test_loss_std",
        "rank",
        "best",
        "indistinguishable_from_best",
    ):
        assert column in summary
    # The seed, mlflow.*, effective.* and runtime.* params do not define configurations.
    assert not any(c.startswith(("training.seed", "mlflow.", "runtime.")) for c in summary)

    expected = _expected_from_mlflow(store["uri"], store["parent"])
    csv = pd.read_csv(out / "summary.csv").set_index("configuration")
    markdown = (out / "report.md").read_text()
    for label, (n, mean, std, low, high) in expected.items():
        row = csv.loc[label]
        assert row["n"] == n
        assert row[["mean", "std", "ci_low", "ci_high"]].tolist() == pytest.approx(
            [mean, std, low, high], abs=1e-12
        )
        line = next(x for x in markdown.splitlines() if x.startswith("|") and f" {label} " in x)
        assert f"{mean:.4f} ± {std:.4f}" in line
        assert f"[{low:.4f}, {high:.4f}]" in line

    ranked = summary.sort_values("rank")
    assert list(ranked["configuration"]) == [
        "activation=relu, optimizer=adam",
        "activation=tanh, optimizer=adam",
        "activation=relu, optimizer=sgd",
        "activation=tanh, optimizer=sgd",
    ]
    assert list(ranked["best"]) == [True, False, False, False]
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    # relu/adam vs tanh/adam differ by 0.01 with the same spread: not distinguishable.
    assert list(ranked["indistinguishable_from_best"]) == [True, True, False, False]
    p = _welch_by_hand(
        [BASE["tanh", "adam"] + o for o in OFFSET.values()],
        [BASE["relu", "adam"] + o for o in OFFSET.values()],
    )
    assert ranked["p_value"].iloc[1] == pytest.approx(p, abs=1e-12)
    # Holm over the three comparisons with the best, by hand: the smallest raw p times 3,
    # the next times 2, the largest times 1, each at least the one before.
    raw = [
        _welch_by_hand(
            [BASE[a, o] + off for off in OFFSET.values()],
            [BASE["relu", "adam"] + off for off in OFFSET.values()],
        )
        for a, o in (("tanh", "adam"), ("relu", "sgd"), ("tanh", "sgd"))
    ]
    order = sorted(range(3), key=lambda i: raw[i])
    expected_holm, running = [0.0] * 3, 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (3 - k) * raw[i]))
        expected_holm[i] = running
    assert ranked["p_adjusted"].iloc[1:].tolist() == pytest.approx(expected_holm, abs=1e-12)
    assert math.isnan(ranked["p_adjusted"].iloc[0])  # the best is not tested against itself
    assert "Best: **activation=relu, optimizer=adam**" in markdown
    assert (
        "Not distinguishable from it (Welch's t-test, Holm-adjusted over the 3 tested, "
        "p ≥ 0.05): activation=tanh, optimizer=adam" in markdown
    )

    for kind, name in {
        "report": "report.md",
        "summary": "summary.csv",
        "runs": "runs.csv",
        "heatmap": "heatmap.png",
        "val_curves": "val_curves.png",
        "bars": "bars.png",
    }.items():
        assert report.files[kind] == out / name
        data = (out / name).read_bytes()
        assert len(data) > 100
        if name.endswith(".png"):
            assert data.startswith(PNG)
    runs_csv = pd.read_csv(out / "runs.csv")
    assert len(runs_csv) == 13
    assert {"run_id", "name", "status", "configuration", "seed", "test_accuracy"} <= set(
        runs_csv.columns
    )

    client = MlflowClient(store["uri"])
    logged = set(artifact_files(client, store["parent"]))
    assert {f"report/{n}" for n in ("report.md", "summary.csv", "runs.csv", "bars.png")} <= logged
    assert client.get_run(store["parent"]).info.status == "RUNNING"
    # The report never leaves MLflow's global tracking URI pointing at this store.
    assert os.environ.get("MLFLOW_TRACKING_URI") != store["uri"]


def test_the_parent_shows_the_comparison_without_opening_a_file(store, tmp_path):
    """What the UI shows of the parent: description, metrics, table, images; and the
    children's configuration tags. Logged twice: the table is listed once."""
    for _ in range(2):
        compare(store["uri"], Selection(parent=store["parent"]), out_dir=tmp_path / "report")
    client = MlflowClient(store["uri"])
    parent = client.get_run(store["parent"])
    expected = _expected_from_mlflow(store["uri"], store["parent"])

    note = parent.data.tags["mlflow.note.content"]
    assert note.startswith("## iris (multiclass): test_accuracy, higher is better\n")
    n, mean, std, low, high = expected["activation=relu, optimizer=adam"]
    assert f"| 1 | activation=relu, optimizer=adam | {n} | {mean:.4f} ± {std:.4f} |" in note
    assert "Best: **activation=relu, optimizer=adam**" in note

    metrics = parent.data.metrics
    for label, (_, mean, *_rest) in expected.items():
        key = "mean_test_accuracy/" + label.replace("=", "-").replace(", ", " ")
        assert metrics[key] == pytest.approx(mean, abs=1e-12)
    assert metrics["best_mean_test_accuracy"] == pytest.approx(
        expected["activation=relu, optimizer=adam"][1], abs=1e-12
    )

    tables = json.loads(parent.data.tags["mlflow.loggedArtifacts"])
    assert tables == [{"path": "report/summary_table.json", "type": "table"}]
    with global_tracking_uri(store["uri"]):  # load_table searches the global store
        table = client.load_table(
            parent.info.experiment_id, "report/summary_table.json", run_ids=[store["parent"]]
        )
    assert sorted(table["configuration"]) == sorted(expected)
    images = {p for p in artifact_files(client, store["parent"]) if p.startswith("images/")}
    for key in ("heatmap", "bars", "val_curves"):
        assert any(p.startswith(f"images/{key}+step+0+") for p in images), (key, images)

    for name, run_id in store["children"].items():
        _, activation, optimizer, *_ = name.split("-")
        tag = client.get_run(run_id).data.tags["configuration"]
        assert tag == f"activation={activation}, optimizer={optimizer}"
    failed = client.search_runs(
        [parent.info.experiment_id], "attributes.status = 'FAILED'", max_results=5
    )
    assert [r.data.tags["configuration"] for r in failed] == ["activation=relu, optimizer=adam"]


def test_holm_adjusts_the_p_values_of_one_family():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], abs=1e-15)
    assert holm([0.4, 0.9]) == pytest.approx([0.8, 0.9], abs=1e-15)  # never above 1, monotone
    adjusted = holm([0.02, math.nan, 0.5])  # untestable ones stay out of the count
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == 0.5


def test_a_rerun_seed_counts_once_so_rerunning_never_narrows_the_interval(store, tmp_path):
    client = MlflowClient(store["uri"])
    experiment = ensure_experiment(store["uri"], "reruns")
    for seed, acc in ((1, 0.80), (2, 0.85), (1, 0.90)):  # seed 1 rerun, last
        name = f"iris-relu-adam-bs32-s{seed}"
        params = _params("iris", "multiclass", "relu", "adam", seed, name, "reruns")
        _training_run(client, experiment, "reruns", params, {"test_accuracy": acc}, {"loss": [1]})
    report = compare(store["uri"], Selection(experiment="reruns"), out_dir=tmp_path, log_to="none")
    row = report.summary.iloc[0]
    assert (row["runs"], row["n"], row["repeats"]) == (3, 2, 1)
    assert row["mean"] == pytest.approx((0.90 + 0.85) / 2)  # the latest run of seed 1
    text = (tmp_path / "report.md").read_text()
    assert "1 rerun(s) of a seed already counted are left out" in text


def test_load_curves_reads_each_runs_history(store):
    ids = list(store["children"].values())[:2]
    curves = load_curves(store["uri"], [*ids, store["failed"]], "val_accuracy")
    assert set(curves) == set(ids)  # the failed run logged no curve
    client = MlflowClient(store["uri"])
    for run_id in ids:
        history = client.get_metric_history(run_id, "val_accuracy")
        assert curves[run_id] == sorted((m.step, m.value) for m in history)
        assert [s for s, _ in curves[run_id]] == [1, 2, 3]


# ------------------------------------------------------------------ (c) a failed child
def test_failed_child_is_counted_and_listed(store, tmp_path):
    report = compare(
        store["uri"], Selection(parent=store["parent"]), out_dir=tmp_path, log_to="none"
    )
    assert report.run_id is None
    summary = report.summary.set_index("configuration")
    assert summary.loc["activation=relu, optimizer=adam", "failed"] == 1
    assert summary.loc["activation=relu, optimizer=adam", "n"] == 3
    assert summary["failed"].sum() == 1
    markdown = (tmp_path / "report.md").read_text()
    assert "13 runs: 12 finished, 1 failed" in markdown
    failed_section = markdown.split("## Failed runs", 1)[1]
    assert store["failed_name"] in failed_section and "boom" in failed_section
    runs_csv = pd.read_csv(tmp_path / "runs.csv").set_index("run_id")
    assert runs_csv.loc[store["failed"], "status"] == "FAILED"
    assert runs_csv.loc[store["failed"], "error"] == "boom"


def test_a_configuration_whose_runs_all_failed_has_no_rank(store, tmp_path):
    runs = select_runs(store["uri"], Selection(parent=store["parent"]))
    runs = runs.copy()
    tanh_sgd = runs["params.activation.name"].eq("tanh") & runs["params.optimizer.name"].eq("sgd")
    runs.loc[tanh_sgd, "status"] = "FAILED"
    runs.loc[tanh_sgd, "metrics.test_accuracy"] = np.nan
    summary = summarize(runs).set_index("configuration")
    row = summary.loc["activation=tanh, optimizer=sgd"]
    assert row["n"] == 0 and row["failed"] == 3
    assert math.isnan(row["mean"]) and math.isnan(row["ci_low"])
    assert pd.isna(row["rank"]) and pd.isna(row["indistinguishable_from_best"])
    assert not row["best"]


# ------------------------------------------------------------------ (d) selection
def _ids(runs):
    return set(runs["run_id"])


def test_selection_by_experiment_excludes_parents_and_reports(store):
    runs = select_runs(store["uri"], Selection(experiment="iris"))
    assert _ids(runs) == {*store["children"].values(), store["failed"]}
    assert store["parent"] not in _ids(runs) and store["report_run"] not in _ids(runs)
    # Even when named explicitly.
    runs = select_runs(store["uri"], Selection(run_ids=[store["parent"], store["mnist"]["relu"]]))
    assert _ids(runs) == {store["mnist"]["relu"]}


def test_selection_by_filter_across_experiments_and_within_one(store):
    everywhere = select_runs(store["uri"], Selection(filter_string="params.optimizer.name = 'sgd'"))
    assert set(everywhere["experiment_id"].unique()).__len__() == 2  # iris and iris-regression
    assert len(everywhere) == 6 + 2
    within = select_runs(
        store["uri"], Selection(experiment="iris", filter_string="params.optimizer.name = 'sgd'")
    )
    assert len(within) == 6
    combined = select_runs(
        store["uri"],
        Selection(parent=store["parent"], filter_string="params.activation.name = 'tanh'"),
    )
    assert len(combined) == 6


def test_selection_by_run_ids_and_run_files(store, tmp_path):
    ids = list(store["mnist"].values())
    assert _ids(select_runs(store["uri"], Selection(run_ids=ids))) == set(ids)
    files = []
    for i, run_id in enumerate(ids):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps({"run_id": run_id}))
        files += ["--run-file", str(path)]
    out = tmp_path / "out"
    argv = ["--tracking-uri", store["uri"], *files, "--out", str(out), "--log-to", "none"]
    assert run(main, argv) == 0
    assert set(pd.read_csv(out / "runs.csv")["run_id"]) == set(ids)


def test_selection_errors_say_what_is_wrong(store):
    uri = store["uri"]
    with pytest.raises(ValueError, match="nothing to compare.*--experiment"):
        select_runs(uri, Selection())
    with pytest.raises(ValueError, match=r"unknown experiment 'iriss'.*iris, iris-regression"):
        select_runs(uri, Selection(experiment="iriss"))
    with pytest.raises(ValueError, match="unknown parent run 'deadbeef'"):
        select_runs(uri, Selection(parent="deadbeef"))
    with pytest.raises(ValueError, match="unknown run id.*0123abcd"):
        select_runs(uri, Selection(run_ids=["0123abcd"]))
    with pytest.raises(ValueError, match=r"nothing matched experiment 'mnist' and filter"):
        select_runs(
            uri, Selection(experiment="mnist", filter_string="params.optimizer.name = 'lion'")
        )
    with pytest.raises(ValueError, match="cannot search runs"):
        select_runs(uri, Selection(filter_string="this is not a filter"))
    # A run that is itself a report is never compared, even alone.
    with pytest.raises(ValueError, match="never compared"):
        select_runs(uri, Selection(run_ids=[store["report_run"]]))


def test_comparison_run_is_tagged_in_the_runs_experiment_and_excluded_later(store, tmp_path):
    report = compare(store["uri"], Selection(experiment="mnist"), out_dir=tmp_path / "a")
    client = MlflowClient(store["uri"])
    logged = client.get_run(report.run_id)
    assert logged.data.tags["optlab.comparison"] == "true"
    assert logged.info.run_name == "comparison-mnist"
    assert logged.info.status == "FINISHED"
    assert client.get_experiment(logged.info.experiment_id).name == "mnist"
    assert "report/report.md" in set(artifact_files(client, report.run_id))
    assert logged.data.params["best.mnist.multiclass"] == "activation=relu"
    assert logged.data.metrics["best_mean_test_accuracy"] == pytest.approx(0.97, abs=1e-12)
    assert logged.data.tags["mlflow.note.content"].startswith("## mnist (multiclass)")
    assert logged.data.tags["mlflow.source.type"] == "LOCAL"  # the UI's Source column
    assert report.run_id not in _ids(select_runs(store["uri"], Selection(experiment="mnist")))

    # Runs from two experiments: the report goes to the `comparisons` experiment.
    ids = [store["mnist"]["relu"], store["regression"]["sgd", 1]]
    spread = compare(
        store["uri"], Selection(run_ids=ids), out_dir=tmp_path / "b", log_to="comparison"
    )
    experiment = client.get_experiment(client.get_run(spread.run_id).info.experiment_id)
    assert experiment.name == "comparisons"


def test_log_to_parent_needs_a_parent(store, tmp_path):
    with pytest.raises(ValueError, match="needs a parent"):
        compare(store["uri"], Selection(experiment="mnist"), out_dir=tmp_path, log_to="parent")
    with pytest.raises(ValueError, match="unknown log_to"):
        compare(store["uri"], Selection(experiment="mnist"), out_dir=tmp_path, log_to="somewhere")


# ------------------------------------------------------------------ (e) regression
def test_regression_ranks_lower_rmse_first(store, tmp_path):
    report = compare(
        store["uri"], Selection(experiment="iris-regression"), out_dir=tmp_path, log_to="none"
    )
    summary = report.summary.set_index("configuration")
    assert set(summary["metric"]) == {"test_rmse"}
    assert not summary["higher_is_better"].any()
    assert summary.loc["optimizer=sgd", "rank"] == 1 and summary.loc["optimizer=sgd", "best"]
    assert summary.loc["optimizer=adam", "rank"] == 2
    assert summary.loc["optimizer=sgd", "mean"] == pytest.approx(0.21, abs=1e-12)
    markdown = (tmp_path / "report.md").read_text()
    assert "test_rmse, lower is better" in markdown
    assert "Best: **optimizer=sgd**" in markdown
    assert "heatmap" not in report.files  # activation does not vary
    assert (tmp_path / "val_curves.png").read_bytes().startswith(PNG)


def test_groups_rank_separately_and_stale_figures_are_removed(store, tmp_path):
    (tmp_path / "heatmap.png").write_bytes(b"old")
    ids = [*store["mnist"].values(), *(store["regression"][k] for k in store["regression"])]
    report = compare(store["uri"], Selection(run_ids=ids), out_dir=tmp_path, log_to="none")
    groups = report.summary.groupby(["dataset", "task"])["rank"].apply(list).to_dict()
    assert groups == {("iris", "regression"): [1, 2], ("mnist", "multiclass"): [1, 2]}
    assert not (tmp_path / "heatmap.png").exists()


# ------------------------------------------------------------------ (f) one seed each
def test_single_seed_per_configuration_cannot_be_tested(store, tmp_path):
    report = compare(store["uri"], Selection(experiment="mnist"), out_dir=tmp_path, log_to="none")
    summary = report.summary.set_index("configuration")
    assert list(summary["n"]) == [1, 1]
    assert summary["std"].isna().all() and summary["ci_low"].isna().all()
    assert summary["indistinguishable_from_best"].tolist()[1] is pd.NA
    markdown = (tmp_path / "report.md").read_text()
    assert "single seed per configuration the ranking cannot be tested" in markdown
    assert "`sweep.seeds=3`" in markdown
    assert "Best: **activation=relu**" in markdown


# ------------------------------------------------------------------ (g) the CLI
def test_cli_end_to_end(store, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["--tracking-uri", store["uri"], "--parent", store["parent"], "--out", str(out)]
    assert run(main, [*argv, "--log-to", "none"]) == 0
    printed = capsys.readouterr().out
    header = (
        "| rank | configuration | n | mean ± std | 95% CI | test loss | p | p (Holm) | failed |"
    )
    assert header in printed
    assert "activation=relu, optimizer=adam" in printed
    for name in ("report.md", "summary.csv", "runs.csv", "heatmap.png", "bars.png"):
        assert (out / name).stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "error: nothing to compare"),
        (["--experiment", "nope"], "error: unknown experiment 'nope' in sqlite"),
        (["--experiment", "nope"], "existing experiments: Default, "),
        (["--parent", "cafe"], "error: unknown parent run 'cafe'"),
        (["--filter", "params.optimizer.name = 'lion'"], "error: nothing matched filter"),
    ],
)
def test_cli_bad_selection_exits_1_with_a_message(store, tmp_path, capsys, argv, message):
    code = run(main, ["--tracking-uri", store["uri"], "--out", str(tmp_path / "x"), *argv])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_bad_run_file(store, tmp_path, capsys):
    path = Path(tmp_path / "run.json")
    path.write_text('{"id": 1}')
    assert run(main, ["--tracking-uri", store["uri"], "--run-file", str(path)]) == 1
    assert 'expected {"run_id": "..."}' in capsys.readouterr().err


def test_labels_use_short_keys_unless_ambiguous():
    # A frame shaped like mlflow.search_runs' output, without a store.
    rows = []
    for i, (activation, batch, data_seed, momentum) in enumerate(
        [("relu", "32", "0", "0.9"), ("elu", "64", "1", "0.5")]
    ):
        rows.append(
            {
                "run_id": f"r{i}",
                "experiment_id": "1",
                "status": "FINISHED",
                "start_time": pd.Timestamp(i, unit="s", tz="UTC"),
                "metrics.test_accuracy": 0.9 + i / 100,
                "params.dataset.name": "iris",
                "params.dataset.task": "multiclass",
                "params.activation.name": activation,
                "params.training.batch_size": batch,
                "params.training.seed": str(i),
                "params.data.seed": data_seed,
                "params.optimizer.momentum": momentum,
                "params.model.momentum": momentum,
                "params.mlflow.run_name": f"run{i}",
                "params.effective.batch_size": batch,
                "tags.mlflow.runName": f"run{i}",
            }
        )
    summary = summarize(pd.DataFrame(rows))
    assert summary["configuration"].tolist() == [
        "activation=elu, optimizer.momentum=0.5, model.momentum=0.5, batch_size=64, data.seed=1",
        "activation=relu, optimizer.momentum=0.9, model.momentum=0.9, batch_size=32, data.seed=0",
    ]
    assert summary["rank"].tolist() == [1, 2]


def test_hyperparameters_that_only_follow_the_choice_do_not_label_configurations():
    from pipeline.compare import annotate_runs

    def frame(optimizers, rates):
        n = len(optimizers)
        return pd.DataFrame(
            {
                "run_id": [f"r{i}" for i in range(n)],
                "status": ["FINISHED"] * n,
                "params.dataset.name": ["mnist"] * n,
                "params.dataset.task": ["multiclass"] * n,
                "params.optimizer.name": optimizers,
                "params.optimizer.learning_rate": rates,
                "metrics.test_accuracy": [0.9] * n,
            }
        )

    # sgd and adam with their own default learning rates: the choice says it all
    labels = annotate_runs(frame(["sgd", "adam"], ["0.01", "0.001"]))[0]["configuration"]
    assert labels.tolist() == ["optimizer=sgd", "optimizer=adam"]
    # a learning rate swept within sgd is a setting of its own
    labels = annotate_runs(frame(["sgd", "sgd", "adam"], ["0.01", "0.1", "0.001"]))[0]
    assert labels["configuration"].tolist() == [
        "optimizer=sgd, learning_rate=0.01",
        "optimizer=sgd, learning_rate=0.1",
        "optimizer=adam, learning_rate=0.001",
    ]


def test_a_lone_configuration_is_named_by_its_choices():
    from pipeline.compare import annotate_runs

    runs = pd.DataFrame(
        {
            "run_id": ["r0"],
            "status": ["FINISHED"],
            "params.dataset.name": ["mnist"],
            "params.dataset.task": ["multiclass"],
            "params.model.name": ["mlp"],
            "params.activation.name": ["relu"],
            "params.optimizer.name": ["adam"],
            "params.effective.batch_size": ["32"],
            "metrics.test_accuracy": [0.97],
        }
    )
    label = annotate_runs(runs)[0]["configuration"].iloc[0]
    assert label == "model=mlp, activation=relu, optimizer=adam, batch_size=32"


def test_bookkeeping_params_do_not_split_configurations_and_full_batch_is_named():
    from pipeline.compare import annotate_runs

    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "status": ["FINISHED"] * 3,
            "params.dataset.name": ["mnist"] * 3,
            "params.dataset.task": ["multiclass"] * 3,
            "params.optimizer.name": ["sgd", "sgd", "gd"],
            # two sweeps of one experiment, with other seed counts and download options
            "params.sweep.seeds": ["1", "3", "3"],
            "params.data.download.retries": ["3", "5", "3"],
            # gd keeps training.batch_size's default; the effective batch is the whole split
            "params.training.batch_size": ["32", "32", "32"],
            "params.effective.batch_size": ["32", "32", "full"],
            "metrics.test_accuracy": [0.9, 0.91, 0.5],
        }
    )
    labels = annotate_runs(runs)[0]["configuration"].tolist()
    assert labels == [
        "optimizer=sgd, batch_size=32",
        "optimizer=sgd, batch_size=32",
        "optimizer=gd, batch_size=full",
    ]

    runs["params.optimizer.name"] = ["sgd", "sgd", "sgd"]
    runs["params.effective.batch_size"] = ["32", "64", "full"]
    labels = annotate_runs(runs)[0]["configuration"].tolist()
    assert labels == ["batch_size=32", "batch_size=64", "batch_size=full"]


def test_a_selection_describes_and_names_itself():
    ids = Selection(run_ids=[" a1 ", "a1", "b2", "c3", "d4", "e5", "f6", "g7"])
    assert ids.run_ids == ("a1", "b2", "c3", "d4", "e5", "f6", "g7")
    assert ids.describe() == "run ids a1, b2, c3, d4, e5 and 2 more"
    assert ids.slug() == "7-runs" and ids.only_ids
    sweep = Selection(experiment="mnist", parent="0123456789abcdef", filter_string="x = 1")
    assert sweep.describe("sweep-x") == (
        "experiment 'mnist' and children of run 0123456789abcdef (sweep-x) and filter 'x = 1'"
    )
    assert sweep.slug() == "mnist-01234567-filter" and not sweep.only_ids
    assert Selection().describe() == "nothing"
