"""A sweep job's seeds and its share of the cores (pipeline.sweep.jobs); tests/e2e/test_sweep.py
runs jobs for real."""

from omegaconf import OmegaConf

from pipeline.compare.sequential import START
from pipeline.sweep.jobs import first_seeds, threads_per_job


def hydra(n_jobs=None):
    launcher = {"n_jobs": n_jobs} if n_jobs is not None else {}
    return OmegaConf.create({"launcher": launcher, "sweeper": {}})


def test_threads_are_shared_between_parallel_jobs(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert threads_per_job(hydra(n_jobs=2)) == 4
    assert threads_per_job(hydra(n_jobs=-1)) == 1  # one job per core
    assert threads_per_job(hydra(n_jobs=-2)) == 1  # all cores but one: 7 jobs
    assert threads_per_job(hydra()) == 8  # the basic launcher: one job at a time
    assert threads_per_job(None) == 8


def test_a_job_trains_its_seeds_or_with_auto_the_first_looks():
    assert first_seeds(1) == 1
    assert first_seeds(5) == 5
    assert START == 3
    assert first_seeds("auto") == 3
