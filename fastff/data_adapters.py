"""Batch sources for the training loop (``fastff.training.loop``): a ``fastff.utils.PyDataset``,
a Python generator or iterator, or any other iterable of batches ``(x, y[, sample_weight])``
(``x`` alone, or ``(x,)``, for ``predict``), as Keras 3 accepts them. The loop consumes them as
it consumes arrays (``fastff.training.data.ArrayBatches``).

Semantics follow Keras 3:

* a ``PyDataset`` is one epoch per pass (``len(ds)`` batches, or ``steps_per_epoch`` of
  them); ``shuffle=True`` permutes the order of its batches every epoch (reproducibly, from the
  model's shuffle seed and the epoch); ``on_epoch_begin``/``on_epoch_end`` run around every
  pass; ``workers > 1`` fetches ahead with a thread pool (``fastff.utils.py_dataset``).
* a generator/iterator is read on across epochs: ``steps_per_epoch`` batches per epoch, or,
  without it, until it ends (one epoch). When it runs out early fastff warns, as Keras, and
  stops training. Any other iterable is iterated afresh every epoch.
* ``validation_data`` may be any of these (``validation_steps`` batches per validation) or the
  usual tuple; ``y``, ``sample_weight`` and ``validation_split`` must not be given with a batch
  source (the batches carry them); ``class_weight`` applies per batch.
* the progress bar shows an unknown total when the number of batches is not known.
* arrays beside a batch source as ``validation_data`` are cut and shuffled as arrays alone
  are (same permutation per epoch) but step through the general engine.

Each batch goes through the same checks as arrays do (``fastff.training.data.prepare_xy``);
their errors name the batch (``batch 3: y: ...``). The steps themselves are the general
engine's, so a batch source trains exactly as the same batches fed as arrays with
``shuffle=False``. Data-parallel training (``fastff.distribution``) takes arrays only.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastff import distribution as distribution_lib
from fastff.training.data import prepare_x, prepare_xy
from fastff.utils.py_dataset import PyDataset, iterate_batches

__all__ = ["is_batch_source", "uses_batch_sources", "Source", "check_no_arrays_args",
           "check_single_process", "ran_out", "warn_empty", "close"]

_ARRAYLIKE = (np.ndarray, list, tuple, dict, str, bytes)


def is_batch_source(x: Any) -> bool:
    """Is ``x`` a PyDataset, a generator/iterator or an iterable of batches (not an array, a
    list/tuple/dict of arrays, a DataFrame or a device array)?"""
    if x is None or type(x) is np.ndarray:  # the common cases, neither a source
        return False
    if isinstance(x, PyDataset) or inspect.isgenerator(x):
        return True
    if x is None or isinstance(x, _ARRAYLIKE) or hasattr(x, "shape") \
            or hasattr(x, "__array__") or hasattr(x, "__cuda_array_interface__"):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


def uses_batch_sources(x: Any, validation_data: Any = None) -> bool:
    """Does this ``fit`` call need this module (its ``x`` or ``validation_data`` a source)?"""
    return is_batch_source(x) or is_batch_source(validation_data)


# ---------------------------------------------------------------------------- sources
class Source:
    """Raw batches per epoch: ``epoch(e)`` yields ``(index, batch)``; ``steps`` per epoch
    (None when unknown); ``batch``/``inputs`` check one raw batch."""

    prepared = False  # raw batches: the loop checks each with ``batch`` / ``inputs``
    can_run_out = True  # fewer batches than steps_per_epoch: warn and stop, as Keras

    def __init__(self, data: Any, steps: int | None, shuffle: bool, seed: int | None) -> None:
        self.data = data
        self.shuffle = shuffle
        self.seed = seed
        self._iter: Iterator | None = None
        if isinstance(data, PyDataset):
            self.kind = "PyDataset"
            n = data.num_batches
            self.n_batches = None if n is None else int(n)
            self.steps = steps if self.n_batches is None else \
                self.n_batches if steps is None else min(steps, self.n_batches)
            if steps is not None and self.n_batches is not None and steps > self.n_batches:
                warnings.warn(f"steps_per_epoch={steps} is more than the PyDataset's "
                              f"{self.n_batches} batches: each epoch reads its "
                              f"{self.n_batches} batches", UserWarning, stacklevel=4)
            if self.steps is None:
                raise ValueError("steps_per_epoch: required for a PyDataset whose num_batches is "
                                 "None (it has no end)")
        else:
            self.kind = "generator" if hasattr(data, "__next__") else "iterable"
            self.steps = steps
            if self.kind == "generator":
                self._iter = iter(data)

    def epoch(self, e: int) -> Iterator[tuple]:
        if self.kind == "PyDataset":
            self.data.on_epoch_begin()
            if self.n_batches is None:  # no end: steps of them
                return iterate_batches(self.data, range(self.steps))
            order = np.arange(self.n_batches)
            if self.shuffle:
                order = np.random.default_rng([self.seed, e]).permutation(self.n_batches)
            return iterate_batches(self.data, [int(i) for i in order[:self.steps]])
        if self.kind == "iterable" and (self.steps is None or self._iter is None):
            self._iter = iter(self.data)
        return _take_steps(enumerate(self._iter), self.steps)

    def end_pass(self) -> None:
        if self.kind == "PyDataset":
            self.data.on_epoch_end()

    def batch(self, model: Any, index: int, raw: Any, class_weight: Any, what: str) -> tuple:
        """``(x, y, sample_weight)`` of raw batch ``index``, checked for ``model``."""
        x, y, sw = _unpack(raw, index, True, what)
        return prepare_xy(model, x, y, sw, class_weight, prefix=f"{what}: batch {index}: ")

    def inputs(self, model: Any, index: int, raw: Any, what: str) -> Any:
        """The inputs of raw batch ``index`` (``predict``), checked for ``model``."""
        xb = _unpack(raw, index, False, what)[0]
        return prepare_x(model, xb, f"{what}: batch {index}: x")


def _take_steps(it: Iterator, steps: int | None) -> Iterator:
    """At most ``steps`` items of ``it`` (all without a limit); ``it`` stays open."""
    if steps is None:
        yield from it
        return
    for _ in range(steps):
        try:
            item = next(it)
        except StopIteration:
            return
        yield item


# ---------------------------------------------------------------------------- batches
def _unpack(batch: Any, index: int, need_y: bool, what: str) -> tuple:
    """``(x, y, sample_weight)`` of one raw batch, by Keras's rule: a tuple (or list) of 1-3
    items is ``(x[, y[, sample_weight]])``; anything else is ``x`` alone."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(f"{what}: batch {index}: expected (x, y) or (x, y, sample_weight), "
                             f"got a tuple of {len(batch)} items")
        x, y, sw = (*batch, None, None)[:3]
    else:
        x, y, sw = batch, None, None
    if x is None:
        raise ValueError(f"{what}: batch {index}: x is None")
    if need_y and y is None:
        raise ValueError(f"{what}: batch {index}: expected (x, y) or (x, y, sample_weight) with "
                         f"targets, got {_describe(batch)}")
    return x, y, sw


