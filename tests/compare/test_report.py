"""The comparison report's files (pipeline.compare.report): markdown, CSV, figures."""

from __future__ import annotations

import pandas as pd

from pipeline.compare import Selection, compare, select_runs, summarize, write_report
from tests.fake_runs import PNG


def test_write_report_writes_every_file_and_links_the_figures(store, tmp_path):
    runs = select_runs(store["uri"], Selection(parent=store["parent"]))
    summary = summarize(runs)
    curves = {r: [(1, 0.5), (2, 0.6)] for r in runs["run_id"]}
    files = write_report(runs, summary, tmp_path, curves, selection="the sweep")
    assert list(files) == ["report", "summary", "table", "runs", "heatmap", "val_curves", "bars"]
    for kind in ("heatmap", "val_curves", "bars"):
        assert files[kind].read_bytes()[:8] == PNG
    text = files["report"].read_text()
    assert text.startswith("# Comparison report\n\nSelected: the sweep.\n")
    assert "| rank | configuration | n | mean ± std | 95% CI | test loss | p | p (Holm) |" in text
    assert text.endswith(
        "## Figures\n\n![Mean with 95% CI](bars.png)\n![Activation × optimizer](heatmap.png)\n"
        "![Validation curves](val_curves.png)\n"
    )
    table = pd.read_csv(files["summary"])
    assert table["configuration"].tolist() == summary["configuration"].tolist()
    assert sorted(pd.read_csv(files["runs"])["run_id"]) == sorted(runs["run_id"])


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


def test_groups_rank_separately_and_stale_figures_are_removed(store, tmp_path):
    (tmp_path / "heatmap.png").write_bytes(b"old")
    ids = [*store["mnist"].values(), *(store["regression"][k] for k in store["regression"])]
    report = compare(store["uri"], Selection(run_ids=ids), out_dir=tmp_path, log_to="none")
    groups = report.summary.groupby(["dataset", "task"])["rank"].apply(list).to_dict()
    assert groups == {("iris", "regression"): [1, 2], ("mnist", "multiclass"): [1, 2]}
    assert not (tmp_path / "heatmap.png").exists()


def test_single_seed_per_configuration_cannot_be_tested(store, tmp_path):
    report = compare(store["uri"], Selection(experiment="mnist"), out_dir=tmp_path, log_to="none")
    summary = report.summary.set_index("configuration")
    assert list(summary["n"]) == [1, 1]
    assert summary["std"].isna().all() and summary["ci_low"].isna().all()
    assert summary["verdict"].tolist() == ["best", pd.NA]
    markdown = (tmp_path / "report.md").read_text()
    assert "single seed per configuration the ranking cannot be tested" in markdown
    assert "`sweep.seeds=3`" in markdown
    assert "Best: **activation=relu**" in markdown
