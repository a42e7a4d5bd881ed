"""Downloads against a real HTTP server on 127.0.0.1 and ``file://`` mirrors; nothing mocked."""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket

import numpy as np
import pytest

from pipeline.data.download import (
    CHUNK_BYTES,
    MIRROR_ENV,
    PROGRESS_MIN_BYTES,
    ChecksumError,
    DownloadError,
    RemoteFile,
    candidate_urls,
    download_dataset,
    fetch,
    validate_mirror,
)
from tests.helpers import IDX_FILES, WRONG_SHA, LocalServer, listing, sha256

# Quick retries: a whole retry cycle costs milliseconds.
FAST = {"backoff": 0.01, "timeout": 5.0}
IRIS = "/iris/iris.data"


def remote_files(mirror_dir, folder, names):
    """RemoteFile facts of the tiny files in ``mirror_dir/folder``."""
    return {
        name: RemoteFile(
            name, sha256(mirror_dir / folder / name), (mirror_dir / folder / name).stat().st_size
        )
        for name in names
    }


def iris_file(mirror_dir):
    return remote_files(mirror_dir, "iris", ["iris.data"])["iris.data"]


@pytest.fixture
def closed_url():
    """Base URL of a local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def public(mirror_dir):
    """A second local server standing in for the public host (the ``server`` is the mirror)."""
    srv = LocalServer(mirror_dir)
    yield srv
    srv.close()


# ------------------------------------------------------------------ fetch / download_dataset
def test_download_dataset_over_http(server, mirror_dir, tmp_path):
    """Every MNIST file lands verified in the output folder; no temporary file is left."""
    files = remote_files(mirror_dir, "mnist", IDX_FILES)
    dest = tmp_path / "out"

    paths = download_dataset(files, [server.url + "/mnist"], dest, retries=0, **FAST)

    assert paths == [dest / name for name in IDX_FILES]
    for name, remote in files.items():
        assert sha256(dest / name) == remote.sha256
        assert server.hits[f"/mnist/{name}"] == 1
    assert listing(dest) == sorted(IDX_FILES)


def test_checksum_mismatch_names_everything_and_leaves_nothing(server, mirror_dir, tmp_path):
    remote = RemoteFile("iris.data", WRONG_SHA, iris_file(mirror_dir).size)
    url = server.url + IRIS
    dest = tmp_path / "out"

    with pytest.raises(ChecksumError) as caught:
        fetch(remote, [url], dest, retries=3, **FAST)

    actual = sha256(mirror_dir / "iris" / "iris.data")
    message = str(caught.value)
    for part in ("iris.data", url, WRONG_SHA, actual):
        assert part in message
    assert (caught.value.expected, caught.value.actual, caught.value.url) == (
        WRONG_SHA,
        actual,
        url,
    )
    assert server.hits[IRIS] == 1  # wrong bytes are not a transient error
    assert listing(dest) == []


def test_first_source_down_falls_back_to_next(server, mirror_dir, closed_url, tmp_path, caplog):
    """A refused connection is retried (it may be a blip), then the next source is used."""
    remote = iris_file(mirror_dir)
    down = closed_url + "/iris.data"

    with caplog.at_level(logging.WARNING, logger="pipeline.data.download"):
        path = fetch(remote, [down, server.url + IRIS], tmp_path, retries=2, **FAST)

    assert path == tmp_path / "iris.data"
    assert sha256(path) == remote.sha256
    assert server.hits[IRIS] == 1
    assert listing(tmp_path) == ["iris.data"]
    attempts = [r.getMessage() for r in caplog.records if r.getMessage().startswith(down)]
    assert len(attempts) == 3
    assert all("ConnectionError" in message for message in attempts)
    assert [m.endswith("(retrying)") for m in attempts] == [True, True, False]


@pytest.mark.parametrize("retries", [0, 2])
def test_persistent_500_is_retried_then_fails(server, mirror_dir, tmp_path, retries):
    server.faults[IRIS] = "500"
    url = server.url + IRIS

    with pytest.raises(DownloadError) as caught:
        fetch(iris_file(mirror_dir), [url], tmp_path, retries=retries, **FAST)

    assert not isinstance(caught.value, ChecksumError)
    assert server.hits[IRIS] == retries + 1
    assert url in str(caught.value)
    assert "500" in str(caught.value)
    assert listing(tmp_path) == []


def test_transient_500_succeeds_after_a_retry(server, mirror_dir, tmp_path):
    server.faults[IRIS] = "500*1"
    remote = iris_file(mirror_dir)

    path = fetch(remote, [server.url + IRIS], tmp_path, retries=2, **FAST)

    assert server.hits[IRIS] == 2
    assert sha256(path) == remote.sha256
    assert listing(tmp_path) == ["iris.data"]


def test_persistent_truncation_is_retried_then_fails(server, mirror_dir, tmp_path):
    server.faults[IRIS] = "truncate"
    url = server.url + IRIS

    with pytest.raises(DownloadError) as caught:
        fetch(iris_file(mirror_dir), [url], tmp_path, retries=2, **FAST)

    # A short body is a broken connection (retried), not a checksum mismatch.
    assert not isinstance(caught.value, ChecksumError)
    assert server.hits[IRIS] == 3
    assert url in str(caught.value)
    assert "ChunkedEncodingError" in str(caught.value)
    assert listing(tmp_path) == []


def test_one_off_truncation_succeeds_after_a_retry(server, mirror_dir, tmp_path):
    server.faults[IRIS] = "truncate*1"
    remote = iris_file(mirror_dir)

    path = fetch(remote, [server.url + IRIS], tmp_path, retries=1, **FAST)

    assert server.hits[IRIS] == 2
    assert sha256(path) == remote.sha256
    assert listing(tmp_path) == ["iris.data"]


def test_large_file_is_fetched_with_a_progress_bar(server, mirror_dir, tmp_path, capfd):
    """Files of PROGRESS_MIN_BYTES or more show a progress bar (on stderr); smaller ones not."""
    small = iris_file(mirror_dir)
    fetch(small, [server.url + IRIS], tmp_path / "small", retries=0, **FAST)
    assert "100%" not in capfd.readouterr().err

    remote = RemoteFile(small.name, small.sha256, PROGRESS_MIN_BYTES)
    path = fetch(remote, [server.url + IRIS], tmp_path, retries=0, **FAST)

    assert "100%|" in capfd.readouterr().err  # tqdm's finished bar
    assert sha256(path) == remote.sha256
    assert listing(tmp_path) == ["iris.data", "small"]


def test_verified_file_is_not_fetched_again(server, mirror_dir, tmp_path):
    remote = iris_file(mirror_dir)
    url = server.url + IRIS
    fetch(remote, [url], tmp_path, retries=0, **FAST)
    server.hits.clear()
    server.faults[IRIS] = "500"  # a second request would fail loudly

    path = fetch(remote, [url], tmp_path, retries=0, **FAST)

    assert sum(server.hits.values()) == 0
    assert sha256(path) == remote.sha256


def test_present_file_with_wrong_contents_is_replaced(server, mirror_dir, tmp_path):
    remote = iris_file(mirror_dir)
    (tmp_path / "iris.data").write_text("not iris\n")

    path = fetch(remote, [server.url + IRIS], tmp_path, retries=0, **FAST)

    assert server.hits[IRIS] == 1
    assert sha256(path) == remote.sha256
    assert listing(tmp_path) == ["iris.data"]


def test_404_is_not_retried_and_next_source_is_tried(server, mirror_dir, tmp_path):
    remote = iris_file(mirror_dir)

    path = fetch(
        remote, [server.url + "/nope/iris.data", server.url + IRIS], tmp_path, retries=3, **FAST
    )

    assert server.hits["/nope/iris.data"] == 1
    assert server.hits[IRIS] == 1
    assert sha256(path) == remote.sha256


def test_every_source_failing_lists_each_url_and_its_error(
    server, mirror_dir, closed_url, tmp_path
):
    server.faults[IRIS] = "500"
    urls = [closed_url + "/iris.data", server.url + "/nope/iris.data", server.url + IRIS]

    with pytest.raises(DownloadError) as caught:
        fetch(iris_file(mirror_dir), urls, tmp_path, retries=1, **FAST)

    message = str(caught.value)
    assert "iris.data" in message.splitlines()[0]
    expected_errors = ["ConnectionError", "HTTPError: 404", "HTTPError: 500"]
    positions = []
    for url, error in zip(urls, expected_errors, strict=True):
        # Each URL is followed, on the next line, by its own error.
        assert f"- {url}\n" in message
        after = message.split(f"- {url}\n", 1)[1].splitlines()[0]
        assert error in after
        positions.append(message.index(f"- {url}\n"))
    assert positions == sorted(positions)  # listed in the order tried
    assert listing(tmp_path) == []


def test_wrong_bytes_from_every_source_is_a_download_error_listing_both(
    server, mirror_dir, tmp_path
):
    """With several sources, each checksum mismatch is reported under its URL."""
    remote = RemoteFile("iris.data", WRONG_SHA, 1)
    urls = [server.url + IRIS, server.url + "/iris//iris.data"]

    with pytest.raises(DownloadError) as caught:
        fetch(remote, urls, tmp_path, retries=2, **FAST)

    message = str(caught.value)
    for url in urls:
        assert f"checksum mismatch for iris.data downloaded from {url}" in message
    assert listing(tmp_path) == []


def test_no_source_is_a_download_error(mirror_dir, tmp_path):
    with pytest.raises(DownloadError, match="no source configured for iris.data"):
        fetch(iris_file(mirror_dir), [], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_stale_temporary_files_are_swept(server, mirror_dir, tmp_path):
    """Leftovers of a killed run go, even when nothing needs downloading; other files stay."""
    remote = iris_file(mirror_dir)
    (tmp_path / "iris.data").write_bytes((mirror_dir / "iris" / "iris.data").read_bytes())
    (tmp_path / ".iris.data.k1ll3d.part").write_text("half a file")
    (tmp_path / "notes.txt").write_text("keep me")
    server.faults[IRIS] = "500"

    download_dataset({"iris.data": remote}, [server.url + "/iris"], tmp_path, retries=0, **FAST)

    assert listing(tmp_path) == ["iris.data", "notes.txt"]
    assert sum(server.hits.values()) == 0


# ------------------------------------------------------------------ mirror
def test_candidate_urls_put_the_mirror_first():
    hosts = ["https://a.example/x/", "https://b.example"]
    assert candidate_urls("f.gz", hosts) == ["https://a.example/x/f.gz", "https://b.example/f.gz"]
    assert candidate_urls("f.gz", hosts, "file:///m/", "/mnist/") == [
        "file:///m/mnist/f.gz",
        "https://a.example/x/f.gz",
        "https://b.example/f.gz",
    ]


@pytest.mark.parametrize("trailing", ["", "/"])
def test_file_mirror_is_used_before_public_hosts(server, mirror_dir, tmp_path, trailing):
    remote = iris_file(mirror_dir)
    server.faults[IRIS] = "500"  # the public host would fail

    paths = download_dataset(
        {"iris.data": remote},
        [server.url + "/iris"],
        tmp_path,
        mirror=mirror_dir.as_uri() + trailing,
        mirror_dir="iris",
        retries=0,
        **FAST,
    )

    assert paths == [tmp_path / "iris.data"]
    assert sha256(paths[0]) == remote.sha256
    assert sum(server.hits.values()) == 0
    assert listing(tmp_path) == ["iris.data"]


def test_missing_file_in_file_mirror_falls_back_to_public_host(server, mirror_dir, tmp_path):
    remote = iris_file(mirror_dir)

    download_dataset(
        {"iris.data": remote},
        [server.url + "/iris"],
        tmp_path,
        mirror=mirror_dir.as_uri(),
        mirror_dir="no-such-folder",
        retries=2,
        **FAST,
    )

    assert server.hits[IRIS] == 1
    assert sha256(tmp_path / "iris.data") == remote.sha256


def test_file_mirror_path_with_escaped_characters(mirror_dir, tmp_path):
    """``Path.as_uri()`` percent-encodes the path; the copy must decode it exactly once."""
    remote = iris_file(mirror_dir)
    mirror = tmp_path / "my mirror%20x"
    (mirror / "iris").mkdir(parents=True)
    shutil.copy(mirror_dir / "iris" / "iris.data", mirror / "iris" / "iris.data")

    paths = download_dataset(
        {"iris.data": remote}, [], tmp_path / "out", mirror=mirror.as_uri(), mirror_dir="iris"
    )

    assert sha256(paths[0]) == remote.sha256


def test_file_mirror_copies_are_hashed_over_every_chunk(server, tmp_path):
    """A file:// copy is hashed as it is copied, all of it: a file of several read chunks
    arrives whole, and one flipped byte in its last chunk is caught, leaving nothing."""
    mirror = tmp_path / "mirror" / "big"
    mirror.mkdir(parents=True)
    data = np.random.default_rng(0).bytes(2 * CHUNK_BYTES + 12345)
    (mirror / "big.bin").write_bytes(data)
    remote = RemoteFile("big.bin", hashlib.sha256(data).hexdigest(), len(data))
    out = tmp_path / "out"

    download_dataset({"big.bin": remote}, [], out, mirror=mirror.parent.as_uri(), mirror_dir="big")
    assert (out / "big.bin").read_bytes() == data

    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    (mirror / "big.bin").write_bytes(bytes(damaged))
    (out / "big.bin").unlink()
    with pytest.raises(ChecksumError) as caught:
        download_dataset(
            {"big.bin": remote}, [], out, mirror=mirror.parent.as_uri(), mirror_dir="big"
        )
    assert caught.value.actual == hashlib.sha256(damaged).hexdigest()
    assert listing(out) == []


def test_http_mirror_is_tried_before_public_hosts(server, public, mirror_dir, tmp_path):
    remote = iris_file(mirror_dir)
    public.faults[IRIS] = "500"

    download_dataset(
        {"iris.data": remote},
        [public.url + "/iris"],
        tmp_path,
        mirror=server.url + "/",
        mirror_dir="iris",
        retries=0,
        **FAST,
    )

    assert server.hits[IRIS] == 1
    assert sum(public.hits.values()) == 0
    assert sha256(tmp_path / "iris.data") == remote.sha256


def test_http_mirror_without_the_file_falls_back_to_public_host(
    server, public, mirror_dir, tmp_path
):
    remote = iris_file(mirror_dir)

    download_dataset(
        {"iris.data": remote},
        [public.url + "/iris"],
        tmp_path,
        mirror=server.url,
        mirror_dir="elsewhere",
        retries=2,
        **FAST,
    )

    assert server.hits["/elsewhere/iris.data"] == 1  # a 404: tried once, not retried
    assert public.hits[IRIS] == 1
    assert sha256(tmp_path / "iris.data") == remote.sha256


@pytest.mark.parametrize("mirror", ["ftp://x", "/abs/path/datasets", "datasets"])
def test_invalid_mirror_fails_before_anything_is_written(server, mirror_dir, tmp_path, mirror):
    dest = tmp_path / "out"

    with pytest.raises(ValueError) as caught:
        download_dataset(
            {"iris.data": iris_file(mirror_dir)},
            [server.url + "/iris"],
            dest,
            mirror=mirror,
            mirror_dir="iris",
            **FAST,
        )

    message = str(caught.value)
    assert repr(mirror) in message
    assert MIRROR_ENV in message
    assert "http, https, file" in message
    assert not dest.exists()
    assert sum(server.hits.values()) == 0


@pytest.mark.parametrize(
    ("mirror", "expected"),
    [
        (None, None),
        ("", None),
        ("file:///srv/datasets/", "file:///srv/datasets"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://mirror.example/data//", "https://mirror.example/data"),
    ],
)
def test_validate_mirror_accepts_valid_schemes(mirror, expected):
    assert validate_mirror(mirror) == expected


def test_verified_files_get_the_usual_permissions(server, mirror_dir, tmp_path):
    """The temporary file's owner-only mode must not survive the rename."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = fetch(iris_file(mirror_dir), [server.url + IRIS], tmp_path, **FAST)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_file_mirror_with_a_host_part_is_rejected():
    with pytest.raises(ValueError, match=r"names host '\.\.'; a file:// mirror needs an absolute"):
        validate_mirror("file://../shared/datasets")
    assert validate_mirror("file://localhost/srv/data/") == "file://localhost/srv/data"
