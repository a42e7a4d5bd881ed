"""The compare stage's command line (pipeline.stages.compare), on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.compare import Selection, select_runs
from pipeline.stages.compare import main
from pipeline.stages.entry import run
from tests.fake_runs import ids_of


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
