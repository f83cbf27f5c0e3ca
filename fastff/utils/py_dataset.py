"""Keras 3's ``PyDataset``: a dataset of batches written in Python (``__len__`` and
``__getitem__(index) -> (x, y[, sample_weight])``), with a prefetching worker pool.

``fit``/``evaluate``/``predict`` read it through ``fastff.data_adapters``. With ``workers > 1``
batches are fetched ahead, up to ``max_queue_size`` of them, by a pool of threads and handed
over in index order; the pool is shut down at the end of every pass, on an error and on
Ctrl-C. Deliberate difference from Keras: ``use_multiprocessing=True`` is accepted but the
workers are threads (NumPy and fastff's kernels release the GIL; no pickling of the dataset).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count, islice
from typing import Any

from fastff._validation import check_bool, check_positive_int

__all__ = ["PyDataset", "iterate_batches"]

#: name prefix of the worker threads (tests look for leftovers by it)
THREAD_PREFIX = "fastff-pydataset"


class PyDataset:
    """Base class of a dataset of batches (Keras's ``keras.utils.PyDataset``).

    Subclasses implement ``__getitem__(index)`` returning ``(x, y)`` or
    ``(x, y, sample_weight)`` (or ``x`` alone for ``predict``) and ``__len__`` (the number of
    batches); ``on_epoch_begin``/``on_epoch_end`` run around every pass (e.g. to reshuffle).
    A dataset with no end overrides ``num_batches`` to return None (then pass
    ``steps_per_epoch``).
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        self._workers = check_positive_int(workers, "workers")
        self._use_multiprocessing = check_bool(use_multiprocessing, "use_multiprocessing")
        self._max_queue_size = check_positive_int(max_queue_size, "max_queue_size")

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = check_positive_int(value, "workers")

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = check_bool(value, "use_multiprocessing")

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = check_positive_int(value, "max_queue_size")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``), or None for a dataset with no end."""
        if hasattr(self, "__len__"):
            return len(self)
        return None

    def on_epoch_begin(self) -> None:
        """Called before every pass over the dataset."""

    def on_epoch_end(self) -> None:
        """Called after every pass over the dataset."""


def iterate_batches(ds: PyDataset, order: Iterable[int] | None = None) -> Iterator[tuple]:
    """``(index, ds[index])`` in ``order`` (default 0, 1, ...), fetched ahead by
    ``ds.workers`` threads when there are several; closing the iterator (or an error in a
    worker) cancels what is queued and joins the workers."""
    if order is None:
        n = ds.num_batches
        order = count() if n is None else range(int(n))
    workers = ds.workers
    if workers <= 1:
        for i in order:
            yield i, ds[i]
        return
    ex = ThreadPoolExecutor(workers, thread_name_prefix=THREAD_PREFIX)
    pending: deque = deque()
    todo = iter(order)
    try:
        for i in islice(todo, max(ds.max_queue_size, 1)):
            pending.append((i, ex.submit(ds.__getitem__, i)))
        while pending:
            i, fut = pending.popleft()
            batch = fut.result()
            for j in islice(todo, 1):
                pending.append((j, ex.submit(ds.__getitem__, j)))
            yield i, batch
    finally:
        for _, fut in pending:
            fut.cancel()
        ex.shutdown(wait=True, cancel_futures=True)
