import gzip
import struct

import numpy as np
import pytest

from pipeline.data.idx import IDXError, encode_idx, parse_idx, read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", [".idx", ".gz"])
def test_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == np.uint8:
        array = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = write_idx(tmp_path / f"a{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, array)


def test_header_layout_matches_the_mnist_spec():
    labels = np.array([7, 2, 1], dtype=np.uint8)
    data = encode_idx(labels)
    assert data[:4] == bytes([0, 0, 0x08, 1])  # magic 0x00000801: ubyte, one dimension
    assert struct.unpack(">I", data[4:8]) == (3,)
    assert data[8:] == bytes([7, 2, 1])


def test_bad_magic_number_is_reported_with_the_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(IDXError, match=r"bad\.idx: bad magic number 0x12340801"):
        read_idx(path)


def test_unknown_type_code():
    with pytest.raises(IDXError, match="bad magic number 0x00000701"):
        parse_idx(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "x")


def test_truncated_payload(tmp_path):
    data = encode_idx(np.zeros((4, 28, 28), dtype=np.uint8))
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(IDXError, match=r"images\.gz: truncated: header says shape \(4, 28, 28\)"):
        read_idx(path)


def test_truncated_header():
    with pytest.raises(IDXError, match="truncated"):
        parse_idx(b"\x00\x00\x08\x03" + struct.pack(">I", 4), "x")


def test_trailing_bytes():
    with pytest.raises(IDXError, match="trailing bytes"):
        parse_idx(encode_idx(np.zeros(3, np.uint8)) + b"\x00", "x")


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "labels.gz"
    compressed = gzip.compress(encode_idx(np.arange(1000, dtype=np.int32)))
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(IDXError, match=r"labels\.gz: cannot decompress"):
        read_idx(path)


def test_not_gzip_at_all(tmp_path):
    path = tmp_path / "junk.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(IDXError, match=r"junk\.gz"):
        read_idx(path)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[:10] + b"\xff\xff" + b[12:], r"Invalid deflate block"),  # a bad block
        (lambda b: b[:-8] + bytes([b[-8] ^ 1]) + b[-7:], r"CRC check failed"),  # a bad CRC
        (lambda b: b + b"garbage", r"ended before the end-of-stream"),  # trailing junk
    ],
)
def test_damaged_gzip_is_named_with_the_reason(tmp_path, damage, reason):
    path = tmp_path / "images.gz"
    payload = np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8)
    path.write_bytes(damage(gzip.compress(encode_idx(payload), mtime=0)))
    with pytest.raises(IDXError, match=rf"images\.gz: cannot decompress \(.*{reason}"):
        read_idx(path)


def test_a_multi_member_gzip_is_read_whole(tmp_path):
    # gzip -c a b > c makes two members; a reader that stops after the first truncates.
    data = encode_idx(np.arange(3000, dtype=np.int32))
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(data[:1001], mtime=0) + gzip.compress(data[1001:], mtime=0))
    assert read_idx(path).tolist() == list(range(3000))


def test_unsupported_dtype_lists_valid_ones():
    with pytest.raises(ValueError, match="cannot store dtype int64 in IDX; valid dtypes: uint8"):
        encode_idx(np.zeros(2, dtype=np.int64))
