"""The sweep callback's bookkeeping (pipeline.sweep.callback), without running a sweep
(tests/e2e/test_sweep.py runs one)."""

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from pipeline.sweep.callback import (
    check_jobs,
    planned_jobs,
    sweep_params,
    swept_keys,
)
from tests.helpers import REPO_ROOT, tool_env

BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def hydra(task, preset=None, n_jobs=None, sweeper=BASIC):
    launcher = {"n_jobs": n_jobs} if n_jobs is not None else {}
    return OmegaConf.create(
        {
            "overrides": {"task": task},
            "sweeper": {"_target_": sweeper, "params": preset},
            "launcher": launcher,
        }
    )


def test_swept_keys_are_those_with_several_values():
    h = hydra(["dataset=mnist", "optimizer=sgd,adam", "+experiment=x"], {"activation": "relu,tanh"})
    assert swept_keys(h) == {"optimizer", "activation"}
    assert swept_keys(hydra(["dataset=iris,mnist"])) == {"dataset"}


def test_command_line_values_win_over_the_preset_and_bookkeeping_keys_are_left_out():
    h = hydra(
        ["activation=relu,tanh", "sweep.seeds=3", "+experiment=activations"],
        {"activation": "linear,step,sigmoid"},
    )
    assert sweep_params(h) == {"activation": "relu,tanh"}


def test_the_planned_jobs_are_numbered_as_hydras_basic_sweeper_numbers_them():
    """The sweep's end compares them with its children, to find a job that never ran."""
    h = hydra(["dataset=iris", "optimizer=sgd,adam"], {"activation": "relu,tanh"})
    assert planned_jobs(h) == [
        ["activation=relu", "dataset=iris", "optimizer=sgd"],
        ["activation=relu", "dataset=iris", "optimizer=adam"],
        ["activation=tanh", "dataset=iris", "optimizer=sgd"],
        ["activation=tanh", "dataset=iris", "optimizer=adam"],
    ]
    assert planned_jobs(hydra(["optimizer=sgd,adam"], sweeper="hydra_plugins.x.Optuna")) is None


def sweep(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    """``python -m pipeline.train -m OVERRIDES`` into a store and sweep folder in ``tmp_path``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.train",
            "-m",
            *overrides,
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
        ],
        cwd=REPO_ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_sweep_with_a_bad_value_stops_before_any_run(tmp_path):
    """Hydra turns a callback's exception into a warning and would run every job without
    a parent: a bad value must stop the sweep itself, in one line, before the store."""
    done = sweep(tmp_path, "training.batch_size=0", "optimizer=sgd,adam")
    assert (done.returncode, done.stderr) == (1, "error: training.batch_size=0: must be ≥ 1\n")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "sweep").exists()


def test_every_planned_jobs_overrides_are_checked_naming_the_job():
    jobs = planned_jobs(hydra(["dataset=iris", "training.batch_size=16,0", "activation=relu,tanh"]))
    with pytest.raises(ValueError) as info:
        check_jobs(jobs, REPO_ROOT / "conf")
    assert str(info.value) == (
        "training.batch_size=0: must be ≥ 1 (job 2: training.batch_size=0 activation=relu)"
    )
    good = planned_jobs(
        hydra(["dataset=iris", "+experiment=activations"], {"activation": "relu,elu"})
    )
    check_jobs(good, REPO_ROOT / "conf")  # options, presets and values all valid
    check_jobs([], REPO_ROOT / "conf")


@pytest.mark.parametrize(
    ("swept", "message"),
    [
        (
            "activation=relu,nope",
            "unknown activation 'nope'; valid activations: elu, gelu, leaky_relu, linear, maxout, "
            "mish, relu, selu, sigmoid, softplus, step, swish, tanh (job 1: activation=nope)",
        ),
        (
            "training.batch_size=32,0",
            "training.batch_size=0: must be ≥ 1 (job 1: training.batch_size=0)",
        ),
        (
            "model.kernel_initializer=he_normal,he_norml",
            "model.kernel_initializer='he_norml': not a Keras initializer name; valid: "
            "glorot_normal,",
        ),
    ],
)
def test_a_bad_value_in_a_swept_list_stops_the_sweep_before_any_run(tmp_path, swept, message):
    """Hydra would run the good jobs first (or, for an option conf/ lacks, fail the whole
    sweep after its parent run was made)."""
    done = sweep(tmp_path, swept, "dataset=iris")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {message}") and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "sweep").exists()
