"""Where things are: the project root and its layout (and, under ``dvc exp run``, the
user's repository).

The layout is written once, as the ``paths`` of ``dvc.yaml``'s ``vars``: the stage
commands, deps and outs interpolate it there, and :func:`layout` reads it for
everything that runs outside DVC (``python -m pipeline.train``, ``optlab compare``).

The bottom of the import graph with :mod:`pipeline.config.schemas`: it imports nothing of
the project, so every module may ask it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

PIPELINE_FILE = "dvc.yaml"
PARAMS_FILE = "params.yaml"  # DVC's default params file; generated from conf/


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """A YAML file's content, parsed with libyaml's safe loader when PyYAML has it (ten
    times the pure-Python one's speed: ``dvc.lock`` runs to thousands of lines)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(), Loader=loader)


def project_root(start: str | os.PathLike[str] | None = None, *, store: bool = False) -> Path:
    """The nearest folder above ``start`` (default: cwd) holding ``dvc.yaml``, else ``start``.

    With ``store``, the folder whose MLflow store to use: ``$DVC_ROOT`` under
    ``dvc exp run``, which DVC points at the user's repository also from the
    temporary copies of ``--queue``/``--temp`` runs, so every run lands in one store.
    The code and data a run uses are those of the copy: without ``store``.
    """
    if store and os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PIPELINE_FILE).is_file():
            return folder
    return here


@dataclass(frozen=True)
class Layout:
    """The project's folders, absolute. Per-dataset ones hold ``<dataset>/`` (or
    ``<dataset>.json``, ``<dataset>.keras``)."""

    conf: Path  # the Hydra configuration
    raw: Path  # downloaded files, verified
    processed: Path  # train / validation / test splits
    data_reports: Path  # one summary JSON per dataset
    train_reports: Path  # metrics.json, history.csv, run.json per dataset
    models: Path  # the baselines' .keras files
    compare_reports: Path  # the comparison report of the baselines
    lessons: Path  # the lessons table, lessons.md and lessons.csv (pipeline.lessons)
    figures: Path  # the course's figures (pipeline.figures)
    backups: Path  # interrupted trainings' states, to resume from (no DVC output, git-ignored)
    offline: Path  # runs whose server went away, kept to upload later (no DVC output, git-ignored)
    state: Path  # what saves work between runs, e.g. data folders' hashes (git-ignored)


def layout(root: str | os.PathLike[str] | None = None) -> Layout:
    """The layout ``dvc.yaml`` declares, resolved against the project root.

    Raises:
        FileNotFoundError: No ``dvc.yaml`` at or above ``root`` (default: cwd).
        ValueError: Its ``vars`` lack a ``paths`` entry naming every folder.
    """
    root = project_root(root)
    file = root / PIPELINE_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"no {PIPELINE_FILE} in {root} or above: run from an optimizer-lab checkout"
        )
    declared = next(
        (
            entry["paths"]
            for entry in (read_yaml(file) or {}).get("vars", [])
            if isinstance(entry, dict) and "paths" in entry
        ),
        {},
    )
    names = [f.name for f in fields(Layout)]
    missing = [name for name in names if name not in declared]
    if missing:
        raise ValueError(
            f"{file}: vars.paths lacks {', '.join(missing)} (needs: {', '.join(names)})"
        )
    return Layout(**{name: root / declared[name] for name in names})
