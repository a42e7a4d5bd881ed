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
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from pipeline.compare.pairwise import Looks
from pipeline.compare.runs import latest_by_key, logged_history
from pipeline.config import contract
from pipeline.config.compose import compose_config
from pipeline.lessons.measure import PROCESS_PEAK, Probe, process_peak_mb
from pipeline.lessons.verdicts import Measured
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
    """A configuration's runs, one per seed, in seed order, and the sequential design
    its seeds are added by (None: a fixed number)."""

    label: str
    trials: tuple[Trial, ...]
    looks: Looks | None = None

    @property
    def run_ids(self) -> list[str]:
        return [t.run_id for t in self.trials]

    def measured(self, values: Iterable[float]) -> Measured:
        """Per-seed ``values`` computed from these runs, as the verdicts take them: with
        this configuration's label and design."""
        return Measured(values, self.label, self.looks)

    def metric(self, key: str) -> Measured:
        """``key`` of every seed's run (a final metric, e.g. ``test_accuracy``)."""
        return self.measured(t.metrics[key] for t in self.trials)

    def final(self, column: str) -> Measured:
        """``column`` of every seed's history at its last epoch."""
        return self.measured(float(t.history[column].iloc[-1]) for t in self.trials)

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
    to every configuration's (after the lesson's, so they win).

    With ``looks`` (seeds until decided) each configuration starts with ``looks.start``
    seeds and :meth:`add_seed` gives the ones a verdict still wants one more, up to
    ``looks.max_seeds``: the lesson then runs again, and finds its earlier runs."""

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
        looks: Looks | None = None,
    ) -> None:
        from mlflow.tracking import MlflowClient  # lazy, for cost

        self.found: dict[str, Trial] = {}  # runs trained or read back, by run key
        self.uri, self.experiment, self.parent_id = uri, experiment, parent_id
        self.seeds, self.data_root, self.reuse = seeds, data_root, reuse
        self.config_dir, self.overrides = config_dir, list(overrides)
        self.looks = looks
        self.lesson = ""  # the lesson whose runs it trains (for_lesson)
        self.wanted: dict[str, int] = {}  # with looks: seeds per configuration, by label
        self.keys: dict[str, str] = {}  # run keys, by config (as YAML)
        self.composed: dict[tuple[str, ...], Any] = {}  # configs, by their overrides
        self.client = MlflowClient(uri)

    @property
    def reuse(self) -> bool:
        """Whether a finished run of the same key in the store is read back; False: every
        run is trained again, once (a lesson judged again finds what this runner trained
        since)."""
        return self._reuse

    @reuse.setter
    def reuse(self, value: bool) -> None:
        if not value:
            self.found.clear()  # afresh: what was found until now is trained again
        self._reuse = value

    def arguments(self) -> dict[str, Any]:
        """What makes this runner again in another process (``Runner(**arguments)``)."""
        return {
            "uri": self.uri,
            "experiment": self.experiment,
            "parent_id": self.parent_id,
            "seeds": self.seeds,
            "data_root": self.data_root,
            "reuse": self.reuse,
            "config_dir": self.config_dir,
            "overrides": self.overrides,
            "looks": self.looks,
        }

    def for_lesson(self, lesson: str) -> Runner:
        """This runner, tagging the runs it trains with ``lesson``
        (:data:`~pipeline.config.contract.LESSON_TAG`); its configurations' seeds are its own."""
        runner = copy.copy(self)
        runner.lesson, runner.wanted = lesson, {}
        return runner

    def add_seed(self, labels: Iterable[str]) -> list[str]:
        """One more seed for each configuration of ``labels`` that has fewer than
        ``looks.max_seeds``; the labels that got one (none without ``looks``)."""
        if self.looks is None:
            return []
        grown = []
        for label in sorted(labels):
            seeds = self.wanted.get(label, self.looks.start)
            if seeds < self.looks.max_seeds:
                self.wanted[label] = seeds + 1
                grown.append(label)
        return grown

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
        cfg = self._compose(overrides)
        keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides if "experiment=" not in o]
        # A count the lesson sets itself (a tuning grid's one seed) is not a design's.
        looks = self.looks if seeds is None else None
        count = seeds or (self.wanted.get(label, looks.start) if looks else self.seeds)
        trials, first = [], cfg.training.seed
        for seed in range(first, first + count):  # as a sweep's sweep.seeds does
            cfg.training.seed = seed
            trials.append(self._trial(cfg, label, keys, probe, isolated, required))
        return Trials(label, tuple(trials), looks)

    def _compose(self, overrides: Sequence[str]) -> Any:
        """``conf/`` with a configuration's overrides and the runner's: a copy of the one
        composed the first time (0.3 s each; a lesson judged again asks again)."""
        every = (
            *overrides,
            *self.overrides,
            f"mlflow.experiment_name={self.experiment}",
            f"mlflow.tracking_uri={self.uri}",
            "mlflow.log_model=false",
            "runtime.verbose=0",
        )
        if every not in self.composed:
            self.composed[every] = compose_config(list(every), self.config_dir)
        return copy.deepcopy(self.composed[every])

    def _trial(
        self, cfg: Any, label: str, keys: list[str], probe, isolated: bool, required
    ) -> Trial:
        """One seed's run: found earlier (in this process, even with ``reuse=False``; or in
        the store), else trained."""
        # The key loads the data to compute: a lesson judged again asks for it again.
        config = OmegaConf.to_yaml(cfg)
        if config not in self.keys:
            self.keys[config] = planned_run_key(cfg, self.data_root)
        key = self.keys[config]
        found = self.found.get(key)
        if found is not None and (required is None or required in found.metrics):
            return found
        found = self._finished(key, required) if self.reuse else None
        seed = cfg.training.seed
        if found is None:
            log.info("lesson %s: training %s, seed %d", self.lesson, label, seed)
            found = self._train(cfg, label, keys, probe, isolated)
        else:
            log.info("lesson %s: %s, seed %d, reused %s", self.lesson, label, seed, found.run_id)
        self.found[key] = found
        return found

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
