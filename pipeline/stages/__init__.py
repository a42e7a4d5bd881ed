"""Thin entry points, one per DVC stage: read params and paths, call a plain function."""
