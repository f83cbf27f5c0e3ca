"""Keras's ``split_dataset`` for arrays and tuples/lists/dicts of arrays."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

__all__ = ["split_dataset"]


def _split_sizes(left: Any, right: Any, total: int) -> tuple[int, int]:
    """Keras's rules: ints are counts in (0, total), floats fractions in (0, 1); a missing side
    takes the rest; neither side may end up empty."""
    for side, size in (("left_size", left), ("right_size", right)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(f"Invalid `{side}` Type. Expected: int or float or None, Received: "
                            f"type({side})={type(size)}")
    if left == 0 and right == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for side, size in (("left_size", left), ("right_size", right)):
        if (type(size) is int and (size <= 0 or size >= total)
                or type(size) is float and (size <= 0 or size >= 1)):
            raise ValueError(f"`{side}` should be either a positive integer smaller than "
                             f"{total}, or a float within the range `[0, 1]`. Received: "
                             f"{side}={size}")
    if type(left) is float and type(right) is float and left + right > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    n_left = None if left is None else (round(left * total) if type(left) is float else left)
    n_right = None if right is None else (round(right * total) if type(right) is float
                                          else right)
    if n_left is None:
        n_left = total - n_right
    elif n_right is None:
        n_right = total - n_left
    if n_left + n_right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total}. Received: left_size + right_size = {n_left + n_right} and "
                         f"total_length = {total}")
    for side, n in (("left", n_left), ("right", n_right)):
        if n == 0:
            raise ValueError(f"With `dataset` of length {total}, `left_size`={left} and "
                             f"`right_size`={right}. Resulting {side} side dataset split will "
                             "be empty. Adjust any of the aforementioned parameters")
    return int(n_left), int(n_right)


def split_dataset(dataset: Any, left_size: int | float | None = None,
                  right_size: int | float | None = None, shuffle: bool = False,
                  seed: int | None = None) -> tuple[Any, Any]:
    """Split an array, or a tuple/list/dict of arrays with one length, into a left part (the
    first ``left_size`` samples) and a right part (the last ``right_size``), optionally
    shuffled first. Returns two datasets of the input's structure (NumPy arrays; Keras returns
    ``tf.data`` datasets)."""
    if isinstance(dataset, np.ndarray):
        arrays = [dataset]
    elif isinstance(dataset, (tuple, list)) and dataset:
        arrays = [np.asarray(a) for a in dataset]
    elif isinstance(dataset, dict) and dataset:
        arrays = [np.asarray(v) for v in dataset.values()]
    else:
        raise TypeError("The `dataset` argument must be a NumPy array or a non-empty "
                        f"tuple/list/dict of arrays. Received: dataset={dataset!r} of type "
                        f"{type(dataset)}")
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("split_dataset: every array needs a sample axis")
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise ValueError("split_dataset: the arrays must have the same number of samples, got "
                         f"{[len(a) for a in arrays]}")
    n_left, n_right = _split_sizes(left_size, right_size, total)
    order = np.arange(total)
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        idx = list(range(total))
        random.Random(seed).shuffle(idx)
        order = np.asarray(idx)
    left = _like(dataset, [a[order[:n_left]] for a in arrays])
    right = _like(dataset, [a[order[total - n_right:]] for a in arrays])
    return left, right


def _like(dataset: Any, parts: list[np.ndarray]) -> Any:
    """``parts`` in the structure of ``dataset`` (an array, a tuple/list or a dict)."""
    if isinstance(dataset, np.ndarray):
        return parts[0]
    if isinstance(dataset, dict):
        return dict(zip(dataset, parts))
    return type(dataset)(parts)
