"""The ``optlab`` console script: its commands reach the same entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT, tool_env

OPTLAB = str(Path(sys.executable).parent / "optlab")


def optlab(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OPTLAB, *args], cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=120
    )


def test_an_unknown_command_names_it_and_the_valid_ones():
    done = optlab("trian")
    assert done.returncode == 2
    assert (
        done.stderr
        == "optlab: unknown command 'trian'; valid: train, compare, ui, cleanup, reproduce\n"
    )
    assert (
        optlab().stderr
        == "optlab: unknown command none; valid: train, compare, ui, cleanup, reproduce\n"
    )


def test_ui_and_compare_pass_their_arguments_on(tmp_path):
    done = optlab("ui", "--port", "70000")
    assert (done.returncode, done.stderr) == (
        2,
        "error: PORT='70000' is not a port; valid: an integer from 1 to 65535\n",
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = optlab("compare", "--tracking-uri", store, "--experiment", "nope", "--out", "x")
    assert done.returncode == 1
    # (a fresh store first logs MLflow's own schema creation)
    assert f"\nerror: unknown experiment 'nope' in {store}; existing experiments: Default\n" in (
        "\n" + done.stderr
    )


def test_train_is_the_hydra_app_and_rejects_a_bad_choice_before_training(tmp_path):
    done = optlab("train", "optimizer=adma", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 1
    assert "Could not find 'optimizer/adma'" in done.stderr
    assert "adam" in done.stderr  # Hydra lists the available options
