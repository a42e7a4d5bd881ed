"""The DVC train stage in a process of its own, on tiny data, for the interruption tests.

:func:`start` writes a project (``dvc.yaml`` and a ``params.yaml`` for the tiny
data) into a folder and starts ``python -m pipeline.stages.train mnist`` there, as
``dvc repro`` would; the tests then signal or kill it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config.compose import write_params
from tests.helpers import FAST_TRAINING, REPO_ROOT, tiny_config, tool_env

# Long enough to be interrupted between epochs (about 40 ms each), short enough for a test.
OVERRIDES = [
    *FAST_TRAINING,
    "training.epochs=12",
    "training.batch_size=2",
    "model.hidden_units=[16]",
    "mlflow.log_model=false",
]


def make_project(folder: Path, mirror: Path, store: str, *overrides: str) -> Path:
    """A project folder whose ``params.yaml`` trains the tiny MNIST into ``store``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "dvc.yaml", folder / "dvc.yaml")
    cfg = tiny_config(mirror, overrides=[*OVERRIDES, f"mlflow.tracking_uri={store}", *overrides])
    cfg.baselines.mnist.epochs = cfg.training.epochs
    write_params(cfg, folder / "params.yaml")
    return folder


def start(project: Path, data_root: Path) -> subprocess.Popen:
    """``python -m pipeline.stages.train mnist`` in ``project``, its outputs under ``out/``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.stages.train",
            "mnist",
            "--data",
            str(data_root),
            "--reports",
            "out/reports",
            "--model",
            "out/mnist.keras",
        ],
        cwd=project,
        env=tool_env(PYTHONPATH=str(REPO_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def backed_up_epochs(project: Path) -> int:
    """The epochs the training's backup holds (0: none yet)."""
    for metadata in (project / ".optlab" / "backups").glob("*/state/training_metadata.json"):
        return json.loads(metadata.read_text())["epoch"]
    return 0


def wait_for_epoch(process: subprocess.Popen, project: Path, epoch: int, timeout: float = 400):
    """Wait (bounded) until the training has backed up ``epoch`` epochs."""
    deadline = time.monotonic() + timeout
    while backed_up_epochs(project) < epoch:
        if process.poll() is not None:
            raise AssertionError(f"training ended first:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no epoch {epoch} within {timeout} s")
        time.sleep(0.01)


def cleanup(project: Path, store: str, *args: str) -> subprocess.CompletedProcess:
    """``optlab cleanup`` on ``store``, run from ``project``."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cleanup", "--tracking-uri", store, *args],
        cwd=project,
        env=tool_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
