"""Thin entry points, one per DVC stage: read params and paths, call a plain function.

The top of the layers (docs/architecture.md): they may import every folder below; nothing
imports them but ``python -m`` shims and :mod:`pipeline.cli`.
"""
