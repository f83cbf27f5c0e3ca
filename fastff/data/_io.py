"""Open data files that may or may not be gzip-compressed, and read their lines.

Compression is detected from the first two bytes (the gzip magic ``1f 8b``), not
from the file name, so a renamed file still opens. :func:`read_lines` turns bytes
that are not UTF-8 and corrupt or truncated gzip streams into a ``ValueError``
naming the file and line, so no reader lets a bare ``UnicodeDecodeError``,
``EOFError`` or ``BadGzipFile`` escape.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_GZIP_MAGIC = b"\x1f\x8b"

PathLike = str | os.PathLike

# what a damaged gzip stream raises while being read
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


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


def read_lines(path: PathLike, what: str = "text") -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` (1-based, end-of-line removed) of a UTF-8 file.

    Lines are decoded one at a time (memory: one line). Invalid UTF-8 raises
    ``ValueError("file:line: not UTF-8 ...")``; a corrupt or truncated gzip stream
    raises ``ValueError`` naming the file and the line it broke in. ``what`` names
    the expected format in those messages (e.g. ``"CoNLL-U"``).
    """
    lineno = 0
    with open_binary(path) as f:
        try:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ValueError(
                        f"{where(path, lineno)}: not UTF-8 text (byte 0x{raw[e.start]:02x} at "
                        f"byte {e.start + 1} of the line); expected a UTF-8 {what} file"
                    ) from None
                yield lineno, line.rstrip("\r\n")
        except GZIP_ERRORS as e:
            raise ValueError(f"{where(path, lineno + 1)}: corrupt or truncated gzip data "
                             f"({e}); expected a gzip-compressed {what} file") from None
