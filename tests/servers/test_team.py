"""``make server`` (python -m pipeline.server): its input checked before MLflow loads, the
command and the basic-auth config it builds, and a real server on a SQLite store.

The PostgreSQL store, sweeps logged through the server and the auth option against a
real client are in tests/e2e/test_tracking_server_pg.py.
"""

from __future__ import annotations

import socket
import stat
import sys
import urllib.request
from pathlib import Path

import pytest

from pipeline.config.paths import project_root
from pipeline.servers import team
from pipeline.servers.mlflow_server import UsageError
from tests.helpers import REPO_ROOT, run_listing_loaded, tool_env
from tests.mlflow_servers import mlflow_server

HEAVY = ("tensorflow", "keras", "mlflow", "matplotlib")


def launch(*args: str, **env: str):
    """``python -m pipeline.server ARGS`` in a process of its own, and what it loaded."""
    base = tool_env(**env)
    for name in (
        "MLFLOW_BACKEND_STORE_URI",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_AUTH_CONFIG_PATH",
    ):
        if name not in env:
            base.pop(name, None)
    return run_listing_loaded("pipeline.server", *args, env=base)


def test_without_a_backend_store_it_says_what_to_set_and_exits_2():
    done, loaded = launch()
    assert done.returncode == 2
    assert done.stderr == (
        "error: no backend store: set MLFLOW_BACKEND_STORE_URI (or --backend-store-uri) to the "
        "tracking database, e.g. postgresql://user:***@host:5432/mlflow"
    )
    assert done.stdout == "" and [m for m in loaded if m in HEAVY] == []


def test_a_bad_scheme_is_one_line_with_the_valid_ones_and_no_password():
    done, loaded = launch(MLFLOW_BACKEND_STORE_URI="postgres://team:s3cret@db:5432/mlflow")
    assert done.returncode == 2
    assert done.stderr == (
        "error: backend store postgres://team:***@db:5432/mlflow: unknown backend store scheme "
        "'postgres'; valid backend store schemes: postgresql, postgresql+psycopg2, sqlite"
    )
    assert [m for m in loaded if m in HEAVY] == []
    done, _ = launch("--backend-store-uri", "mysql://u@db/mlflow")
    assert "unknown backend store scheme 'mysql'" in done.stderr and done.returncode == 2


def test_auth_without_the_admins_password_is_one_line_before_mlflow_loads():
    done, loaded = launch("--auth", MLFLOW_BACKEND_STORE_URI="postgresql://u@127.0.0.1:9/mlflow")
    assert done.returncode == 2
    assert done.stderr == (
        "error: --auth needs the admin's password: set MLFLOW_AUTH_ADMIN_PASSWORD (12 characters "
        "or more; MLflow creates the admin user with it on the first start), or point "
        "MLFLOW_AUTH_CONFIG_PATH at your own basic_auth.ini"
    )
    assert [m for m in loaded if m in HEAVY] == []


def test_a_bad_port_or_a_port_in_use_is_named():
    store = "postgresql://u@127.0.0.1:9/mlflow"
    done, _ = launch("--port", "70000", MLFLOW_BACKEND_STORE_URI=store)
    assert done.stderr == "error: PORT='70000' is not a port; valid: an integer from 1 to 65535"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done, loaded = launch(MLFLOW_BACKEND_STORE_URI=store, PORT=str(port))
    assert done.returncode == 2
    assert done.stderr == (
        f"error: port {port} on 127.0.0.1 is in use; pick another with PORT, "
        f"e.g. `PORT={port + 1} make server`"
    )
    assert [m for m in loaded if m in HEAVY] == []
    done, _ = launch("--workers", "0", MLFLOW_BACKEND_STORE_URI=store)
    assert done.stderr == "error: --workers 0: valid: an integer of at least 1"


def test_the_store_is_given_the_installed_driver_and_sqlite_an_absolute_path(monkeypatch):
    monkeypatch.delenv("MLFLOW_BACKEND_STORE_URI", raising=False)
    uri = "postgresql://team:pw@db:5432/mlflow"
    assert team.backend_store(uri) == "postgresql+psycopg2://team:pw@db:5432/mlflow"
    assert team.backend_store("postgresql+psycopg2://db/m") == "postgresql+psycopg2://db/m"
    monkeypatch.chdir(REPO_ROOT)
    assert team.backend_store("sqlite:///team.db") == f"sqlite:///{REPO_ROOT / 'team.db'}"
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", uri)
    assert team.backend_store(None) == "postgresql+psycopg2://team:pw@db:5432/mlflow"
    assert team.backend_store("sqlite:////srv/a.db") == "sqlite:////srv/a.db"  # given wins


def test_artifacts_are_kept_in_mlartifacts_at_the_project_root_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT / "pipeline")
    assert team.artifacts_destination(None) == str(project_root() / "mlartifacts")
    assert team.artifacts_destination("s3://bucket/mlflow") == "s3://bucket/mlflow"
    monkeypatch.chdir(tmp_path)
    assert team.artifacts_destination("kept") == str(tmp_path / "kept")


