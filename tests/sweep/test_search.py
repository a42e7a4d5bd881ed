"""pipeline.sweep.search: the Optuna preset's direction and seed, and a study's best trial
recorded on its parent (tests/e2e/test_optuna_sweep.py runs a real study)."""

from __future__ import annotations

import os
import time

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.config import contract
from pipeline.config.compose import CONFIG_NAME, HYDRA_VERSION_BASE, register_configs
from pipeline.sweep.search import (
    RESULTS_FILE,
    BestTrial,
    best_runs,
    direction,
    read_best,
    record_study,
    register_resolvers,
    study_params,
)
from pipeline.tracking.store import NOTE_TAG, ensure_experiment
from tests.helpers import REPO_ROOT

OPTUNA = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def test_the_direction_follows_the_tasks_primary_metric():
    assert direction("multiclass") == direction("binary") == "maximize"  # val_accuracy
    assert direction("regression") == "minimize"  # val_rmse


def preset_hydra(*overrides: str):
    """The Optuna preset composed as ``python -m pipeline.train -m`` composes it."""
    register_configs()
    register_resolvers()
    register_resolvers()  # idempotent: the CLI and a test may both register
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base=HYDRA_VERSION_BASE):
        cfg = compose(
            CONFIG_NAME, ["+experiment=optuna_adam", *overrides], return_hydra_config=True
        )
    return cfg


def test_the_preset_searches_adams_learning_rate_and_batch_size_with_a_seeded_tpe():
    cfg = preset_hydra()
    sweeper = cfg.hydra.sweeper
    assert cfg.optimizer.name == "adam" and sweeper._target_ == OPTUNA
    assert dict(sweeper.params) == {
        "optimizer.learning_rate": "tag(log, interval(1e-4, 1e-1))",
        "training.batch_size": "choice(16, 32, 64, 128, 256)",
    }
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert sweeper.sampler.seed == cfg.training.seed == 42
    assert sweeper.direction == "maximize" and sweeper.storage is None
    assert sweeper.max_failure_rate == 1.0  # a failed trial does not end the study


def test_the_sweeper_hydra_builds_gets_the_seed_and_direction_of_the_run_config():
    cfg = preset_hydra("dataset=iris", "dataset.task=regression", "training.seed=7")
    built = instantiate(cfg.hydra.sweeper).sweeper  # what Hydra's multirun instantiates
    assert built.direction == "minimize"
    assert built.study_name == "optuna_adam-iris"
    drawn = first_draw(built.sampler)
    assert drawn == first_draw(optuna.samplers.TPESampler(seed=7))
    assert drawn != first_draw(optuna.samplers.TPESampler(seed=42))  # the default seed's


def first_draw(sampler) -> float:
    """The first learning rate a fresh study draws with ``sampler``."""
    study = optuna.create_study(sampler=sampler)
    space = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    return study.ask(space).params["lr"]


def write_results(folder, results) -> None:
    """The results file as the sweeper writes it (OmegaConf.save)."""
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(results), folder / RESULTS_FILE)


def test_the_best_trial_is_read_from_the_sweepers_results(tmp_path):
    params = {"optimizer.learning_rate": 0.0031415, "training.batch_size": 64}
    write_results(tmp_path, {"name": "optuna", "best_params": params, "best_value": 0.9})
    best = read_best(tmp_path)
    assert best == BestTrial(params=params, value=0.9)
    assert best.overrides() == "optimizer.learning_rate=0.0031415 training.batch_size=64"


def test_no_best_trial_without_a_file_from_this_sweep_or_with_several_objectives(tmp_path):
    assert read_best(tmp_path) is None
    write_results(tmp_path, {"name": "optuna", "best_params": {"a": 1}, "best_value": 0.9})
    old = time.time() - 3600
    os.utime(tmp_path / RESULTS_FILE, (old, old))  # left by an earlier sweep in this folder
    assert read_best(tmp_path, since=time.time() - 60) is None
    write_results(tmp_path, {"name": "optuna", "solutions": [{"params": {}, "values": [1, 2]}]})
    assert read_best(tmp_path) is None


@pytest.fixture(scope="module")
def client_and_experiment(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('search') / 'mlflow.db'}"
    return MlflowClient(uri), ensure_experiment(uri, "iris")


def make_sweep(client, experiment, children_params):
    """A parent with a note and children with the given params (and statuses)."""
    parent = client.create_run(experiment, tags={contract.SWEEP_TAG: contract.PARENT})
    client.set_tag(parent.info.run_id, NOTE_TAG, "## iris (multiclass): the ranking")
    children = []
    for params, status in children_params:
        run = client.create_run(experiment, tags={contract.PARENT_RUN_TAG: parent.info.run_id})
        for key, value in params.items():
            client.log_param(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id, status)
        children.append(client.get_run(run.info.run_id))
    return parent.info.run_id, children


