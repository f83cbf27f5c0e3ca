"""TensorBoard event files, written without TensorFlow.

An event file is a TFRecord stream (per record: the length as little-endian uint64, its
masked CRC-32C, the payload, the payload's masked CRC-32C) of ``tensorflow.Event`` protocol
buffers. The few messages needed are encoded here by hand (field numbers from TensorFlow's
``event.proto`` / ``summary.proto``): an ``Event`` with ``wall_time`` (1, double), ``step``
(2, int64), ``file_version`` (3, string) or ``summary`` (5); a ``Summary`` of ``Value``s with
``tag`` (1), ``simple_value`` (2, float) or ``histo`` (5, a ``HistogramProto``).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import Any

import numpy as np

__all__ = ["EventFileWriter", "masked_crc32c", "read_records"]

_COUNTER = [0]
_LOCK = threading.Lock()


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli, reflected
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C rotated right by 15 bits plus a constant."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ------------------------------------------------------------------ protobuf encoding
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields: two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _double_field(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value)


def _float_field(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", value)


def _packed_doubles(field: int, values: Any) -> bytes:
    return _bytes_field(field, np.asarray(values, dtype="<f8").tobytes())


def _event(summary: bytes | None = None, step: int = 0, file_version: str | None = None,
           wall_time: float | None = None) -> bytes:
    out = _double_field(1, time.time() if wall_time is None else wall_time)
    if step:
        out += _key(2, 0) + _varint(int(step))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if summary is not None:
        out += _bytes_field(5, summary)
    return out


def _histogram(values: np.ndarray, buckets: int = 30) -> bytes:
    """A ``HistogramProto`` of the finite values (TensorBoard's bucket layout: right edges
    in ``bucket_limit``, counts in ``bucket``)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        v = np.zeros(1)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=buckets, range=(lo, hi))
    return (_double_field(1, float(v.min())) + _double_field(2, float(v.max()))
            + _double_field(3, float(v.size)) + _double_field(4, float(v.sum()))
            + _double_field(5, float(np.dot(v, v))) + _packed_doubles(6, edges[1:])
            + _packed_doubles(7, counts))


# ------------------------------------------------------------------ files
class EventFileWriter:
    """Appends events to ``<logdir>/events.out.tfevents.<time>.<host>.<pid>.<n>.v2`` (the
    name TensorBoard looks for), created on the first write and flushed after each event."""

    def __init__(self, logdir: str | os.PathLike[str]) -> None:
        self.logdir = os.fspath(logdir)
        self.path: str | None = None
        self._file: Any = None

    def _open(self) -> None:
        os.makedirs(self.logdir, exist_ok=True)
        with _LOCK:
            _COUNTER[0] += 1
            n = _COUNTER[0]
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
                f"{os.getpid()}.{n}.v2")
        self.path = os.path.join(self.logdir, name)
        self._file = open(self.path, "ab")  # noqa: SIM115 (kept open between events)
        self._write(_event(file_version="brain.Event:2"))

    def _write(self, record: bytes) -> None:
        header = struct.pack("<Q", len(record))
        self._file.write(header + struct.pack("<I", masked_crc32c(header)) + record
                         + struct.pack("<I", masked_crc32c(record)))
        self._file.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._file is None:
            self._open()
        value_msg = _bytes_field(1, tag.encode()) + _float_field(2, float(value))
        self._write(_event(_bytes_field(1, value_msg), step))

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        if self._file is None:
            self._open()
        value_msg = _bytes_field(1, tag.encode()) + _bytes_field(5, _histogram(values))
        self._write(_event(_bytes_field(1, value_msg), step))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_records(path: str | os.PathLike[str]) -> list[bytes]:
    """The payloads of a TFRecord file, checksums verified (ValueError naming the record)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if hcrc != masked_crc32c(header):
            raise ValueError(f"{path}: bad length checksum of record {len(out)}")
        start, end = pos + 12, pos + 12 + length
        if end + 4 > len(data):
            raise ValueError(f"{path}: truncated record {len(out)}")
        payload = data[start:end]
        (dcrc,) = struct.unpack("<I", data[end:end + 4])
        if dcrc != masked_crc32c(payload):
            raise ValueError(f"{path}: bad data checksum of record {len(out)}")
        out.append(payload)
        pos = end + 4
    return out
