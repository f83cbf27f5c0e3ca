"""What the training loop feeds on: checked arrays, the one batch-cutting rule, and the batches
of an array data set (``ArrayBatches``) the loop consumes like any other batch source.

Keras semantics: ``validation_split`` takes the *last* fraction of the samples before any
shuffling; shuffling permutes the training samples every epoch with ``ops.permutation`` of the
model's shuffle seed and the epoch (so a run resumed at ``initial_epoch`` sees the same order).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastff import _validation as V

__all__ = ["check_verbose", "prepare_x", "prepare_xy", "split_validation", "unpack_validation",
           "batch_bounds", "n_batches", "feature_shape", "single_array", "empty_like", "take",
           "device_resident", "ArrayBatches"]


def check_verbose(verbose: Any) -> int:
    """``verbose`` as 0, 1 or 2 ('auto' is 1)."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose < 0:
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


# ---------------------------------------------------------------------------- batch cutting
def n_batches(n: int, batch_size: int) -> int:
    """How many batches ``n`` samples make (the last one may be short)."""
    return -(-n // batch_size)


def batch_bounds(step: int, batch_size: int, n: int) -> tuple[int, int]:
    """Rows ``[s, e)`` of batch ``step``: the one rule every engine and source cuts by."""
    s = step * batch_size
    return s, min(s + batch_size, n)


# ---------------------------------------------------------------------------- preparing data
def prepare_x(model: Any, x: Any, name: str = "x") -> np.ndarray:
    """``x`` checked and converted for ``model`` (building it from the shape when needed)."""
    layers = model.network.layers
    if not layers:
        raise ValueError("the model has no layers; add some with model.add(...)")
    prepare = getattr(model, "_prepare_inputs", None)
    if prepare is not None:  # functional Model: several inputs, cut and shuffled together
        return prepare(x, name)
    # a first layer may take other inputs than (samples, features) floats (e.g. integer ids)
    first = layers[0]
    x = V.adjust_rank(x, model._input_shape)
    dtype = getattr(first, "input_dtype", None) or model.dtype
    if np.dtype(dtype).kind == "O":  # strings for a first StringLookup-style layer
        X = V.as_tokens(x, name)
    else:
        X = V.as_features(x, dtype, name, getattr(first, "min_input_ndim", 2))
    model._maybe_build(X.shape[1:])
    V.check_feature_shape(X, model._input_shape, name)
    return X


def prepare_xy(model: Any, x: Any, y: Any, sample_weight: Any = None, class_weight: Any = None,
               prefix: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(X, Y, SW)`` checked for ``model``; class weights folded into ``SW``."""
    multi = getattr(model, "_multi", None)
    if multi is not None:  # several outputs: y and sample_weight per output
        return multi.prepare_xy(model, x, y, sample_weight, class_weight, prefix)
    if y is None:
        raise ValueError(f"{prefix}y: targets are required")
    X = prepare_x(model, x, prefix + "x")
    V.check_lengths(X.shape[0], y, prefix + "y", prefix + "x")
    n_out = model.output_shape[-1]
    Y = V.prepare_targets(y, model.loss, n_out, model.dtype, prefix + "y")
    SW = V.prepare_sample_weight(sample_weight, X.shape[0], model.dtype, prefix + "sample_weight")
    if class_weight is not None:
        cw = _class_weights(class_weight, Y, n_out, model.dtype)
        SW = cw if SW is None else SW * cw
    return X, Y, SW


def _class_weights(class_weight: Any, Y: np.ndarray, n_out: int, dtype: np.dtype) -> np.ndarray:
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight: expected a dict {{class id: weight}}, got "
                        f"{type(class_weight).__name__}")
    if Y.ndim == 1:
        ids = Y.astype(np.int64)
    elif Y.shape[1] == 1:
        ids = (Y[:, 0] > 0.5).astype(np.int64)
    else:
        ids = np.argmax(Y, axis=1)
    n_classes = max(n_out, 2)
    table = np.ones(n_classes, dtype=dtype)
    for k, w in class_weight.items():
        if not isinstance(k, (int, np.integer)) or not 0 <= k < n_classes:
            raise ValueError(f"class_weight: keys must be class ids in [0, {n_classes}), got {k!r}")
        table[int(k)] = w
    return table[ids]


def split_validation(X: Any, Y: Any, SW: Any, validation_split: float) -> tuple:
    """``(X, Y, SW, (Xv, Yv, SWv))``: the last ``validation_split`` of the rows held out."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split: expected a float in [0, 1), got {validation_split}")
    n = X.shape[0]
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split={validation_split} leaves "
                         f"{'no training' if split_at == 0 else 'no validation'} samples "
                         f"out of {n}")
    val = (X[split_at:], Y[split_at:], None if SW is None else SW[split_at:])
    return X[:split_at], Y[:split_at], None if SW is None else SW[:split_at], val


