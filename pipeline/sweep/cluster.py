"""Sweeps on a Ray cluster: ``hydra/launcher=ray`` (hydra-ray-launcher), unchanged.

The launcher runs each job as a Ray task. What it leaves out is done here, from the
sweep's callback (:mod:`pipeline.sweep.callback`) before the launcher starts:

- **connect** (:func:`connect`): to the cluster ``RAY_ADDRESS`` (or
  ``hydra.launcher.ray.init.address``) names, else to one ``ray start`` left running
  on this machine, else a new local one. The launcher's own ``ray.init`` would add a
  fixed 75 MB ``object_store_memory``, which Ray refuses when it connects to an
  existing cluster; it finds Ray initialised and skips it.
- **hand over**: a task does not inherit the launching process's environment. The
  sweep's context (parent run, experiment, tracking URI) and every other
  ``OPTLAB_*`` and ``MLFLOW_*`` variable (the data mirror, the server's credentials
  and timeouts) travel as the Ray job's ``runtime_env`` ``env_vars``.
- **ship the code**: the project folder, without what git ignores (data, models,
  stores), is the job's ``working_dir``, so workers need no shared filesystem; a job
  builds the data its worker lacks (:func:`pipeline.data.build.ensure_processed`).
- **size**: TensorFlow's threads follow the CPUs Ray gives the task
  (:func:`assigned_cpus`; ``hydra.launcher.ray.remote.num_cpus``, 1 by default).

``ray`` is imported lazily, for cost: only a Ray sweep pays for it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

ADDRESS_ENV = "RAY_ADDRESS"
# The variables a job needs from the launching process, by prefix.
FORWARDED_PREFIXES = ("OPTLAB_", "MLFLOW_")
# Left out of the shipped code besides what .gitignore lists (Ray honours it).
EXCLUDES = [".git", ".dvc/cache", ".dvc/tmp"]
FIX = (
    "start one (`ray start --head`), point RAY_ADDRESS at a running cluster's head "
    "(host:6379), or unset RAY_ADDRESS to start a local one"
)


class ClusterUnavailable(ConnectionError):
    """The Ray cluster the sweep names cannot be reached; the message says how to fix it."""


def uses_ray(hydra_cfg: DictConfig | None) -> bool:
    """Whether this sweep's launcher is hydra-ray-launcher's local one (``hydra/launcher=ray``)."""
    launcher = (hydra_cfg.get("launcher") if hydra_cfg is not None else None) or {}
    return str(launcher.get("_target_", "")).endswith(".ray_launcher.RayLauncher")


def address(hydra_cfg: DictConfig) -> str | None:
    """The cluster to connect to: the launcher's ``ray.init.address``, else ``$RAY_ADDRESS``."""
    init = hydra_cfg.launcher.ray.get("init") or {}
    return init.get("address") or os.environ.get(ADDRESS_ENV) or None


def check_reachable(where: str | None, timeout: float) -> None:
    """Fail in one line, within ``timeout`` s, when a ``host:port`` head does not answer.

    ``None`` and ``auto`` (find or start a local cluster) are left to Ray.
    """
    if not where or where in ("auto", "local"):
        return
    hostport = where.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnavailable(
            f"Ray address {where!r} is not host:port (e.g. 127.0.0.1:6379 or ray://host:10001)"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClusterUnavailable(
            f"no Ray cluster answers at {where} ({error.strerror or error}): {FIX}"
        ) from error


def job_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The launching process's variables a job needs (see :data:`FORWARDED_PREFIXES`)."""
    return {k: v for k, v in environ.items() if k.startswith(FORWARDED_PREFIXES)}


def runtime_env(hydra_cfg: DictConfig, env: Mapping[str, str], root: Path) -> dict[str, Any]:
    """The Ray job's ``runtime_env``: the user's (``hydra.launcher.ray.init.runtime_env``),
    with ``env`` added to its ``env_vars`` and ``root`` as ``working_dir`` unless set."""
    given = _plain(hydra_cfg.launcher.ray.get("init")).get("runtime_env") or {}
    merged = dict(given)
    merged["env_vars"] = {**dict(env), **(given.get("env_vars") or {})}
    merged.setdefault("working_dir", str(root))
    merged.setdefault("excludes", EXCLUDES)
    return merged


def _plain(node: DictConfig | None) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


def connect(hydra_cfg: DictConfig, env: Mapping[str, str], root: Path) -> None:
    """Connect this process to the sweep's cluster (see the module docstring)."""
    import ray  # lazy, for cost

    init = _plain(hydra_cfg.launcher.ray.get("init"))
    init["address"] = address(hydra_cfg)
    if init["address"]:  # Ray refuses a cluster's resources from a process joining it
        init.pop("object_store_memory", None)
    init["runtime_env"] = runtime_env(hydra_cfg, env, root)
    if ray.is_initialized():  # an earlier sweep in this process: its env would be stale
        ray.shutdown()
    ray.init(**init)


def assigned_cpus() -> int | None:
    """The CPUs Ray gave the running task (rounded down, at least 1); None outside Ray."""
    import ray  # lazy, for cost

    if not ray.is_initialized():
        return None
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    return max(1, int(cpus)) if cpus else None
