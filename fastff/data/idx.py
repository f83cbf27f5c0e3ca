"""Read and write IDX files (the MNIST container format), gzip or plain.

Layout: two zero bytes, a type code, the number of dimensions, then one
big-endian uint32 per dimension, then the data in C order, big-endian.
MNIST images have magic 0x00000803 (uint8, 3 dims), labels 0x00000801 (uint8, 1 dim).
"""

from __future__ import annotations

import struct

import numpy as np

from ._io import PathLike, open_binary

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

    Raises ``ValueError`` naming the file when the magic number, type code or
    data length is wrong.
    """
    with open_binary(path) as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    magic = int.from_bytes(data[:4], "big")
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{magic:08x} (expected 0x0000TTNN with type code "
            f"TT in {{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}} and NN >= 1 dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX data length {len(data) - header} bytes does not match shape "
            f"{shape} of {dtype.newbyteorder('=').name} ({expected} bytes)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an uncompressed IDX file (for tests and small exports)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    codes = [c for c, dt in IDX_DTYPES.items() if dt.newbyteorder("=") == native]
    if not codes:
        raise ValueError(f"dtype {array.dtype} has no IDX type code")
    code = codes[0]
    dtype = IDX_DTYPES[code]
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(array, dtype=dtype).tobytes())
