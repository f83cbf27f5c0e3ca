"""Open data files that may or may not be gzip-compressed.

Compression is detected from the first two bytes (the gzip magic ``1f 8b``), not
from the file name, so a renamed file still opens.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import IO

_GZIP_MAGIC = b"\x1f\x8b"

PathLike = str | os.PathLike


def is_gzip(path: PathLike) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def open_binary(path: PathLike) -> IO[bytes]:
    """Open ``path`` for binary reading, decompressing gzip transparently."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


def open_text(path: PathLike, encoding: str = "utf-8") -> IO[str]:
    """Open ``path`` for text reading (UTF-8, universal newlines), gzip or plain."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding)


def where(path: PathLike, lineno: int) -> str:
    """``file:line`` prefix for error messages."""
    return f"{Path(path)}:{lineno}"
