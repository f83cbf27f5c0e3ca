"""Keras 3's ``PyDataset``: a dataset of batches written in Python (``__len__`` and
``__getitem__(index) -> (x, y[, sample_weight])``), with a prefetching worker pool.

``fit``/``evaluate``/``predict`` read it through ``fastff.data_adapters``. With ``workers > 1``
batches are fetched ahead, up to ``max_queue_size`` of them, by a pool of threads and handed
over in index order; the pool is shut down at the end of every pass, on an error and on
Ctrl-C. Deliberate difference from Keras: ``use_multiprocessing=True`` is accepted but the
workers are threads (NumPy and fastff's kernels release the GIL; no pickling of the dataset).
"""

from __future__ import annotations

import queue
import signal
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from itertools import count, islice
from typing import Any

from fastff._validation import check_bool, check_positive_int

__all__ = ["PyDataset", "iterate_batches"]

#: name prefix of the worker threads (tests look for leftovers by it)
THREAD_PREFIX = "fastff-pydataset"
#: the longest ``close()`` waits for the workers to finish their current batch (seconds)
JOIN_TIMEOUT = 30.0


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
    worker, or a Ctrl-C while waiting for a batch) cancels what is queued and joins the
    workers."""
    if order is None:
        n = ds.num_batches
        order = count() if n is None else range(int(n))
    if ds.workers <= 1:
        return ((i, ds[i]) for i in order)
    return Prefetcher(ds, order, ds.workers, max(ds.max_queue_size, 1))


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives inside the block and deliver it to the previous
    handler on leaving: the block (starting or joining the workers) is never cut in the
    middle. Python runs signal handlers in the main thread only, so elsewhere nothing is
    needed; a handler installed from C (``getsignal`` gives None) is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGINT)
    if old is None:
        yield
        return
    frames: list = []
    try:
        signal.signal(signal.SIGINT, lambda signum, frame: frames.append(frame))
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if frames:
            if callable(old):
                old(signal.SIGINT, frames[-1])
            elif old == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


def _work(ds: PyDataset, tasks: queue.SimpleQueue, stop: threading.Event) -> None:
    """A worker: run ``ds[i]`` for the queued ``(i, future)`` until a None or the stop flag
    (a module function, so the threads hold no reference to their ``Prefetcher``)."""
    while True:
        task = tasks.get()
        if task is None or stop.is_set():
            return
        i, fut = task
        if not fut.set_running_or_notify_cancel():
            continue
        try:
            fut.set_result(ds[i])
        except BaseException as e:  # handed to the main thread by fut.result()
            fut.set_exception(e)


class Prefetcher:
    """The iterator of a ``PyDataset`` pass with ``workers`` threads: at most ``depth``
    batches requested ahead, handed over in ``order``.

    The pool owns its threads: each is recorded before it is started and ``close()``
    (idempotent) sets the stop flag, cancels what is queued and joins every one of them,
    waiting at most ``JOIN_TIMEOUT`` seconds for the batches being computed. Starting and
    joining hold a Ctrl-C until they are done (then raise it), so an interrupt can neither
    leave a started thread unrecorded nor skip the join. The threads are daemons: one stuck
    in ``__getitem__`` past the timeout (a warning names it) does not block exit.
    """

    def __init__(self, ds: PyDataset, order: Iterable[int], workers: int, depth: int) -> None:
        self._ds = ds
        self._todo = iter(order)
        self._pending: deque = deque()
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        try:
            with _sigint_held():
                for k in range(workers):
                    t = threading.Thread(target=_work, args=(ds, self._tasks, self._stop),
                                         name=f"{THREAD_PREFIX}_{k}", daemon=True)
                    self._threads.append(t)
                    t.start()
            for i in islice(self._todo, depth):
                self._submit(i)
        except BaseException:
            self.close()
            raise

    def _submit(self, i: int) -> None:
        fut: Future = Future()
        self._pending.append((i, fut))
        self._tasks.put((i, fut))

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self) -> tuple:
        if not self._pending:
            self.close()
            raise StopIteration
        i, fut = self._pending.popleft()
        try:
            batch = fut.result()
            for j in islice(self._todo, 1):
                self._submit(j)
        except BaseException:  # a worker's error or a Ctrl-C while waiting
            self.close()
            raise
        return i, batch

    def close(self) -> None:
        """Stop and join the workers (bounded by ``JOIN_TIMEOUT``); safe to call again."""
        with _sigint_held():
            self._stop.set()
            while self._pending:
                self._pending.popleft()[1].cancel()
            for _ in self._threads:
                self._tasks.put(None)
            deadline = time.monotonic() + JOIN_TIMEOUT
            for t in self._threads:
                try:
                    t.join(max(0.0, deadline - time.monotonic()))
                except RuntimeError:  # never started (Thread.start failed)
                    pass
            self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            warnings.warn(f"PyDataset: {len(self._threads)} worker thread(s) still in "
                          f"__getitem__ after {JOIN_TIMEOUT:g} s "
                          f"({', '.join(t.name for t in self._threads)}); they end after "
                          "their current batch", RuntimeWarning, stacklevel=2)

    def __del__(self) -> None:  # dropped unclosed: let the workers end (no join here)
        stop = getattr(self, "_stop", None)
        if stop is not None and not stop.is_set():
            stop.set()
            for _ in self._threads:
                self._tasks.put(None)
