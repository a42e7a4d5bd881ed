"""Checksummed, atomic, multi-source downloads of the raw dataset files.

Every file is fetched into a temporary file beside its destination, verified
against its published sha256 and only then renamed into place, so the next
stage never sees a partial or unverified file.  Sources are tried in order (the
mirror from ``OPTLAB_DATA_MIRROR`` first, then the public hosts); transient
network errors are retried with exponential backoff.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from pipeline.config.schemas import pick
from pipeline.system.io import fix_mode
from pipeline.system.redact import redact

log = logging.getLogger(__name__)

MIRROR_ENV = "OPTLAB_DATA_MIRROR"
MIRROR_SCHEMES = ("http", "https", "file")
# Files at least this large get a progress bar; the small label files do not.
PROGRESS_MIN_BYTES = 1 << 20
# Read size for copying and hashing: big reads keep the per-call overhead negligible.
CHUNK_BYTES = 1 << 20
# HTTP statuses worth retrying on the same host; any other error moves on.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class DownloadError(RuntimeError):
    """A file could not be obtained from any source."""


class ChecksumError(DownloadError):
    """Downloaded bytes do not match the published sha256."""

    def __init__(self, name: str, url: str, expected: str, actual: str) -> None:
        self.name, self.url, self.expected, self.actual = name, url, expected, actual
        super().__init__(
            f"checksum mismatch for {name} downloaded from {redact(url)}: "
            f"expected sha256 {expected}, got {actual}"
        )


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, as published.

    Attributes:
        name: File name, identical on every host and in the mirror.
        sha256: Published sha256 of the exact bytes.
        size: Published size in bytes.
    """

    name: str
    sha256: str
    size: int


def sha256sum(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def validate_mirror(mirror: str | None) -> str | None:
    """Check a mirror base URL, returning it without a trailing slash.

    Raises:
        ValueError: if the URL's scheme is not one of ``MIRROR_SCHEMES``.
    """
    if not mirror:
        return None
    parsed = urllib.parse.urlparse(mirror)
    if parsed.scheme not in MIRROR_SCHEMES:
        raise ValueError(
            f"{MIRROR_ENV}={redact(mirror)!r} has scheme {parsed.scheme!r}; "
            f"valid schemes are {', '.join(MIRROR_SCHEMES)} (e.g. file:///abs/path/datasets)"
        )
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        # file://../x would read /x: the part after // is a host name, not a path.
        raise ValueError(
            f"{MIRROR_ENV}={redact(mirror)!r} names host {parsed.hostname!r}; a file:// mirror "
            "needs an "
            f"absolute path, e.g. file:///abs/path/datasets"
        )
    return mirror.rstrip("/")


def candidate_urls(
    name: str, base_urls: Sequence[str], mirror: str | None = None, mirror_dir: str = ""
) -> list[str]:
    """URLs to try for one file, in order: the mirror first, then each public host."""
    bases = list(base_urls)
    if mirror:
        bases.insert(0, "/".join(part.strip("/") for part in (mirror, mirror_dir) if part))
    return [f"{base.rstrip('/')}/{name}" for base in bases]


def _copy_local(url: str, output_file: str) -> str:
    """Copy a ``file://`` URL to ``output_file`` (pooch has no downloader for it),
    returning the sha256 of the bytes copied: hashed on the way, not read twice."""
    source = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(CHUNK_BYTES))
    with open(source, "rb", buffering=0) as src, open(output_file, "wb") as dst:
        while n := src.readinto(buffer):
            digest.update(buffer[:n])
            dst.write(buffer[:n])
    return digest.hexdigest()


def _transfer(url: str, output_file: str, size: int, timeout: float) -> str:
    """Fetch ``url`` into ``output_file``; return the sha256 of the bytes written."""
    if url.startswith("file:"):
        return _copy_local(url, output_file)
    import pooch  # lazy, for cost: only HTTP(S) needs it (and requests)

    downloader = pooch.HTTPDownloader(
        progressbar=size >= PROGRESS_MIN_BYTES,
        chunk_size=1 << 16,
        timeout=timeout,
        # A host that labels .gz files Content-Encoding: gzip would otherwise
        # have requests decompress them, and the checksum would never match.
        headers={"Accept-Encoding": "identity"},
    )
    downloader(url, output_file, None)
    return sha256sum(output_file)


def _is_transient(error: Exception) -> bool:
    """True for errors worth retrying on the same URL."""
    if "requests" not in sys.modules:  # not loaded: no HTTP transfer was tried
        return False
    import requests  # lazy: requests is slow to import and only needed here

    if isinstance(error, requests.HTTPError):
        response = error.response
        return response is not None and response.status_code in RETRY_STATUSES
    return isinstance(
        error,
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
    )


