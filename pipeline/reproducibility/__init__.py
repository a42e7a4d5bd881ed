"""The same bits again: reproducing a logged run bit for bit
(:mod:`~pipeline.reproducibility.rerun`) and checking that this machine computes the
reference runs' bits (:mod:`~pipeline.reproducibility.doctor`, its references in
``doctor.json``). ``python -m pipeline.reproduce`` and ``python -m pipeline.doctor`` are
their shims.

They may import :mod:`pipeline.training` and every layer below it.
"""
