"""Selecting the runs to compare, and reading their curves (pipeline.compare.runs)."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from pipeline.compare import Selection, load_curves, select_runs
from tests.fake_runs import ids_of


def test_load_curves_reads_each_runs_history(store):
    ids = list(store["children"].values())[:2]
    curves = load_curves(store["uri"], [*ids, store["failed"]], "val_accuracy")
    assert set(curves) == set(ids)  # the failed run logged no curve
    client = MlflowClient(store["uri"])
    for run_id in ids:
        history = client.get_metric_history(run_id, "val_accuracy")
        assert curves[run_id] == sorted((m.step, m.value) for m in history)
        assert [s for s, _ in curves[run_id]] == [1, 2, 3]


def test_selection_by_experiment_excludes_parents_and_reports(store):
    runs = select_runs(store["uri"], Selection(experiment="iris"))
    assert ids_of(runs) == {*store["children"].values(), store["failed"]}
    assert store["parent"] not in ids_of(runs) and store["report_run"] not in ids_of(runs)
    # Even when named explicitly.
    runs = select_runs(store["uri"], Selection(run_ids=[store["parent"], store["mnist"]["relu"]]))
    assert ids_of(runs) == {store["mnist"]["relu"]}


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
