"""Reproduce a logged run bit for bit: its config, checked against this checkout, trained again.

The library behind ``python -m pipeline.reproduce <run_id>`` (``optlab reproduce``):

1. read the run and its logged, resolved config (the ``config.yaml`` artifact);
2. check that this checkout's data (``data.digest``) and code (git commit, no
   uncommitted changes) are the run's, else stop with what differs and how to fix it
   (``force`` trains anyway);
3. train into a new run in the same experiment, tagged
   :data:`~pipeline.config.contract.REPRODUCES_TAG` with the original's id;
4. compare every metric, each per-epoch value included, timings aside: reproduced
   only if all are bit-identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.config import contract
from pipeline.config.compose import validate
from pipeline.config.paths import layout, project_root
from pipeline.system import machine
from pipeline.tracking import provenance

CONFIG_ARTIFACT = "config.yaml"  # the resolved config every training logs (pipeline.training.train)
RUN_NAME_SUFFIX = "-reproduced"
SYSTEM_PREFIX = "system/"  # MLflow's system metrics (CPU, memory): never reproducible


@dataclass
class Reproduction:
    """The outcome: the new run and every metric value that differs (empty: bit-identical)."""

    original: str
    run_id: str
    compared: int
    differences: list[str] = field(default_factory=list)
    # How the two runs' machines differ where it changes bits (empty: alike), and the
    # largest difference of a metric value between them.
    machines: list[str] = field(default_factory=list)
    largest: float = 0.0

    @property
    def identical(self) -> bool:
        return not self.differences


def logged_config(client, run_id: str, uri: str) -> tuple[DictConfig, object]:
    """The run and its logged config, validated against today's schemas.

    Raises:
        ValueError: An unknown run id, or a run without the config artifact.
    """
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise ValueError(f"unknown run id {run_id!r} in {uri}") from error
    try:
        text = Path(client.download_artifacts(run_id, CONFIG_ARTIFACT)).read_text()
    except (MlflowException, OSError) as error:
        raise ValueError(
            f"run {run_id} has no {CONFIG_ARTIFACT} artifact: not an optlab training run, "
            "or one that failed before training"
        ) from error
    return validate(OmegaConf.create(text)), run


def mismatches(run, data_dir: Path, root: Path) -> list[str]:
    """What differs between the run's data and code and this checkout's, each with its fix."""
    tags = run.data.tags
    problems = []
    logged = tags.get(provenance.DATA_DIGEST_TAG)
    if not data_dir.is_dir():
        problems.append(f"no data at {data_dir} (build it: dvc repro preprocess)")
    else:
        here = provenance.data_tags(data_dir, root)[provenance.DATA_DIGEST_TAG]
        if logged != here:
            problems.append(
                f"data digest {here} of {data_dir} is not the run's {logged} "
                "(check out the run's commit and `dvc repro preprocess`, or pass --data)"
            )
    source = provenance.source_tags(root)
    commit, current = tags.get(provenance.GIT_COMMIT_TAG), source.get(provenance.GIT_COMMIT_TAG)
    if commit is None:
        problems.append("the run recorded no git commit: its code cannot be checked")
    elif commit != current:
        problems.append(f"git commit {current} is not the run's {commit} (git checkout {commit})")
    if tags.get(provenance.GIT_DIRTY_TAG) == "true":
        problems.append("the run's checkout had uncommitted changes: its code cannot be checked")
    if source.get(provenance.GIT_DIRTY_TAG) == "true":
        problems.append("this checkout has uncommitted changes (commit or stash them)")
    return problems


def metric_values(client, original: str, new: str) -> list[tuple[str, int, Any, Any]]:
    """``(metric, step, original value, reproduced value)`` for every logged step of every
    metric of either run (None where a run lacks it); timings and system metrics, which
    no reproduction can match, are left out."""
    keys = set(client.get_run(original).data.metrics) | set(client.get_run(new).data.metrics)
    keys = sorted(
        k for k in keys if k not in contract.TIMING_METRICS and not k.startswith(SYSTEM_PREFIX)
    )
    values = []
    for key in keys:
        old = {m.step: m.value for m in client.get_metric_history(original, key)}
        now = {m.step: m.value for m in client.get_metric_history(new, key)}
        values += [(key, step, old.get(step), now.get(step)) for step in sorted(old | now)]
    return values


def differences_of(values: list[tuple[str, int, Any, Any]]) -> tuple[int, list[str]]:
    """How many metric values were compared (:func:`metric_values`), and each that is not
    bit-identical."""
    differences = []
    for key, step, a, b in values:
        if a != b or (a is None) != (b is None):
            at = f" at epoch {step}" if step > 0 else ""  # test metrics are at step 0
            differences.append(f"{key}{at}: original {a!r}, reproduced {b!r}")
    return len(values), differences


def largest_difference(values: list[tuple[str, int, Any, Any]]) -> float:
    """The largest absolute difference between two values :func:`metric_values` paired."""
    return max((abs(a - b) for _, _, a, b in values if None not in (a, b)), default=0.0)


# The optlab.cpu.* tags whose difference explains different bits (pipeline.system.machine).
BITS_TAGS = ("isa", "threads", "numpy_dispatch", "tensorflow", "same_bits")


def machine_differences(original: dict[str, str], new: dict[str, str]) -> list[str]:
    """``isa: this run avx512, the original avx2`` for each of :data:`BITS_TAGS` that
    differs between two runs' tags."""
    lines = []
    for name in BITS_TAGS:
        key = machine.TAG_PREFIX + name
        if original.get(key) != new.get(key):
            was = original.get(key, "not recorded")
            lines.append(f"{name}: this run {new.get(key, 'not recorded')}, the original {was}")
    return lines


def reproduce(
    run_id: str,
    uri: str,
    *,
    force: bool = False,
    data_root: str | os.PathLike[str] | None = None,
) -> Reproduction:
    """Train run ``run_id`` of store ``uri`` again and compare the metrics.

    Args:
        run_id: The run to reproduce.
        uri: Its tracking store; the new run goes there, in the same experiment.
        force: Train even when the data or the code differ from the run's.
        data_root: The preprocessed data (default: the layout's ``processed``).

    Raises:
        ValueError: An unknown run, a run without its config, or (unless ``force``)
            data or code that differ from the run's, listing each difference.
    """
    from mlflow.tracking import MlflowClient  # lazy, for cost

    client = MlflowClient(uri)
    cfg, run = logged_config(client, run_id, uri)
    root = project_root()
    data_root = Path(data_root or layout().processed)
    problems = mismatches(run, data_root / cfg.dataset.name, root)
    if problems and not force:
        raise ValueError(
            f"run {run_id} cannot be reproduced from this checkout: {'; '.join(problems)}; "
            "or pass --force to train anyway"
        )
    cfg.mlflow.tracking_uri = uri
    cfg.mlflow.experiment_name = client.get_experiment(run.info.experiment_id).name
    cfg.mlflow.run_name = run.info.run_name
    from pipeline.training.train import train  # lazy, for cost: it loads TensorFlow

    result = train(
        cfg,
        data_root=data_root,
        extra_tags={contract.REPRODUCES_TAG: run_id},
        run_name_suffix=RUN_NAME_SUFFIX,
    )
    values = metric_values(client, run_id, result.run_id)
    compared, differences = differences_of(values)
    machines = machine_differences(run.data.tags, client.get_run(result.run_id).data.tags)
    return Reproduction(
        run_id, result.run_id, compared, differences, machines, largest_difference(values)
    )
