"""Which seeds a sweep's next round trains (pipeline.sweep.rounds), on a real MLflow store of
runs shaped like a sweep's children (no training: tests/e2e/test_sweep.py trains a sweep
with sweep.seeds=auto)."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.compare.pairwise import Looks
from pipeline.config import contract
from pipeline.sweep.rounds import design, next_seeds
from pipeline.tracking.store import ensure_experiment
from tests.fake_runs import params_of, training_run

# Test accuracy by seed: adam the best; sgd far below it (worse at the first look, whose
# level is about 1e-5); rmsprop level with adam (undecided at 3 seeds: neither different nor
# shown within ±0.005 at that level; shown within ±0.05).
ACCURACY = {
    "adam": [0.9500, 0.9502, 0.9498],
    "sgd": [0.8000, 0.8002, 0.7998],
    "rmsprop": [0.9499, 0.9502, 0.9496],
}
JOBS = {"adam": "0", "sgd": "1", "rmsprop": "2"}


@pytest.fixture
def sweep(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = ensure_experiment(uri, "iris")
    parent = client.create_run(experiment, tags={contract.SWEEP_TAG: contract.PARENT})
    parent_id = parent.info.run_id

    def child(optimizer: str, seed: int, accuracy: float | None) -> None:
        name = f"iris-{optimizer}-s{seed}"
        tags = {
            contract.PARENT_RUN_TAG: parent_id,
            contract.SWEEP_TAG: contract.CHILD,
            contract.JOB_TAG: JOBS[optimizer],
        }
        params = params_of("iris", "multiclass", "relu", optimizer, seed, name, "iris")
        if accuracy is None:  # a seed that failed
            run = client.create_run(experiment, run_name=name, tags=tags).info.run_id
            for key in ("dataset.name", "dataset.task", "optimizer.name", "training.seed"):
                client.log_param(run, key, params[key])
            client.set_terminated(run, "FAILED")
            return
        metrics = {"test_accuracy": accuracy, "test_loss": 1 - accuracy}
        training_run(
            client, experiment, "iris", params, metrics, {"val_accuracy": [accuracy]}, tags
        )

    for optimizer, values in ACCURACY.items():
        for offset, value in enumerate(values):
            child(optimizer, 42 + offset, value)
    return uri, parent_id, child


def test_the_undecided_configuration_and_the_best_get_the_next_seed(sweep):
    uri, parent, _ = sweep
    assert next_seeds(uri, parent, Looks(3, 10), margin=0.005) == [("0", 3), ("2", 3)]


def test_a_failed_seed_counts_as_tried_and_the_next_offset_follows_it(sweep):
    uri, parent, child = sweep
    child("rmsprop", 45, None)  # offset 3 failed: the next is 4
    assert next_seeds(uri, parent, Looks(3, 10), margin=0.005) == [("0", 3), ("2", 4)]


def test_nothing_more_once_the_budget_is_spent_or_every_verdict_decided(sweep):
    uri, parent, child = sweep
    assert next_seeds(uri, parent, Looks(3, 3), margin=0.005) == []  # 3 of 3: exhausted
    # A margin of 0.05: rmsprop is shown equivalent to adam at the first look.
    assert next_seeds(uri, parent, Looks(3, 10), margin=0.05) == []


def test_a_sweeps_design_is_three_seeds_then_up_to_max_seeds():
    looks = design(OmegaConf.create({"seeds": "auto", "max_seeds": 6}))
    assert looks == Looks(3, 6, "obrien_fleming")
    assert looks.seeds() == [3, 4, 5, 6]
