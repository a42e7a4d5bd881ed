"""Tiny generated datasets in the mirror's layout, and a real local HTTP server."""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import numpy as np

from benchmarks.project import copy_files
from pipeline.data.idx import write_idx

IRIS_CLASSES = ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
REPO_ROOT = Path(__file__).resolve().parents[1]
# name in config -> folder in the mirror
MIRROR_DIRS = {"iris": "iris", "mnist": "mnist", "fashion_mnist": "fashion-mnist"}


# `python -c` this, then the train stage's arguments: the stage, failing before TensorFlow
# loads (it exits with an AssertionError if TensorFlow was imported by then).
TRAIN_STAGE_WITHOUT_TENSORFLOW = (
    "import sys; from pipeline.system.entry import run; "
    "from pipeline.stages.train import main; "
    "status = run(main, sys.argv[1:]); "
    "assert 'tensorflow' not in sys.modules, 'TensorFlow loaded before the error'; "
    "raise SystemExit(status)"
)
WRONG_SHA = "0" * 64  # a well-formed sha256 no tiny file has


def listing(folder: Path) -> list[str]:
    """Every entry of ``folder`` (hidden temporary files included), sorted."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_iris(path: Path, per_class: int = 20, seed: int = 0) -> Path:
    """A UCI-style iris.data: four numbers and a class per line, a blank line at the end."""
    rng = np.random.default_rng(seed)
    lines = []
    for k, name in enumerate(IRIS_CLASSES):
        centre = np.array([5.0, 3.4, 1.5, 0.2]) + k * np.array([0.9, -0.6, 2.5, 1.0])
        for row in centre + rng.normal(0, 0.3, size=(per_class, 4)):
            lines.append(",".join(f"{v:.1f}" for v in np.abs(row)) + f",{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n\n")
    return path


def write_idx_dataset(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """MNIST-style gzipped IDX files with 10 balanced classes of 28x28 uint8 images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):  # a class-dependent bright stripe: learnable
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 200
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def make_mirror(root: Path) -> Path:
    """Tiny iris, MNIST and Fashion-MNIST laid out like ``../shared/datasets``."""
    write_iris(root / "iris" / "iris.data")
    write_idx_dataset(root / "mnist", seed=1)
    write_idx_dataset(root / "fashion-mnist", seed=2)
    return root


def tiny_catalogue(mirror: Path, urls: list[str] | None = None) -> dict:
    """The ``data.datasets`` entries that describe the tiny files in ``mirror``.

    Public hosts are replaced by ``urls`` (default: a closed local port), so a test
    can never reach the internet.  Merge the result onto a composed config, or
    onto ``conf/data/default.yaml``'s ``datasets``.
    """
    urls = urls or ["http://127.0.0.1:9"]
    catalogue = {}
    for name, folder in MIRROR_DIRS.items():
        files = IDX_FILES if name != "iris" else ("iris.data",)
        catalogue[name] = {
            "urls": list(urls),
            "files": {
                f: {
                    "sha256": sha256(mirror / folder / f),
                    "size": (mirror / folder / f).stat().st_size,
                }
                for f in files
            },
        }
        if name != "iris":
            catalogue[name]["split"] = {"validation": 10}
    return catalogue


