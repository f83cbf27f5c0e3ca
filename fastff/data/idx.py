"""Read and write IDX files (the MNIST container format), gzip or plain.

Layout: two zero bytes, a type code, the number of dimensions, then one
big-endian uint32 per dimension, then the data in C order, big-endian.
MNIST images have magic 0x00000803 (uint8, 3 dims), labels 0x00000801 (uint8, 1 dim).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from typing import IO

import numpy as np

from ._io import GZIP_ERRORS, PathLike, open_binary

# IDX type code -> big-endian NumPy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file into a native-endian NumPy array of the stored shape.

    The header is read and checked first (magic number, type code, 1 to
    ``MAX_NDIM`` dimensions), then the size it claims against the file: a plain
    file's size is known before anything is allocated, a gzip stream is read in
    chunks and refused as soon as it holds more or less than claimed. So a lying
    header costs no allocation beyond the bytes actually present (memory: the
    data once, byte-swapped in place). Raises ``ValueError`` naming the file.
    """
    with open_binary(path) as f:
        try:
            return _read_idx(f, path)
        except GZIP_ERRORS as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e}); expected a "
                             "gzip-compressed IDX file") from None


MAX_NDIM = 32  # NumPy's lowest supported maximum (1.x); IDX's byte allows 255
_CHUNK = 1 << 20  # gzip reads: a lying header costs at most this much beyond the data


def _read_idx(f: IO[bytes], path: PathLike) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(head)} bytes; expected a 4-byte "
                         "magic number and the dimensions)")
    zero, code, ndim = struct.unpack(">HBB", head)
    magic = int.from_bytes(head, "big")
    if zero != 0 or code not in IDX_DTYPES or not 1 <= ndim <= MAX_NDIM:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{magic:08x} (expected 0x0000TTNN with type code "
            f"TT in {{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}} and NN from 1 to "
            f"{MAX_NDIM} dimensions)"
        )
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({4 + len(dims)} bytes, {ndim} "
                         f"dimensions need {4 + 4 * ndim})")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # a Python int: cannot overflow
    header = 4 + 4 * ndim

    def mismatch(got: int | str) -> ValueError:
        return ValueError(f"{path}: IDX data length {got} bytes does not match shape {shape} "
                          f"of {dtype.newbyteorder('=').name} ({expected} bytes)")

    if not isinstance(f, gzip.GzipFile):  # plain file: its size is known up front
        size = os.fstat(f.fileno()).st_size - header
        if size != expected:
            raise mismatch(size)
        buf = bytearray(expected)
        if f.readinto(buf) != expected:
            raise mismatch("fewer than claimed")
    else:  # gzip: read what is there, never more than claimed + 1 byte
        buf = bytearray()
        while len(buf) <= expected:
            chunk = f.read(min(_CHUNK, expected + 1 - len(buf)))
            if not chunk:
                break
            buf += chunk
        if len(buf) != expected:
            raise mismatch(len(buf) if len(buf) < expected else f"more than {expected}")
    array = np.frombuffer(buf, dtype=dtype)
    if not dtype.isnative:
        array.byteswap(inplace=True)
    return array.view(dtype.newbyteorder("=")).reshape(shape)


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an uncompressed IDX file (for tests and small exports)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    codes = [c for c, dt in IDX_DTYPES.items() if dt.newbyteorder("=") == native]
    if not codes:
        raise ValueError(f"dtype {array.dtype} has no IDX type code")
    code = codes[0]
    dtype = IDX_DTYPES[code]
    if array.ndim == 0 or array.ndim > MAX_NDIM:
        raise ValueError(f"array: IDX needs 1 to {MAX_NDIM} dimensions, got {array.ndim}")
    if any(n >= 2**32 for n in array.shape):
        raise ValueError(f"array: IDX dimensions must be below 2**32, got shape {array.shape}")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(array, dtype=dtype).tobytes())
