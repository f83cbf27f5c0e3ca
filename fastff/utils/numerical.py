"""Array helpers with Keras's names: ``normalize``."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["normalize"]


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (a new array; all-zero slices stay
    zero), as Keras's ``normalize`` on NumPy input."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"normalize: order must be an integer >= 1, got {order!r}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "fc":
        arr = arr.astype(np.float64)
    if arr.ndim == 0:
        raise ValueError("normalize: x must have at least one axis")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"normalize: axis {axis!r} is out of range for an array of rank "
                         f"{arr.ndim}")
    norm = np.linalg.norm(arr, ord=int(order), axis=int(axis), keepdims=True)
    norm = np.where(norm == 0, 1, norm)
    return arr / norm