def tiny_config(mirror: Path, urls: list[str] | None = None, overrides: list[str] | None = None):
    """conf/ composed (with ``overrides``) and pointed at the tiny files in ``mirror``."""
    from omegaconf import OmegaConf

    from pipeline.config.compose import compose_config

    cfg = compose_config(overrides or [], config_dir=REPO_ROOT / "conf")
    tiny = {"datasets": tiny_catalogue(mirror, urls), "download": {"backoff": 0.01}}
    return OmegaConf.merge(cfg, {"data": tiny})


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1 (ephemeral port) serving ``root``.

    ``faults`` maps a URL path to a misbehaviour for its next requests:
    ``"500"`` (an internal server error) or ``"truncate"`` (the right
    Content-Length, half the body), each optionally ``"500*2"`` for only the
    first two requests.  ``hits`` counts GET requests per path.
    """

    root: Path
    faults: dict[str, str] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)
    url: str = ""

    def __post_init__(self) -> None:
        handler = partial(_Handler, self, directory=str(self.root))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # A short poll interval: close() waits for serve_forever to notice the shutdown.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, server_state: LocalServer, *args, **kwargs):
        self.state = server_state
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _fault(self) -> str | None:
        fault = self.state.faults.get(self.path)
        if not fault:
            return None
        kind, _, times = fault.partition("*")
        if times:
            left = int(times) - 1
            if left <= 0:
                del self.state.faults[self.path]
            else:
                self.state.faults[self.path] = f"{kind}*{left}"
        return kind

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.state.hits[self.path] += 1
        fault = self._fault()
        if fault == "500":
            self.send_error(500, "injected failure")
            return
        if fault == "truncate":
            body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


class SilentServer:
    """A real TCP server on 127.0.0.1 that accepts connections and never answers (a hung
    tracking server). ``url`` is its address; :meth:`close` stops it and drops its
    connections."""

    def __init__(self) -> None:
        import socket

        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)  # the accept loop notices close() within this
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.connections: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:  # a timeout, or the socket closed
                continue
            self.connections.append(connection)  # held open, never read or answered

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self._socket.close()


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def make_project_copy(dest: Path, mirror: Path, urls: list[str] | None = None) -> Path:
    """A git + DVC repository holding a copy of the project, its catalogue pointed at ``mirror``.

    ``conf/data/default.yaml`` is rewritten with the tiny files' checksums (and
    ``urls`` as public hosts), then everything is committed.
    """
    from omegaconf import OmegaConf

    copy_files(dest)
    data_conf = dest / "conf" / "data" / "default.yaml"
    tiny = {"datasets": tiny_catalogue(mirror, urls), "download": {"backoff": 0.01}}
    merged = OmegaConf.merge(OmegaConf.load(data_conf), tiny)
    OmegaConf.save(merged, data_conf)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "project copy")
    return dest


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this interpreter's bin folder first on PATH.

    Stage commands call ``python``; they must get the interpreter running the tests.
    """
    # A mirror or tracking server set in the developer's shell must not leak in.
    leaky = {"OPTLAB_DATA_MIRROR", "MLFLOW_TRACKING_URI"}
    env = {k: v for k, v in os.environ.items() if k not in leaky}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


# A line TensorFlow or CUDA prints: absl's prefix (level, date), or a mention of CUDA or
# absl. pipeline.system.quiet holds TensorFlow's start-up lines back: a run shows none.
_TENSORFLOW_LINE = re.compile(r"^[IWEF]\d{4} \d|absl::|cuda", re.IGNORECASE)


def tensorflow_lines(text: str) -> list[str]:
    """The lines of ``text`` (a process's stderr) that TensorFlow or CUDA printed."""
    return [line for line in text.splitlines() if _TENSORFLOW_LINE.search(line)]


DVC = str(Path(sys.executable).parent / "dvc")  # this environment's DVC CLI


class Logged(NamedTuple):
    """A started process and the file its output goes to."""

    process: subprocess.Popen
    log: Path


