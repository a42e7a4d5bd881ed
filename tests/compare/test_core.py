"""compare() on a real store: the report, and the run it is logged to (pipeline.compare.core)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from pipeline.compare import Selection, compare, select_runs
from pipeline.config import contract
from pipeline.tracking.store import artifact_files, ensure_experiment, global_tracking_uri
from tests.fake_runs import (
    ACTIVATIONS,
    BASE,
    OFFSET,
    OPTIMIZERS,
    PNG,
    expected_from_mlflow,
    ids_of,
    params_of,
    training_run,
    welch_by_hand,
)


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
        "p_equivalence",
        "p_equivalence_adjusted",
        "verdict",
        "prob_improvement",
        "prob_improvement_low",
        "prob_improvement_high",
        "seeds_to_decide",
    ):
        assert column in summary
    # The seed, mlflow.*, effective.* and runtime.* params do not define configurations.
    assert not any(c.startswith(("training.seed", "mlflow.", "runtime.")) for c in summary)

    expected = expected_from_mlflow(store["uri"], store["parent"])
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
    # relu/adam vs tanh/adam differ by 0.01 with the same spread: neither a difference
    # Welch's test shows nor one within the 0.005 margin: undecided, with its seeds.
    assert list(ranked["verdict"]) == ["best", "undecided", "worse", "worse"]
    assert ranked["seeds_to_decide"].iloc[1] > 3 and ranked["seeds_to_decide"].isna().sum() == 3
    p = welch_by_hand(
        [BASE["tanh", "adam"] + o for o in OFFSET.values()],
        [BASE["relu", "adam"] + o for o in OFFSET.values()],
    )
    assert ranked["p_value"].iloc[1] == pytest.approx(p, abs=1e-12)
    # Holm over the three comparisons with the best, by hand: the smallest raw p times 3,
    # the next times 2, the largest times 1, each at least the one before.
    raw = [
        welch_by_hand(
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
        "Against it (Welch's t-test for a difference, TOST for equivalence within ±0.005, "
        "each Holm-adjusted over the 3 tested, α = 0.05;" in markdown
    )
    best_runs = [BASE["relu", "adam"] + o for o in OFFSET.values()]
    tanh_adam = [BASE["tanh", "adam"] + o for o in OFFSET.values()]
    u = stats.mannwhitneyu(best_runs, tanh_adam).statistic  # pairs the best wins, ties half
    assert ranked["prob_improvement"].iloc[1] == pytest.approx(u / 9, abs=1e-12)
    shown = f"{u / 9:.3g}"
    assert f"**undecided**: activation=tanh, optimizer=adam (P(best better) = {shown} [" in markdown
    assert f"about {ranked['seeds_to_decide'].iloc[1]} seeds each would decide it" in markdown
    assert "**worse**: activation=relu, optimizer=sgd (P(best better) = 1" in markdown
    assert "not distinguishable" not in markdown.lower()

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
    expected = expected_from_mlflow(store["uri"], store["parent"])

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
    assert report.run_id not in ids_of(select_runs(store["uri"], Selection(experiment="mnist")))

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


def test_a_run_whose_process_died_is_reported_failed(tmp_path):
    """A run left RUNNING by a killed process is found by compare and counted as failed."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(uri, "died")
    curve = {"val_accuracy": [0.5, 0.6]}
    for seed in (1, 2):
        params = params_of("mnist", "multiclass", "relu", "adam", seed, f"r{seed}", "died")
        training_run(client, experiment_id, "died", params, {"test_accuracy": 0.9}, curve)
    code = "import os, socket; print(socket.gethostname(), os.getpid())"
    host, pid = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    params = params_of("mnist", "multiclass", "tanh", "adam", 1, "killed", "died")
    tags = {contract.HOST_TAG: host, contract.PID_TAG: pid}
    killed = training_run(client, experiment_id, "died", params, {}, curve, tags=tags)
    client.update_run(killed, "RUNNING")  # as a SIGKILLed training leaves it

    report = compare(uri, Selection(experiment="died"), out_dir=tmp_path / "r", log_to="none")

    assert client.get_run(killed).info.status == "FAILED"
    statuses = dict(zip(report.runs["run_id"], report.runs["status"], strict=True))
    assert statuses[killed] == "FAILED"
    text = (tmp_path / "r" / "report.md").read_text()
    assert f"({killed};" in text and f"process {pid} on {host} is gone" in text
