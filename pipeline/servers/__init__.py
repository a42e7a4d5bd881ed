"""``mlflow server`` processes: starting, waiting for and stopping one
(:mod:`~pipeline.servers.mlflow_server`), ``make ui`` on the project's store
(:mod:`~pipeline.servers.ui`) and ``make server``, a team's server on PostgreSQL
(:mod:`~pipeline.servers.team`). ``python -m pipeline.ui`` and ``python -m pipeline.server``
are their shims.

They may import :mod:`pipeline.tracking`, :mod:`pipeline.config` and :mod:`pipeline.system`.
"""
