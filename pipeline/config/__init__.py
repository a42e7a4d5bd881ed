"""The configuration: its schemas and valid ranges (:mod:`~pipeline.config.schemas`,
:mod:`~pipeline.config.ranges`, :mod:`~pipeline.config.keras_names`), composing ``conf/``
and validating it (:mod:`~pipeline.config.compose`, :mod:`~pipeline.config.hydra_app`),
the run contract shared with MLflow (:mod:`~pipeline.config.contract`: tag keys, metric
names), where things are (:mod:`~pipeline.config.paths`) and configuration labels
(:mod:`~pipeline.config.labels`).

They may import :mod:`pipeline.system`; nothing that trains, tracks or runs.
"""