def start_logged(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Logged:
    """Start ``command`` in ``cwd``, its output into ``log`` (a file: no pipe to fill while
    another process is awaited); :func:`all_succeed` waits."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Logged(process, log)


def dvc_process(repo: Path, *args: str, env: dict[str, str], log: Path) -> Logged:
    """Start the ``dvc`` CLI of this environment in ``repo``, its output into ``log``."""
    return start_logged([DVC, *args], repo, env, log)


def all_succeed(*started: Logged, timeout: float = 600) -> None:
    """Wait for processes started together; each must exit 0 (else: its log's tail)."""
    for process, log in started:
        assert process.wait(timeout=timeout) == 0, log.read_text()[-5000:]


def dvc(repo: Path, *args: str, env: dict[str, str], check: bool = True):
    """Run the ``dvc`` CLI of this environment in ``repo``."""
    done = subprocess.run(
        [DVC, *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


# Libraries that cost a process a quarter second or more to import: a data stage has no use
# for any of them, and no --help or bad value may load TensorFlow, Keras, MLflow or matplotlib.
COSTLY_IMPORTS = (
    "hydra", "pandas", "pooch", "requests", "tensorflow", "keras", "mlflow", "matplotlib",
)  # fmt: skip
# `python -c` this, then `optlab` or a module, then its arguments: runs it as the console
# script or `python -m` (DVC's way) would, and prints on stderr, last, which of
# COSTLY_IMPORTS it loaded, as JSON.
RUN_LISTING_LOADED = (
    "import atexit, json, runpy, sys\n"
    f"costly = {COSTLY_IMPORTS!r}\n"
    "atexit.register(lambda: print('loaded:', json.dumps([m for m in costly if m in sys.modules]), "
    "file=sys.stderr))\n"
    "target = sys.argv[1]\n"
    "sys.argv = sys.argv[1:]\n"
    "if target == 'optlab':\n"
    "    from pipeline.cli import main\n"
    "    raise SystemExit(main())\n"
    "runpy.run_module(target, run_name='__main__', alter_sys=True)\n"
)


def run_listing_loaded(
    *command: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``optlab`` or a module (``pipeline.stages.download``, ...) with its arguments in a
    process of its own (see :data:`RUN_LISTING_LOADED`): the finished process, its stderr
    without the last line, and which of :data:`COSTLY_IMPORTS` it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_LISTING_LOADED, *command],
        cwd=cwd,
        env=tool_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    *err, last = done.stderr.rstrip("\n").split("\n")
    done.stderr = "\n".join(err)
    reached = last.startswith("loaded: ")
    return done, json.loads(last.removeprefix("loaded: ")) if reached else ["<not reached>"]


# Overrides that make a Keras fit on the tiny data take a second or two.
FAST_TRAINING = [
    "training.epochs=2",
    "runtime.verbose=0",
    "runtime.grad_norm_samples=32",
]


def make_fast(repo: Path) -> None:
    """Shrink a project copy's training settings in ``conf/`` (tiny model, one epoch), and
    its figures' (few points and steps, shallow networks)."""
    from omegaconf import OmegaConf

    for rel, changes in (
        # The figures stage trains this preset (its vanishing-gradient panel): 3 layers.
        ("conf/experiment/vanishing_gradient.yaml", {"model": {"hidden_units": [8, 8, 8]}}),
        ("conf/config.yaml", {"training": {"epochs": 1}}),
        ("conf/config.yaml", {"runtime": {"verbose": 0, "grad_norm_samples": 32}}),
        ("conf/model/mlp.yaml", {"hidden_units": [16]}),
        (
            "conf/figures/default.yaml",
            {
                "gallery": {"points": 41},
                "paths": {"steps": 10},
                "vanishing": {"depth": 3, "width": 8, "samples": 16},
            },
        ),
    ):
        path = repo / rel
        # A preset's first line (`# @package _global_`) tells Hydra where it goes: kept.
        header = "".join(
            line for line in path.read_text().splitlines(True)[:1] if "@package" in line
        )
        merged = OmegaConf.to_yaml(OmegaConf.merge(OmegaConf.load(path) or {}, changes))
        path.write_text(header + merged)


@functools.cache
def _template(mirror: Path, target: str) -> Path:
    """A project copy whose data ``dvc repro <target>`` fetched from ``mirror`` (served on
    127.0.0.1) and prepared, committed: made once per process and target, in a
    temporary folder removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="optlab-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    repo = make_project_copy(folder / "repo", mirror)
    make_fast(repo)
    server = LocalServer(mirror)
    try:
        dvc(repo, "repro", target, env=tool_env(OPTLAB_DATA_MIRROR=server.url))
    finally:
        server.close()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    return repo


def prepared_copy(
    dest: Path, mirror: Path, server_url: str, target: str = "preprocess"
) -> tuple[Path, dict[str, str]]:
    """A fast project copy whose data ``dvc repro <target>`` fetched and prepared,
    committed; and the environment its commands run with (data from ``server_url``).

    The data stages run once per process and target; each copy is a copy of that
    repository (git, DVC cache and outputs), which DVC sees as up to date.
    """
    shutil.copytree(_template(mirror, target), dest, symlinks=True)
    return dest, tool_env(OPTLAB_DATA_MIRROR=server_url)


@contextmanager
def served_copy(folder: Path, mirror: Path) -> Iterator[tuple[Path, dict[str, str], LocalServer]]:
    """:func:`prepared_copy` in ``folder/repo``, its mirror served on 127.0.0.1 while the
    block runs (a job that lacks the data fetches it there); the copy, its environment and
    the server."""
    server = LocalServer(mirror)
    try:
        repo, env = prepared_copy(folder / "repo", mirror, server.url)
        yield repo, env, server
    finally:
        server.close()
