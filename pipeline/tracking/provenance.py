"""Where a run comes from: the code (git commit, a dirty tree), the library versions, the
input data (a digest, DVC's md5 checked against ``dvc.lock``), and the run key that
names what decides its results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from pipeline.config import contract
from pipeline.config.paths import layout, read_yaml
from pipeline.system.io import atomic_write_json
from pipeline.system.redact import redact

# MLflow's tag for the commit a run's code came from (the UI's Version column).
GIT_COMMIT_TAG = "mlflow.source.git.commit"

# Whether the checkout had uncommitted changes to tracked files: "true", "false", "unknown".
GIT_DIRTY_TAG = "git.dirty"

# The tag that identifies a run's input data; also the digest of its logged datasets.
DATA_DIGEST_TAG = "data.digest"

# MLflow caps a dataset digest at 36 characters: 32 hex digits of sha256 (128 bits).
DIGEST_CHARS = 32

# Runtime settings never change results (pipeline.config.schemas.RuntimeConfig), save these:
# the gradient-norm sample shapes the logged norms, and TensorFlow's intra-op thread
# count splits its sums (pipeline.training.runtime.PINNED_THREADS). The others stay out of a
# run's key.
RUNTIME_PREFIX = "runtime."

RESULT_RUNTIME_KEYS = ("runtime.grad_norm_samples", "runtime.intra_op_threads")

# The format of a data folder's remembered hashes (see folder_hashes).
STATE_VERSION = 1

# A file changed less than this before its folder's hashing began is not remembered:
# well above any file system's timestamp granularity (ext4's is a clock tick).
SETTLED_NS = 2_000_000_000


def run_key(params: Mapping[str, str], data_digest: str) -> str:
    """The :data:`~pipeline.config.contract.RUN_KEY_TAG` of a run: a sha256 (hex) over its
    logged params that change results and its data digest.

    Two runs with equal keys trained the same config on the same data, so (training
    being deterministic) have identical results, whatever their threads or
    ``steps_per_execution``.  Unlike a run id, the key is a stable DVC output.
    """
    kept = {
        k: v
        for k, v in params.items()
        if not k.startswith(RUNTIME_PREFIX) or k in RESULT_RUNTIME_KEYS
    }
    text = json.dumps({"params": kept, "data": data_digest}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def source_tags(root: Path) -> dict[str, str]:
    """MLflow's own source tags (entry point, user, commit) and whether the tree was dirty.

    The UI's Source and Version columns read ``mlflow.source.*``; the fluent
    ``mlflow.start_run`` sets them itself, ``MlflowClient.create_run`` does not, so
    runs created by the client (a sweep's parent, a run that failed before
    training, a comparison run) take them from here.  The commit is that of
    ``root``, the checkout the code ran from (a queued DVC copy's own).
    """
    from mlflow.tracking.context.registry import resolve_tags

    # The repository URL (mlflow.source.git.repoURL) is the origin's, which may hold a token.
    tags = {key: redact(str(value)) for key, value in resolve_tags().items()}
    commit = _git("rev-parse", "HEAD", cwd=root)
    if commit is None:
        tags.pop(GIT_COMMIT_TAG, None)
        return {**tags, GIT_DIRTY_TAG: "unknown"}
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
    return {**tags, GIT_COMMIT_TAG: commit, GIT_DIRTY_TAG: str(bool(status)).lower()}


def library_versions() -> dict[str, str]:
    """The installed version of each of :data:`~pipeline.config.contract.LIBRARIES`, read from
    the package metadata (nothing is imported)."""
    from importlib.metadata import version

    return {name: version(name) for name in contract.LIBRARIES}


def version_tags() -> dict[str, str]:
    """Versions of the libraries that decide the numbers (``version.<library>``)."""
    return {f"version.{name}": v for name, v in library_versions().items()}


def data_tags(data_dir: Path, root: Path) -> dict[str, str]:
    """Identify the input data: a sha256 over the folder's files (:data:`DATA_DIGEST_TAG`,
    shortened to fit MLflow's dataset digest), and DVC's md5 from ``dvc.lock`` when
    the folder is a stage output there.

    The files are read only when they changed since they were last hashed
    (:func:`folder_hashes`; its state lies in the layout's ``state`` folder of ``root``).

    Raises:
        ValueError: ``dvc.lock`` records another md5 for the folder than its files
            have (changed, or damaged, since that stage ran): naming the folder and
            the command that rebuilds it.
    """
    digest, dvc_md5 = folder_hashes(data_dir, _state_dir(root))
    tags = {"data.path": str(data_dir), DATA_DIGEST_TAG: digest}
    locked = _locked_out(data_dir, root)
    if locked is not None:
        stage, md5 = locked
        if md5 != dvc_md5:
            raise ValueError(
                f"{data_dir} does not match dvc.lock (its files hash to md5 {dvc_md5}, "
                f"dvc.lock records {md5}): it changed after stage {stage} made it; "
                f"rebuild it with `dvc repro {stage}`"
            )
        tags["data.dvc_md5"] = md5
    return tags


def folder_hashes(folder: Path, state_dir: Path | None) -> tuple[str, str]:
    """The :data:`DATA_DIGEST_TAG` sha256 and DVC's md5 of ``folder``
    (:func:`_folder_hashes`), remembered in ``state_dir`` with each file's stat.

    As DVC's own state does, a file whose path, size, mtime, ctime, inode and device
    are those it had when hashed is taken to hold the bytes it had then, so an
    unchanged folder is not read again. Any write to a file changes its ctime, and
    so does restoring its mtime by hand (``touch -d``, ``cp -p``, ``rsync -t``): the
    folder is hashed again. A file changed within :data:`SETTLED_NS` before its hashing
    began is not remembered (git's "racily clean" files): a second change inside the
    file system's timestamp granularity could leave its stat as it was. Without a
    ``state_dir`` (no project), or when the state cannot be written, every call hashes.
    """
    if state_dir is None:
        return _folder_hashes(folder)
    where = str(folder.resolve())
    file = state_dir / f"{hashlib.sha256(where.encode()).hexdigest()[:24]}.json"
    stats = _stats(folder)
    state = {"version": STATE_VERSION, "folder": where, "files": stats}
    known = _read_json(file)
    hashes = known.get("digest"), known.get("dvc_md5")
    if {key: known.get(key) for key in state} == state and all(isinstance(h, str) for h in hashes):
        return hashes
    started = time.time_ns()
    digest, dvc_md5 = _folder_hashes(folder)
    settled = all(max(row[2], row[3]) < started - SETTLED_NS for row in stats)
    if settled and _stats(folder) == stats:  # nothing changed while it was read
        with contextlib.suppress(OSError):  # a read-only checkout: hash every time
            atomic_write_json(file, {**state, "digest": digest, "dvc_md5": dvc_md5})
    return digest, dvc_md5


def _state_dir(root: Path) -> Path | None:
    """The layout's ``state`` folder of the project at ``root``; None without a project."""
    try:
        return layout(root).state / "data-hashes"
    except (FileNotFoundError, ValueError):
        return None


def _stats(folder: Path) -> list[list[str | int]]:
    """``[relpath, size, mtime_ns, ctime_ns, inode, device]`` of each file of ``folder``."""
    rows: list[list[str | int]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = path.stat()
        relpath = path.relative_to(folder).as_posix()
        rows.append([relpath, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev])
    return rows


def _read_json(file: Path) -> dict:
    """A state file's content; empty if missing or unreadable (then the folder is hashed)."""
    try:
        content = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def _folder_hashes(folder: Path) -> tuple[str, str]:
    """One read of every file of ``folder``: the :data:`DATA_DIGEST_TAG` sha256 and the
    md5 DVC gives the folder (the md5 of its sorted ``{"md5", "relpath"}`` listing)."""
    digest = hashlib.sha256()
    listing = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relpath = path.relative_to(folder).as_posix()
        digest.update(relpath.encode())
        md5 = hashlib.md5()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                md5.update(chunk)
        listing.append({"md5": md5.hexdigest(), "relpath": relpath})
    listing.sort(key=lambda entry: entry["relpath"])
    dvc_md5 = hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"
    return digest.hexdigest()[:DIGEST_CHARS], dvc_md5


def _locked_out(folder: Path, root: Path) -> tuple[str, str] | None:
    """The stage of ``root/dvc.lock`` that outputs ``folder``, and the md5 recorded for it."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return None
    stages = (read_yaml(lock) or {}).get("stages", {})
    for stage, entry in stages.items():
        for out in entry.get("outs", []):
            if (root / out["path"]).resolve() == folder.resolve() and "md5" in out:
                return stage, out["md5"]
    return None
