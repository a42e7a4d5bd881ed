"""Seeds until decided (``sweep.seeds=auto``): once a sweep's jobs have trained their first
seeds, rounds that give one more seed to each configuration whose verdict against the best
is still undecided (and to the best, to keep level with it), until every comparison is
decided or has ``sweep.max_seeds``.

What decides a round is what the report says: every round summarizes the sweep's children
with the sweep's sequential design (:class:`~pipeline.compare.pairwise.Looks`, tagged on the
parent), which replays each comparison's looks from the seeds there are, each look at its
nominal level (:mod:`pipeline.compare.sequential`: O'Brien-Fleming-type alpha spending).
So adding seeds and testing again keeps the false "better"/"worse" rate at alpha, which a
loop testing at alpha after every seed does not (tests/compare/test_sequential.py).

The added seeds train in this, the launching, process, one after another: each is composed
from its job's own overrides (the jobs Hydra's basic sweeper planned) and is a child of the
same parent, tagged with the same job number, so the UI and the report count it with the
job's first seeds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
from omegaconf import DictConfig

from pipeline.compare.pairwise import Looks, Verdict
from pipeline.compare.sequential import START
from pipeline.config import contract
from pipeline.config.compose import compose_config
from pipeline.sweep import cluster
from pipeline.sweep import jobs as sweep_jobs

log = logging.getLogger(__name__)


def design(sweep: DictConfig) -> Looks:
    """The sequential design of a ``sweep.seeds=auto`` sweep: looks at 3, 4, ...,
    ``sweep.max_seeds`` seeds per configuration."""
    return Looks(START, int(sweep.max_seeds))


def add_seeds(uri: str, parent: str, jobs: Sequence[Sequence[str]], config: DictConfig) -> int:
    """Train rounds of seeds until no configuration of the sweep under ``parent`` is still
    undecided with seeds to spare (see the module docstring); how many runs were added.

    Args:
        uri: The sweep's tracking store.
        parent: The sweep's parent run.
        jobs: Each job's overrides, by job number (:func:`~pipeline.sweep.callback.planned_jobs`).
        config: The sweep's config, Hydra's node included (its launcher's share of the cores).
    """
    looks = design(config.sweep)
    # On Ray the jobs' data may live on the workers only: this process builds what it lacks.
    on_ray = cluster.uses_ray(config.hydra)
    composed: dict[str, DictConfig] = {}
    added, before = 0, None
    while wanted := next_seeds(uri, parent, looks, float(config.compare.margin)):
        if wanted == before:  # the last round left no run to count (cannot happen; never loop)
            log.error("sweep: the seeds %s trained no run; no more rounds", wanted)
            break
        for job, offset in wanted:
            if job not in composed:
                composed[job] = sweep_jobs.job_config(_compose(jobs[int(job)]), config.hydra)
            print(f"sweep: job {job}: seed {composed[job].training.seed + offset} (undecided)")
            sweep_jobs.train_seed(composed[job], offset, job, on_ray)
            added += 1
        before = wanted
    return added


def next_seeds(uri: str, parent: str, looks: Looks, margin: float) -> list[tuple[str, int]]:
    """The seeds the next round trains, as ``(job number, seed offset)``: for each group's
    undecided configurations with fewer than ``looks.max_seeds`` tried, and its best, the
    seeds that bring them to the next look."""
    from pipeline.compare import Selection, annotate_runs, select_runs, summarize  # lazy, for cost

    runs = select_runs(uri, Selection(parent=parent))
    annotated, _ = annotate_runs(runs)
    summary = summarize(runs, annotated=annotated, margin=margin, looks=looks)
    column = f"tags.{contract.JOB_TAG}"
    jobs = runs[column] if column in runs else pd.Series(None, index=runs.index)
    facts = annotated.assign(job=jobs.loc[annotated.index])
    wanted = []
    for _, group in summary.groupby(list(contract.GROUP_COLUMNS), sort=True):
        undecided = group[(group["verdict"] == Verdict.undecided.value)]
        undecided = undecided[undecided["look_seeds"] < looks.max_seeds]
        if undecided.empty:
            continue
        target = int(undecided["look_seeds"].min()) + 1  # the next look
        for name in [*group.loc[group["best"], "configuration"], *undecided["configuration"]]:
            wanted += _to_target(facts[facts["configuration"] == name], target, looks.max_seeds)
    return sorted(set(wanted))


def _to_target(runs: pd.DataFrame, target: int, max_seeds: int) -> list[tuple[str, int]]:
    """The seeds one configuration (its runs: finished, failed) trains next to have
    ``target`` finished, none past ``max_seeds`` tried; offsets follow the seeds tried."""
    finished = runs.loc[runs["status"] == "FINISHED", "seed"].nunique()
    tried = len(runs)
    job = runs["job"].dropna()
    if job.empty:
        return []
    count = max(0, min(target - finished, max_seeds - tried))
    return [(str(job.iloc[0]), tried + i) for i in range(count)]


def _compose(overrides: Sequence[str]) -> DictConfig:
    """A job's config from its overrides, as Hydra composed it for the job (Hydra's own
    settings left out: they configure the launcher, not the training)."""
    own = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    return compose_config(own)