def _describe(error: Exception) -> str:
    """The error in one line, without the secrets of the URL it may quote."""
    text = str(error) or error.__class__.__name__
    return redact(
        text if isinstance(error, ChecksumError) else f"{error.__class__.__name__}: {text}"
    )


def fetch(
    remote: RemoteFile,
    urls: Sequence[str],
    dest_dir: str | os.PathLike[str],
    *,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
) -> Path:
    """Make sure ``dest_dir/remote.name`` exists with the published sha256.

    A file already present with the right hash is kept as it is.  Otherwise each
    URL is tried in turn; a transient network error is retried up to
    ``retries`` times with exponential backoff (``backoff``, ``2*backoff``, ...).

    Args:
        remote: The file to obtain.
        urls: Full URLs to try, in order.
        dest_dir: Folder the verified file ends up in (created if missing).
        retries: Extra attempts per URL after a transient error.
        backoff: Seconds to wait before the first retry; doubles each time.
        timeout: Seconds a connection may stall.

    Returns:
        The path of the verified file.

    Raises:
        ChecksumError: if the only source served wrong bytes.
        DownloadError: if every source failed; the message lists each URL and its error.
    """
    dest_dir = Path(dest_dir)
    target = dest_dir / remote.name
    if target.is_file() and sha256sum(target) == remote.sha256:
        log.info("%s already present and verified", target)
        return target
    if not urls:
        raise DownloadError(f"no source configured for {remote.name}")
    dest_dir.mkdir(parents=True, exist_ok=True)

    failures: list[tuple[str, Exception]] = []
    for url in urls:
        for attempt in range(retries + 1):
            try:
                return _fetch_verified(remote, url, target, timeout)
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                retry = attempt < retries and _is_transient(error)
                log.warning(
                    "%s: %s%s", redact(url), _describe(error), " (retrying)" if retry else ""
                )
                if not retry:
                    failures.append((url, error))
                    break
                time.sleep(backoff * 2**attempt)

    if len(failures) == 1 and isinstance(failures[0][1], ChecksumError):
        raise failures[0][1]
    lines = "\n".join(f"  - {redact(url)}\n      {_describe(error)}" for url, error in failures)
    raise DownloadError(f"could not download {remote.name}; every source failed:\n{lines}")


def _fetch_verified(remote: RemoteFile, url: str, target: Path, timeout: float) -> Path:
    """Download ``url`` to ``target`` if its sha256 is the published one; else raise,
    leaving nothing behind (the part file lives beside ``target``: the rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    fix_mode(tmp)
    try:
        log.info("fetching %s", redact(url))
        actual = _transfer(url, tmp, remote.size, timeout)
        if actual != remote.sha256:
            raise ChecksumError(remote.name, url, remote.sha256, actual)
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_dataset(
    files: Mapping[str, RemoteFile],
    base_urls: Sequence[str],
    dest_dir: str | os.PathLike[str],
    *,
    mirror: str | None = None,
    mirror_dir: str = "",
    **fetch_options: float,
) -> list[Path]:
    """Fetch and verify every file of one dataset into ``dest_dir``.

    Args:
        files: The dataset's files by name.
        base_urls: Public hosts, each a base URL the file names are appended to.
        dest_dir: Output folder.
        mirror: Optional mirror base URL, tried first as ``<mirror>/<mirror_dir>/<name>``.
        mirror_dir: The dataset's folder in the mirror.
        **fetch_options: Passed on to :func:`fetch` (retries, backoff, timeout).

    Returns:
        Paths of the verified files, in the order given.
    """
    mirror = validate_mirror(mirror)
    dest = Path(dest_dir)
    # A process killed mid-transfer (SIGKILL skips ``finally``) leaves its
    # temporary file behind; it is never a valid output, so sweep it away.
    for stale in dest.glob(".*.part") if dest.is_dir() else ():
        stale.unlink()
    return [
        fetch(
            remote,
            candidate_urls(remote.name, base_urls, mirror, mirror_dir),
            dest_dir,
            **fetch_options,
        )
        for remote in files.values()
    ]


def fetch_raw(data: DictConfig, dataset: str, out: Path) -> list[Path]:
    """Download and verify ``dataset``'s raw files into ``out`` (``data`` is the config's
    ``data`` node)."""
    source = pick(data.datasets, dataset, "dataset")
    files = {name: RemoteFile(name, f.sha256, f.size) for name, f in source.files.items()}
    return download_dataset(
        files,
        list(source.urls),
        out,
        mirror=os.environ.get(MIRROR_ENV),
        mirror_dir=source.mirror_dir,
        retries=data.download.retries,
        backoff=data.download.backoff,
        timeout=data.download.timeout,
    )
