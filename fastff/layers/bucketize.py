"""Bucketize: numeric features to bucket ids, optionally one-hot (the lecture's distances).

With ``fastff.data.DISTANCE_BOUNDARIES`` the buckets are ``0,1,2,3,4,5-7,8-15,16-31,32-63,64+``.
``output_mode="int"`` gives int64 bucket ids (feed an ``Embedding``); ``"one_hot"`` gives a float
row of ``k * (len(boundaries) + 1)`` indicators for ``k`` input columns. No weights, no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace


class Bucketize(Layer):
    """Bucket id = number of boundaries <= value (``tf.raw_ops.Bucketize`` semantics)."""

    def __init__(self, boundaries: Any = None, output_mode: str = "one_hot", **kwargs: Any):
        super().__init__(**kwargs)
        from fastff.data import DISTANCE_BOUNDARIES

        edges = [float(b) for b in (DISTANCE_BOUNDARIES if boundaries is None else boundaries)]
        if not edges or any(b >= c for b, c in zip(edges, edges[1:])):
            raise ValueError(f"Bucketize: boundaries must be strictly increasing, got {edges}")
        if output_mode not in ("int", "one_hot"):
            raise ValueError(f"Bucketize: output_mode must be 'int' or 'one_hot', got "
                             f"{output_mode!r}")
        self.boundaries = edges
        self.output_mode = output_mode

    @property
    def n_buckets(self) -> int:
        return len(self.boundaries) + 1

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        k = int(np.prod(input_shape)) if input_shape else 1
        return (k * self.n_buckets,) if self.output_mode == "one_hot" else (k,)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        a = np.asarray(x)
        n = a.shape[0]
        ids = np.searchsorted(np.asarray(self.boundaries), a.reshape(n, -1), side="right")
        if self.output_mode == "int":
            y = ids.astype(np.int64)
        else:
            k, b = ids.shape[1], self.n_buckets
            y = np.zeros((n, k * b), dtype=self.dtype or np.float32)
            cols = ids + np.arange(k) * b
            np.put_along_axis(y, cols, 1, axis=1)
        shape, dt = a.shape, (self.dtype or np.float32)

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return np.zeros(shape, dtype=dt) if need_dx else None

        return y, backprop

    def _eager_call(self, x: Any, training: bool = False) -> np.ndarray:
        if not self.built:
            self.build_for(np.shape(x)[1:], self.dtype)
        return self.forward(x, training)[0]

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(boundaries=self.boundaries, output_mode=self.output_mode)
        return cfg
