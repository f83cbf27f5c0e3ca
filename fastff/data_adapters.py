"""``fit``/``evaluate``/``predict`` on batch sources: a ``fastff.utils.PyDataset``, a Python
generator or iterator, or any other iterable of batches ``(x, y[, sample_weight])`` (``x``
alone, or ``(x,)``, for ``predict``), as Keras 3 accepts them.

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
* arrays beside a batch source as ``validation_data`` are cut and shuffled as
  ``training.fit`` does (same permutation per epoch) but step through the general path.

Each batch goes through the same checks as arrays do (``fastff.training._prepare_xy``); their
errors name the batch (``batch 3: y: ...``). The steps themselves are the general path's
(``training._train_step``), so a batch source trains exactly as the same batches fed as arrays
with ``shuffle=False``. Data-parallel training (``fastff.distribution``) takes arrays only.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastff import _validation as V
from fastff import config
from fastff import distribution as distribution_lib
from fastff import training as T
from fastff.callbacks.callback_list import CallbackList
from fastff.utils.py_dataset import PyDataset, iterate_batches

__all__ = ["is_batch_source", "uses_batch_sources", "fit", "evaluate", "predict"]

_ARRAYLIKE = (np.ndarray, list, tuple, dict, str, bytes)


def is_batch_source(x: Any) -> bool:
    """Is ``x`` a PyDataset, a generator/iterator or an iterable of batches (not an array, a
    list/tuple/dict of arrays, a DataFrame or a device array)?"""
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
class _Source:
    """Raw batches per epoch: ``epoch(e)`` yields ``(index, batch)``; ``steps`` per epoch
    (None when unknown)."""

    prepared = False  # batches already checked arrays (the arrays source)

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


class _Arrays(_Source):
    """Arrays fed in batches the way ``training.fit`` does (for arrays beside a source given
    as ``validation_data``): the same per-epoch permutation, already checked."""

    prepared = True

    def __init__(self, X: Any, Y: Any, SW: Any, batch_size: int, steps: int | None,
                 shuffle: bool, seed: int | None) -> None:
        self.X, self.Y, self.SW = X, Y, SW
        self.batch_size = batch_size
        self.shuffle, self.seed = shuffle, seed
        n = X.shape[0]
        full = -(-n // batch_size)
        self.steps = full if steps is None else min(steps, full)
        self.kind = "arrays"

    def epoch(self, e: int) -> Iterator[tuple]:
        X, Y, SW = self.X, self.Y, self.SW
        if self.shuffle:
            perm = np.random.default_rng([self.seed, e]).permutation(X.shape[0])
            Xs = T._empty_like(X)
            T._take(X, perm, Xs)
            X, Y = Xs, np.take(Y, perm, axis=0)
            SW = None if SW is None else np.take(SW, perm, axis=0)
        bs = self.batch_size
        for step in range(self.steps):
            s, e_ = step * bs, min((step + 1) * bs, X.shape[0])
            yield step, (X[s:e_], Y[s:e_], None if SW is None else SW[s:e_])

    def end_pass(self) -> None:
        pass


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


def _prepared(model: Any, source: _Source, index: int, batch: Any, class_weight: Any,
              what: str) -> tuple:
    if source.prepared:
        return batch
    x, y, sw = _unpack(batch, index, True, what)
    return T._prepare_xy(model, x, y, sw, class_weight, prefix=f"{what}: batch {index}: ")


def _check_no_arrays_args(what: str, **given: Any) -> None:
    for name, value in given.items():
        if value is not None and (name != "validation_split" or value):
            raise ValueError(f"{what}: `{name}` is not supported when x is a PyDataset, "
                             "generator or iterable (the batches carry it)")


def _check_single_process(what: str) -> None:
    if distribution_lib.get_distribution() is not None:
        raise NotImplementedError(f"{what}: data-parallel training takes arrays; a PyDataset or "
                                  "generator is read in one process only")


def _ran_out(what: str, steps: int | None) -> None:
    warnings.warn(f"{what}: your input ran out of data; interrupting training. Make sure that "
                  f"your dataset or generator can generate at least `steps_per_epoch * epochs` "
                  f"batches (steps_per_epoch={steps}).", UserWarning, stacklevel=3)


# ---------------------------------------------------------------------------- fit
def fit(model: Any, x: Any, y: Any = None, batch_size: int | None = None, epochs: int = 1,
        verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0,
        validation_data: Any = None, shuffle: bool = True, class_weight: Any = None,
        sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: Any = None,
        validation_steps: Any = None, validation_batch_size: int | None = None,
        validation_freq: Any = 1) -> Any:
    """``fit`` where ``x`` or ``validation_data`` is a batch source (see the module doc)."""
    V.check_compiled(model, "fit")
    _check_single_process("fit")
    epochs = V.check_positive_int(epochs, "epochs")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
            or initial_epoch < 0:
        raise ValueError(f"initial_epoch: expected an integer >= 0, got {initial_epoch!r}")
    verbose = T._verbose(verbose)
    steps_per_epoch = V.check_positive_int(steps_per_epoch, "steps_per_epoch", allow_none=True)
    validation_steps = V.check_positive_int(validation_steps, "validation_steps",
                                            allow_none=True)
    if model._shuffle_seed is None:
        model._shuffle_seed = config.draw_seed()
    seed = model._shuffle_seed
    if is_batch_source(x):
        _check_no_arrays_args("fit", y=y, sample_weight=sample_weight,
                              validation_split=validation_split)
        source: _Source = _Source(x, steps_per_epoch, bool(shuffle), seed)
    else:  # arrays, with a batch source as validation_data
        batch_size = V.check_positive_int(32 if batch_size is None else batch_size,
                                          "batch_size")
        X, Y, SW = T._prepare_xy(model, x, y, sample_weight, class_weight)
        val_arrays = None
        if validation_split and validation_data is None:
            X, Y, SW, val_arrays = T._split_validation(X, Y, SW, float(validation_split))
        source = _Arrays(X, Y, SW, batch_size, steps_per_epoch, bool(shuffle), seed)
    val: _Source | None = None
    if validation_data is not None:
        if is_batch_source(validation_data):
            val = _Source(validation_data, validation_steps, False, seed)
        else:
            vbs = V.check_positive_int(validation_batch_size or batch_size or 32,
                                       "validation_batch_size")
            val = _Arrays(*T._unpack_validation(model, validation_data), vbs, validation_steps,
                          False, seed)
    elif not is_batch_source(x) and val_arrays is not None:
        vbs = V.check_positive_int(validation_batch_size or batch_size, "validation_batch_size")
        val = _Arrays(*val_arrays, vbs, validation_steps, False, seed)

    # the first batch builds the model (its shapes), before the optimizer and callbacks
    it = source.epoch(initial_epoch)
    try:  # a Ctrl-C or error before the loop still joins the source's workers
        first = None
        if not model.built or source.kind != "arrays":
            first = next(it, None)
            if first is None:
                raise ValueError("fit: the dataset or generator gave no batches")
            first = (first[0], _prepared(model, source, first[0], first[1], class_weight,
                                         "fit"))

        T._bind_ops(model)
        model._build_optimizer()
        model._fused_flag = model._fused()
        metrics = model._new_metrics()
        cbl = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, model=model, add_history=True, add_progbar=verbose != 0,
            verbose=verbose, epochs=epochs, steps=source.steps)
    except BaseException:
        _close(it)
        raise
    want_pred = T._want_pred(metrics, model._fused_flag)
    batch_logs = cbl.needs_batch_logs
    model.stop_training = False
    logs: dict = {}
    with T._StepBoundaryInterrupt() as interrupt:
        cbl.on_train_begin()
        try:
            for epoch in range(initial_epoch, epochs):
                if model.stop_training:
                    break
                if it is None:
                    it = source.epoch(epoch)
                for m in metrics:
                    m.reset_state()
                tracker = T._tracker(model, metrics)
                cbl.on_epoch_begin(epoch)
                seen = 0
                try:
                    while True:
                        if first is not None:
                            step, (xb, yb, swb) = first
                            first = None
                        else:
                            item = next(it, None)
                            if item is None:
                                break
                            step = item[0]
                            xb, yb, swb = _prepared(model, source, step, item[1], class_weight,
                                                    "fit")
                        if batch_logs:
                            cbl.on_train_batch_begin(seen, {"batch": seen,
                                                            "size": xb.shape[0]})
                        per_row, penalty, pred = T._train_step(model, xb, yb, swb, want_pred)
                        tracker.update(per_row, penalty, yb, pred, swb)
                        seen += 1
                        interrupt.check()
                        if batch_logs:
                            cbl.on_train_batch_end(seen - 1, tracker.logs())
                        if model.stop_training:
                            break
                finally:
                    _close(it)
                    it = None
                source.end_pass()
                short = source.steps is not None and seen < source.steps \
                    and not model.stop_training
                if seen == 0 or short:
                    _ran_out("fit", source.steps)
                    model.stop_training = True
                    if seen == 0:
                        break
                logs = tracker.logs()
                if val is not None and T._should_validate(epoch, validation_freq):
                    vlogs = _evaluate_source(model, val, None, "validation_data", epoch)
                    if vlogs is not None:
                        logs.update({"val_" + k: v for k, v in vlogs.items()})
                cbl.on_epoch_end(epoch, logs)
        finally:
            _close(it)
        cbl.on_train_end(logs)
    return cbl.history if cbl.history is not None else model.history


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


# ---------------------------------------------------------------------------- evaluate
def _evaluate_source(model: Any, source: _Source, cbl: Any, what: str,
                     epoch: int = 0) -> dict | None:
    """Loss and metrics over one pass of ``source`` (None when it gave no batches)."""
    metrics = model._new_metrics()
    tracker = T._tracker(model, metrics)
    fused = model._fused()
    batch_logs = cbl is not None and cbl.needs_test_batch_logs
    if cbl is not None:
        cbl.on_test_begin()
    it = source.epoch(epoch)
    seen = 0
    try:
        for step, batch in it:
            xb, yb, swb = _prepared(model, source, step, batch, None, what)
            if seen == 0:
                T._bind_ops(model)
            if batch_logs:
                cbl.on_test_batch_begin(seen)
            ws = model._predict_workspaces(xb.shape[0])
            per_row, penalty, pred = T._loss_and_pred(model, xb, yb, swb, ws, fused)
            tracker.update(per_row, penalty, yb, pred, swb)
            seen += 1
            if batch_logs:
                cbl.on_test_batch_end(seen - 1, tracker.logs())
    finally:
        _close(it)
    source.end_pass()
    if seen == 0:
        warnings.warn(f"{what}: the dataset or generator gave no batches", UserWarning,
                      stacklevel=3)
        return None
    logs = tracker.logs()
    if cbl is not None:
        cbl.on_test_end(logs)
    return logs


def evaluate(model: Any, x: Any, y: Any = None, batch_size: int | None = None,
             verbose: Any = "auto", sample_weight: Any = None, steps: Any = None,
             callbacks: Any = None, return_dict: bool = False) -> Any:
    """``evaluate`` on a batch source: float, ``[loss, *metrics]`` or a dict."""
    V.check_compiled(model, "evaluate")
    _check_single_process("evaluate")
    _check_no_arrays_args("evaluate", y=y, sample_weight=sample_weight)
    verbose = T._verbose(verbose)
    steps = V.check_positive_int(steps, "steps", allow_none=True)
    source = _Source(x, steps, False, None)
    cbl = None
    if callbacks or verbose:
        cbl = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose,
                           epochs=1, steps=source.steps)
    logs = _evaluate_source(model, source, cbl, "evaluate")
    if logs is None:
        raise ValueError("evaluate: the dataset or generator gave no batches")
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


# ---------------------------------------------------------------------------- predict
def predict(model: Any, x: Any, batch_size: int | None = None, verbose: Any = "auto",
            steps: Any = None, callbacks: Any = None) -> np.ndarray:
    """``predict`` on a batch source: the outputs of all batches, concatenated."""
    _check_single_process("predict")
    verbose = T._verbose(verbose)
    steps = V.check_positive_int(steps, "steps", allow_none=True)
    source = _Source(x, steps, False, None)
    cbl = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose,
                       epochs=1, steps=source.steps)
    batch_logs = cbl.needs_predict_batch_logs
    outs: list[np.ndarray] = []
    cbl.on_predict_begin()
    it = source.epoch(0)
    try:
        for step, batch in it:
            xb = _unpack(batch, step, False, "predict")[0]
            X = T._prepare_x(model, xb, f"predict: batch {step}: x")
            if not outs:
                T._bind_ops(model)
            if batch_logs:
                cbl.on_predict_batch_begin(len(outs))
            if getattr(model, "_output_kind", None) is not None:  # several outputs
                h = model.predict_on_batch(X)
            else:
                h = T._infer(model, X, model._predict_workspaces(X.shape[0])).copy()
            outs.append(h)
            if batch_logs:
                cbl.on_predict_batch_end(len(outs) - 1, {"outputs": h})
    finally:
        _close(it)
    source.end_pass()
    cbl.on_predict_end()
    if not outs:
        raise ValueError("predict: the dataset or generator gave no batches")
    if isinstance(outs[0], dict):
        return {k: np.concatenate([o[k] for o in outs], axis=0) for k in outs[0]}
    if isinstance(outs[0], (list, tuple)):
        return [np.concatenate([o[i] for o in outs], axis=0) for i in range(len(outs[0]))]
    return np.concatenate(outs, axis=0)
