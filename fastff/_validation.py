"""Input checks for fit / evaluate / predict, and the hyperparameter checks of optimizers,
schedules, layers and callbacks (``check_real``, ``check_int``, ``check_bool``).

Each check raises a ValueError or TypeError that names the argument and says what was
expected. Conversions always produce new arrays (or return the user's array untouched when it
already has the right dtype and layout): user arrays are never written to.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["NotCompiledError", "check_real", "check_int", "check_bool", "check_index_range",
           "check_positive_int", "as_features", "check_lengths",
           "check_feature_shape", "prepare_targets", "prepare_sample_weight", "check_compiled"]


class NotCompiledError(RuntimeError, ValueError):
    """fit/evaluate before compile (a RuntimeError as in Keras, and a ValueError)."""


def check_compiled(model: Any, what: str) -> None:
    if getattr(model, "loss", None) is None or getattr(model, "optimizer", None) is None:
        raise NotCompiledError(f"{what}: the model must be compiled first: call "
                               "model.compile(optimizer=..., loss=...) before model." + what + "()")


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
    return f"{lo}, {hi}"


def check_real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, allow_none: bool = False,
               allow_inf: bool = False) -> float | None:
    """``value`` as a float in the interval given by ``low``/``high`` (closed unless
    ``*_open``); NaN, and inf unless ``allow_inf``, are refused. ValueError names ``name``.

    The one definition of a hyperparameter check (optimizers, schedules, layers, callbacks).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"Argument `{name}` must be a real number"
                         f"{' or None' if allow_none else ''}; got {value!r} "
                         f"({type(value).__name__})")
    v = float(value)
    bad = (math.isnan(v) or (math.isinf(v) and not allow_inf)
           or (low is not None and (v < low or (low_open and v == low)))
           or (high is not None and (v > high or (high_open and v == high))))
    if bad:
        finite = "" if allow_inf else "a finite number "
        raise ValueError(f"Argument `{name}` must be {finite}in "
                         f"{_interval(low, high, low_open, high_open)}; got {value!r}")
    return v


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None,
              allow_none: bool = False) -> int | None:
    """``value`` as an int in [low, high] (bools and non-integral floats refused)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"Argument `{name}` must be an integer"
                         f"{' or None' if allow_none else ''}; got {value!r} "
                         f"({type(value).__name__})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"Argument `{name}` must be an integer in [{lo}, {hi}]; got {v}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a bool (True/False or NumPy bools only: ``"False"`` is not false)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"Argument `{name}` must be True or False; got {value!r}")


def check_index_range(values: np.ndarray, n: int, name: str, what: str = "ids") -> None:
    """Every value of the integer array ``values`` lies in ``[0, n)`` (one min/max pass).

    The one bounds check in front of every kernel that indexes with ids, rows or labels
    (the kernels themselves do not check: an id past the table would read or write outside
    it).
    """
    if values.size == 0:
        return
    kind = values.dtype.kind
    if kind in "iu":  # one pass: as unsigned, a negative value is larger than any n
        unsigned = values.view(values.dtype.str.replace("i", "u")) if kind == "i" else values
        if int(unsigned.max()) < n:
            return
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= n:
        raise ValueError(f"{name}: {what} must lie in [0, {n}); got values outside it (from "
                         f"{lo} to {hi})")


def check_positive_int(value: Any, name: str, allow_none: bool = False) -> int | None:
    """``value`` as a positive int (``batch_size``, ``epochs``, ...)."""
    if type(value) is int and value > 0:  # the common case, checked first
        return value
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive integer, got {value!r} "
                        f"({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value}")
    return int(value)


def _as_array(a: Any, name: str) -> np.ndarray:
    if a is None:
        raise ValueError(f"{name}: expected an array, got None")
    arr = a if type(a) is np.ndarray else np.asarray(a)
    kind = arr.dtype.kind
    if kind in "OUSV" or kind == "M" or kind == "m":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype} "
                        "(convert strings/objects to numbers first)")
    if kind == "c":
        raise TypeError(f"{name}: complex values are not supported (dtype {arr.dtype})")
    if arr.ndim == 0:
        raise ValueError(f"{name}: expected an array of samples, got a scalar")
    if arr.size == 0 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got an empty array of shape "
                         f"{arr.shape}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    # one cheap reduction first: NaN/inf always reach the sum (a finite overflow only costs
    # the exact check)
    if (arr.dtype.kind == "f" and not np.isfinite(np.add.reduce(arr, axis=None))
            and not np.isfinite(arr).all()):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name}: contains NaN or inf (first at index {bad})")


def _cast_finite(arr: np.ndarray, dtype: Any, name: str, cast: Any = None) -> np.ndarray:
    """``arr`` (already checked finite) converted by ``cast`` (default: a C-contiguous array of
    ``dtype``). Where the conversion narrows (float64 data, a float32 model) a value that
    overflows to inf (``1e39``) raises ``ValueError`` naming it instead of entering training
    as inf; conversions that cannot overflow cost nothing extra."""
    src = arr.dtype
    if src == dtype:  # the common case: nothing to narrow
        return np.ascontiguousarray(arr) if cast is None else cast(arr, dtype)
    dt = np.dtype(dtype)
    if dt.kind != "f" or not ((src.kind == "f" and src.itemsize > dt.itemsize)
                              or (src.kind in "iu" and dt.itemsize <= 2)):
        return np.ascontiguousarray(arr, dtype=dt) if cast is None else cast(arr, dt)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=dt) if cast is None else cast(arr, dt)
    if (isinstance(out, np.ndarray) and out.dtype.kind == "f" and out.size == arr.size
            and not np.isfinite(np.add.reduce(out, axis=None)) and not np.isfinite(out).all()):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        value = float(arr.reshape(out.shape)[bad])
        raise ValueError(f"{name}: value {value:g} at index {bad} overflows the model's dtype "
                         f"{out.dtype} (largest {float(np.finfo(out.dtype).max):.4g}); rescale "
                         "the data or use a float64 model")
    return out


def as_features(x: Any, dtype: np.dtype, name: str = "x", min_ndim: int = 2) -> np.ndarray:
    """``x`` as a C-contiguous array of ``dtype`` with at least ``min_ndim`` dimensions
    (samples first), finite."""
    arr = _as_array(x, name)
    if arr.ndim < min_ndim:
        raise ValueError(f"{name}: expected a 2-D array (samples, features), got shape "
                         f"{arr.shape}; use x.reshape(-1, 1) for a single feature or "
                         "x.reshape(1, -1) for a single sample")
    _check_finite(arr, name)
    return _cast_finite(arr, dtype, name)


def as_tokens(x: Any, name: str = "x") -> np.ndarray:
    """``x`` (strings, e.g. for a first ``StringLookup`` layer) as an object array with
    samples first; other values (None, numbers) are refused."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim == 0:
        raise ValueError(f"{name}: expected an array of samples, got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got an empty array of shape "
                         f"{arr.shape}")
    if arr.dtype.kind in "US":  # NumPy strings: strings throughout
        return arr.astype(object)
    if arr.dtype != object:
        raise TypeError(f"{name}: expected strings, got dtype {arr.dtype}")
    for i, v in enumerate(arr.reshape(-1)):
        if not isinstance(v, (str, bytes)):
            bad = tuple(int(j) for j in np.unravel_index(i, arr.shape))
            raise TypeError(f"{name}: expected strings, got {type(v).__name__} {v!r} at index "
                            f"{bad}")
    return np.ascontiguousarray(arr)


