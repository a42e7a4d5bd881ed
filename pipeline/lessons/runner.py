"""Train a lesson's configurations over seeds, in this process, as MLflow runs.

Every training goes through :func:`pipeline.training.train.train`, the same code as
``python -m pipeline.train``: a lesson's configuration is ``conf/`` composed with
the lesson's overrides (a preset, ``+experiment=...``, and the choices it compares).
Its runs are children of the lessons' parent run, tagged with the lesson.

A configuration trained before, on the same data, is not trained again: a finished
run with the same run key (:data:`~pipeline.config.contract.RUN_KEY_TAG`) in the lessons'
experiment is read back instead, so an interrupted ``make lessons`` goes on where it
stopped. ``reuse=False`` trains everything afresh.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from pipeline.compare.runs import latest_by_key, logged_history
from pipeline.config import contract
from pipeline.config.compose import compose_config
from pipeline.lessons.measure import PROCESS_PEAK, Probe, process_peak_mb
from pipeline.training.train import TrainResult, planned_run_key, train

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
        (:data:`~pipeline.config.contract.LESSON_TAG`)."""
        runner = copy.copy(self)
        runner.lesson = lesson
        return runner

    def run(
        self,
        label: str,
        overrides: Sequence[str],
        probe: Probe | None = None,
        seeds: int | None = None,
        isolated: bool = False,
    ) -> Trials:
        """Train (or find) ``seeds`` runs (default: the runner's) of ``conf/`` composed
        with ``overrides``; ``probe`` measures each trained model. ``isolated``: each in
        a fresh process, which measures its peak memory (``probe.process_peak_rss_mb``)."""
        if probe is not None and isolated:
            raise ValueError("a probe measures the model in this process: not with isolated")
        required = probe.key if probe else PROCESS_PEAK if isolated else None
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
                found = self._finished(planned_run_key(cfg, self.data_root), required)
            if found is None:
                log.info("lesson %s: training %s, seed %d", self.lesson, label, seed)
                found = self._train(cfg, label, keys, probe, isolated)
            else:
                log.info(
                    "lesson %s: %s, seed %d, reused run %s", self.lesson, label, seed, found.run_id
                )
            trials.append(found)
        return Trials(label, tuple(trials))

    def _train(
        self, cfg: Any, label: str, keys: list[str], probe: Probe | None, isolated: bool
    ) -> Trial:
        tags = {contract.LESSON_TAG: self.lesson, contract.LESSON_CONFIG_TAG: label}
        args = (self.data_root, self.parent_id, tags, f"-{self.lesson}-s{cfg.training.seed}", keys)
        if isolated:
            config = OmegaConf.to_container(cfg)
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                run_id, metrics, history = pool.submit(_measured_training, config, *args).result()
            measured = {PROCESS_PEAK: metrics[PROCESS_PEAK]} if PROCESS_PEAK in metrics else {}
            history = pd.DataFrame(history)
        else:
            result = _training(cfg, *args)
            run_id, history = result.run_id, result.history
            measured = probe.measure(result) if probe is not None else {}
            metrics = {**result.metrics, **measured}
        for key, value in measured.items():
            self.client.log_metric(run_id, key, value)
        return Trial(run_id, cfg.training.seed, metrics, history)

    def _finished(self, run_key: str, required: str | None) -> Trial | None:
        """The latest finished run of this experiment with ``run_key`` (and the metric
        ``required``, if any: a probe's or an isolated run's); None if there is none."""
        experiment = self.client.get_experiment_by_name(self.experiment)
        if experiment is None:
            return None
        run_id = latest_by_key(self.uri, run_key, [experiment.experiment_id])
        if run_id is None:
            return None
        run = self.client.get_run(run_id)
        metrics = dict(run.data.metrics)
        if required is not None and required not in metrics:
            return None  # trained before the lesson measured it: train again
        seed = int(run.data.params.get("training.seed", 0))
        return Trial(run_id, seed, metrics, logged_history(self.uri, run_id))


def _training(cfg: Any, data_root, parent_id, tags, suffix, keys) -> TrainResult:
    return train(
        cfg,
        data_root=data_root,
        parent_run_id=parent_id,
        extra_tags=tags,
        run_name_suffix=suffix,
        label_keys=keys,
    )


def _measured_training(config: dict, *args: Any) -> tuple[str, dict[str, float], dict]:
    """In a fresh process: one training, then the process's peak memory (what the
    training needed, TensorFlow's start included), with the metrics and the history."""
    result = _training(OmegaConf.create(config), *args)
    peak = process_peak_mb()
    metrics = {**result.metrics, **({PROCESS_PEAK: peak} if peak is not None else {})}
    return result.run_id, metrics, result.history.to_dict("list")
