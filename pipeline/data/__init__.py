"""Data acquisition and preparation: download (checksummed), IDX parsing, splitting,
storage (:mod:`~pipeline.data.download`, :mod:`~pipeline.data.idx`,
:mod:`~pipeline.data.preprocess`; :mod:`~pipeline.data.build`: both, for a worker
without the data).

They may import :mod:`pipeline.config` and :mod:`pipeline.system`; the training above
reads what they wrote.
"""