def check_lengths(n: int, other: Any, name: str, ref: str = "x") -> None:
    m = np.shape(other)[0] if np.ndim(other) else None
    if m != n:
        raise ValueError(f"{name}: expected {n} samples to match {ref}, got {m} "
                         f"(x and y must have the same number of rows)")


def adjust_rank(x: Any, input_shape: tuple[int, ...] | None) -> Any:
    """Keras's rank rule for model inputs: samples one axis short of a declared shape that
    ends in 1 gain that axis (``(n,)`` for ``(None, 1)``); one axis of 1 too many is dropped.
    Anything else is returned as it is (checked later)."""
    if input_shape is None or isinstance(x, (str, bytes)):
        return x
    rank, nd = len(input_shape), np.ndim(x)
    if nd == rank and rank and input_shape[-1] == 1:
        return np.reshape(x, (*np.shape(x), 1))
    if nd == rank + 2 and np.shape(x)[-1] == 1:
        return np.reshape(x, np.shape(x)[:-1])
    return x


def check_feature_shape(x: np.ndarray, input_shape: tuple[int, ...] | None,
                        name: str = "x") -> None:
    """Per-sample shape of ``x`` must equal the built model's input shape."""
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        raise ValueError(f"{name}: the model expects samples of shape {tuple(input_shape)} "
                         f"(input_shape (None, {', '.join(map(str, input_shape))})), got "
                         f"{tuple(x.shape[1:])} from an array of shape {x.shape}")


