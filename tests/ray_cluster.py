"""A real Ray cluster for the tests: ``ray start --head`` on this machine, always stopped.

Ray cannot bind loopback only: it swaps 127.0.0.1 for the node's own address
(``ray._private.services.resolve_ip_for_localhost``), so its ports listen on the
machine's interface. The tests connect through 127.0.0.1, and the cluster lives only
as long as the fixture, in its own process group and temporary folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port

RAY = str(Path(sys.executable).parent / "ray")
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30


def _ready(address: str, env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(
            [RAY, "status", f"--address={address}"], env=env, capture_output=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[str]:
    """A one-node Ray cluster with ``num_cpus`` CPUs; yields its address (``127.0.0.1:port``)."""
    port = free_port()
    # Short: Ray's socket paths must fit in 107 bytes.
    temp = tempfile.mkdtemp(prefix="optlab-ray-", dir="/tmp")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            "--object-store-memory=100000000",
            f"--temp-dir={temp}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: stopped whole, whatever happens
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(address, env):
            if head.poll() is not None:
                raise RuntimeError(f"ray start exited with {head.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Ray did not start within {START_TIMEOUT_S} s")
            time.sleep(1)
        yield address
    finally:
        _stop(head, temp)


def _stop(head: subprocess.Popen, temp: str) -> None:
    """SIGINT to the cluster's process group (``ray start --block`` stops what it
    started, as on Ctrl-C, in about 3 s; SIGTERM left it running past 30 s), then SIGKILL
    to what is left, in the group and under ``temp``."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            break
        try:
            head.wait(timeout=STOP_TIMEOUT_S)
            break
        except subprocess.TimeoutExpired:
            continue
    # Ray's own daemons name the temp folder on their command lines.
    subprocess.run(["pkill", "-KILL", "-f", temp], check=False)
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A two-CPU Ray cluster for the session; its address (tests pass it as RAY_ADDRESS)."""
    with ray_head(num_cpus=2) as address:
        yield address
