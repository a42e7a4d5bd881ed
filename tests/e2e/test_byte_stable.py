"""Byte-stable DVC outputs (issue 9, item 5): a real ``dvc repro compare`` (the three
trainings and the comparison) in two project copies at once, each in its own processes
with other thread counts and ``steps_per_execution``, gives byte-identical outputs and
``dvc.lock`` entries; a forced rerun leaves git clean."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tests.helpers import dvc, dvc_process, git, prepared_copy

pytestmark = pytest.mark.slow
# DVC outputs of the train and compare stages, relative to the project.
OUTPUT_DIRS = ("models", "reports/train", "reports/compare")


def outputs(repo: Path) -> dict[str, bytes]:
    """Every file the train and compare stages wrote, by path."""
    return {
        path.relative_to(repo).as_posix(): path.read_bytes()
        for folder in OUTPUT_DIRS
        for path in sorted((repo / folder).rglob("*"))
        if path.is_file() and path.name != ".gitignore"
    }


def locked(repo: Path) -> dict:
    """dvc.lock's entries of the train and compare stages."""
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {k: v for k, v in stages.items() if k.startswith(("train@", "compare"))}


def with_runtime(repo: Path, **runtime: int) -> None:
    """Set runtime settings in the copy's conf/ (none of them a DVC param of training)."""
    path = repo / "conf" / "config.yaml"
    OmegaConf.save(OmegaConf.merge(OmegaConf.load(path), {"runtime": runtime}), path)


def test_two_runs_with_other_runtime_settings_give_identical_bytes(tmp_path, mirror_dir, server):
    copies = []
    for name, runtime in (
        # The intra-op count is no longer among them: it changes results (runtime.py).
        ("a", {"inter_op_threads": 1, "steps_per_execution": 1}),
        ("b", {"inter_op_threads": 2, "steps_per_execution": 3}),
    ):
        repo, env = prepared_copy(tmp_path / name, mirror_dir, server.url)
        with_runtime(repo, **runtime)
        copies.append((repo, env))
    # Both at once, each in its own processes: the trainings and the comparison.
    logs = [repo.with_suffix(".log") for repo, _ in copies]
    running = [
        dvc_process(repo, "repro", "compare", env=env, log=log)
        for (repo, env), log in zip(copies, logs, strict=True)
    ]
    for process, log in zip(running, logs, strict=True):
        assert process.wait(timeout=600) == 0, log.read_text()[-5000:]
    (a, env_a), (b, _) = copies

    files = outputs(a)
    assert {"models/iris.keras", "reports/train/mnist/run.json", "reports/compare/runs.csv"} <= (
        set(files)
    )
    assert files == outputs(b)
    assert locked(a) == locked(b)

    # A forced rerun of a training and the comparison, in new processes, changes nothing
    # that git or DVC tracks.
    git(a, "add", "-A")
    git(a, "commit", "-qm", "baselines")
    lock = (a / "dvc.lock").read_bytes()
    done = dvc(a, "repro", "-f", "train@iris", "compare", env=env_a)
    assert "Running stage 'train@iris'" in done.stdout
    assert "Running stage 'compare'" in done.stdout
    assert git(a, "status", "--porcelain") == ""
    assert (a / "dvc.lock").read_bytes() == lock
    assert outputs(a) == files
