"""Train a lesson's configurations over seeds, in this process, as MLflow runs.

Every training goes through :func:`pipeline.training.train`, the same code as
``python -m pipeline.train``: a lesson's configuration is ``conf/`` composed with
the lesson's overrides (a preset, ``+experiment=...``, and the choices it compares).
Its runs are children of the lessons' parent run, tagged with the lesson.

A configuration trained before, on the same data, is not trained again: a finished
run with the same run key (:data:`~pipeline.contract.RUN_KEY_TAG`) in the lessons'
experiment is read back instead, so an interrupted ``make lessons`` goes on where it
stopped. ``reuse=False`` trains everything afresh.
"""

from __future__ import annotations

import copy
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import contract
from pipeline.config import compose_config
from pipeline.lessons.measure import Probe, peak_memory
from pipeline.training import planned_run_key, train

log = logging.getLogger(__name__)


def _natural(name: str) -> list[Any]:
    """Sort key putting ``hidden_2`` before ``hidden_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class Trial:
    """One seed's run of a configuration."""

    run_id: str
    seed: int
    metrics: dict[str, float]
    history: pd.DataFrame


@dataclass(frozen=True)
class Trials:
    """A configuration's runs, one per seed."""

    label: str
    trials: tuple[Trial, ...]

    @property
    def run_ids(self) -> list[str]:
        return [t.run_id for t in self.trials]

    def metric(self, key: str) -> list[float]:
        """``key`` of every seed's run (a final metric, e.g. ``test_accuracy``)."""
        return [t.metrics[key] for t in self.trials]

    def final(self, column: str) -> list[float]:
        """``column`` of every seed's history at its last epoch."""
        return [float(t.history[column].iloc[-1]) for t in self.trials]

    def series(self, column: str) -> list[list[float]]:
        """``column`` of every seed's history, epoch by epoch."""
        return [t.history[column].astype(float).tolist() for t in self.trials]

    def columns(self, pattern: str) -> list[str]:
        """The history's columns that match ``pattern`` (a regular expression), in
        natural order (``hidden_2`` before ``hidden_10``)."""
        found = [c for c in self.trials[0].history.columns if re.fullmatch(pattern, c)]
        return sorted(found, key=_natural)


class Runner:
    """Trains configurations for the lessons: ``seeds`` runs each, children of
    ``parent_id`` in ``experiment`` of the store at ``uri``; ``overrides`` are added
    to every configuration's (after the lesson's, so they win)."""

    def __init__(
        self,
        uri: str,
        experiment: str,
        parent_id: str,
        seeds: int,
        data_root: str | Path | None = None,
        reuse: bool = True,
        config_dir: str | Path | None = None,
        overrides: Sequence[str] = (),
    ) -> None:
        from mlflow.tracking import MlflowClient  # lazy, for cost

        self.uri, self.experiment, self.parent_id = uri, experiment, parent_id
        self.seeds, self.data_root, self.reuse = seeds, data_root, reuse
        self.config_dir, self.overrides = config_dir, list(overrides)
        self.lesson = ""  # the lesson whose runs it trains (for_lesson)
        self.client = MlflowClient(uri)

    def for_lesson(self, lesson: str) -> Runner:
        """This runner, tagging the runs it trains with ``lesson``
        (:data:`~pipeline.contract.LESSON_TAG`)."""
        runner = copy.copy(self)
        runner.lesson = lesson
        return runner

    def run(
        self,
        label: str,
        overrides: Sequence[str],
        probe: Probe | None = None,
        seeds: int | None = None,
    ) -> Trials:
        """Train (or find) ``seeds`` runs (default: the runner's) of ``conf/`` composed
        with ``overrides``; ``probe`` measures each trained model."""
        cfg = compose_config(
            [
                *overrides,
                *self.overrides,
                f"mlflow.experiment_name={self.experiment}",
                f"mlflow.tracking_uri={self.uri}",
                "mlflow.log_model=false",
                "runtime.verbose=0",
            ],
            self.config_dir,
        )
        keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides if "experiment=" not in o]
        trials, first = [], cfg.training.seed
        for seed in range(first, first + (seeds or self.seeds)):  # as a sweep's sweep.seeds does
            cfg.training.seed = seed
            found = None
            if self.reuse:
                found = self._finished(planned_run_key(cfg, self.data_root), probe)
            if found is None:
                log.info("lesson %s: training %s, seed %d", self.lesson, label, seed)
                found = self._train(cfg, label, keys, probe)
            else:
                log.info(
                    "lesson %s: %s, seed %d, reused run %s", self.lesson, label, seed, found.run_id
                )
            trials.append(found)
        return Trials(label, tuple(trials))

    def _train(self, cfg: Any, label: str, keys: list[str], probe: Probe | None) -> Trial:
        with peak_memory() as probed:
            result = train(
                cfg,
                data_root=self.data_root,
                parent_run_id=self.parent_id,
                extra_tags={contract.LESSON_TAG: self.lesson, contract.LESSON_CONFIG_TAG: label},
                run_name_suffix=f"-{self.lesson}-s{cfg.training.seed}",
                label_keys=keys,
            )
        if probe is not None:
            probed.update(probe.measure(result))
        for key, value in probed.items():
            self.client.log_metric(result.run_id, key, value)
        metrics = {**result.metrics, **probed}
        return Trial(result.run_id, cfg.training.seed, metrics, result.history)

    def _finished(self, run_key: str, probe: Probe | None) -> Trial | None:
        """The latest finished run of this experiment with ``run_key`` (and, if the
        lesson probes its model, the probe's metrics); None if there is none."""
        experiment = self.client.get_experiment_by_name(self.experiment)
        if experiment is None:
            return None
        runs = self.client.search_runs(
            [experiment.experiment_id],
            f"tags.`{contract.RUN_KEY_TAG}` = '{run_key}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            return None
        run = runs[0]
        metrics = dict(run.data.metrics)
        if probe is not None and probe.key not in metrics:
            return None  # trained before the lesson probed its model: train again
        with tempfile.TemporaryDirectory() as tmp:
            path = self.client.download_artifacts(run.info.run_id, contract.HISTORY_FILE, tmp)
            history = pd.read_csv(path)
        seed = int(run.data.params.get("training.seed", 0))
        return Trial(run.info.run_id, seed, metrics, history)