def _describe(batch: Any) -> str:
    if isinstance(batch, tuple):
        return f"a tuple of {len(batch)} item(s)"
    shape = getattr(batch, "shape", None)
    return f"x alone ({type(batch).__name__}{'' if shape is None else f' of shape {shape}'})"


def check_no_arrays_args(what: str, **given: Any) -> None:
    for name, value in given.items():
        if value is not None and (name != "validation_split" or value):
            raise ValueError(f"{what}: `{name}` is not supported when x is a PyDataset, "
                             "generator or iterable (the batches carry it)")


def check_single_process(what: str) -> None:
    if distribution_lib.get_distribution() is not None:
        raise NotImplementedError(f"{what}: data-parallel training takes arrays; a PyDataset or "
                                  "generator is read in one process only")


def ran_out(what: str, steps: int | None) -> None:
    warnings.warn(f"{what}: your input ran out of data; interrupting training. Make sure that "
                  f"your dataset or generator can generate at least `steps_per_epoch * epochs` "
                  f"batches (steps_per_epoch={steps}).", UserWarning, stacklevel=3)


def warn_empty(what: str) -> None:
    warnings.warn(f"{what}: the dataset or generator gave no batches", UserWarning,
                  stacklevel=4)


def close(it: Any) -> None:
    """Close an epoch's iterator (joins a PyDataset's workers); None passes."""
    close_ = getattr(it, "close", None)
    if close_ is not None:
        close_()
