"""Is the tracking store there? A short check before any work, and bounded MLflow requests.

MLflow's own HTTP client waits 120 s per request and retries 7 times with exponential
backoff: against a dead server a training would load its data, build its model and
then retry for minutes.  :func:`check_store` asks the store once, with a short
timeout, before anything heavy; :func:`limit_client` bounds every later MLflow
request, so that a server that goes away mid-run costs seconds, not minutes.

The standard library only (and :mod:`pipeline.tracking.store`, which imports MLflow lazily):
it runs before MLflow, TensorFlow or the data are loaded.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from pipeline.system.redact import redact
from pipeline.tracking.store import tracking_uri

# MLflow's client settings (read by MLflow at each request); a value the user set wins.
TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
BACKOFF_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
# Two retries one and two seconds apart: a request gives up after at most
# 3 x timeout + 3 s (33 s with the default 10 s timeout), well under a minute.
RETRIES = 2
BACKOFF = 1
FIX = (
    "start it (`make ui` serves the project's store on http://127.0.0.1:5000), point "
    "MLFLOW_TRACKING_URI (or mlflow.tracking_uri) at a running server, or unset "
    "MLFLOW_TRACKING_URI to log to the project's own store (mlflow.db)"
)


log = logging.getLogger(__name__)
SERVER_SCHEMES = ("http", "https")
LOCAL_SCHEMES = ("sqlite", "file", "")  # "": a plain path, a file store as file: is
# The file stores already warned about in this process (a sweep checks once per job).
_warned: set[str] = set()


class TrackingUnavailable(ConnectionError):
    """The tracking store cannot be reached; the message names it (redacted) and the fix."""


def limit_client(timeout: float) -> None:
    """Bound MLflow's HTTP requests: ``timeout`` seconds each, :data:`RETRIES` retries
    :data:`BACKOFF` s apart; environment values the user set are kept."""
    os.environ.setdefault(TIMEOUT_ENV, str(max(1, math.ceil(timeout))))
    os.environ.setdefault(RETRIES_ENV, str(RETRIES))
    os.environ.setdefault(BACKOFF_ENV, str(BACKOFF))


def check_tracking(configured: str | None, timeout: float) -> str:
    """The tracking URI a run will use (``mlflow.tracking_uri``, else the environment's,
    else the project's store), checked by :func:`check_store`; later MLflow requests
    bounded by :func:`limit_client`."""
    uri = tracking_uri(configured)
    limit_client(timeout)
    check_store(uri, timeout)
    return uri


def check_store(uri: str, timeout: float) -> None:
    """Check that the tracking store at ``uri`` answers, within ``timeout`` seconds.

    A server (``http(s)://``) must answer an HTTP request (any status but 5xx: a
    server without ``/health`` still answers 404); a local store (``sqlite:///``,
    ``file:``, a path) must be in a folder that exists or can be created, and is
    writable (a file store gets a warning: MLflow deprecates it).  Any other scheme
    must be one MLflow has a tracking store for (``postgresql``, ``databricks``, ...).

    Raises:
        TrackingUnavailable: One line naming the store (credentials redacted), what
            went wrong and how to fix it.
    """
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme in SERVER_SCHEMES:
        _check_server(uri, timeout)
    elif scheme in LOCAL_SCHEMES:
        _check_local(uri)
        if scheme != "sqlite":
            _warn_file_store(uri)
    else:
        _check_scheme(uri, scheme)


def _check_scheme(uri: str, scheme: str) -> None:
    """MLflow's own answer to "is there a tracking store for this URI?", before anything
    has loaded MLflow's stores (at run creation it would be a traceback)."""
    # lazy, for cost: MLflow's store registry (about 1 s), only for a scheme not above
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    try:
        _tracking_store_registry.get_store_builder(uri)
    except MlflowException:
        valid = ", ".join(sorted(s for s in _tracking_store_registry._registry if s))
        raise TrackingUnavailable(
            f"tracking URI {redact(uri)} (mlflow.tracking_uri or MLFLOW_TRACKING_URI): "
            f"MLflow has no tracking store for scheme {scheme!r}; valid schemes: {valid}, "
            "or a path"
        ) from None


def _warn_file_store(uri: str) -> None:
    if uri not in _warned:
        _warned.add(uri)
        log.warning(
            "MLflow tracking store %s is a file store, which MLflow deprecates; prefer "
            "sqlite:///mlflow.db or a server (`mlflow migrate-filestore --source <folder> "
            "--target sqlite:///mlflow.db` moves its runs)",
            redact(uri),
        )


def _health_request(uri: str) -> urllib.request.Request:
    """``GET <uri>/health``, credentials in the URI sent as basic auth (as MLflow's client
    does), not as part of the host."""
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    url = urllib.parse.urlunsplit(parts._replace(netloc=netloc, path=parts.path.rstrip("/")))
    request = urllib.request.Request(url.split("?")[0] + "/health")
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


def _check_server(uri: str, timeout: float) -> None:
    shown = redact(uri)
    try:
        with urllib.request.urlopen(_health_request(uri), timeout=timeout) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as error:
        if error.code < 500:
            return  # it answered: the server is there (auth and paths are MLflow's business)
        reason = f"it answers {error.code} {error.reason}"
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except (urllib.error.URLError, OSError) as error:
        cause = getattr(error, "reason", error)
        reason = (
            f"no answer within {timeout:g} s"
            if isinstance(cause, TimeoutError)
            else f"cannot connect: {cause}"
        )
    else:
        return
    raise TrackingUnavailable(f"MLflow tracking server {shown} is unreachable ({reason}); {FIX}")


def _check_local(uri: str) -> None:
    path = uri.removeprefix("sqlite:///").removeprefix("file://").removeprefix("file:")
    if uri.startswith("sqlite://") and not uri.startswith("sqlite:///"):
        return  # sqlite:// alone is an in-memory store
    folder = Path(path).parent if uri.startswith("sqlite") else Path(path)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise TrackingUnavailable(
            f"MLflow store {redact(uri)} cannot be written: {existing or folder} is not "
            f"a writable folder; {FIX}"
        )