def prepare_targets(y: Any, loss: Any, n_outputs: int, dtype: np.dtype,
                    name: str = "y") -> np.ndarray:
    """Check ``y`` against the loss and the model's output width; return a converted copy."""
    arr = _as_array(y, name)
    _check_finite(arr, name)
    kind = getattr(loss, "target_kind", "real")
    lname = getattr(loss, "name", type(loss).__name__)
    if kind == "any":  # a user loss: the targets as given (as Keras), in the model dtype
        if arr.ndim == 0 or arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected numeric targets, one row per sample, got "
                            f"{arr.dtype} of shape {arr.shape}")
        return loss.prepare_targets(arr, dtype)
    if kind == "sparse":
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise ValueError(
                f"{name}: {lname} expects integer class ids of shape (n,), got shape "
                f"{np.shape(y)}; for one-hot targets use categorical_crossentropy")
        if arr.dtype.kind == "f":
            if not np.array_equal(arr, np.round(arr)):
                raise ValueError(f"{name}: {lname} expects integer class ids, got "
                                 "non-integer values")
        elif arr.dtype.kind not in "iub":
            raise TypeError(f"{name}: {lname} expects integer class ids, got dtype {arr.dtype}")
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi >= n_outputs:
            raise ValueError(f"{name}: class ids must be in [0, {n_outputs}) for a model with "
                             f"{n_outputs} outputs; got values from {lo} to {hi}")
        return loss.prepare_targets(arr, dtype)
    if arr.ndim == 1:
        if n_outputs != 1:
            hint = (" (class ids: use sparse_categorical_crossentropy or "
                    "fastff.utils.to_categorical)" if kind == "probs" else "")
            raise ValueError(f"{name}: expected shape (n, {n_outputs}) for {lname} on a model "
                             f"with {n_outputs} outputs, got shape {arr.shape}{hint}")
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != n_outputs:
        raise ValueError(f"{name}: expected shape (n, {n_outputs}) to match the model output, "
                         f"got {np.shape(y)}")
    if kind == "probs" and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name}: {lname} expects targets in [0, 1], got values from "
                         f"{arr.min()} to {arr.max()}")
    return _cast_finite(arr, dtype, name, loss.prepare_targets)


def prepare_sample_weight(sw: Any, n: int, dtype: np.dtype,
                          name: str = "sample_weight") -> np.ndarray | None:
    if sw is None:
        return None
    arr = _as_array(sw, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected shape (n,), got {arr.shape}")
    check_lengths(n, arr, name)
    _check_finite(arr, name)
    if (arr < 0).any():
        raise ValueError(f"{name}: weights must be >= 0")
    return _cast_finite(arr, dtype, name)
