"""Axis bookkeeping shared by the normalization layers: Keras axes (batch axis included) to
a 2-D ``(rows, features)`` view the kernels work on, and back."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def normalize_axes(axis: Any, rank: int, owner: str) -> tuple[int, ...]:
    """``axis`` (int or list, counting the batch axis, negatives from the end) as sorted
    non-negative axes of a rank-``rank`` input; the batch axis 0 is refused."""
    items = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    if not items or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                        for a in items):
        raise ValueError(f"{owner}: axis must be an int or a list of ints, got {axis!r}")
    out = []
    for a in items:
        if not -rank <= a < rank:
            raise ValueError(f"{owner}: axis {a} is out of range for inputs of rank {rank}")
        out.append(int(a) % rank)
    if 0 in out:
        raise ValueError(f"{owner}: axis must not include the batch axis 0, got {axis!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{owner}: repeated axis in {axis!r}")
    return tuple(sorted(out))


class Rows:
    """Moves the ``feature`` axes of ``x`` last and flattens: ``(rows, features)``, C order.

    ``back(y)`` undoes it for an array of the same 2-D shape. The trailing-axes case (the
    usual ``axis=-1``) is a free reshape."""

    def __init__(self, shape: tuple[int, ...], feature: tuple[int, ...]):
        rank = len(shape)
        others = [a for a in range(rank) if a not in feature]
        self.perm = (*others, *feature)
        self.moved = self.perm != tuple(range(rank))
        self.inverse = tuple(self.perm.index(a) for a in range(rank))
        self.moved_shape = tuple(shape[a] for a in self.perm)
        self.width = math.prod(shape[a] for a in feature)
        self.shape = tuple(shape)
        self.feature = tuple(feature)

    def to_rows(self, x: np.ndarray) -> np.ndarray:
        if not self.moved:
            if x.ndim == 2 and x.flags.c_contiguous:
                return x
            return np.ascontiguousarray(x).reshape(-1, self.width)
        return np.ascontiguousarray(np.transpose(x, self.perm)).reshape(-1, self.width)

    def back(self, y2: np.ndarray) -> np.ndarray:
        if not self.moved:
            return y2 if y2.shape == self.shape else y2.reshape(self.shape)
        y = y2.reshape(self.moved_shape)
        return np.ascontiguousarray(np.transpose(y, self.inverse))


def rows_for(layer: object, shape: tuple[int, ...], feature: tuple[int, ...]) -> Rows:
    """The layer's ``Rows`` for inputs of ``shape`` (kept from its last call: one shape per
    fit, so the bookkeeping is not redone every step)."""
    cached = getattr(layer, "_rows_cache", None)
    if cached is not None and cached.shape == tuple(shape) and cached.feature == tuple(feature):
        return cached
    rows = Rows(shape, feature)
    object.__setattr__(layer, "_rows_cache", rows)
    return rows
