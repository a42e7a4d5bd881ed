"""MLflow bookkeeping: where the store is and what a run is called
(:mod:`~pipeline.tracking.store`), whether the store answers
(:mod:`~pipeline.tracking.store_check`), the client a training logs through
(:mod:`~pipeline.tracking.guarded`), a run kept locally when its server goes away and its
upload (:mod:`~pipeline.tracking.offline`), runs left RUNNING by a dead process
(:mod:`~pipeline.tracking.recovery`) and where a run comes from
(:mod:`~pipeline.tracking.provenance`).

They may import :mod:`pipeline.kinds` (a model's file), :mod:`pipeline.config` and
:mod:`pipeline.system`; never the training, sweeps or entry points above.
"""
