"""The projects the benchmarks run in: temporary copies of this checkout (its code as it is
now), their data fetched from the mirror with the project's own ``dvc repro``.

Nothing is read from or written to this checkout's ``data/``, ``mlflow.db`` or
``dvc.lock``: every benchmark builds the state it measures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

from benchmarks.procs import BIN, env_for, measure
from pipeline.data.download import MIRROR_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a copy of the project needs to run its DVC pipeline (code, configuration, layout).
PROJECT_FILES = (
    "conf",
    "pipeline",
    "hydra_plugins",
    "dvc.yaml",
    ".dvcignore",
    ".dvc/config",
    ".gitignore",
)


class Skip(Exception):
    """A benchmark cannot run here; the message says why, in one line."""


def mirror_url() -> str:
    """``$OPTLAB_DATA_MIRROR``, checked as far as it can be without fetching.

    Raises:
        Skip: it is unset, or a ``file://`` mirror lacks one of the files.
    """
    url = os.environ.get(MIRROR_ENV, "").strip()
    if not url:
        raise Skip(f"{MIRROR_ENV} is not set: the benchmarks run only on the real data")
    parsed = urlparse(url)
    if parsed.scheme == "file":
        root = Path(unquote(parsed.path))
        missing = [f for f in mirror_files() if not (root / f).is_file()]
        if missing:
            raise Skip(f"{MIRROR_ENV}={url} lacks {', '.join(missing)}")
    return url


def mirror_files() -> list[str]:
    """``<mirror_dir>/<file>`` of every raw file the catalogue (``conf/data/default.yaml``)
    names."""
    catalogue = yaml.safe_load((REPO_ROOT / "conf" / "data" / "default.yaml").read_text())
    return [
        f"{entry['mirror_dir']}/{name}"
        for entry in catalogue["datasets"].values()
        for name in entry["files"]
    ]


def copy_files(dest: Path) -> Path:
    """Copy :data:`PROJECT_FILES` of this checkout into ``dest`` (created)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def copy_project(dest: Path) -> Path:
    """A git repository holding this checkout's code and configuration, committed."""
    commit(copy_files(dest), "project copy", init=True)
    return dest


def commit(repo: Path, message: str, init: bool = False) -> None:
    """Commit everything in ``repo`` (after ``git init`` if ``init``)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.org",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.org",
    }
    steps = [["init", "-q"]] if init else []
    steps += [["add", "-A"], ["commit", "-qm", message, "--allow-empty"]]
    for args in steps:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def dvc_repro(project: Path, mirror: str, *targets: str) -> float:
    """``dvc repro [targets]`` in ``project`` with the mirror; its wall seconds."""
    env = env_for(project, OPTLAB_DATA_MIRROR=mirror)
    return measure([str(BIN / "dvc"), "repro", *targets], project, env).seconds


def data_project(dest: Path, mirror: str) -> tuple[Path, float]:
    """A project copy with the three datasets downloaded and preprocessed (committed),
    and the seconds that took."""
    project = copy_project(dest)
    seconds = dvc_repro(project, mirror, "preprocess")
    commit(project, "data")
    return project, seconds


def fast_baselines(project: Path) -> None:
    """One epoch for every baseline (a no-op ``dvc repro`` costs the same for any number
    of epochs: it hashes the outputs, it does not train)."""
    from omegaconf import OmegaConf  # lazy, for cost

    path = project / "conf" / "config.yaml"
    merged = OmegaConf.merge(
        OmegaConf.load(path), {"training": {"epochs": 1}, "runtime": {"verbose": 0}}
    )
    OmegaConf.save(merged, path)
