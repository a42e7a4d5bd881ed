"""The lessons' runner: real Keras trainings on tiny generated data, logged to a real
SQLite MLflow store; verdicts from them where the answer is known."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import contract
from pipeline.lessons import verdicts as v
from pipeline.lessons.measure import PROCESS_PEAK, Probe
from pipeline.lessons.runner import Runner
from pipeline.tracking import store
from tests.helpers import FAST_TRAINING, REPO_ROOT

# Every test here trains real models: not in the edit loop (make test-fast).
pytestmark = pytest.mark.slow

IRIS = ["dataset=iris", "training.batch_size=16"]


def make_runner(tmp_path, data_root, seeds: int = 2, reuse: bool = True) -> Runner:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = store.ensure_experiment(uri, "lessons")
    parent = MlflowClient(uri).create_run(experiment_id).info.run_id
    return Runner(
        uri,
        "lessons",
        parent,
        seeds,
        data_root=data_root,
        reuse=reuse,
        config_dir=REPO_ROOT / "conf",
        overrides=[*FAST_TRAINING, "model.hidden_units=[8]"],
    )


def runs_of(runner: Runner) -> list:
    experiment = runner.client.get_experiment_by_name("lessons")
    return [
        r
        for r in runner.client.search_runs([experiment.experiment_id])
        if r.info.run_id != runner.parent_id
    ]


def test_each_seed_is_a_child_run_of_the_parent_tagged_with_its_lesson(tmp_path, data_root):
    runner = make_runner(tmp_path, data_root)
    trials = runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"])
    assert [t.seed for t in trials.trials] == [42, 43]
    assert trials.label == "relu"
    for trial in trials.trials:
        run = runner.client.get_run(trial.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags[contract.PARENT_RUN_TAG] == runner.parent_id
        assert run.data.tags[contract.LESSON_TAG] == "demo"
        assert run.data.tags[contract.LESSON_CONFIG_TAG] == "relu"
        assert run.data.params["training.seed"] == str(trial.seed)
        assert run.data.params["activation.name"] == "relu"
        assert run.data.metrics["test_accuracy"] == trial.metrics["test_accuracy"]
        assert list(trial.history["epoch"]) == [1, 2]
    assert trials.metric("test_accuracy") == [t.metrics["test_accuracy"] for t in trials.trials]
    assert trials.final("loss") == [float(t.history["loss"].iloc[-1]) for t in trials.trials]
    assert trials.columns(r"grad_norm/hidden_\d+") == ["grad_norm/hidden_1"]


def test_a_finished_run_of_the_same_config_and_data_is_read_back_not_trained_again(
    tmp_path, data_root
):
    runner = make_runner(tmp_path, data_root)
    first = runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"])
    again = runner.for_lesson("other").run("relu again", [*IRIS, "activation=relu"])
    assert again.run_ids == first.run_ids
    assert len(runs_of(runner)) == 2
    for a, b in zip(first.trials, again.trials, strict=True):
        assert b.metrics["test_accuracy"] == a.metrics["test_accuracy"]
        pd.testing.assert_frame_equal(b.history, a.history, check_dtype=False)
    # A different configuration is trained.
    other = runner.for_lesson("demo").run("tanh", [*IRIS, "activation=tanh"])
    assert set(other.run_ids).isdisjoint(first.run_ids)
    assert len(runs_of(runner)) == 4


def test_fresh_trains_again_and_gets_the_same_results(tmp_path, data_root):
    runner = make_runner(tmp_path, data_root, seeds=1)
    first = runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"])
    runner.reuse = False
    second = runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"])
    assert second.run_ids != first.run_ids
    assert second.metric("test_loss") == first.metric("test_loss")


def test_a_probe_s_metrics_are_logged_and_a_run_without_them_is_trained_again(tmp_path, data_root):
    runner = make_runner(tmp_path, data_root, seeds=1)
    plain = runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"])
    probe = Probe(
        "probe.rows", lambda result: {"probe.rows": float(len(result.data.x["validation"]))}
    )
    probed = runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"], probe)
    assert probed.run_ids != plain.run_ids  # the first run lacks probe.rows
    assert probed.metric("probe.rows") == [12.0]  # the tiny iris: 60 rows, validation 0.2
    logged = runner.client.get_run(probed.run_ids[0]).data.metrics["probe.rows"]
    assert logged == 12.0
    assert (
        runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"], probe).run_ids
        == probed.run_ids
    )


def test_verdicts_from_real_trainings_where_the_answer_is_known(tmp_path, data_root):
    """Adam at a good rate against SGD at a rate too small to move: clearly better.
    The same configuration under two names: equal, so never supported (the same, or
    undecided when the seeds spread too widely for TOST)."""
    runner = make_runner(tmp_path, data_root, seeds=3)
    longer = [*IRIS, "training.epochs=30"]
    good = runner.for_lesson("known").run(
        "adam", [*longer, "optimizer=adam", "optimizer.learning_rate=0.05"]
    )
    stuck = runner.for_lesson("known").run(
        "sgd", [*longer, "optimizer=sgd", "optimizer.learning_rate=1e-9"]
    )
    assert min(good.metric("test_accuracy")) > max(stuck.metric("test_accuracy"))
    accuracy = (good.metric("test_accuracy"), stuck.metric("test_accuracy"))
    assert v.exceeds(*accuracy, "Adam", "SGD", "accuracy").verdict is v.Verdict.SUPPORTED
    loss = (good.final("loss"), stuck.final("loss"))
    assert v.exceeds(*loss, "Adam", "SGD", "loss").verdict is v.Verdict.NOT_SUPPORTED
    runner.reuse = False  # trained again, under another name
    same = runner.for_lesson("known").run(
        "adam, again", [*longer, "optimizer=adam", "optimizer.learning_rate=0.05"]
    )
    assert set(same.run_ids).isdisjoint(good.run_ids)
    equal = v.exceeds(same.metric("test_accuracy"), good.metric("test_accuracy"), "a", "b", "acc")
    assert equal.verdict is not v.Verdict.SUPPORTED
    assert "p = 1, P(a > b) = 0.50 [" in equal.evidence


def test_seeds_can_be_set_per_configuration(tmp_path, data_root):
    runner = make_runner(tmp_path, data_root, seeds=2)
    trials = runner.for_lesson("demo").run("relu", [*IRIS, "activation=relu"], seeds=1)
    assert [t.seed for t in trials.trials] == [42]


def test_an_isolated_run_trains_in_a_fresh_process_with_the_same_results_and_its_peak(
    tmp_path, data_root
):
    runner = make_runner(tmp_path, data_root, seeds=1, reuse=False).for_lesson("demo")
    here = runner.run("relu", [*IRIS, "activation=relu"])
    apart = runner.run("relu", [*IRIS, "activation=relu"], isolated=True)
    assert apart.run_ids != here.run_ids
    assert apart.metric("test_loss") == here.metric("test_loss")  # deterministic training
    pd.testing.assert_frame_equal(
        apart.trials[0].history.drop(columns="epoch_seconds"),
        here.trials[0].history.drop(columns="epoch_seconds"),
        check_dtype=False,
    )
    (peak,) = apart.metric(PROCESS_PEAK)
    assert peak > 300  # a process that loaded TensorFlow and trained
    assert runner.client.get_run(apart.run_ids[0]).data.metrics[PROCESS_PEAK] == peak
    runner.reuse = True  # an in-process run lacks the process peak: not reused for isolated
    assert runner.run("relu", [*IRIS, "activation=relu"], isolated=True).run_ids == apart.run_ids


def test_a_probe_cannot_measure_an_isolated_run(tmp_path, data_root):
    runner = make_runner(tmp_path, data_root, seeds=1).for_lesson("demo")
    probe = Probe("probe.x", lambda result: {"probe.x": 1.0})
    with pytest.raises(ValueError, match="a probe measures the model in this process"):
        runner.run("relu", [*IRIS], probe, isolated=True)
