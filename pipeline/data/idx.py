"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by a dense array: two zero bytes, a
type code, the number of dimensions, one 32-bit size per dimension, then the
values.  Files may be gzip-compressed (``.gz``).  The reader checks every part
of the header against the payload, so a truncated or corrupt file fails with an
error that names it instead of yielding a silently wrong array.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np
from isal import igzip, isal_zlib

# IDX type code -> numpy dtype (big-endian, as stored).
DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}


class IDXError(ValueError):
    """An IDX file is malformed; the message names the file and what is wrong."""


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        # ISA-L inflates twice as fast as zlib (a quarter second saved per image set),
        # with gzip.decompress's semantics: every member, CRC and length checked.
        return igzip.decompress(data) if path.suffix == ".gz" else data
    except (OSError, EOFError, isal_zlib.error) as error:
        # EOFError on a truncated stream, BadGzipFile (an OSError) on junk or a bad CRC,
        # isal_zlib.error on a damaged deflate block.
        raise IDXError(f"{path}: cannot decompress ({error})") from error


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into a native-endian array.

    Raises:
        IDXError: on a bad magic number, an unknown type code, or a payload whose
            length disagrees with the dimensions in the header.
    """
    if len(data) < 4:
        raise IDXError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in DTYPES or ndim == 0:
        raise IDXError(
            f"{name}: bad magic number 0x{data[:4].hex()} "
            f"(expected 0x0000TTNN with type TT in "
            f"{', '.join(f'0x{c:02x}' for c in DTYPES)} and NN >= 1 dimensions)"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXError(f"{name}: header declares {ndim} dimensions but the file is truncated")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise IDXError(
            f"{name}: {what}: header says shape {shape} ({expected} bytes of data), "
            f"file has {actual} bytes after the header"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a native-endian numpy array."""
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (the inverse of :func:`parse_idx`)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in CODES:
        raise ValueError(
            f"cannot store dtype {array.dtype} in IDX; valid dtypes: "
            f"{', '.join(str(d.newbyteorder('=')) for d in DTYPES.values())}"
        )
    code = CODES[native]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + array.astype(DTYPES[code], copy=False).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    data = encode_idx(array)
    if path.suffix == ".gz":
        # mtime=0 keeps the bytes reproducible.
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
