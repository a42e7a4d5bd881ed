"""One training, step by step (:mod:`~pipeline.training.train`): its plan from the
config alone (:mod:`~pipeline.training.planning`), the data as its task needs it
(:mod:`~pipeline.training.task_data`), seed and runtime (:mod:`~pipeline.training.seed`,
:mod:`~pipeline.training.runtime`), the Keras callbacks (:mod:`~pipeline.training.callbacks`),
resuming an interrupted run (:mod:`~pipeline.training.resume`) and every figure a run or a
comparison draws (:mod:`~pipeline.training.plots`).

They may import :mod:`pipeline.tracking`, :mod:`pipeline.data`, :mod:`pipeline.kinds`,
:mod:`pipeline.config` and :mod:`pipeline.system`; never sweeps, comparisons or entry points.
"""