def test_the_best_trials_runs_are_the_finished_children_with_its_params(client_and_experiment):
    client, experiment = client_and_experiment
    _, children = make_sweep(
        client,
        experiment,
        [
            ({"optimizer.learning_rate": "0.0031415", "optimizer.name": "adam"}, "FINISHED"),
            ({"optimizer.learning_rate": "0.0031415", "optimizer.name": "sgd"}, "FINISHED"),
            ({"optimizer.learning_rate": "0.0031415", "optimizer.name": "adam"}, "FAILED"),
            ({"optimizer.learning_rate": "0.01", "optimizer.name": "adam"}, "FINISHED"),
        ],
    )
    # A group's choice (optimizer=adam) is matched against its logged name.
    best = BestTrial(params={"optimizer.learning_rate": 0.0031415, "optimizer": "adam"}, value=1)
    assert best_runs(children, best) == [children[0]]


def sweep_config(tmp_path, sweeper=OPTUNA, task="multiclass"):
    return OmegaConf.create(
        {
            "dataset": {"task": task},
            "hydra": {
                "sweep": {"dir": str(tmp_path)},
                "sweeper": {
                    "_target_": sweeper,
                    "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 42},
                    "direction": direction(task),
                    "n_trials": 2,
                    "n_jobs": 1,
                    "storage": "postgresql://optuna:s3cret@db.example.org/optuna",
                    "study_name": "optuna_adam-iris",
                },
            },
        }
    )


def test_the_study_and_its_best_trial_are_recorded_on_the_parent(client_and_experiment, tmp_path):
    client, experiment = client_and_experiment
    parent, children = make_sweep(
        client,
        experiment,
        [
            ({"optimizer.learning_rate": "0.0001", "training.batch_size": "32"}, "FINISHED"),
            ({"optimizer.learning_rate": "0.05", "training.batch_size": "16"}, "FINISHED"),
        ],
    )
    best = {"optimizer.learning_rate": 0.05, "training.batch_size": 16}
    write_results(tmp_path, {"name": "optuna", "best_params": best, "best_value": 0.8})

    assert record_study(client, parent, sweep_config(tmp_path), children).value == 0.8

    run = client.get_run(parent)
    tags = run.data.tags
    assert tags[contract.BEST_PARAMS_TAG] == "optimizer.learning_rate=0.05 training.batch_size=16"
    assert tags[contract.BEST_RUNS_TAG] == children[1].info.run_id
    assert run.data.metrics["best_trial_val_accuracy"] == 0.8
    # The Overview shows the best trial first, then the report's ranking.
    assert tags[NOTE_TAG].startswith("## Optuna's best trial: val_accuracy 0.8\n")
    assert "`optimizer.learning_rate=0.05 training.batch_size=16`" in tags[NOTE_TAG]
    assert tags[NOTE_TAG].endswith("## iris (multiclass): the ranking")
    assert run.data.params["sweep.optuna.sampler"] == "TPESampler"
    assert run.data.params["sweep.optuna.seed"] == "42"
    assert run.data.params["sweep.optuna.direction"] == "maximize"
    assert "s3cret" not in run.data.params["sweep.optuna.storage"]


def test_a_grid_sweep_and_a_study_without_a_best_trial_record_no_best(
    client_and_experiment, tmp_path
):
    client, experiment = client_and_experiment
    parent, children = make_sweep(client, experiment, [({"a": "1"}, "FAILED")])
    write_results(tmp_path, {"name": "optuna", "best_params": {"a": 1}, "best_value": 0.5})
    assert record_study(client, parent, sweep_config(tmp_path, sweeper=BASIC), children) is None
    assert client.get_run(parent).data.params == {}
    (tmp_path / RESULTS_FILE).unlink()  # every trial failed: the sweeper wrote none
    assert record_study(client, parent, sweep_config(tmp_path), children) is None
    run = client.get_run(parent)
    assert contract.BEST_PARAMS_TAG not in run.data.tags and run.data.metrics == {}
    assert run.data.params["sweep.optuna.n_trials"] == "2"  # the settings all the same


def test_study_params_mask_a_storage_password():
    sweeper = sweep_config("/tmp").hydra.sweeper
    assert study_params(sweeper)["sweep.optuna.storage"] == (
        "postgresql://optuna:***@db.example.org/optuna"
    )