def unpack_validation(model: Any, validation_data: Any) -> tuple:
    """``validation_data`` given as a tuple of arrays, checked: ``(Xv, Yv, SWv)``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data: expected a tuple (x_val, y_val) or "
                         "(x_val, y_val, sample_weight_val)")
    xv, yv = validation_data[0], validation_data[1]
    swv = validation_data[2] if len(validation_data) == 3 else None
    return prepare_xy(model, xv, yv, swv, prefix="validation_data: ")


def single_array(X: Any) -> Any:
    """The one array of a functional Model's single input (arrays pass through)."""
    arrays = getattr(X, "arrays", None)
    return arrays[0] if arrays is not None and len(arrays) == 1 else X


def feature_shape(X: Any) -> tuple:
    """The shape of one sample (of each input, for a functional Model's several inputs)."""
    arrays = getattr(X, "arrays", None)
    if arrays is not None:
        return tuple(tuple(a.shape[1:]) for a in arrays)
    return tuple(X.shape[1:])


def empty_like(X: Any) -> Any:
    return X.empty_like() if hasattr(X, "empty_like") else np.empty_like(X)


def take(X: Any, perm: np.ndarray, out: Any) -> None:
    """``out = X[perm]`` for an array or a functional Model's several inputs."""
    if hasattr(X, "take_into"):
        X.take_into(perm, out)
    else:
        np.take(X, perm, axis=0, out=out)


def device_resident(model: Any, X: Any, Y: Any) -> bool:
    """Does the whole training set fit on the device beside what is there (with a margin)?"""
    free_memory = getattr(model.ops, "free_memory", None)
    free = free_memory() if free_memory is not None else None
    if free is None or not isinstance(X, np.ndarray):
        return False
    need = X.nbytes + Y.nbytes
    return need + max(256 << 20, free // 10) <= free


# ---------------------------------------------------------------------------- array batches
class ArrayBatches:
    """Checked arrays as a batch source: ``epoch(e)`` yields ``(step, (x, y, sw, part, yd))``
    per batch, cut by ``batch_bounds`` after the epoch's shuffle. With weights on a device the
    training set goes up whole when it fits (once, or once an epoch when shuffled), else each
    batch goes up once (in the step); with a distribution each batch is this rank's rows of the
    global batch (``part``: its ``BatchPart``; None without a distribution)."""

    kind = "arrays"
    prepared = True  # batches are checked arrays already
    can_run_out = False

    def __init__(self, model: Any, X: Any, Y: Any, SW: Any, batch_size: int,
                 steps: int | None = None, shuffle: bool = False, dist: Any = None,
                 resident: bool = False) -> None:
        self.model, self.X, self.Y, self.SW = model, X, Y, SW
        self.batch_size = batch_size
        self.n = X.shape[0]
        full = n_batches(self.n, batch_size)
        self.steps = full if steps is None else min(steps, full)
        self.shuffle, self.dist, self.resident = shuffle, dist, resident
        self._bufs: tuple | None = None
        self._dev: tuple | None = None

    def _order(self, e: int) -> tuple:
        X, Y, SW = self.X, self.Y, self.SW
        if not self.shuffle:
            return X, Y, SW
        if self._bufs is None:
            self._bufs = (empty_like(X), empty_like(Y), None if SW is None else empty_like(SW))
        Xs, Ys, SWs = self._bufs
        perm = self.model.ops.permutation(self.model._shuffle_seed, e, self.n)
        take(X, perm, Xs)
        take(Y, perm, Ys)
        if SW is not None:
            take(SW, perm, SWs)
        return Xs, Ys, SWs

    def epoch(self, e: int) -> Iterator[tuple]:
        Xs, Ys, SWs = self._order(e)
        if self.resident and (self.shuffle or self._dev is None):
            self._dev = None  # free the last epoch's copy first
            ops = self.model.ops
            self._dev = (ops.to_device(Xs), ops.to_device(Ys))
        dist = self.dist
        for step in range(self.steps):
            s, e_ = batch_bounds(step, self.batch_size, self.n)
            part = None
            if dist is not None:  # this rank's rows of the global batch
                s, e_, part = dist.split_batch(s, e_, SWs)
            swb = None if SWs is None else SWs[s:e_]
            if self._dev is None:
                yield step, (Xs[s:e_], Ys[s:e_], swb, part, None)
            else:
                Xd, Yd = self._dev
                yield step, (Xd[s:e_], Ys[s:e_], swb, part, Yd[s:e_])

    def end_pass(self) -> None:
        pass
