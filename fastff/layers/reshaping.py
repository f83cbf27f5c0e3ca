"""Shape layers (Keras 3): Reshape, RepeatVector, Permute, Identity. No weights."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace


def _int_tuple(value: Any, owner: str, arg: str) -> tuple[int, ...]:
    items = [value] if isinstance(value, (int, np.integer)) else list(value)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise ValueError(f"{owner}: {arg} must be a tuple of ints, got {value!r}")
    return tuple(int(v) for v in items)


class Reshape(Layer):
    """``(batch, *any) -> (batch, *target_shape)``; one entry may be -1 (inferred)."""

    def __init__(self, target_shape: Any, **kwargs: Any):
        super().__init__(**kwargs)
        shape = _int_tuple(target_shape, "Reshape", "target_shape")
        if shape.count(-1) > 1 or any(d == 0 or d < -1 for d in shape):
            raise ValueError(f"Reshape: target_shape must be positive ints with at most one "
                             f"-1, got {target_shape!r}")
        self.target_shape = shape
        self.supports_masking = False

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        total = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if known == 0 or total % known:
                raise ValueError(f"Reshape {self.name!r}: cannot reshape per-sample shape "
                                 f"{tuple(input_shape)} to {self.target_shape}")
            return tuple(total // known if d == -1 else d for d in self.target_shape)
        if known != total:
            raise ValueError(f"Reshape {self.name!r}: total size of the new shape "
                             f"{self.target_shape} must equal that of {tuple(input_shape)}")
        return self.target_shape

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        shape = x.shape
        y = np.ascontiguousarray(x).reshape((shape[0], *self.compute_output_shape(shape[1:])))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return np.ascontiguousarray(dy).reshape(shape) if need_dx else None

        return y, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(target_shape=list(self.target_shape))
        return cfg


class RepeatVector(Layer):
    """``(batch, features) -> (batch, n, features)``."""

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"RepeatVector: n must be a positive integer, got {n!r}")
        self.n = int(n)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 1:
            raise ValueError(f"RepeatVector {self.name!r} expects 2-D inputs (batch, features), "
                             f"got per-sample shape {input_shape}")

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.n, *input_shape)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        y = np.ascontiguousarray(np.broadcast_to(x[:, None, :], (x.shape[0], self.n,
                                                                  x.shape[1])))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return np.ascontiguousarray(dy.sum(axis=1)) if need_dx else None

        return y, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(n=self.n)
        return cfg


class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is 1-based, e.g. ``(2, 1)`` swaps them."""

    def __init__(self, dims: Any, **kwargs: Any):
        super().__init__(**kwargs)
        dims = _int_tuple(dims, "Permute", "dims")
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(dims)}, got "
                             f"{dims!r}")
        self.dims = dims

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != len(self.dims):
            raise ValueError(f"Permute {self.name!r}: dims {self.dims} do not match per-sample "
                             f"shape {tuple(input_shape)}")
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        self.compute_output_shape(x.shape[1:])
        perm = (0, *self.dims)
        inverse = tuple(int(i) for i in np.argsort(perm))
        y = np.ascontiguousarray(np.transpose(x, perm))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return np.ascontiguousarray(np.transpose(dy, inverse)) if need_dx else None

        return y, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(dims=list(self.dims))
        return cfg


class Identity(Layer):
    """Returns its input unchanged (a placeholder in a model)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.supports_masking = True

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return dy if need_dx else None

        return x, backprop
