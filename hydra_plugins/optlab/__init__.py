"""Registers optimizer-lab's structured-config schemas for Hydra's plugin discovery.

``conf/`` refers to the schemas in Hydra's ConfigStore (``/schema/...``), which
live in Python.  ``pipeline`` registers them itself before it composes; this
module does it for compositions that ``pipeline`` does not start: DVC's Hydra
composition under ``dvc exp run`` imports every module of the ``hydra_plugins``
namespace found under ``hydra.plugins_path`` (the repository root by default).
"""

from pipeline.config.compose import register_configs

register_configs()