def test_the_command_serves_artifacts_and_passes_mlflows_own_options_on():
    command = team.server_command(
        "postgresql+psycopg2://db/m", "0.0.0.0", 5001, "/srv/art",
        auth=True, workers=2, extra=["--allowed-hosts", "mlflow.example.org"],
    )  # fmt: skip
    assert command[:3] == [sys.executable, "-m", "mlflow"]
    assert command[3:] == [
        "server", "--backend-store-uri", "postgresql+psycopg2://db/m", "--host", "0.0.0.0",
        "--port", "5001", "--serve-artifacts", "--artifacts-destination", "/srv/art",
        "--workers", "2", "--app-name", "basic-auth", "--allowed-hosts", "mlflow.example.org",
    ]  # fmt: skip
    plain = team.server_command("sqlite:////a.db", "127.0.0.1", 5000, "/a", auth=False,
                                  workers=None, extra=[])  # fmt: skip
    assert "--app-name" not in plain and "--workers" not in plain


def mlflows_auth_config_reader():
    """MLflow's mlflow/server/auth/config.py, loaded alone: its package's __init__ starts
    the auth app (it needs Flask-WTF and opens the auth database)."""
    import importlib.util

    import mlflow

    path = Path(mlflow.__file__).parent / "server" / "auth" / "config.py"
    spec = importlib.util.spec_from_file_location("mlflow_auth_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_auth_without_flask_wtf_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(  # the library is absent, as in an environment without mlflow[auth]
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "flask_wtf" else find_spec(name, *a),
    )
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "a-long-admin-password")
    with pytest.raises(UsageError) as caught:
        team.auth_env(tmp_path, "sqlite:////a.db")
    assert str(caught.value) == (
        "--auth needs flask_wtf (MLflow's auth extra, in requirements.lock): run `make install`"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_auth_config_is_private_and_mlflow_reads_it_back(tmp_path, monkeypatch):
    """MLflow's own reader gets the database URI, a "%" of a URL-encoded password intact."""
    monkeypatch.delenv("MLFLOW_AUTH_CONFIG_PATH", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_FLASK_SERVER_SECRET_KEY", raising=False)
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "a-long-admin-password")
    database = "postgresql+psycopg2://team:p%40ss@db:5432/mlflow"
    env = team.auth_env(tmp_path, database)
    path = Path(env["MLFLOW_AUTH_CONFIG_PATH"])
    assert path.parent == tmp_path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(env["MLFLOW_FLASK_SERVER_SECRET_KEY"]) == 64

    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(path))
    config = mlflows_auth_config_reader().read_auth_config()
    assert config.database_uri == database
    assert (config.admin_username, config.admin_password) == ("admin", "a-long-admin-password")
    assert config.default_permission == "READ"


def test_a_users_auth_config_and_secret_key_are_kept(tmp_path, monkeypatch):
    own = tmp_path / "mine.ini"
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(own))
    monkeypatch.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "shared-by-our-servers")
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    assert team.auth_env(tmp_path, "sqlite:////a.db") == {
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "shared-by-our-servers"
    }
    assert list(tmp_path.iterdir()) == []  # nothing written over the user's config


def test_the_ready_lines_say_how_to_point_runs_at_it(monkeypatch):
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    uri = "postgresql+psycopg2://team:pw@db:5432/mlflow"
    local = team.ready_lines("http://127.0.0.1:5000", "127.0.0.1", uri, "/a", auth=False)
    assert local == [
        "MLflow tracking server: http://127.0.0.1:5000",
        "  runs in postgresql+psycopg2://team:***@db:5432/mlflow; artifacts served from /a",
        "  point runs at it: export MLFLOW_TRACKING_URI=http://127.0.0.1:5000",
        "  this machine only; HOST=0.0.0.0 make server shares it (add --auth)",
    ]
    shared = team.ready_lines("http://127.0.0.1:5000", "0.0.0.0", uri, "/a", auth=True)
    assert shared[2:] == [
        "  point runs at it: export MLFLOW_TRACKING_URI=http://<this machine's address>:5000",
        "  clients log in with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
        "(admin: admin; add users at http://127.0.0.1:5000/signup)",
    ]


def test_optlab_server_is_the_same_command():
    done, loaded = run_listing_loaded("optlab", "server", env=tool_env())
    assert done.returncode == 2 and "error: no backend store" in done.stderr
    assert [m for m in loaded if m in HEAVY] == []


@pytest.mark.slow
def test_a_real_server_on_sqlite_serves_runs_and_artifacts_and_stops(tmp_path):
    """The launcher as ``make server`` runs it, on a local store: a run and its artifact
    go through it; once stopped, nothing it started is left and its port is free."""
    import psutil
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'team.db'}"
    artifacts = tmp_path / "artifacts"
    with mlflow_server(store, artifacts) as url:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
            assert answer.read() == b"OK"
        client = MlflowClient(url)
        run = client.create_run(client.create_experiment("served"))
        (tmp_path / "note.txt").write_bytes(b"kept by the server")
        client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        stored = list(artifacts.rglob("note.txt"))  # the server wrote it where it was told
        assert [p.read_bytes() for p in stored] == [b"kept by the server"]
        port = int(url.rsplit(":", 1)[1])
        launcher_log = (tmp_path / f"mlflow-server-{port}.log").read_text()
        assert f"MLflow tracking server: {url}" in launcher_log
        assert f"export MLFLOW_TRACKING_URI={url}" in launcher_log
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(artifacts) in
                " ".join(p.info["cmdline"] or [])]  # fmt: skip
    with socket.create_server(("127.0.0.1", port)):
        pass  # the port is free again
