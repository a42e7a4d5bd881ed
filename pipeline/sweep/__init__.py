"""Hydra multirun sweeps: the callback that makes a sweep one MLflow parent with a
child per job and a report (:mod:`~pipeline.sweep.callback`), Optuna searches
(:mod:`~pipeline.sweep.search`) and sweeps on a Ray cluster (:mod:`~pipeline.sweep.cluster`).

They may import :mod:`pipeline.compare` (the report), :mod:`pipeline.training` and every
layer below it; only entry points import them (and ``conf/``, by name).
"""
