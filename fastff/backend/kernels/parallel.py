"""Split a range kernel over fastff's threads (used only for large arrays).

Numba's ``prange`` outlines loop bodies into functions that see arrays of unknown layout, and
the element loops then stop vectorising: measured 10x slower than the serial kernel on the
Adam step even on one thread. Instead, every kernel here has a serial ``*_range(..., lo, hi)``
form compiled with ``nogil=True``; this module runs pieces of the range on a small persistent
thread pool. Piece boundaries fall on multiples of ``CHUNK``, so any reduction that combines
per-chunk partials in chunk order gives the same bits whatever the thread count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastff.backend.kernels import CHUNK

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _workers(k: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < k:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=k, thread_name_prefix="fastff-kernel")
            _pool_size = k
        return _pool


def pieces(n: int, parts: int, align: int = CHUNK) -> list[tuple[int, int]]:
    """``parts`` (or fewer) contiguous ranges covering [0, n), cut at multiples of ``align``."""
    blocks = (n + align - 1) // align
    parts = max(1, min(parts, blocks))
    out = []
    for k in range(parts):
        lo = (blocks * k // parts) * align
        hi = min(n, (blocks * (k + 1) // parts) * align)
        if hi > lo:
            out.append((lo, hi))
    return out


def run(kernel: Callable[..., Any], args: tuple, n: int, threads: int,
        align: int = CHUNK) -> None:
    """Call ``kernel(*args, lo, hi)`` over pieces of [0, n): the first piece on this thread,
    the others on the pool; returns when all are done (exceptions propagate)."""
    bounds = pieces(n, threads, align)
    if len(bounds) == 1:
        kernel(*args, 0, n)
        return
    pool = _workers(len(bounds) - 1)
    futures = [pool.submit(kernel, *args, lo, hi) for lo, hi in bounds[1:]]
    try:
        kernel(*args, *bounds[0])
    finally:
        for f in futures:
            f.result()
