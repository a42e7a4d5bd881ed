"""The train stage's command line (pipeline.stages.train): bad input is one clear line,
before TensorFlow loads. A real `dvc repro` of it is in tests/e2e/."""

from __future__ import annotations

import subprocess
import sys
import time

from omegaconf import OmegaConf

from pipeline.system.quiet import DEBUG_ENV
from tests.helpers import REPO_ROOT, TRAIN_STAGE_WITHOUT_TENSORFLOW, tool_env


def _stage(*argv: str, cwd=REPO_ROOT) -> subprocess.CompletedProcess:
    code = TRAIN_STAGE_WITHOUT_TENSORFLOW
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=cwd,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unknown_dataset_lists_the_baselines():
    done = _stage("cifar10")
    assert done.returncode == 1, done.stderr
    assert "error: unknown baseline dataset 'cifar10'; valid baseline datasets: iris, mnist, " in (
        done.stderr
    )


def test_a_missing_params_file_says_how_to_make_it(tmp_path):
    done = _stage("iris", "--params", str(tmp_path / "params.yaml"))
    assert done.returncode == 1, done.stderr
    assert (
        "not found; generate it from conf/ with `python -m pipeline.stages.config`" in done.stderr
    )


def test_a_bad_value_in_params_yaml_is_one_line_within_3_seconds(tmp_path):
    """The issue's bound: the error arrives in under 3 s, before TensorFlow (asserted by
    _stage), naming the key, the value and the valid range."""
    params = OmegaConf.load(REPO_ROOT / "params.yaml")
    params.training.batch_size = 0
    params.model.dropout = 1.5
    OmegaConf.save(params, tmp_path / "params.yaml")
    started = time.monotonic()
    done = _stage("iris", "--params", str(tmp_path / "params.yaml"))
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "error: model.dropout=1.5: must be in [0, 1); training.batch_size=0: must be ≥ 1\n"
        f"(set {DEBUG_ENV}=1 to see the traceback)\n"
    )
    assert elapsed < 3


def test_a_bad_combination_in_params_yaml_is_one_line_before_tensorflow(tmp_path):
    """Checked from the config alone (pipeline.training.planning.check): a CNN on iris's table."""
    params = OmegaConf.load(REPO_ROOT / "params.yaml")
    params.model = {"name": "cnn"}
    OmegaConf.save(params, tmp_path / "params.yaml")
    done = _stage("iris", "--params", str(tmp_path / "params.yaml"))
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "error: model 'cnn' needs image data; iris is tabular. Valid models: mlp\n"
        f"(set {DEBUG_ENV}=1 to see the traceback)\n"
    )
