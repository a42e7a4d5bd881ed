"""The compare stage's command line (pipeline.stages.compare), on a real store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.compare import Selection, select_runs
from pipeline.config.compose import compose_config, write_params
from pipeline.stages.compare import main
from pipeline.system.entry import run
from pipeline.tracking.store import ensure_experiment
from tests.fake_runs import ids_of, params_of, training_run


@pytest.mark.slow
def test_selection_by_run_ids_and_run_files(store, tmp_path):
    ids = list(store["mnist"].values())
    assert ids_of(select_runs(store["uri"], Selection(run_ids=ids))) == set(ids)
    files = []
    for i, run_id in enumerate(ids):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps({"run_id": run_id}))
        files += ["--run-file", str(path)]
    out = tmp_path / "out"
    argv = ["--tracking-uri", store["uri"], *files, "--out", str(out), "--log-to", "none"]
    assert run(main, argv) == 0
    assert set(pd.read_csv(out / "runs.csv")["run_id"]) == set(ids)


def test_cli_end_to_end(store, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["--tracking-uri", store["uri"], "--parent", store["parent"], "--out", str(out)]
    assert run(main, [*argv, "--log-to", "none"]) == 0
    printed = capsys.readouterr().out
    header = (
        "| rank | configuration | n | mean ± std | 95% CI | test loss | p | p (Holm)"
        " | p equiv. (Holm) | P(best better) | verdict | failed |"
    )
    assert header in printed
    assert "TOST for equivalence within ±0.005" in printed
    assert run(main, [*argv, "--log-to", "none", "--margin", "0.02"]) == 0
    assert "TOST for equivalence within ±0.02" in capsys.readouterr().out
    # The DVC stage's way: compare.margin from the params file.
    params = write_params(compose_config(["compare.margin=0.03"]), tmp_path / "params.yaml")
    assert run(main, [*argv, "--log-to", "none", "--params", str(params)]) == 0
    assert "TOST for equivalence within ±0.03" in capsys.readouterr().out
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
    assert 'expected {"run_key": "..."} or {"run_id": "..."}' in capsys.readouterr().err


def _keyed_run(client, experiment_id, name, key, acc, status="FINISHED"):
    """A run shaped like training's, tagged with its run key, with timings that differ."""
    params = params_of("mnist", "multiclass", name, "adam", 42, f"mnist-{name}", "mnist")
    tags = {"optlab.run_key": key, "configuration": f"activation={name}"}
    if status == "FINISHED":
        metrics = {"test_accuracy": acc, "test_loss": 1 - acc, "train_seconds": time.time()}
        curve = {"val_accuracy": [acc - 0.1, acc], "epoch_seconds": [time.time(), 1.0]}
        return training_run(client, experiment_id, "mnist", params, metrics, curve, tags)
    run_id = client.create_run(experiment_id, run_name=f"mnist-{name}", tags=tags).info.run_id
    client.set_terminated(run_id, status)
    return run_id


@pytest.mark.slow
def test_run_files_with_run_keys_give_a_stable_report(tmp_path, capsys):
    """The compare stage's way: run.json holds a run key; the latest finished run of each
    key is compared, and with --stable the files are the same however often it runs."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(uri, "mnist")
    relu, tanh = "a" * 64, "b" * 64
    _keyed_run(client, experiment_id, "relu", relu, 0.5)  # an older run of the same key
    latest = _keyed_run(client, experiment_id, "relu", relu, 0.97)
    _keyed_run(client, experiment_id, "relu", relu, 0.0, status="FAILED")  # never picked
    _keyed_run(client, experiment_id, "tanh", tanh, 0.93)
    files = []
    for name, key in (("relu", relu), ("tanh", tanh)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"run_key": key}))
        files += ["--run-file", str(tmp_path / f"{name}.json")]
    argv = ["--tracking-uri", uri, *files, "--log-to", "comparison", "--stable"]

    assert run(main, [*argv, "--out", str(tmp_path / "first")]) == 0
    runs_csv = pd.read_csv(tmp_path / "first" / "runs.csv")
    assert runs_csv["test_accuracy"].tolist() == [0.97, 0.93]
    assert not {"run_id", "experiment_id", "train_seconds", "epoch_seconds"} & set(runs_csv)
    report = (tmp_path / "first" / "report.md").read_text()
    assert "Selected: the latest finished run of run keys aaaaaaaaaaaa, bbbbbbbbbbbb." in report
    assert latest not in report
    # A rerun of a training (same key, same results, other timings) and another
    # comparison run change none of the files.
    _keyed_run(client, experiment_id, "tanh", tanh, 0.93)
    assert run(main, [*argv, "--out", str(tmp_path / "second")]) == 0
    for path in sorted((tmp_path / "first").iterdir()):
        assert path.read_bytes() == (tmp_path / "second" / path.name).read_bytes(), path.name
    assert len(client.search_runs([experiment_id], "tags.`optlab.comparison` = 'true'")) == 2

    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"run_key": "c" * 64}))
    capsys.readouterr()
    assert run(main, ["--tracking-uri", uri, "--run-file", str(missing), "--log-to", "none"]) == 1
    assert f"error: no finished run with run key {'c' * 64} in {uri}: train it again" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("margin", ["0", "-0.01"])
def test_a_margin_that_is_not_positive_is_one_line_before_any_work(capsys, margin):
    with pytest.raises(SystemExit) as exited:
        main(["--parent", "abc", "--margin", margin])
    assert exited.value.code == 2
    assert f"error: --margin={float(margin)}: must be > 0" in capsys.readouterr().err
