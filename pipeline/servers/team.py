"""``make server``: a tracking server a team shares, its runs in PostgreSQL, its artifacts served.

Usage::

    MLFLOW_BACKEND_STORE_URI=postgresql://mlflow:PASSWORD@db:5432/mlflow make server
    python -m pipeline.server --backend-store-uri postgresql://... --host 0.0.0.0 --auth
    python -m pipeline.server ... -- --allowed-hosts mlflow.example.org   # mlflow server's own

Starts ``mlflow server`` on the backend store (``--backend-store-uri``, else
``$MLFLOW_BACKEND_STORE_URI``) with ``--serve-artifacts``: clients upload and download
artifacts through the server, which keeps them in ``--artifacts-destination`` (default:
``mlartifacts/`` at the project root). It binds 127.0.0.1 (``$HOST``, ``$PORT``, as
``make ui``); ``--host 0.0.0.0`` shares it, and ``--auth`` then asks every client for a
user name and password (MLflow's ``basic-auth`` app). Runs reach it through
``MLFLOW_TRACKING_URI=http://<host>:<port>``.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import importlib.util
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipeline.config.paths import project_root
from pipeline.config.schemas import pick
from pipeline.servers import mlflow_server
from pipeline.servers.mlflow_server import UsageError
from pipeline.system.redact import redact
from pipeline.tracking.store import ARTIFACTS_DIR, PG_DRIVER, PG_SCHEME, store_uri

BACKEND_ENV = "MLFLOW_BACKEND_STORE_URI"  # mlflow server's own variable
EXAMPLE_BACKEND = "postgresql://user:pass@host:5432/mlflow"
# PostgreSQL is the team's store (psycopg2 is a dependency); SQLite, one machine's.
SCHEMES = (PG_SCHEME, PG_DRIVER, "sqlite")
# MLflow's basic-auth app and the variables it reads (mlflow/server/auth/config.py).
AUTH_APP = "basic-auth"
AUTH_LIBRARY = "flask_wtf"  # the app imports it; mlflow[auth] installs it
AUTH_CONFIG_ENV = "MLFLOW_AUTH_CONFIG_PATH"
ADMIN_USERNAME_ENV = "MLFLOW_AUTH_ADMIN_USERNAME"
ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"
DEFAULT_ADMIN = "admin"
# What a user without a grant may do: read every experiment (MLflow's default too).
DEFAULT_PERMISSION = "READ"
# Bound to one of these, only this machine reaches the server.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# A client's credentials (MLflow's client reads them at each request).
CLIENT_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def backend_store(given: str | None) -> str:
    """The backend store: ``given``, else ``$MLFLOW_BACKEND_STORE_URI``, as
    :func:`database` makes it.

    Raises:
        UsageError: Neither is set, or the URI is not one :func:`database` takes.
    """
    uri = given or os.environ.get(BACKEND_ENV)
    if not uri:
        raise UsageError(
            f"no backend store: set {BACKEND_ENV} (or --backend-store-uri) to the tracking "
            f"database, e.g. {EXAMPLE_BACKEND}"
        )
    return database(uri, "backend store")


def database(uri: str, what: str) -> str:
    """``uri`` checked against :data:`SCHEMES`, a plain ``postgresql://`` given the
    installed driver (SQLAlchemy 2.1 takes it to mean psycopg 3; the project installs
    psycopg2) and a SQLite path made absolute.

    Raises:
        UsageError: Naming ``what`` (the backend store), its scheme and the valid ones.
    """
    scheme = uri.partition(":")[0]
    try:
        pick(SCHEMES, scheme, f"{what} scheme")
    except ValueError as error:
        raise UsageError(f"{what} {redact(uri)}: {error}") from None
    return store_uri(uri)


def artifacts_destination(given: str | None) -> str:
    """Where the server keeps the artifacts it serves: ``given`` (a path, made absolute,
    or a URI such as ``s3://bucket/mlflow``), else ``mlartifacts/`` at the project root."""
    if given and "://" in given:
        return given
    return str(Path(given).resolve() if given else project_root() / ARTIFACTS_DIR)


def server_command(
    uri: str, host: str, port: int, artifacts: str, *, auth: bool, workers: int | None, extra
) -> list[str]:
    """``mlflow server`` on ``uri``, artifacts served from ``artifacts``; ``extra``: more of
    ``mlflow server``'s own options, passed on as they are."""
    command = mlflow_server.mlflow_command(uri, host, port)
    command += ["--serve-artifacts", "--artifacts-destination", artifacts]
    if workers is not None:
        command += ["--workers", str(workers)]
    if auth:
        command += ["--app-name", AUTH_APP]
    return [*command, *extra]


def write_auth_config(folder: Path, database: str) -> Path:
    """The basic-auth app's config in ``folder``: users and grants in ``database``, the
    admin created on the first start (named by ``$MLFLOW_AUTH_ADMIN_USERNAME``, else
    ``admin``; password ``$MLFLOW_AUTH_ADMIN_PASSWORD``). Readable by its owner only: the
    database URI may hold a password."""
    config = configparser.ConfigParser(interpolation=None)
    config["mlflow"] = {
        "default_permission": DEFAULT_PERMISSION,
        # MLflow reads the file with interpolation: a "%" (URL-encoded password) doubled.
        "database_uri": database.replace("%", "%%"),
        "admin_username": DEFAULT_ADMIN,
    }
    path = folder / "basic_auth.ini"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        config.write(file)
    return path


def auth_env(folder: Path, database: str) -> dict[str, str]:
    """The environment the basic-auth app needs: its config (the user's
    ``$MLFLOW_AUTH_CONFIG_PATH``, else one written in ``folder`` by
    :func:`write_auth_config`) and a secret key its workers share.

    Raises:
        UsageError: Flask-WTF (the app's CSRF protection) is missing, or there is no
            config file and no ``$MLFLOW_AUTH_ADMIN_PASSWORD``.
    """
    if importlib.util.find_spec(AUTH_LIBRARY) is None:  # found, not imported: no cost
        raise UsageError(
            f"--auth needs {AUTH_LIBRARY} (MLflow's auth extra, in requirements.lock): run "
            "`make install`"
        )
    env = {SECRET_KEY_ENV: os.environ.get(SECRET_KEY_ENV) or secrets.token_hex(32)}
    if os.environ.get(AUTH_CONFIG_ENV):
        return env
    if not os.environ.get(ADMIN_PASSWORD_ENV):
        raise UsageError(
            f"--auth needs the admin's password: set {ADMIN_PASSWORD_ENV} (12 characters or "
            f"more; MLflow creates the admin user with it on the first start), or point "
            f"{AUTH_CONFIG_ENV} at your own basic_auth.ini"
        )
    return {**env, AUTH_CONFIG_ENV: str(write_auth_config(folder, database))}


def ready_lines(base: str, host: str, uri: str, artifacts: str, *, auth: bool) -> list[str]:
    """What the server says once it answers: where it is, what it stores, how to use it."""
    shared = host not in LOOPBACK
    address = f"http://<this machine's address>:{base.rsplit(':', 1)[1]}" if shared else base
    lines = [
        f"MLflow tracking server: {base}",
        f"  runs in {redact(uri)}; artifacts served from {redact(artifacts)}",
        f"  point runs at it: export MLFLOW_TRACKING_URI={address}",
    ]
    if auth:
        admin = os.environ.get(ADMIN_USERNAME_ENV) or DEFAULT_ADMIN
        lines += [
            f"  clients log in with {' and '.join(CLIENT_ENV)} (admin: {admin}; "
            f"add users at {base}/signup)"
        ]
    if not shared:
        lines += ["  this machine only; HOST=0.0.0.0 make server shares it (add --auth)"]
    return lines


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line of :func:`main`."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.server",
        description=__doc__.split("\n")[0],
        epilog="Arguments after `--` go to `mlflow server` as they are.",
    )
    parser.add_argument(
        "--backend-store-uri",
        help=f"the tracking database (default: ${BACKEND_ENV}), e.g. {EXAMPLE_BACKEND}",
    )
    parser.add_argument(
        "--artifacts-destination",
        help=f"where served artifacts are kept: a folder or a URI (default: {ARTIFACTS_DIR}/ "
        "at the project root)",
    )
    mlflow_server.add_address_options(parser)
    parser.add_argument(
        "--workers", type=int, help="server worker processes (default: mlflow server's)"
    )
    parser.add_argument(
        "--auth",
        action="store_true",
        help=f"require a user name and password (MLflow's {AUTH_APP} app; the admin's "
        f"password from ${ADMIN_PASSWORD_ENV})",
    )
    parser.add_argument(
        "--auth-db-uri",
        help="with --auth, where users and grants are kept (default: the backend store)",
    )
    parser.add_argument("mlflow_args", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.server``: see the module docstring."""
    args = parse(argv)
    try:
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers {args.workers}: valid: an integer of at least 1")
        port = mlflow_server.parse_port(args.port)
        uri = backend_store(args.backend_store_uri)
        artifacts = artifacts_destination(args.artifacts_destination)
        mlflow_server.check_port_free(args.host, port, "make server")
        with contextlib.ExitStack() as stack:
            env = {**mlflow_server.SERVER_ENV, **os.environ}
            if args.auth:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="optlab-")))
                auth_db = database(args.auth_db_uri, "auth database") if args.auth_db_uri else uri
                env |= auth_env(folder, auth_db)
            elif args.host not in LOOPBACK:
                print(
                    f"warning: without --auth, anyone who reaches {args.host}:{port} can read "
                    "and change every run",
                    file=sys.stderr,
                )
            return _serve(args, uri, port, artifacts, env)
    except (UsageError, RuntimeError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace, uri: str, port: int, artifacts: str, env: dict) -> int:
    base = mlflow_server.base_url(args.host, port)
    options = {"auth": args.auth, "workers": args.workers, "extra": args.mlflow_args}
    command = server_command(uri, args.host, port, artifacts, **options)
    return mlflow_server.serve(
        command,
        base,
        env=env,
        starting=f"Starting the MLflow tracking server on {base} (store: {redact(uri)}) ...",
        ready=lambda: ready_lines(base, args.host, uri, artifacts, auth=args.auth),
    )
