"""An Optuna study through Hydra's Optuna sweeper (+experiment=optuna_adam), end to end:
real sweeps of a few one-epoch trials on the tiny iris, each into its own SQLite store.

It is also the proof for constraints/overrides.txt: the sweeper pins optuna<3, and the
lock holds optuna 5.
"""

import optuna
import pytest

from tests.e2e.test_sweep import all_runs, sweep
from tests.helpers import served_copy

pytestmark = pytest.mark.slow
TRIALS = ["+experiment=optuna_adam", "dataset=iris", "hydra.sweeper.n_trials=3"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror_dir):
    with served_copy(tmp_path_factory.mktemp("optuna"), mirror_dir) as (repo, env, _):
        yield repo, env


def study(project, folder, *overrides):
    """Run a study into ``folder``: its store's client, parent and children, by job."""
    repo, env = project
    store = f"sqlite:///{folder / 'mlflow.db'}"
    out = sweep(repo, env, store, *TRIALS, f"hydra.sweep.dir={folder / 'sweep'}", *overrides)
    client, parents, children = all_runs(store)
    return client, parents, sorted(children, key=lambda c: int(c.data.tags["optlab.job"])), out


@pytest.fixture(scope="module")
def first(project, tmp_path_factory):
    return study(project, tmp_path_factory.mktemp("first"))


def sampled(children):
    return [c.data.params["optimizer.learning_rate"] for c in children]


def test_each_trial_is_a_finished_child_and_the_parent_holds_the_best(first):
    _, parents, children, out = first
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert [c.data.tags["optlab.job"] for c in children] == ["0", "1", "2"]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.params["optimizer.name"] == "adam"
        assert 1e-4 <= float(child.data.params["optimizer.learning_rate"]) <= 1e-1
        assert child.data.params["training.batch_size"] in {"16", "32", "64", "128", "256"}
        assert 0 <= child.data.metrics["test_accuracy"] <= 1
    assert len(set(sampled(children))) == 3  # each trial its own configuration
    assert len({c.data.tags["configuration"] for c in children}) == 3

    # The best trial, from the children's own metric: the validation accuracy at the last
    # epoch is maximised (the test split is never the objective).
    top = max(c.data.metrics["val_accuracy"] for c in children)
    best = [c for c in children if c.data.metrics["val_accuracy"] == pytest.approx(top)]
    assert parent.data.metrics["best_trial_val_accuracy"] == pytest.approx(top)
    (best_id,) = parent.data.tags["optlab.best_runs"].split(",")
    winner = next(c for c in best if c.info.run_id == best_id)
    lr = winner.data.params["optimizer.learning_rate"]
    batch = winner.data.params["training.batch_size"]
    assert parent.data.tags["optlab.best_params"] == (
        f"optimizer.learning_rate={lr} training.batch_size={batch}"
    )
    assert parent.data.tags["mlflow.note.content"].startswith(
        f"## Optuna's best trial: val_accuracy {top:.4g}\n"
    )
    assert parent.data.params["sweep.optuna.seed"] == "42"  # training.seed
    assert parent.data.params["sweep.optuna.direction"] == "maximize"
    assert f"sweep: Optuna's best trial, best_trial_val_accuracy={top:.4g}" in out


def test_the_same_config_samples_the_same_trials(project, first, tmp_path):
    _, _, children, _ = study(project, tmp_path)
    assert sampled(children) == sampled(first[2])


def test_a_failed_trial_is_a_failed_child_and_the_study_goes_on(project, tmp_path):
    # Regression: the study minimises val_rmse. binary_crossentropy cannot train it,
    # and fails inside the job; the seeded sampler draws it for some of the 4 trials.
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"  # to read the study's trials back
    client, parents, children, _ = study(
        project,
        tmp_path,
        "dataset.task=regression",
        "loss=choice(auto,binary_crossentropy)",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.storage={storage}",
    )
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4
    failed = [c for c in children if c.info.status == "FAILED"]
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert failed and finished and len(failed) + len(finished) == 4
    for child in failed:
        assert child.data.params["loss.name"] == "binary_crossentropy"
        assert "cannot train a regression task" in child.data.tags["optlab.error"]
    assert {c.data.params["loss.name"] for c in finished} == {"auto"}
    assert parents[0].data.tags["optlab.failed_runs"] == str(len(failed))

    # For Optuna a failed trial is FAIL, and the best is the lowest RMSE.
    trials = optuna.load_study(study_name="optuna_adam-iris", storage=storage).trials
    states = [t.state.name for t in sorted(trials, key=lambda t: t.number)]
    by_job = ["FAIL" if c.info.status == "FAILED" else "COMPLETE" for c in children]
    assert states == by_job
    low = min(c.data.metrics["val_rmse"] for c in finished)
    assert parents[0].data.metrics["best_trial_val_rmse"] == pytest.approx(low)
    assert parents[0].data.params["sweep.optuna.direction"] == "minimize"
