"""Real servers for the tests: a PostgreSQL cluster from the distribution's package, and
``mlflow server`` on it as ``make server`` starts it (``python -m pipeline.server``).

Not a test module: test modules import its helpers; its fixtures ``pg_server`` and
``tracking_server`` reach every test through tests/conftest.py.

Everything binds 127.0.0.1 on a free port, every wait has a deadline, and every process
started here is stopped whatever happens. PostgreSQL refuses to run as root: as root,
``initdb`` and ``postgres`` run as the unprivileged user :data:`PG_OS_USER`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, free_port, tool_env

PG_OS_USER = "nobody"  # exists on every Debian system; owns nothing of its own
PG_USER = "optlab"  # the cluster's superuser, trusted on 127.0.0.1 (a throwaway cluster)
PG_DATABASE = "mlflow"
PG_START_S = 60.0
PG_STOP_S = 20.0
# MLflow's first start on an empty PostgreSQL creates its schema: 10-30 s on two cores.
SERVER_START_S = 180.0
SERVER_STOP_S = 20.0
# The basic-auth server's admin (MLflow asks for 12 characters or more).
ADMIN_USER = "admin"
ADMIN_PASSWORD = "optlab-admin-password"
READY_LINE = "Ctrl-C stops it."  # pipeline.servers.mlflow_server prints it once the server answers


def postgres_binaries() -> Path | None:
    """The folder of the PostgreSQL server's programs: Debian's
    ``/usr/lib/postgresql/<N>/bin`` (newest N), else that of ``initdb`` on PATH; None
    when PostgreSQL is not installed."""
    versions = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        if folder.parent.name.isdigit() and (folder / "initdb").is_file():
            versions.append((int(folder.parent.name), folder))
    if versions:
        return max(versions)[1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def require_postgres() -> Path:
    """:func:`postgres_binaries`, or a skip saying what to install; under CI (``$CI``
    set) a failure instead: CI installs PostgreSQL, and a skip would hide a broken install."""
    folder = postgres_binaries()
    if folder is None:
        reason = "no PostgreSQL server programs (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


@dataclass
class Postgres:
    """A running cluster: ``uri`` of its ``mlflow`` database, its ``port``."""

    uri: str
    port: int
    user: str = PG_USER

    def create_database(self, name: str) -> str:
        """A new empty database ``name`` in the cluster, and its URI."""
        import psycopg2  # lazy, for cost: only the PostgreSQL tests need it

        connection = psycopg2.connect(self.database_uri("postgres"), connect_timeout=5)
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.database_uri(name)

    def database_uri(self, name: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def query(self, sql: str, *params, database: str = PG_DATABASE) -> list[tuple]:
        """The rows ``sql`` returns, read straight from the database (not through MLflow)."""
        import psycopg2  # lazy, for cost

        connection = psycopg2.connect(self.database_uri(database), connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()


def _as_unprivileged(folder: Path) -> dict:
    """``subprocess`` arguments that run a PostgreSQL program as :data:`PG_OS_USER` when
    we are root (with ``folder`` made its own), and as ourselves otherwise."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(PG_OS_USER)
    # The test's temporary folders are private to root (0700): let the user through
    # them (search only, no listing), down to its own folder.
    for parent in reversed(folder.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001 and parent.stat().st_uid == 0:
            parent.chmod(mode | 0o001)
    for path in (folder, *folder.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _wait_for_connections(uri: str, process: subprocess.Popen, log: Path) -> None:
    import psycopg2  # lazy, for cost

    deadline = time.monotonic() + PG_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with status {process.returncode}:\n{_tail(log)}")
        try:
            psycopg2.connect(uri, connect_timeout=2).close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.2)
    raise RuntimeError(f"postgres took over {PG_START_S:.0f} s to start:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[Postgres]:
    """A fresh PostgreSQL cluster in ``folder`` on 127.0.0.1 (a free port, its socket in
    ``folder``), with an empty database ``mlflow``; stopped on exit whatever happened
    (``pg_ctl stop -m fast``, then SIGKILL)."""
    binaries = require_postgres()
    folder.mkdir(parents=True, exist_ok=True)
    data, sockets, log = folder / "data", folder / "sockets", folder / "postgres.log"
    sockets.mkdir(exist_ok=True)
    log.touch()
    run_as = _as_unprivileged(folder)
    env = {"PATH": f"{binaries}{os.pathsep}{os.environ.get('PATH', '')}", "LC_ALL": "C"}
    subprocess.run(
        [binaries / "initdb", "-D", data, "-U", PG_USER, "--auth=trust", "--no-locale",
         "--encoding=UTF8", "--no-sync"],
        env=env, cwd=folder, check=True, capture_output=True, timeout=120, **run_as,
    )  # fmt: skip
    port = free_port()
    with log.open("ab") as out:
        # A throwaway cluster: durability settings off, as PostgreSQL's docs advise for tests.
        process = subprocess.Popen(
            [binaries / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port),
             "-k", sockets, "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"],
            env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, **run_as,
        )  # fmt: skip
    try:
        server = Postgres(uri="", port=port)
        _wait_for_connections(server.database_uri("postgres"), process, log)
        server.uri = server.create_database(PG_DATABASE)
        yield server
    finally:
        _stop_postgres(binaries, data, process, env, run_as)


def _stop_postgres(binaries: Path, data: Path, process: subprocess.Popen, env, run_as) -> None:
    if process.poll() is None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [binaries / "pg_ctl", "stop", "-D", data, "-m", "fast", "-t", str(int(PG_STOP_S))],
                env=env, capture_output=True, timeout=PG_STOP_S + 5, **run_as,
            )  # fmt: skip
    try:
        process.wait(PG_STOP_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the postmaster and its backends
        process.wait(PG_STOP_S)


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def mlflow_server(
    backend_uri: str, artifacts: Path, *, auth: bool = False, env: dict[str, str] | None = None
) -> Iterator[str]:
    """``python -m pipeline.server`` (what ``make server`` runs) on ``backend_uri``, its
    artifacts served from ``artifacts``, on a free port of 127.0.0.1; its URL once
    ``/health`` answers. With ``auth``, MLflow's basic-auth app, its admin
    :data:`ADMIN_USER` / :data:`ADMIN_PASSWORD`. Always stopped: SIGTERM (the launcher
    stops its server), then SIGKILL of every process it started."""
    import psutil  # lazy, for cost

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = tool_env(**(env or {}))
    if auth:
        server_env.setdefault("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
    command = [sys.executable, "-m", "pipeline.server", "--backend-store-uri", backend_uri]
    command += ["--artifacts-destination", str(artifacts), "--port", str(port), "--workers", "1"]
    if auth:
        command.append("--auth")
    artifacts.mkdir(parents=True, exist_ok=True)
    log = artifacts.parent / f"mlflow-server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=server_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_S
        # Up: it answers /health, and the launcher has said how to use it.
        while not (_health(url) and READY_LINE in log.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not come up at {url}:\n{_tail(log)}")
            time.sleep(0.5)
        yield url
    finally:
        _stop_tree(process, psutil)


def _stop_tree(process: subprocess.Popen, psutil) -> None:
    """SIGTERM the launcher (it stops its server, in a session of its own), then SIGKILL
    whatever of the tree is left after a bounded wait."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        tree = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=SERVER_STOP_S)
    for leftover in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()
    psutil.wait_procs(alive, timeout=SERVER_STOP_S)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(SERVER_STOP_S)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A PostgreSQL cluster for the session (skipped without PostgreSQL, failed under CI)."""
    with postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def tracking_server(pg_server: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of ``make server``'s tracking server on :func:`pg_server`'s ``mlflow``
    database, for the session: each test logs to experiments of its own."""
    with mlflow_server(pg_server.uri, tmp_path_factory.mktemp("served") / "artifacts") as url:
        yield url
